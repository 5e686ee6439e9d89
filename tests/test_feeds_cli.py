"""The feeds through the real CLI: `scangate check` on a real Trivy report (the offline DB
of `tests.support.trivydb`) and `scangate scan fs` with the real Trivy, the feeds served by
a loopback HTTP server in the publishers' formats, or named as files (an air gap)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import feeds, gitrepo, scanning, trivydb
from tests.support.hostile import LOG_MARKERS, TEXT
from tests.support.scanning import run_scangate

KEV_CVE = trivydb.REQUESTS_CVE  # HIGH, fixed: fails the default threshold anyway
EPSS_CVE = trivydb.FLASK_CORS_CVE
KEV_PATH = "/feeds/known_exploited_vulnerabilities.json"
EPSS_PATH = "/epss/epss_scores-current.csv.gz"


def kev_feed(**kw: Any) -> bytes:
    return feeds.kev_catalog(
        [
            feeds.kev_vulnerability(
                KEV_CVE, added="2024-02-01", due="2024-02-22", ransomware="Known"
            ),
            feeds.kev_vulnerability("CVE-2021-44228"),
        ],
        **kw,
    )


def epss_feed(**kw: Any) -> bytes:
    return feeds.epss_csv([(EPSS_CVE, 0.72, 0.98), (KEV_CVE, 0.0123, 0.5)], **kw)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment without the suite's feed files: the feeds come from the server,
    the cache or the options; the cache is the test's."""
    env = scanning.clean_env(tmp_path / "env")
    for name in scanning.FEED_FILE_VARS:
        env.pop(name, None)
    env["SCANGATE_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\n" + text)
    return path


def check(
    tmp_path: Path, report: Path, env: dict[str, str], *args: str
) -> tuple[int, str, dict[str, Any] | None]:
    result = tmp_path / "result.json"
    result.unlink(missing_ok=True)
    proc = run_scangate(["check", str(report), "--json", str(result), *args], cwd=tmp_path, env=env)
    data = json.loads(result.read_text()) if result.exists() else None
    return proc.returncode, proc.stderr, data


def marks(result: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        f["id"]: (f["kev"], f["epss"]) for f in result["findings"] if f["kind"] == "vulnerability"
    }


def test_served_feeds_reach_the_json_result_and_are_cached_for_the_day(
    tmp_path: Path, vuln_project_report: Path, env: dict[str, str]
) -> None:
    with feeds.serve() as server:
        server.routes = {KEV_PATH: kev_feed(), EPSS_PATH: epss_feed()}
        args = ["--kev-url", server.url + KEV_PATH, "--epss-url", server.url + EPSS_PATH]
        rules = policy(tmp_path, "kev: report\nepss:\n  fail-at: 0.9\n")
        code, stderr, result = check(tmp_path, vuln_project_report, env, "-p", str(rules), *args)
        assert code == 1, stderr  # CRITICAL findings fail the default thresholds
        assert result is not None
        found = marks(result)
        assert found[KEV_CVE] == (
            {"date_added": "2024-02-01", "due_date": "2024-02-22", "ransomware": True},
            pytest.approx(0.0123),
        )
        assert found[EPSS_CVE] == (None, pytest.approx(0.72))
        others = {k: v for k, v in found.items() if k not in (KEV_CVE, EPSS_CVE)}
        assert others and set(others.values()) == {(None, None)}
        assert server.hits == [KEV_PATH, EPSS_PATH]
        cache = tmp_path / "cache" / "feeds"
        day = feeds.today().isoformat()
        assert sorted(p.name for p in (cache / "kev").iterdir()) == [f"{day}.json"]
        assert sorted(p.name for p in (cache / "epss").iterdir()) == [f"{day}.csv.gz"]
        # The same day again: from the cache, no request.
        code, _, again = check(tmp_path, vuln_project_report, env, "-p", str(rules), *args)
        assert code == 1 and again is not None and marks(again) == found
        assert server.hits == [KEV_PATH, EPSS_PATH]


