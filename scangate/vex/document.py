"""Reading `--vex` files: size-capped, JSON, one of the three formats Trivy reads, and for
OpenVEX every statement checked field by field. A file that does not fit is a `UsageError`
(exit 2) naming the file, the field and the fix: a gate must not guess at its exceptions.

Only OpenVEX is read into statements. CycloneDX VEX and CSAF are checked for their shape and
passed to Trivy as they are (a CycloneDX VEX refers to the components of an SBOM, a CSAF
document to its own product tree: Trivy resolves those while it scans).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scangate._yaml import cut, quote
from scangate.errors import UsageError
from scangate.findings import VexNote, match_key

if TYPE_CHECKING:
    from scangate.allow import AllowEntry

# A VEX document is statements, not data: 16 MiB holds about 50,000 of them.
MAX_BYTES = 16 * 1024 * 1024
MAX_STATEMENTS = 100_000
# Statement texts are kept this long at most (a reason is shown on one line).
MAX_TEXT = 1000
STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
OPENVEX_CONTEXT = "https://openvex.dev/ns"


@dataclass(frozen=True, eq=False)
class VexStatement:
    """One OpenVEX statement; compared by identity (the gate counts which ones were used)."""

    source: str  # the file as the user named it
    index: int  # its position in `statements`
    vulnerability: str
    aliases: tuple[str, ...]
    products: tuple[str, ...]  # package URLs (`@id` or `identifiers.purl`)
    subcomponents: tuple[str, ...]
    status: str
    justification: str = ""
    impact: str = ""  # impact_statement, or action_statement for `affected`
    timestamp: str = ""  # the statement's, else the document's (the latest statement wins)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(match_key(v) for v in (self.vulnerability, *self.aliases))

    @property
    def origin(self) -> str:
        return f"VEX {self.source} statements[{self.index}]"

    def note(self, others: tuple[VexStatement, ...] = ()) -> VexNote:
        return VexNote(self.status, self.source, self.justification, self.impact, self, others)

    def entry(self) -> AllowEntry:
        """The statement as an allow entry, to list it with the unused allow entries."""
        from scangate.allow import AllowEntry

        said = ": ".join(t for t in (self.justification, self.impact) if t)
        reason = f"{self.status}: {said}" if said else self.status
        return AllowEntry(id=self.vulnerability, reason=reason, origin=self.origin)


@dataclass(frozen=True)
class VexFile:
    label: str  # the path as the user gave it
    format: str  # "openvex", "cyclonedx" or "csaf"
    data: bytes  # the bytes validated: what Trivy is given (a copy, read once)
    statements: tuple[VexStatement, ...] = ()


def load(paths: list[Path]) -> tuple[VexFile, ...]:
    """Every `--vex` file read and validated, in the order given."""
    return tuple(load_one(path) for path in paths)


def load_one(path: Path) -> VexFile:
    label = str(path)
    data = _read(path, label)
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        problem = f"not JSON ({cut(str(exc), 120)})"
        raise _bad(label, "", problem, "give a VEX file as JSON") from None
    if not isinstance(doc, dict):
        raise _bad(label, "", "not a JSON object", "give an OpenVEX, CycloneDX VEX or CSAF file")
    context = doc.get("@context")
    if isinstance(context, str) and context.startswith(OPENVEX_CONTEXT):
        return VexFile(label, "openvex", data, _openvex(doc, label))
    if doc.get("bomFormat") == "CycloneDX":
        _cyclonedx(doc, label)
        return VexFile(label, "cyclonedx", data)
    document = doc.get("document")
    if isinstance(document, dict) and "csaf_version" in document:
        _csaf(doc, label)
        return VexFile(label, "csaf", data)
    raise _bad(
        label,
        "",
        "neither OpenVEX ('@context' https://openvex.dev/ns...), CycloneDX ('bomFormat') "
        "nor CSAF ('document.csaf_version')",
        "give a VEX document in one of those formats",
    )


def _read(path: Path, label: str) -> bytes:
    # Not through a FIFO or a device: opened without blocking, only a regular file is read.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UsageError(f"--vex {cut(label)}: no such file") from None
    except OSError as exc:
        raise UsageError(f"--vex {cut(label)}: cannot read it: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"--vex {cut(label)}: not a regular file")
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--vex {cut(label)}: cannot read it: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise UsageError(
            f"--vex {cut(label)}: larger than {MAX_BYTES // (1024 * 1024)} MiB: "
            "split it into several VEX files"
        )
    return data


def _bad(label: str, field: str, problem: str, fix: str) -> UsageError:
    where = f"{field}: " if field else ""
    return UsageError(f"--vex {cut(label)}: {where}{problem}: {fix}")


def _text(value: object, label: str, field: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        what = "missing" if value is None else f"{quote(value)} is not a non-empty string"
        raise _bad(label, field, what, "write it as a string")
    return value.strip()[:MAX_TEXT]


def _list(value: object, label: str, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(label, field, f"{quote(value)} is not a list", "write a JSON array")
    return value


def _openvex(doc: dict[str, Any], label: str) -> tuple[VexStatement, ...]:
    statements = doc.get("statements")
    if not isinstance(statements, list) or not statements:
        raise _bad(label, "statements", "missing or empty", "list at least one statement")
    if len(statements) > MAX_STATEMENTS:
        raise _bad(label, "statements", f"more than {MAX_STATEMENTS:,}", "split the document")
    stamp = _text(doc.get("timestamp"), label, "timestamp")
    return tuple(_statement(raw, i, label, stamp) for i, raw in enumerate(statements))


def _statement(raw: object, i: int, label: str, stamp: str) -> VexStatement:
    at = f"statements[{i}]"
    if not isinstance(raw, dict):
        raise _bad(label, at, "not an object", "write each statement as a JSON object")
    vuln = raw.get("vulnerability")
    if isinstance(vuln, str):  # OpenVEX before 0.2.0 named it with a string
        vuln = {"name": vuln}
    if not isinstance(vuln, dict):
        raise _bad(label, f"{at}.vulnerability", "missing or not an object", 'write {"name": ID}')
    name = _text(vuln.get("name"), label, f"{at}.vulnerability.name", required=True)
    aliases = tuple(
        _text(a, label, f"{at}.vulnerability.aliases[{j}]", required=True)
        for j, a in enumerate(_list(vuln.get("aliases"), label, f"{at}.vulnerability.aliases"))
    )
    status = raw.get("status")
    if status not in STATUSES:
        raise _bad(
            label,
            f"{at}.status",
            f"{quote(status)} is not a VEX status",
            f"use {', '.join(STATUSES)}",
        )
    justification = _text(raw.get("justification"), label, f"{at}.justification")
    impact = _text(raw.get("impact_statement"), label, f"{at}.impact_statement")
    action = _text(raw.get("action_statement"), label, f"{at}.action_statement")
    if status == "not_affected" and not (justification or impact):
        raise _bad(
            label,
            at,
            "not_affected without a justification or an impact_statement",
            "say why the product is not affected (the OpenVEX spec requires one)",
        )
    products: list[str] = []
    subcomponents: list[str] = []
    for j, product in enumerate(_list(raw.get("products"), label, f"{at}.products")):
        where = f"{at}.products[{j}]"
        products += _component(product, label, where)
        if isinstance(product, dict):
            for k, sub in enumerate(
                _list(product.get("subcomponents"), label, f"{where}.subcomponents")
            ):
                subcomponents += _component(sub, label, f"{where}.subcomponents[{k}]")
    return VexStatement(
        source=label,
        index=i,
        vulnerability=name,
        aliases=aliases,
        products=tuple(products),
        subcomponents=tuple(subcomponents),
        status=status,
        justification=justification,
        impact=impact or action,
        timestamp=_text(raw.get("timestamp"), label, f"{at}.timestamp") or stamp,
    )


def _component(raw: object, label: str, where: str) -> list[str]:
    """The package URLs naming a product or subcomponent (a plain string in old OpenVEX)."""
    if isinstance(raw, str):
        raw = {"@id": raw}
    if not isinstance(raw, dict):
        raise _bad(label, where, "not an object", 'write {"@id": "pkg:..."}')
    ident = _text(raw.get("@id"), label, f"{where}.@id")
    identifiers = raw.get("identifiers")
    if identifiers is not None and not isinstance(identifiers, dict):
        raise _bad(label, f"{where}.identifiers", "not an object", 'write {"purl": "pkg:..."}')
    purl = _text((identifiers or {}).get("purl"), label, f"{where}.identifiers.purl")
    return [p for p in dict.fromkeys((ident, purl)) if p.startswith("pkg:")]


def _cyclonedx(doc: dict[str, Any], label: str) -> None:
    vulns = doc.get("vulnerabilities")
    if not isinstance(vulns, list) or not vulns:
        raise _bad(label, "vulnerabilities", "missing or empty", "a CycloneDX VEX lists them")
    for i, vuln in enumerate(vulns):
        at = f"vulnerabilities[{i}]"
        if not isinstance(vuln, dict):
            raise _bad(label, at, "not an object", "write each vulnerability as a JSON object")
        _text(vuln.get("id"), label, f"{at}.id", required=True)
        analysis = vuln.get("analysis")
        if analysis is not None and not isinstance(analysis, dict):
            raise _bad(label, f"{at}.analysis", "not an object", 'write {"state": ...}')
        _list(vuln.get("affects"), label, f"{at}.affects")


def _csaf(doc: dict[str, Any], label: str) -> None:
    vulns = doc.get("vulnerabilities")
    if not isinstance(vulns, list) or not vulns:
        raise _bad(label, "vulnerabilities", "missing or empty", "a CSAF VEX lists them")
    for i, vuln in enumerate(vulns):
        if not isinstance(vuln, dict):
            raise _bad(label, f"vulnerabilities[{i}]", "not an object", "fix the CSAF document")
    tree = doc.get("product_tree")
    if tree is not None and not isinstance(tree, dict):
        raise _bad(label, "product_tree", "not an object", "fix the CSAF document")


def statements(files: tuple[VexFile, ...]) -> tuple[VexStatement, ...]:
    return tuple(s for f in files for s in f.statements)


__all__ = ["VexFile", "VexStatement", "load", "load_one", "statements"]
