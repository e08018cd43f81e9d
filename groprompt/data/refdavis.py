"""Ref-DAVIS17 reader: DAVIS-2017 with the Khoreva et al. expressions, in the Ref-YouTube-VOS layout (docs/datasets.md).

The layout is the community's conversion (written by ``groprompt convert-davis``, :mod:`groprompt.data.davis_convert`)
and is read by :func:`groprompt.data.refytvos.load_refytvos`; this module adds what is particular to Ref-DAVIS17:

* Every object has exactly four expressions in a fixed order, and the k-th expression of every object forms
  expression set k (:data:`EXPRESSION_SETS`). The evaluation runs per set and averages the four
  (docs/method_spec.md §8), so each :class:`~groprompt.data.model.Expression` carries its ``expression_set``.
* Both splits (``train``: 60 videos, ``valid``: 30) have ground truth, from DAVIS ``Annotations_unsupervised``.
* Given the raw DAVIS-2017 folder instead, the reader says which command converts it: the conversion decodes every
  annotation PNG once, which a one-off workflow step should do rather than every read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from groprompt.data.model import Dataset, Video
from groprompt.data.refytvos import load_refytvos
from groprompt.errors import GroPromptError

EXPRESSION_SETS = (
    "annotator 1, first frame",
    "annotator 1, full video",
    "annotator 2, first frame",
    "annotator 2, full video",
)
"""What expression set k (``Expression.expression_set``) is."""


def load_refdavis(root: str | Path, split: str, *, dataset_name: str = "refdavis") -> Dataset:
    """Read the ``train`` or ``valid`` split of converted Ref-DAVIS17, with expression sets 0..3 assigned."""
    root = Path(root)
    if not (root / "meta_expressions").is_dir() and (root / "JPEGImages" / "480p").is_dir():
        raise GroPromptError(
            "this is the raw DAVIS-2017 layout; Ref-DAVIS17 is read from its Ref-YouTube-VOS conversion",
            dataset=dataset_name, path=root,
            fix=f"run `groprompt convert-davis --davis-root {root} --out <folder>` once and read <folder>",
        )
    dataset = load_refytvos(root, split, dataset_name=dataset_name)
    expressions_file = root / "meta_expressions" / split / "meta_expressions.json"
    return replace(dataset, videos=tuple(_with_expression_sets(video, expressions_file) for video in dataset))


def expression_sets(obj_ids: Sequence[int | None], *, video: str, path: Path, dataset: str | None = None,
                    ) -> list[int]:
    """The expression set of each of a video's expressions, given their objects in file order: the k-th expression
    of an object is in set k. Any object with other than four expressions is an error naming ``path``."""
    seen: dict[int | None, int] = {}
    numbers = []
    for obj_id in obj_ids:
        numbers.append(seen.get(obj_id, 0))
        seen[obj_id] = numbers[-1] + 1
    wrong = {obj_id: count for obj_id, count in seen.items() if count != len(EXPRESSION_SETS)}
    if wrong:
        counts = ", ".join(f"object {obj_id}: {count}" for obj_id, count in sorted(wrong.items()))
        raise GroPromptError(
            f"every Ref-DAVIS17 object needs exactly {len(EXPRESSION_SETS)} expressions ({counts})",
            dataset=dataset, video=video, path=path, fix="regenerate the layout with `groprompt convert-davis`",
        )
    return numbers


def _with_expression_sets(video: Video, expressions_file: Path) -> Video:
    numbers = expression_sets([e.obj_id for e in video.expressions], video=video.name, path=expressions_file,
                              dataset=video.dataset)
    numbered = [replace(e, expression_set=k) for e, k in zip(video.expressions, numbers, strict=True)]
    return replace(video, expressions=tuple(numbered))
