"""Small checked readers shared by the dataset readers: JSON, CSV and text files, required paths (image files are
checked by :mod:`groprompt.data.validation`).

Each turns a missing or malformed file into a :class:`GroPromptError` that names the file (and, for JSON, the
position of the syntax error), so every reader validates its layout with the same wording.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from groprompt.errors import GroPromptError


def require(path: Path, what: str, *, dataset: str, video: str | None = None, fix: str | None = None) -> Path:
    """Return ``path`` if it exists; otherwise a :class:`GroPromptError` saying that ``what`` is missing."""
    if not path.exists():
        raise GroPromptError(f"{what} is missing", dataset=dataset, video=video, path=path,
                             fix=fix or "check that the dataset was extracted completely into this folder")
    return path


def read_json(path: Path, *, dataset: str) -> Any:
    """Parse a JSON file; a missing file or a syntax error becomes an error naming the file and the position."""
    require(path, "JSON file", dataset=dataset)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise GroPromptError(
            f"malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}", dataset=dataset, path=path,
            fix="re-download or regenerate this file; it is truncated or was edited by hand",
        ) from None
    except UnicodeDecodeError as error:
        raise GroPromptError(f"JSON file is not UTF-8 ({error.reason} at byte {error.start})", dataset=dataset,
                             path=path, fix="re-download or regenerate this file") from None


def expect(condition: bool, problem: str, *, path: Path, dataset: str, video: str | None = None,
           expression: str | None = None) -> None:
    """Raise a :class:`GroPromptError` about a malformed file unless ``condition`` holds."""
    if not condition:
        raise GroPromptError(problem, dataset=dataset, video=video, expression=expression, path=path,
                             fix="re-download or regenerate this file; its structure is not the dataset's")


def read_lines(path: Path, *, dataset: str, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file (without line ends); undecodable bytes are an error naming the file."""
    require(path, "text file", dataset=dataset)
    try:
        return path.read_text(encoding=encoding).splitlines()
    except UnicodeDecodeError as error:
        raise GroPromptError(
            f"text file is not valid {encoding} ({error.reason} at byte {error.start})", dataset=dataset, path=path,
            fix="re-download this file",
        ) from None


def read_csv(path: Path, *, dataset: str) -> list[list[str]]:
    """The rows of a comma-separated file (quoted fields allowed), blank rows dropped."""
    lines = read_lines(path, dataset=dataset)
    return [row for row in csv.reader(lines) if row and any(cell.strip() for cell in row)]

