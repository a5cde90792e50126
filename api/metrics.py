"""Prometheus text metrics: request counts and latencies, job queue depth, job durations."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS_S)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for i, bound in enumerate(BUCKETS_S):
            if value <= bound:
                self.counts[i] += 1

    def lines(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        out = [f'{name}_bucket{{{labels}{sep}le="{b}"}} {c}' for b, c in zip(BUCKETS_S, self.counts)]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.total}')
        out.append(f"{name}_sum{{{labels}}} {self.sum:.6f}")
        out.append(f"{name}_count{{{labels}}} {self.total}")
        return out


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)    # (method, route, status) -> count
        self.latency: dict[tuple[str, str], Histogram] = defaultdict(Histogram)
        self.jobs: dict[tuple[str, str], Histogram] = defaultdict(Histogram)  # (kind, status) -> durations

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            self.latency[(method, route)].observe(seconds)

    def observe_job(self, kind: str, status: str, seconds: float) -> None:
        with self._lock:
            self.jobs[(kind, status)].observe(seconds)

    def render(self, queue_depth: int, running: int) -> str:
        with self._lock:
            lines = ["# TYPE ctxplan_http_requests_total counter"]
            lines += [f'ctxplan_http_requests_total{{method="{m}",route="{r}",status="{s}"}} {n}'
                      for (m, r, s), n in sorted(self.requests.items())]
            lines.append("# TYPE ctxplan_http_request_duration_seconds histogram")
            for (m, r), histogram in sorted(self.latency.items()):
                lines += histogram.lines("ctxplan_http_request_duration_seconds", f'method="{m}",route="{r}"')
            lines += ["# TYPE ctxplan_job_queue_depth gauge", f"ctxplan_job_queue_depth {queue_depth}",
                      "# TYPE ctxplan_jobs_running gauge", f"ctxplan_jobs_running {running}",
                      "# TYPE ctxplan_job_duration_seconds histogram"]
            for (kind, status), histogram in sorted(self.jobs.items()):
                lines += histogram.lines("ctxplan_job_duration_seconds", f'kind="{kind}",status="{status}"')
        return "\n".join(lines) + "\n"
