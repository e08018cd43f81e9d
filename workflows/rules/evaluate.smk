"""Stage 5: `groprompt evaluate` of every inference run on a scored split (method_spec §8): J, F, J&F per
expression against its own object (the per-expression layout infer writes), and box IoU from infer's boxes.

The ground truth is read where the Ref-YouTube-VOS layout keeps it (SynRVOS, and Ref-DAVIS17 converted by
`groprompt convert-davis`): <root>/<split>/Annotations and <root>/meta_expressions/<split>/meta_expressions.json.
"""


rule evaluate:
    input:
        run=work("infer", "{dataset}", "{split}", "{run}", "run_stats.json"),
        data=lambda w: dataset_inputs(w.dataset),
    output:
        summary=work("eval", "{dataset}", "{split}", "{run}", "summary.csv"),
        per_object=work("eval", "{dataset}", "{split}", "{run}", "per_object.csv"),
    params:
        infer=lambda w: work("infer", w.dataset, w.split, w.run),
        gt=lambda w: os.path.join(dataset_root(w.dataset), w.split, "Annotations"),
        expressions=lambda w: os.path.join(dataset_root(w.dataset), "meta_expressions", w.split,
                                           "meta_expressions.json"),
        out=lambda w: work("eval", w.dataset, w.split, w.run),
    wildcard_constraints:
        dataset="[^/]+",
        split="[^/]+",
    threads: config["threads"]
    log:
        log("evaluate", "{dataset}", "{split}", "{run}"),
    benchmark:
        bench("evaluate", "{dataset}", "{split}", "{run}")
    shell:
        "groprompt evaluate --pred {params.infer}/Annotations --gt {params.gt} --layout per-expression "
        "--expressions {params.expressions} --boxes {params.infer}/boxes --out {params.out} "
        "--workers {threads} > {log} 2>&1"
