"""Shared by the spec schemas: the strict pydantic base and the input limits, each defined once."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# Limits defined once: every token count and length parameter, requests, simulated time, prices.
MAX_TOKENS = 100_000_000          # tokens in one prompt, document, output, or a length parameter
MAX_REQUESTS = 100_000_000        # requests of one workload (num_requests, or rate x horizon)
MAX_NAME_CHARS = 200               # names of scenarios and deployments (they key result rows and tables)
MAX_DESCRIPTION_CHARS = 20_000
MAX_HORIZON_S = 10_000_000.0      # simulated seconds (about 116 days)
MAX_PRICE_USD = 1_000_000.0       # any price per GPU-hour, node-hour or million tokens
MAX_SCENARIO_BYTES = 16 * 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
