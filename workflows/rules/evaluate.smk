"""Stage 5: `groprompt evaluate` of every inference run on a scored split, by the protocol of its dataset
(docs/method_spec.md §8):

* SynRVOS and Ref-YouTube-VOS: J, F, J&F per expression against its own object (the per-expression layout infer
  writes), and box IoU from infer's boxes;
* Ref-DAVIS17: the paper's protocol. `groprompt expression-sets` merges the per-expression masks into the four
  expression sets (eval/.../sets/anno_0..3), then evaluate runs the DAVIS-2017 assignment and the strict
  protocol on each set and averages the four; each object's row of set k carries the box IoU of its k-th
  expression;
* A2D-Sentences and JHMDB-Sentences: P@0.5..0.9, overall and mean IoU over the annotated samples.

Ground truth of the first two is read where the Ref-YouTube-VOS layout keeps it (Ref-DAVIS17 converted by
`groprompt convert-davis`): <root>/<split>/Annotations and <root>/meta_expressions/<split>/meta_expressions.json;
A2D and JHMDB are read by their dataset readers.
"""

PER_EXPRESSION = (
    "groprompt evaluate --pred {infer}/Annotations --gt {gt} --layout per-expression --expressions {expressions} "
    "--boxes {infer}/boxes --out {out} --workers {threads}"
)
EXPRESSION_SETS = (
    "groprompt expression-sets --pred {infer} --data {root} --split {split} --out {out}/sets && "
    "groprompt evaluate --pred {out}/sets --gt {gt} --layout refdavis --expressions {expressions} "
    "--boxes {infer}/boxes --out {out} --workers {threads}"
)
REFERRING = (
    "groprompt evaluate --pred {infer}/Annotations --layout referring --dataset-kind {kind} --data {root} "
    "--split {split} --out {out} --workers {threads}"
)
EVALUATE_COMMANDS = {"synrvos": PER_EXPRESSION, "refytvos": PER_EXPRESSION, "refdavis": EXPRESSION_SETS,
                     "a2d": REFERRING, "jhmdb": REFERRING}
"""The evaluation of each dataset kind (every kind in SCORED_KINDS has one)."""


def evaluate_command(wildcards, threads):
    root = dataset_root(wildcards.dataset)
    kind = dataset(wildcards.dataset)["kind"]
    values = {
        "infer": work("infer", wildcards.dataset, wildcards.split, wildcards.run),
        "out": work("eval", wildcards.dataset, wildcards.split, wildcards.run),
        "root": root, "kind": kind, "split": wildcards.split, "threads": threads,
        "gt": os.path.join(root, wildcards.split, "Annotations"),
        "expressions": os.path.join(root, "meta_expressions", wildcards.split, "meta_expressions.json"),
    }
    return EVALUATE_COMMANDS[kind].format(**{key: shlex.quote(str(value)) for key, value in values.items()})


rule evaluate:
    input:
        run=work("infer", "{dataset}", "{split}", "{run}", "run_stats.json"),
        data=lambda w: dataset_inputs(w.dataset),
    output:
        summary=work("eval", "{dataset}", "{split}", "{run}", "summary.csv"),
    params:
        command=evaluate_command,
    wildcard_constraints:
        dataset="[^/]+",
        split="[^/]+",
    threads: config["threads"]
    log:
        log("evaluate", "{dataset}", "{split}", "{run}"),
    benchmark:
        bench("evaluate", "{dataset}", "{split}", "{run}")
    shell:
        "({params.command}) > {log:q} 2>&1"
