"""The workflow's config: the schema accepts every shipped config, fills its defaults, rejects unknown keys, wrong
types and missing paths with one message naming the key, and stays in step with the library's own registries."""

from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from workflow_fixtures import CONFIGS, REPO, dry_run, paper_config

SCHEMA = CONFIGS / "schema.yaml"
SHIPPED = ["default", "smoke", "paper_refdavis", "paper_refytvos", "paper_a2d", "paper_mevis"]
SET_BY_THE_WORKFLOW = {"prompter_size", "trainable", "seed"}
"""TrainingConfig fields the workflow fills from models.* and seeds, not from train.settings."""


def load(name: str) -> dict:
    return yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())


def schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_is_valid_and_named_after_its_file(name: str) -> None:
    config = load(name)
    validate(config, str(SCHEMA))
    assert config["name"] == name


def test_validation_fills_the_schema_defaults() -> None:
    config = load("default")
    del config["threads"], config["gpus"], config["methods"]
    validate(config, str(SCHEMA))
    assert config["gpus"] == 0 and config["threads"] == 1 and config["methods"] == {}
    assert config["evaluation"][0] == {"dataset": "synrvos", "split": "valid", "score": True, "submission": False}
    assert config["pretrain"]["segmentor"]["batch_size"] == 16


@pytest.mark.parametrize(("change", "path", "words"), [
    (lambda c: c["train"]["settings"].update(lrr=1e-3), ["train", "settings"], "'lrr' was unexpected"),
    (lambda c: c["datasets"]["synrvos"]["generate"].update(frames=3), ["datasets", "synrvos", "generate"],
     "'frames' was unexpected"),
    (lambda c: c.update(seeds=["0"]), ["seeds", 0], "'0' is not of type 'integer'"),
    (lambda c: c["models"].update(prompter_size="swin-l"), ["models", "prompter_size"], "'swin-l' is not one of"),
    (lambda c: c["pretrain"]["grounder"].update(steps=0), ["pretrain", "grounder", "steps"],
     "0 is less than the minimum of 1"),
    (lambda c: c["train"].pop("variants"), ["train"], "'variants' is a required property"),
])
def test_the_schema_names_the_offending_key(change, path: list, words: str) -> None:
    config = load("default")
    change(config)
    with pytest.raises(WorkflowError) as raised:
        validate(config, str(SCHEMA), set_default=False)
    cause = raised.value.__context__  # what the Snakefile reports: the key path and jsonschema's message
    assert isinstance(cause, jsonschema.ValidationError)
    assert list(cause.absolute_path) == path
    assert words in cause.message


def test_the_schema_follows_the_library() -> None:
    """Keys and enums the schema repeats from the library (so a config error shows before any job) are the
    library's: TrainingConfig's fields, prompter sizes, SAM variants, parameter groups, SynRVOS presets. Dataset
    kinds are not repeated: a user's module adds one, so the workflow checks `kind` against `groprompt datasets`."""
    from groprompt.data.synrvos.presets import PRESETS
    from groprompt.prompting.config import PROMPTER_SIZES
    from groprompt.prompting.freezing import DEFAULT_TRAINABLE, PARAMETER_GROUPS
    from groprompt.segmentation import SAM_VARIANTS
    from groprompt.training.config import TrainingConfig

    spec = schema()
    fields = {field.name for field in dataclasses.fields(TrainingConfig)}
    assert set(spec["$defs"]["training"]["properties"]) | SET_BY_THE_WORKFLOW == fields
    models = spec["properties"]["models"]["properties"]
    assert set(models["prompter_size"]["enum"]) == set(PROMPTER_SIZES)
    assert set(models["segmentor_variant"]["enum"]) == set(SAM_VARIANTS)
    assert models["trainable"]["items"]["enum"] == list(PARAMETER_GROUPS)
    assert models["trainable"]["default"] == list(DEFAULT_TRAINABLE)
    dataset = spec["$defs"]["dataset"]["properties"]
    assert dataset["kind"] == {"description": dataset["kind"]["description"], "type": "string"}
    assert set(dataset["generate"]["properties"]["preset"]["enum"]) == set(PRESETS)


def _failed(result: subprocess.CompletedProcess[str]) -> str:
    """The message of a run that stopped while the workflow was parsed (before any job was planned)."""
    assert result.returncode != 0
    assert "Job stats" not in result.stdout
    return result.stdout + result.stderr


def test_snakemake_stops_at_an_unknown_key_before_any_job(tmp_path: Path) -> None:
    config = load("default")
    config["train"]["settings"]["epoch"] = 3
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(config))
    message = _failed(dry_run(tmp_path, path))
    assert f"invalid config ({path}): train.settings: Additional properties are not allowed ('epoch' was " \
           "unexpected)" in message


def test_snakemake_names_every_missing_path_and_cross_key_mistake(tmp_path: Path) -> None:
    path = paper_config("paper_refdavis", tmp_path)
    config = yaml.safe_load(path.read_text())
    os.remove(config["checkpoints"]["segmentor"])
    config["datasets"]["refdavis"]["root"] = str(tmp_path / "nowhere")
    path.write_text(yaml.safe_dump(config))
    message = _failed(dry_run(tmp_path, path))
    assert f"checkpoints.segmentor: {config['checkpoints']['segmentor']} does not exist" in message
    assert f"datasets.refdavis.root: {tmp_path / 'nowhere'} does not exist" in message

    broken = copy.deepcopy(config)
    broken["device"], broken["gpus"] = "cpu", 8
    broken["train"]["dataset"] = "refytvos2"
    path.write_text(yaml.safe_dump(broken))
    message = _failed(dry_run(tmp_path, path))
    assert "gpus: 8 GPUs with device cpu" in message
    assert "train.dataset: no dataset 'refytvos2' in datasets" in message


