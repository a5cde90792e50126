"""Metrics from records, `run(spec) -> Result`, closed-form estimates and kernel validation."""
