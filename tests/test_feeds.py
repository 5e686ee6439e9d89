"""The KEV and EPSS feeds read strictly (`scangate.feeds.kev`, `.epss`), downloaded and
cached by day (`scangate.feeds.store`, served by `responses` with the publishers' formats),
and put on findings (`scangate.feeds.enrich`)."""

from __future__ import annotations

import gzip
import json
import socket
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
import responses

from scangate.feeds import EPSS_URL, KEV_URL, FeedError, enrich, epss, kev, store
from scangate.findings import Finding, KevEntry, Kind, ScanRun, Severity
from tests.support import feeds
from tests.support.hostile import TEXT

TODAY = date(2026, 12, 1)


def kev_spec(file: Path | None = None, url: str = KEV_URL) -> store.FeedSpec[kev.KevCatalog]:
    return store.FeedSpec("KEV", "kev", ".json", url, file, kev.parse)


def epss_spec(file: Path | None = None, url: str = EPSS_URL) -> store.FeedSpec[epss.EpssScores]:
    return store.FeedSpec("EPSS", "epss", ".csv.gz", url, file, epss.parse)


def options(tmp_path: Path, **kw: object) -> store.FetchOptions:
    return store.FetchOptions(cache_dir=tmp_path / "cache", today=TODAY, **kw)  # type: ignore[arg-type]


def one_line(message: str) -> None:
    assert "\n" not in message and "\r" not in message and "\x1b" not in message


# --- KEV --------------------------------------------------------------------------------------


def test_the_fixture_catalog_is_read_with_typed_entries() -> None:
    catalog = kev.parse(feeds.KEV_FIXTURE.read_bytes(), "kev.json")
    assert catalog.version == "2026.11.30"
    assert catalog.day == date(2026, 11, 30)
    assert catalog.entries["CVE-2021-44228"] == KevEntry(
        date_added=date(2021, 12, 10), due_date=date(2021, 12, 24), ransomware=True
    )
    assert catalog.entries["CVE-2014-6271"].ransomware is False
    assert len(catalog.entries) == 3


def test_hostile_text_in_a_catalog_is_never_kept() -> None:
    data = feeds.kev_catalog([feeds.kev_vulnerability("CVE-2024-0001", text=TEXT)])
    catalog = kev.parse(data, "x")
    # Only typed facts survive: dates and a flag, nothing a writer could echo.
    assert catalog.entries == {
        "CVE-2024-0001": KevEntry(date(2024, 1, 10), date(2024, 1, 31), ransomware=False)
    }


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d[: len(d) // 2], "truncated"),
        (lambda d: b"[]", "not a JSON object"),
        (lambda d: b"\xff\xfe{", "not JSON"),
        (lambda d: d.replace(b'"count": 2', b'"count": 3'), "count is 3 but the catalog lists 2"),
        (lambda d: d.replace(b'"count": 2', b'"count": "2"'), "count is '2'"),
        (lambda d: d.replace(b'"CVE-2024-0002"', b'"CVE-24-2"'), "cveID is 'CVE-24-2'"),
        (lambda d: d.replace(b'"2024-01-10"', b'"2024-13-10"', 1), "dateAdded is '2024-13-10'"),
        (lambda d: d.replace(b'"2024-01-31"', b'"soon"', 1), "dueDate is 'soon'"),
        (lambda d: d.replace(b'"2024-01-31"', b'"20240131"', 1), "dueDate is '20240131'"),
        (lambda d: d.replace(b'"Unknown"', b'"Maybe"', 1), "not Known or Unknown"),
        (lambda d: d.replace(b'"Unknown"', b"[]", 1), "not Known or Unknown"),
        (lambda d: d.replace(b"T17:02:11.4725Z", b"x"), "dateReleased is"),
    ],
    ids=[
        "truncated", "array", "binary", "count", "count type", "cve", "added", "due", "basic",
        "ransomware", "ransomware type", "released",
    ],
)  # fmt: skip
def test_a_catalog_out_of_shape_is_refused_with_one_line(mutate: object, expected: str) -> None:
    good = feeds.kev_catalog(
        [feeds.kev_vulnerability("CVE-2024-0001"), feeds.kev_vulnerability("CVE-2024-0002")]
    )
    with pytest.raises(FeedError) as caught:
        kev.parse(mutate(good), "https://mirror.example/kev.json")  # type: ignore[operator]
    message = caught.value.message
    assert message.startswith("KEV feed https://mirror.example/kev.json: ")
    assert expected in message
    assert message.endswith(kev.FIX)
    one_line(message)


