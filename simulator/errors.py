"""Errors a caller can cause, each rendered as one line that names where, what and what is allowed.

`InputError` is for caller mistakes (bad scenario values, unknown names, malformed files); the CLI
prints `str(error)` and exits 2, the API maps it to 422. Internal invariants use `assert` or
`RuntimeError` and are bugs, never user errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CtxplanError(Exception):
    """Base class of every error ctxplan raises on purpose."""


class InputError(CtxplanError, ValueError):
    """A value supplied by the caller is invalid.

    The message reads `FILE: FIELD: got VALUE; ALLOWED`, leaving out the parts that are unknown.
    """

    def __init__(self, message: str, *, field: str | None = None, value: object = None,
                 allowed: str | None = None, file: str | None = None, also: tuple[str, ...] = ()) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.file = file
        self.detail = message
        self.also = tuple(also)       # further errors in the same input, each already one `FIELD: ...` phrase
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.field:
            parts.append(self.field)
        text = self.detail
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        parts.append(text)
        return "; ".join([": ".join(parts), *self.also])

    def in_file(self, file: str) -> "InputError":
        """The same error, located in `file` (kept when already set)."""
        return InputError(self.detail, field=self.field, value=self.value,
                          allowed=self.allowed, file=self.file or file, also=self.also)


def closest_names(name: str, known: Iterable[str], n: int = 3, cutoff: float = 0.4) -> list[str]:
    """Up to `n` known names a typo of `name` may mean, best first (case-insensitive).

    Prefix matches come first (`h100` means `h100-sxm` before `h200`): a name that starts with the typed
    one, or that the typed one starts with; then the others as close as difflib's ratio finds them.
    Each group is ordered by that ratio, ties by name.
    """
    typed = name.strip().lower()
    scored = []
    for candidate in set(known):
        lower = candidate.lower()
        ratio = difflib.SequenceMatcher(None, typed, lower).ratio()
        prefix = bool(typed) and (lower.startswith(typed) or typed.startswith(lower))
        if prefix or ratio >= cutoff:
            scored.append((not prefix, -ratio, candidate))
    return [candidate for *_, candidate in sorted(scored)[:n]]


def unknown_name_error(kind: str, name: str, known: Iterable[str], field: str) -> InputError:
    """An `InputError` for an unknown catalog name, suggesting the closest known names."""
    known = sorted(known)
    close = closest_names(name, known)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(known)}"
    return InputError(f"unknown {kind} {name!r}; {hint} (or give a path to a file)", field=field)
