"""VEX: statements about whether a vulnerability affects a product (`--vex PATH`).

`document` reads and validates VEX files (OpenVEX, CycloneDX VEX, CSAF; all untrusted input)
into `VexFile`s; `match` says which OpenVEX statement speaks of a finding, for `check` (which
applies OpenVEX itself) and for the scans (where Trivy applies every format and scangate
names the statement it used). The gate (`scangate.gate`) decides with the policy's `vex`.
"""