def test_a_catalog_nested_too_deep_is_refused() -> None:
    with pytest.raises(FeedError, match="not JSON"):
        kev.parse(b"[" * 100_000 + b"]" * 100_000 + b"}", "x")


def test_an_empty_catalog_is_refused() -> None:
    # count 0 agrees with an empty list, but no real catalog is empty: nothing would be KEV.
    with pytest.raises(FeedError, match="no vulnerabilities"):
        kev.parse(feeds.kev_catalog([]), "x")


def test_a_hostile_cve_id_is_quoted_escaped() -> None:
    data = feeds.kev_catalog([feeds.kev_vulnerability(TEXT)])
    with pytest.raises(FeedError) as caught:
        kev.parse(data, "x")
    one_line(caught.value.message)
    assert "\u202e" not in caught.value.message


# --- EPSS -------------------------------------------------------------------------------------


def test_the_fixture_scores_are_read_from_gzip() -> None:
    scores = epss.parse(feeds.EPSS_FIXTURE.read_bytes(), "epss.csv.gz")
    assert scores.model_version == "v2025.03.14"
    assert scores.day == date(2026, 11, 30)
    assert scores.scores["CVE-2021-44228"] == pytest.approx(0.94358)
    assert len(scores.scores) == 4


def test_a_plain_csv_is_read_too() -> None:
    data = feeds.epss_csv([("CVE-2024-0001", 0.5, 0.9)], scored=TODAY, compress=False)
    assert epss.parse(data, "x").scores == {"CVE-2024-0001": 0.5}


ROWS = [("CVE-2024-0001", 0.5, 0.9), ("CVE-2024-0002", 0.01, 0.2)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (feeds.epss_csv(ROWS)[:-12], "truncated (the gzip stream ends early)"),
        (feeds.epss_csv(ROWS, compress=False)[:-5], "truncated (the last line has no newline)"),
        (b"\x1f\x8bnot gzip at all", "corrupt gzip"),
        (gzip.compress(b"cve,epss,percentile\nCVE-2024-0001,0.5,0.9\n"), "the first line is"),
        (gzip.compress(b"#model_version:v1,score_date:2026-12-01\ncve,score\n"), "the header is"),
        (gzip.compress(b"#model_version:v1,score_date:yesterday\n"), "score_date 'yesterday'"),
        (gzip.compress(b"#model_version:v1,score_date:2026-12-01\ncve,epss,percentile\n"),
         "no scores"),
        (feeds.epss_csv([("CVE-2024-0001", 1.5, 0.9)]), "line 3 is 'CVE-2024-0001,1.50000"),
        (gzip.compress(b"#model_version:v1,score_date:2026-12-01\ncve,epss,percentile\n"
                       b"CVE-2024-0001,nan,0.5\n"), "two probabilities"),
        (gzip.compress(b"#model_version:v1,score_date:2026-12-01\ncve,epss,percentile\n"
                       b"CVE-2024-0001,0.5\n"), "not cve,epss,percentile"),
        (feeds.epss_csv([("cve-2024-0001", 0.1, 0.1)]), "a CVE ID"),
        (gzip.compress(b"#model_version:v1,score_date:2026-12-01\ncve,epss,percentile\n"
                       + TEXT.encode() + b"\n"), "not ASCII"),
    ],
    ids=[
        "cut gzip", "cut csv", "corrupt", "no comment", "header", "date", "empty", "above 1",
        "nan", "columns", "cve", "hostile",
    ],
)  # fmt: skip
def test_scores_out_of_shape_are_refused_with_one_line(data: bytes, expected: str) -> None:
    with pytest.raises(FeedError) as caught:
        epss.parse(data, "epss.csv.gz")
    message = caught.value.message
    assert message.startswith("EPSS feed epss.csv.gz: ")
    assert expected in message
    one_line(message)


def test_a_gzip_bomb_is_not_inflated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(epss, "MAX_TEXT", 1 << 16)
    bomb = gzip.compress(b"#" + b"0" * (1 << 20))
    with pytest.raises(FeedError, match="inflates past"):
        epss.parse(bomb, "x")


# --- download and cache (responses: the real request, the publishers' bodies) ----------------


