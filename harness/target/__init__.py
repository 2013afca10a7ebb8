"""The DevOps Simulator target stack's wing: what the harness knows of this one stack.

The generic core (driver, stack lifecycle, load, experiment, verdict, report) names none of
this stack's services; it asks the wing through `harness.stack.target.TargetStack`, which
`harness.target.devsim.DevsimStack` implements. A second stack would be a second wing.
"""
