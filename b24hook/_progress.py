"""Progress reporting of the list walks and the export: a callback and/or a tqdm bar.

A leaf module (no b24hook imports): the list actions and the export both
take ``progress=`` and turn it into a :class:`Progress` with
:func:`make_progress`.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

__all__ = ["ProgressArg", "Progress", "make_progress"]

#: What ``progress=`` accepts: None/False (nothing), True (a tqdm bar) or a
#: callback ``(fetched, total_or_None)``.
ProgressArg = Callable[[int, "int | None"], Any] | bool | None


class Progress:
    """Reports rows fetched so far to a callback and/or a tqdm bar."""

    __slots__ = ("_cb", "_bar", "fetched", "total")

    def __init__(self, cb: Callable[[int, int | None], Any] | None, bar: Any, total: int | None) -> None:
        self._cb = cb
        self._bar = bar
        self.fetched = 0
        self.total = total

    def set_total(self, total: int | None) -> None:
        self.total = total
        if self._bar is not None and total is not None:
            self._bar.total = max(total, self.fetched)
            self._bar.refresh()

    def add(self, n: int) -> None:
        self.fetched += n
        if self.total is not None and self.fetched > self.total:
            self.set_total(self.fetched)
        if self._bar is not None:
            self._bar.update(n)
        if self._cb is not None:
            self._cb(self.fetched, self.total)

    def note(self, text: str) -> None:
        """A status beside the count (the bar's postfix; callbacks get counts only)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text)

    def close(self) -> None:
        if self._bar is not None:
            if self.total is None or self.total != self.fetched:
                self._bar.total = self.fetched
                self._bar.refresh()
            self._bar.close()
            self._bar = None


def make_progress(progress: Any, desc: str, total: int | None = None) -> Progress | None:
    """None, a callback ``(fetched, total_or_None)``, or True for a tqdm bar."""
    if progress is None or progress is False:
        return None
    if progress is True:
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints
        except ImportError:
            warnings.warn("progress=True needs tqdm (pip install tqdm); no bar shown",
                          RuntimeWarning, stacklevel=3)
            return None
        return Progress(None, tqdm(total=total, desc=desc, unit="rows"), total)
    if callable(progress):
        return Progress(progress, None, total)
    raise TypeError("progress must be None, True or a callable(fetched, total)")

