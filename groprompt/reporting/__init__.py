"""Reporting: tables and figures built from metric files (and the contact sheets that show a video's task).

Tables read the files ``groprompt evaluate`` writes and know nothing of how a metric is computed (docs/architecture.md);
figures this code computes and figures quoted from the paper never share a column unlabelled (docs/method_spec.md §9).

* :mod:`~groprompt.reporting.results`: evaluation folders, method rows (one folder per seed); the datasets
  are the dataset kinds of :mod:`groprompt.data.registry` (name, family of measures, caption, paper table);
* :mod:`~groprompt.reporting.intervals`: t-interval over seeds, video-level bootstrap for one run (§9);
* :mod:`~groprompt.reporting.differences`: paired differences of rows (vs Grounded-SAM, TAP-CL vs L_box) with
  paired intervals (t over per-seed differences, paired video bootstrap);
* :mod:`~groprompt.reporting.tables`: the table model and its CSV / Markdown / LaTeX writers;
* :mod:`~groprompt.reporting.reported`: the paper's figures, typed in once with their table and row;
* :mod:`~groprompt.reporting.table6`, :mod:`~groprompt.reporting.table5`, :mod:`~groprompt.reporting.benchmarks`
  (Tables 1-3), :mod:`~groprompt.reporting.mevis_table` (MeViS, not in the paper: J&F by single- and
  multi-object expressions), :mod:`~groprompt.reporting.breakdowns` (by expression kind, TAP-CL by kind,
  Ref-DAVIS17 protocols), and :mod:`~groprompt.reporting.report`, which picks a study's tables and writes them
  (``groprompt tables``);
* :mod:`~groprompt.reporting.figures`: the qualitative figure (paper Fig. 2 style, ``groprompt figure``), drawn
  with :mod:`~groprompt.reporting.contact_sheet`;
* :mod:`~groprompt.reporting.run_stats`: one step's record of time and memory (``groprompt --stats``);
* :mod:`~groprompt.reporting.study_stats`: a study's step records merged with its inference runs' statistics
  (``groprompt run-stats``).

Nothing is imported here, so that ``groprompt --stats`` and ``show-video`` do not load pandas and scipy.
"""
