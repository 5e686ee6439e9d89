"""The remediation plan over reports the real Trivy 0.76 writes (offline DB of
`tests.support.plan_fixtures`): an npm package-lock.json, a Cargo.lock, a poetry.lock, a
go.mod and a Debian image archive, each with direct and transitive dependencies.

Through the real console script: the JSON result's `remediation` block, `--plan`'s table
section (on a real terminal, 80 columns), the Markdown summary's "Fix plan", and
`scan fs --plan` running Trivy itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TrivyScanner
from tests.support import plan_fixtures as pf
from tests.support.scanning import clean_env, run_scangate
from tests.support.terminal import run_on_a_tty, without_own_colours

TODAY = "2026-12-01"
IMAGE_TARGET_END = "(debian 12.7)"


@pytest.fixture(scope="module")
def reports(trivy_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real Trivy report per ecosystem, with --list-all-pkgs (as scangate scans)."""
    base = tmp_path_factory.mktemp("plan")
    pf.write_db(base / "cache")
    scanner = TrivyScanner(trivy_bin, base / "cache")
    out: dict[str, Path] = {}
    for name, write in pf.PROJECTS.items():
        project = write(base / "projects" / name)
        out[name] = scanner.fs(project, base / f"{name}.json", list_all_pkgs=True)
    archive = pf.write_image(base / "image.tar")
    out["image"] = scanner.image(archive, base / "image.json", extra=["--list-all-pkgs"])
    return out


