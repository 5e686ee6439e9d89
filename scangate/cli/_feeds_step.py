"""The feed step of a gating run: after the findings are read and before the gate decides,
read the feeds the policy uses (`scangate.feeds`) and put them on the findings.

Only when needed: KEV when the policy's `kev` is not `off`, EPSS when it sets
`epss.fail-at`, and neither when no finding names a CVE. A feed the policy needs to decide
(`kev: fail`, `epss.fail-at`) that cannot be had is exit 3 (fail closed: never a pass);
one only the display uses (`kev: report`) is a warning, and the run goes on; in a hook,
which never downloads, a display-only KEV feed that was never cached is skipped silently
(the hook would otherwise say so on every push).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scangate.cli import _console
from scangate.policy_file import KevMode

if TYPE_CHECKING:
    from scangate.cli._gate_step import GateArgs
    from scangate.feeds.store import FeedSpec, FetchOptions, T
    from scangate.findings import KevEntry, ScanRun
    from scangate.policy import Policy


def apply_feeds(
    runs: Sequence[ScanRun], policy: Policy, args: GateArgs, *, offline: bool | None = None
) -> None:
    """Set `finding.kev` and `finding.epss` as the policy asks; `offline` overrides the
    arguments' (the hooks never download)."""
    need_kev = policy.kev is not KevMode.OFF
    need_epss = policy.epss_fail_at is not None
    if not (need_kev or need_epss):
        return
    from scangate.feeds import enrich

    if not enrich.any_cve(runs):
        return  # no CVE to look up: no feed is read (no request, no cache)
    from scangate.feeds import EPSS_URL, KEV_URL, FeedError, epss, kev, store

    cached = (need_kev and args.kev_file is None) or (need_epss and args.epss_file is None)
    options = store.FetchOptions(
        cache_dir=_cache_dir(args.cache_dir) if cached else Path(),
        today=datetime.now(UTC).date(),
        offline=args.offline if offline is None else offline,
        max_age_days=args.max_feed_age,
    )
    if offline:  # a hook: the user asked for no --offline
        options = dataclasses.replace(
            options,
            offline_why="hooks never download",
            offline_fix="a `scangate scan fs` run caches it",
        )
    kev_entries: dict[str, KevEntry] | None = None
    epss_scores: dict[str, float] | None = None
    if need_kev:
        spec = store.FeedSpec(
            "KEV", "kev", ".json", args.kev_url or KEV_URL, args.kev_file, kev.parse
        )
        # A hook with no cached copy at all: there is nothing it could show and no way for it
        # to get one. A copy that is there (even a stale or bad one) is read or warned about.
        never_had = (
            offline
            and policy.kev is KevMode.REPORT
            and args.kev_file is None
            and not store.cached_copies(spec, options.cache_dir)
        )
        try:
            catalog = None if never_had else _load(spec, options)
        except FeedError as exc:
            if policy.kev is KevMode.FAIL:
                raise FeedError(f"{exc.message} (the policy's kev: fail needs this feed)") from None
            _console.warning(f"{exc.message} (KEV marks are not shown)")
        else:
            kev_entries = catalog.entries if catalog is not None else None
    if need_epss:
        scores_spec = store.FeedSpec(
            "EPSS", "epss", ".csv.gz", args.epss_url or EPSS_URL, args.epss_file, epss.parse
        )
        try:
            scores = _load(scores_spec, options)
        except FeedError as exc:
            raise FeedError(f"{exc.message} (the policy's epss fail-at needs this feed)") from None
        epss_scores = scores.scores
    enrich.apply(runs, kev_entries, epss_scores)


def _load(spec: FeedSpec[T], options: FetchOptions) -> T:
    from scangate.feeds import store

    loaded = store.load(spec, options)
    for message in loaded.warnings:
        _console.warning(message)
    return loaded.feed


def _cache_dir(value: Path | None) -> Path:
    # As `_trivy_binary.cache_dir`, without importing what finds and installs Trivy.
    if value is not None:
        return value
    import platformdirs

    return Path(platformdirs.user_cache_dir("scangate"))
