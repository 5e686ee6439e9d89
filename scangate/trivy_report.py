"""Reading Trivy's JSON report: `parse_report` and `load_report` validate it into the
`trivy_models` models, and every failure is a `ReportError` that names the report, what is
wrong and what to do.

A file that is not a Trivy scan report (SARIF, an SBOM, a Kubernetes or compliance report,
Trivy's table output, ...) is refused with a message naming what it is. That sniffing runs
only on the error path, and on the pass path only for a report without findings (a few
hundred bytes): a 200 MB report is never read twice to accept it.
"""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scangate.errors import ReportError
from scangate.findings import Kind
from scangate.trivy_models import FINDING_MODELS, MODIFIED_KINDS, Header, Report, adapter, validate

SUPPORTED_SCHEMA_VERSION = 2


def parse_report(data: bytes, source: str) -> Report:
    """Validate Trivy JSON straight from bytes (no intermediate dict: a 200 MB report fits).

    Every failure is a `ReportError` naming `source`, what is wrong and what to do.
    """
    # The parse allocates millions of acyclic objects; pausing the cyclic collector meanwhile
    # saves it from rescanning them all again and again (about 40% of parse time).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        report = adapter(Report).validate_json(data)
    except ValidationError as exc:
        raise ReportError(_describe(exc, data, source)) from None
    finally:
        if gc_was_enabled:
            gc.enable()
    # A report that validates can still be another schema's (1, or a future 3): its fields
    # may mean something else, so refuse it rather than gate on a misreading.
    if report.schema_version != SUPPORTED_SCHEMA_VERSION:
        raise ReportError(_wrong_schema(source, report.schema_version))
    if not report.results:
        _check_clean_scan(report, data, source)
    _check_modified(report, source)
    return report


def _check_clean_scan(report: Report, data: bytes, source: str) -> None:
    """A report without Results passes only if it is a scan that found nothing.

    Trivy omits `Results` from a clean scan (`omitempty`), but its Kubernetes and compliance
    reports also carry `SchemaVersion: 2` and no `Results`: read as scans they would pass with
    0 findings whatever the cluster holds. Such a report is small only when it is clean, so
    reading it again here costs nothing on the pass path.
    """
    try:
        top = json.loads(data)
    except ValueError:  # pydantic read it; json cannot fail, but never pass on a doubt
        top = {}
    found = _identify(top) if isinstance(top, dict) else None
    if found is not None:
        raise ReportError(_foreign_message(source, found))
    # Every scan Trivy writes (fs, image, repo, rootfs, sbom, vm) names its artifact.
    if not report.artifact_name and not report.artifact_type:
        raise ReportError(
            f"{source}: not a Trivy scan report: SchemaVersion {report.schema_version} but no "
            "Results, ArtifactName or ArtifactType (a clean trivy fs|image|repo|rootfs|sbom "
            "scan names its artifact); gate the report trivy wrote with --format json"
        )


# What a JSON file that is not a Trivy scan report is, and what to do instead.
_RESCAN = "re-run trivy with --format json and gate that report"
_SBOM_FIX = (
    "scangate gates Trivy scan reports: scan the SBOM with `trivy sbom FILE --format json` "
    "and gate that report"
)
_VEX_FIX = (
    "scangate gates Trivy scan reports: give the VEX document to trivy (--vex FILE), "
    "run it with --format json and gate that report"
)
_SCAN_FIX = (
    "scangate gates `trivy fs|image|repo|rootfs|sbom` JSON reports: scan the images with "
    "`trivy image` or the manifests with `trivy fs`, with --format json"
)
_K8S_KEYS = ("ClusterName", "Resources", "Findings", "Vulnerabilities", "Misconfigurations")
_COMPLIANCE_KEYS = (
    "ID",
    "Title",
    "SummaryControls",
    "RelatedResources",
    "ReportID",
    "ReportTitle",
    "relatedResources",
)


