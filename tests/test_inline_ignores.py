"""Inline `#trivy:ignore` comments: Trivy drops what they name without a trace; scangate finds
every such comment in the scanned tree and puts what it hid under the policy.

End to end through the real `scangate` console script and the real Trivy (offline,
misconfig only, so no vulnerability DB is needed); the comment parser and the gate's
decisions also alone.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from scangate import inline_comments, inline_ignores
from scangate.errors import ScannerError
from scangate.findings import Artifact, Finding, InlineIgnore, Kind, Location, ScanRun, Severity
from scangate.gate import Decision, evaluate
from scangate.policy import InlineIgnores, load_policy
from tests.support import gitrepo, scanning, table
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


def test_a_marked_file_past_the_neighbour_copy_limit_is_still_checked(tmp_path: Path) -> None:
    # A Dockerfile padded past 16 MiB (the cap for unmarked neighbours copied into the
    # shadow) is copied all the same: its hidden DS-0002 comes back, allowed by its comment,
    # instead of a shadow without the file (exit 3, "please report this as a scangate bug").
    tree = tmp_path / "repo"
    tree.mkdir()
    padding = b"# " + b"x" * 98 + b"\n"
    with (tree / "Dockerfile").open("wb") as out:
        out.write(DOCKERFILE.format(exp="").encode())
        for _ in range((17 << 20) // len(padding)):
            out.write(padding)
    assert (tree / "Dockerfile").stat().st_size > 16 << 20
    code, _, stderr, result = scan(tmp_path, tree)
    assert code == 0, stderr
    docker = one(result, "DS-0002", "Dockerfile")
    assert docker["decision"] == "allowed"
    assert docker["reason"] == "inline ignore comment Dockerfile:4: # trivy:ignore:DS-0002"
    assert "scangate bug" not in stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_marked_file_past_the_limit_fails_closed_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past MAX_MARKED (64 MiB; lowered here to keep the test small) the file is not read
    # into memory: one line naming the file and the limit, and no shadow scan.
    monkeypatch.setattr(inline_ignores, "MAX_MARKED", 1 << 20)
    tree = write(tmp_path / "repo", {"docker/Dockerfile": DOCKERFILE.format(exp="")})
    with (tree / "docker" / "Dockerfile").open("ab") as out:
        out.write(b"#" * (2 << 20) + b"\n")
    run = ScanRun(Artifact(".", "filesystem"), [])

    def no_scan(root: Path) -> ScanRun:
        raise AssertionError("no shadow scan past the limit")

    with pytest.raises(ScannerError) as raised:
        inline_ignores.apply(run, tree, no_scan, tmp_path / "work")
    assert raised.value.message == (
        "inline ignores: docker/Dockerfile holds a trivy:ignore comment and is larger than "
        "1 MiB, scangate's limit for a file whose inline ignores it checks; split the file, "
        "or remove the comment (or skip the file with --skip-files)"
    )


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
    assert table.shows(
        push.stdout, "Dockerfile", "HIGH", "DS-0002", "fail", kind="misconfiguration"
    )
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


# --- bypasses: a rule scangate misread, a decoy comment --------------------------------------

SECURITY_GROUP = """\
{top}
resource "aws_security_group" "web" {{
  description = "web"
  ingress {{
    {decoy}
    description = "ssh"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    {above}
    cidr_blocks = ["0.0.0.0/0"]
  }}
}}
"""


def security_group(top: str = "", decoy: str = "", above: str = "") -> str:
    return SECURITY_GROUP.format(top=top, decoy=decoy, above=above)


@pytest.mark.parametrize("space", ["\t", "\v", "\f", "\r"], ids=["tab", "vt", "ff", "cr"])
def test_a_rule_with_a_control_space_inside_its_first_word_is_not_missed(
    tmp_path: Path, space: str
) -> None:
    # Trivy splits a comment into words on " " only: `trivy:a<TAB>b:c:ignore:*` is one word
    # whose `ignore:*` section hides everything below it.
    tree = write(
        tmp_path / "repo",
        {
            "d/Dockerfile": f"FROM alpine:3.19\n# trivy:a{space}b:c:ignore:*\nUSER root\n",
            "t/main.tf": security_group(above=f"# trivy:reason{space}x:y:ignore:AWS-0107"),
        },
    )
    code, _, _, result = scan(tmp_path, tree, "--policy", "strict")
    assert code == 1
    docker = one(result, "DS-0002", "d/Dockerfile")
    assert docker["decision"] == "fail"
    assert "the inline ignore comment d/Dockerfile:2 has no expiry date" in docker["reason"]
    group = one(result, "AWS-0107", "t/main.tf")
    assert group["decision"] == "fail"
    assert "the inline ignore comment t/main.tf:10 has no expiry date" in group["reason"]
    (tmp_path / "policy.yaml").write_text("inline-ignores: report\n")
    code, _, _, result = scan(tmp_path, tree, "--policy", str(tmp_path / "policy.yaml"))
    assert code == 1
    assert one(result, "DS-0002", "d/Dockerfile")["decision"] == "fail"
    assert one(result, "AWS-0107", "t/main.tf")["decision"] == "fail"


def test_a_decoy_comment_with_an_expiry_does_not_vouch_for_the_one_trivy_applied(
    tmp_path: Path,
) -> None:
    # Line 1 (no expiry) hides AWS-0107 at line 11; line 5 names it with an expiry but sits
    # above `description`, so Trivy never applies it. Strict must not credit line 5.
    text = security_group(top="# trivy:ignore:*", decoy=f"# trivy:ignore:AWS-0107:exp:{SOON}")
    tree = write(tmp_path / "repo", {"main.tf": text})
    code, _, _, result = scan(tmp_path, tree, "--policy", "strict")
    assert code == 1
    group = one(result, "AWS-0107", "main.tf")
    assert group["decision"] == "fail"
    assert "the inline ignore comment main.tf:1 has no expiry date" in group["reason"]
    assert not [f for f in result["findings"] if f["decision"] == "allowed"]
    # The decoy alone hides nothing: Trivy reports the finding, failing as any other.
    tree = write(
        tmp_path / "alone", {"main.tf": security_group(decoy=f"# trivy:ignore:AWS-0107:exp:{SOON}")}
    )
    code, _, _, result = scan(tmp_path, tree, "--policy", "strict")
    assert code == 1
    assert one(result, "AWS-0107", "main.tf")["decision"] == "fail"


def test_the_pre_push_hook_sees_a_rule_with_a_tab_inside(tmp_path: Path) -> None:
    env = gitrepo.git_env(tmp_path)
    clone: Clone = gitrepo.make_clone(tmp_path, env)
    assert gitrepo.run_scangate(["hook", "install"], cwd=clone.path, env=env).returncode == 0
    clone.commit("readme", {"README.md": "# demo\n"})
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    clone.commit("root", {"Dockerfile": "FROM alpine:3.19\n# trivy:a\tb:c:ignore:*\nUSER root\n"})
    clone.env["SCANGATE_POLICY"] = "strict"
    push = clone.push("origin", "main")
    assert push.returncode != 0, push.stdout + push.stderr
    assert table.shows(
        push.stdout, "Dockerfile", "HIGH", "DS-0002", "fail", kind="misconfiguration"
    )


def test_the_parser_splits_words_on_spaces_only_as_trivy_does() -> None:
    # Each line as the real Trivy 0.76 read it: rule or not (tried with a Dockerfile).
    text = "\n".join(
        [
            "# trivy:a\tb:c:ignore:*",  # 1: one word: a rule hiding everything
            "# trivy:reason\vx:y:ignore:AWS-0107:exp:2031-01-01",  # 2
            "#\ttrivy:ignore:DS-0002",  # 3: `#` then a tab: not a rule
            "# \ttrivy:ignore:DS-0002",  # 4: a word trimmed of spaces: a rule
            "# \u00a0trivy:ignore:DS-0002",  # 5: Go trims Unicode spaces too
            "# x\u00a0trivy:ignore:DS-0002",  # 6: not at a word start
            "# TRIVY:ignore:DS-0002 trivy:IGNORE:DS-0002",  # 7: both case-sensitive
            "x trivy:ignore:ds-0002\r",  # 8: anywhere on a line, \r trimmed
        ]
    )
    rules = inline_comments.parse_rules(text, "Dockerfile")
    got = [(r.line, r.id, r.expires) for r in rules]
    assert got == [
        (1, "*", None),
        (2, "AWS-0107", date(2031, 1, 1)),
        (4, "DS-0002", None),
        (5, "DS-0002", None),
        (8, "ds-0002", None),
    ]
    assert rules[0].comment == "# trivy:a\tb:c:ignore:*"


def test_neutralising_rewrites_every_rule_start_whatever_follows() -> None:
    text = (
        "# trivy:a\tb:c:ignore:*\n# x:y TRIVY:IGNORE:X\n# \u00a0tfsec:ignore:Y\n"
        "#\ttrivy:whatever\n  // Trivy:reason\fignore:*\nimage: aquasec/trivy:0.76\n"
    ).encode()
    for line in text.splitlines():  # the cheap search finds each rule line
        assert inline_comments.marked(line) or b"whatever" in line or b"aquasec" in line
    out = inline_comments.neutralise(text)
    assert len(out) == len(text)
    # Left alone: no word start for Trivy (`#` then a tab; a path), so no rule either.
    kept = (b"#\ttrivy:whatever", b"aquasec/trivy:0.76")
    rest = out.lower()
    for word in kept:
        assert word in out
        rest = rest.replace(word, b"")
    assert b"trivy:" not in rest
    assert b"tfsec:" not in out
    assert not inline_comments.readable(out)
    assert inline_comments.readable(text)


def finding_at(line: int, path: str = "main.tf", check: str = "AWS-0107") -> Finding:
    return Finding(
        kind=Kind.MISCONFIGURATION,
        id=check,
        severity=Severity.HIGH,
        target=path,
        location=Location(path, line, line),
    )


def test_every_comment_that_may_have_hidden_a_finding_is_a_candidate() -> None:
    text = security_group(top="# trivy:ignore:*", decoy="# trivy:ignore:AWS-0107:exp:2031-01-01")
    text += "# trivy:ignore:AWS-0001\n# trivy:ignore:*:exp:2020-01-01\n"  # other ID; expired
    text += 'resource "x" "y" {}\n# trivy:ignore:*\n'  # below the finding
    rules = inline_comments.parse_rules(text, "main.tf")
    found = inline_comments.candidates(finding_at(11), rules, TODAY)
    # Line 1 first: it sits above a block's first line, line 5 above an attribute.
    assert [r.line for r in found] == [1, 5]
    assert inline_comments.candidates(finding_at(11, "other.tf"), rules, TODAY) == []
    assert inline_comments.candidates(finding_at(1), rules, TODAY)[0].line == 1


def test_the_gate_refuses_if_any_candidate_comment_is_refused() -> None:
    decoy = InlineIgnore("main.tf", 5, ("AWS-0107",), TODAY + timedelta(days=3), comment="# d")
    applied = InlineIgnore("main.tf", 1, ("*",), comment="# trivy:ignore:*")
    loaded = load_policy("strict", base_dir=Path.cwd(), today=TODAY)
    for inline in (replace(decoy, others=(applied,)), replace(applied, others=(decoy,))):
        run = ScanRun(Artifact(".", "filesystem"), [replace(finding_at(11), inline_ignore=inline)])
        d = evaluate([run], loaded, TODAY).decided()[0]
        assert d.decision is Decision.FAIL
        assert "the inline ignore comment main.tf:1 has no expiry date" in d.reason
    run = ScanRun(Artifact(".", "filesystem"), [replace(finding_at(11), inline_ignore=decoy)])
    assert evaluate([run], loaded, TODAY).decided()[0].decision is Decision.ALLOWED


def test_a_comment_in_a_module_outside_the_scanned_directory_fails_closed(
    tmp_path: Path,
) -> None:
    # Trivy reads `../../modules/logs` and honours its comment in both scans: scangate cannot
    # see what it hid, so it says so instead of passing.
    repo = write(
        tmp_path / "repo",
        {
            "infra/app/main.tf": MODULE_CALL.replace("// trivy:ignore:*\n", "").replace(
                "../modules", "../../modules"
            ),
            "modules/logs/main.tf": "# trivy:ignore:*\n" + MODULE,
        },
    )
    proc = run_scangate(
        ["scan", "fs", repo / "infra" / "app", "--offline", "--scanners", "misconfig",
         "--cache-dir", tmp_path / "cache"],
        cwd=tmp_path,
        env=scanning.clean_env(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert (
        "scangate: error: inline ignores: ../../modules/logs/main.tf holds a trivy:ignore "
        "comment" in proc.stderr
    )
    assert "Traceback" not in proc.stderr
    # Scanned from the top, the comment is found and put under the policy.
    code, _, _, result = scan(tmp_path, repo, "--policy", "strict")
    assert code == 1
    assert (
        "modules/logs/main.tf:1 has no expiry date"
        in one(result, "AWS-0092", "modules/logs/main.tf")["reason"]
    )


def test_the_shadow_is_not_trusted_if_it_may_still_be_suppressed(tmp_path: Path) -> None:
    # The safety net behind the neutraliser: a rule left in the copy, or a finding of a
    # neutralised file the shadow lacks, fails closed (exit 3) instead of passing.
    shadow = write(tmp_path / "shadow", {"Dockerfile": "FROM alpine\n# trivy:a\tb:ignore:*\n"})
    empty = ScanRun(Artifact(".", "filesystem"), [])
    with pytest.raises(ScannerError, match="Dockerfile still holds a trivy:ignore comment"):
        inline_ignores._check_shadow(empty, empty, shadow, {"Dockerfile"})
    (shadow / "Dockerfile").write_text("FROM alpine\n# trivy_a\tb:ignore:*\n")
    inline_ignores._check_shadow(empty, empty, shadow, {"Dockerfile"})
    real = ScanRun(Artifact(".", "filesystem"), [finding_at(3, "Dockerfile", "DS-0002")])
    with pytest.raises(ScannerError, match="lacks DS-0002 that the real scan reported"):
        inline_ignores._check_shadow(real, empty, shadow, {"Dockerfile"})
    inline_ignores._check_shadow(real, real, shadow, {"Dockerfile"})
    inline_ignores._check_shadow(real, empty, shadow, {"other/Dockerfile"})


def test_a_comment_on_a_module_block_line_is_a_candidate_for_that_module_only() -> None:
    text = 'module "logs" { # trivy:ignore:*\n  source = "../modules/logs"\n}\n'
    text += "# trivy:ignore:*\n# trivy:ignore:AWS-0092\nmodule audit {\n}\n"  # a stack
    rules = inline_comments.parse_rules(text, "app/main.tf")
    assert [(r.line, r.module) for r in rules] == [(1, "logs"), (4, "audit"), (5, "audit")]
    hidden = replace(
        finding_at(3, "modules/logs/main.tf", "AWS-0092"),
        identity="logs\x1fmodule.logs.aws_s3_bucket.logs",
    )
    assert [r.line for r in inline_comments.candidates(hidden, rules, TODAY)] == [1]
    other = replace(hidden, identity="logs\x1fmodule.other.aws_s3_bucket.logs")
    assert inline_comments.candidates(other, rules, TODAY) == []
