"""A stand-in SLURM cluster on this machine, for running the workflow through snakemake-executor-plugin-slurm.

:func:`install` writes executables named like SLURM's commands into a folder that the test puts first on ``PATH``.
Each appends its arguments to ``calls.jsonl`` in the state folder and answers as the real command does, in the forms
the plugin (2.x) and its job-step companion (snakemake-executor-plugin-slurm-jobstep) read:

* ``sbatch``: prints the job id (``--parsable``, what the plugin passes) or ``Submitted batch job <id>``, and runs
  the ``--wrap`` command in the background, in the ``-D`` folder, with stdout and stderr in the ``--output`` file
  (``%j`` replaced), ``SLURM_JOB_ID`` set (and ``SLURM_GPUS`` when ``--gpus`` is given, as SLURM does). With
  ``STANDIN_SLURM_RUN=0`` it runs nothing and the job fails at once (to record what a study would submit).
* ``sacct`` / ``squeue``: ``<id>|<state>`` per job of the ``--name`` asked for (``sacct -X --parsable2 --noheader
  --format=JobIdRaw,State``; ``squeue --format=%i|%T --noheader``): RUNNING, then COMPLETED or FAILED by the exit
  status of the job's command. While no job has ended since the last answer, they wait for one to end (up to
  ``wait`` seconds, :func:`install`): the plugin checks the status less and less often while nothing ends, which
  would otherwise add tens of seconds per stage of a study.
* ``scancel``: kills the jobs' process groups.
* ``srun``: the job step the plugin's job script starts for the one rule of a job (``srun -n1 --cpu-bind=q
  --cpus-per-task=N [--gpus=N] --nodes=1 <command>``): runs the command. This cluster has no GPU, so a step's
  ``device=cuda`` and ``gpus=N`` in its ``--config`` become ``device=cpu`` and ``gpus=0`` (the rule then runs its
  CPU command); what was requested is recorded first.
* ``sacctmgr``: lists ``STANDIN_SLURM_ACCOUNT`` as the user's only account (the plugin validates the account).
* ``sinfo``: present, as on a SLURM host (the plugin looks for it to pick its status command); prints nothing.

Their settings are environment variables named ``STANDIN_SLURM_*``: the job step drops every ``SLURM_*`` variable
before it calls ``srun``.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from pathlib import Path

COMMANDS = ("sbatch", "sacct", "squeue", "scancel", "srun", "sacctmgr", "sinfo")

_PROGRAM = r'''
import fcntl, json, os, re, signal, subprocess, sys, time
from pathlib import Path

STATE = Path(os.environ["STANDIN_SLURM_STATE"])
JOBS = STATE / "jobs"
NAME = Path(sys.argv[0]).name
ARGS = sys.argv[1:]


def record(**extra):
    with open(STATE / "calls.jsonl", "a") as log:
        fcntl.flock(log, fcntl.LOCK_EX)
        log.write(json.dumps({"command": NAME, "args": ARGS, "cwd": os.getcwd(), **extra}) + "\n")


def options(args):
    """sbatch's options as {name: value}: --name=value, --name value, -X value; --flag alone gives True."""
    found, i = {}, 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "=" in arg:
            name, value = arg[2:].split("=", 1)
            found[name] = value
        elif arg.startswith("-") and i + 1 < len(args) and not args[i + 1].startswith("-"):
            found[arg.lstrip("-")] = args[i + 1]
            i += 1
        else:
            found[arg.lstrip("-")] = True
        i += 1
    return found


