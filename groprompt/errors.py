"""The one exception type of the harness.

Every error a user can cause (a missing path, a malformed annotation, a checkpoint of the wrong shape, a config
typo) is a :class:`GroPromptError` whose message names what is involved and says what to do. The CLI prints it
without a traceback and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path


class GroPromptError(Exception):
    """A user-facing error: what went wrong, where, and how to fix it.

    Args:
        message: what went wrong, one sentence.
        fix: what the user should do about it.
        dataset, video, expression, frame, path: whatever of these the error involves; each is named in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        fix: str | None = None,
        dataset: str | None = None,
        video: str | None = None,
        expression: str | None = None,
        frame: str | int | None = None,
        path: str | Path | None = None,
    ) -> None:
        self.problem = message
        self.fix = fix
        self.dataset = dataset
        self.video = video
        self.expression = expression
        self.frame = frame
        self.path = Path(path) if path is not None else None
        super().__init__(self._format())

    def _format(self) -> str:
        where = [
            f"{name} {value}"
            for name, value in (
                ("dataset", self.dataset),
                ("video", self.video),
                ("expression", self.expression),
                ("frame", self.frame),
                ("file", self.path),
            )
            if value is not None
        ]
        text = self.problem
        if where:
            text += f" [{', '.join(where)}]"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text
