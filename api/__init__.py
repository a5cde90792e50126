"""The interfaces: the `ctxplan` CLI (`api.cli`) and, later, the HTTP service."""
