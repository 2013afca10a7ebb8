"""Evidence a run gathers beyond the request log: the write audit."""
