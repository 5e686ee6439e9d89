#!/usr/bin/env bash
# Install the system packages the integration tests need: a loopback OCI registry (Debian's
# `docker-registry`, the CNCF distribution registry) and `skopeo` to push image archives into
# it (tests/support/servers.py), and `git-lfs` (tests/test_hook_lfs.py). Idempotent:
# `apt-get update` runs only when a package is missing, and nothing is installed twice.
set -euo pipefail

packages=(docker-registry skopeo git-lfs)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup-system: already installed: ${packages[*]}"
    exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
echo "setup-system: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-system: installed ${missing[*]}"
