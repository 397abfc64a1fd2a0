# The iscsi-csi image: one binary, both modes (`iscsi-csi controller`, `iscsi-csi node`).
#
#   docker build -t REGISTRY/iscsi-csi:VERSION .
#
# Stage "build" compiles with Debian 12's -dev packages (the same ones scripts/install-deps.sh
# installs, less the test-only ones) and `cmake --preset release`. The runtime stage installs only
# the packages listed in deploy/image-packages.txt; tests/chart/image_rootfs_test.sh proves that
# list complete by running the binary and the node tools in a debootstrap root filesystem.
#
# User: 65532 (iscsi-csi) by default; the controller runs as that user (the chart binds the
# portal with the net.ipv4.ip_unprivileged_port_start sysctl). Node mode must run as root in a
# privileged container (iscsiadm, mkfs, mount); the chart's DaemonSet sets runAsUser 0.

ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config git ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libgoogle-glog-dev prometheus-cpp-dev libssl-dev libsqlite3-dev liburing-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake --preset release -DISCSI_CSI_BUILD_TESTS=OFF \
 && cmake --build --preset release --target iscsi-csi \
 && install -D -m 0755 build/release/common/iscsi-csi /out/iscsi-csi \
 && /out/iscsi-csi --version

FROM ${DEBIAN_IMAGE}
COPY deploy/image-packages.txt /tmp/image-packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' /tmp/image-packages.txt | xargs \
      env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/image-packages.txt \
 && groupadd --system --gid 65532 iscsi-csi \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /var/lib/iscsi-csi \
      --shell /usr/sbin/nologin iscsi-csi
COPY --from=build /out/iscsi-csi /usr/local/bin/iscsi-csi
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/iscsi-csi"]
CMD ["--help"]
