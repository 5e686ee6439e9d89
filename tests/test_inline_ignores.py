"""Inline `#trivy:ignore` comments: Trivy drops what they name without a trace; scangate finds
every such comment in the scanned tree and puts what it hid under the policy.

End to end through the real `scangate` console script and the real Trivy (offline,
misconfig only, so no vulnerability DB is needed); the comment parser and the gate's
decisions also alone.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from scangate import inline_comments
from scangate.findings import Artifact, Finding, InlineIgnore, Kind, Location, ScanRun, Severity
from scangate.gate import Decision, evaluate
from scangate.policy import InlineIgnores, load_policy
from tests.support import gitrepo, scanning
from tests.support.gitrepo import Clone
from tests.support.scanning import run_scangate

TODAY = date.today()  # Trivy judges `exp:` by the real clock, so the tests do too
SOON = (TODAY + timedelta(days=30)).isoformat()

# Every check of this bucket is hidden by the one comment (AWS-0086 ... AWS-0132).
TERRAFORM = """\
#trivy:ignore:*
resource "aws_s3_bucket" "site" {
  bucket = "site"
  acl    = "public-read"
}
"""
# The comment above a `module` block hides findings in the module's files, elsewhere.
MODULE_CALL = """\
// trivy:ignore:*
module "logs" {
  source = "../modules/logs"
}
"""
MODULE = """\
resource "aws_s3_bucket" "logs" {
  bucket = "logs"
  acl    = "public-read"
}
"""
DOCKERFILE = """\
FROM alpine:3.19
RUN apk add --no-cache curl
HEALTHCHECK CMD true
# trivy:ignore:DS-0002{exp}
USER root
"""
CLOUDFORMATION = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  # trivy:ignore:* the public website
  Site:
    Type: AWS::S3::Bucket
    Properties:
      AccessControl: PublicRead
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def commented_tree(root: Path, exp: str = "") -> Path:
    return write(
        root,
        {
            "site/main.tf": TERRAFORM,
            "app/main.tf": MODULE_CALL,
            "modules/logs/main.tf": MODULE,
            "docker/Dockerfile": DOCKERFILE.format(exp=exp),
            "cf/template.yaml": CLOUDFORMATION,
        },
    )


def scan(tmp_path: Path, tree: Path, *args: str) -> tuple[int, str, str, dict[str, Any]]:
    result = tmp_path / "result.json"
    proc = run_scangate(
        ["scan", "fs", tree, "--offline", "--scanners", "misconfig",
         "--cache-dir", tmp_path / "cache", "--json", result, *args],
        cwd=tmp_path,
        env=scanning.clean_env(tmp_path),
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, proc.stdout, proc.stderr, json.loads(result.read_text())


def decided(result: dict[str, Any], check: str, target: str) -> list[dict[str, Any]]:
    return [f for f in result["findings"] if f["id"] == check and f["target"] == target]


def one(result: dict[str, Any], check: str, target: str) -> dict[str, Any]:
    found = decided(result, check, target)
    assert len(found) == 1, found
    return found[0]


# --- end to end ------------------------------------------------------------------------------


def test_hidden_findings_are_allowed_with_the_comment_by_default(tmp_path: Path) -> None:
    tree = commented_tree(tmp_path / "repo")
    code, stdout, stderr, result = scan(tmp_path, tree)
    assert code == 0, stdout
    # Trivy reported none of these; each is back, allowed by its comment (file:line).
    bucket = one(result, "AWS-0092", "site/main.tf")
    assert bucket["decision"] == "allowed"
    assert bucket["reason"] == "inline ignore comment site/main.tf:1: #trivy:ignore:*"
    assert bucket["location"]["start_line"] == 4
    for check in ("AWS-0086", "AWS-0087", "AWS-0091", "AWS-0093", "AWS-0132"):
        assert one(result, check, "site/main.tf")["decision"] == "allowed"
    module = one(result, "AWS-0092", "modules/logs/main.tf")
    assert module["decision"] == "allowed"
    assert module["reason"] == "inline ignore comment app/main.tf:1: // trivy:ignore:*"
    docker = one(result, "DS-0002", "docker/Dockerfile")
    assert docker["decision"] == "allowed"
    assert docker["reason"] == ("inline ignore comment docker/Dockerfile:4: # trivy:ignore:DS-0002")
    cloudformation = one(result, "AWS-0092", "cf/template.yaml")
    assert cloudformation["decision"] == "allowed"
    assert cloudformation["reason"] == (
        "inline ignore comment cf/template.yaml:3: # trivy:ignore:* the public website"
    )
    # The table names the comment too; one extra misconfig-only Trivy run found them.
    assert "allowed (1): DS-0002: inline ignore comment docker/Dockerfile:4" in stdout
    assert stderr.count("scangate: running trivy fs") == 2
    assert "without its inline ignores" in stderr


def test_report_decides_as_if_the_comments_were_not_there(tmp_path: Path) -> None:
    tree = commented_tree(tmp_path / "repo")
    (tmp_path / "policy.yaml").write_text("inline-ignores: report\n")
    code, _, _, result = scan(tmp_path, tree, "--policy", str(tmp_path / "policy.yaml"))
    assert code == 1
    docker = one(result, "DS-0002", "docker/Dockerfile")
    assert docker["decision"] == "fail"
    assert docker["reason"] == (
        "HIGH misconfiguration at or above fail-on HIGH; Trivy dropped it for the inline "
        "ignore comment docker/Dockerfile:4, which the policy does not honour "
        "(inline-ignores: report)"
    )
    assert one(result, "AWS-0092", "modules/logs/main.tf")["decision"] == "fail"
    assert one(result, "AWS-0092", "site/main.tf")["decision"] == "fail"


def test_strict_fails_a_comment_without_expiry_and_names_it(tmp_path: Path) -> None:
    tree = commented_tree(tmp_path / "repo")
    code, _, _, result = scan(tmp_path, tree, "--policy", "strict")
    assert code == 1
    docker = one(result, "DS-0002", "docker/Dockerfile")
    assert docker["decision"] == "fail"
    assert "the inline ignore comment docker/Dockerfile:4 has no expiry date" in docker["reason"]
    assert "trivy:ignore:DS-0002:exp:YYYY-MM-DD" in docker["reason"]
    assert not [f for f in result["findings"] if f["decision"] == "allowed"]


@pytest.mark.parametrize(
    ("exp", "code", "decision", "reason"),
    [
        (SOON, 0, "allowed", f"# trivy:ignore:DS-0002:exp:{SOON}"),
        ((TODAY + timedelta(days=200)).isoformat(), 1, "fail", "more than max-days 90"),
    ],
    ids=["within-max-days", "beyond-max-days"],
)
def test_strict_honours_a_comment_with_a_near_expiry(
    tmp_path: Path, exp: str, code: int, decision: str, reason: str
) -> None:
    tree = write(tmp_path / "repo", {"Dockerfile": DOCKERFILE.format(exp=f":exp:{exp}")})
    got, _, _, result = scan(tmp_path, tree, "--policy", "strict")
    assert got == code
    docker = one(result, "DS-0002", "Dockerfile")
    assert docker["decision"] == decision
    assert reason in docker["reason"]
    assert "Dockerfile:4" in docker["reason"]


def test_an_expired_comment_fails_the_finding_and_is_named(tmp_path: Path) -> None:
    # Trivy no longer hides the finding; scangate names the comment that meant to.
    tree = write(tmp_path / "repo", {"Dockerfile": DOCKERFILE.format(exp=":exp:2020-01-01")})
    code, _, _, result = scan(tmp_path, tree)
    assert code == 1
    docker = one(result, "DS-0002", "Dockerfile")
    assert docker["decision"] == "fail"
    assert docker["reason"] == (
        "HIGH misconfiguration at or above fail-on HIGH; "
        "the inline ignore comment Dockerfile:4 expired 2020-01-01"
    )


def test_a_comment_for_another_check_hides_nothing_and_counts_nothing_twice(
    tmp_path: Path,
) -> None:
    tree = write(
        tmp_path / "repo",
        {
            "main.tf": "#trivy:ignore:AWS-0001\n" + TERRAFORM.split("\n", 1)[1],
            "Dockerfile": DOCKERFILE.format(exp="").replace("DS-0002", "DS-0001"),
        },
    )
    code, _, stderr, result = scan(tmp_path, tree)
    assert code == 1
    assert stderr.count("scangate: running trivy fs") == 2  # comments exist: one more run
    for check, target in (("DS-0002", "Dockerfile"), ("AWS-0092", "main.tf")):
        finding = one(result, check, target)  # exactly once
        assert finding["decision"] == "fail"
        assert "inline ignore" not in finding["reason"]
    fingerprints = [f["fingerprint"] for f in result["findings"]]
    assert len(fingerprints) == len(set(fingerprints))


def test_a_tree_without_comments_costs_no_extra_run(tmp_path: Path) -> None:
    tree = write(tmp_path / "repo", {"Dockerfile": DOCKERFILE.format(exp="").replace("# t", "# ")})
    code, _, stderr, result = scan(tmp_path, tree)
    assert code == 1
    assert stderr.count("scangate: running trivy fs") == 1
    assert one(result, "DS-0002", "Dockerfile")["decision"] == "fail"
    assert list((tmp_path / "tmp").iterdir()) == []  # no shadow tree left behind


def test_a_module_outside_the_scanned_directory_is_followed(tmp_path: Path) -> None:
    # `scan fs infra/app` of a monorepo whose module lives two levels up: Trivy reads it,
    # and the comment above the module block hides its findings.
    repo = write(
        tmp_path / "repo",
        {
            "infra/app/main.tf": MODULE_CALL.replace("../modules", "../../modules"),
            "modules/logs/main.tf": MODULE,
        },
    )
    code, _, _, result = scan(tmp_path, repo / "infra" / "app")
    assert code == 0
    module = one(result, "AWS-0092", "../../modules/logs/main.tf")
    assert module["decision"] == "allowed"
    assert module["reason"] == "inline ignore comment main.tf:1: // trivy:ignore:*"
    # The shadow reached the module through symlinks; removing it removed none of the tree.
    assert (repo / "modules" / "logs" / "main.tf").read_text() == MODULE
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_comment_in_a_file_that_looks_binary_is_found(tmp_path: Path) -> None:
    # Trivy parses a Dockerfile holding a NUL byte, and honours its comments.
    tree = tmp_path / "repo"
    tree.mkdir()
    (tree / "Dockerfile").write_bytes(b"# \0\n" + DOCKERFILE.format(exp="").encode())
    code, _, _, result = scan(tmp_path, tree)
    assert code == 0
    docker = one(result, "DS-0002", "Dockerfile")
    assert docker["reason"] == "inline ignore comment Dockerfile:5: # trivy:ignore:DS-0002"


# --- the pre-push hook -----------------------------------------------------------------------


def test_the_pre_push_hook_puts_inline_ignores_under_the_policy(tmp_path: Path) -> None:
    env = gitrepo.git_env(tmp_path)
    clone: Clone = gitrepo.make_clone(tmp_path, env)
    assert gitrepo.run_scangate(["hook", "install"], cwd=clone.path, env=env).returncode == 0
    clone.commit("readme", {"README.md": "# demo\n"})
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    # Two versions of the Dockerfile: the hook scans them in one run over numbered folders.
    clone.commit("container", {"Dockerfile": "FROM alpine:3.19\nUSER 10001\n"})
    clone.commit("root", {"Dockerfile": DOCKERFILE.format(exp="")})
    clone.env["SCANGATE_POLICY"] = "strict"
    push = clone.push("origin", "main")
    assert push.returncode != 0, push.stdout + push.stderr
    assert "HIGH        misconfiguration  DS-0002" in push.stdout
    clone.env["SCANGATE_POLICY"] = "pre-push"
    push = clone.push("origin", "main")
    assert push.returncode == 0, push.stdout + push.stderr
    # Named by its path in the repository, not the hook's scratch folder.
    assert "allowed (1): DS-0002: inline ignore comment Dockerfile:4" in push.stdout


# --- the parts alone -------------------------------------------------------------------------


def test_the_comment_parser_reads_trivys_forms() -> None:
    text = "\n".join(
        [
            "resource {}",  # 1
            "# trivy:ignore:AWS-0001 why not",  # 2: a stack of three lines ...
            "//tfsec:ignore:aws-s3-enable-versioning[bucket=x]:exp:2031-01-31",  # 3
            "/* trivy:ignore:AWS-* */ #trivy:ignore:B:exp:2031-13-01",  # 4
            'resource "x" "y" {',  # 5: ... applies here
            '  acl = "x" # trivy:ignore:C:exp:2031-01-01:exp:2030-01-01',  # 6: same line
            "  # trivy:exp:2031-01-01",  # 7: no ignore section: no rule
            "  # trivy:ignore",  # 8: no ID: no rule
            "  image: aquasec/trivy:0.76 # TRIVY:IGNORE:X",  # 9: Trivy is case-sensitive
            "}",
        ]
    )
    rules = inline_comments.parse_rules(text, "main.tf")
    got = [(r.line, r.id, r.expires, r.bad_expiry, r.applies_to) for r in rules]
    assert got == [
        (2, "AWS-0001", None, None, 5),
        (3, "aws-s3-enable-versioning", date(2031, 1, 31), None, 5),
        (4, "AWS-*", None, None, 5),
        (4, "B", None, "2031-13-01", 5),
        # Two dates: the earliest, and marked (Trivy would take the last).
        (6, "C", date(2030, 1, 1), "2031-01-01 and 2030-01-01", 7),
    ]
    assert rules[0].comment == "# trivy:ignore:AWS-0001 why not"
    assert rules[3].ids == ("AWS-*", "B")
    assert rules[4].comment == "# trivy:ignore:C:exp:2031-01-01:exp:2030-01-01"


def test_neutralising_keeps_every_byte_and_line_but_no_rule() -> None:
    text = (
        b"#trivy:ignore:*\n// tfsec:ignore:AWS-0001\n/*trivy:exp:2030-01-01:ignore:X*/\n"
        b"image: aquasec/trivy:0.76  # Trivy:Ignore:Y\n"
    )
    out = inline_comments.neutralise(text)
    assert len(out) == len(text)
    assert out.count(b"\n") == text.count(b"\n")
    assert inline_comments.parse_rules(out.decode(), "f") == []
    assert b"aquasec/trivy:0.76" in out  # an image tag is not a comment
    assert inline_comments.parse_rules(text.decode(), "f") != []


def run_of(inline: InlineIgnore) -> ScanRun:
    f = Finding(
        kind=Kind.MISCONFIGURATION,
        id="DS-0002",
        severity=Severity.HIGH,
        target="Dockerfile",
        location=Location("Dockerfile", 5, 5),
        inline_ignore=inline,
    )
    return ScanRun(artifact=Artifact(name=".", type="filesystem"), findings=[f])


@pytest.mark.parametrize(
    ("inline", "policy", "decision", "reason"),
    [
        (InlineIgnore("Dockerfile", 4, ("DS-0002",), comment="# c"), "default",
         Decision.ALLOWED, "inline ignore comment Dockerfile:4: # c"),
        (InlineIgnore("Dockerfile", 4, ("DS-0002",), TODAY), "default",
         Decision.FAIL, f"Dockerfile:4 expired {TODAY.isoformat()}"),
        (InlineIgnore("Dockerfile", 4, ("DS-0002",), bad_expiry="2031-02-30"), "default",
         Decision.FAIL, "unreadable or repeated exp: (2031-02-30)"),
        (InlineIgnore("Dockerfile", 4, ("DS-0002",)), "strict",
         Decision.FAIL, "has no expiry date, and the policy sets require-expiry"),
        # Trivy reported it anyway: the comment never allows it, whatever its date.
        (InlineIgnore("Dockerfile", 4, ("DS-0002",), TODAY + timedelta(days=3), suppressed=False),
         "default", Decision.FAIL, "fail-on HIGH"),
    ],
    ids=["honoured", "expired-today", "bad-date", "strict-no-expiry", "not-suppressed"],
)  # fmt: skip
def test_the_gate_decides_inline_ignores(
    inline: InlineIgnore, policy: str, decision: Decision, reason: str
) -> None:
    loaded = load_policy(policy, base_dir=Path.cwd(), today=TODAY)
    assert loaded.inline_ignores is InlineIgnores.HONOR
    d = evaluate([run_of(inline)], loaded, TODAY).decided()[0]
    assert d.decision is decision
    assert reason in d.reason
    if decision is Decision.FAIL:
        assert "inline ignore comment Dockerfile:4" in d.reason or not inline.suppressed
