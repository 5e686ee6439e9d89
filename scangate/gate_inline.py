"""Whether a `#trivy:ignore` comment in the scanned tree (`scangate.inline_ignores`) allows
the misconfiguration it hid from Trivy, under the policy's `inline-ignores` and allow-rules:
the gate's (`gate._decide`) rule for inline ignores.
"""

from __future__ import annotations

from datetime import date

from scangate.findings import InlineIgnore
from scangate.policy import InlineIgnores, Policy


def inline_refusal(inline: InlineIgnore, policy: Policy, today: date) -> str | None:
    """Why an inline ignore comment does not allow its finding, or None when it does. Trivy
    does not say which comment hid a finding: if several may have, the most harshly treated
    one decides (any refusal refuses, naming that comment)."""
    for candidate in (inline, *inline.others) if inline.suppressed else (inline,):
        refusal = _one_inline_refusal(candidate, policy, today)
        if refusal is not None:
            return refusal
    return None


def _one_inline_refusal(inline: InlineIgnore, policy: Policy, today: date) -> str | None:
    where = f"the inline ignore comment {inline.origin}"
    if not inline.suppressed:  # Trivy reported the finding anyway: only name the comment
        if inline.bad_expiry is not None:
            return f"Trivy ignores {where}: its exp: {inline.bad_expiry} is not one valid date"
        if inline.expires is not None and today >= inline.expires:
            return f"{where} expired {inline.expires.isoformat()}"
        return None
    if policy.inline_ignores is InlineIgnores.REPORT:
        return (
            f"Trivy dropped it for {where}, which the policy does not honour "
            "(inline-ignores: report)"
        )
    if inline.bad_expiry is not None:
        return (
            f"{where} has an unreadable or repeated exp: ({inline.bad_expiry}): "
            "give it one exp:YYYY-MM-DD"
        )
    if inline.expires is None:
        if policy.require_expiry:
            rule = inline.ids[0] if inline.ids else "ID"
            return (
                f"{where} has no expiry date, and the policy sets require-expiry: write it as "
                f"trivy:ignore:{rule}:exp:YYYY-MM-DD"
            )
        return None
    if today >= inline.expires:
        return f"{where} expired {inline.expires.isoformat()}: renew its exp: date or fix it"
    if policy.max_days is not None and (inline.expires - today).days > policy.max_days:
        return (
            f"{where} expires {inline.expires.isoformat()}, more than max-days "
            f"{policy.max_days} from {today.isoformat()}: choose an earlier exp: date"
        )
    return None
