"""Stage 6: tables and the qualitative figure into results/<name>/ (`groprompt tables`, `groprompt figure`), and
the study's run statistics (`groprompt run-stats`).

Tables and the figure hold no timings or dates, so a resumed study writes byte-identical ones; wall time and peak
memory per job (Snakemake's benchmark records) and the SAM encoder passes go to results/<name>/run_stats.json.
Table 6 and the figure are of the first scored evaluation split; rows on other scored splits feed Tables 1-3 and
the MeViS table (each kind's benchmark table). A study with no scored split (Ref-YouTube-VOS valid: submissions
only) gets Table 5 and no figure. A dataset the study generated in a kind's layout (SynRVOS in the MeViS layout) is
named synthetic in every caption (`--generated`).
"""


def scored():
    return [item for item in config["evaluation"] if item["score"]]


def eval_dir(item, run):
    return work("eval", item["dataset"], item["split"], run)


def row_keys(item):
    """{row key of `groprompt tables`: the runs (one per seed) of it} on one evaluation split."""
    rows = {method: [method] for method in baseline_methods(scored=item["score"])}
    for variant in config["train"]["variants"]:
        rows[f"{GROPROMPT_METHOD}-{variant}"] = [f"{GROPROMPT_METHOD}/{variant}/seed{seed}"
                                                 for seed in config["seeds"]]
    return rows


def study_dataset():
    """The kind of the study's own dataset (`groprompt tables --dataset-kind`): its first scored split's, else its
    first evaluation split's."""
    return dataset((scored() or config["evaluation"])[0]["dataset"])["kind"]


def generated_flag(items):
    """``--generated`` and the kinds of those of the evaluation ``items`` whose dataset the study generated in the
    layout of a kind that is not synthetic itself (SynRVOS in the MeViS layout, kind mevis), for `groprompt tables`
    and `groprompt figure`, so their captions say synthetic; nothing where there are none."""
    kinds = [dataset(item["dataset"])["kind"] for item in items if "generate" in dataset(item["dataset"])]
    kinds = [kind for kind in dict.fromkeys(kinds) if not kind_listing()[kind]["synthetic"]]
    return "--generated " + " ".join(shlex.quote(kind) for kind in kinds) if kinds else ""


def table_outputs():
    """The files of `groprompt tables` that every such study has: Table 6 only where its own dataset is scored
    with J&F (its kind's family of measures; A2D's P@K go to Table 2)."""
    outputs = [results("tables.md"), results("table5.csv")]
    if scored() and kind_listing()[study_dataset()]["family"] == "jf":
        outputs.append(results("table6.csv"))
    return outputs


def table_rows():
    """The --rows of `groprompt tables`: KEY=EVAL_DIR[,...] on the first scored split, KIND:KEY=... on others."""
    rows = []
    for position, item in enumerate(scored()):
        prefix = "" if position == 0 else dataset(item["dataset"])["kind"] + ":"
        rows += [prefix + key + "=" + ",".join(eval_dir(item, run) for run in runs)
                 for key, runs in row_keys(item).items()]
    return "--rows " + " ".join(shlex.quote(row) for row in rows) if rows else ""


def stage_records():
    """{stage name: benchmark record} of every job that has one (all but the config writers and this rule)."""
    records = {}
    for key, entry in config["datasets"].items():
        if "generate" in entry:
            records[f"synrvos/{key}"] = bench("synrvos", key)
    if pretraining_here():
        records |= {f"pretrain/{name}": bench("pretrain", name) for name in PRETRAINING}
    records |= {"params": bench("params"), "tables": bench("tables")}
    records |= {f"train/{variant}/seed{seed}": bench("train", variant, f"seed{seed}")
                for variant in config["train"]["variants"] for seed in config["seeds"]}
    for item in config["evaluation"]:
        for run in evaluation_runs(item):
            name = f"{item['dataset']}/{item['split']}/{run}"
            records[f"infer/{name}"] = bench("infer", item["dataset"], item["split"], *run.split("/"))
            if item["score"]:
                records[f"evaluate/{name}"] = bench("evaluate", item["dataset"], item["split"], *run.split("/"))
    if scored():
        records["figure"] = bench("figure")
    return records


def infer_stats():
    return {f"{item['dataset']}/{item['split']}/{run}": work("infer", item["dataset"], item["split"], run,
                                                            "run_stats.json")
            for item in config["evaluation"] for run in evaluation_runs(item)}


STUDY_DONE = work("study.done")
"""Touched when a study in this working directory has finished. `rule all` asks for it because results/ alone
cannot say so: results/default/ is committed, and Snakemake does not rebuild existing files whose inputs are
merely missing, so on a fresh clone the study would otherwise be "nothing to be done"."""


def study_targets():
    """What `rule all` builds: tables, figure and the run statistics, which wait for every inference run (and so
    for the submission archives of splits that ask for them). A study with no scored split gets no figure."""
    targets = [STUDY_DONE, results("run_stats.json"), results("tables.md")]
    if scored():
        targets.append(results("figure.png"))
    return targets


def pairs(flag, mapping):
    return " ".join(f"{flag} {shlex.quote(f'{name}={path}')}" for name, path in mapping.items())


rule tables:
    input:
        evaluations=lambda w: [os.path.join(eval_dir(item, run), "summary.csv") for item in scored()
                               for run in evaluation_runs(item)],
        params=work("params.json"),
    output:
        table_outputs(),
    params:
        dataset=lambda w: study_dataset(),
        rows=lambda w: table_rows(),
        generated=lambda w: generated_flag(scored()),
        name=config["name"],
        out=results(),
    log:
        log("tables"),
    benchmark:
        bench("tables")
    shell:
        "groprompt tables --config-name {params.name:q} --dataset-kind {params.dataset:q} --params {input.params:q} "
        "{params.rows} {params.generated} --out {params.out:q} > {log:q} 2>&1"


rule figure:
    input:
        runs=lambda w: [work("infer", scored()[0]["dataset"], scored()[0]["split"], runs[0], "run_stats.json")
                        for runs in row_keys(scored()[0]).values()],
    output:
        results("figure.png"),
    params:
        kind=lambda w: dataset(scored()[0]["dataset"])["kind"],
        data=lambda w: dataset_root(scored()[0]["dataset"]),
        split=lambda w: scored()[0]["split"],
        generated=lambda w: "--generated" if generated_flag(scored()[:1]) else "",
        # One run per row: GroPrompt's of the first seed.
        methods=lambda w: pairs("--method", {key: work("infer", scored()[0]["dataset"], scored()[0]["split"], runs[0])
                                            for key, runs in row_keys(scored()[0]).items()}),
    log:
        log("figure"),
    benchmark:
        bench("figure")
    shell:
        "groprompt figure --dataset-kind {params.kind:q} --data {params.data:q} --split {params.split:q} "
        "{params.generated} {params.methods} --out {output:q} > {log:q} 2>&1"


rule run_stats:
    input:
        stages=lambda w: list(stage_records().values()),
        infer=lambda w: list(infer_stats().values()),
    output:
        stats=results("run_stats.json"),
        done=touch(STUDY_DONE),
    params:
        stages=lambda w: pairs("--stage", stage_records()),
        infer=lambda w: pairs("--infer", infer_stats()),
        name=config["name"],
    log:
        log("run_stats"),
    shell:
        "groprompt run-stats --config-name {params.name:q} {params.stages} {params.infer} --out {output.stats:q} "
        "> {log:q} 2>&1"
