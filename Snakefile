"""The GroPrompt study as a Snakemake workflow: every rule is a thin call of the `groprompt` CLI.

    snakemake --cores all                                    # the embedded default: SynRVOS, CPU, minutes
    snakemake --cores all --configfile workflows/config/smoke.yaml          # CI's end-to-end run
    snakemake --cores all --resources gpu=8 --configfile workflows/config/paper_refdavis.yaml
    snakemake --profile workflows/profiles/slurm --configfile workflows/config/paper_refdavis.yaml

Stages (workflows/rules/): data (SynRVOS) -> pretrain (stand-in SAM and grounder) -> train (GroPrompt variants x
seeds) -> infer (every method found by `groprompt methods`) -> evaluate (as each dataset kind of `groprompt
datasets` declares) -> report (tables, figure, run stats). Data and models go to work/<name>/, one log per job to
work/<name>/logs/ (the console names each finished job's), tables and figures to results/<name>/, rewritten.
"""

import os

from snakemake.utils import min_version

min_version("9.0")

# The default config is loaded only when no --configfile is given: Snakemake merges a --configfile over a
# `configfile:` key by key, so a paper run would otherwise inherit the default's datasets and models.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "workflows/config/default.yaml")


include: "workflows/rules/common.smk"


# One error naming the key or path (schema.yaml, then cross-key rules and paths on disk), before any job runs.
validate_study(config, "workflows/config/schema.yaml")


include: "workflows/rules/data.smk"
include: "workflows/rules/pretrain.smk"
include: "workflows/rules/train.smk"
include: "workflows/rules/infer.smk"
include: "workflows/rules/evaluate.smk"
include: "workflows/rules/report.smk"


rule all:
    input:
        study_targets(),
    default_target: True
