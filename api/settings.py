"""Service settings: one pydantic-settings object, read from `CTXPLAN_*` environment variables.

Every limit of the service is defined here once; the routes, the validation pool, the job runner
and `ctxplan serve` read it from this object.
"""

from __future__ import annotations

import hashlib

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def key_owner(key: str) -> str:
    """The owner id stored with a tenant's jobs and profiles: a SHA-256 of the key, never the key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTXPLAN_", extra="ignore")

    database_url: str = Field(default="sqlite:///ctxplan.db", description="any SQLAlchemy URL; postgresql:// works")
    api_keys: str = Field(default="", description="comma-separated tenant keys; empty = no authentication")
    admin_api_key: str = Field(default="", description="a key that sees every tenant's jobs; none by default")
    public_docs: bool | None = Field(default=None, description="serve /docs, /openapi.json and /metrics without "
                                     "a key; default: public only when no keys are set")
    cors_origins: str = Field(default="", description="comma-separated origins allowed by CORS; none by default")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="job bodies (scenarios)")
    max_small_body_bytes: int = Field(default=256 * 1024, ge=1024, description="estimate and profile bodies")
    max_nesting_depth: int = Field(default=64, ge=4, le=1000, description="JSON/YAML nesting of any body")
    validation_timeout_s: float = Field(default=20.0, gt=0, le=600, description="parsing and validating one body")
    validation_workers: int = Field(default=2, ge=1, le=64, description="processes that parse and validate bodies")
    max_inflight_requests: int = Field(default=64, ge=1, le=100_000, description="per server process; beyond it "
                                       "503 with Retry-After")
    header_timeout_s: float = Field(default=10.0, gt=0, le=600, description="a new connection must send its "
                                    "request headers within this")
    body_timeout_s: float = Field(default=20.0, gt=0, le=600, description="gap allowed between body chunks")
    job_workers: int = Field(default=1, ge=1, le=64, description="simulation processes running at once")
    max_queued_jobs: int = Field(default=32, ge=1, le=100_000)
    job_timeout_s: float = Field(default=900.0, gt=0)
    job_memory_limit_mb: int = Field(default=8192, ge=0, description="address-space limit of a job process; 0 = none")
    max_requests_per_job: int = Field(default=2_000_000, ge=1, description="simulated requests in one run")
    max_deployments_per_job: int = Field(default=16, ge=1)
    max_simulations_per_job: int = Field(default=2_000, ge=1, description="plans and sweeps: simulation runs")
    max_turns_per_job: int = Field(default=2_000_000, ge=1, description="conversation turns in one run")
    max_documents_per_job: int = Field(default=10_000_000, ge=1, description="corpus documents")
    max_corpus_tokens_per_job: int = Field(default=100_000_000_000, ge=1, description="corpus tokens")
    max_simulated_seconds: float = Field(default=30 * 86_400.0, gt=0, description="horizon of one run")
    requeue_interrupted: bool = False
    log_level: str = "INFO"

    def key_set(self) -> set[str]:
        return {k.strip() for k in self.api_keys.split(",") if k.strip()}

    def auth_enabled(self) -> bool:
        return bool(self.key_set() or self.admin_api_key.strip())

    def docs_public(self) -> bool:
        return self.public_docs if self.public_docs is not None else not self.auth_enabled()

    def origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
