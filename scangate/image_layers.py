"""Image archives for reading files back: a `docker save` archive or an OCI image layout,
each layer found by the DiffID Trivy reports, streamed (gzip'd or not), never unpacked.

Also `open_regular`, the one way `secret_values` opens a scanned file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

MAX_JSON = 16 << 20  # bytes of an image's manifest, index or config
LayerOpener = Callable[[], Any]  # a context manager yielding the layer's (maybe gzip'd) tar


def layers(source: Path) -> dict[str, LayerOpener]:
    """DiffID -> an opener of that layer's tar, for an OCI layout directory or a `docker
    save` archive. Raises OSError, tarfile.TarError, ValueError, KeyError or TypeError on a
    malformed archive."""
    return _oci_layers(source) if source.is_dir() else _docker_layers(source)


def _json(data: bytes) -> Any:
    if len(data) > MAX_JSON:
        raise ValueError("image metadata too large")
    return json.loads(data)


def _docker_layers(archive: Path) -> dict[str, LayerOpener]:
    """DiffID -> layer tar of a `docker save` archive: manifest.json lists each image's
    config (whose rootfs.diff_ids are in layer order) and layer paths."""
    out: dict[str, LayerOpener] = {}
    with tarfile.open(archive, "r:*") as outer:
        manifest = _json(_member_bytes(outer, "manifest.json"))
        for image in manifest if isinstance(manifest, list) else []:
            config = _json(_member_bytes(outer, str(image["Config"])))
            for diff_id, layer in zip(config["rootfs"]["diff_ids"], image["Layers"], strict=False):
                out.setdefault(str(diff_id), _docker_layer_opener(archive, str(layer)))
    return out


def _file_bytes(path: Path) -> bytes:
    with open_regular(path) as handle:
        return handle.read(MAX_JSON + 1)


def _member_bytes(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise KeyError(name)
    with handle:
        return handle.read(MAX_JSON + 1)


def _docker_layer_opener(archive: Path, name: str) -> LayerOpener:
    @contextmanager
    def open_layer() -> Iterator[IO[bytes]]:
        with tarfile.open(archive, "r:*") as outer:
            handle = outer.extractfile(name)
            if handle is None:
                raise KeyError(name)
            with handle:
                yield handle

    return open_layer


def _oci_layers(layout: Path) -> dict[str, LayerOpener]:
    """DiffID -> layer blob of an OCI image layout: index.json -> manifests (an index may
    nest) -> config (rootfs.diff_ids) and layers, in the same order."""
    out: dict[str, LayerOpener] = {}

    def blob(digest_: str) -> Path:
        algorithm, _, hexdigest = str(digest_).partition(":")
        if not re.fullmatch(r"[a-z0-9]+", algorithm) or not re.fullmatch(r"[a-f0-9]+", hexdigest):
            raise ValueError(f"bad digest {digest_!r}")
        return layout / "blobs" / algorithm / hexdigest

    def visit(index: Any, depth: int) -> None:
        if depth > 4:  # an index of indexes of ...: not an image
            return
        for descriptor in index.get("manifests") or []:
            document = _json(_file_bytes(blob(descriptor["digest"])))
            if "manifests" in document:
                visit(document, depth + 1)
                continue
            config = _json(_file_bytes(blob(document["config"]["digest"])))
            for diff_id, layer in zip(
                config["rootfs"]["diff_ids"], document["layers"], strict=False
            ):
                out.setdefault(str(diff_id), _file_opener(blob(layer["digest"])))

    visit(_json(_file_bytes(layout / "index.json")), 0)
    return out


def _file_opener(path: Path) -> LayerOpener:
    return lambda: open_regular(path)


@contextmanager
def open_regular(path: Path) -> Iterator[IO[bytes]]:
    # Trivy scans regular files only: a file swapped for a FIFO or a link is not read.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        stream = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with stream:
        yield stream
