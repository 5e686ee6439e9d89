"""The policy's time and risk rules (issue 11), for the gate (`gate._decide`) to apply:
known exploitation (KEV) and EPSS, the grace period of a new advisory, the age limit of
unfixed vulnerabilities, and the `licenses` lists.

Precedence, from the strongest (what a security team expects, failing closed):

1. An allow entry, a Trivy suppression or an inline ignore the policy honours accepts the
   finding, KEV or not: it is the one place a person states a reason (`strict` also demands
   an expiry). Nothing here overrides it.
2. `kev: fail` and `epss.fail-at` fail the finding whatever its severity, fix state, grace
   or `fail-on`; and neither a baseline nor the `--diff-base` commit excuses it
   (`Risk.override`, the gate's `Decided.sticky`): only an allow entry does.
3. `licenses`: a denied license, or one outside the allow list, fails; one on the allow list
   passes whatever Trivy's category; an unknown one fails with `unknown: fail`; anything
   else is left to `fail-on` as before.
4. `fail-on`: below the threshold is `below-threshold`.
5. `ignore-unfixed`: an unfixed vulnerability is `unfixed`, unless older than its severity's
   `unfixed-max-days`, or without a published date to measure (failing closed): then it fails.
6. `grace-days`: a vulnerability that would fail, published fewer than N days before today,
   is `grace`. Without a published date there is no grace. A published date more than a day
   after today counts as none for both rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from scangate.findings import Finding, KevEntry, Kind, Severity
from scangate.licenses import LicenseJudge, Outcome
from scangate.policy import KevMode, Policy
from scangate.policy_file import LicenseUnknown

# A published date this many days after `today` is a time zone apart; a later one is not a
# real advisory's date, and buys no grace and no unfixed time (a report is untrusted input).
_SKEW_DAYS = 1


@dataclass(frozen=True, slots=True)
class Risk:
    """The rules of one policy that are set, prepared once per evaluation."""

    kev_fail: bool
    epss_fail_at: float | None
    grace: dict[Severity, int]  # only severities with a grace of a day or more
    unfixed_max: dict[Severity, int]
    licenses: LicenseJudge | None

    @classmethod
    def of(cls, policy: Policy) -> Risk | None:
        """None when the policy sets none of these rules: the gate then decides as before."""
        grace = {s: d for s, d in policy.grace_days.items() if d > 0}
        risk = cls(
            kev_fail=policy.kev is KevMode.FAIL,
            epss_fail_at=policy.epss_fail_at,
            grace=grace,
            unfixed_max=dict(policy.unfixed_max_days),
            licenses=LicenseJudge(policy.licenses) if policy.licenses is not None else None,
        )
        if (
            risk.kev_fail
            or risk.epss_fail_at is not None
            or grace
            or risk.unfixed_max
            or risk.licenses
        ):
            return risk
        return None

    def override(self, finding: Finding) -> str | None:
        """Why KEV or EPSS fail the finding whatever else holds, or None."""
        kev, epss = finding.kev, finding.epss
        if kev is None and epss is None:  # most findings: one test
            return None
        reasons = []
        if self.kev_fail and kev is not None:
            reasons.append(kev_reason(kev))
        fail_at = self.epss_fail_at
        if fail_at is not None and epss is not None and epss >= fail_at:
            reasons.append(f"EPSS {epss:g} at or above epss fail-at {fail_at:g}")
        return "; ".join(reasons) if reasons else None

    def license(self, finding: Finding) -> tuple[bool, str] | None:
        """(fails, why) when the `licenses` lists decide a license finding; None leaves it
        to `fail-on` and Trivy's category."""
        if self.licenses is None or finding.kind is not Kind.LICENSE:
            return None
        judged = self.licenses.judge(finding.id)
        outcome = judged.outcome
        if outcome in (Outcome.DENIED, Outcome.OUTSIDE):
            return True, judged.reason
        if outcome is Outcome.ALLOWED:
            return False, judged.reason
        unknown = self.licenses.rules.effective_unknown
        if outcome is Outcome.UNKNOWN and unknown is LicenseUnknown.FAIL:
            return True, f"{judged.reason} (licenses.unknown: fail)"
        return None  # unknown with `unknown: report`, or neither listed nor denied

    def unfixed_over_limit(self, finding: Finding, today: date) -> str | None:
        """Why an unfixed vulnerability fails despite ignore-unfixed, or None."""
        limit = self.unfixed_max.get(finding.severity)
        if limit is None:
            return None
        published = finding.published
        if published is None or (published - today).days > _SKEW_DAYS:
            return f"unfixed, and no published date to measure unfixed-max-days {limit} against"
        age = (today - published).days
        if age <= limit:
            return None
        return f"unfixed for {age} day{'s' if age != 1 else ''} (limit {limit})"

    def in_grace(self, finding: Finding, today: date) -> str | None:
        """Why a vulnerability that would fail does not yet, or None."""
        days = self.grace.get(finding.severity)
        published = finding.published
        if not days or published is None or finding.kind is not Kind.VULNERABILITY:
            return None
        if (published - today).days > _SKEW_DAYS:
            return None  # "published" in the future: no grace for a date no advisory has
        fails_from = published + timedelta(days=days)
        if today >= fails_from:
            return None
        return (
            f"published {published.isoformat()}, within grace-days {days}: "
            f"fails from {fails_from.isoformat()}"
        )


def kev_reason(kev: KevEntry) -> str:
    """KEV's facts about a CVE, as a failure reason names them."""
    text = f"known exploited: in CISA's KEV catalog since {kev.date_added.isoformat()}"
    if kev.due_date is not None:
        text += f", due {kev.due_date.isoformat()}"
    if kev.ransomware:
        text += ", known ransomware campaign use"
    return f"{text} (kev: fail)"