def test_a_policy_without_feed_keys_makes_no_request(
    tmp_path: Path, vuln_project_report: Path, env: dict[str, str]
) -> None:
    with feeds.serve() as server:
        server.routes = {KEV_PATH: kev_feed()}
        rules = policy(tmp_path, "kev: 'off'\n")
        code, stderr, result = check(
            tmp_path, vuln_project_report, env, "-p", str(rules), "--kev-url", server.url + KEV_PATH
        )
        assert code == 1 and result is not None, stderr
        assert set(marks(result).values()) == {(None, None)}
        assert server.hits == []
    assert not (tmp_path / "cache").exists()


def test_kev_fail_on_a_report_without_cves_needs_no_feed(
    tmp_path: Path, config_repo_report: Path, env: dict[str, str]
) -> None:
    # Misconfigurations and secrets only: nothing to look up, so an unreachable feed is fine.
    rules = policy(tmp_path, "kev: fail\n")
    code, stderr, _ = check(
        tmp_path, config_repo_report, env, "-p", str(rules), "--kev-url", "http://127.0.0.1:1/kev"
    )
    assert code == 1 and "KEV" not in stderr


def test_kev_fail_with_an_unreachable_feed_and_no_cache_is_exit_3(
    tmp_path: Path, vuln_project_report: Path, env: dict[str, str]
) -> None:
    rules = policy(tmp_path, "kev: fail\n")
    url = "http://127.0.0.1:1/kev.json"
    code, stderr, result = check(
        tmp_path, vuln_project_report, env, "-p", str(rules), "--kev-url", url
    )
    assert code == 3 and result is None
    assert stderr.splitlines() == [
        f"scangate: error: KEV feed {url}: cannot download it (cannot connect), and there is no "
        f"cached copy in {tmp_path / 'cache' / 'feeds' / 'kev'}: set --kev-url to a reachable "
        "mirror, or give --kev-file PATH (the policy's kev: fail needs this feed)"
    ]


def test_epss_fail_at_with_an_unreachable_feed_is_exit_3_through_the_environment(
    tmp_path: Path, vuln_project_report: Path, env: dict[str, str]
) -> None:
    rules = policy(tmp_path, "epss:\n  fail-at: 0.5\n")
    env["SCANGATE_EPSS_URL"] = "http://127.0.0.1:1/epss.csv.gz"
    code, stderr, _ = check(tmp_path, vuln_project_report, env, "-p", str(rules))
    assert code == 3
    assert "EPSS feed http://127.0.0.1:1/epss.csv.gz: cannot download it" in stderr
    assert "(the policy's epss fail-at needs this feed)" in stderr


def test_kev_report_with_an_unreachable_feed_warns_and_goes_on(
    tmp_path: Path, vuln_project_report: Path, env: dict[str, str]
) -> None:
    rules = policy(tmp_path, "kev: report\n")
    code, stderr, result = check(
        tmp_path, vuln_project_report, env, "-p", str(rules), "--kev-url", "http://127.0.0.1:1/k"
    )
    assert code == 1 and result is not None
    assert "scangate: warning: KEV feed http://127.0.0.1:1/k: cannot download it" in stderr
    assert "(KEV marks are not shown)" in stderr
    assert set(marks(result).values()) == {(None, None)}


