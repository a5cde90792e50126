"""ctxplan's simulator: the SimPy engine (engine/), costs, specs, workloads, comparisons, planning and
results; docs/architecture.md describes the packages and the rules between them.

Imports only the standard library, simpy, numpy, pandas, pydantic and yaml (never fastapi or torch).
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("ctxplan")
except _metadata.PackageNotFoundError:   # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
