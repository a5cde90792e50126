"""Torch microbenchmarks and calibration (see the calibration issue); imports torch lazily."""
