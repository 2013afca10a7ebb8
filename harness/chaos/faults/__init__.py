"""The extension's faults, split by what they act on; `harness.chaos.actions` pairs each
with its undo."""
