"""Claims: evaluated over the fault window from the journal, written to verdict.json."""
