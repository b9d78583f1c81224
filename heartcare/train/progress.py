"""The rich progress bar of a run (steps done of the total, time left, current loss)."""

from __future__ import annotations


class ProgressBar:
    """A rich bar when `enabled` (the main process with stage.progress), else nothing."""

    def __init__(self, description: str, total: int, completed: int, enabled: bool = True) -> None:
        self.progress = None
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
        self.task = self.progress.add_task(description, total=total, completed=completed, status="")
        self.progress.start()

    def update(self, completed: int, status: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=completed, status=status)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
