"""The CLI's progress display for quantization: ``(task, samples done, total)`` reports
(``keras2edge.quantize.progress``) -> one line per task on a text stream (stderr).

On a terminal the line is redrawn in place (``\\r``) as batches finish and ends with a newline when the
task ends or the next one starts; on anything else (a log file, a pipe: ``--progress`` forced it) a
line is written at each tenth of the total (each batch when the total is unknown) so logs stay short.
No dependency beyond the standard library.
"""

from __future__ import annotations

from typing import TextIO

WIDTH = 24  # characters of the bar


class ProgressLine:
    """A ``ProgressFn`` that draws ``task: done/total samples [####    ]`` on ``stream``.

    Call it as the quantization's progress function; :meth:`close` ends the last line.
    """

    def __init__(self, stream: TextIO, terminal: bool) -> None:
        self.stream = stream
        self.terminal = terminal
        self.task: str | None = None
        self.shown = -1  # the last tenth written (not on a terminal)

    def __call__(self, task: str, done: int, total: int | None) -> None:
        if task != self.task:
            self.close()
            self.task, self.shown = task, -1
        text = self.render(task, done, total)
        if self.terminal:
            self.stream.write("\r" + text)
        else:
            tenth = done * 10 // total if total else done
            if tenth == self.shown:
                return
            self.shown = tenth
            self.stream.write(text + "\n")
        self.stream.flush()

    @staticmethod
    def render(task: str, done: int, total: int | None) -> str:
        """One line of text for ``done`` of ``total`` samples (no bar when the total is unknown)."""
        label = task[:1].upper() + task[1:]
        if not total:
            return f"{label}: {done} samples"
        fill = min(WIDTH, done * WIDTH // total)
        return f"{label}: {done}/{total} samples [{'#' * fill}{' ' * (WIDTH - fill)}]"

    def close(self) -> None:
        """End the current line (a terminal's in-place line gets its newline)."""
        if self.task is not None and self.terminal:
            self.stream.write("\n")
            self.stream.flush()
        self.task = None


__all__ = ["ProgressLine"]