def new_job_id():
    JOBS.mkdir(exist_ok=True)
    with open(STATE / "next_id", "a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        job_id = int(counter.read() or 1000) + 1
        counter.seek(0)
        counter.truncate()
        counter.write(str(job_id))
    return str(job_id)


def sbatch():
    opts = options(ARGS)
    job_id = new_job_id()
    record(options=opts, job_id=job_id)
    (JOBS / f"{job_id}.name").write_text(opts.get("job-name", ""))
    if os.environ.get("STANDIN_SLURM_RUN", "1") == "0":
        (JOBS / f"{job_id}.exit").write_text("1")
    else:
        log = Path(opts.get("D", "."), opts.get("output", f"slurm-{job_id}.out").replace("%j", job_id))
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SLURM_JOB_ID": job_id, "SLURM_JOBID": job_id}
        if "gpus" in opts:
            env["SLURM_GPUS"] = opts["gpus"]
        exit_file = JOBS / f"{job_id}.exit"
        runner = 'bash -c "$1"; status=$?; echo $status > "$2.tmp"; mv "$2.tmp" "$2"'
        with open(log, "w") as out:
            job = subprocess.Popen(["bash", "-c", runner, "job", opts["wrap"], str(exit_file)], cwd=opts.get("D"),
                                   env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        (JOBS / f"{job_id}.pid").write_text(str(job.pid))
    print(job_id if "parsable" in opts else f"Submitted batch job {job_id}")


def states():
    """'<id>|<state>' of every job whose name is the --name asked for. While all of them that ended were already
    reported and some still run, wait for one to end (up to STANDIN_SLURM_WAIT seconds)."""
    opts = options(ARGS)
    wanted = opts.get("name")
    reported_file = STATE / "reported"
    reported = set(reported_file.read_text().split()) if reported_file.exists() else set()
    deadline = time.monotonic() + float(os.environ.get("STANDIN_SLURM_WAIT", "0"))
    while True:
        found = {}
        for name_file in sorted(JOBS.glob("*.name")) if wanted else []:
            if name_file.read_text() == wanted:
                exit_file = JOBS / f"{name_file.stem}.exit"
                found[name_file.stem] = "RUNNING" if not exit_file.exists() else (
                    "COMPLETED" if exit_file.read_text().strip() == "0" else "FAILED")
        ended = {job_id for job_id, state in found.items() if state != "RUNNING"}
        if ended - reported or "RUNNING" not in found.values() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    reported_file.write_text(" ".join(sorted(reported | ended)))
    for job_id, state in found.items():
        print(f"{job_id}|{state}")


def scancel():
    for job_id in [arg for arg in ARGS if arg.isdigit()]:
        pid_file = JOBS / f"{job_id}.pid"
        if pid_file.exists():
            try:
                os.killpg(int(pid_file.read_text()), signal.SIGTERM)
            except ProcessLookupError:
                pass


def srun():
    i = 0
    while ARGS[i].startswith("-"):
        i += 1
    command = [re.sub(r"^device=cuda(:\d+)?$", "device=cpu", re.sub(r"^gpus=\d+$", "gpus=0", arg))
               for arg in ARGS[i:]]
    os.execvp(command[0], command)


if NAME == "sbatch":
    sbatch()
else:
    record()
if NAME in ("sacct", "squeue"):
    states()
elif NAME == "scancel":
    scancel()
elif NAME == "srun":
    srun()
elif NAME == "sacctmgr":
    print(os.environ["STANDIN_SLURM_ACCOUNT"])
'''


def install(bin_dir: Path, state_dir: Path, account: str, run_jobs: bool = True, wait: float = 30) -> dict[str, str]:
    """Write the stand-ins into ``bin_dir``; returns the environment variables they read (add them, and put
    ``bin_dir`` first on ``PATH``)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    for name in COMMANDS:
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{_PROGRAM}")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return {"STANDIN_SLURM_STATE": str(state_dir), "STANDIN_SLURM_ACCOUNT": account,
            "STANDIN_SLURM_RUN": "1" if run_jobs else "0", "STANDIN_SLURM_WAIT": str(wait)}


def stop_jobs(state_dir: Path) -> list[str]:
    """SIGTERM the process group of every job that has not ended (after a run that failed or timed out); returns
    their ids."""
    stopped = []
    for pid_file in sorted((state_dir / "jobs").glob("*.pid")):
        if not pid_file.with_suffix(".exit").exists():
            try:
                os.killpg(int(pid_file.read_text()), signal.SIGTERM)
                stopped.append(pid_file.stem)
            except ProcessLookupError:
                pass
    return stopped


def calls(state_dir: Path, command: str | None = None) -> list[dict]:
    """The recorded calls (``{"command", "args", "cwd"}``; sbatch's also ``options``, as {name without dashes:
    value or True}, and ``job_id``), in order; only those of ``command`` if given."""
    path = state_dir / "calls.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [entry for entry in records if command is None or entry["command"] == command]
