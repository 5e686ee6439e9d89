"""Taking the one `trivy` file out of a release archive, refusing anything unsafe."""

from __future__ import annotations

import gzip
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from scangate.errors import InstallError


def extract_trivy(archive: Path, dest: Path, url: str, *, max_bytes: int) -> None:
    """Copy the archive's one `trivy` regular file to `dest`, refusing anything unsafe.

    Every member is checked first: an absolute path, a `..` component, or a link, device or
    FIFO named `trivy` means the archive is not an official release and is refused whole.
    The file is written with `extractfile` to a path we chose, so no name, mode, owner or link
    from the archive reaches the filesystem (stricter than `filter="data"`, on every 3.11.x).
    """
    try:
        with tarfile.open(archive, "r:gz") as tar:
            found: tarfile.TarInfo | None = None
            for member in tar:
                name = PurePosixPath(member.name)
                if name.is_absolute() or ".." in name.parts:
                    raise InstallError(
                        f"refusing {url}: archive member {member.name!r} points outside its folder"
                    )
                if name.parts != ("trivy",):  # PurePosixPath drops "." parts: ./trivy too
                    continue
                if not member.isreg():
                    raise InstallError(
                        f"refusing {url}: archive member {member.name!r} is a "
                        f"{_kind(member)}, not a regular file"
                    )
                if found is not None:
                    raise InstallError(f"refusing {url}: the archive has two `trivy` members")
                if member.size > max_bytes:
                    raise InstallError(
                        f"refusing {url}: its `trivy` is {member.size} bytes, over "
                        f"{max_bytes}: not a Trivy release"
                    )
                found = member
            if found is None:
                raise InstallError(f"refusing {url}: the archive has no `trivy` file")
            source = tar.extractfile(found)
            if source is None:  # pragma: no cover - isreg() members always have data
                raise InstallError(f"refusing {url}: cannot read `trivy` from the archive")
            with source, dest.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 16)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InstallError(f"refusing {url}: not a readable .tar.gz ({exc})") from exc
    dest.chmod(0o755)


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hard link"
    if member.isdir():
        return "folder"
    if member.isdev():
        return "device or FIFO"
    return "special file"
