"""Table 5 of the paper: trainable parameters, ours counted, the paper's reported (docs/method_spec.md §1, §9).

Our GroPrompt count comes from the JSON of ``groprompt params --json`` (:mod:`groprompt.prompting.params`): the
models of the study's config built on the meta device, the freezing policy applied, ``requires_grad`` counted.
Nothing of ours is typed in; the paper's rows (ReferFormer ~112M, OnlineRefer ~221M, DEVA ~112M, GroPrompt ~15M,
with their J&F) are in "reported" columns. The caption always names the precision the study's models ran in (the
JSON's ``precision``, from the params config's; fp32 where the JSON has none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from groprompt.data.registry import DatasetKind
from groprompt.errors import GroPromptError
from groprompt.precision import DEFAULT_PRECISION, PRECISIONS
from groprompt.reporting.reported import reported_rows
from groprompt.reporting.results import MethodRuns
from groprompt.reporting.tables import Column, Table, format_params

OURS = "groprompt-lbox-contra"
"""The row whose parameters we count and whose J&F we show: the full GroPrompt."""
PRECISION_WORDS = {"fp32": "float32", "tf32": "TF32 matrix products", "bf16": "bfloat16 autocast"}
"""How the caption names each precision of :data:`groprompt.precision.PRECISIONS`."""


def read_params(path: str | Path) -> dict[str, Any]:
    """Read ``groprompt params --json`` output; a named error if it lacks ``totals.all.trainable``."""
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        trainable = content["totals"]["all"]["trainable"]
        if not isinstance(trainable, int):
            raise TypeError(f"totals.all.trainable is {trainable!r}, not an integer")
        if content.get("precision", DEFAULT_PRECISION) not in PRECISIONS:
            raise ValueError(f"precision {content['precision']!r} is not one of {', '.join(PRECISIONS)}")
    except FileNotFoundError:
        raise GroPromptError("parameter-count file is missing", path=path,
                             fix="write it with groprompt params --config CONFIG --json FILE") from None
    except (ValueError, KeyError, TypeError) as error:
        raise GroPromptError(f"parameter-count file is malformed ({type(error).__name__}: {error})", path=path,
                             fix="rewrite it with groprompt params --config CONFIG --json FILE") from None
    return content


def _study(params: Mapping[str, Any]) -> str:
    trainable = ", ".join(params.get("trainable_groups") or []) or "default groups"
    parts = [f"prompter {params.get('prompter_size', '?')} (trainable: {trainable})"]
    if params.get("segmentor_variant"):
        parts.append(f"SAM {params['segmentor_variant']} (frozen)")
    parts.append("ModalCon head" if params.get("modalcon") else "no ModalCon head")
    precision = params.get("precision", DEFAULT_PRECISION)
    parts.append(f"{PRECISION_WORDS[precision]} ({precision}) in training and inference")
    return ", ".join(parts)


def build_table5(params: Mapping[str, Any], rows: Sequence[MethodRuns], dataset: DatasetKind) -> Table:
    """Table 5: the paper's rows, ours counted from ``params`` (and its J&F on ``dataset`` where evaluated)."""
    ours = next((row for row in rows if row.key == OURS and row.dataset == dataset.key), None)
    computed_jf = f"J&F {dataset.name} (computed)"
    columns = [Column("Method"), Column("Trainable parameters", "params"), Column("Trainable parameters (reported)"),
               Column("Ref-YouTube-VOS J&F (reported)", "number"), Column("Ref-DAVIS17 J&F (reported)", "number"),
               Column(computed_jf, "estimate")]
    body = []
    for paper in reported_rows("Table 5"):
        cells: dict = {"Method": paper.method,
                       "Trainable parameters (reported)": paper.values["Trainable parameters"],
                       "Ref-YouTube-VOS J&F (reported)": paper.values["Ref-YouTube-VOS J&F"],
                       "Ref-DAVIS17 J&F (reported)": paper.values["Ref-DAVIS17 J&F"]}
        if paper.key == OURS:
            cells["Trainable parameters"] = int(params["totals"]["all"]["trainable"])
            if ours is not None:
                cells[computed_jf] = ours.estimate("J&F-Mean")
        body.append(cells)
    per_model = ", ".join(f"{model} {format_params(int(entry['trainable']))}"
                          for model, entry in params["totals"].items() if model != "all")
    caption = ("Efficiency (paper Table 5): trainable parameters. Trainable parameters: counted by groprompt params "
               f"from requires_grad of this study's models ({_study(params)}). Columns marked (reported) are the "
               f"paper's figures; its J&F are on Ref-YouTube-VOS and Ref-DAVIS17. J&F {dataset.name}: this "
               f"harness's evaluation on {dataset.caption}.")
    return Table("table5", "Table 5", caption, columns, body, [f"Trainable parameters by model: {per_model}."])
