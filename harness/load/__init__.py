"""Load: Locust as a child process, the SLO grammar, the per-request log and run summaries."""
