"""Showing a reconciliation's progress (``scim-bridge reconcile``): one tqdm bar per target in a
terminal, plain timestamped lines otherwise (a log file, a pipe, CI), never both.

The reconcile service reports ``(target, stage, done, total)`` from one thread per target
(``sync/reconcile.py`` ``Progress``); the stages are ``accounts`` (listed), ``groups`` (groups whose
members were read), ``compared`` (stored resources planned) and ``done``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

STAGES = {"accounts": "reading accounts", "groups": "reading group members", "compared": "comparing"}
PLAIN_EVERY = 5.0  # seconds between two plain lines about one stage of one target


class _Bars:
    def __init__(self, targets: list[str], stream: TextIO):
        from tqdm import tqdm

        width = max(len(t) for t in targets)
        self._bars = {t: tqdm(total=None, desc=f"{t:<{width}}", position=i, file=stream, leave=True,
                              unit="", dynamic_ncols=True) for i, t in enumerate(targets)}
        self._width = width
        self._lock = threading.Lock()
        self._stage: dict[str, str] = {}

    def __call__(self, target: str, stage: str, done: int, total: int | None) -> None:
        with self._lock:
            bar = self._bars[target]
            if stage == "done":
                bar.set_description_str(f"{target:<{self._width}} done")
                bar.close()
                return
            if self._stage.get(target) != stage:
                self._stage[target] = stage
                bar.reset(total=total)
                bar.set_description_str(f"{target:<{self._width}} {STAGES.get(stage, stage)}")
            if total is not None and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


class _Lines:
    def __init__(self, stream: TextIO):
        self._stream = stream
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._started = time.monotonic()

    def __call__(self, target: str, stage: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        key = (target, stage)
        finished = stage == "done" or (total is not None and done >= total)
        if not finished and key in self._last and now - self._last[key] < PLAIN_EVERY:
            return
        self._last[key] = now
        if stage == "done":
            text = f"{target}: finished"
        else:
            of = f" of {total}" if total is not None else ""
            text = f"{target}: {STAGES.get(stage, stage)}: {done}{of}"
        with self._lock:
            print(f"[{now - self._started:6.1f} s] {text}", file=self._stream, flush=True)

    def close(self) -> None:
        pass


@contextmanager
def progress_display(targets: list[str], stream: TextIO, *, terminal: bool | None = None) -> Iterator:
    """A ``progress`` callable for ``reconcile``: bars when ``stream`` is a terminal, else lines."""
    if terminal is None:
        terminal = bool(getattr(stream, "isatty", lambda: False)())
    shown = _Bars(targets, stream) if terminal and targets else _Lines(stream)
    try:
        yield shown
    finally:
        shown.close()
