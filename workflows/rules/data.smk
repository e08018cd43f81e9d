"""Stage 1, the embedded default only: generate SynRVOS (docs/synthetic_benchmark.md) into work/<name>/data/<id>/."""


def synrvos_flags(key):
    """--preset, --seed and the size overrides of ``datasets.<key>.generate``."""
    generate = dataset(key)["generate"]
    return " ".join(f"--{option.replace('_', '-')} {value}" for option, value in generate.items())


rule synrvos:
    output:
        work("data", "{dataset}", "synrvos.json"),
    params:
        out=lambda w: work("data", w.dataset),
        flags=lambda w: synrvos_flags(w.dataset),
    threads: all_cores()
    log:
        log("synrvos", "{dataset}"),
    benchmark:
        bench("synrvos", "{dataset}")
    # --force: the generator replaces the folder whole (it renames a complete copy into place), so a rerun after a
    # changed config or an interrupted run starts from nothing.
    shell:
        "groprompt synrvos --out {params.out:q} {params.flags} --workers {threads} --force > {log:q} 2>&1"