def _identify(top: dict[str, Any]) -> tuple[str, str] | None:
    """(what the file is, the fix) for a JSON object that is not a Trivy scan report, or
    None. Only top-level keys are read: cheap on any size."""
    schema = top.get("$schema")
    schema = schema.lower() if isinstance(schema, str) else ""
    if "runs" in top and (top.get("version") == "2.1.0" or "sarif" in schema):
        return "a SARIF log", f"{_RESCAN} (scangate writes SARIF itself: --sarif FILE)"
    if top.get("bomFormat") == "CycloneDX" or "cyclonedx" in schema:
        return "a CycloneDX SBOM", _SBOM_FIX
    if "spdxVersion" in top:
        return "an SPDX SBOM (JSON)", _SBOM_FIX
    context = top.get("@context")
    if isinstance(context, str) and "openvex" in context.lower():
        return "an OpenVEX document", _VEX_FIX
    document = top.get("document")
    if isinstance(document, dict) and "csaf_version" in document:
        return "a CSAF document", _VEX_FIX
    if "detector" in top and "manifests" in top:
        return "a GitHub dependency snapshot (trivy --format github)", _RESCAN
    scanner = top.get("scanner")
    if isinstance(scanner, dict) and "result" in scanner and "invocation" in top:
        return (
            "a cosign vulnerability attestation (trivy --format cosign-vuln)",
            f"{_RESCAN} (the Trivy report inside is its scanner.result)",
        )
    if "ClusterName" in top or "Resources" in top or "Findings" in top:
        keys = ", ".join(k for k in _K8S_KEYS if k in top)
        return f"a Trivy Kubernetes report ({keys})", _SCAN_FIX
    present = [k for k in _COMPLIANCE_KEYS if k in top]
    if len(present) >= 2 and not {"ArtifactName", "ArtifactType"} & top.keys():
        return (
            f"a Trivy compliance report ({', '.join(present)})",
            "scangate gates Trivy scan reports, not compliance reports: re-run trivy "
            "without --compliance, with --format json",
        )
    if "matches" in top and "descriptor" in top:
        return "a Grype report", "scangate gates Trivy JSON reports: scan with trivy --format json"
    if "apiVersion" in top and "kind" in top:
        kind = top.get("kind")
        named = (
            f" {kind}" if isinstance(kind, str) and re.fullmatch(r"[A-Za-z0-9]{1,60}", kind) else ""
        )
        return (
            f"a Kubernetes object{named} (a Trivy Operator report?)",
            "scangate gates Trivy JSON reports: scan with trivy --format json",
        )
    return None


def _foreign_message(source: str, found: tuple[str, str]) -> str:
    what, fix = found
    return f"{source}: {what}, not a Trivy scan report: {fix}"


def _check_modified(report: Report, source: str) -> None:
    """Findings Trivy suppressed are gated too (under the policy's allow-rules): one it could
    not have written is refused like any other, never dropped."""
    for i, result in enumerate(report.results or ()):
        for j, modified in enumerate(result.modified_findings or ()):
            kind = MODIFIED_KINDS.get((modified.type or "").lower())
            if kind is None or not modified.finding:
                continue
            try:
                validate(FINDING_MODELS[kind], modified.finding)
            except ValidationError as exc:
                where = f"Results[{i}].ExperimentalModifiedFindings[{j}].Finding"
                err = exc.errors(include_url=False)[0]
                if err["loc"] == ("Severity",):
                    raise ReportError(
                        _bad_severity(source, where, kind, modified.finding, result.target)
                    ) from None
                raise ReportError(
                    f"{source}: field {where}.{_json_path(err['loc'])}: {err['msg']}; "
                    "is this an unmodified Trivy JSON report?"
                ) from None


_SEVERITY_FIELDS = {
    "Vulnerabilities": Kind.VULNERABILITY,
    "Misconfigurations": Kind.MISCONFIGURATION,
    "Secrets": Kind.SECRET,
    "Licenses": Kind.LICENSE,
}


