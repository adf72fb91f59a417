#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo use, only those that are missing:
#   kcat                     produce and read Kafka messages from the shell (e2e tests, demo)
#   prometheus               promtool (rule tests) and a real Prometheus (scrape test)
#   prometheus-alertmanager  amtool (checks the generated alerting configuration)
# It never starts their services: the tests run their own Prometheus on 127.0.0.1.
set -euo pipefail

declare -A package_of=(
    [kcat]=kcat
    [promtool]=prometheus
    [prometheus]=prometheus
    [amtool]=prometheus-alertmanager
)

missing=()
for cmd in kcat promtool prometheus amtool; do
    pkg="${package_of[$cmd]}"
    if ! command -v "$cmd" >/dev/null && [[ " ${missing[*]} " != *" $pkg "* ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "system packages: kcat, prometheus and prometheus-alertmanager already installed"
    exit 0
fi

command -v apt-get >/dev/null || {
    echo "error: apt-get not found: install ${missing[*]} with your system's package manager" >&2
    exit 1
}
sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || {
        echo "error: not root and no sudo: as root, run apt-get install ${missing[*]}" >&2
        exit 1
    }
    sudo=(sudo)
fi

echo "system packages: installing ${missing[*]}"
# On a machine with an init system the packages would start Prometheus (:9090) and
# Alertmanager (:9093, the local broker's controller port). Debian's policy-rc.d hook
# (exit 101: "action forbidden") stops that; put one in place for this run if none exists.
policy_rc=/usr/sbin/policy-rc.d
if [[ ! -e "$policy_rc" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy_rc" >/dev/null
    "${sudo[@]}" chmod 755 "$policy_rc"
    trap '"${sudo[@]}" rm -f "$policy_rc"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine may be missing or stale.
"${sudo[@]}" apt-get update -qq
# Without an init system, the packages' scripts cannot start the services and only print a
# warning; that is fine (we never want them running), so only apt-get's status counts.
# No recommends: Prometheus would pull in the node exporter and more we do not use.
"${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

for cmd in kcat promtool prometheus amtool; do
    command -v "$cmd" >/dev/null || {
        echo "error: $cmd still not found after installing ${missing[*]}" >&2
        exit 1
    }
done
echo "system packages: installed ${missing[*]}"
