#!/usr/bin/env bash
# run_vm.sh: runs one end-to-end scenario inside a QEMU guest booted from Debian's kernel and
# turns the guest's verdict into this script's exit status (the ctest result).
#
#   run_vm.sh --work-dir=DIR [--expect-fail=REGEX] [--timeout=SECONDS] -- COMMAND [ARGS...]
#
# COMMAND runs inside the guest as root after guest_run.sh set the guest up (loopback, iscsid,
# udev, modules); it sees the host's filesystem read-only at the same paths (virtio-9p) under a
# tmpfs overlay, so it can be a binary from the build tree. The guest's console streams to
# stdout (the test log) and to DIR/console.log. Exit status: 0 when the guest reports PASS,
# 77 when it reports SKIP or a host tool is missing, 1 otherwise (FAIL, no verdict: boot
# failure, panic, timeout).
#
# --expect-fail=REGEX inverts the result for negative tests of the harness itself: success only
# when the guest reports FAIL *and* the console matches REGEX (so a guest that failed for some
# other reason, or never booted, does not count).
#
# Environment:
#   ISCSI_CSI_E2E_ACCEL   tcg (default), kvm, or auto (a short KVM boot probe, cached in the
#                         cache dir; KVM on these machines is a nested software module whose
#                         guests hang or die with "emulation failure", so TCG is the default)
#   ISCSI_CSI_E2E_KERNEL  the vmlinuz to boot (default: the newest /boot/vmlinuz-* with modules)
#   ISCSI_CSI_E2E_CACHE   where the uncompressed kernel is cached (default: DIR/../guest-cache)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work_dir=
expect_fail=
timeout_s=600
while [[ $# -gt 0 ]]; do
  case "$1" in
    --work-dir=*) work_dir=${1#*=} ;;
    --expect-fail=*) expect_fail=${1#*=} ;;
    --timeout=*) timeout_s=${1#*=} ;;
    --) shift; break ;;
    *) echo "run_vm.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z "$work_dir" || $# -eq 0 ]]; then
  echo "usage: run_vm.sh --work-dir=DIR [--expect-fail=REGEX] [--timeout=S] -- COMMAND..." >&2
  exit 2
fi

skip() { echo "SKIP: $*"; exit 77; }
log() { echo "run_vm: $*"; }

# --- host prerequisites --------------------------------------------------------------------
qemu=$(command -v qemu-system-x86_64 || true)
[[ -n "$qemu" ]] || skip "qemu-system-x86_64 is not installed (package qemu-system-x86)"
# (grep without -q: under pipefail an early exit of grep would fail the pipeline with SIGPIPE.)
if [[ ! -x /bin/busybox ]] || ! /bin/busybox --list | grep -x insmod >/dev/null; then
  skip "/bin/busybox with insmod is missing (package busybox-static)"
fi
! ldd /bin/busybox >/dev/null 2>&1 ||
  skip "/bin/busybox is not statically linked (package busybox-static)"
