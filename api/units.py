"""Numbers for people: every table and message of the CLI and reports formats through these.

JSON output keeps raw numbers (seconds, bytes, dollars); these are for display only.

    duration(0.0123) -> "12.3 ms"     duration(539) -> "9.0 min"     duration(6.6e5) -> "7.6 days"
    size_bytes(42.9e9) -> "40.0 GiB"  (binary units, as GPUs report memory; `size_gb` for 10^9 bytes)
    usd(269.1059) -> "$269"  usd(0.00005861) -> "$0.0000586"  usd(1.5) -> "$1.50"
    count(1084979) -> "1,084,979"   rate(0.0412) -> "0.041"   share(0.953) -> "95.3%"
"""

from __future__ import annotations

import math

MISSING = "-"
_DURATIONS = ((86400.0, "days"), (3600.0, "h"), (60.0, "min"), (1.0, "s"), (1e-3, "ms"), (1e-6, "µs"))
_BINARY = ((2 ** 40, "TiB"), (2 ** 30, "GiB"), (2 ** 20, "MiB"), (2 ** 10, "KiB"))


def _bad(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def significant(value: float, digits: int = 3) -> str:
    """`digits` significant figures without scientific notation for everyday magnitudes."""
    if value == 0:
        return "0"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1:
        return f"{value:,.0f}"
    return f"{value:.{digits - 1 - magnitude}f}"


def duration(seconds, digits: int = 3) -> str:
    """Seconds in the largest unit that keeps the number >= 1 (µs .. days)."""
    if _bad(seconds):
        return MISSING
    if math.isinf(seconds):
        return "never"
    if seconds == 0:
        return "0 s"
    for scale, unit in _DURATIONS:
        if abs(seconds) >= scale or scale == 1e-6:
            return f"{significant(seconds / scale, digits)} {unit}"
    return MISSING


def ms(seconds) -> str:
    """Seconds as milliseconds (columns that are always in ms)."""
    return MISSING if _bad(seconds) else significant(seconds * 1e3)


def size_bytes(value) -> str:
    """Bytes in binary units (GiB, as `nvidia-smi` and the engines report memory)."""
    if _bad(value):
        return MISSING
    for scale, unit in _BINARY:
        if abs(value) >= scale:
            return f"{significant(value / scale)} {unit}"
    return f"{value:,.0f} B"


def size_gb(value) -> str:
    """Bytes as decimal GB (10^9 bytes, as datasheets state memory)."""
    return MISSING if _bad(value) else f"{significant(value / 1e9)} GB"


def usd(value) -> str:
    """Dollars: whole dollars from $100, cents from $1, three significant figures below."""
    if _bad(value):
        return MISSING
    if math.isinf(value):
        return "unbounded"
    if value == 0 or abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${significant(value)}"


def count(value) -> str:
    return MISSING if _bad(value) else f"{value:,.0f}"


def rate(value) -> str:
    """A rate or other plain quantity, three significant figures."""
    return MISSING if _bad(value) else significant(float(value))


def share(value) -> str:
    """A fraction in 0..1 as a percentage."""
    return MISSING if _bad(value) else f"{value * 100:.1f}%"


def yes_no(value) -> str:
    return MISSING if value is None else ("yes" if value else "no")