@pytest.mark.parametrize(
    ("serve", "expected"),
    [
        ({"cut": True}, "cannot download it (the connection broke)"),
        ({"body": kev_feed().replace(b'"count": 2', b'"count": 1500')}, "count is 1500"),
        ({"status": 500}, "cannot download it (HTTP 500)"),
    ],
    ids=["truncated", "wrong count", "server error"],
)
def test_a_bad_served_feed_fails_kev_fail_closed_but_a_young_cached_copy_serves(
    tmp_path: Path,
    vuln_project_report: Path,
    env: dict[str, str],
    serve: dict[str, Any],
    expected: str,
) -> None:
    rules = policy(tmp_path, "kev: fail\n")
    with feeds.serve() as server:
        server.routes = {KEV_PATH: serve.get("status") or serve.get("body") or kev_feed()}
        if serve.get("cut"):
            server.cut.add(KEV_PATH)
        args = ["-p", str(rules), "--kev-url", server.url + KEV_PATH]
        code, stderr, result = check(tmp_path, vuln_project_report, env, *args)
        assert code == 3 and result is None
        assert expected in stderr and "KEV feed" in stderr
        # A copy cached two days ago, within --max-feed-age: used, with a warning.
        old = (feeds.today() - timedelta(days=2)).isoformat()
        copy = tmp_path / "cache" / "feeds" / "kev" / f"{old}.json"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(kev_feed())
        code, stderr, result = check(tmp_path, vuln_project_report, env, *args)
        assert code == 1 and result is not None, stderr
        assert marks(result)[KEV_CVE][0] is not None
        assert f"using the cached copy from {old}" in stderr
        # Older than --max-feed-age 1: refused, fail closed.
        code, stderr, _ = check(tmp_path, vuln_project_report, env, *args, "--max-feed-age", "1")
        assert code == 3 and "2 days old (--max-feed-age 1)" in stderr


def test_offline_uses_the_cache_only(
    tmp_path: Path, vuln_project_report: Path, env: dict[str, str]
) -> None:
    rules = policy(tmp_path, "kev: fail\n")
    with feeds.serve() as server:
        server.routes = {KEV_PATH: kev_feed()}
        args = ["-p", str(rules), "--kev-url", server.url + KEV_PATH, "--offline"]
        code, stderr, _ = check(tmp_path, vuln_project_report, env, *args)
        assert code == 3 and "KEV feed: --offline and no cached copy in" in stderr
        code, stderr, _ = check(tmp_path, vuln_project_report, env, *args[:-1])  # online: cached
        assert code == 1, stderr
        code, stderr, result = check(tmp_path, vuln_project_report, env, *args)
        assert code == 1 and result is not None and marks(result)[KEV_CVE][0] is not None
        assert server.hits == [KEV_PATH]


def test_air_gapped_files_need_no_network_and_are_judged_by_their_own_date(
    tmp_path: Path, vuln_project_report: Path, env: dict[str, str]
) -> None:
    (tmp_path / "kev.json").write_bytes(kev_feed())
    (tmp_path / "epss.csv").write_bytes(epss_feed(compress=False))  # plain CSV works too
    rules = policy(tmp_path, "kev: fail\nepss:\n  fail-at: 0.9\n")
    args = ["-p", str(rules), "--kev-file", "kev.json", "--epss-file", "epss.csv"]
    code, stderr, result = check(tmp_path, vuln_project_report, env, *args)
    assert code == 1 and result is not None, stderr
    assert marks(result)[KEV_CVE][0] is not None and marks(result)[EPSS_CVE][1] == pytest.approx(
        0.72
    )
    assert not (tmp_path / "cache").exists()
    stale = feeds.today() - timedelta(days=10)
    (tmp_path / "kev.json").write_bytes(kev_feed(released=stale))
    code, stderr, _ = check(tmp_path, vuln_project_report, env, *args)
    assert code == 3
    assert f"KEV feed --kev-file kev.json: dated {stale}, 10 days old (--max-feed-age 7)" in stderr


