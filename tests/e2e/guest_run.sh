#!/bin/sh
# guest_run.sh: PID 1 of the end-to-end guest, after initramfs_init.sh switched to the host's root
# (read-only 9p under a tmpfs overlay). It sets up what a Kubernetes node would have running
# (loopback, iscsi_tcp and sd_mod, udev, iscsid), runs the command that run_vm.sh wrote into the
# env file ($1: E2E_NONCE, E2E_COMMAND), prints the verdict line the host turns into the ctest
# result, and powers the guest off. Everything stays inside the guest: no network device exists,
# target and initiator meet on 127.0.0.1.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8

E2E_NONCE=missing
verdict() {
  # The host accepts only a line that carries its nonce (nothing else can print it by chance).
  echo "E2E-VERDICT $E2E_NONCE $1 $2"
  sync
  busybox poweroff -f
}
trap 'verdict FAIL 99' EXIT

# The env file may live under /tmp on the host: read it before /tmp becomes the guest's own.
# shellcheck source=/dev/null
. "$1" || { echo "guest: cannot read $1"; verdict FAIL 98; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /run
# The overlay root is writable already. A fresh tmpfs on /tmp would hide a source or build tree
# that lives under the host's /tmp (a CI clone may), so mount one only when nothing we run is
# there.
case "$E2E_COMMAND $0" in
  */tmp/*) ;;
  *) mount -t tmpfs -o mode=1777 tmpfs /tmp ;;
esac
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm

echo "guest: up $(cut -d" " -f1 /proc/uptime)s, $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"

busybox ip link set lo up
busybox hostname e2e-guest
# Filesystem modules (ext4, xfs, crc32c) load on demand at the first mount.
for module in iscsi_tcp sd_mod; do
  modprobe "$module" || { echo "guest: modprobe $module failed"; verdict FAIL 97; }
done
echo "guest: up $(cut -d" " -f1 /proc/uptime)s, modules loaded"

# udev gives /dev/disk/by-path and by-id links (the harness checks the WWN through by-id). No
# `udevadm trigger`: coldplugging the guest's own devices only costs time.
/lib/systemd/systemd-udevd --daemon --resolve-names=never ||
  { echo "guest: systemd-udevd did not start"; verdict FAIL 96; }
echo "guest: up $(cut -d" " -f1 /proc/uptime)s, udev started"

# open-iscsi as on a node: its own initiator name, iscsid started by hand (Debian's unit files
# expect systemd). The node plugin logs in through its own iface, so this name is never used
# for the volumes; iscsid still wants the file.
mkdir -p /etc/iscsi /run/lock/iscsi /var/lib/iscsi
echo "InitiatorName=$(iscsi-iname)" >/etc/iscsi/initiatorname.iscsi
# Records the host may hold do not belong in the guest.
rm -rf /etc/iscsi/nodes /etc/iscsi/send_targets /etc/iscsi/ifaces
iscsid || { echo "guest: iscsid did not start"; verdict FAIL 95; }

export ISCSI_CSI_E2E_GUEST=1
echo "guest: up $(cut -d" " -f1 /proc/uptime)s, running $E2E_COMMAND"
set +e
# shellcheck disable=SC2086  # E2E_COMMAND is a word list written by run_vm.sh
$E2E_COMMAND
rc=$?
trap - EXIT
case $rc in
  0) verdict PASS 0 ;;
  77) verdict SKIP 77 ;;
  *) verdict FAIL "$rc" ;;
esac
