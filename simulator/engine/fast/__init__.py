"""Skip-ahead: the decode clock and the stepper that jumps over decode-only stretches."""
