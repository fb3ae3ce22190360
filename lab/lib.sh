# Shared helpers for the lab scripts; sourced, never run.
# shellcheck shell=bash

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$LAB_DIR")
DOCKER=${DOCKER:-/usr/bin/docker}
LAB_CACHE=${CONFINE_LAB_CACHE:-/var/cache/confine-lab}
LAB_STATE=${CONFINE_LAB_STATE:-$REPO_DIR/.lab}
LAB_MIRROR=${CONFINE_LAB_MIRROR:-http://deb.debian.org/debian}
LAB_SUITE=bookworm
LAB_BASE_IMAGE=confine-lab/base:bookworm
LAB_DEMO_IMAGE=confine-lab/demo:latest
LAB_HASH_LABEL=confine.lab.hash

log() { printf '[%s] %s\n' "${LAB_PROG:-$(basename "$0")}" "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
# elapsed START -> seconds with one decimal since START (from `now`)
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

need_root() { [ "$(id -u)" = 0 ] || die "run me as root"; }
need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "'$c' is missing (Debian packages: docker.io debootstrap qemu-system-x86 qemu-utils e2fsprogs openssh-client)"
    done
}

# hash_inputs [FILE|DIR|-s STRING]... -> short sha256 over the named files (content and relative name) and strings
hash_inputs() {
    {
        while [ $# -gt 0 ]; do
            if [ "$1" = -s ]; then
                printf 'string:%s\n' "$2"
                shift 2
                continue
            fi
            if [ -d "$1" ]; then
                (cd "$1" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z |
                    xargs -0r sha256sum)
            else
                printf 'file:%s %s\n' "$(basename "$1")" "$(sha256sum <"$1" | cut -d' ' -f1)"
            fi
            shift
        done
    } | sha256sum | cut -c1-16
}

# with_lock NAME CMD... : run CMD holding an exclusive lock in the cache dir (builds shared by several users)
with_lock() {
    local name=$1
    shift
    mkdir -p "$LAB_CACHE/locks"
    (
        flock -w 1800 9 || die "could not lock $name within 30 min"
        "$@"
    ) 9>"$LAB_CACHE/locks/$name.lock"
}

# debootstrap_tar NAME VARIANT INCLUDE -> path of a cached tarball of that debootstrap root (built when missing)
debootstrap_tar() {
    local name=$1 variant=$2 include=$3 key tarball tmp t0
    key=$(hash_inputs -s "$LAB_SUITE $variant $include $LAB_MIRROR" -s "$(debootstrap --version 2>/dev/null)")
    tarball=$LAB_CACHE/rootfs/$name-$key.tar
    if [ -s "$tarball" ]; then
        log "rootfs $name: cached ($tarball)"
        printf '%s\n' "$tarball"
        return 0
    fi
    need_cmd debootstrap
    mkdir -p "$LAB_CACHE/rootfs"
    tmp=$(mktemp -d "$LAB_CACHE/rootfs/.build-$name.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" RETURN
    t0=$(now)
    log "rootfs $name: debootstrap --variant=$variant --include=$include $LAB_SUITE (log: $LAB_CACHE/rootfs/$name.log)"
    if ! debootstrap --variant="$variant" --include="$include" "$LAB_SUITE" "$tmp/root" "$LAB_MIRROR" \
        >"$LAB_CACHE/rootfs/$name.log" 2>&1; then
        tail -n 30 "$LAB_CACHE/rootfs/$name.log" >&2
        die "debootstrap failed for $name (log: $LAB_CACHE/rootfs/$name.log)"
    fi
    # Package caches and lists are not needed in the image; sources.list stays so apt can be updated later.
    rm -rf "$tmp"/root/var/cache/apt/archives/*.deb "$tmp"/root/var/lib/apt/lists/* "$tmp"/root/var/log/*.log
    tar --numeric-owner --xattrs -C "$tmp/root" -cf "$tmp/rootfs.tar" .
    mv "$tmp/rootfs.tar" "$tarball"
    # Older tarballs of the same name are replaced by this one.
    find "$LAB_CACHE/rootfs" -maxdepth 1 -name "$name-*.tar" ! -path "$tarball" -delete
    log "rootfs $name: built in $(elapsed "$t0") s"
    printf '%s\n' "$tarball"
}

# image_hash IMAGE -> value of the lab hash label, empty when the image is missing
image_hash() {
    "$DOCKER" image inspect -f "{{ index .Config.Labels \"$LAB_HASH_LABEL\" }}" "$1" 2>/dev/null || true
}
