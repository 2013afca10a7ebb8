"""DevOps Simulator: a chaos and load-testing harness for the DevOps Simulator stack."""

__version__ = "0.1.0"
