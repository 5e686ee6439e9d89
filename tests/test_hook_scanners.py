"""Which Trivy runs a push needs: no misconfiguration run when no pushed file is one a
misconfiguration analyzer reads, and the commit and tag messages scanned in the files'
secret run. Checked against the real Trivy: a skipped scanner could not have reported
anything, and a push adding a finding of a skipped kind's files still fails."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scangate import hook, hook_files, hook_text
from scangate.findings import Artifact, Finding, Kind, Location, ScanRun, Severity
from scangate.hook_scanners import go_ext, misconfig_candidate, useful_scanners, vuln_candidate
from tests.conftest import TrivyScanner
from tests.support import gitrepo, scanning, trivydb
from tests.support.gitrepo import Clone

ZERO = "0" * 40
TERRAFORM = 'resource "aws_s3_bucket" "logs" {\n  bucket = "logs"\n  acl    = "public-read"\n}\n'
# IaC Trivy flags, each under a name its analyzers read.
IAC = {
    "Dockerfile": scanning.DOCKERFILE,
    "deploy/web.yaml": scanning.DEPLOYMENT,
    "infra/main.tf": TERRAFORM,
}


# --- the name rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "Dockerfile", "dockerfile", "build/Dockerfile.prod", "app.dockerfile", "Containerfile",
        "prod-Dockerfile-v2", "k8s/pod.yaml", "pod.YML", "cfn/stack.json", "stack.template",
        "main.tf", "main.tf.json", "vars.tfvars", "x.tofu", "plan.tfplan", "tfplan",
        "chart/Chart.yaml", "chart/templates/_helpers.tpl", "chart/.helmignore",
        "charts/web-1.0.0.tgz", "charts/web.tar.gz", "charts/web.tar", "ansible.cfg",
        "inventory/hosts", "Makefile", "site.ini", "pyproject.toml",
        ".terraform/modules/modules.json",
    ],
)  # fmt: skip
def test_files_a_misconfiguration_analyzer_may_read_are_candidates(path: str) -> None:
    assert misconfig_candidate(path)


@pytest.mark.parametrize(
    "path",
    ["app/main.py", "README.md", "src/lib.rs", "web/app.js", ".gitignore", ".env",
     "notes.txt", "main.tf.bak", "deploy.yaml.orig", "docs/page.html", "a.b/c.py"],
)  # fmt: skip
def test_other_files_are_not(path: str) -> None:
    assert not misconfig_candidate(path)


def test_extensions_are_gos() -> None:
    # Go's filepath.Ext: a dotfile's whole name is its extension, unlike Python's splitext.
    assert (go_ext(".gitignore"), go_ext("hosts"), go_ext("a.tar.gz")) == (".gitignore", "", ".gz")


@pytest.mark.parametrize(
    ("path", "mode"),
    [
        ("requirements.txt", "100644"), ("requirements-dev.txt", "100644"),
        ("package.json", "100644"), ("Cargo.lock", "100644"), ("go.sum", "100644"),
        ("lib/app.jar", "100644"), ("etc/os-release", "100644"), ("bom.cdx.json", "100644"),
        ("wp-includes/version.php", "100644"), ("bin/tool", "100755"),
        ("scripts/run.py", "100755"), ("pyproject.toml", "100644"), ("Gemfile", "100644"),
    ],
)  # fmt: skip
def test_files_a_vulnerability_analyzer_may_read_are_candidates(path: str, mode: str) -> None:
    assert vuln_candidate(path, mode)


def test_plain_source_code_is_not_a_vulnerability_candidate() -> None:
    for path in ["app/main.py", "README.md", "cmd/main.go", "src/lib.rs", "web/app.ts"]:
        assert not vuln_candidate(path, "100644")


def test_only_the_misconfiguration_and_vulnerability_scanners_are_dropped() -> None:
    every = ("vuln", "misconfig", "secret", "license")
    code = [("a.py", "100644")]
    assert useful_scanners(every, code) == ("secret", "license")
    assert useful_scanners(every, [*code, ("Dockerfile", "100644")]) == every
    assert useful_scanners(every, [*code, ("k8s/a.yaml", "100644")]) == every
    assert useful_scanners(every, [*code, ("b.md", "100644")]) == ("secret", "license")
    assert useful_scanners(every, [("run.sh", "100755")]) == ("vuln", "secret", "license")
    assert useful_scanners(("misconfig",), []) == ()


def _versions(*layers: list[str]) -> hook_files.Materialized:
    return hook_files.Materialized(
        Path("/scan"),
        tuple(
            hook_files.FileVersion(path, f"{n}{path}", "100644", f"commit{n}", n)
            for n, paths in enumerate(layers)
            for path in paths
        ),
    )


def test_jobs_without_candidates_skip_misconfiguration() -> None:
    assert hook.scan_jobs(_versions(["a.py", "b.md"]), ["misconfig", "secret"]) == [
        hook.ScanJob(Path("/scan/0"), 0, ("secret",))
    ]
    assert hook.scan_jobs(_versions(["a.py"]), ["misconfig"]) == []
    assert hook.scan_jobs(_versions(["a.py"]), ["vuln", "misconfig", "secret"]) == [
        hook.ScanJob(Path("/scan/0"), 0, ("secret",))
    ]
    # Several layers: the run over every layer goes too, the secret runs stay.
    assert hook.scan_jobs(_versions(["a.py"], ["a.py"]), ["misconfig", "secret"]) == [
        hook.ScanJob(Path("/scan/0"), 0, ("secret",)),
        hook.ScanJob(Path("/scan/1"), 1, ("secret",)),
    ]
    # One candidate in any layer keeps it for the whole run.
    assert hook.scan_jobs(_versions(["a.py"], ["a.py", "k8s/x.yml"]), ["misconfig", "secret"])[
        0
    ] == hook.ScanJob(Path("/scan"), None, ("misconfig",))


# --- the real Trivy --------------------------------------------------------------------------


def _misconfigured_targets(trivy_scan: TrivyScanner, root: Path, out: Path) -> set[str]:
    report = json.loads(trivy_scan.fs(root, out, scanners="misconfig").read_text())
    return {
        result["Target"]
        for result in report.get("Results") or []
        if any(m.get("Status") == "FAIL" for m in result.get("Misconfigurations") or [])
    }


def test_trivy_reports_no_misconfiguration_for_files_that_are_not_candidates(
    trivy_scan: TrivyScanner, tmp_path: Path
) -> None:
    """The same IaC under names Trivy's analyzers read, and under names they do not: the
    first gives misconfigurations, the second nothing; the name rules agree with both."""
    named = tmp_path / "named"
    renamed = tmp_path / "renamed"
    others = {
        "image.txt": scanning.DOCKERFILE,
        "build.sh": scanning.DOCKERFILE,
        "deploy/web.yaml.txt": scanning.DEPLOYMENT,
        "pod.py": scanning.DEPLOYMENT,
        "infra/main.tf.bak": TERRAFORM,
    }
    for root, files in ((named, IAC), (renamed, others)):
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    assert all(misconfig_candidate(rel) for rel in IAC)
    assert not any(misconfig_candidate(rel) for rel in others)
    assert _misconfigured_targets(trivy_scan, named, tmp_path / "a.json") == set(IAC)
    assert _misconfigured_targets(trivy_scan, renamed, tmp_path / "b.json") == set()


def test_trivy_reports_no_vulnerability_for_files_that_are_not_candidates(
    trivy_scan: TrivyScanner, tmp_path: Path
) -> None:
    """Lock files and manifests of advisories in the test DB, under their own names and
    renamed to source-file names: only the first give packages or vulnerabilities."""
    named = trivydb.write_vulnerable_project(tmp_path / "named")
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for source in named.iterdir():
        (renamed / f"{source.name.replace('.', '_')}.py").write_bytes(source.read_bytes())
    assert all(vuln_candidate(p.name, "100644") for p in named.iterdir())
    assert not any(vuln_candidate(p.name, "100644") for p in renamed.iterdir())

    def found(root: Path, out: Path) -> set[str]:
        report = json.loads(trivy_scan.fs(root, out, list_all_pkgs=True).read_text())
        results = report.get("Results") or []
        return {r["Target"] for r in results if r.get("Packages") or r.get("Vulnerabilities")}

    assert found(named, tmp_path / "a.json") == {p.name for p in named.iterdir()}
    assert found(renamed, tmp_path / "b.json") == set()


# --- pushes ----------------------------------------------------------------------------------


@pytest.fixture
def clone(tmp_path: Path) -> Clone:
    clone = gitrepo.hooked_clone(tmp_path, gitrepo.git_env(tmp_path, {"SCANGATE_FORMAT": "json"}))
    clone.commit("initial", {"README.md": "# demo\n"})
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    return clone


def _runs(stderr: str) -> int:
    return stderr.count("scangate: running trivy fs")


def _findings(stdout: str) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = json.loads(stdout)["findings"]
    return findings


def _hook(clone: Clone, *args: str) -> subprocess.CompletedProcess[str]:
    """`scangate hook pre-push` by hand, for HEAD as a new branch of an empty remote."""
    line = f"refs/heads/main {clone.head()} refs/heads/other {ZERO}\n"
    return gitrepo.run_scangate(
        ["hook", "pre-push", *args, "elsewhere", "/nowhere"],
        cwd=clone.path,
        env=clone.env,
        input=line,
    )


def test_a_push_of_code_only_is_one_trivy_run_for_files_and_messages(
    clone: Clone, fake_github_token: str
) -> None:
    clone.commit("app", {"app/main.py": "X = 1\n"})
    sha = clone.commit(
        f"token {fake_github_token}", {"app/token.py": f'T = "{fake_github_token}"\n'}
    )
    push = clone.push("origin", "main")
    assert push.returncode == 1, push.stderr
    assert _runs(push.stderr) == 1, push.stderr
    assert "commit and tag messages" in push.stderr  # in the same run as the files
    targets = {(f["target"], f["decision"]) for f in _findings(push.stdout)}
    assert targets == {("app/token.py", "fail"), (f"commit {sha[:12]} message", "fail")}
    assert fake_github_token not in push.stdout + push.stderr


def test_folded_and_separate_message_runs_give_the_same_findings(
    clone: Clone, fake_github_token: str
) -> None:
    clone.commit(f"key {fake_github_token}", {"a.py": f'T = "{fake_github_token}"\n'})
    folded = _hook(clone)
    # A skip glob keeps the messages in their own run (their paths must not change then).
    apart = _hook(clone, "--skip-files", "no/such/file")
    assert (folded.returncode, apart.returncode) == (1, 1), folded.stderr + apart.stderr
    assert (_runs(folded.stderr), _runs(apart.stderr)) == (1, 2)
    assert {f["target"] for f in _findings(folded.stdout)} == {
        "a.py",
        f"commit {clone.head()[:12]} message",
    }
    assert _findings(folded.stdout) == _findings(apart.stdout)


def test_a_config_file_in_the_push_is_still_scanned_for_misconfigurations(
    clone: Clone,
) -> None:
    clone.commit("code", {"app/main.py": "X = 1\n"})
    clone.commit("image", {"build/Dockerfile.prod": scanning.DOCKERFILE, "b.py": "Y = 2\n"})
    push = clone.push("origin", "main")
    assert push.returncode == 1, push.stderr
    failing = {(f["kind"], f["id"], f["target"]) for f in _findings(push.stdout)}
    assert ("misconfiguration", "DS-0002", "build/Dockerfile.prod") in failing
    # The misconfiguration run, and the messages' own run beside it.
    assert _runs(push.stderr) == 2, push.stderr


def test_a_misconfiguration_only_scan_of_code_only_runs_no_trivy(clone: Clone) -> None:
    clone.commit("code", {"app/main.py": "X = 1\n"})
    done = _hook(clone, "--scanners", "misconfig")
    assert done.returncode == 0, done.stderr
    assert _runs(done.stderr) == 0


# --- the messages in the files' run ------------------------------------------------------------


def _layout(
    tmp_path: Path, *layers: list[str]
) -> tuple[hook_files.Materialized, hook_text.Messages]:
    versions = []
    for n, paths in enumerate(layers):
        for path in paths:
            (tmp_path / "files" / str(n) / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "files" / str(n) / path).write_text("x = 1\n")
            versions.append(hook_files.FileVersion(path, f"{n}{path}", "100644", "c", n))
    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / "1.txt").write_text("tree 0\n\nmessage\n")
    item = hook_text.Message("commit 0123456789ab message", "0" * 40, "commit", "1.txt")
    return (
        hook_files.Materialized(tmp_path / "files", tuple(versions)),
        hook_text.Messages(tmp_path / "messages", (item,)),
    )


def test_messages_move_into_a_secret_only_run_of_the_first_layer(tmp_path: Path) -> None:
    files, messages = _layout(tmp_path, ["a.py"], ["a.py"])
    jobs, moved = hook_text.fold_into(messages, hook.scan_jobs(files, ["secret"]), files)
    assert [(j.layer, j.messages) for j in jobs] == [(0, True), (1, False)]
    assert moved.root.parent == files.layer_dir(0) and (moved.root / "1.txt").is_file()
    assert not messages.root.exists()


def test_messages_keep_their_own_run_beside_a_run_of_every_layer(tmp_path: Path) -> None:
    files, messages = _layout(tmp_path, ["a.py", "Dockerfile"], ["a.py"])
    jobs, kept = hook_text.fold_into(
        messages, hook.scan_jobs(files, ["misconfig", "secret"]), files
    )
    assert jobs[-1] == hook.ScanJob(messages.root, None, ("secret",), messages=True)
    assert kept == messages and (messages.root / "1.txt").is_file()
    # One layer scanned for misconfigurations too: its run is not secret-only.
    files, messages = _layout(tmp_path / "one", ["Dockerfile"])
    jobs, _ = hook_text.fold_into(messages, hook.scan_jobs(files, ["misconfig", "secret"]), files)
    assert [(j.layer, j.messages) for j in jobs] == [(0, False), (None, True)]


def test_folded_findings_split_back_to_files_and_messages(tmp_path: Path) -> None:
    files, messages = _layout(tmp_path, ["app/a.py"])
    jobs, moved = hook_text.fold_into(messages, hook.scan_jobs(files, ["secret"]), files)
    name = moved.root.name
    run = ScanRun(
        Artifact(name="x", type="filesystem"),
        [
            Finding(Kind.SECRET, "github-pat", Severity.CRITICAL, "app/a.py"),
            Finding(
                Kind.SECRET, "github-pat", Severity.CRITICAL, f"{name}/1.txt",
                location=Location(f"{name}/1.txt", 3, 3),
            ),
        ],
    )  # fmt: skip
    own, texts = hook_text.split_messages(run, moved, jobs[0])
    assert [f.target for f in own.findings] == ["app/a.py"]
    assert [(f.target, f.location) for f in texts.findings] == [("1.txt", Location("1.txt", 3, 3))]
    remapped = hook_text.remap_messages(texts, moved)
    assert [f.target for f in remapped.run.findings] == ["commit 0123456789ab message"]


def test_messages_never_land_on_a_pushed_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scangate.hook_text.secrets.token_hex", lambda n: "ab" * n)
    files, messages = _layout(tmp_path, [f"Scangate-Messages-{'ab' * 8}/x.py"])
    jobs, kept = hook_text.fold_into(messages, hook.scan_jobs(files, ["secret"]), files)
    assert [(j.layer, j.messages) for j in jobs] == [(0, False), (None, True)]
    assert kept == messages


def test_a_fresh_db_is_not_opened_for_a_push_of_code_only(clone: Clone) -> None:
    scanning.write_db(Path(clone.env["SCANGATE_CACHE_DIR"]))
    clone.commit("code", {"app/main.py": "X = 1\n"})
    push = clone.push("origin", "main")
    assert push.returncode == 0, push.stderr
    # The files' run is secret-only (the messages share it): no vulnerability run.
    assert _runs(push.stderr) == 1, push.stderr
    # A lock file in the next push brings the vulnerability scanner back.
    clone.commit("deps", {"requirements.txt": "urllib3==1.22\n", "b.py": "Y = 2\n"})
    push = clone.push("origin", "main")
    assert push.returncode == 1, push.stderr
    found = {(f["kind"], f["package"], f["target"]) for f in _findings(push.stdout)}
    assert ("vulnerability", "urllib3", "requirements.txt") in found