def cached(tmp_path: Path, spec: store.FeedSpec[kev.KevCatalog], day: date, data: bytes) -> Path:
    path = store.folder(spec, tmp_path / "cache") / f"{day.isoformat()}{spec.suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def catalog(day: date = TODAY, cve: str = "CVE-2024-0001") -> bytes:
    return feeds.kev_catalog([feeds.kev_vulnerability(cve)], released=day)


def test_a_current_feed_is_downloaded_once_a_day_and_cached_whole(
    tmp_path: Path, hermetic: responses.RequestsMock
) -> None:
    hermetic.get(KEV_URL, body=catalog(), content_type="application/json")
    loaded = store.load(kev_spec(), options(tmp_path))
    assert set(loaded.feed.entries) == {"CVE-2024-0001"}
    assert loaded.origin == KEV_URL and loaded.warnings == ()
    folder = tmp_path / "cache" / "feeds" / "kev"
    assert sorted(p.name for p in folder.iterdir()) == ["2026-12-01.json"]  # no temp file left
    # Again the same day: the cached copy, no request.
    again = store.load(kev_spec(), options(tmp_path))
    assert again.feed == loaded.feed and again.origin == str(folder / "2026-12-01.json")
    assert len(hermetic.calls) == 1
    assert hermetic.calls[0].request.url == KEV_URL


def test_the_next_days_download_replaces_the_older_copy(
    tmp_path: Path, hermetic: responses.RequestsMock
) -> None:
    cached(tmp_path, kev_spec(), TODAY - timedelta(days=1), catalog(cve="CVE-2020-0001"))
    hermetic.get(KEV_URL, body=catalog())
    loaded = store.load(kev_spec(), options(tmp_path))
    assert set(loaded.feed.entries) == {"CVE-2024-0001"}
    folder = tmp_path / "cache" / "feeds" / "kev"
    assert [p.name for p in folder.iterdir()] == ["2026-12-01.json"]


def test_gzip_epss_from_a_mirror(tmp_path: Path, hermetic: responses.RequestsMock) -> None:
    mirror = "https://mirror.example/epss/epss_scores-current.csv.gz"
    hermetic.get(mirror, body=feeds.epss_csv(ROWS, scored=TODAY), content_type="application/gzip")
    loaded = store.load(epss_spec(url=mirror), options(tmp_path))
    assert loaded.feed.scores == {"CVE-2024-0001": 0.5, "CVE-2024-0002": 0.01}
    assert (tmp_path / "cache" / "feeds" / "epss" / "2026-12-01.csv.gz").is_file()


def test_unreachable_without_a_cached_copy_is_an_error_naming_the_way_out(
    tmp_path: Path, hermetic: responses.RequestsMock
) -> None:
    hermetic.get(KEV_URL, body=requests.ConnectionError("refused"))
    with pytest.raises(FeedError) as caught:
        store.load(kev_spec(), options(tmp_path))
    message = caught.value.message
    assert message.startswith(f"KEV feed {KEV_URL}: cannot download it (cannot connect)")
    assert "no cached copy in" in message
    assert message.endswith("set --kev-url to a reachable mirror, or give --kev-file PATH")
    one_line(message)


def test_unreachable_with_a_young_cached_copy_uses_it_with_a_warning(
    tmp_path: Path, hermetic: responses.RequestsMock
) -> None:
    cached(tmp_path, kev_spec(), TODAY - timedelta(days=3), catalog())
    hermetic.get(KEV_URL, body=requests.ConnectTimeout("slow"))
    loaded = store.load(kev_spec(), options(tmp_path))
    assert set(loaded.feed.entries) == {"CVE-2024-0001"}
    assert loaded.warnings == (
        f"KEV feed {KEV_URL}: cannot download it (connection timed out): "
        "using the cached copy from 2026-11-28",
    )


