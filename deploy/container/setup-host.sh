#!/usr/bin/env bash
# Prepares a Debian host to build and run the sla-worker containers with podman; idempotent
# (a second run changes nothing and says so). CI runs it before the container tests.
#
#   bash deploy/container/setup-host.sh
#
# 1. Installs the Debian packages that are missing: podman (the engine), runc (its runtime
#    here, see 2), mmdebstrap (base images from Debian packages when no registry is
#    reachable: deploy/container/base-images.sh), catatonit (the `init: true` of
#    docker-compose.yml), netavark, aardvark-dns and iptables (networks whose containers
#    find each other by service name, and published ports).
# 2. Writes /etc/containers/containers.conf.d/50-sla-worker.conf with:
#    - runtime = "runc": crun (podman's default) fails on hosts whose cgroups mix v1 and v2
#      ("cgroups in hybrid mode not supported");
#    - default_ulimits at this host's hard limits: podman otherwise asks for a nofile limit
#      above them, which a host without CAP_SYS_RESOURCE refuses
#      ("setrlimit RLIMIT_NOFILE: Operation not permitted");
#    - network_backend = "netavark": Debian's podman also ships a CNI configuration whose
#      plugins are not installed; naming the backend keeps podman from guessing.
#    Both are harmless on hosts that do not need them. A drop-in file, so that a
#    containers.conf of the machine's own is left as it is.
#
# Hosts with a working Docker engine need none of this: `make image` and the container
# tests use docker when `docker info` answers.
set -euo pipefail

PACKAGES=(podman runc mmdebstrap catatonit netavark aardvark-dns iptables)
CONF_DIR=/etc/containers/containers.conf.d
CONF="$CONF_DIR/50-sla-worker.conf"

die() {
    echo "error: $*" >&2
    exit 1
}

sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || die "not root and no sudo: run this script as root"
    sudo=(sudo)
fi

# --- 1. packages ----------------------------------------------------------------------------

missing=()
for pkg in "${PACKAGES[@]}"; do
    # Installed means dpkg's status says so, not only that a command of that name exists.
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]} == 0)); then
    echo "container host: ${PACKAGES[*]} already installed"
else
    command -v apt-get >/dev/null ||
        die "apt-get not found: install ${missing[*]} with your system's package manager"
    echo "container host: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The package lists of a fresh machine may be missing or stale.
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
fi

# --- 2. engine configuration ----------------------------------------------------------------

nofile="$(ulimit -Hn)"
# "unlimited" is not a number podman accepts; this is the kernel's usual ceiling.
[[ "$nofile" == unlimited ]] && nofile=1048576
# Far more processes than any container of the stack starts. Not the host's hard limit:
# measured on a Debian 12 VM, runc was refused nproc at the host's own hard limit (96367)
# and accepted 32768.
nproc=32768
wanted="# Written by sla-worker's deploy/container/setup-host.sh (run it again to refresh).
[containers]
# This host's hard limits: podman's defaults may exceed them (setrlimit: not permitted).
default_ulimits = [\"nofile=${nofile}:${nofile}\", \"nproc=${nproc}:${nproc}\"]

[engine]
# crun refuses hosts whose cgroups mix v1 and v2; runc runs everywhere.
runtime = \"runc\"

[network]
# Debian's podman ships a CNI configuration without the CNI plugins: use netavark.
network_backend = \"netavark\"
"
if [[ -f "$CONF" && "$(<"$CONF")"$'\n' == "$wanted" ]]; then
    echo "container host: $CONF already up to date"
else
    "${sudo[@]}" mkdir -p "$CONF_DIR"
    printf '%s' "$wanted" | "${sudo[@]}" tee "$CONF.tmp" >/dev/null
    "${sudo[@]}" mv "$CONF.tmp" "$CONF"
    echo "container host: wrote $CONF (runc; nofile $nofile, nproc $nproc)"
fi

# --- check ----------------------------------------------------------------------------------

read -r runtime backend < <(podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.NetworkBackend}}') ||
    die "podman does not work on this host (podman info failed, above)"
[[ "$runtime $backend" == "runc netavark" ]] ||
    die "podman uses $runtime and $backend, not runc and netavark: is $CONF read (podman >= 4.1)?"
echo "container host: podman $(podman version --format '{{.Client.Version}}') ready ($runtime, $backend)"
