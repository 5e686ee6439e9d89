"""The pre-push hook file: what `scangate hook install` writes and `uninstall` removes.

Install writes one small shell script into git's hooks directory (`core.hooksPath` when
set) of the repository and of every initialized submodule, recursively: `git push
--recurse-submodules` runs `git push` inside each submodule, and that push runs the
submodule's own hooks, never the superproject's. A hook scangate did not write is kept
aside (`--force`) or left alone, never overwritten.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scangate.errors import UsageError
from scangate.hook import Repo, find_repo, run_git

HOOK_NAME = "pre-push"
HOOK_MARKER = "# installed by scangate hook install"
"""The line that marks a hook file as scangate's: install rewrites and uninstall removes only
files that hold it."""
BACKUP_SUFFIX = ".scangate-backup"


def hook_script(python: str) -> str:
    """The pre-push hook `scangate hook install` writes: it runs this Python's scangate."""
    exe = shlex.quote(python)
    return (
        "#!/bin/sh\n"
        f"{HOOK_MARKER}\n"
        "# Gates what `git push` sends with scangate; `scangate hook uninstall` removes it.\n"
        f"if [ ! -x {exe} ]; then\n"
        f"    echo 'scangate pre-push hook: cannot run '{exe}': reinstall with "
        '`scangate hook install`, or remove \'"$0" >&2\n'
        "    exit 1\n"
        "fi\n"
        f'exec {exe} -m scangate hook pre-push "$@"\n'
    )


def is_scangate_hook(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return HOOK_MARKER in text.splitlines()


@dataclass(frozen=True)
class HookChange:
    path: Path
    backup: Path | None = None  # the user's own hook: saved (install) or restored (uninstall)


def _backup_path(path: Path) -> Path:
    candidate = path.with_name(path.name + BACKUP_SUFFIX)
    n = 1
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.name}{BACKUP_SUFFIX}.{n}")
        n += 1
    return candidate


def install_hook(hooks: Path, python: str, *, force: bool) -> HookChange:
    """Write `hooks/pre-push`. A hook scangate did not write is refused unless `force`; then
    it is kept as `pre-push.scangate-backup`, which `uninstall_hook` puts back."""
    path = hooks / HOOK_NAME
    backup = None
    exists = path.exists() or path.is_symlink()
    if exists and not is_scangate_hook(path):
        if not force:
            raise UsageError(
                f"{path} exists and was not written by scangate: keep it, or replace it with "
                f"`scangate hook install --force` (it is then saved as {path.name}{BACKUP_SUFFIX})"
            )
        backup = _backup_path(path)
    try:
        hooks.mkdir(parents=True, exist_ok=True)
        if backup is not None:
            path.rename(backup)
        fd, tmp = tempfile.mkstemp(prefix=f".{HOOK_NAME}.", dir=hooks)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(hook_script(python))
        Path(tmp).chmod(0o755)  # git runs only executable hooks
        Path(tmp).replace(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return HookChange(path, backup)


def uninstall_hook(hooks: Path) -> HookChange | None:
    """Remove scangate's `hooks/pre-push` (None when there is none) and put back the hook
    `install_hook --force` saved. A hook scangate did not write is refused."""
    path = hooks / HOOK_NAME
    if not (path.exists() or path.is_symlink()):
        return None
    if not is_scangate_hook(path):
        raise UsageError(f"{path} was not written by scangate: not removing it")
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    try:
        path.unlink()
        if backup.is_file() and not backup.is_symlink():
            backup.rename(path)
            return HookChange(path, backup)
    except OSError as exc:
        raise UsageError(f"cannot remove {path}: {exc.strerror or exc}") from None
    return HookChange(path)


# Run by `git submodule foreach` (in a shell, with git's documented variables): each
# initialized submodule's work tree, NUL-terminated, however odd its path.
_PRINT_SUBMODULE = 'printf "%s/%s\\0" "$toplevel" "$sm_path"'


def submodules(repo: Repo, *, env: Mapping[str, str]) -> list[Repo]:
    """Every initialized submodule of `repo`, nested ones too, outermost first."""
    out = run_git(
        ["submodule", "foreach", "--quiet", "--recursive", _PRINT_SUBMODULE], repo.root, env
    )
    return [find_repo(Path(path), env=env) for path in out.split("\0") if path]


def hook_dirs(repos: Sequence[Repo]) -> list[Path]:
    """The hooks directories of `repos`, each once (a shared core.hooksPath is one)."""
    return list(dict.fromkeys(repo.hooks for repo in repos))


def install_hooks(dirs: Sequence[Path], python: str, *, force: bool) -> list[HookChange]:
    """`install_hook` into each of `dirs`; nothing is written when any holds a hook scangate
    did not write and `force` is not set."""
    if not force:
        for hooks in dirs:
            path = hooks / HOOK_NAME
            if (path.exists() or path.is_symlink()) and not is_scangate_hook(path):
                install_hook(hooks, python, force=False)  # raises, naming the file
    return [install_hook(hooks, python, force=force) for hooks in dirs]
