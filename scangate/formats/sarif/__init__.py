"""SARIF 2.1.0 for GitHub code scanning, one module per seam:

* `writer`: `SarifFormat` and `SarifOptions`, the log and its runs (the only module that
  imports sarif-om);
* `results`: each run's rules and results, one line of JSON each;
* `limits`: GitHub's limits, the runs (one per scanned target) and the results each keeps;
* `locations`: each run's category and each result's file and line;
* `rules`: one rule per finding id (case-blind), with level, help, `security-severity` and
  precision;
* `encoding`: the serializer and the gzipped size.

Nothing is imported here, so that `locations` stays cheap for the commands that only need a
`DockerfileRef`.
"""
