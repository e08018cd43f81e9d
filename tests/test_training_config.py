"""TrainingConfig (groprompt/training/config.py): paper defaults, strict YAML, --set overrides, cross-field rules."""

from __future__ import annotations

import pytest

from groprompt.errors import GroPromptError
from groprompt.training import TrainingConfig, load_training_config, lr_factor, parse_overrides, write_config


def test_defaults_are_the_paper_recipe():
    config = TrainingConfig()
    assert (config.lr, config.weight_decay, config.grad_clip_norm, config.epochs) == (1e-4, 1e-4, 0.1, 12)
    assert config.lr_drop_epochs == (11,) and config.lr_drop_factor == 0.1
    assert (config.clip_length, config.batch_clips, config.matching) == (5, 1, "top1")
    assert (config.lambda_f, config.lambda_v, config.l1_weight, config.giou_weight) == (0.01, 0.1, 5.0, 2.0)
    assert config.trainable == ("decoder", "bbox_embed")
    assert config.contrastive
    assert not TrainingConfig(lambda_f=0, lambda_v=0).contrastive


def test_lr_schedule_drops_tenfold_from_epoch_11():
    config = TrainingConfig()
    factors = [lr_factor(index, config) for index in range(12)]  # 0-based epoch index; epoch 11 is index 10
    assert factors == [1.0] * 10 + [pytest.approx(0.1)] * 2
    two_drops = TrainingConfig(epochs=6, lr_drop_epochs=[3, 5], lr_drop_factor=0.5)
    assert [lr_factor(index, two_drops) for index in range(6)] == [1, 1, 0.5, 0.5, 0.25, 0.25]


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("prompter_size: tiny\nlr: 1e-4\nepochs: 3\nlr_drop_epochs: [2]\nlambda_v: 0\n")
    config = load_training_config(path, ["lambda_f=0", "lr_drop_epochs=[3]", "steps_per_epoch=4"])
    assert (config.prompter_size, config.epochs, config.lr_drop_epochs) == ("tiny", 3, (3,))
    assert config.lr == 1e-4 and isinstance(config.lr, float)  # PyYAML reads "1e-4" as a string
    assert (config.lambda_f, config.lambda_v, config.steps_per_epoch) == (0.0, 0.0, 4)
    round_trip = tmp_path / "resolved.yaml"
    write_config(config, round_trip)
    assert load_training_config(round_trip) == config


