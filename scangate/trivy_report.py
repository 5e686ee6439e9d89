"""Reading Trivy's JSON report: `parse_report` and `load_report` validate it into the
`trivy_models` models, and every failure is a `ReportError` that names the report, what is
wrong and what to do.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from scangate.errors import ReportError
from scangate.findings import Kind
from scangate.trivy_models import FINDING_MODELS, MODIFIED_KINDS, Header, Report, validate

SUPPORTED_SCHEMA_VERSION = 2

_REPORT = TypeAdapter(Report)


def parse_report(data: bytes, source: str) -> Report:
    """Validate Trivy JSON straight from bytes (no intermediate dict: a 200 MB report fits).

    Every failure is a `ReportError` naming `source`, what is wrong and what to do.
    """
    # The parse allocates millions of acyclic objects; pausing the cyclic collector meanwhile
    # saves it from rescanning them all again and again (about 40% of parse time).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        report = _REPORT.validate_json(data)
    except ValidationError as exc:
        raise ReportError(_describe(exc, data, source)) from None
    finally:
        if gc_was_enabled:
            gc.enable()
    # A report that validates can still be another schema's (1, or a future 3): its fields
    # may mean something else, so refuse it rather than gate on a misreading.
    if report.schema_version != SUPPORTED_SCHEMA_VERSION:
        raise ReportError(_wrong_schema(source, report.schema_version))
    _check_modified(report, source)
    return report


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


def _severity_error(source: str, loc: tuple[int | str, ...], data: bytes) -> str | None:
    """`Results[i].<Kind>[j].Severity` invalid: read the finding back to name it."""
    if len(loc) != 5 or loc[0] != "Results" or loc[-1] != "Severity":
        return None
    kind = _SEVERITY_FIELDS.get(str(loc[2]))
    if kind is None or not isinstance(loc[1], int) or not isinstance(loc[3], int):
        return None
    try:  # only on this error path: the whole report again, as plain JSON
        result = json.loads(data)["Results"][loc[1]]
        raw = result[loc[2]][loc[3]]
    except (ValueError, KeyError, IndexError, TypeError):
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
        hint = "the file is empty" if not data.strip() else "the file is truncated or not JSON"
        return (
            f"{source}: not a readable Trivy JSON report ({detail}): {hint}; "
            "re-run trivy with --format json"
        )
    # Pydantic dataclasses report a non-object as `dataclass_type` (not `model_type`); at the
    # top level (empty loc) that is a JSON array, string, number or null.
    if not first["loc"] and first["type"] in ("model_type", "dataclass_type"):
        return f"{source}: not a Trivy JSON report (the top level is not an object)"
    try:
        header = TypeAdapter(Header).validate_json(data)
    except ValidationError:
        where = _json_path(first["loc"]) or "top level"
        return f"{source}: field {where}: {first['msg']}; is this an unmodified Trivy JSON report?"
    if header.schema_version is None:
        return (
            f"{source}: not a Trivy JSON report: SchemaVersion is missing "
            "(SARIF, CycloneDX or table output?); re-run trivy with --format json"
        )
    if header.schema_version != SUPPORTED_SCHEMA_VERSION:
        return _wrong_schema(source, header.schema_version)
    severity = _severity_error(source, first["loc"], data)
    if severity is not None:
        return severity
    where = _json_path(first["loc"])
    return f"{source}: field {where}: {first['msg']}; is this an unmodified Trivy JSON report?"


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