def test_snakemake_names_an_unknown_dataset_kind_and_the_known_ones(tmp_path: Path) -> None:
    config = load("smoke")
    config["datasets"]["synrvos"]["kind"] = "refcoco"
    path = tmp_path / "kind.yaml"
    path.write_text(yaml.safe_dump(config))
    message = _failed(dry_run(tmp_path, path))
    assert "datasets.synrvos.kind: unknown dataset kind 'refcoco' (known: a2d, jhmdb, mevis, refdavis, refytvos, " \
           "synrvos)" in message


def test_a_generated_dataset_is_written_in_the_layout_of_its_kind(tmp_path: Path) -> None:
    """SynRVOS is generated as kind synrvos (its default layout) or mevis (layout mevis), nothing else, and the
    layout must be the kind's: each mistake is named before any job."""
    config = load("smoke")
    generate = config["datasets"]["synrvos"]["generate"]
    config["datasets"] |= {"davis": {"kind": "refdavis", "generate": generate},
                           "bare": {"kind": "mevis", "generate": generate},
                           "crossed": {"kind": "synrvos", "generate": generate | {"layout": "mevis"}},
                           "mevis": {"kind": "mevis", "generate": generate | {"layout": "mevis"}}}
    path = tmp_path / "generated.yaml"
    path.write_text(yaml.safe_dump(config))
    message = _failed(dry_run(tmp_path, path))
    assert "datasets.davis.generate: SynRVOS has no layout of kind refdavis, so it cannot be generated (kinds " \
           "that can: synrvos (layout refytvos), mevis (layout mevis)); give its root instead" in message
    assert "datasets.bare.generate.layout: kind mevis reads SynRVOS in the mevis layout, not refytvos; set " \
           "layout: mevis" in message
    assert "datasets.crossed.generate.layout: kind synrvos reads SynRVOS in the refytvos layout, not mevis" in message
    assert "datasets.mevis" not in message and "datasets.synrvos" not in message

    config["datasets"] = {"synrvos": config["datasets"]["synrvos"]}
    generate.update(layout="mevis", multi_object_share=1.0)
    with pytest.raises(WorkflowError):
        validate(config, str(SCHEMA), set_default=False)


def test_snakemake_refuses_to_score_a_split_without_ground_truth(tmp_path: Path) -> None:
    path = paper_config("paper_refytvos", tmp_path)
    config = yaml.safe_load(path.read_text())
    config["evaluation"][0]["score"] = True
    path.write_text(yaml.safe_dump(config))
    message = _failed(dry_run(tmp_path, path))
    assert "evaluation[0]: refytvos valid has no public ground truth; set score: false" in message


# ---------------------------------------------------------------------------------------------------- GPU slots
GPU_SLOTS = REPO / "workflows" / "scripts" / "gpu_slots.py"


def _slots(tmp_path: Path, count: int, command: str, **env: str) -> subprocess.Popen[str]:
    environment = {key: value for key, value in os.environ.items() if key != "CUDA_VISIBLE_DEVICES"}
    environment.update(TMPDIR=str(tmp_path), GROPROMPT_GPU_COUNT="3", **env)
    return subprocess.Popen([sys.executable, str(GPU_SLOTS), str(count), "--", "sh", "-c", command],
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_gpu_slots_give_concurrent_jobs_different_gpus(tmp_path: Path) -> None:
    hold = 'echo "$CUDA_VISIBLE_DEVICES"; sleep 3'
    first = _slots(tmp_path, 2, hold)
    assert first.stdout.readline().strip() == "0,1"  # printed once its locks are held
    second = _slots(tmp_path, 1, hold)
    assert second.stdout.readline().strip() == "2"
    third = _slots(tmp_path, 1, hold)  # all three GPUs are held: refused, not doubled up
    assert third.wait(timeout=30) != 0 and "1 GPUs needed but only 0 of 3 are free" in third.stderr.read()
    assert first.wait(timeout=30) == 0 and second.wait(timeout=30) == 0
    # The locks died with their jobs; a preset CUDA_VISIBLE_DEVICES (SLURM) is left alone.
    assert _slots(tmp_path, 1, hold.replace("sleep 3", "true")).communicate(timeout=30)[0].strip() == "0"
    preset = _slots(tmp_path, 2, hold.replace("sleep 3", "true"), CUDA_VISIBLE_DEVICES="5,6")
    assert preset.communicate(timeout=30)[0].strip() == "5,6"


def test_released_stand_ins_are_named_and_found_before_any_job(tmp_path: Path) -> None:
    config = load("smoke")
    config["stand_ins"] = "released"
    path = tmp_path / "released.yaml"
    path.write_text(yaml.safe_dump(config))
    assert "stand_ins: released needs pretrain.released" in _failed(dry_run(tmp_path, path))
    config["pretrain"]["released"] = {"grounder": "no-such-grounder", "segmentor": "no-such-sam"}
    path.write_text(yaml.safe_dump(config))
    message = _failed(dry_run(tmp_path, path))
    assert f"pretrain.released.grounder: {REPO / 'releases' / 'no-such-grounder'} does not exist" in message
    assert f"pretrain.released.segmentor: {REPO / 'releases' / 'no-such-sam'} does not exist" in message
