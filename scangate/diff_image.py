"""`scan image --diff-base-image` / `--diff-base-input`: an image against a previous release.

Fingerprints cannot be compared across two images as they are across two commits: Trivy
names an image's OS packages' result after the scanned image and its OS release
(`app.tar (debian 12.7)`), so every OS finding of the previous release would count as new.
Here each finding gets a matching key that is its fingerprint material with that target
reduced to the OS family (`(os debian)`): a CVE in the same package (and, for language
packages, the same file in the image) is pre-existing whatever the images are called and
whichever point release they are on. A secret matches only by the digest of its value (as
in a baseline), so a secret whose value was not read is new. The comparison itself, against
the base image's scan as the cache keeps it, is `diff_image_base.compare`.
"""

from __future__ import annotations

import hashlib

from scangate.findings import Kind, ScanRun


def matching_keys(run: ScanRun) -> list[str | None]:
    """Each finding's key for matching across images (None: never matches)."""
    os_name = run.artifact.os or ""
    os_suffix = f" ({os_name})" if os_name else None
    family = f"(os {os_name.split()[0]})" if os_name else ""
    keys: list[str | None] = []
    for f in run.findings:
        if not f.baselinable:
            keys.append(None)
            continue
        target = f.target
        if os_suffix is not None and target.endswith(os_suffix):
            target = family
        identity = f.identity
        if f.kind is Kind.SECRET:
            identity = f"value\x1f{f.secret_digest}"
        ident = f.id.upper() if f.kind is Kind.VULNERABILITY else f.id
        material = "\x1f".join((f.kind.value, ident, target, identity))
        keys.append(hashlib.sha256(material.encode()).hexdigest())
    return keys
