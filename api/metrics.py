"""Prometheus metrics through `prometheus_client`: request counts and latencies, job queue depth and
running jobs, job durations. One registry per app (tests build several apps in one process);
`_created` series are off, so the text is only what dashboards read."""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
prometheus_client.disable_created_metrics()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("ctxplan_http_requests", "HTTP requests answered", ("method", "route", "status"),
                                registry=self.registry)
        self.latency = Histogram("ctxplan_http_request_duration_seconds", "time to answer an HTTP request",
                                 ("method", "route"), buckets=BUCKETS_S, registry=self.registry)
        self.queue_depth = Gauge("ctxplan_job_queue_depth", "jobs waiting for a job process", registry=self.registry)
        self.running = Gauge("ctxplan_jobs_running", "job processes running", registry=self.registry)
        self.jobs = Histogram("ctxplan_job_duration_seconds", "job run time by kind and final status",
                              ("kind", "status"), buckets=BUCKETS_S, registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_job(self, kind: str, status: str, seconds: float) -> None:
        self.jobs.labels(kind, status).observe(seconds)

    def render(self, queue_depth: int, running: int) -> str:
        self.queue_depth.set(queue_depth)
        self.running.set(running)
        return generate_latest(self.registry).decode()
