"""`ctxplan serve`: uvicorn with the service's connection limits.

One HTTP worker process per service: the job runner lives in it (see `api.jobs`), so `--workers`
above 1 is refused rather than run with two runners that would fail each other's jobs. A new
connection must send its request headers within `header_timeout_s` (uvicorn has no such timeout
of its own, so a half-sent request would hold a connection forever); bodies must keep arriving
(`body_timeout_s`, in `api.middleware`); idle keep-alive connections close after 5 s.
"""

from __future__ import annotations

import sys

from uvicorn.protocols.http.h11_impl import H11Protocol

from api.settings import Settings
from simulator.errors import InputError


def guarded_protocol(header_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections that have not sent request headers in time."""

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._header_deadline = self.loop.call_later(header_timeout_s, self._headers_overdue)

        def _headers_overdue(self) -> None:
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

        def connection_lost(self, exc) -> None:
            self._header_deadline.cancel()
            super().connection_lost(exc)

    return GuardedH11Protocol


def service_url(host: str, port: int) -> str:
    """The URL clients use for `host:port` (an IPv6 address in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host and not host.startswith("[") else f"http://{host}:{port}"


def serve(host: str, port: int, workers: int) -> None:
    """Run the service in this process until interrupted; one line on stderr says where."""
    import uvicorn
    if workers != 1:
        raise InputError("one HTTP worker per service: its job runner would fail another worker's running jobs",
                         field="--workers", value=workers, allowed="1 (jobs run in their own processes: "
                         "CTXPLAN_JOB_WORKERS sets how many at once)")
    settings = Settings()
    print(f"ctxplan service listening on {service_url(host, port)} (docs at /docs)", file=sys.stderr, flush=True)
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=1, log_level="warning",
                access_log=False, http=guarded_protocol(settings.header_timeout_s), timeout_keep_alive=5,
                limit_concurrency=settings.max_inflight_requests * 4, backlog=2048,
                h11_max_incomplete_event_size=64 * 1024)
