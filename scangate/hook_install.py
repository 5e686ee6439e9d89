"""The pre-push hook file: what `scangate hook install` writes and `uninstall` removes.

Install writes one small shell script into git's hooks directory (`core.hooksPath` when
set) of the repository and of every initialized submodule, recursively: `git push
--recurse-submodules` runs `git push` inside each submodule, and that push runs the
submodule's own hooks, never the superproject's. A hook scangate did not write is left
alone, or with `--force` kept aside as `pre-push.scangate-backup` and chained: scangate's hook
runs it after the gate passes, with git's arguments and ref lines, so a hook such as Git
LFS's (`git lfs pre-push`, which uploads the LFS objects a push needs) keeps working.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from scangate.errors import UsageError
from scangate.hook import Repo, find_repo, run_git

HOOK_NAME = "pre-push"
HOOK_MARKER = "# installed by scangate hook install"
"""The line that marks a hook file as scangate's: install rewrites and uninstall removes only
files that hold it."""
BACKUP_SUFFIX = ".scangate-backup"


def hook_script(python: str, chained: str = HOOK_NAME + BACKUP_SUFFIX) -> str:
    """The pre-push hook `scangate hook install` writes: it runs this Python's scangate, then,
    when scangate passes, the hook named `chained` in its own directory (the one `install
    --force` set aside) when that is an executable file scangate did not write.

    git writes its ref lines to the hook's stdin once, so the script keeps them in a variable
    and gives both the same bytes (`$(cat; echo x)` keeps the final newline). The set-aside
    hook is found next to `$0`, which git runs from the work tree root (or the git dir of a
    bare repository) without changing directory, so a moved repository still finds it; a
    scangate hook there is never run (it would gate twice, or run itself forever).
    """
    exe = shlex.quote(python)
    name = shlex.quote(chained)
    return (
        "#!/bin/sh\n"
        f"{HOOK_MARKER}\n"
        "# Gates what `git push` sends with scangate; `scangate hook uninstall` removes it.\n"
        f"# When the gate passes, runs {chained} (the hook `scangate hook install --force`\n"
        "# set aside) with the same arguments and input and exits with its status.\n"
        f"if [ ! -x {exe} ]; then\n"
        f"    echo 'scangate pre-push hook: cannot run '{exe}': reinstall with "
        '`scangate hook install`, or remove \'"$0" >&2\n'
        "    exit 1\n"
        "fi\n"
        "case $0 in\n"
        f"*/*) chained=${{0%/*}}/{name} ;;\n"
        f"*) chained=./{name} ;;\n"
        "esac\n"
        'if [ ! -f "$chained" ] || [ ! -x "$chained" ] || '
        f'grep -qxF {shlex.quote(HOOK_MARKER)} "$chained" 2>/dev/null; then\n'
        f'    exec {exe} -m scangate hook pre-push "$@"\n'
        "fi\n"
        "input=$(cat; echo x)\n"
        "input=${input%x}\n"
        f'printf \'%s\' "$input" | {exe} -m scangate hook pre-push "$@" || exit\n'
        'printf \'%s\' "$input" | "$chained" "$@"\n'
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
    chained: Path | None = None  # the set-aside hook the new hook runs after the gate passes


def _present(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _backup_names(path: Path) -> Iterator[Path]:
    yield path.with_name(path.name + BACKUP_SUFFIX)
    yield from (path.with_name(f"{path.name}{BACKUP_SUFFIX}.{n}") for n in count(1))


def _backup_path(path: Path) -> Path:
    """The first free backup name: `pre-push.scangate-backup`, then `...-backup.1`, ..."""
    return next(name for name in _backup_names(path) if not _present(name))


def _latest_backup(path: Path) -> Path | None:
    """The hook the last `install --force` set aside: the last taken backup name."""
    latest = None
    for name in _backup_names(path):
        if not _present(name):
            return latest
        latest = name
    return None  # unreachable: the names never end


def _runnable(path: Path) -> bool:
    """What the hook script runs: an executable file (git ignores any other hook) that
    scangate did not write."""
    return path.is_file() and os.access(path, os.X_OK) and not is_scangate_hook(path.resolve())


def install_hook(hooks: Path, python: str, *, force: bool) -> HookChange:
    """Write `hooks/pre-push`. A hook scangate did not write is refused unless `force`; then
    it is kept as `pre-push.scangate-backup`, which the new hook runs after the gate passes
    and `uninstall_hook` puts back."""
    path = hooks / HOOK_NAME
    backup = None
    exists = path.exists() or path.is_symlink()
    if exists and not is_scangate_hook(path):
        if not force:
            raise UsageError(
                f"{path} exists and was not written by scangate: keep it, or replace it with "
                f"`scangate hook install --force` (it is then saved as {path.name}{BACKUP_SUFFIX} "
                "and run after scangate's gate passes)"
            )
        backup = _backup_path(path)
    # A reinstall keeps running the hook an earlier `--force` set aside.
    chained = backup or _latest_backup(path) or path.with_name(path.name + BACKUP_SUFFIX)
    try:
        hooks.mkdir(parents=True, exist_ok=True)
        if backup is not None:
            path.rename(backup)
        fd, tmp = tempfile.mkstemp(prefix=f".{HOOK_NAME}.", dir=hooks)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(hook_script(python, chained.name))
        Path(tmp).chmod(0o755)  # git runs only executable hooks
        Path(tmp).replace(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return HookChange(path, backup, chained if _runnable(chained) else None)


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
