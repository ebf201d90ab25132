"""Rules on a run that is still writing: the `watch` command and the Trainer callback share this package.

`columns.LiveSource` is one growing source (a followed file, or the rows a callback receives) stored as
growable arrays per metric; `monitor.Monitor` turns the sources into a `Run` through the same assembler
as `analyze` and evaluates the same rules, printing each finding once. `follow` reads only what was
appended to a run directory's files since the last poll.

Cost per poll. A full evaluation costs O(rows). The monitor evaluates everything on every poll while the
run is small (`full_rows`, 20,000 logged rows: most real runs), and after that fully only when the run has
grown by `growth` (5%) since the last full evaluation: over a whole run that is O(rows / growth) work, a
constant per new row. Between two full evaluations the rules are evaluated on the first `head` and the last
`tail` logged rows (the middle left out), so a NaN, a spike or a divergence is reported within one poll of
its row at a cost that does not grow with the run; such a finding says which rows it saw (`window`), as a
rule that reduces a whole series (a median, "the first rows") judged only those. The final evaluation (end
of the watch, end of training) is always a full one, so the last report equals `analyze` of the same files.
"""
