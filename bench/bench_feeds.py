"""Benchmark: the KEV and EPSS feeds (issue 11). Asserts nothing; prints the figures.

1. download: a loopback HTTP server serves a full-size KEV catalog (1,500 entries) and
   EPSS file (300,000 rows, gzip), as CISA and FIRST publish them; `store.load` downloads,
   checks and caches each (a fresh cache each time), then reads today's cached copy;
2. enrichment: the 100k-finding report's runs get `kev` and `epss` (`feeds.enrich`);
3. end to end: `scangate check REPORT -f json` with a policy that reads neither feed,
   against one that reads both (from the cache), medians of interleaved runs.

Targets (set here, none in the issue): enrichment of 100k findings under 5% of reading the
report; both feeds together add under 1 s to a 100k-finding check.

    python bench/bench_feeds.py [REPORT] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from synth_report import ensure  # noqa: E402

from scangate.feeds import enrich, epss, kev, store  # noqa: E402
from tests.support import feeds  # noqa: E402

SCANGATE = Path(sys.executable).parent / "scangate"
DEFAULT_REPORT = Path("/tmp/sg-bench/r100k.json")
KEV_PATH = "/kev.json"
EPSS_PATH = "/epss.csv.gz"


def full_size_feeds() -> tuple[bytes, bytes]:
    """KEV (1,500) and EPSS (300,000) in the real formats, over the CVE IDs that
    `synth_report` uses (CVE-2010..2024, numbers from 10000), so the enrichment has hits."""
    rng = random.Random(11)
    kev_data = feeds.kev_catalog(
        [
            feeds.kev_vulnerability(
                f"CVE-{2010 + n % 15}-{10000 + rng.randrange(90000)}",
                ransomware=rng.choice(["Known", "Unknown"]),
            )
            for n in range(1_500)
        ]
    )
    rows = (
        (f"CVE-{2010 + n % 15}-{10000 + n // 15 * 4}", rng.random(), rng.random())
        for n in range(300_000)
    )
    return kev_data, feeds.epss_csv(rows)


def median_time(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    report = ensure(opts.report, 100, 1000) if opts.report == DEFAULT_REPORT else opts.report
    kev_data, epss_data = full_size_feeds()
    epss_text = len(gzip.decompress(epss_data))
    print(
        f"feeds: KEV {len(kev_data) / 1e6:.2f} MB (1,500 entries); EPSS "
        f"{len(epss_data) / 1e6:.2f} MB gzip, {epss_text / 1e6:.1f} MB CSV (300,000 rows)"
    )
    today = datetime.now(UTC).date()

    with feeds.serve() as server, tempfile.TemporaryDirectory(prefix="sg-feeds-") as work:
        server.routes = {KEV_PATH: kev_data, EPSS_PATH: epss_data}
        kev_spec = store.FeedSpec("KEV", "kev", ".json", server.url + KEV_PATH, None, kev.parse)
        epss_spec = store.FeedSpec(
            "EPSS", "epss", ".csv.gz", server.url + EPSS_PATH, None, epss.parse
        )
        counter = iter(range(1 << 30))

        def fresh(spec: store.FeedSpec[store.T]) -> None:
            options = store.FetchOptions(Path(work) / f"c{next(counter)}", today)
            store.load(spec, options)

        cached_opts = store.FetchOptions(Path(work) / "cached", today)
        store.load(kev_spec, cached_opts)
        store.load(epss_spec, cached_opts)
        steps = [
            ("KEV download+check+cache", lambda: fresh(kev_spec)),
            ("KEV cached read+check", lambda: store.load(kev_spec, cached_opts)),
            ("KEV parse only", lambda: kev.parse(kev_data, "x")),
            ("EPSS download+check+cache", lambda: fresh(epss_spec)),
            ("EPSS cached read+check", lambda: store.load(epss_spec, cached_opts)),
            ("EPSS parse only", lambda: epss.parse(epss_data, "x")),
        ]
        for label, step in steps:
            print(f"{label:28s} {median_time(step, opts.repeat) * 1000:8.1f} ms")

        # 2. enrichment of the 100k-finding report.
        from scangate.cli.check import read_runs

        start = time.perf_counter()
        runs = read_runs([str(report)])
        read = time.perf_counter() - start
        findings = sum(len(r.findings) for r in runs)
        catalog = kev.parse(kev_data, "x")
        scores = epss.parse(epss_data, "x")

        def enrichment() -> tuple[int, int]:
            return enrich.apply(runs, catalog.entries, scores.scores)

        marked, scored = enrichment()
        took = median_time(enrichment, opts.repeat)
        share = took / read
        print(f"report: {findings} findings, read in {read:.2f} s")
        verdict = "met" if share < 0.05 else "NOT met"
        print(
            f"enrichment: {took * 1000:.1f} ms ({marked} KEV marks, {scored} EPSS scores); "
            f"{share:.1%} of reading the report: target < 5% {verdict}"
        )

        # 3. end to end through the CLI, the feeds from the cache the first loads wrote.
        plain = Path(work) / "plain.yaml"
        plain.write_text("version: 1\nkev: 'off'\n")
        both = Path(work) / "both.yaml"
        both.write_text("version: 1\nkev: report\nepss:\n  fail-at: 0.99\n")
        env_args = ["--cache-dir", str(Path(work) / "cached"), "--offline", "-f", "json"]

        def cli(policy: Path) -> float:
            start = time.perf_counter()
            proc = subprocess.run(
                [str(SCANGATE), "check", str(report), "-p", str(policy), *env_args],
                capture_output=True, check=False,
            )  # fmt: skip
            elapsed = time.perf_counter() - start
            assert proc.returncode in (0, 1), proc.stderr.decode()[-500:]
            if policy is both:
                result = json.loads(proc.stdout)
                assert any(f["kev"] for f in result["findings"])
            return elapsed

        off, on = [], []
        for _ in range(opts.repeat):
            off.append(cli(plain))
            on.append(cli(both))
        a, b = statistics.median(off), statistics.median(on)
        print(f"check -f json, no feeds:   {a:.2f} s (median of {opts.repeat})")
        print(f"check -f json, KEV + EPSS: {b:.2f} s; +{b - a:.2f} s, ratio {b / a:.2f}: "
              f"target < +1 s {'met' if b - a < 1.0 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
