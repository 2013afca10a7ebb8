"""A Chaos Toolkit extension for the DevOps Simulator stack, on whatever engine its driver runs.

Experiment files name these functions with `type: python`:
  harness.chaos.actions   faults (kept by concept in harness.chaos.faults), each paired with its undo
  harness.chaos.database  the Patroni cluster's faults and probes
  harness.chaos.probes    numbers from Prometheus, the engine, HTTP and the client request log
  harness.chaos.alerts    alert states and the emails they send
  harness.chaos.controls  records the method's start and end (the fault window)
Every activity reaches the engine through `harness.chaos.engine.driver(configuration)`.
"""
