"""`scangate trivy which` and `scangate trivy install`."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from scangate.cli import _console
from scangate.cli._app import trivy_app
from scangate.cli._console import warning as warn
from scangate.cli._options import CacheDirOpt, TrivyOpt
from scangate.errors import TrivyNotFoundError
from scangate.formats.escape import plain

# `trivy_install.DEFAULT_VERSION`, for the option's default: the installer (hashlib, tarfile)
# is imported when a command runs.
DEFAULT_VERSION = "0.76.0"


@trivy_app.command("which")
def trivy_which(trivy: TrivyOpt = None, cache: CacheDirOpt = None) -> None:
    """Print the Trivy scangate would run, its version and where it was found."""
    from scangate.cli._trivy_binary import cache_dir
    from scangate.trivy_locate import check_supported, locate

    binary = locate(
        explicit=trivy, path_env=os.environ.get("PATH"), cache_dir=cache_dir(cache), on_skip=warn
    )
    if binary is None:
        raise TrivyNotFoundError("no trivy found: run `scangate trivy install`")
    check_supported(binary)
    # A line scripts read (the action's `$(scangate trivy install)`): never wrapped in
    # stop-commands; the version is the binary's own output, escaped like the path.
    _console.machine(
        f"{plain(str(binary.path))}\ttrivy {plain(binary.version)}\t({binary.source})\n"
    )


@trivy_app.command("install")
def trivy_install(
    version: Annotated[
        str,
        typer.Option(
            "--version", envvar="SCANGATE_TRIVY_VERSION", help="The Trivy release to install."
        ),
    ] = DEFAULT_VERSION,
    allow_unpinned: Annotated[
        bool,
        typer.Option(
            "--allow-unpinned",
            envvar="SCANGATE_ALLOW_UNPINNED",
            help="Install a release scangate has no pinned digest for, checked only against "
            "the release's own checksums file.",
        ),
    ] = False,
    cache: CacheDirOpt = None,
) -> None:
    """Download a pinned Trivy release, verify its SHA-256 and install it into the cache."""
    from scangate.cli._trivy_binary import cache_dir, download_url
    from scangate.trivy_install import install
    from scangate.trivy_locate import trivy_version

    path = install(
        version, cache_dir(cache), base_url=download_url(), allow_unpinned=allow_unpinned
    )
    _console.machine(f"{plain(str(path))}\ttrivy {plain(trivy_version(path))}\n")  # see `which`
