"""``groprompt release``: package a trained stand-in as a release folder with the SHA-256 of its files
(:mod:`groprompt.releases`), ready to commit under ``releases/``.

* ``--grounder FOLDER`` (a stand-in Grounding DINO that ``pretrain-grounder`` wrote): the folder is written again
  without its text backbone, after checking that the text backbone is exactly the one its size bundles (so nothing
  is lost: :func:`groprompt.prompting.build.load_hf_detector` loads the bundled one back); no tokenizer files either
  (the size bundles them too). A few MB instead of about a hundred.
* ``--segmentor FILE`` (a stand-in SAM that ``pretrain-segmentor`` wrote): copied as ``segmentor.pt``.

Either way the training run's ``<checkpoint>.metrics.json`` is copied beside it (the held-out curve), and the
folder's ``SHA256SUMS`` lists the files. PROVENANCE.md is the releaser's to write. The folder is built under a
temporary name and renamed into place; an existing ``--out`` is refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "release"
HELP = ("Package a trained stand-in grounder (folder) or SAM (file) as a release folder with the SHA-256 of its "
        "files, the form releases/ holds.")

SEGMENTOR_FILE = "segmentor.pt"
"""The name a released SAM file takes in its release folder."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--grounder", type=Path, metavar="FOLDER",
                        help="the stand-in grounder folder that pretrain-grounder wrote")
    source.add_argument("--segmentor", type=Path, metavar="FILE",
                        help="the stand-in SAM file that pretrain-segmentor wrote")
    parser.add_argument("--size", default="tiny", help="the grounder's prompter size (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="release folder to create (must not exist)")


def run(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from groprompt.errors import GroPromptError
    from groprompt.releases import write_manifest

    source = args.grounder or args.segmentor
    metrics = Path(f"{source}.metrics.json")
    if args.out.exists():
        raise GroPromptError("the release folder exists already", path=args.out,
                             fix="choose a new --out, or remove the old release first")
    if not source.exists():
        raise GroPromptError("the checkpoint to release does not exist", path=source,
                             fix="train it first (groprompt pretrain-grounder / pretrain-segmentor)")
    if not metrics.is_file():
        raise GroPromptError("the training run's metrics file is missing", path=metrics,
                             fix="release the checkpoint where its training run wrote it, beside its metrics")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", suffix=".tmp", dir=args.out.parent))
    try:
        names = (_write_grounder(source, args.size, staging) if args.grounder is not None
                 else _write_segmentor(source, staging))
        shutil.copyfile(metrics, staging / "metrics.json")
        write_manifest(staging, [*names, "metrics.json"])
        staging.chmod(0o755)  # mkdtemp's 0700 would keep a committed folder from other users
        staging.rename(args.out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    print(f"release: wrote {args.out} ({', '.join(sorted(p.name for p in args.out.iterdir()))}); add PROVENANCE.md")
    return 0


def _write_grounder(folder: Path, size: str, out: Path) -> list[str]:
    """The grounder's weights without its text backbone, and its config; returns the file names written."""
    import torch

    from groprompt.errors import GroPromptError
    from groprompt.prompting.build import TEXT_BACKBONE_PREFIX, build_detector, load_text_backbone
    from groprompt.prompting.config import prompter_size
    from groprompt.prompting import build_prompter

    spec = prompter_size(size)
    if not spec.bundled_text_dir:
        raise GroPromptError(f"prompter size {size!r} bundles no text backbone, so its release could not omit it",
                             fix="release a stand-in of a size that bundles its text backbone (tiny)")
    detector = build_prompter(size, folder).detector
    bundled = build_detector(size)
    load_text_backbone(bundled, spec.bundled_text_dir())
    trained, shipped = detector.model.text_backbone.state_dict(), bundled.model.text_backbone.state_dict()
    changed = [key for key in trained if not torch.equal(trained[key], shipped[key])]
    if changed:
        raise GroPromptError(f"the grounder's text backbone differs from the bundled one ({', '.join(changed[:3])})"
                             ": a release without it would lose that", path=folder,
                             fix="release a grounder whose text backbone stayed frozen (pretrain-grounder's)")
    state = {key: value for key, value in detector.state_dict().items()
             if not key.startswith(TEXT_BACKBONE_PREFIX)}
    detector.save_pretrained(out, state_dict=state)
    return sorted(path.name for path in out.iterdir())


def _write_segmentor(path: Path, out: Path) -> list[str]:
    """The SAM file, checked loadable, as :data:`SEGMENTOR_FILE`; returns the file names written."""
    import shutil

    from groprompt.segmentation import load_sam

    load_sam(path)
    shutil.copyfile(path, out / SEGMENTOR_FILE)
    return [SEGMENTOR_FILE]
