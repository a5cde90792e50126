"""Capacity search, the planner, sweeps, executors and work bounds."""
