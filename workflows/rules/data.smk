"""Stage 1, every dataset with `generate` (the embedded default's, the smoke study's, SynRVOS in the MeViS layout):
generate SynRVOS (docs/synthetic_benchmark.md) into work/<name>/data/<id>/, in the layout its kind reads."""


def synrvos_flags(key):
    """--preset, --seed, --layout, --multi-object-share and the size overrides of ``datasets.<key>.generate``."""
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
