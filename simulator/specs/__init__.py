"""Scenario and comparison schemas (pydantic), file loading, path policy, deployment resolution."""
