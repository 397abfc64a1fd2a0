#!/bin/busybox sh
# /init of the end-to-end guest's initramfs (run_vm.sh packs it with busybox-static and the
# modules listed in /modules.order). It loads virtio, 9p and overlay, mounts the host's root
# read-only over virtio-9p (mount tag "hostroot") under a tmpfs-backed overlay so the guest can
# write anywhere without touching the host, and switch_roots into the guest program that
# run_vm.sh named on the kernel command line (e2e.init=PATH e2e.env=FILE).
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /lower /rw /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
  echo "e2e-initramfs: $*"
  # The host notices the missing verdict; power off instead of panicking on exit of PID 1.
  poweroff -f
}

while read -r module; do
  insmod "/modules/$module" || fail "insmod $module failed"
done </modules.order

guest_init=
guest_env=
# shellcheck disable=SC2013  # the command line is one line of words
for word in $(cat /proc/cmdline); do
  case "$word" in
    e2e.init=*) guest_init=${word#e2e.init=} ;;
    e2e.env=*) guest_env=${word#e2e.env=} ;;
  esac
done
[ -n "$guest_init" ] || fail "no e2e.init= on the kernel command line"

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower ||
  fail "cannot mount the host root over 9p"
# The writable layer: everything the guest writes lands in guest memory.
mount -t tmpfs -o size=1g,mode=0755 tmpfs /rw || fail "cannot mount tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
  fail "cannot mount the overlay root"
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh "$guest_init" "$guest_env"