def _short(value: object, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    return f"{text[:limit]}..." if len(text) > limit else text


def _bad_severity(source: str, where: str, kind: Kind, raw: object, target: object) -> str:
    """Name the report, the finding and the value: a severity outside Trivy's five."""
    fields = raw if isinstance(raw, dict) else {}
    ident = next(
        (fields[k] for k in ("VulnerabilityID", "ID", "AVDID", "RuleID", "Name") if fields.get(k)),
        "(no ID)",
    )
    value = _short(fields.get("Severity"))
    return (
        f"{source}: {where}: {kind.value} {_short(ident)} in {_short(target)} has severity "
        f"'{value}', not one of Trivy's UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL: this is not "
        "an unmodified Trivy report; gate the report as Trivy wrote it"
    )


def _severity_error(source: str, loc: tuple[int | str, ...], top: dict[str, Any]) -> str | None:
    """`Results[i].<Kind>[j].Severity` invalid: read the finding back to name it."""
    if len(loc) != 5 or loc[0] != "Results" or loc[-1] != "Severity":
        return None
    kind = _SEVERITY_FIELDS.get(str(loc[2]))
    if kind is None or not isinstance(loc[1], int) or not isinstance(loc[3], int):
        return None
    try:
        result = top["Results"][loc[1]]
        raw = result[loc[2]][loc[3]]
    except (KeyError, IndexError, TypeError):
        return None
    target = result.get("Target") if isinstance(result, dict) else None
    return _bad_severity(source, _json_path(loc[:-1]), kind, raw, target)


def _wrong_schema(source: str, version: object) -> str:
    return (
        f"{source}: SchemaVersion is {version}, scangate reads "
        f"{SUPPORTED_SCHEMA_VERSION}: use Trivy 0.20 or newer with --format json"
    )


def _describe(exc: ValidationError, data: bytes, source: str) -> str:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        detail = str(first["ctx"].get("error", "invalid JSON")) if first.get("ctx") else "invalid"
        return _not_json(source, data, detail)
    # Pydantic dataclasses report a non-object as `dataclass_type` (not `model_type`); at the
    # top level (empty loc) that is a JSON array, string, number or null.
    if not first["loc"] and first["type"] in ("model_type", "dataclass_type"):
        return f"{source}: not a Trivy JSON report (the top level is not an object)"
    try:  # only on this error path: the whole report again, as plain JSON, once
        top = json.loads(data)
    except ValueError:
        top = None
    if not isinstance(top, dict):
        top = {}
    found = _identify(top)
    if found is not None:
        return _foreign_message(source, found)
    try:
        header = adapter(Header).validate_python(top)
    except ValidationError:
        where = _json_path(first["loc"]) or "top level"
        return f"{source}: field {where}: {first['msg']}; is this an unmodified Trivy JSON report?"
    if header.schema_version is None:
        return (
            f"{source}: not a Trivy JSON report: SchemaVersion is missing; "
            "re-run trivy with --format json"
        )
    if header.schema_version != SUPPORTED_SCHEMA_VERSION:
        return _wrong_schema(source, header.schema_version)
    severity = _severity_error(source, first["loc"], top)
    if severity is not None:
        return severity
    where = _json_path(first["loc"])
    return f"{source}: field {where}: {first['msg']}; is this an unmodified Trivy JSON report?"


# Enough of a file to tell table output, an SBOM in tag-value form or HTML from JSON.
_SNIFF_BYTES = 64 * 1024
# Trivy's table output: its box-drawing summary, a target underlined with `=`, `Total: N (`.
_TABLE = re.compile(r"[│┌└├]|^Total: \d+ \(|^\S.*\n=+$", re.MULTILINE)


def _not_json(source: str, data: bytes, detail: str) -> str:
    """Name what a file that is not JSON is, from its first `_SNIFF_BYTES` only."""
    head = data[:_SNIFF_BYTES]
    text = head.lstrip()
    rescan = "re-run trivy with --format json"
    if not text:
        what = "the file is empty"
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        what = "the file is UTF-16 text, not JSON (shell redirection?)"
        rescan = "write the report with trivy's --format json --output FILE"
    elif head.startswith(b"\xef\xbb\xbf"):
        what = "the file starts with a byte-order mark (BOM), which JSON does not allow"
        rescan = "write the report with trivy's --format json --output FILE"
    elif head.startswith(b"\x1f\x8b"):
        what = "the file is gzip-compressed, not JSON"
        rescan = "decompress it first"
    elif text.startswith((b"{", b"[")):
        what = "the file is truncated or not JSON"
    elif b"\x00" in head:
        what = "the file is binary data, not JSON"
    else:
        decoded = head.decode("utf-8", errors="replace").lstrip()
        lowered = decoded[:200].lower()
        if decoded.startswith("SPDXVersion:"):
            what = "the file is an SPDX SBOM in tag-value form, not JSON"
            rescan = "scan the SBOM with `trivy sbom FILE --format json` and gate that report"
        elif lowered.startswith(("<!doctype html", "<html")):
            what = "the file is an HTML page (an error page from a server or proxy?), not JSON"
        elif decoded.startswith("<"):
            what = "the file is XML, not JSON"
        elif _TABLE.search(decoded):
            what = "the file looks like Trivy's table output, not JSON"
        else:
            what = "the file is text, not JSON"
    return f"{source}: not a readable Trivy JSON report ({detail}): {what}; {rescan}"


def _json_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_report(path: Path) -> Report:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report file") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a directory, not a Trivy JSON report") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read the report: {exc.strerror}") from None
    return parse_report(data, str(path))
