"""scangate.licenses: license names read as SPDX expressions and judged against the policy's
lists. The names come from the scanned tree's package metadata, through Trivy: untrusted.
(The real license scanner's findings through the CLI: test_policy_risk.py.)
"""

from __future__ import annotations

import re

import pytest

from scangate.licenses import LicenseJudge, LicenseRules, Outcome, canonical_id
from scangate.policy_file import LicenseUnknown

ALLOW = LicenseRules(
    deny=("AGPL-3.0-only",),
    allow=("MIT", "Apache-2.0", "GPL-2.0-only WITH Classpath-exception-2.0"),
)


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("MIT", Outcome.ALLOWED),
        ("mit", Outcome.ALLOWED),  # SPDX identifiers are case-blind
        ("MIT OR GPL-3.0-only", Outcome.ALLOWED),  # one allowed choice is enough
        ("MIT AND GPL-3.0-only", Outcome.OUTSIDE),  # both are needed
        ("(MIT AND (Apache-2.0 OR AGPL-3.0-only))", Outcome.ALLOWED),
        ("MIT AND AGPL-3.0-only", Outcome.DENIED),
        ("GPL-3.0-only OR AGPL-3.0-only", Outcome.OUTSIDE),  # the better choice: outside
        ("AGPL-3.0", Outcome.DENIED),  # SPDX's deprecated ID is AGPL-3.0-only
        ("AGPLv3", Outcome.DENIED),  # a name Trivy 0.76 passes on unchanged
        ("GPL-2.0-only WITH Classpath-exception-2.0", Outcome.ALLOWED),
        ("GPL-2.0-only", Outcome.OUTSIDE),  # the exception was allowed, not the license
        ("MIT OR Custom", Outcome.ALLOWED),
        ("GPL-3.0-only OR Custom", Outcome.UNKNOWN),  # Custom may be fine: `unknown` decides
        ("MIT AND Custom", Outcome.UNKNOWN),
        ("AGPL-3.0-only AND Custom", Outcome.DENIED),
        ("Public Domain", Outcome.UNKNOWN),
        ("LicenseRef-acme", Outcome.UNKNOWN),
        ("", Outcome.UNKNOWN),
        ("MIT AND", Outcome.UNKNOWN),
    ],
)
def test_expressions_against_an_allow_list(name: str, outcome: Outcome) -> None:
    assert LicenseJudge(ALLOW).judge(name).outcome is outcome


def test_without_an_allow_list_only_deny_and_unknown_decide() -> None:
    judge = LicenseJudge(LicenseRules(deny=("SSPL-1.0",)))
    assert judge.judge("GPL-3.0-only").outcome is Outcome.NEUTRAL
    assert judge.judge("Server Side Public License").outcome is Outcome.DENIED
    assert judge.judge("Custom").outcome is Outcome.UNKNOWN
    assert LicenseRules(deny=("SSPL-1.0",)).effective_unknown is LicenseUnknown.REPORT
    assert ALLOW.effective_unknown is LicenseUnknown.FAIL  # an allow list is a closed world


@pytest.mark.parametrize(
    "name",
    [
        "(" * 5000 + "MIT" + ")" * 5000,
        "MIT AND " * 100_000 + "MIT",
        "MIT\n::error::forged\x1b[31m\u202e",
        "A" * 1_000_000,
    ],
    ids=["deep", "long", "control", "1MB"],
)
def test_a_hostile_name_is_unknown_and_its_reason_short(name: str) -> None:
    judged = LicenseJudge(ALLOW).judge(name)
    assert judged.outcome is Outcome.UNKNOWN
    assert len(judged.reason) < 200


def test_a_list_item_is_written_as_spdx_writes_it() -> None:
    assert canonical_id(" mit ") == "MIT"
    assert canonical_id("GPL-3.0") == "GPL-3.0-only"
    assert canonical_id("gpl-2.0-only with classpath-exception-2.0") == (
        "GPL-2.0-only WITH Classpath-exception-2.0"
    )
    assert canonical_id("LicenseRef-acme-1.0") == "LicenseRef-acme-1.0"
    with pytest.raises(ValueError, match=re.escape("did you mean 'Apache-2.0'")):
        canonical_id("Apache 2.0")
    with pytest.raises(ValueError, match="is an expression"):
        canonical_id("MIT OR Apache-2.0")
