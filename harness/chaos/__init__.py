"""A Chaos Toolkit extension for the DevOps Simulator stack on Docker Swarm.

Experiment files name these functions with `type: python`:
  harness.chaos.actions   faults, each with its rollback
  harness.chaos.probes    numbers from Prometheus, Swarm, HTTP and the client request log
  harness.chaos.controls  records the method's start and end (the fault window)
"""