def test_cross_field_rules_apply_to_file_and_overrides_together(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text("epochs: 6\n")  # alone it breaks the rule (the default drop is at epoch 11)
    with pytest.raises(GroPromptError, match=r"lr_drop_epochs \[11\] lie outside epochs 2..6"):
        load_training_config(path)
    assert load_training_config(path, ["lr_drop_epochs=[5]"]).lr_drop_epochs == (5,)


def test_unknown_key_names_it_and_the_valid_keys(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("learning_rate: 0.001\n")
    with pytest.raises(GroPromptError) as caught:
        load_training_config(path)
    message = str(caught.value)
    assert "learning_rate" in message and "lr_drop_epochs" in message and str(path) in message
    with pytest.raises(GroPromptError, match="epoch"):
        load_training_config(None, ["epoch=3"])


@pytest.mark.parametrize("override, fragment", [
    ("epochs=3.5", "'epochs' must be an integer"),
    ("epochs=true", "'epochs' must be an integer"),
    ("lr=fast", "'lr' must be a number"),
    ("lr_drop_epochs=11", "'lr_drop_epochs' must be a list of integers"),
    ("trainable=decoder", "'trainable' must be a list of strings"),
    ("steps_per_epoch=[1]", "'steps_per_epoch' must be an integer or null"),
])
def test_wrong_types_are_named(override, fragment):
    with pytest.raises(GroPromptError, match=fragment):
        load_training_config(None, [override])


@pytest.mark.parametrize("values, fragment", [
    ({"epochs": 6}, r"lr_drop_epochs \[11\] lie outside epochs 2..6"),
    ({"lr_drop_epochs": [11, 3]}, "strictly increasing"),
    ({"longest_edge": 1333}, "longest_edge needs shortest_edge"),
    ({"shortest_edge": 800, "longest_edge": 600}, "below shortest_edge"),
    ({"matching": "greedy"}, "matching 'greedy'"),
    ({"prompter_size": "swin-l"}, "prompter_size 'swin-l'"),
    ({"trainable": ["decoder", "heads"]}, "unknown prompter parameter groups"),
    ({"trainable": []}, "nothing would train"),
    ({"lambda_f": -1.0}, "lambda_f"),
    ({"clip_length": 0}, "clip_length must be >= 1"),
    ({"grad_clip_norm": 0.0}, "grad_clip_norm must be a finite number > 0"),
])
def test_cross_field_and_range_checks(values, fragment):
    with pytest.raises(GroPromptError, match=fragment):
        TrainingConfig(**values)


def test_overrides_parse_yaml_values_and_reject_malformed_pairs():
    assert parse_overrides(["lr=2e-4", "lr_drop_epochs=[8, 11]", "shortest_edge="]) == {
        "lr": "2e-4", "lr_drop_epochs": [8, 11], "shortest_edge": None}
    with pytest.raises(GroPromptError, match="key=value"):
        parse_overrides(["lr"])
    with pytest.raises(GroPromptError, match="twice"):
        parse_overrides(["lr=1", "lr=2"])


def test_differences_name_changed_keys_but_not_keep_checkpoints():
    saved = TrainingConfig(prompter_size="tiny").to_dict()
    assert TrainingConfig(prompter_size="tiny", keep_checkpoints=3).differences(saved) == []
    changed = TrainingConfig(prompter_size="tiny", lambda_v=0.0, clip_length=3)
    assert changed.differences(saved) == ["lambda_v", "clip_length"]


def test_objective_defaults_to_the_papers_and_the_detector_baseline_round_trips(tmp_path):
    assert TrainingConfig().objective == "groprompt"
    path = tmp_path / "detector.yaml"
    path.write_text("prompter_size: tiny\nobjective: detector\nlambda_f: 0\n")
    config = load_training_config(path, ["lambda_v=0"])
    assert (config.objective, config.lambda_f, config.lambda_v, config.contrastive) == ("detector", 0.0, 0.0, False)
    write_config(config, tmp_path / "resolved.yaml")
    assert "objective: detector" in (tmp_path / "resolved.yaml").read_text()
    assert load_training_config(tmp_path / "resolved.yaml") == config
    assert config.to_dict()["objective"] == "detector"  # what checkpoints record


@pytest.mark.parametrize("values, fragment", [
    ({"objective": "dino"}, "objective 'dino' is not one of groprompt, detector"),
    # The paper's default lambdas are TAP-CL: the plain baseline refuses them, naming the keys and the fix.
    ({"objective": "detector"}, r"objective detector is the plain fine-tuning baseline, without TextCon/ModalCon: "
                                r"lambda_f 0.01 and lambda_v 0.1 must both be 0 \(--set lambda_f=0 --set lambda_v=0\)"),
    ({"objective": "detector", "lambda_f": 0.0}, "lambda_f 0.0 and lambda_v 0.1 must both be 0"),
    ({"objective": "detector", "lambda_f": 0.0, "lambda_v": 0.0, "matching": "hungarian"},
     "matching 'hungarian' chooses L_box's query and would be unused"),
])
def test_objective_refusals(values, fragment):
    with pytest.raises(GroPromptError, match=fragment):
        TrainingConfig(**values)


def test_a_run_recorded_before_the_objective_key_resumes_as_the_papers_objective():
    older = TrainingConfig(prompter_size="tiny").to_dict()
    del older["objective"]
    assert TrainingConfig(prompter_size="tiny").differences(older) == []
    detector = TrainingConfig(prompter_size="tiny", objective="detector", lambda_f=0.0, lambda_v=0.0)
    assert detector.differences(older) == ["objective", "lambda_f", "lambda_v"]
