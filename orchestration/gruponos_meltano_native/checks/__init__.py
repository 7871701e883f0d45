"""Checks of a run's data: reconciliation against the target, the WMS's own checks."""
