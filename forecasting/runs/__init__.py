"""Runs: the nightly job and backtests, the task descriptors, the shared driver loop, model selection and executors."""
