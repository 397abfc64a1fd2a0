#!/usr/bin/env bash
# image_rootfs_test.sh: proves the runtime package list of the image (deploy/image-packages.txt,
# which the Dockerfile installs) complete, without a container engine: it builds the image's root
# filesystem from Debian packages (debootstrap --variant=minbase bookworm), installs the list with
# apt-get in a chroot, creates the image's user, copies the built binary in, and runs there
#   - ldd on the binary (no library "not found"),
#   - iscsi-csi --version and --help, and `iscsi-csi controller --help` as uid 65532,
#   - the node mode's tools: iscsiadm --version, mkfs.xfs -V, mkfs.ext4 -V, blkid -V,
#     nsenter --version, mount --version, sg_inq --version.
#
#   bash tests/chart/image_rootfs_test.sh PATH/TO/iscsi-csi
#
# Cache: build/rootfs-cache (ISCSI_CSI_ROOTFS_CACHE): the minbase tree is kept, and so is the tree
# with the packages, keyed by a hash of the list; a changed list rebuilds the latter only.
# Exit 77 (skipped) when not root, when debootstrap is missing and cannot be installed, or when the
# Debian mirror cannot be reached. /proc is mounted in the chroot only when it is not already, and
# whatever this script mounted is unmounted on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "image_rootfs_test.sh: SKIP: $*"; exit 77; }
die() { echo "image_rootfs_test.sh: FAIL: $*"; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 PATH/TO/iscsi-csi" >&2; exit 2; }
binary=$1
[[ -x $binary ]] || die "no executable at $binary"
[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap, chroot, mount)"

if ! command -v debootstrap >/dev/null; then
  echo "image_rootfs_test.sh: installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1; } || true
fi
command -v debootstrap >/dev/null || skip "debootstrap is missing and could not be installed"

suite=bookworm
# The host's Debian mirror (deb822 or one-line sources), else deb.debian.org.
mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
[[ -n $mirror ]] || mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
[[ -n $mirror ]] || mirror=http://deb.debian.org/debian

package_list=$root/deploy/image-packages.txt
mapfile -t packages < <(sed -e 's/#.*//' "$package_list" | xargs -n1)
((${#packages[@]} > 0)) || die "no packages in $package_list"

cache=${ISCSI_CSI_ROOTFS_CACHE:-$root/build/rootfs-cache}
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

key=$(printf '%s\n' "$suite" "$mirror" "${packages[@]}" | sha256sum | cut -c1-16)
base=$cache/base-$suite
rootfs=$cache/rootfs-$key

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || true
  done
  rm -f "$rootfs/usr/sbin/policy-rc.d" "$rootfs.tmp/usr/sbin/policy-rc.d" 2>/dev/null || true
}
trap cleanup EXIT

# ensure_proc DIR: /proc in the chroot at DIR, mounted by us only if nothing is there yet.
ensure_proc() {
  local dir=$1
  mkdir -p "$dir/proc"
  if ! mountpoint -q "$dir/proc"; then
    mount -t proc proc "$dir/proc"
    mounted+=("$dir/proc")
  fi
}

# unmount_under DIR: drop our mounts below DIR (before it is moved or removed).
unmount_under() {
  local dir=$1 keep=() m
  for m in "${mounted[@]}"; do
    if [[ $m == "$dir"/* ]]; then
      umount "$m" 2>/dev/null || umount -l "$m"
    else
      keep+=("$m")
    fi
  done
  mounted=("${keep[@]}")
}

# 1. The minbase tree (what debian:bookworm-slim is made of), kept across runs.
if [[ ! -f $base/.complete ]]; then
  echo "image_rootfs_test.sh: debootstrap --variant=minbase $suite from $mirror (about 35 s)"
  rm -rf "$base.tmp"
  start=$SECONDS
  if ! debootstrap --variant=minbase "$suite" "$base.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    tail -5 "$cache/debootstrap.log"
    rm -rf "$base.tmp"
    skip "debootstrap failed (mirror unreachable?), log in $cache/debootstrap.log"
  fi
  touch "$base.tmp/.complete"
  rm -rf "$base"
  mv "$base.tmp" "$base"
  echo "image_rootfs_test.sh: minbase ready in $((SECONDS - start)) s"
fi

# 2. The image's runtime stage: minbase + deploy/image-packages.txt + the image's user.
if [[ ! -f $rootfs/.complete ]]; then
  echo "image_rootfs_test.sh: installing ${#packages[@]} packages from $(basename "$package_list")"
  for old in "$cache"/rootfs-*; do
    [[ -d $old && $old != "$rootfs" ]] && ! grep -q " $old/" /proc/mounts && rm -rf "$old"
  done
  rm -rf "$rootfs.tmp"
  cp -a "$base" "$rootfs.tmp"
  rm -f "$rootfs.tmp/.complete"
  # The same suites as the debian:bookworm-slim image: main, updates and security.
  cat >"$rootfs.tmp/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
EOF
  cp /etc/resolv.conf "$rootfs.tmp/etc/resolv.conf" 2>/dev/null || true
  # No service may start from a package's maintainer script inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs.tmp/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs.tmp/usr/sbin/policy-rc.d"
  ensure_proc "$rootfs.tmp"
  start=$SECONDS
  if ! chroot "$rootfs.tmp" apt-get update -qq >"$cache/apt.log" 2>&1; then
    cat "$cache/apt.log"
    unmount_under "$rootfs.tmp"
    rm -rf "$rootfs.tmp"
    skip "apt-get update in the chroot failed (mirror unreachable?)"
  fi
  if ! chroot "$rootfs.tmp" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${packages[@]}" >>"$cache/apt.log" 2>&1; then
    tail -20 "$cache/apt.log"
    unmount_under "$rootfs.tmp"
    rm -rf "$rootfs.tmp"
    die "apt-get install of deploy/image-packages.txt failed (a wrong package name?)"
  fi
  chroot "$rootfs.tmp" apt-get clean
  rm -rf "$rootfs.tmp"/var/lib/apt/lists/*
  rm -f "$rootfs.tmp/usr/sbin/policy-rc.d"
  # As in the Dockerfile's runtime stage.
  chroot "$rootfs.tmp" groupadd --system --gid 65532 iscsi-csi
  chroot "$rootfs.tmp" useradd --system --uid 65532 --gid 65532 --no-create-home \
    --home-dir /var/lib/iscsi-csi --shell /usr/sbin/nologin iscsi-csi
  unmount_under "$rootfs.tmp"
  touch "$rootfs.tmp/.complete"
  mv "$rootfs.tmp" "$rootfs"
  echo "image_rootfs_test.sh: packages installed in $((SECONDS - start)) s"
else
  echo "image_rootfs_test.sh: reusing $rootfs (package list unchanged)"
fi

# 3. The binary, as the Dockerfile copies it.
install -m 0755 "$binary" "$rootfs/usr/local/bin/iscsi-csi"
ensure_proc "$rootfs"

failures=0
# check NAME COMMAND...: runs COMMAND in the chroot, prints its first output line and the verdict.
check() {
  local name=$1 out rc=0
  shift
  out=$(chroot "$@" 2>&1) || rc=$?
  if ((rc == 0)); then
    printf 'ok:   %-34s %s\n' "$name" "$(head -1 <<<"$out")"
  else
    printf 'FAIL: %-34s exit %d: %s\n' "$name" "$rc" "$(head -3 <<<"$out" | tr '\n' ' ')"
    failures=$((failures + 1))
  fi
}

missing=$(chroot "$rootfs" ldd /usr/local/bin/iscsi-csi | grep 'not found' || true)
if [[ -n $missing ]]; then
  echo "FAIL: libraries missing from the image:"
  echo "$missing"
  failures=$((failures + 1))
else
  echo "ok:   ldd iscsi-csi                      $(chroot "$rootfs" ldd /usr/local/bin/iscsi-csi | wc -l) libraries, none missing"
fi
check "iscsi-csi --version" "$rootfs" /usr/local/bin/iscsi-csi --version
check "iscsi-csi --help" "$rootfs" /usr/local/bin/iscsi-csi --help
check "iscsi-csi controller --help (uid 65532)" --userspec=65532:65532 "$rootfs" /usr/local/bin/iscsi-csi controller --help
check "iscsiadm --version" "$rootfs" iscsiadm --version
check "mkfs.xfs -V" "$rootfs" mkfs.xfs -V
check "mkfs.ext4 -V" "$rootfs" mkfs.ext4 -V
check "blkid -V" "$rootfs" blkid -V
check "nsenter --version" "$rootfs" nsenter --version
check "mount --version" "$rootfs" mount --version
check "sg_inq --version" "$rootfs" sg_inq --version

if ((failures > 0)); then
  echo "image_rootfs_test.sh: $failures check(s) failed"
  exit 1
fi
echo "image_rootfs_test.sh: the runtime package list runs the binary and the node tools"
