"""Prometheus queries."""
