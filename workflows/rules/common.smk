"""The study's configuration checks, its paths, its dataset kinds and the methods it runs (shared by every stage's
rules). What a dataset kind is read, scored and tabulated with, and which methods exist, the workflow asks the CLI
(`groprompt datasets --json`, `groprompt methods --json`) instead of keeping lists of its own.

Paths, relative to the working directory (the repository root)::

    work/<name>/data/<dataset>/           generated datasets (SynRVOS)
    work/<name>/models/                   stand-in pre-trained SAM and grounder
    work/<name>/configs/                  training and parameter-count configs written from this config
    work/<name>/train/<variant>/seed<s>/  GroPrompt runs (resumable: checkpoints per epoch)
    work/<name>/infer/<dataset>/<split>/<method>[/<variant>/seed<s>]/    masks and boxes (resumable per video)
    work/<name>/eval/<dataset>/<split>/<same>/                            summary.csv (and per_object.csv or
                                                                          per_sample.csv, sets/ for Ref-DAVIS17)
    work/<name>/cache/sam/                one SAM image-embedding cache for the whole study
    work/<name>/logs/, work/<name>/benchmarks/   one log and one time/memory record per job
    results/<name>/                       tables, figure, run_stats.json
"""

import json
import logging
import os
import re
import shlex
import subprocess

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate
from snakemake_interface_logger_plugins.common import LogEvent

GROPROMPT_METHOD = "groprompt"
"""The method the training runs feed; every other discovered method runs once per evaluation split."""


def validate_study(config, schema):
    """Validate ``config`` against ``schema`` (filling its defaults), then the rules a schema cannot state and
    every path the study reads; raise one WorkflowError listing every problem."""
    source = ", ".join(map(str, workflow.configfiles)) or "the --config values"
    try:
        validate(config, os.path.join(workflow.basedir, schema))
    except WorkflowError as error:
        raise WorkflowError(f"invalid config ({source}): {_schema_problem(error)}") from None
    problems = _cross_key_problems(config)
    if not problems:
        problems = _missing_paths(config) or _release_problems(config)
        problems += _method_problems(config)
    if problems:
        raise WorkflowError(f"invalid config ({source}):\n  " + "\n  ".join(problems))


def _schema_problem(error):
    """The jsonschema error inside a Snakemake validation error, as one line naming the key."""
    cause = error.__context__  # validate() raises its WorkflowError while handling jsonschema's ValidationError
    if not hasattr(cause, "absolute_path"):
        return str(error)
    where = ".".join(str(part) for part in cause.absolute_path) or "the top level"
    return f"{where}: {cause.message}"


def _cross_key_problems(config):
    problems = []
    datasets = config["datasets"]
    if config["device"] == "cpu" and config["gpus"] != 0:
        problems.append(f"gpus: {config['gpus']} GPUs with device cpu; set gpus: 0 or device: cuda")
    if config["device"] == "cuda" and config["gpus"] < 1:
        problems.append("gpus: device cuda needs gpus >= 1 (the GPUs of one training job)")
    if ("pretrain" in config) == ("checkpoints" in config):
        problems.append("give exactly one of pretrain (stand-in models trained here) and checkpoints (your models)")
    known = kind_listing()
    for key, entry in datasets.items():
        if entry["kind"] not in known:
            problems.append(f"datasets.{key}.kind: unknown dataset kind {entry['kind']!r} (known: "
                            f"{', '.join(sorted(known))}){kind_failures()}")
        if ("root" in entry) == ("generate" in entry):
            problems.append(f"datasets.{key}: give exactly one of root and generate")
        if "generate" in entry and entry["kind"] in known:
            problems += _generation_problems(key, entry, known)
    references = [("train.dataset", config["train"]["dataset"])]
    references += [(f"evaluation[{i}].dataset", item["dataset"]) for i, item in enumerate(config["evaluation"])]
    if "pretrain" in config:
        references.append(("pretrain.dataset", config["pretrain"]["dataset"]))
        if config["stand_ins"] == "released" and "released" not in config["pretrain"]:
            problems.append("stand_ins: released needs pretrain.released (the release names of the grounder and "
                            "the segmentor under releases/); or set stand_ins: pretrain to train them here")
    elif config["stand_ins"] == "released":
        problems.append("stand_ins: released applies to the stand-ins of a study with a pretrain section; a study "
                        "with checkpoints uses them")
    problems += [f"{key}: no dataset {value!r} in datasets (known: {', '.join(datasets)})"
                 for key, value in references if value not in datasets]
    for variant, values in config["train"]["variants"].items():
        missing = [key for key in ("lambda_f", "lambda_v") if key not in values]
        if missing:
            problems.append(f"train.variants.{variant}: give {' and '.join(missing)} explicitly (0 for L_box only)")
    for i, item in enumerate(config["evaluation"]):
        kind = known.get(datasets.get(item["dataset"], {}).get("kind"))
        if not item["score"] or kind is None:
            continue
        if kind["evaluation"] is None:
            problems.append(f"evaluation[{i}]: dataset kind {kind['key']} declares no evaluation, so groprompt "
                            "evaluate cannot score it; set score: false")
        elif item["split"] in kind["unscored_splits"]:
            problems.append(f"evaluation[{i}]: {kind['key']} {item['split']} has no public ground truth; set score: "
                            "false (and submission: true for the evaluation server's archive)")
    kinds = [datasets.get(item["dataset"], {}).get("kind") for item in config["evaluation"] if item["score"]]
    if len(set(kinds)) != len(kinds):
        problems.append("evaluation: two scored splits of one dataset kind (the tables have one row set per kind)")
    pairs = [(item["dataset"], item["split"]) for item in config["evaluation"]]
    if len(set(pairs)) != len(pairs):
        problems.append("evaluation: a dataset split is listed twice")
    return problems


