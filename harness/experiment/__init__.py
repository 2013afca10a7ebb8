"""Experiments: validate Chaos Toolkit files, run them under load, judge their claims."""
