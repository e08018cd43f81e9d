"""Stage 4: `groprompt infer` for every method on every evaluation split: GroPrompt once per variant and seed, and
every other method `groprompt methods` finds (built in, entry points, baselines/*.py) once per split.

Every method is offered the standard options (the pre-trained grounder as `checkpoint`, the prompter `size`, the
`tokenizer`) and takes those its __init__ accepts; `methods.<name>` in the config adds explicit ones. All jobs
share one SAM embedding cache, so each frame is embedded once for the whole study.

A run is resumable, and `groprompt infer` alone decides what of an earlier attempt it keeps: the declared output,
run_stats.json, is written last, and on a rerun infer keeps the videos finished by a run of the same identity
(method, options, precision, split, and content digests of the dataset's metadata, the SAM checkpoint and the
prompter checkpoint). With --restart-if-changed, a folder left by other inputs (a retrained prompter, regenerated
data, another precision) is emptied and the run starts over.
"""


def evaluation_entry(wildcards):
    return next(item for item in config["evaluation"]
                if item["dataset"] == wildcards.dataset and item["split"] == wildcards.split)


def offers():
    return " ".join(f"--offer {shlex.quote(f'{key}={value}')}" for key, value in offered().items())


def explicit_options(method):
    options = config["methods"].get(method, {})
    return " ".join(f"--option {shlex.quote(f'{key}={value}')}" for key, value in options.items())


def prompter_option(wildcards):
    """GroPrompt's checkpoint: the prompter its training run exported."""
    prompter = os.path.join(train_run(wildcards.variant, wildcards.seed), "prompter")
    return f"--option {shlex.quote(f'checkpoint={prompter}')}"


def infer_inputs(wildcards):
    return {"data": dataset_inputs(wildcards.dataset), "models": model_inputs()}


INFER_SHELL = (
    "{params.on_gpus} groprompt infer --method {params.method:q} {params.options} {params.offers} "
    "--dataset-kind {params.kind:q} --data {params.data:q} --split {wildcards.split:q} "
    "--segmentor {params.segmentor:q} --segmentor-variant {params.segmentor_variant:q} "
    "--precision {params.precision:q} --out {params.out:q} --cache {params.cache:q} "
    "--baselines-dir {params.baselines:q} --device {params.device:q} {params.submission} --restart-if-changed "
    "> {log:q} 2>&1"
)


def infer_params(method, out, options):
    """The params of both infer rules; ``method``, ``out`` and ``options`` are functions of the wildcards."""
    return {
        "method": method,
        "on_gpus": on_gpus("infer"),
        "options": options,
        "offers": offers(),
        "kind": lambda w: dataset(w.dataset)["kind"],
        "data": lambda w: dataset_root(w.dataset),
        "segmentor": segmentor_checkpoint(),
        "segmentor_variant": config["models"]["segmentor_variant"],
        "precision": config["precision"],
        "cache": SAM_CACHE,
        "baselines": BASELINES,
        "device": config["device"],
        "out": out,
        "submission": lambda w: "--submission" if evaluation_entry(w)["submission"] else "",
    }


rule infer_method:
    input:
        unpack(infer_inputs),
    output:
        work("infer", "{dataset}", "{split}", "{method}", "run_stats.json"),
    params:
        **infer_params(
            method=lambda w: w.method,
            out=lambda w: work("infer", w.dataset, w.split, w.method),
            options=lambda w: explicit_options(w.method),
        ),
    wildcard_constraints:
        dataset="[^/]+",
        split="[^/]+",
        method="|".join(re.escape(name) for name in baseline_methods(scored=True)) or "(?!)",
    threads: config["threads"]
    resources:
        gpu=gpus("infer"),
    log:
        log("infer", "{dataset}", "{split}", "{method}"),
    benchmark:
        bench("infer", "{dataset}", "{split}", "{method}")
    shell:
        INFER_SHELL


rule infer_groprompt:
    input:
        unpack(infer_inputs),
        prompter=lambda w: work("train", w.variant, f"seed{w.seed}", "train_summary.json"),
    output:
        work("infer", "{dataset}", "{split}", GROPROMPT_METHOD, "{variant}", "seed{seed}", "run_stats.json"),
    params:
        **infer_params(
            method=lambda w: GROPROMPT_METHOD,
            out=lambda w: work("infer", w.dataset, w.split, GROPROMPT_METHOD, w.variant, f"seed{w.seed}"),
            options=lambda w: prompter_option(w) + " " + explicit_options(GROPROMPT_METHOD),
        ),
    wildcard_constraints:
        dataset="[^/]+",
        split="[^/]+",
        variant="|".join(config["train"]["variants"]),
        seed=r"\d+",
    threads: config["threads"]
    resources:
        gpu=gpus("infer"),
    log:
        log("infer", "{dataset}", "{split}", GROPROMPT_METHOD, "{variant}", "seed{seed}"),
    benchmark:
        bench("infer", "{dataset}", "{split}", GROPROMPT_METHOD, "{variant}", "seed{seed}")
    shell:
        INFER_SHELL
