"""``groprompt params``: total and trainable parameters per component of a config's models (paper Table 5)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from groprompt.prompting.params import ComponentCount

NAME = "params"
HELP = "Count total and trainable parameters per component (prompter, SAM, ModalCon) on the meta device."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path,
                        help="YAML with prompter: {size, trainable}, segmentor: {variant}, modalcon: {enabled} and optionally "
                             "precision (fp32, tf32, bf16: named in Table 5's caption)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the counts as JSON (for Table 5)")


def _millions(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1e6:.2f}M"
    return f"{count / 1e3:.1f}K" if count >= 1_000 else str(count)


def format_table(rows: list[ComponentCount], sums: dict[str, dict[str, int]]) -> str:
    """A plain-text table: one line per component, then one total per model and the grand total."""
    lines = [f"{'model':<10} {'component':<28} {'parameters':>11} {'trainable':>10}"]
    lines += [f"{row.model:<10} {row.component:<28} {_millions(row.parameters):>11} {_millions(row.trainable):>10}"
              for row in rows]
    lines.append("-" * len(lines[0]))
    lines += [f"{model:<10} {'total':<28} {_millions(entry['parameters']):>11} {_millions(entry['trainable']):>10}"
              for model, entry in sums.items()]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from groprompt.files import atomic_write_text
    from groprompt.prompting.params import count_study_parameters, read_params_config, totals

    study = read_params_config(args.config)
    rows = count_study_parameters(study)
    sums = totals(rows)
    print(format_table(rows, sums))
    if args.json is not None:
        report = {
            "config": str(args.config),
            "prompter_size": study.prompter_size,
            "trainable_groups": list(study.trainable),
            "segmentor_variant": study.segmentor_variant,
            "modalcon": study.modalcon,
            "precision": study.precision,
            "components": [asdict(row) for row in rows],
            "totals": sums,
        }
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
    return 0