def _check(tmp_path: Path, *args: str | Path) -> tuple[int, dict[str, Any]]:
    done = run_scangate(
        ["check", *args, "--format", "json", "--today", TODAY],
        cwd=tmp_path,
        env=clean_env(tmp_path),
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def _upgrades(doc: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        u["package"]: (
            u["installed_version"],
            u["upgrade_to"],
            u["major"],
            u["clears"],
            u["clears_failing"],
            tuple(u["ids"]),
            u["relationship"],
            tuple(u["via"]),
        )
        for u in doc["remediation"]["upgrades"]
    }


def _unfixable(doc: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        u["package"]: (u["installed_version"], tuple(u["ids"]))
        for u in doc["remediation"]["unfixable"]
    }


# --- what Trivy 0.76 writes ---------------------------------------------------------------


def test_trivy_writes_relationship_and_depends_on_per_ecosystem(reports: dict[str, Path]) -> None:
    """The facts the plan stands on, as Trivy 0.76 writes them with --list-all-pkgs."""

    def graph(name: str) -> dict[str, tuple[str | None, tuple[str, ...]]]:
        (result,) = json.loads(reports[name].read_text())["Results"]
        return {
            p["ID"]: (p.get("Relationship"), tuple(p.get("DependsOn") or ()))
            for p in result["Packages"]
        }

    # npm: no root package; direct and indirect, with DependsOn.
    npm = graph("npm")
    assert npm["a@1.0.0"] == ("direct", ("c@1.0.0",))
    assert npm["b@1.0.0"] == ("direct", ("minimist@1.2.0",))
    assert npm["c@1.0.0"] == ("indirect", ("minimist@1.2.0",))
    assert npm["minimist@1.2.0"] == ("indirect", ())
    # cargo: the crate itself is `root`.
    cargo = graph("cargo")
    assert cargo["app@0.1.0"] == ("root", ("chrono@0.4.0", "smallvec@1.6.0"))
    assert cargo["chrono@0.4.0"] == ("direct", ("time@0.2.20",))
    assert cargo["time@0.2.20"] == ("indirect", ())
    # poetry: direct from pyproject.toml, the graph from the lock file.
    poetry = graph("poetry")
    assert poetry["requests@2.19.0"] == ("direct", ("urllib3@1.9.0",))
    assert poetry["urllib3@1.9.0"] == ("indirect", ())
    # go.mod: `// indirect` modules hang off the root; go.mod does not say who needs them.
    go = graph("go")
    assert go["golang.org/x/text@v0.3.7"] == ("indirect", ())
    assert "golang.org/x/text@v0.3.7" in go["example.com/app"][1]
    # OS packages: no graph at all.
    image = graph("image")
    assert set(image.values()) == {(None, ())}


# --- the JSON result -------------------------------------------------------------------------


def test_npm_two_paths_several_advisories_and_string_order(
    reports: dict[str, Path], tmp_path: Path
) -> None:
    code, doc = _check(tmp_path, reports["npm"])
    assert code == 1
    assert _upgrades(doc) == {
        # Two advisories, each fixed on two release lines: 1.2.6 fixes both on the 1.x
        # line; reached through a (a -> c -> minimist) and through b.
        "minimist": (
            "1.2.0", "1.2.6", False, 2, 2, (pf.NPM_MINIMIST_1, pf.NPM_MINIMIST_2),
            "indirect", ("a", "b"),
        ),
        # 1.10.0 is after 1.9.2 (a string comparison says otherwise); the LOW one does not fail.
        "qs": ("1.9.0", "1.10.0", False, 2, 1, (pf.NPM_QS_1, pf.NPM_QS_2), "direct", ()),
        "lodash": ("4.17.11", "4.17.12", False, 1, 1, (pf.NPM_LODASH,), "direct", ()),
    }  # fmt: skip
    assert _unfixable(doc) == {"ip": ("2.0.0", (pf.NPM_IP,))}
    # Most failing findings cleared first.
    assert [u["package"] for u in doc["remediation"]["upgrades"]] == ["minimist", "qs", "lodash"]
    # The unfixed one is `unfixed` under the default policy: nothing fails after the plan.
    assert doc["remediation"]["passes_after"] is True
    assert doc["remediation"]["still_failing"] == {}


def test_cargo_fixed_list_across_release_lines_and_a_major_upgrade(
    reports: dict[str, Path], tmp_path: Path
) -> None:
    _, doc = _check(tmp_path, reports["cargo"])
    assert _upgrades(doc) == {
        # "0.6.14, 1.6.1" for 1.6.0: the 1.x line's fix.
        "smallvec": ("1.6.0", "1.6.1", False, 1, 1, (pf.CARGO_SMALLVEC,), "direct", ()),
        # 0.2.23 fixes one; only 0.3.0 (another line for 0.x) fixes both: major.
        "time": (
            "0.2.20", "0.3.0", True, 2, 1, (pf.CARGO_TIME, pf.CARGO_TIME_2),
            "indirect", ("chrono",),
        ),
    }  # fmt: skip
    assert _unfixable(doc) == {}


def test_poetry_pre_release_and_a_transitive_package_with_two_parents(
    reports: dict[str, Path], tmp_path: Path
) -> None:
    _, doc = _check(tmp_path, reports["poetry"])
    assert _upgrades(doc) == {
        "urllib3": (
            "1.9.0", "1.10.0", False, 2, 2, (pf.PIP_URLLIB3_1, pf.PIP_URLLIB3_2),
            "indirect", ("botocore", "requests"),
        ),
        # PEP 440: 2.0.0rc1 is before 2.0.0, on the same line.
        "flaskx": ("2.0.0rc1", "2.0.0", False, 1, 1, (pf.PIP_FLASKX,), "direct", ()),
        "requests": ("2.19.0", "2.20.0", False, 1, 1, (pf.PIP_REQUESTS,), "direct", ()),
    }  # fmt: skip
    assert _unfixable(doc) == {"jmespath": ("1.0.0", (pf.PIP_NOFIX,))}


def test_go_versions_keep_their_v_and_indirect_modules_name_no_parent(
    reports: dict[str, Path], tmp_path: Path
) -> None:
    _, doc = _check(tmp_path, reports["go"])
    assert _upgrades(doc) == {
        "github.com/acme/direct": ("v1.9.0", "v1.10.0", False, 1, 1, (pf.GO_DIRECT,), "direct", ()),
        # go.mod says `// indirect` but not which module needs it: no `via` is guessed.
        "golang.org/x/text": ("v0.3.7", "v0.3.8", False, 1, 1, (pf.GO_TEXT,), "indirect", ()),
    }  # fmt: skip


def test_debian_image_epochs_in_dpkg_order_and_no_graph(
    reports: dict[str, Path], tmp_path: Path
) -> None:
    _, doc = _check(tmp_path, reports["image"])
    # 1:2.10-1 is after 1:2.9-1 in dpkg order (not as strings); no graph: `unknown`.
    assert _upgrades(doc) == {
        "libfoo2": (
            "1:2.0-1", "1:2.10-1", False, 2, 2, (pf.DEB_FOO_1, pf.DEB_FOO_2), "unknown", (),
        ),
    }  # fmt: skip
    assert _unfixable(doc) == {"bar": ("1.0-1", (pf.DEB_BAR,))}
    (upgrade,) = doc["remediation"]["upgrades"]
    assert upgrade["target"].endswith(IMAGE_TARGET_END)


def test_what_still_fails_after_the_plan(reports: dict[str, Path], tmp_path: Path) -> None:
    """With unfixed vulnerabilities failing, the gate re-run without the cleared findings
    still fails, and says on what."""
    policy = tmp_path / "strict.yaml"
    policy.write_text("ignore-unfixed: false\n")
    all_reports = [reports[name] for name in ("npm", "cargo", "poetry", "go", "image")]
    code, doc = _check(tmp_path, *all_reports, "--policy", policy)
    assert code == 1
    plan = doc["remediation"]
    assert plan["passes_after"] is False
    assert plan["still_failing"] == {"vulnerability": 3}  # ip, jmespath, bar
    failing = [u["clears_failing"] for u in plan["upgrades"]]
    assert failing == sorted(failing, reverse=True)
    assert sum(failing) == doc["summary"]["failing"] - 3


def test_json_carries_the_plan_without_any_option_and_empty_without_vulnerabilities(
    tmp_path: Path,
) -> None:
    report = tmp_path / "empty.json"
    report.write_text(json.dumps({"SchemaVersion": 2, "ArtifactName": ".", "Results": []}))
    code, doc = _check(tmp_path, report)
    assert code == 0
    assert doc["remediation"] == {
        "upgrades": [],
        "unfixable": [],
        "passes_after": True,
        "still_failing": {},
    }


# --- the table, Markdown and scan fs ----------------------------------------------------


def test_plan_section_on_an_80_column_terminal(reports: dict[str, Path], tmp_path: Path) -> None:
    args = ["check", *map(str, reports.values()), "--plan", "--today", TODAY, "--color", "always"]
    code, _, received = run_on_a_tty(
        args, cwd=tmp_path, env=clean_env(tmp_path), stream="stdout", columns=80
    )
    assert code == 1
    text = without_own_colours(received).decode().replace("\r\n", "\n")
    assert "\x1b" not in text
    lines = text.split("\n")
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    start = next(i for i, line in enumerate(lines) if line.startswith("Fix plan: "))
    section = lines[start:]
    assert section[0] == "Fix plan: 11 upgrades clear 16 vulnerabilities (14 failing)"
    assert section[1].split() == ["Package", "Upgrade", "Clears", "Dependency", "Target"]
    assert section[3].split()[:4] == ["minimist", "1.2.0", "->", "1.2.6"]
    assert "via a, b" in section[3]
    assert any("0.2.20 -> 0.3.0 (major)" in line for line in section)
    assert "no fix yet: ip 2.0.0 in package-lock.json: " + pf.NPM_IP in section
    assert "After these upgrades the gate would pass." in section


def test_without_plan_the_table_has_no_section(reports: dict[str, Path], tmp_path: Path) -> None:
    done = run_scangate(
        ["check", reports["npm"], "--today", TODAY], cwd=tmp_path, env=clean_env(tmp_path)
    )
    assert done.returncode == 1
    assert "Fix plan" not in done.stdout
    env = clean_env(tmp_path, {"SCANGATE_PLAN": "1"})
    done = run_scangate(["check", reports["npm"], "--today", TODAY], cwd=tmp_path, env=env)
    assert "Fix plan: 3 upgrades clear 5 vulnerabilities (4 failing)" in done.stdout


def test_markdown_summary_has_a_short_fix_plan(reports: dict[str, Path], tmp_path: Path) -> None:
    done = run_scangate(
        ["check", reports["poetry"], "--format", "markdown", "--today", TODAY],
        cwd=tmp_path,
        env=clean_env(tmp_path),
    )
    assert done.returncode == 1
    text = done.stdout
    section = text[text.index("### Fix plan") :].split("\n")
    assert section[2] == "3 upgrades clear 4 failing findings:"
    assert section[4] == "| Package | Upgrade | Clears (failing) | Dependency | Target |"
    assert section[6] == (
        "| urllib3 | 1\\.9\\.0 \\-\\> 1\\.10\\.0 | 2 \\(2\\) | via botocore\\, requests | "
        "poetry\\.lock |"
    )
    assert "After these upgrades the gate would pass." in section


def test_scan_fs_plan_runs_trivy_with_the_graph(trivy_bin: Path, tmp_path: Path) -> None:
    """`scan fs --plan`: scangate's own Trivy run carries the graph through (--list-all-pkgs)."""
    cache = pf.write_scan_cache(tmp_path / "cache")
    pf.write_cargo(tmp_path / "repo")
    done = run_scangate(
        ["scan", "fs", "repo", "--cache-dir", cache, "--offline", "--trivy", trivy_bin,
         "--scanners", "vuln", "--plan", "--json", "result.json", "--today", TODAY],
        cwd=tmp_path,
        env=clean_env(tmp_path),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "time  " in done.stdout and "via chrono" in done.stdout
    doc = json.loads((tmp_path / "result.json").read_text())
    assert _upgrades(doc)["time"][6:] == ("indirect", ("chrono",))