def test_unreachable_with_a_stale_cached_copy_is_refused(
    tmp_path: Path, hermetic: responses.RequestsMock
) -> None:
    path = cached(tmp_path, kev_spec(), TODAY - timedelta(days=8), catalog())
    hermetic.get(KEV_URL, status=503)
    with pytest.raises(FeedError) as caught:
        store.load(kev_spec(), options(tmp_path, max_age_days=7))
    assert caught.value.message == (
        f"KEV feed {KEV_URL}: cannot download it (HTTP 503), and the cached copy {path} is "
        "8 days old (--max-feed-age 7): set --kev-url to a reachable mirror, or give "
        "--kev-file PATH"
    )
    # A larger --max-feed-age accepts it.
    assert store.load(kev_spec(), options(tmp_path, max_age_days=8)).feed.entries


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (catalog()[:-40], "truncated"),
        (catalog().replace(b'"count": 1', b'"count": 1500'), "count is 1500"),
    ],
    ids=["truncated", "wrong count"],
)
def test_a_bad_download_is_never_cached_and_falls_back_or_fails(
    tmp_path: Path, hermetic: responses.RequestsMock, body: bytes, expected: str
) -> None:
    hermetic.get(KEV_URL, body=body)
    with pytest.raises(FeedError, match=expected):
        store.load(kev_spec(), options(tmp_path))
    assert not (tmp_path / "cache" / "feeds" / "kev").exists()
    cached(tmp_path, kev_spec(), TODAY - timedelta(days=1), catalog(cve="CVE-2020-0001"))
    loaded = store.load(kev_spec(), options(tmp_path))
    assert set(loaded.feed.entries) == {"CVE-2020-0001"}
    assert (
        expected in loaded.warnings[0]
        and "using the cached copy from 2026-11-30" in (loaded.warnings[0])
    )


def test_a_download_cut_short_by_the_connection_is_refused(
    tmp_path: Path, hermetic: responses.RequestsMock
) -> None:
    hermetic.get(KEV_URL, body=requests.exceptions.ChunkedEncodingError("IncompleteRead"))
    with pytest.raises(FeedError, match=r"cannot download it \(the connection broke\)"):
        store.load(kev_spec(), options(tmp_path))


def test_offline_reads_only_the_cache(tmp_path: Path, hermetic: responses.RequestsMock) -> None:
    with pytest.raises(FeedError) as caught:
        store.load(kev_spec(), options(tmp_path, offline=True))
    assert caught.value.message == (
        f"KEV feed: --offline and no cached copy in {tmp_path / 'cache' / 'feeds' / 'kev'}: "
        "drop --offline to download it, or give --kev-file PATH"
    )
    cached(tmp_path, kev_spec(), TODAY - timedelta(days=2), catalog())
    assert store.load(kev_spec(), options(tmp_path, offline=True)).feed.entries
    path = cached(tmp_path, epss_spec(), TODAY - timedelta(days=9), feeds.epss_csv(ROWS))  # type: ignore[arg-type]
    with pytest.raises(FeedError) as stale:
        store.load(epss_spec(), options(tmp_path, offline=True))
    assert stale.value.message == (
        f"EPSS feed: the cached copy {path} is 9 days old (--max-feed-age 7): drop --offline "
        "to download it"
    )
    assert len(hermetic.calls) == 0


def test_a_corrupt_cached_copy_of_today_is_downloaded_again(
    tmp_path: Path, hermetic: responses.RequestsMock
) -> None:
    cached(tmp_path, kev_spec(), TODAY, b'{"catalogVersion": "x", "count": 1, "vulnerabi')
    hermetic.get(KEV_URL, body=catalog())
    assert set(store.load(kev_spec(), options(tmp_path)).feed.entries) == {"CVE-2024-0001"}
    assert len(hermetic.calls) == 1


def test_a_named_file_is_read_without_the_network_and_judged_by_its_own_date(
    tmp_path: Path, hermetic: responses.RequestsMock
) -> None:
    path = tmp_path / "kev.json"
    path.write_bytes(catalog(day=TODAY - timedelta(days=2)))
    loaded = store.load(kev_spec(file=path), options(tmp_path))
    assert loaded.origin == str(path) and set(loaded.feed.entries) == {"CVE-2024-0001"}
    path.write_bytes(catalog(day=TODAY - timedelta(days=30)))
    with pytest.raises(FeedError) as caught:
        store.load(kev_spec(file=path), options(tmp_path))
    assert caught.value.message == (
        f"KEV feed --kev-file {path}: dated 2026-11-01, 30 days old (--max-feed-age 7): "
        "give a newer copy"
    )
    # One day over a limit of 0: "1 day old".
    path.write_bytes(catalog(day=TODAY - timedelta(days=1)))
    with pytest.raises(FeedError, match=r"dated 2026-11-30, 1 day old \(--max-feed-age 0\)"):
        store.load(kev_spec(file=path), options(tmp_path, max_age_days=0))
    with pytest.raises(FeedError, match=r"--epss-file .*nope: cannot read it .*check the path"):
        store.load(epss_spec(file=tmp_path / "nope"), options(tmp_path))
    assert len(hermetic.calls) == 0
    assert not (tmp_path / "cache").exists()