for tool in iscsiadm iscsid mkfs.ext4 mkfs.xfs xz gzip; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
kernel=${ISCSI_CSI_E2E_KERNEL:-}
if [[ -z "$kernel" ]]; then
  for candidate in $(printf '%s\n' /boot/vmlinuz-* | sort -V -r); do
    if [[ -d /lib/modules/${candidate#/boot/vmlinuz-}/kernel ]]; then
      kernel=$candidate
      break
    fi
  done
fi
[[ -n "$kernel" && -r "$kernel" ]] || skip "no /boot/vmlinuz-* with modules (package linux-image-amd64)"
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver
[[ -r $moddir/modules.dep ]] || skip "$moddir/modules.dep is missing"

mkdir -p "$work_dir"
work_dir=$(cd "$work_dir" && pwd)
cache=${ISCSI_CSI_E2E_CACHE:-$(dirname "$work_dir")/guest-cache}
mkdir -p "$cache"

# --- the uncompressed kernel (QEMU boots it through its PVH entry: seconds faster) -----------
vmlinux=$cache/vmlinux-$kver
exec 9>"$cache/.lock"
flock 9
if [[ ! -s "$vmlinux" || "$vmlinux" -ot "$kernel" ]]; then
  log "extracting the uncompressed kernel from $kernel"
  offset=$(LC_ALL=C grep -m1 -obUaP '\xFD7zXZ\x00' "$kernel" | cut -d: -f1 | head -n1 || true)
  [[ -n "$offset" ]] || { echo "run_vm: no xz payload in $kernel"; exit 1; }
  # xz stops at the end of its stream and complains about the trailing bytes: expected.
  tail -c +"$((offset + 1))" "$kernel" | xz -dc >"$vmlinux.tmp" 2>/dev/null || true
  if [[ "$(head -c 4 "$vmlinux.tmp" | od -An -c | tr -d ' ')" != '177ELF' ]]; then
    echo "run_vm: the payload of $kernel is not an ELF kernel"
    exit 1
  fi
  mv "$vmlinux.tmp" "$vmlinux"
fi
flock -u 9

# --- the initramfs: busybox, /init and the modules needed to reach the 9p root -------------
initramfs=$work_dir/initramfs.cpio.gz
staging=$work_dir/initramfs
rm -rf "$staging"
mkdir -p "$staging/bin" "$staging/modules"
cp /bin/busybox "$staging/bin/busybox"
cp "$here/initramfs_init.sh" "$staging/init"
chmod 0755 "$staging/init"
declare -A loaded=()
order=()
# add_module NAME: NAME's dependencies first (modules.dep lists them; the last one loads first),
# then NAME itself.
add_module() {
  local name=$1 line path deps dep i
  line=$(grep -E "(^|/)${name}\.ko(\.xz|\.zst)?:" "$moddir/modules.dep" | head -1 || true)
  if [[ -z "$line" ]]; then
    # Built into the kernel: nothing to load.
    grep -qE "/${name}\.ko\$" "$moddir/modules.builtin" 2>/dev/null && return 0
    echo "run_vm: module $name is neither in modules.dep nor built in" >&2
    return 1
  fi
  path=${line%%:*}
  [[ -n "${loaded[$path]:-}" ]] && return 0
  read -r -a deps <<<"${line#*:}"
  for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
    dep=$(basename "${deps[$i]}")
    add_module "${dep%%.ko*}"
  done
  loaded[$path]=1
  order+=("$path")
}
for module in virtio_pci 9pnet_virtio 9p overlay; do
  add_module "$module"
done
: >"$staging/modules.order"
for path in "${order[@]}"; do
  name=$(basename "$path")
  case "$name" in
    *.ko.xz) xz -dc "$moddir/$path" >"$staging/modules/${name%.xz}"; name=${name%.xz} ;;
    *) cp "$moddir/$path" "$staging/modules/$name" ;;
  esac
  echo "$name" >>"$staging/modules.order"
done
(cd "$staging" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$initramfs"

# --- acceleration ------------------------------------------------------------------------------
# shellcheck disable=SC2054  # the commas belong to QEMU's option syntax
tcg=(-accel tcg,thread=multi -cpu qemu64)
kvm=(-accel kvm -cpu host)
accel=${ISCSI_CSI_E2E_ACCEL:-tcg}
# shellcheck disable=SC2054
common=(-M q35 -smp 2 -nographic -nodefaults -no-reboot -serial stdio -display none
        -kernel "$vmlinux" -initrd "$initramfs"
        -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot)
kernel_args="console=ttyS0 panic=-1 loglevel=4 rdinit=/init e2e.init=$here/guest_run.sh"
case "$accel" in
  tcg) accel_args=("${tcg[@]}") ;;
  kvm) accel_args=("${kvm[@]}") ;;
  auto)
    probe_result=$cache/kvm-probe-$kver
    flock 9
    if [[ ! -f "$probe_result" ]]; then
      result=no
      if [[ -r /dev/kvm && -w /dev/kvm ]]; then
        log "probing KVM (a 30 s bounded boot of the guest to a trivial command)"
        probe_env=$cache/kvm-probe.env
        probe_nonce=probe$RANDOM$RANDOM
        printf 'E2E_NONCE=%s\nE2E_COMMAND="/bin/true"\n' "$probe_nonce" >"$probe_env"
        timeout -k 5 30 "$qemu" "${kvm[@]}" "${common[@]}" -m 512 \
          -append "$kernel_args e2e.env=$probe_env" </dev/null >"$cache/kvm-probe.log" 2>&1 || true
        if grep -a "E2E-VERDICT $probe_nonce PASS" "$cache/kvm-probe.log" >/dev/null; then
          result=yes
        fi
      fi
      echo "$result" >"$probe_result"
    fi
    flock -u 9
    log "KVM usable: $(cat "$probe_result") (cached in $probe_result)"
    if [[ "$(cat "$probe_result")" == yes ]]; then
      accel_args=("${kvm[@]}")
    else
      accel_args=("${tcg[@]}")
    fi
    ;;
  *) echo "run_vm: ISCSI_CSI_E2E_ACCEL must be tcg, kvm or auto, not '$accel'"; exit 2 ;;
esac

# --- boot ----------------------------------------------------------------------------------------
nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
env_file=$work_dir/guest.env
{
  echo "E2E_NONCE=$nonce"
  printf 'E2E_COMMAND="%s"\n' "$*"
} >"$env_file"
console=$work_dir/console.log
log "booting $kver (${accel_args[*]:0:2}) for: $*"
start=$(date +%s)
set +e
timeout -k 10 "$timeout_s" "$qemu" "${accel_args[@]}" "${common[@]}" -m 2048 \
  -append "$kernel_args e2e.env=$env_file" </dev/null 2>&1 | tee "$console"
qemu_rc=${PIPESTATUS[0]}
set -e
log "guest finished after $(($(date +%s) - start)) s (qemu exit status $qemu_rc)"

verdict=$(grep -a "^E2E-VERDICT $nonce " "$console" | tail -1 | tr -d '\r' | cut -d' ' -f3 || true)
if [[ -n "$expect_fail" ]]; then
  if [[ "$verdict" != FAIL ]]; then
    log "negative test: expected the guest to report FAIL, it reported '${verdict:-nothing}'"
    exit 1
  fi
  if ! grep -aqE "$expect_fail" "$console"; then
    log "negative test: the guest failed, but not with the expected evidence /$expect_fail/"
    exit 1
  fi
  log "negative test: the guest failed as expected (/$expect_fail/ found)"
  exit 0
fi
case "$verdict" in
  PASS) exit 0 ;;
  SKIP) exit 77 ;;
  FAIL) log "the guest reported FAIL"; exit 1 ;;
  *)
    if [[ $qemu_rc -eq 124 || $qemu_rc -eq 137 ]]; then
      log "timed out after $timeout_s s without a verdict"
    else
      log "the guest gave no verdict (boot failure or kernel panic; see the console above)"
    fi
    exit 1
    ;;
esac
