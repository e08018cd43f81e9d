"""Stage 2, generated studies with ``stand_ins: pretrain`` only (the smoke study; the default with ``--config
stand_ins=pretrain``): pre-train the stand-in SAM and Grounding DINO on the generated still frames (the analogue of
SAM's and Grounded-SAM's image-level pre-training). The default starts from the released stand-ins instead, and
real studies name checkpoints.

Each run writes its checkpoint, then <checkpoint>.metrics.json (held-out IoU), the file the other rules wait for.
"""

PRETRAINING = {
    os.path.basename(segmentor_checkpoint()): ("segmentor", "pretrain-segmentor", "segmentor_variant"),
    os.path.basename(grounder_checkpoint()): ("grounder", "pretrain-grounder", "prompter_size"),
}
"""Checkpoint file name -> (pretrain config section, groprompt step, models key of its size)."""


def pretrain_flags(checkpoint):
    """--steps, --batch-size, --lr, --seed of the checkpoint's pretrain section, and --size."""
    section, _, size_key = PRETRAINING[checkpoint]
    settings = {**config["pretrain"][section], "size": config["models"][size_key]}
    return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in settings.items())


if pretraining_here():

    rule pretrain:
        input:
            dataset_inputs(config["pretrain"]["dataset"]),
        output:
            work("models", "{checkpoint}.metrics.json"),
        params:
            step=lambda w: PRETRAINING[w.checkpoint][1],
            data=dataset_root(config["pretrain"]["dataset"]),
            split=config["pretrain"]["split"],
            flags=lambda w: pretrain_flags(w.checkpoint),
            out=lambda w: work("models", w.checkpoint),
            on_gpus=on_gpus("pretrain"),
            device=config["device"],
        wildcard_constraints:
            checkpoint="|".join(re.escape(name) for name in PRETRAINING),
        threads: config["threads"]
        resources:
            gpu=gpus("pretrain"),
        log:
            log("pretrain", "{checkpoint}"),
        benchmark:
            bench("pretrain", "{checkpoint}")
        shell:
            "{params.on_gpus} groprompt {params.step} --data {params.data:q} --split {params.split:q} "
            "--out {params.out:q} {params.flags} --device {params.device:q} > {log:q} 2>&1"