def _generation_problems(key, entry, known):
    """``datasets.<key>.generate`` must write SynRVOS in the layout its kind reads (`groprompt datasets`:
    synrvos_layout): the generator's default layout for kind synrvos, ``layout: mevis`` for kind mevis."""
    from groprompt.data.synrvos.writer import LAYOUTS

    kind = known[entry["kind"]]
    if kind["synrvos_layout"] is None:
        able = ", ".join(f"{k['key']} (layout {k['synrvos_layout']})" for k in known.values() if k["synrvos_layout"])
        return [f"datasets.{key}.generate: SynRVOS has no layout of kind {kind['key']}, so it cannot be generated "
                f"(kinds that can: {able}); give its root instead"]
    layout = entry["generate"].get("layout", LAYOUTS[0])  # groprompt synrvos's default
    if layout != kind["synrvos_layout"]:
        return [f"datasets.{key}.generate.layout: kind {kind['key']} reads SynRVOS in the {kind['synrvos_layout']} "
                f"layout, not {layout}; set layout: {kind['synrvos_layout']}"]
    return []


def _missing_paths(config):
    """Every dataset root and checkpoint the config names that is not on disk."""
    named = [(f"datasets.{key}.root", entry.get("root")) for key, entry in config["datasets"].items()]
    named += [(f"checkpoints.{key}", path) for key, path in config.get("checkpoints", {}).items()]
    if "pretrain" in config and not pretraining_here():
        named += [(f"pretrain.released.{model}", released_stand_in(model)) for model in ("grounder", "segmentor")]
    if config.get("tracker"):
        named.append(("tracker", tracker()))
    return [f"{key}: {path} does not exist (no code downloads data or weights: put it there or correct the path)"
            for key, path in named if path is not None and not os.path.exists(path)]


def _release_problems(config):
    """The released stand-ins whose files are not the released bytes (groprompt.releases), found before any job."""
    from groprompt.errors import GroPromptError
    from groprompt.releases import verify_release

    if "pretrain" not in config or pretraining_here():
        return []
    problems = []
    for model in ("grounder", "segmentor"):
        try:
            verify_release(released_stand_in(model))
        except GroPromptError as error:
            problems.append(f"pretrain.released.{model}: {error}")
    return problems


def _method_problems(config):
    listing = method_listing()
    loaded = {entry["name"] for entry in listing["methods"]}
    failed = {entry["name"] for entry in listing["failures"]}
    problems = [f"methods.{name}: no method {name!r} (available: {', '.join(sorted(loaded))})"
                for name in config["methods"] if name not in loaded]
    problems += [f"exclude_methods: no method {name!r} (available: {', '.join(sorted(loaded | failed))})"
                 for name in config["exclude_methods"] if name not in loaded | failed]
    problems += [f"method {f['name']} ({f['source']}) fails to load: {f['error']} (fix it, or list it in "
                 f"exclude_methods)" for f in listing["failures"] if f["name"] not in config["exclude_methods"]]
    for entry in listing["methods"]:
        name = entry["name"]
        if name == GROPROMPT_METHOD or name in config["exclude_methods"]:
            continue  # GroPrompt's checkpoint is its training run's
        given = config["methods"].get(name, {})
        missing = [option for option in entry["required_options"] if option not in given and option not in offered()]
        if missing:
            study_key = " or the study's tracker" if "tracker" in missing else ""
            problems.append(f"method {name} needs option(s) {', '.join(missing)}: set methods.{name}.{missing[0]}"
                            f"{study_key} (or list {name} in exclude_methods)")
        problems += [f"methods.{name}.{option}: {given[option]} does not exist (no code downloads weights: put it "
                     "there or correct the path)" for option in entry["path_options"]
                     if given.get(option) is not None and not os.path.exists(str(given[option]))]
    return problems


