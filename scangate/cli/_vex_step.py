"""`--vex PATH` on the scans and on `check`: the option, and the VEX files read (validated
before Trivy runs or a report is read) and handed to the scan or applied to reports."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from scangate.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scangate.findings import ScanRun
    from scangate.policy import Policy
    from scangate.trivy_run import ScanOptions
    from scangate.vex.document import VexFile


def _load(params: dict[str, Any]) -> tuple[VexFile, ...]:
    paths = params.get("vex") or []
    if not paths:
        return ()
    from scangate.vex.document import load

    return load(list(paths))


def for_scan(
    params: dict[str, Any], policy: Policy, options: ScanOptions
) -> tuple[Policy, ScanOptions]:
    """The scans: Trivy applies the files (every format); the policy gets their OpenVEX
    statements, to list those that matched nothing."""
    files = _load(params)
    if not files:
        return policy, options
    from scangate.vex.document import statements

    return policy.with_vex(statements(files)), dataclasses.replace(options, vex_files=files)


def for_check(params: dict[str, Any]) -> tuple[VexFile, ...]:
    """`check` applies the files itself (Trivy does not run), and reads OpenVEX only: a
    CycloneDX VEX names the components of an SBOM and a CSAF document its own product tree,
    which a Trivy report does not carry."""
    files = _load(params)
    for vex_file in files:
        if vex_file.format != "openvex":
            raise UsageError(
                f"--vex {vex_file.label}: scangate check applies OpenVEX only, and this is "
                f"{'CycloneDX VEX' if vex_file.format == 'cyclonedx' else 'CSAF'}: give it "
                "to the scan (scan ... --vex), where Trivy applies it, or convert it to OpenVEX"
            )
    return files


def apply_to_reports(files: Sequence[VexFile], runs: Sequence[ScanRun], policy: Policy) -> Policy:
    if not files:
        return policy
    from scangate.vex.document import statements
    from scangate.vex.match import apply

    apply(runs, files)
    return policy.with_vex(statements(tuple(files)))
