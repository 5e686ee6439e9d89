"""Deterministic Debian 12 container images, written without Docker.

This module owns the bytes of test images: one layer holding a minimal Debian 12
(bookworm) root filesystem (`etc/debian_version`, `etc/os-release`,
`var/lib/dpkg/status`) plus any extra files, packed as

* a `docker save` archive (`write_docker_archive`), which `trivy image --input` and
  `skopeo copy docker-archive:...` read, or
* an OCI image layout directory (`write_oci_layout`); Trivy refuses one packed in a tar.

Every tar entry has mtime 0, uid/gid 0 and a fixed mode, entries are sorted and JSON is
written with sorted keys, so the same packages give the same image ID on every run
(`image_id` computes it without writing anything).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

DEBIAN_VERSION = "12.7"
DEFAULT_REPO_TAG = "example.test/app:1.0"

_OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class DpkgPackage:
    """One installed package as `var/lib/dpkg/status` lists it.

    `source` is the source package (Trivy looks Debian advisories up by it); None means
    the binary package has the source package's name. `source_version` is set when it
    differs from `version`, as for binNMUs ("Source: bash (5.2.15-2)").
    """

    name: str
    version: str
    source: str | None = None
    source_version: str | None = None
    architecture: str = "amd64"

    def stanza(self) -> str:
        lines = [
            f"Package: {self.name}",
            "Status: install ok installed",
            "Priority: optional",
            "Section: misc",
            "Maintainer: Debian Test Maintainers <test@example.test>",
            f"Architecture: {self.architecture}",
        ]
        if self.source is not None or self.source_version is not None:
            source = self.source or self.name
            if self.source_version is not None:
                source += f" ({self.source_version})"
            lines.append(f"Source: {source}")
        lines += [
            f"Version: {self.version}",
            f"Description: {self.name} (test fixture)",
        ]
        return "\n".join(lines) + "\n"


# The packages of the default test image; see trivydb.EXPECTED_IMAGE_FINDINGS.
DEBIAN_PACKAGES: tuple[DpkgPackage, ...] = (
    DpkgPackage("base-files", "12.4+deb12u7"),
    DpkgPackage("bash", "5.2.15-2+b2", source="bash", source_version="5.2.15-2"),
    DpkgPackage("libssl3", "3.0.11-1~deb12u1", source="openssl"),
    DpkgPackage("openssl", "3.0.11-1~deb12u1"),
    DpkgPackage("zlib1g", "1:1.2.13.dfsg-1", source="zlib"),
)


def dpkg_status(packages: Sequence[DpkgPackage]) -> str:
    """The text of `var/lib/dpkg/status` for `packages` (sorted by name)."""
    return "\n".join(p.stanza() for p in sorted(packages, key=lambda p: p.name))


def rootfs_files(
    packages: Sequence[DpkgPackage], extra_files: Mapping[str, bytes] | None = None
) -> dict[str, bytes]:
    """The regular files of the image's root filesystem, by relative POSIX path."""
    files = {
        "etc/debian_version": f"{DEBIAN_VERSION}\n".encode(),
        "etc/os-release": _OS_RELEASE.encode(),
        "var/lib/dpkg/status": dpkg_status(packages).encode(),
    }
    for name, data in (extra_files or {}).items():
        path = PurePosixPath(name.lstrip("/"))
        if ".." in path.parts or not path.parts:
            raise ValueError(f"extra file path must stay inside the image: {name!r}")
        files[str(path)] = data
    return files


def _tar_info(name: str, *, directory: bool, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def deterministic_tar(files: Mapping[str, bytes]) -> bytes:
    """A tar of `files` plus their parent directories: sorted, mtime 0, owned by root."""
    directories: set[str] = set()
    for name in files:
        for parent in PurePosixPath(name).parents:
            if str(parent) != ".":
                directories.add(str(parent))
    entries = sorted([(d, True) for d in directories] + [(f, False) for f in files])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, is_dir in entries:
            if is_dir:
                tar.addfile(_tar_info(name + "/", directory=True))
            else:
                data = files[name]
                tar.addfile(_tar_info(name, directory=False, size=len(data)), io.BytesIO(data))
    return buffer.getvalue()


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _Image:
    layer: bytes  # uncompressed layer tar
    config: bytes  # image config JSON

    @property
    def diff_id(self) -> str:
        return "sha256:" + _sha256(self.layer)

    @property
    def image_id(self) -> str:
        return "sha256:" + _sha256(self.config)


def _build(packages: Sequence[DpkgPackage], extra_files: Mapping[str, bytes] | None) -> _Image:
    layer = deterministic_tar(rootfs_files(packages, extra_files))
    config: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["bash"],
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + _sha256(layer)]},
        "history": [
            {"created": "1970-01-01T00:00:00Z", "created_by": "scangate tests: debian 12 rootfs"}
        ],
    }
    return _Image(layer=layer, config=_json_bytes(config))


def image_id(
    packages: Sequence[DpkgPackage] = DEBIAN_PACKAGES,
    *,
    extra_files: Mapping[str, bytes] | None = None,
) -> str:
    """The image ID (`sha256:` + config digest) Trivy reports for these contents."""
    return _build(packages, extra_files).image_id


def write_docker_archive(
    path: Path,
    packages: Sequence[DpkgPackage] = DEBIAN_PACKAGES,
    *,
    repo_tag: str = DEFAULT_REPO_TAG,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a `docker save` archive (manifest.json, config, one layer tar) to `path`."""
    image = _build(packages, extra_files)
    config_name = f"{_sha256(image.config)}.json"
    layer_name = f"{_sha256(image.layer)}/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": [layer_name]}]
    repository, _, tag = repo_tag.rpartition(":")
    archive = deterministic_tar(
        {
            config_name: image.config,
            layer_name: image.layer,
            "manifest.json": _json_bytes(manifest),
            "repositories": _json_bytes({repository: {tag: _sha256(image.layer)}}),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(archive)
    return path


def write_oci_layout(
    directory: Path,
    packages: Sequence[DpkgPackage] = DEBIAN_PACKAGES,
    *,
    repo_tag: str = DEFAULT_REPO_TAG,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write an OCI image layout directory (oci-layout, index.json, blobs/sha256/...).

    The layer is gzip-compressed (mtime 0), so its digest differs from the diff ID, as
    in a registry; the config, and so the image ID, equals the docker archive's.
    """
    image = _build(packages, extra_files)
    layer_gz = gzip.compress(image.layer, compresslevel=6, mtime=0)
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def blob(data: bytes, media_type: str) -> dict[str, Any]:
        digest = _sha256(data)
        (blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    manifest = _json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": _OCI_MANIFEST,
            "config": blob(image.config, _OCI_CONFIG),
            "layers": [blob(layer_gz, _OCI_LAYER_GZIP)],
        }
    )
    descriptor = blob(manifest, _OCI_MANIFEST)
    descriptor["annotations"] = {
        "io.containerd.image.name": repo_tag,
        "org.opencontainers.image.ref.name": repo_tag.rpartition(":")[2],
    }
    index = {"schemaVersion": 2, "mediaType": _OCI_INDEX, "manifests": [descriptor]}
    (directory / "oci-layout").write_bytes(_json_bytes({"imageLayoutVersion": "1.0.0"}))
    (directory / "index.json").write_bytes(_json_bytes(index))
    return directory