def offered():
    """The standard options every method that takes them is offered (groprompt infer --offer): the pre-trained
    grounder, the prompter size, the tokenizer and the SAM 2 tracker."""
    options = {"checkpoint": grounder_checkpoint(), "size": config["models"]["prompter_size"]}
    if tokenizer():
        options["tokenizer"] = tokenizer()
    if tracker():
        options["tracker"] = tracker()
    return options


# ---------------------------------------------------------------------------------------- methods, dataset kinds
_LISTINGS = {}


def cli_listing(*command):
    """The JSON that `groprompt <command>` prints, run once when the workflow is parsed."""
    if command not in _LISTINGS:
        words = ["groprompt", *command]
        try:
            output = subprocess.run(words, check=True, capture_output=True, text=True).stdout
        except FileNotFoundError:
            raise WorkflowError("the groprompt command is not on PATH: activate the environment it is installed in "
                                "(pip install -e .)") from None
        except subprocess.CalledProcessError as error:
            raise WorkflowError(f"`{shlex.join(words)}` failed:\n{error.stderr}") from None
        _LISTINGS[command] = json.loads(output)
    return _LISTINGS[command]


def method_listing():
    """``groprompt methods --json`` for this repository's baselines/, so a module dropped into baselines/ becomes
    inference jobs with no workflow edit."""
    return cli_listing("methods", "--json", "--baselines-dir", BASELINES)


def kind_listing():
    """{kind key: its entry of ``groprompt datasets --json``} (reader, evaluation, family, unscored splits, paper
    table), so a module dropped into dataset_kinds/ is a dataset kind a config can name, with no workflow edit."""
    return {entry["key"]: entry for entry in cli_listing("datasets", "--json")["kinds"]}


def kind_failures():
    """The dataset-kind modules that failed to load, as a sentence to append to an unknown-kind error."""
    return "".join(f"; {f['source']} failed to load: {f['error']}"
                   for f in cli_listing("datasets", "--json")["failures"])


def baseline_methods(scored):
    """Names of the methods that run once per evaluation split (not GroPrompt, not excluded); oracles only where
    the split is ``scored`` (has ground truth)."""
    return [entry["name"] for entry in method_listing()["methods"]
            if entry["name"] != GROPROMPT_METHOD and entry["name"] not in config["exclude_methods"]
            and (scored or not entry["uses_ground_truth"])]


# ---------------------------------------------------------------------------------------------------- paths
BASELINES = os.path.join(workflow.basedir, "baselines")
DATASET_KINDS = os.path.join(workflow.basedir, "dataset_kinds")
# Every groprompt command this workflow runs, `groprompt datasets --json` included, reads dataset kinds from the
# folder next to the Snakefile (as methods come from its baselines/), whatever the working directory; a folder the
# user exported wins.
os.environ.setdefault("GROPROMPT_DATASET_KINDS", DATASET_KINDS)


def work(*parts):
    return os.path.join("work", config["name"], *parts)


def results(*parts):
    return os.path.join("results", config["name"], *parts)


def log(*parts):
    return work("logs", *parts[:-1], parts[-1] + ".log")


def bench(*parts):
    return work("benchmarks", *parts[:-1], parts[-1] + ".tsv")


SAM_CACHE = work("cache", "sam")


def dataset(key):
    return config["datasets"][key]


def dataset_root(key):
    entry = dataset(key)
    return work("data", key) if "generate" in entry else entry["root"]


def dataset_inputs(key):
    """The files a rule reading dataset ``key`` waits for: the manifest of a generated dataset, nothing for a
    dataset on disk (it is checked when the workflow starts, and never rebuilt)."""
    return [os.path.join(dataset_root(key), "synrvos.json")] if "generate" in dataset(key) else []


def pretraining_here():
    """Whether this study pre-trains its stand-ins (``stand_ins: pretrain``) instead of starting from the released
    ones (``stand_ins: released``) or from the user's ``checkpoints``."""
    return "pretrain" in config and config["stand_ins"] == "pretrain"


def released_stand_in(model):
    """The release folder of stand-in ``model`` (grounder, segmentor) under the repository's releases/."""
    return os.path.join(workflow.basedir, "releases", config["pretrain"]["released"][model])


def grounder_checkpoint():
    """The pre-trained grounder (Grounded-SAM's prompter and GroPrompt's starting point)."""
    if "pretrain" not in config:
        return config["checkpoints"]["grounder"]
    return work("models", "grounder") if pretraining_here() else released_stand_in("grounder")


