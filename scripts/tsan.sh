#!/usr/bin/env bash
# tsan.sh: the unit and conformance tests under ThreadSanitizer (preset "tsan", build/tsan).
#
# Debian's libabsl is compiled without -fsanitize=thread, and absl::Mutex, CondVar and
# Notification lock and wait out of line in it (futexes), so TSan would not see them and would
# report every field an absl::Mutex guards. This script therefore first builds Debian's own
# abseil source package, of exactly the installed libabsl-dev version (same patches, same
# SONAMEs, headers checked identical to /usr/include/absl), as shared libraries with
# -fsanitize=thread into build/absl-tsan/install (kept until libabsl-dev changes; 40-95 s on
# two cores). The tsan preset finds it first (CMAKE_PREFIX_PATH) and links with an RPATH so that
# Debian's gRPC and protobuf load it too.
#
# Every process started by the tests (the test binaries, `iscsi-csi target` children) writes its
# reports to build/tsan/reports/; any report fails the run, even one from a child that the test
# itself did not notice. Exits non-zero when a build, a test or a report fails.
#
# Environment: JOBS (default nproc), ISCSI_CSI_TSAN_ABSL_SOURCE (an unpacked abseil source tree
# to use instead of `apt-get source`), ISCSI_CSI_TSAN_LABELS (default "unit conformance").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${JOBS:-$(nproc)}
labels=${ISCSI_CSI_TSAN_LABELS:-unit conformance}
absl_prefix=$root/build/absl-tsan/install

# build_abseil: Debian's abseil source, built and installed with -fsanitize=thread.
build_abseil() {
  local version work src
  version=$(dpkg-query -W -f='${Version}' libabsl-dev)
  if [[ -f $absl_prefix/.debian-version && $(<"$absl_prefix/.debian-version") == "$version" ]]; then
    echo "tsan.sh: instrumented abseil $version already in $absl_prefix"
    return
  fi
  echo "tsan.sh: building abseil $version with -fsanitize=thread into $absl_prefix"
  work=$(mktemp -d)
  # shellcheck disable=SC2064  # expand $work now
  trap "rm -rf '$work'; trap - RETURN" RETURN
  if [[ -n ${ISCSI_CSI_TSAN_ABSL_SOURCE:-} ]]; then
    src=$ISCSI_CSI_TSAN_ABSL_SOURCE
  else
    # A private apt configuration whose deb-src lines mirror the system's deb lines (deb822 and
    # one-line styles), so the system's sources and package lists are left alone.
    mkdir -p "$work/apt/parts" "$work/apt/lists/partial" "$work/src"
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
      [[ -f $f ]] && sed -E 's/^Types:.*\bdeb\b.*$/Types: deb-src/' "$f" >"$work/apt/parts/${f##*/}"
    done
    if [[ -f /etc/apt/sources.list ]]; then
      sed -nE 's/^deb (.*)$/deb-src \1/p' /etc/apt/sources.list >"$work/apt/sources.list"
    else
      : >"$work/apt/sources.list"
    fi
    local apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list"
                    -o "Dir::Etc::SourceParts=$work/apt/parts"
                    -o "Dir::State::Lists=$work/apt/lists"
                    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
                    -o "APT::Sandbox::User=root")
    # A failing third-party source only warns; `apt-get source` below fails if Debian's does.
    apt-get "${apt_opts[@]}" update -qq || echo "tsan.sh: apt-get update (deb-src) failed partly" >&2
    (cd "$work/src" && apt-get "${apt_opts[@]}" source -qq --only-source "abseil=$version" >/dev/null)
    src=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'abseil-*' | head -1)
  fi
  # As debian/rules configures the shared build (C++17, build type None: no NDEBUG), plus TSan.
  cmake -S "$src" -B "$work/build" -G Ninja -Wno-dev \
    -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF \
    -DCMAKE_CXX_FLAGS="-O2 -g1 -fsanitize=thread" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
    -DCMAKE_INSTALL_PREFIX="$absl_prefix" -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
  cmake --build "$work/build" -j "$jobs" >/dev/null
  rm -rf "$absl_prefix"
  cmake --install "$work/build" >/dev/null
  # Our code compiles against these headers and gRPC against /usr/include/absl: they must agree.
  if ! diff -r -q "$absl_prefix/include/absl" /usr/include/absl; then
    echo "tsan.sh: abseil $version source headers differ from libabsl-dev's" >&2
    exit 1
  fi
  echo "$version" >"$absl_prefix/.debian-version"
}

SECONDS=0
build_abseil
echo "tsan.sh: abseil ready after ${SECONDS}s"

cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs"
echo "tsan.sh: build done after ${SECONDS}s"

reports=$root/build/tsan/reports
rm -rf "$reports"
mkdir -p "$reports"
# Appended by the test presets after their halt_on_error, second_deadlock_stack, suppressions.
export TSAN_OPTIONS="log_path=$reports/tsan"
rc=0
for label in $labels; do
  echo "== $label tests (ThreadSanitizer)"
  ctest --preset "$label-tsan" || rc=1
  echo "tsan.sh: $label done after ${SECONDS}s"
done

shopt -s nullglob
found=("$reports"/tsan.*)
if ((${#found[@]} > 0)); then
  echo "tsan.sh: ${#found[@]} process(es) reported to ThreadSanitizer:" >&2
  for f in "${found[@]}"; do
    echo "---- $f" >&2
    cat "$f" >&2
  done
  rc=1
fi
exit "$rc"
