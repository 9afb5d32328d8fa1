#!/usr/bin/env bash
# Debian packages the test suite needs: Chromium (web page tests), a PostgreSQL server, socat-free ptys need nothing.
# Skips apt entirely when everything is already there.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -f /usr/share/fonts/opentype/ipafont-gothic/ipag.ttf ] || need+=(fonts-ipafont-gothic)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
# The .deb tests (tests/e2e/packaging): a Debian 12 root, lintian, booting it with systemd-nspawn, strip.
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
command -v strip >/dev/null 2>&1 || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages: ${need[*]} (run as root or: sudo apt-get install ${need[*]})" >&2
        exit 1
    fi
    echo "==> apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
