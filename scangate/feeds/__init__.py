"""The exploitation feeds a policy may use: CISA's Known Exploited Vulnerabilities catalog
(`kev`) and FIRST's EPSS scores (`epss`), read strictly (`FeedError` for anything
truncated or out of shape), downloaded and cached by date (`store`), and put on the
findings (`enrich`).

Imports nothing heavy: `requests` is imported only by a run that downloads a feed.
"""

from __future__ import annotations

from scangate.errors import ScannerError

# The publishers' own addresses: CISA's catalog feed, and FIRST's daily EPSS file (served by
# Empirical Security for FIRST; the older epss.cyentia.com address redirects there).
KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
EPSS_URL = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"


class FeedError(ScannerError):
    """A feed that cannot be had or cannot be trusted: exit 3 when the policy needs it to
    decide, a warning when only the display uses it."""
