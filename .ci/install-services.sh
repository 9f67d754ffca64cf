#!/usr/bin/env bash
# Install what the SLURM and container tests need on a Debian 12 CI machine (run as root):
# slurm-wlm + munge, the Docker daemon, debootstrap, squashfs-tools, and apptainer from Debian sid
# unpacked into /opt/apptainer (Debian 12 has no apptainer; sid's needs sid's C library, so both
# are unpacked side by side and the binaries pointed at that library). Idempotent.
# Facts behind each step: shared/notes/slurm.md and shared/notes/containers.md.
set -euo pipefail

PREFIX=${APPTAINER_PREFIX:-/opt/apptainer}

if [ "$(id -u)" != 0 ]; then
    echo "install-services: needs root (apt-get); skipping" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    slurm-wlm munge docker.io debootstrap squashfs-tools patchelf ca-certificates >/dev/null

if [ ! -x "$PREFIX/usr/bin/apptainer" ]; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/lists/partial" "$work/archives/partial"
    echo "deb [trusted=yes] $mirror sid main" >"$work/sources.list"
    # A private apt configuration: the system's sources, lists and cache stay untouched.
    apt_sid=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
             -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives"
             -o "APT::Get::List-Cleanup=0")
    apt-get "${apt_sid[@]}" update -qq
    chown -R _apt "$work" 2>/dev/null || chmod 755 "$work"   # apt downloads as user _apt
    (cd "$work" && apt-get "${apt_sid[@]}" download apptainer libc6 >/dev/null)
    rm -rf "$PREFIX.tmp" && mkdir -p "$PREFIX.tmp"
    for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$PREFIX.tmp"; done
    loader=$PREFIX.tmp/usr/lib64/ld-linux-x86-64.so.2
    libdir=$(dirname "$(find "$PREFIX.tmp" -name 'libc.so.6' | head -n1)")
    final_loader=${loader/#$PREFIX.tmp/$PREFIX}
    final_libdir=${libdir/#$PREFIX.tmp/$PREFIX}
    starter=$(find "$PREFIX.tmp" -path '*/apptainer/bin/starter' | head -n1)
    for bin in "$PREFIX.tmp/usr/bin/apptainer" "$starter"; do
        patchelf --set-interpreter "$final_loader" --set-rpath "$final_libdir" "$bin"
    done
    mkdir -p "$PREFIX.tmp/usr/etc"
    cp -r "$PREFIX.tmp/etc/apptainer" "$PREFIX.tmp/usr/etc/"
    # The session folder apptainer expects beside its (relocated) binaries.
    mkdir -p "$PREFIX.tmp/usr/lib/var/lib/apptainer/mnt/session" "$PREFIX.tmp/usr/var/lib/apptainer/mnt/session"
    ln -sf apptainer "$PREFIX.tmp/usr/bin/singularity"
    rm -rf "$PREFIX" && mv "$PREFIX.tmp" "$PREFIX"
fi
ln -sf "$PREFIX/usr/bin/apptainer" /usr/local/bin/apptainer
ln -sf "$PREFIX/usr/bin/apptainer" /usr/local/bin/singularity
apptainer --version
