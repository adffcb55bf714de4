"""Tracking: the SDK a training script imports, and the store of runs and metrics behind it."""
