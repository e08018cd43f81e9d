"""Stage 3: `groprompt params` (Table 5) and the GroPrompt fine-tunings (docs/method_spec.md §2-§5), one per variant
and seed, from the pre-trained grounder with the study's trainable groups (§1).

A training run is resumable: its declared output is train_summary.json, which the trainer writes last, while the
epoch checkpoints beside it are not outputs, so Snakemake never deletes them; after an interrupted run the same
command continues from the last complete epoch (`--resume`) and, training being deterministic, ends with the same
weights as an uninterrupted run. `groprompt train` alone decides whether the checkpoints may be continued: they
record the config and the inputs (paths and content digests of the data's metadata and of every checkpoint), and
with --restart-if-changed a run of another config or other inputs is deleted and started over.

Every run is handed the SAM checkpoint: `groprompt train` decides from the variant's loss weights whether it uses
it (TextCon or ModalCon on), and an L_box-only run neither loads nor records it, so the workflow holds no copy of
that rule. Each run records the study's precision (a changed precision starts it over).
"""


def training_values(variant):
    """The TrainingConfig of ``variant`` without its seed: shared settings, the variant's, and the study's models."""
    models = config["models"]
    return {**config["train"]["settings"], **config["train"]["variants"][variant],
            "prompter_size": models["prompter_size"], "trainable": list(models["trainable"])}


def params_values():
    """The models section `groprompt params` counts (the ModalCon head trains when any variant uses L^v), and the
    study's precision for Table 5."""
    models = config["models"]
    return {"prompter": {"size": models["prompter_size"], "trainable": list(models["trainable"])},
            "segmentor": {"variant": models["segmentor_variant"]},
            "modalcon": {"enabled": any(v["lambda_v"] > 0 for v in config["train"]["variants"].values())},
            "precision": config["precision"]}


def train_launcher():
    """`groprompt` on its GPUs, or torchrun with one process per GPU (data-parallel, one clip per GPU: §2)."""
    count = gpus("train")
    if count > 1:
        return f"{on_gpus('train')} torchrun --standalone --nproc_per_node {count} -m groprompt.cli"
    return f"{on_gpus('train')} groprompt"


localrules:
    training_config,
    params_config,


# The two config-file rules run in the Snakemake process (a YAML dump); a changed config section changes their
# params, which Snakemake's params trigger turns into a rerun of them and of everything downstream.
rule training_config:
    output:
        work("configs", "train_{variant}.yaml"),
    params:
        values=lambda w: training_values(w.variant),
    run:
        write_yaml(output[0], params.values)


rule params_config:
    output:
        work("configs", "params.yaml"),
    params:
        values=params_values(),
    run:
        write_yaml(output[0], params.values)


rule params:
    input:
        work("configs", "params.yaml"),
    output:
        work("params.json"),
    log:
        log("params"),
    benchmark:
        bench("params")
    shell:
        "groprompt params --config {input:q} --json {output:q} > {log:q} 2>&1"


def train_inputs(wildcards):
    inputs = {"config": work("configs", f"train_{wildcards.variant}.yaml"),
              "data": dataset_inputs(config["train"]["dataset"]), "models": model_inputs()}
    return inputs


rule train:
    input:
        unpack(train_inputs),
    output:
        work("train", "{variant}", "seed{seed}", "train_summary.json"),
    params:
        launcher=train_launcher(),
        kind=dataset(config["train"]["dataset"])["kind"],
        data=dataset_root(config["train"]["dataset"]),
        split=config["train"]["split"],
        prompter=grounder_checkpoint(),
        tokenizer=f"--tokenizer {shlex.quote(tokenizer())}" if tokenizer() else "",
        segmentor=segmentor_checkpoint(),
        out=lambda w: train_run(w.variant, w.seed),
        device=config["device"],
        precision=config["precision"],
        cache=SAM_CACHE,
    wildcard_constraints:
        variant="|".join(config["train"]["variants"]),
        seed=r"\d+",
    threads: config["threads"]
    resources:
        gpu=gpus("train"),
    log:
        log("train", "{variant}", "seed{seed}"),
    benchmark:
        bench("train", "{variant}", "seed{seed}")
    shell:
        "{params.launcher} train --dataset-kind {params.kind:q} --data {params.data:q} --split {params.split:q} "
        "--prompter {params.prompter:q} {params.tokenizer} --segmentor {params.segmentor:q} "
        "--config {input.config:q} --set seed={wildcards.seed} --out {params.out:q} --resume --restart-if-changed "
        "--device {params.device:q} --precision {params.precision:q} --embedding-cache {params.cache:q} "
        "> {log:q} 2>&1"
