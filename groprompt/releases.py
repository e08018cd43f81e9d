"""Released stand-in checkpoints: models trained once, committed under the repository's ``releases/``, and checked
against the SHA-256 of their files whenever they are loaded.

The embedded default starts from released stand-ins, as a real study starts from published checkpoints
(``docs/stack_notes.md``, "Released stand-ins"). A release is a folder::

    releases/<name>/
        <the checkpoint's files>     what the loaders read (a Hugging Face folder's files, or a SAM .pt)
        SHA256SUMS                   "<sha256>  <file>" per file, the format `sha256sum -c` checks
        PROVENANCE.md                the exact command, data, seed, steps, wall time, machine, versions, figures

Every loader that reads a checkpoint (:func:`groprompt.hf_folders.check_hf_folder` for folders,
:func:`groprompt.segmentation.load_sam` for SAM files) calls :func:`verify_release` first, so a file changed by
hand, truncated by a copy or replaced by a newer training run is refused before any weight is read, with the file
named and how to restore it. A checkpoint folder without ``SHA256SUMS`` is not a release and is not checked.

The files are small (a few MB: a released Grounding DINO holds every tensor but its text backbone, which comes from
its Python package, :mod:`groprompt.prompting.build`), so they are hashed in full at every load (milliseconds).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from groprompt.errors import GroPromptError

MANIFEST = "SHA256SUMS"
"""Name of a release's digest list."""

_LINE = re.compile(r"([0-9a-f]{64}) [ *](\S.*)")
"""One line of ``sha256sum``'s output: the digest, a space, a space or ``*`` (binary mode), the file name."""


def release_digests(folder: str | Path) -> dict[str, str] | None:
    """``file name -> sha256`` of the release in ``folder``, read from its :data:`MANIFEST`; None if the folder has
    none (not a release). A malformed manifest, or one naming a file outside the folder, is an error."""
    manifest = Path(folder) / MANIFEST
    if not manifest.is_file():
        return None
    digests: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.fullmatch(line.strip())
        if match is None or "/" in match[2] or match[2] in (".", ".."):
            raise GroPromptError(f"line {number} of the release's digest list is not '<sha256>  <file in this "
                                 f"folder>': {line.strip()[:80]!r}", path=manifest,
                                 fix=f"restore {MANIFEST} from the repository (git checkout -- {manifest})")
        digests[match[2]] = match[1]
    if not digests:
        raise GroPromptError("the release's digest list is empty", path=manifest,
                             fix=f"restore {MANIFEST} from the repository (git checkout -- {manifest})")
    return digests


def sha256_of(path: str | Path) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify_release(checkpoint: str | Path) -> bool:
    """Check a checkpoint against its release's digests, if it is part of a release.

    Args:
        checkpoint: a checkpoint folder (every file its :data:`MANIFEST` lists is checked) or a checkpoint file
            (checked against the manifest of the folder holding it; a file the manifest does not list is refused).

    Returns:
        True if ``checkpoint`` belongs to a release and matches it; False if it belongs to none.

    Raises :class:`GroPromptError` naming the first file that is missing or whose bytes differ from the release's,
    and how to get the released file back.
    """
    checkpoint = Path(checkpoint)
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    digests = release_digests(folder)
    if digests is None:
        return False
    restore = (f"restore the released files (git checkout -- {folder}), or, to use another model, point the "
               f"config to a folder of your own; {folder / 'PROVENANCE.md'} gives the command that made them")
    if not checkpoint.is_dir():
        if checkpoint.name not in digests:
            raise GroPromptError(f"{checkpoint.name} is not one of the files of the release in {folder} "
                                 f"({', '.join(sorted(digests))})", path=checkpoint, fix=restore)
        digests = {checkpoint.name: digests[checkpoint.name]}
    for name, expected in sorted(digests.items()):
        path = folder / name
        if not path.is_file():
            raise GroPromptError("a file of the released checkpoint is missing", path=path, fix=restore)
        found = sha256_of(path)
        if found != expected:
            raise GroPromptError(f"the file differs from the released one (SHA-256 {found[:16]}..., released "
                                 f"{expected[:16]}...): it was changed, truncated or replaced", path=path,
                                 fix=restore)
    return True


def write_manifest(folder: str | Path, names: list[str]) -> Path:
    """Write ``folder``'s :data:`MANIFEST` for the files ``names`` (sorted; written whole, then renamed into place).

    PROVENANCE.md is not listed: it is prose that may be corrected without changing the model."""
    from groprompt.files import atomic_open

    folder = Path(folder)
    lines = "".join(f"{sha256_of(folder / name)}  {name}\n" for name in sorted(names))
    with atomic_open(folder / MANIFEST, "w") as handle:
        handle.write(lines)
    return folder / MANIFEST
