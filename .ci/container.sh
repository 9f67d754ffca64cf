#!/usr/bin/env bash
# Build the project's Dockerfile on a machine with no container registry and convert it to a .sif:
#   .ci/container.sh OUT.sif
# Starts a Docker daemon (stopped again on exit, also on failure), makes a Debian 12 base image
# with debootstrap, builds the Dockerfile on it, and turns the image into a .sif with apptainer
# (from the image's exported file system and environment: see below).
# Needs root and what .ci/install-services.sh installs. Facts: shared/notes/containers.md.
#
# Environment (all optional):
#   WHEELHOUSE   folder of wheels served to the build on loopback (pip --find-links), so torch
#                comes from this disk instead of a multi-GB download; default: the machine's own
#                /opt/pypi-more/files when present
#   IMAGE        tag to build (default nowrongturns:ci)
#   NEED_FREE_GB disk the build needs free where mktemp puts its state (default 24: measured peak
#                20.5 GB for the 7.3 GB image: daemon layers, exported file system, then the .sif)
set -euo pipefail

out=${1:?usage: .ci/container.sh OUT.sif}
repo=$(cd "$(dirname "$0")/.." && pwd)
image=${IMAGE:-nowrongturns:ci}
base=nowrongturns-base:bookworm
state=$(mktemp -d)
# A full disk fails deep in the build with "no space left on device" after minutes: say so first.
need_gb=${NEED_FREE_GB:-24}
free_gb=$(df -P -BG "$state" | awk 'NR == 2 {sub("G", "", $4); print $4}')
if [ "$free_gb" -lt "$need_gb" ]; then
    rmdir "$state"
    echo "container.sh: building the image needs about ${need_gb} GB free under $(dirname "$state");" \
        "it has ${free_gb} GB (set TMPDIR to a larger disk, or NEED_FREE_GB to try anyway)" >&2
    exit 1
fi
export DOCKER_HOST=unix://$state/docker.sock
# apptainer's layer cache and scratch go with everything else, so nothing stays on disk.
export APPTAINER_CACHEDIR=$state/apptainer-cache APPTAINER_TMPDIR=$state/apptainer-tmp
mkdir -p "$APPTAINER_CACHEDIR" "$APPTAINER_TMPDIR"

stop_docker() {
    if [ -n "${dockerd_pid:-}" ]; then
        kill "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
        dockerd_pid=
    fi
    # dockerd leaves its network-namespace mount behind; unmount whatever still lies under $state.
    awk -v s="$state" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount 2>/dev/null || true
}
cleanup() {
    [ -f "$state/http.pid" ] && kill "$(cat "$state/http.pid")" 2>/dev/null || true
    stop_docker
    rm -rf "$state"
}
trap cleanup EXIT
stamp() { echo "[container.sh $(date +%T)] $*"; }

stamp "starting dockerd"
dockerd --host "$DOCKER_HOST" --pidfile "$state/dockerd.pid" --exec-root "$state/exec" --data-root "$state/data" \
    >"$state/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
docker info >/dev/null 2>&1 || { cat "$state/dockerd.log" >&2; echo "dockerd did not start" >&2; exit 1; }

if ! docker image inspect "$base" >/dev/null 2>&1; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    stamp "debootstrap bookworm (minbase) from ${mirror:-http://deb.debian.org/debian}"
    debootstrap --variant=minbase bookworm "$state/rootfs" "${mirror:-http://deb.debian.org/debian}" \
        >"$state/debootstrap.log" 2>&1 || { tail -n 30 "$state/debootstrap.log" >&2; exit 1; }
    tar -C "$state/rootfs" -c . | docker import - "$base" >/dev/null
    rm -rf "$state/rootfs"
fi

build_args=(--build-arg "BASE=$base")
certs=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)
[ -n "$certs" ] && build_args+=(--build-arg "EXTRA_CA_CERTS=$certs")
wheelhouse=${WHEELHOUSE:-/opt/pypi-more/files}
if [ -d "$wheelhouse" ]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 -m http.server --bind 127.0.0.1 --directory "$wheelhouse" "$port" >/dev/null 2>&1 &
    echo $! >"$state/http.pid"
    build_args+=(--build-arg "PIP_FIND_LINKS=http://127.0.0.1:$port/")
    stamp "serving wheels from $wheelhouse on 127.0.0.1:$port"
fi

stamp "docker build -t $image"
docker build --network host "${build_args[@]}" -t "$image" "$repo"
docker image inspect "$image" --format 'image {{.RepoTags}} size {{.Size}} bytes'
echo "docker run as: $(docker run --rm --network none "$image" id -un)"

# apptainer's docker-daemon: source holds the image up to four times on disk at once (daemon,
# saved archive, layers, root file system: about 27 GB for this 6.7 GB image), more than a CI
# machine has. Same result in one copy: the image's file system and environment, exported once.
stamp "exporting the image's file system and environment"
mkdir "$state/rootfs"
cid=$(docker create "$image")
docker export "$cid" | tar -x --numeric-owner -C "$state/rootfs"
docker rm "$cid" >/dev/null
mkdir -p "$state/rootfs/.singularity.d/env"
docker image inspect "$image" --format '{{range .Config.Env}}{{println .}}{{end}}' |
    while IFS= read -r kv; do
        if [ -n "$kv" ]; then printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"; fi
    done >"$state/rootfs/.singularity.d/env/10-docker2singularity.sh"
stop_docker
rm -rf "$state/data"

stamp "apptainer build $out"
rm -f "$out"
APPTAINER_DROP_CAPS=CAP_SYS_RESOURCE apptainer build \
    --mksquashfs-args "-comp zstd -Xcompression-level 3" "$out.tmp" "$state/rootfs"
rm -rf "$state/rootfs"
mv "$out.tmp" "$out"
stamp "done: $(du -h "$out" | cut -f1) $out"
