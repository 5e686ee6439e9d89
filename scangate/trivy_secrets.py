"""What Trivy's secret scanner leaves out by itself, and how scangate puts it back.

Two things hide a real token from `trivy fs` and the pre-push hook:

* Trivy's built-in *allow rules* drop every secret in a path that looks like a test,
  example, vendor, locale or Markdown file. scangate runs Trivy with its own secret config
  that disables them, so the policy, its allowlist and the baseline decide what is a test
  fixture (`Policy.trivy_secret_allow_rules` opts back in).
* Trivy never reads `node_modules/` for secrets (a hard-coded skip, not an allow rule). A
  directory is skipped by its path below the scan root, so one extra `--scanners secret` run
  rooted at each `node_modules` directory reads it, and its paths are mapped back.

Lock files (`package-lock.json`, `yarn.lock`, `go.sum`, ...), `.git/` and binary files stay
unscanned: the README lists them as limitations.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from scangate.errors import ReportError
from scangate.globs import glob_to_regex

# Trivy 0.76.0's built-in allow rules (pkg/fanal/secret/builtin-allow-rules.go). Every one
# is a *path* rule, and all are disabled: a token in README.md, docs/, tests/, examples/,
# vendor/, a locale dir or *.test.js is as live as anywhere else. `examples` also carries a
# *value* rule (`(?i)example` on the matched text), which goes with it: Trivy can disable a
# rule only whole, and the matched text can include text the author picks (a private key's
# `BEGIN EXAMPLE RSA PRIVATE KEY` header is still a usable key). So AWS's documented
# `...EXAMPLE` keys are now reported, and the policy allows them by path.
BUILTIN_ALLOW_RULES = (
    "tests",  # (^test|/test|-test|_test|\.test) anywhere in the path: tests/, *.test.js
    "examples",  # "example" in the path, or in the matched text
    "vendor",  # /vendor/
    "usr-dirs",  # ^usr/(share|include|lib)/
    "locale-dir",  # /locale/ or /locales/
    "markdown",  # *.md
    "node.js",  # ^opt/yarn-v*/ (container images)
    "golang",  # ^usr/local/go/
    "python",  # ^usr/local/lib/python*/
    "rubygems",  # ^usr/lib/gems/
    "wordpress",  # ^usr/src/wordpress/
    "anaconda-log",  # ^var/log/anaconda/
)

NODE_MODULES = "node_modules"
# Directories not to walk looking for node_modules: Trivy never reads .git for secrets.
_NOT_WALKED = frozenset({".git"})


def write_secret_config(directory: Path, *, trivy_allow_rules: bool) -> Path:
    """Write scangate's secret config into `directory` (the run's private temp dir).

    The name is random: Trivy skips a scanned file whose path equals the config's base name
    (pkg/fanal/analyzer/secret/secret.go `Required`), so a fixed name would let a file of
    that name at the root of the scanned tree go unscanned.
    """
    path = directory / f"scangate-secret-{secrets.token_hex(8)}.yaml"
    disabled = [] if trivy_allow_rules else list(BUILTIN_ALLOW_RULES)
    # JSON is YAML, and json.dumps quotes every ID (`node.js` stays a string).
    path.write_text(f"disable-allow-rules: {json.dumps(disabled)}\n", encoding="utf-8")
    return path


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A `--skip-dirs` / `--skip-files` glob as Trivy matches it, relative to the scan root."""
    return glob_to_regex(pattern.strip().removeprefix("./"))


@dataclass
class NodeModulesRun:
    """One extra secret run: the `node_modules` directory it is rooted at (relative to the
    scan root) and the dirs and files below it that the user's skip globs name, as literal
    paths relative to it."""

    rel: str
    skip_dirs: list[str] = field(default_factory=list)
    skip_files: list[str] = field(default_factory=list)


def node_modules_runs(
    root: Path, skip_dirs: Iterable[str], skip_files: Iterable[str]
) -> list[NodeModulesRun]:
    """A run for every `node_modules` directory below `root`, nested ones included (a run
    rooted at the outer one skips them too), sorted; none when there is none.

    Skip globs are matched here against paths relative to `root`, as in the main run, and
    passed on as literal paths: a glob cannot be rebased onto another root in general
    (`**/node_modules/b` names `b` only with the parent's name in the path). Symlinks are
    not followed (Trivy does not follow them either)."""
    dir_globs = [glob_regex(p) for p in skip_dirs]
    file_globs = [glob_regex(p) for p in skip_files]
    runs: dict[str, NodeModulesRun] = {}
    for current, dirs, files in os.walk(root):
        rel = Path(current).relative_to(root).as_posix()
        here = _enclosing(rel)
        keep = []
        for name in dirs:
            sub = name if rel == "." else f"{rel}/{name}"
            if name in _NOT_WALKED or (Path(current) / name).is_symlink():
                continue
            if any(glob.match(sub) for glob in dir_globs):
                if here is not None and name != NODE_MODULES:
                    runs[here[0]].skip_dirs.append(_literal(f"{here[1]}{name}"))
                continue
            if name == NODE_MODULES:
                runs[sub] = NodeModulesRun(sub)
            keep.append(name)
        dirs[:] = keep
        if here is not None and file_globs:
            for name in files:
                if any(glob.match(f"{rel}/{name}") for glob in file_globs):
                    runs[here[0]].skip_files.append(_literal(f"{here[1]}{name}"))
    for run in runs.values():  # os.walk's order is the filesystem's
        run.skip_dirs.sort()
        run.skip_files.sort()
    return [runs[key] for key in sorted(runs)]


def _enclosing(rel: str) -> tuple[str, str] | None:
    """For a directory path: its innermost enclosing (or own) `node_modules` directory, and
    its own path below that one with a trailing slash ("" for the directory itself)."""
    parts = rel.split("/")
    if NODE_MODULES not in parts:
        return None
    last = len(parts) - 1 - parts[::-1].index(NODE_MODULES)
    below = "/".join(parts[last + 1 :])
    return "/".join(parts[: last + 1]), f"{below}/" if below else ""


def _literal(path: str) -> str:
    """`path` as a glob that matches only itself."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", path)


def merge_reports(main: bytes, extra: list[tuple[str, bytes]]) -> bytes:
    """`main` (a Trivy JSON report) with the secret results of each `(prefix, report)` added,
    their targets put back under `prefix`. An unreadable `main` is returned untouched (the
    parser after this refuses it); an unreadable extra report is a `ReportError`, never a
    silently smaller result."""
    if not extra:
        return main
    try:
        report = json.loads(main)
    except ValueError:
        return main
    if not isinstance(report, dict):
        return main
    results = report.get("Results") or []
    if not isinstance(results, list):
        return main
    for prefix, raw in extra:
        try:
            other = json.loads(raw)
        except ValueError:
            other = None
        if not isinstance(other, dict) or not isinstance(other.get("Results") or [], list):
            raise ReportError(
                f"trivy secret scan of {prefix}: its output is not a Trivy JSON report"
            )
        for result in other.get("Results") or []:
            if isinstance(result, dict) and result.get("Secrets"):
                result["Target"] = f"{prefix}/{result.get('Target', '')}"
                results.append(result)
    report["Results"] = results
    return json.dumps(report).encode("utf-8")
