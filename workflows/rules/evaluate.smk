"""Stage 5: `groprompt evaluate` of every inference run on a scored split, scored the way its dataset kind declares
(`groprompt datasets`: evaluation; docs/method_spec.md §8). The rule passes the dataset and infer's output folder,
and the step picks the protocol: per expression with box IoU (SynRVOS, Ref-YouTube-VOS), Ref-DAVIS17's four
expression sets under the assignment and strict protocols (written to eval/.../sets/), or A2D-/JHMDB-Sentences'
P@K, overall and mean IoU; so a dataset kind of the user's is scored with no edit here.
"""


rule evaluate:
    input:
        run=work("infer", "{dataset}", "{split}", "{run}", "run_stats.json"),
        data=lambda w: dataset_inputs(w.dataset),
    output:
        summary=work("eval", "{dataset}", "{split}", "{run}", "summary.csv"),
    params:
        kind=lambda w: dataset(w.dataset)["kind"],
        data=lambda w: dataset_root(w.dataset),
        pred=lambda w: work("infer", w.dataset, w.split, w.run),
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
        "groprompt evaluate --dataset-kind {params.kind:q} --data {params.data:q} --split {wildcards.split:q} "
        "--pred {params.pred:q} --out {params.out:q} --workers {threads} > {log:q} 2>&1"
