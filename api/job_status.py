"""Job states, in one place: the store writes them, the runner moves jobs between them, routes read them.

    queued -> running -> succeeded | failed | cancelled      (queued -> cancelled, queued -> failed too)

Members are `str`s with today's values, so the database, the JSON and the OpenAPI enum are unchanged."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
