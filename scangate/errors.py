"""The one error hierarchy, and the exit codes it maps to.

Every error carries a one-line message that names the file, the field and the fix.
The CLI catches `ScangateError` once and exits with `exit_code`; nothing else exits.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    PASS = 0
    GATE_FAILED = 1
    USAGE = 2
    SCANNER = 3
    INTERRUPTED = 130


class ScangateError(Exception):
    """Base for every error scangate reports to the user."""

    exit_code: ExitCode = ExitCode.SCANNER

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def diagnostics(self) -> str:
        """The text printed to stderr: the first line is the summary."""
        return self.message


class UsageError(ScangateError):
    """Bad flags, a bad policy file or another configuration mistake: exit 2."""

    exit_code = ExitCode.USAGE


class PolicyError(UsageError):
    """A policy, allowlist or ignore file that cannot be used."""


class ScannerError(ScangateError):
    """The scan could not run or its result cannot be read: exit 3 (fail closed)."""

    exit_code = ExitCode.SCANNER


class ReportError(ScannerError):
    """A Trivy report that is not valid JSON, has the wrong schema or is truncated."""


class TrivyNotFoundError(ScannerError):
    """No usable Trivy binary, and installing one is off or failed."""


class InstallError(ScannerError):
    """Downloading or verifying a Trivy release failed; nothing was left behind."""


class TrivyRunError(ScannerError):
    """Trivy exited non-zero, timed out, was killed or wrote no usable output."""

    def __init__(
        self, message: str, argv: list[str], returncode: int | None, stderr_tail: str
    ) -> None:
        super().__init__(message)
        self.argv = argv
        self.returncode = returncode
        self.stderr_tail = stderr_tail

    def diagnostics(self) -> str:
        if not self.stderr_tail.strip():
            return self.message
        tail = "\n".join("  trivy: " + line for line in self.stderr_tail.strip().splitlines())
        return f"{self.message}\n{tail}"
