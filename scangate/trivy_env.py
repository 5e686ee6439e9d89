"""The environment Trivy runs with: everything but `TRIVY_*` and scangate's own
`SCANGATE_*`, and only the `TRIVY_*` variables on an allowlist.

Trivy reads every flag from `TRIVY_<FLAG>` too (`pkg/flag/options.go` binds
`TRIVY_` + the flag name), so a variable in a user's shell, a CI job or a dotenv file could
switch Trivy to a server that answers "nothing found" (`TRIVY_SERVER`), hide findings
(`TRIVY_SEVERITY`, `TRIVY_SKIP_DIRS`) or change the report. Trivy grows flags every release,
so a denylist is always one release behind: only variables that cannot change what a scan
finds pass, each with its reason. Everything scangate itself needs is passed as a flag.
Proxies (`HTTPS_PROXY`, `NO_PROXY`), `SSL_CERT_FILE`, `DOCKER_CONFIG` and cloud credentials
are not `TRIVY_` names and pass unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

ALLOWED_TRIVY_ENV = frozenset(
    {
        # Registry credentials for `scan image` (pkg/flag/registry_flags.go). Trivy's help
        # recommends TRIVY_PASSWORD over --password so the secret stays out of argv.
        "TRIVY_USERNAME",
        "TRIVY_PASSWORD",
        "TRIVY_REGISTRY_TOKEN",
        # A CA bundle for a TLS-intercepting proxy or a private registry (global flags): it
        # only adds trust anchors, as SSL_CERT_FILE (which Go reads anyway) does.
        "TRIVY_CACERT",
        # Mirrors of the vulnerability DB, the Java DB and the misconfiguration checks
        # (db_flags.go, misconf_flags.go): CI sets them where ghcr.io is rate-limited or
        # unreachable. Whoever sets them chooses the advisory data, like --db-repository
        # (which wins when both are given); the README says so.
        "TRIVY_DB_REPOSITORY",
        "TRIVY_JAVA_DB_REPOSITORY",
        "TRIVY_CHECKS_BUNDLE_REPOSITORY",
        # Authentication to the server chosen by scangate's --server (remote_flags.go); they
        # do nothing without it, and the server itself never comes from the environment.
        "TRIVY_TOKEN",
        "TRIVY_TOKEN_HEADER",
        "TRIVY_CUSTOM_HEADERS",
        # Privacy opt-outs (global flags): no effect on what is found.
        "TRIVY_DISABLE_TELEMETRY",
        "TRIVY_SKIP_VERSION_CHECK",
    }
)


def trivy_env(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without the `TRIVY_*` variables that are not on the allowlist, and without
    scangate's own settings (Trivy has no use for them: feed paths, tokens of mirrors)."""
    return {
        key: value
        for key, value in environ.items()
        if not key.upper().startswith(("TRIVY_", "SCANGATE_")) or key in ALLOWED_TRIVY_ENV
    }
