"""Runtime helpers: worker processes and their limits, executors, progress."""
