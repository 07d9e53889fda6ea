"""Progress a person can follow: one log line per evaluation, plus a live bar on a terminal."""

from __future__ import annotations

import sys
import time


class Progress:
    """Writes `line()` messages to stderr (the job's log under Snakemake); when stderr is a
    terminal, also redraws a one-line bar so a long step shows how far it has come."""

    def __init__(self, total: int, label: str, stream=None):
        self.total, self.label = max(total, 1), label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.perf_counter()
        self._bar_drawn = False

    def line(self, text: str) -> None:
        if self._bar_drawn:
            self.stream.write("\r\033[K")
            self._bar_drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, done: int, note: str = "") -> None:
        if not self.tty:
            return
        frac = min(done / self.total, 1.0)
        filled = int(frac * 30)
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} {elapsed:5.1f}s {note}\033[K")
        self.stream.flush()
        self._bar_drawn = True

    def close(self) -> None:
        if self._bar_drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_drawn = False
