"""README.md's commands run as printed after the main job.

The README's examples read what the main job (`snakemake --cores all`) wrote under work/default/ and write under
work/mine/. This test runs a smaller smoke study under the name `default` in a temporary folder that otherwise looks
like the checkout (its files linked in), then every ```bash block of README.md in order, each with `bash -euo
pipefail` from that folder, and fails on the first error. A block is skipped only when the line right before it
is the marker ``<!-- tests/test_readme.py: skip RULE -->`` with a RULE of :data:`SKIP`: installs, real data, the
git checkout, or minutes of work.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from workflow_fixtures import REPO, cli_environment, reduced_smoke_config, run_study

README = REPO / "README.md"
SKIP = {
    "install": "changes the Python environment and downloads packages",
    "minutes": "runs a study, a pre-training or a training: minutes to hours",
    "real-data": "reads a real dataset or checkpoint, which no test has",
    "checkout": "needs the git checkout and its committed results",
}
"""The rules by which a README block is not run, with why."""
MARKER = re.compile(r"<!-- tests/test_readme\.py: skip (\S+) -->")
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
NOT_LINKED = {"work", "results", ".snakemake", ".git", ".venv", ".pytest_cache"}
"""What the main job writes (made by the study here) and what a command never reads."""


@dataclass(frozen=True)
class Block:
    """A fenced shell block of README.md: the line its fence opens on, its commands, and the skip rule it is
    marked with (None: it runs)."""

    line: int
    code: str
    skip: str | None


def shell_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        if opening.group(2) in ("bash", "sh", "shell", "console"):
            before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
            marker = MARKER.search(before)
            code = "\n".join(line.removeprefix(opening.group(1)) for line in lines[index + 1:end])
            blocks.append(Block(index + 1, code, marker.group(1) if marker else None))
        index = end + 1
    return blocks


BLOCKS = shell_blocks(README.read_text())


def test_every_skipped_block_names_a_listed_rule() -> None:
    assert BLOCKS and any(block.skip is None for block in BLOCKS)
    unknown = [(block.line, block.skip) for block in BLOCKS if block.skip is not None and block.skip not in SKIP]
    assert not unknown, f"README.md blocks skipped by rules tests/test_readme.py does not list: {unknown}"
    # A marker that does not stand right before a shell block would skip nothing: a typo, or a moved block.
    text = README.read_text()
    assert len(MARKER.findall(text)) == sum(block.skip is not None for block in BLOCKS)


@pytest.fixture(scope="module")
def checkout_after_main_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that looks like the checkout after the main job: a smaller smoke study run under the name
    `default` (work/default/, results/default/), and the checkout's other files linked in."""
    folder = tmp_path_factory.mktemp("checkout")
    config = reduced_smoke_config() | {"name": "default"}
    configfile = folder.parent / f"{folder.name}-default.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_study(folder, configfile, cores=2)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    for entry in REPO.iterdir():
        if entry.name not in NOT_LINKED and not (folder / entry.name).exists():
            (folder / entry.name).symlink_to(entry)
    return folder


def test_every_readme_command_runs_as_printed(checkout_after_main_job: Path) -> None:
    for block in BLOCKS:
        if block.skip is not None:
            continue
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=checkout_after_main_job,
                                env=cli_environment(), capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (f"README.md line {block.line}: exit {result.returncode}\n{block.code}\n"
                                        f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
    assert (checkout_after_main_job / "work" / "mine" / "valid_00000.png").is_file()