def test_the_cache_unwritable_is_a_warning_not_a_failure(
    tmp_path: Path, hermetic: responses.RequestsMock
) -> None:
    (tmp_path / "cache").write_text("a file where the cache dir would be")
    hermetic.get(KEV_URL, body=catalog())
    loaded = store.load(kev_spec(), options(tmp_path))
    assert loaded.feed.entries and loaded.warnings[0].startswith("cannot cache the KEV feed")


# --- enrichment ---------------------------------------------------------------------------------


def vuln(finding_id: str, kind: Kind = Kind.VULNERABILITY) -> Finding:
    return Finding(kind=kind, id=finding_id, severity=Severity.HIGH, target="t")


@pytest.mark.parametrize(
    ("finding_id", "cve"),
    [
        ("CVE-2021-44228", "CVE-2021-44228"),
        ("cve-2021-44228", "CVE-2021-44228"),
        ("DEBIAN-CVE-2021-44228", "CVE-2021-44228"),
        ("GHSA-jfh8-c2jp-5v3q", None),
        ("CVE-2021-1", "CVE-2021-1"),  # in no feed: looked up as it is
        ("DLA-3000-1", None),
    ],
)
def test_the_cve_of_a_vulnerability_id(finding_id: str, cve: str | None) -> None:
    assert enrich.cve_of(finding_id) == cve


def test_enrichment_marks_every_finding_of_a_cve_and_only_vulnerabilities() -> None:
    a, b, other = vuln("CVE-2021-44228"), vuln("cve-2021-44228"), vuln("CVE-2020-0001")
    alias = vuln("DEBIAN-CVE-2021-44228")
    secret = vuln("CVE-2021-44228", Kind.SECRET)  # a secret rule named like a CVE
    ghsa = vuln("GHSA-jfh8-c2jp-5v3q")
    run = ScanRun(artifact=None, findings=[a, b, other, alias, secret, ghsa])  # type: ignore[arg-type]
    entry = KevEntry(date(2021, 12, 10), date(2021, 12, 24), ransomware=True)
    counts = enrich.apply(
        [run], {"CVE-2021-44228": entry}, {"CVE-2021-44228": 0.9, "CVE-2020-0001": 0.1}
    )
    assert counts == (3, 4)
    assert [f.kev for f in (a, b, alias, other, secret, ghsa)] == [entry] * 3 + [None] * 3
    assert [f.epss for f in (a, b, alias, other, secret, ghsa)] == [0.9] * 3 + [0.1, None, None]
    # One feed only: the other field stays unset.
    fresh = vuln("CVE-2021-44228")
    assert enrich.apply([ScanRun(None, [fresh])], None, {"CVE-2021-44228": 0.5}) == (0, 1)  # type: ignore[arg-type]
    assert (fresh.kev, fresh.epss) == (None, 0.5)
    assert enrich.any_cve([run]) and not enrich.any_cve([ScanRun(None, [secret, ghsa])])  # type: ignore[arg-type]


def test_the_fixture_feeds_name_no_cve_of_the_test_db() -> None:
    # Every test reads these (conftest): a default run must mark nothing in the test reports.
    from tests.support import trivydb

    names = {v for k, v in vars(trivydb).items() if k.endswith("_CVE") and isinstance(v, str)}
    catalog = kev.parse(feeds.KEV_FIXTURE.read_bytes(), "x")
    scores = epss.parse(feeds.EPSS_FIXTURE.read_bytes(), "x")
    assert names and not names & (set(catalog.entries) | set(scores.scores))
    assert json.loads(feeds.KEV_FIXTURE.read_text())["count"] == len(catalog.entries)


def test_a_server_that_never_answers_fails_within_the_timeout(
    tmp_path: Path, hermetic: responses.RequestsMock
) -> None:
    # A real socket that accepts and stays silent (a black-holed mirror): the read timeout
    # ends the wait, and the run goes on to its cached copy or its error.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/kev.json"
        hermetic.add_passthru(url)
        start = time.monotonic()
        with pytest.raises(FeedError, match=r"cannot download it \(no answer in time\)"):
            store.load(kev_spec(url=url), options(tmp_path, timeout=(0.5, 0.5)))
        assert time.monotonic() - start < 5
    assert store.TIMEOUT[0] <= 5  # connecting: an unreachable feed costs seconds, not minutes