def segmentor_checkpoint():
    if "pretrain" not in config:
        return config["checkpoints"]["segmentor"]
    return work("models", "segmentor.pt") if pretraining_here() else os.path.join(released_stand_in("segmentor"),
                                                                                  "segmentor.pt")


def model_inputs():
    """Checkpoints that rules must wait for: the stand-ins trained here; the user's and the released ones are
    checked at start."""
    if not pretraining_here():
        return []
    return [f"{grounder_checkpoint()}.metrics.json", f"{segmentor_checkpoint()}.metrics.json"]


def tokenizer():
    """The user's tokenizer folder, or None (the stand-in grounder's size bundles MiniLM's)."""
    return config.get("checkpoints", {}).get("tokenizer")


def tracker():
    """The SAM 2 folder of the config's ``tracker`` (a path, or a stand-in released under the repository's
    releases/), or None."""
    entry = config.get("tracker")
    if entry is None:
        return None
    return entry["path"] if "path" in entry else os.path.join(workflow.basedir, "releases", entry["release"])


def all_cores():
    """The threads of a job that uses every core it is given (SynRVOS generation): ``--cores`` of a run on this
    machine. A cluster run has no ``--cores`` (its jobs go to other machines), so there the job asks for the
    config's threads."""
    try:
        return workflow.cores
    except WorkflowError:
        return config["threads"]


def gpus(stage):
    """GPUs a job of ``stage`` declares: the configured count for training, one for anything else on CUDA."""
    if config["device"] == "cpu":
        return 0
    return config["gpus"] if stage == "train" else 1


def on_gpus(stage):
    """The command prefix that gives a job of ``stage`` GPUs of its own (workflows/scripts/gpu_slots.py);
    nothing on CPU."""
    if not gpus(stage):
        return ""
    return f"python {shlex.quote(os.path.join(workflow.basedir, 'workflows', 'scripts', 'gpu_slots.py'))} " \
           f"{gpus(stage)} --"


def train_run(variant, seed):
    return work("train", variant, f"seed{seed}")


def groprompt_runs():
    """``groprompt/<variant>/seed<s>`` for every variant and seed (the infer and eval sub-folders)."""
    return [f"{GROPROMPT_METHOD}/{variant}/seed{seed}"
            for variant in config["train"]["variants"] for seed in config["seeds"]]


def evaluation_runs(item):
    """Every run folder name (method, or groprompt/<variant>/seed<s>) of one evaluation entry."""
    return baseline_methods(item["score"]) + groprompt_runs()


def write_yaml(path, mapping):
    """Write ``mapping`` as YAML atomically (the rules that turn config sections into CLI config files)."""
    from groprompt.files import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(mapping, sort_keys=False))


# ---------------------------------------------------------------------------------------------------- console
class FinishedJobLines(logging.Filter):
    """Completes Snakemake's one line per finished job, "Finished jobid: 12 (Rule: infer_method)", with what the
    job was (its wildcards) and where its log is: the steps write their progress bars and output to their logs, so
    a long job is otherwise one start block and then minutes of nothing. Reads the fields Snakemake's logger
    plugin interface gives each record (event; jobid, wildcards, log; job_id); a record without them passes as
    it is."""

    def __init__(self):
        super().__init__()
        self.jobs = {}

    def filter(self, record):
        event = getattr(record, "event", None)
        if event == LogEvent.JOB_INFO and hasattr(record, "jobid"):
            self.jobs[record.jobid] = (getattr(record, "wildcards", None) or {}, getattr(record, "log", None) or [])
        elif event == LogEvent.JOB_FINISHED and getattr(record, "job_id", None) in self.jobs:
            wildcards, logs = self.jobs.pop(record.job_id)
            what = ", ".join(f"{key}={value}" for key, value in wildcards.items())
            where = f"log {', '.join(logs)}" if logs else ""
            record.msg = "; ".join(filter(None, [f"{record.msg}: {what}" if what else record.msg, where]))
        return True


logger.addFilter(FinishedJobLines())


onstart:
    logger.info(f"Study {config['name']}: each job writes its log (progress bars included) under "
                f"{work('logs')}/, named on the job's start and finish lines below; data and models go to "
                f"{work()}/. The tables and figure in {results()}/ will be rewritten.")


onsuccess:
    logger.info(f"Study {config['name']} finished: tables and figure in {results()}/ (tables.md has every table), "
                f"logs in {work('logs')}/. Where those tables are committed (results/default/ is), "
                f"`git diff --stat {results()}` shows what the run changed.")


onerror:
    logger.error(f"Study {config['name']} stopped: the failed job's log is named above (all logs are under "
                 f"{work('logs')}/). Run the same command again to resume: finished jobs are kept.")