def test_hostile_text_in_a_served_feed_reaches_no_output(
    tmp_path: Path, vuln_project_report: Path, env: dict[str, str]
) -> None:
    hostile = feeds.kev_catalog(
        [
            feeds.kev_vulnerability(KEV_CVE, text=TEXT),
            feeds.kev_vulnerability("CVE-2021-44228", text=TEXT),
        ],
        version=TEXT,
    )
    bad_id = feeds.kev_catalog([feeds.kev_vulnerability(TEXT)])
    rules = policy(tmp_path, "kev: report\n")
    with feeds.serve() as server:
        server.routes = {KEV_PATH: hostile, "/bad": bad_id}
        for fmt in ("table", "markdown", "json", "sarif"):
            proc = run_scangate(
                ["check", str(vuln_project_report), "-p", str(rules), "-f", fmt, "--color", "never",
                 "--kev-url", server.url + KEV_PATH, "--cache-dir", str(tmp_path / fmt)],
                cwd=tmp_path, env=env,
            )  # fmt: skip
            assert proc.returncode == 1, proc.stderr
            assert "pwned" not in proc.stdout and "evil.example" not in proc.stdout
            assert not [m for m in LOG_MARKERS if m in proc.stdout + proc.stderr]
        # A hostile CVE ID is refused, and the warning quoting it is escaped.
        proc = run_scangate(
            ["check", str(vuln_project_report), "-p", str(rules), "--kev-url", server.url + "/bad",
             "--cache-dir", str(tmp_path / "bad")],
            cwd=tmp_path, env=env,
        )  # fmt: skip
        assert proc.returncode == 1
        assert "scangate: warning: KEV feed" in proc.stderr and "cveID is" in proc.stderr
        assert not [m for m in LOG_MARKERS if m in proc.stderr]


