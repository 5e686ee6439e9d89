"""Which scanners can find anything in the file versions a hook scans.

The misconfiguration scanner is the slow one: Trivy loads and compiles its checks (about
half a second) before it looks at a file. Every one of Trivy's misconfiguration analyzers
picks the files it reads by name alone (each analyzer's `Required(filePath, info)` in
`pkg/fanal/analyzer/config/*`), and the checks see only the files an analyzer picked. So a
set of files none of which any analyzer picks cannot give a misconfiguration, whatever they
hold: for such a set the scanner is not run. The hook scans only the versions a push adds
or changes, so a push of three Python files needs no misconfiguration run.

`misconfig_candidate` is a superset of those name rules as Trivy's source has them up to
0.76 (tests/test_hook_scanners.py checks it against the real binary), compared case-blind:
Dockerfile/Containerfile (`Dockerfile`, `Dockerfile.prod`, `app.dockerfile`), Terraform and
OpenTofu (`.tf`, `.tf.json`, `.tfvars`, `.tofu`, `.terraform/modules/modules.json`),
Terraform plans (`.tfplan`, `tfplan`, JSON), Kubernetes, CloudFormation, Azure ARM and the
generic YAML/JSON/TOML analyzers (`.yaml`, `.yml`, `.json`, `.toml`, `.template`), Helm
(`.tpl`, `.tar`, `.tgz`, `.tar.gz`, `Chart.yaml`, `.helmignore`) and Ansible (`ansible.cfg`,
`.ini`, and a name with no extension at all: inventories). Any doubt counts as a candidate:
it only costs time.

The vulnerability scanner's analyzers pick lock files, manifests, package metadata, archives,
SBOMs and OS package databases by name, and binaries by their executable bit: too many names
to list safely. So it is left out only the other way round: when every file is a
non-executable source or text file of a kind no analyzer reads (`vuln_candidate`: `.py`,
`.md`, `.go`, `.js`, ... by extension, never a name such as `requirements.txt` or
`package.json`, and `.php` not at all: `wp-includes/version.php` is read for WordPress).

The secret scanner reads every file, and the license scanner is always run when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MISCONFIG = "misconfig"
VULN = "vuln"

# Go's filepath.Ext of the base name, lower-cased: "" for a name without a dot.
_EXTENSIONS = frozenset(
    {
        "",  # Ansible inventories (`hosts`), and `Dockerfile` itself
        ".json", ".yaml", ".yml", ".toml", ".template", ".ini", ".cfg",
        ".tf", ".tfvars", ".tofu", ".hcl", ".tfplan",
        ".tpl", ".tar", ".tgz", ".gz",  # Helm charts and chart archives (.tar.gz)
        ".dockerfile", ".containerfile", ".helmignore", ".bicep",
    }
)  # fmt: skip
_NAMES = frozenset({"tfplan", "ansible.cfg", "chart.yaml", "chart.lock", ".helmignore"})
_IN_NAME = ("dockerfile", "containerfile")  # `Dockerfile.prod`, `prod.Dockerfile`, ...


# Source and prose no vulnerability analyzer of Trivy reads (lower-cased Go extensions).
_NOT_PACKAGES = frozenset(
    {
        ".py", ".pyi", ".md", ".rst", ".adoc", ".go", ".rs", ".java", ".kt", ".scala",
        ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".fs", ".swift", ".m", ".js", ".mjs",
        ".cjs", ".jsx", ".ts", ".tsx", ".vue", ".svelte", ".css", ".scss", ".less", ".html",
        ".htm", ".svg", ".sh", ".bash", ".zsh", ".ps1", ".sql", ".proto", ".graphql",
    }
)  # fmt: skip
_EXECUTABLE = "100755"


def go_ext(name: str) -> str:
    """Go's `filepath.Ext` of a base name: from its last dot on (`.bashrc` for `.bashrc`,
    where Python's `splitext` says ""), "" when it has none."""
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def misconfig_candidate(path: str) -> bool:
    """Whether some Trivy misconfiguration analyzer may read a file at `path` ("/"-separated,
    relative to the scanned root)."""
    base = path.rpartition("/")[2].casefold()
    if go_ext(base) in _EXTENSIONS or base in _NAMES:
        return True
    return any(part in base for part in _IN_NAME)


def vuln_candidate(path: str, mode: str) -> bool:
    """Whether some Trivy vulnerability analyzer may read a file at `path` with git `mode`:
    anything but a non-executable file with an extension of `_NOT_PACKAGES`."""
    return mode == _EXECUTABLE or go_ext(path.rpartition("/")[2].casefold()) not in _NOT_PACKAGES


def useful_scanners(scanners: Sequence[str], files: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """`scanners` less those no file of `files` ((path, git mode) pairs) is a candidate for:
    the misconfiguration and vulnerability scanners only."""
    files = list(files)
    drop = set()
    if MISCONFIG in scanners and not any(misconfig_candidate(path) for path, _ in files):
        drop.add(MISCONFIG)
    if VULN in scanners and not any(vuln_candidate(path, mode) for path, mode in files):
        drop.add(VULN)
    return tuple(s for s in scanners if s not in drop)
