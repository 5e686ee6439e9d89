"""Where a SARIF log puts things: each run's category and each result's file and line.

* Categories (`automationDetails.id`): `scangate/fs/<path>` for a directory, the scanned
  directory relative to the repository root ("." for the root itself and for a directory
  outside it), or for one scanned file (`_common.scanned_file`) that file's path;
  `scangate/image/<repository>` for an image, without tag or digest (`image_repository`);
  always with a trailing "/" (`automation_id`).
* Locations: URIs relative to the repository root (`uri_of`), lines from 1 (`line_of`); for a
  run that scanned one file (a file given to `trivy fs`, an SBOM) that file; and for
  image findings the final FROM of the Dockerfile the image is built from (`DockerfileRef`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from scangate.findings import Artifact
from scangate.formats._common import is_image_artifact, scanned_dir

CATEGORY_PREFIX = "scangate"


@dataclass(frozen=True)
class DockerfileRef:
    """Where image findings are located in the repository: the Dockerfile the image is built
    from (a repository-relative posix path) and the line of its final stage's FROM."""

    uri: str
    from_line: int

    @classmethod
    def from_text(cls, uri: str, text: str) -> DockerfileRef | None:
        """The reference for a Dockerfile's text, or None when it has no FROM."""
        line = final_from_line(text)
        return cls(uri, line) if line is not None else None


# --- the Dockerfile's final FROM ---------------------------------------------------------

_DIRECTIVE = re.compile(r"#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(\S*)\s*$")
_HEREDOC = re.compile(r"<<(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_.-]*)\2")
_HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})


def final_from_line(text: str) -> int | None:
    """The 1-based line of the last FROM instruction (the final build stage), or None.

    Follows the Dockerfile syntax: parser directives at the top (`# escape=` changes the
    line-continuation character), comment and blank lines (also inside a continued
    instruction), continuation lines, heredocs (`RUN <<EOF` ... `EOF`, whose body is not
    instructions) and case-insensitive keywords, so `from --platform=$BUILDPLATFORM x AS y`
    counts. The final stage is the image `docker build` makes without `--target`.
    """
    lines = text.lstrip("\ufeff").splitlines()
    escape = "\\"
    i = 0
    while i < len(lines):
        directive = _DIRECTIVE.match(lines[i].strip())
        if not directive:
            break
        if directive.group(1).lower() == "escape" and directive.group(2) in ("\\", "`"):
            escape = directive.group(2)
        i += 1

    last: int | None = None
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        logical = [stripped]
        continued = stripped.endswith(escape)
        while continued and i + 1 < len(lines):
            i += 1
            part = lines[i].strip()
            if not part or part.startswith("#"):
                continue
            logical.append(part)
            continued = part.endswith(escape)
        i += 1
        keyword = stripped.split(None, 1)[0].upper()
        if keyword == "FROM":
            last = start + 1
        elif keyword in _HEREDOC_INSTRUCTIONS:
            for dash, _, delimiter in _HEREDOC.findall(" ".join(logical)):
                while i < len(lines):
                    body = lines[i].lstrip("\t") if dash else lines[i]
                    i += 1
                    if body.rstrip() == delimiter:
                        break
    return last


# --- categories ---------------------------------------------------------------------------

_REFERENCE = re.compile(
    r"^(?:(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".tar.bz2", ".oci")


def image_repository(artifact: Artifact) -> str:
    """The image's repository without tag or digest (registry host:port kept).

    From the artifact name when it is an image reference; else (an archive or OCI layout
    given with `--input`) from its first RepoTag or RepoDigest; else the archive's file name
    without directories and archive suffixes. An untagged name that none of the image's
    tags knows (an OCI layout directory such as `build/oci`) gives way to its first tag.
    """
    name = artifact.name.strip()
    known = [r for r in map(_repository_of, (*artifact.repo_tags, *artifact.repo_digests)) if r]
    match = None if _looks_like_path(name) else _REFERENCE.match(name)
    if match:
        repository = _joined(match)
        tagged = match.group("tag") or match.group("digest")
        if (
            tagged
            or not known
            or any(k == repository or k.endswith(f"/{repository}") for k in known)
        ):
            return repository
    if known:
        return known[0]
    stem = PurePosixPath(name.replace("\\", "/").rstrip("/")).name
    for suffix in _ARCHIVE_SUFFIXES:
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem or "image"


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", ".", "~")) or "\\" in name or name.lower().endswith(_ARCHIVE_SUFFIXES)
    )


def _repository_of(reference: str) -> str | None:
    match = _REFERENCE.match(reference.strip())
    return _joined(match) if match else None


def _joined(match: re.Match[str]) -> str:
    host = match.group("host")
    return f"{host}/{match.group('path')}" if host else match.group("path")


def default_category(artifact: Artifact, source_root: Path, file: str | None = None) -> str:
    """`scangate/fs/<path>` or `scangate/image/<repository>` (see the module docstring);
    `file` is the one file the run scanned (`_common.scanned_file`), if any."""
    if is_image_artifact(artifact):
        return f"{CATEGORY_PREFIX}/image/{image_repository(artifact)}"
    return f"{CATEGORY_PREFIX}/fs/{file or scanned_dir(artifact, source_root)}"


def automation_id(category: str) -> str:
    # GitHub reads automationDetails.id up to its last "/" as the category and the rest as a
    # run id; a trailing "/" makes the whole id the category, as upload-sarif's own
    # `category` input does (codeql-action upload-lib.ts, getAutomationID).
    return category if category.endswith("/") else f"{category}/"


# RFC 3986 pchar: unreserved (kept by `quote`), sub-delims, ":" and "@"; "/" separates.
_PATH_SAFE = "/!$&'()*+,;=:@"


def uri_of(path: str) -> str:
    """A relative URI reference: only what RFC 3986 requires percent-encoded (`%`, spaces,
    `#`, `?`, non-ASCII, ...), so `chart.tgz:templates/pod.yaml` keeps its ":". A ":" in the
    first segment would read as a scheme (RFC 3986 section 4.2), so there, and only there, it
    is encoded: `a:b/c` becomes `a%3Ab/c`."""
    uri = quote(path, safe=_PATH_SAFE)
    first, slash, rest = uri.partition("/")
    return f"{first.replace(':', '%3A')}{slash}{rest}" if ":" in first else uri


def line_of(number: int | None) -> int:
    """A region's line: 1 for none (SARIF lines start at 1)."""
    return number if number and number > 0 else 1