def test_scan_fs_with_the_real_trivy_marks_kev_findings(
    tmp_path: Path, env: dict[str, str]
) -> None:
    cache = scanning.write_db(tmp_path / "cache")
    trivydb.write_vulnerable_project(tmp_path / "project")
    rules = policy(tmp_path, "kev: fail\n")
    with feeds.serve() as server:
        server.routes = {KEV_PATH: kev_feed()}
        proc = run_scangate(
            ["scan", "fs", "project", "--scanners", "vuln", "--cache-dir", str(cache),
             "-p", str(rules), "--kev-url", server.url + KEV_PATH, "--json", "result.json"],
            cwd=tmp_path, env=env,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        assert server.hits == [KEV_PATH]
    result = json.loads((tmp_path / "result.json").read_text())
    kev = {f["id"] for f in result["findings"] if f["kev"] is not None}
    assert kev == {KEV_CVE}
    assert (cache / "feeds" / "kev" / f"{feeds.today().isoformat()}.json").is_file()
    # --offline: the cached copy, no request.
    with feeds.serve() as server:
        proc = run_scangate(
            ["scan", "fs", "project", "--scanners", "vuln", "--cache-dir", str(cache), "--offline",
             "-p", str(rules), "--kev-url", server.url + KEV_PATH, "--json", "result.json"],
            cwd=tmp_path, env=env,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        assert server.hits == []
    result = json.loads((tmp_path / "result.json").read_text())
    assert {f["id"] for f in result["findings"] if f["kev"] is not None} == {KEV_CVE}


def test_the_pre_push_hook_reads_the_cached_feed_and_never_downloads(tmp_path: Path) -> None:
    env = gitrepo.git_env(tmp_path, {"SCANGATE_FORMAT": "json"})
    for name in scanning.FEED_FILE_VARS:
        env.pop(name, None)
    cache = scanning.write_db(Path(env["SCANGATE_CACHE_DIR"]))
    clone = gitrepo.hooked_clone(tmp_path, env)
    clone.commit("initial", {"README.md": "# demo\n"})
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    clone.commit("deps", {"requirements.txt": "urllib3==1.22\n"})
    with feeds.serve() as server:
        server.routes = {KEV_PATH: kev_feed()}
        clone.env["SCANGATE_KEV_URL"] = server.url + KEV_PATH
        # No cached copy: the policy `pre-push` only shows KEV, which a hook can never get
        # by itself, so it says nothing of it (not on every push) and goes on.
        push = clone.push("origin", "main")
        assert push.returncode == 1, push.stderr
        assert "KEV" not in push.stderr and "warning" not in push.stderr, push.stderr
        found = json.loads(push.stdout)["findings"]
        assert trivydb.URLLIB3_CRITICAL_CVE in {f["id"] for f in found}
        assert all(f["kev"] is None for f in found)
        # Today's copy in the cache: read, still no request.
        copy = cache / "feeds" / "kev" / f"{feeds.today().isoformat()}.json"
        copy.parent.mkdir(parents=True)
        copy.write_bytes(feeds.kev_catalog([feeds.kev_vulnerability(trivydb.URLLIB3_CRITICAL_CVE)]))
        push = clone.push("origin", "main")
        assert push.returncode == 1, push.stderr
        assert server.hits == []
    found = json.loads(push.stdout)["findings"]
    assert {f["id"] for f in found if f["kev"]} == {trivydb.URLLIB3_CRITICAL_CVE}


def test_a_hook_policy_that_fails_on_kev_still_needs_the_feed(tmp_path: Path) -> None:
    # kev: fail decides with the feed: a hook without a cached copy stops (exit 3), never a
    # pass, and says how to get one.
    env = gitrepo.git_env(tmp_path, {"SCANGATE_FORMAT": "json"})
    for name in scanning.FEED_FILE_VARS:
        env.pop(name, None)
    cache = scanning.write_db(Path(env["SCANGATE_CACHE_DIR"]))
    clone = gitrepo.hooked_clone(tmp_path, env)
    clone.commit("initial", {".scangate.yaml": "version: 1\nextends: pre-push\nkev: fail\n"})
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    clone.commit("deps", {"requirements.txt": "urllib3==1.22\n"})
    with feeds.serve() as server:
        clone.env["SCANGATE_KEV_URL"] = server.url + KEV_PATH
        push = clone.push("origin", "main")
        assert server.hits == []
    assert push.returncode != 0
    assert "KEV feed: hooks never download and no cached copy in" in push.stderr
    assert "(the policy's kev: fail needs this feed)" in push.stderr
    assert "scangate: error: KEV feed" in push.stderr and push.stdout == "", push.stderr
    assert not (cache / "feeds" / "kev").exists()
    head = clone.git("rev-parse", "HEAD").strip()
    pushed = clone.remote_refs()["refs/heads/main"]
    assert pushed != head  # the push was refused
    # git hides the hook's status: the hook command on the same ref line exits 3.
    line = f"refs/heads/main {head} refs/heads/main {pushed}\n"
    hook = gitrepo.run_scangate(
        ["hook", "pre-push", "origin", str(clone.remote)], cwd=clone.path, env=clone.env, input=line
    )
    assert hook.returncode == 3, hook.stderr
    assert "(the policy's kev: fail needs this feed)" in hook.stderr


def test_a_diff_base_run_marks_the_heads_findings(tmp_path: Path) -> None:
    env = gitrepo.git_env(tmp_path)
    scanning.write_db(Path(env["SCANGATE_CACHE_DIR"]))
    clone = gitrepo.make_clone(tmp_path, env)
    clone.commit("base", {"requirements.txt": "requests==2.19.0\n"})
    clone.git("checkout", "-q", "-b", "pr")
    clone.commit("add yaml", {"requirements.txt": "requests==2.19.0\nPyYAML==5.3\n"})
    catalog = feeds.kev_catalog(
        [feeds.kev_vulnerability(trivydb.REQUESTS_CVE), feeds.kev_vulnerability(trivydb.PYYAML_CVE)]
    )
    (tmp_path / "kev.json").write_bytes(catalog)
    (tmp_path / "policy.yaml").write_text("version: 1\nkev: fail\n")
    out = tmp_path / "result.json"
    done = gitrepo.run_scangate(
        ["scan", "fs", ".", "--diff-base", "main", "--scanners", "vuln", "--json", out,
         "-p", tmp_path / "policy.yaml", "--kev-file", tmp_path / "kev.json"],
        cwd=clone.path, env=clone.env,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    result = json.loads(out.read_text())
    marked = {f["id"]: f["decision"] for f in result["findings"] if f["kev"] is not None}
    # Both are marked; what the base has too stays pre-existing, as the gate decides.
    assert set(marked) == {trivydb.REQUESTS_CVE, trivydb.PYYAML_CVE}
    assert marked[trivydb.PYYAML_CVE] == "fail"
