#!/usr/bin/env bash
# bench.sh: issue #11's benchmark, side by side with tgt. One command from a clean checkout
# (after scripts/install-deps.sh), as root:
#   1. builds the release binaries when needed (iscsi-csi and tests/bench's iscsi-bench);
#   2. measures the ceilings: iperf3 single-stream TCP on 127.0.0.1 and one-thread memcpy;
#   3. serves one backing file on /dev/shm with tgtd (LUN 1: tgt's LUN 0 is its controller) or
#      with `iscsi-csi target` (LUN 0), one at a time: first a short --verify data check on
#      each, then every workload against both, back to back (start, measure, stop; the order
#      alternates per workload so background load weighs on both alike); each run samples the
#      target process's CPU time (/proc/PID/stat utime+stime) over its measured window;
#   4. prints one table (workload, tgt, ours, ratio for IOPS or MiB/s, p99 latency and CPU
#      seconds per million I/Os) and the data-path goals of the issue, met or not;
#   5. runs the control-plane benchmark (1,000 volumes through `iscsi-csi controller`) and
#      prints its goals.
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit.
#
# Flags (each also as an environment variable):
#   --duration=S        BENCH_DURATION   measured seconds per workload per target (10)
#   --ramp=S            BENCH_RAMP       warm-up seconds before each window (1)
#   --size=SIZE         BENCH_SIZE       backing file size (1G)
#   --volumes=N         BENCH_VOLUMES    control-plane volumes (1000)
#   --sessions=N        BENCH_SESSIONS   control-plane idle sessions for memory (256)
#   --port-base=P       BENCH_PORT_BASE  first loopback port tried (3310; 3260/3261 are avoided)
#   --workloads=a,b     BENCH_WORKLOADS  a subset of the workloads (all): 4k-randread-qd1,
#                       4k-randwrite-qd1, 4k-randread-qd32, 4k-randwrite-qd32, 1m-seqread-qd8,
#                       1m-seqwrite-qd8, 4k-mix70-qd32 (70% reads), 4k-randread-16x-qd8
#                       (16 sessions)
#   --repeat=N          BENCH_REPEAT     runs per workload per target; the table shows medians (1)
#   --no-control-plane  BENCH_CONTROL_PLANE=0
#   --require-goals     BENCH_REQUIRE_GOALS=1: exit 3 when a goal is missed
# Also: BUILD_DIR (default build/release), BENCH_NO_BUILD=1 (use BUILD_DIR as it is),
# BENCH_OUT (where JSON results and logs go; default $BUILD_DIR/bench-results).
# Exit: 0 all runs completed, 1 a run failed or saw I/O errors, 3 a goal missed (with
# --require-goals), 77 a tool is missing (tgtd, tgtadm, iperf3).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

duration=${BENCH_DURATION:-10}
ramp=${BENCH_RAMP:-1}
size=${BENCH_SIZE:-1G}
volumes=${BENCH_VOLUMES:-1000}
cp_sessions=${BENCH_SESSIONS:-256}
port_base=${BENCH_PORT_BASE:-3310}
only=${BENCH_WORKLOADS:-}
control_plane=${BENCH_CONTROL_PLANE:-1}
require_goals=${BENCH_REQUIRE_GOALS:-0}
repeat=${BENCH_REPEAT:-1}
for arg in "$@"; do
  case $arg in
    --duration=*) duration=${arg#*=} ;;
    --ramp=*) ramp=${arg#*=} ;;
    --size=*) size=${arg#*=} ;;
    --volumes=*) volumes=${arg#*=} ;;
    --sessions=*) cp_sessions=${arg#*=} ;;
    --port-base=*) port_base=${arg#*=} ;;
    --workloads=*) only=${arg#*=} ;;
    --repeat=*) repeat=${arg#*=} ;;
    --no-control-plane) control_plane=0 ;;
    --require-goals) require_goals=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bench.sh: unknown argument '$arg' (see --help)" >&2
      exit 2
      ;;
  esac
done
for pair in "duration:$duration" "volumes:$volumes" "sessions:$cp_sessions" \
  "port-base:$port_base" "repeat:$repeat"; do
  if ! [[ ${pair#*:} =~ ^[1-9][0-9]*$ ]]; then
    echo "bench.sh: --${pair%%:*} must be a positive whole number, not '${pair#*:}'" >&2
    exit 2
  fi
done
if ! [[ $ramp =~ ^[0-9]+$ ]]; then
  echo "bench.sh: --ramp must be a whole number of seconds, not '$ramp'" >&2
  exit 2
fi

# The workloads: name, then iscsi-bench load flags. All 4 KiB ones count for CPU per I/O.
workloads=(
  "4k-randread-qd1|--pattern=random --mode=read --bs=4k --qd=1"
  "4k-randwrite-qd1|--pattern=random --mode=write --bs=4k --qd=1"
  "4k-randread-qd32|--pattern=random --mode=read --bs=4k --qd=32"
  "4k-randwrite-qd32|--pattern=random --mode=write --bs=4k --qd=32"
  "1m-seqread-qd8|--pattern=sequential --mode=read --bs=1M --qd=8"
  "1m-seqwrite-qd8|--pattern=sequential --mode=write --bs=1M --qd=8"
  "4k-mix70-qd32|--pattern=random --mode=mixed --read-pct=70 --bs=4k --qd=32"
  "4k-randread-16x-qd8|--pattern=random --mode=read --bs=4k --qd=8 --sessions=16"
)
if [[ -n $only ]]; then
  selected=()
  IFS=, read -r -a wanted <<<"$only"
  for w in "${wanted[@]}"; do
    found=0
    for entry in "${workloads[@]}"; do
      if [[ ${entry%%|*} == "$w" ]]; then
        selected+=("$entry")
        found=1
      fi
    done
    if ((found == 0)); then
      echo "bench.sh: unknown workload '$w'; known: $(printf '%s ' "${workloads[@]%%|*}")" >&2
      exit 2
    fi
  done
  workloads=("${selected[@]}")
fi

missing=()
for tool in tgtd tgtadm iperf3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
  echo "bench.sh: ${missing[*]} not installed (apt-get install tgt iperf3); skipping" >&2
  exit 77
fi

# --- build ----------------------------------------------------------------------------------
BUILD_DIR=${BUILD_DIR:-$root/build/release}
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
  if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
    if [[ $BUILD_DIR == "$root/build/release" ]]; then
      cmake --preset release >/dev/null
    else
      cmake -S "$root" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    fi
  fi
  echo "== building iscsi-csi and iscsi-bench in $BUILD_DIR"
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target iscsi-csi iscsi-bench
fi
iscsi_csi=$BUILD_DIR/common/iscsi-csi
bench=$BUILD_DIR/tests/bench/iscsi-bench
for binary in "$iscsi_csi" "$bench"; do
  if [[ ! -x $binary ]]; then
    echo "bench.sh: $binary is missing (build it, or unset BENCH_NO_BUILD)" >&2
    exit 1
  fi
done

# --- scratch space, ports, cleanup --------------------------------------------------------
out=${BENCH_OUT:-$BUILD_DIR/bench-results}
mkdir -p "$out"
rm -f "$out"/{tgt,ours}-*.{json,log} "$out"/{tgt,ours,control-plane,memcpy,iperf3}*.{json,log} \
  "$out/results.jsonl"
shm=/dev/shm
[[ -w $shm ]] || shm=${TMPDIR:-/tmp}
work=$(mktemp -d "$shm/iscsi-csi-bench.XXXXXX")
disk=$work/disk.img
started=()  # pids to stop on exit

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL; only pids this script started, and once
# (a reaped pid may be reused by someone else's process).
stop_pid() {
  local pid=$1 i kept=()
  for i in "${started[@]}"; do [[ $i == "$pid" ]] || kept+=("$i"); done
  if ((${#kept[@]} == ${#started[@]})); then return 0; fi
  started=("${kept[@]}")
  if kill -TERM "$pid" 2>/dev/null; then
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local pid
  if [[ -n ${tgt_control:-} ]]; then
    tgtadm -C "$tgt_control" --op delete --mode system --force >/dev/null 2>&1 || true
  fi
  for pid in "${started[@]}"; do stop_pid "$pid"; done
  started=()
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# port_in_use PORT: something listens on it (ss from iproute2; a connect attempt without it).
if command -v ss >/dev/null; then
  port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
else
  port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
fi
next_port=$port_base
free_port() {
  while port_in_use "$next_port" || ((next_port == 3260 || next_port == 3261)); do
    next_port=$((next_port + 1))
  done
  echo "$next_port"
  next_port=$((next_port + 1))
}

# json FILE KEY: a scalar from a flat one-line JSON object.
json() { sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$1" | head -1; }

echo "== machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)," \
  "kernel $(uname -r), $(grep -E '^PRETTY_NAME' /etc/os-release | cut -d'"' -f2)"
echo "== $duration s per workload per target after a $ramp s warm-up; backing file $size on $shm"

# --- ceilings ----------------------------------------------------------------------------
iperf_port=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$iperf_port" -1 >"$out/iperf3-server.log" 2>&1 &
iperf_pid=$!
started+=("$iperf_pid")
for ((i = 0; i < 50; i++)); do
  port_in_use "$iperf_port" && break
  sleep 0.1
done
iperf3 -c 127.0.0.1 -p "$iperf_port" -t 5 -J >"$out/iperf3.json" 2>"$out/iperf3-client.log" || true
stop_pid "$iperf_pid"
iperf_bps=$(awk '/"sum_received"/ { f = 1 }
                 f && /"bits_per_second"/ { gsub(/[,]/, "", $2); print $2; exit }' \
  "$out/iperf3.json")
iperf_mib=$(awk -v b="${iperf_bps:-0}" 'BEGIN { printf "%.0f", b / 8 / 1048576 }')
"$bench" memcpy --bs=1M --duration=3s >"$out/memcpy.json" 2>/dev/null
memcpy_mib=$(json "$out/memcpy.json" memcpy_mib_s)
echo "== ceilings: iperf3 one TCP stream on 127.0.0.1 ${iperf_mib} MiB/s;" \
  "memcpy (1 thread, 1 MiB) ${memcpy_mib%.*} MiB/s"

# --- data path -------------------------------------------------------------------------
fallocate -l "$size" "$disk" 2>/dev/null || truncate -s "$size" "$disk"
tgt_iqn=iqn.2026-11.io.iscsi-csi.bench:tgt
our_iqn=iqn.2026-11.io.iscsi-csi.bench:ours
failed_runs=0

# Pairs are measured close together: for each workload the target is started, measured and
# stopped, then the other one; the order alternates between workloads, so drift in the
# machine's background load (other builds, page cache) weighs on both sides alike.

# start_tgt / start_ours: serve $disk, set side_pid, side_port, side_iqn, side_lun.
start_tgt() {
  local i
  side_port=$(free_port)
  tgt_control=$side_port # tgtd -C: its own management socket, apart from any system tgtd
  tgtd -f --iscsi portal="127.0.0.1:$side_port" -C "$tgt_control" >>"$out/tgt.log" 2>&1 &
  side_pid=$!
  started+=("$side_pid")
  for ((i = 0; i < 100; i++)); do
    tgtadm -C "$tgt_control" --op show --mode target >/dev/null 2>&1 && break
    if ! kill -0 "$side_pid" 2>/dev/null; then
      echo "bench.sh: tgtd exited:" >&2
      cat "$out/tgt.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  tgtadm -C "$tgt_control" --lld iscsi --op new --mode target --tid 1 -T "$tgt_iqn"
  tgtadm -C "$tgt_control" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$disk"
  tgtadm -C "$tgt_control" --lld iscsi --op bind --mode target --tid 1 -I ALL
  for ((i = 0; i < 50; i++)); do
    port_in_use "$side_port" && break
    sleep 0.1
  done
  side_iqn=$tgt_iqn side_lun=1
}
stop_tgt() {
  # tgtd ignores SIGTERM while it serves targets; this is its own way to shut down.
  tgtadm -C "$tgt_control" --op delete --mode system --force >/dev/null 2>&1 || true
  stop_pid "$side_pid"
  tgt_control=
}
start_ours() {
  local i
  side_port=$(free_port)
  "$iscsi_csi" target --portal="127.0.0.1:$side_port" --export="$our_iqn=$disk:$size" \
    --log-level=warning 2>>"$out/ours.log" &
  side_pid=$!
  started+=("$side_pid")
  for ((i = 0; i < 100; i++)); do
    port_in_use "$side_port" && break
    if ! kill -0 "$side_pid" 2>/dev/null; then
      echo "bench.sh: iscsi-csi target exited:" >&2
      cat "$out/ours.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  side_iqn=$our_iqn side_lun=0
}
stop_ours() { stop_pid "$side_pid"; }
start_side() { if [[ $1 == tgt ]]; then start_tgt; else start_ours; fi; }
stop_side() { if [[ $1 == tgt ]]; then stop_tgt; else stop_ours; fi; }

# run SIDE NAME TAG FLAGS...: one iscsi-bench load run against the running target, its JSON in
# $out/SIDE-NAME.TAG.json.
run() {
  local side=$1 name=$2 tag=$3 rc=0
  shift 3
  local file=$out/$side-$name.$tag
  "$bench" load --portal="127.0.0.1:$side_port" --target="$side_iqn" --lun="$side_lun" "$@" \
    --cpu-pid="$side_pid" --label="$side/$name/$tag" >"$file.json" 2>"$file.log" || rc=$?
  cat "$file.json" >>"$out/results.jsonl" 2>/dev/null || true
  if ((rc != 0)) || [[ ! -s $file.json ]]; then
    sed 's/^/   /' "$file.log"
    echo "   ($side $name: iscsi-bench exited $rc)"
    failed_runs=$((failed_runs + 1))
  elif [[ $name == verify ]]; then
    echo "   $side/verify: $(json "$file.json" verified_reads) reads checked against" \
      "their last write, no mismatch"
  else
    sed 's/^/   /' "$file.log"
  fi
  if ! kill -0 "$side_pid" 2>/dev/null; then
    echo "bench.sh: the $side target died during $name; see $out/$side.log" >&2
    exit 1
  fi
}

echo "== tgt $(dpkg-query -W -f='${Version}' tgt 2>/dev/null || true) (tgtd, LUN 1) and ours" \
  "(iscsi-csi target, LUN 0), one at a time"
# First a data check on each: two sessions of mixed I/O whose every read is checked against the
# last acknowledged write, then a read-back of everything written.
for side in tgt ours; do
  start_side "$side"
  run "$side" verify check --pattern=random --mode=mixed --read-pct=50 --bs=8k --qd=16 \
    --sessions=2 --span=64M --verify --ramp=0s --duration=2s
  stop_side "$side"
done
index=0
for ((r = 1; r <= repeat; r++)); do
  for entry in "${workloads[@]}"; do
    name=${entry%%|*}
    read -r -a flags <<<"${entry#*|}"
    order=(tgt ours)
    if ((index % 2 == 1)); then order=(ours tgt); fi
    index=$((index + 1))
    for side in "${order[@]}"; do
      start_side "$side"
      run "$side" "$name" "r$r" "${flags[@]}" --ramp="${ramp}s" --duration="${duration}s"
      stop_side "$side"
    done
  done
done

# --- table and goals --------------------------------------------------------------------
# ratio A B: A / B with two decimals ("-" when either is missing); fmt V DIGITS ("-" for < 0).
ratio() {
  awk -v a="$1" -v b="$2" \
    'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
fmt() {
  awk -v v="$1" -v p="$2" 'BEGIN { if (v == "" || v + 0 < 0) print "-"; else printf "%." p "f", v }'
}
add() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }
per_million() { awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", c * 1e6 / n }'; }
row() { printf '%-22s %-18s %12s %12s %7s\n' "$@"; }
# runs SIDE NAME: the JSON files of that workload's repeats; val SIDE NAME KEY: the median of
# KEY over them; total SIDE NAME KEY: the sum.
runs() { compgen -G "$out/$1-$2.r*.json" || true; }
val() {
  local f
  for f in $(runs "$1" "$2"); do [[ -s $f ]] && json "$f" "$3"; done | sort -g |
    awk '{ v[NR] = $1 }
         END {
           if (NR % 2 == 1) print v[(NR + 1) / 2]
           else if (NR > 0) print (v[NR / 2] + v[NR / 2 + 1]) / 2
         }'
}
# have NAME: both sides have a result for that workload.
have() { [[ -n $(val tgt "$1" ios) && -n $(val ours "$1" ios) ]]; }
total() {
  local f
  for f in $(runs "$1" "$2"); do [[ -s $f ]] && json "$f" "$3"; done |
    awk '{ s += $1 } END { print s + 0 }'
}
echo
echo "== results ($duration s each$( ((repeat > 1)) && echo ", median of $repeat runs");" \
  "ratio = ours / tgt; for p99 and CPU lower is better)"
row workload metric tgt ours ratio
row ---------------------- ------------------ ------------ ------------ -------
cpu_tgt=0 cpu_ours=0 ios_tgt=0 ios_ours=0
for entry in "${workloads[@]}"; do
  name=${entry%%|*}
  if ! have "$name"; then
    row "$name" "(run failed)" - - -
    continue
  fi
  if [[ $name == 1m-* ]]; then
    metric="MiB/s" key=mib_s digits=1
  else
    metric="IOPS" key=iops digits=0
  fi
  tv=$(val tgt "$name" $key) ov=$(val ours "$name" $key)
  row "$name" "$metric" "$(fmt "$tv" $digits)" "$(fmt "$ov" $digits)" "$(ratio "$ov" "$tv")"
  tv=$(val tgt "$name" lat_p99_us) ov=$(val ours "$name" lat_p99_us)
  row "" "p99 latency us" "$(fmt "$tv" 0)" "$(fmt "$ov" 0)" "$(ratio "$ov" "$tv")"
  tv=$(val tgt "$name" target_cpu_s_per_mio) ov=$(val ours "$name" target_cpu_s_per_mio)
  row "" "CPU s / M I/Os" "$(fmt "$tv" 1)" "$(fmt "$ov" 1)" "$(ratio "$ov" "$tv")"
  for side in tgt ours; do
    errors=$(total $side "$name" errors)
    if [[ $errors != 0 ]]; then row "" "ERRORS ($side)" "$errors" "" ""; fi
  done
  if [[ $name == 4k-* ]]; then
    cpu_tgt=$(add "$cpu_tgt" "$(total tgt "$name" target_cpu_s)")
    cpu_ours=$(add "$cpu_ours" "$(total ours "$name" target_cpu_s)")
    ios_tgt=$(add "$ios_tgt" "$(total tgt "$name" ios)")
    ios_ours=$(add "$ios_ours" "$(total ours "$name" ios)")
  fi
done
per_mio_tgt=$(per_million "$cpu_tgt" "$ios_tgt")
per_mio_ours=$(per_million "$cpu_ours" "$ios_ours")
row "all 4 KiB workloads" "CPU s / M I/Os" "${per_mio_tgt:--}" "${per_mio_ours:--}" \
  "$(ratio "$per_mio_ours" "$per_mio_tgt")"
row "ceiling" "iperf3 MiB/s" "$iperf_mib" "" ""
row "ceiling" "memcpy MiB/s" "$(fmt "$memcpy_mib" 0)" "" ""

# goal TEXT MEASURED MET(1/0/empty = not measured)
goals_missed=0 goals_met=0
goal() {
  local state
  case $3 in
    1) state="met" goals_met=$((goals_met + 1)) ;;
    0) state="MISSED" goals_missed=$((goals_missed + 1)) ;;
    *) state="n/a" ;;
  esac
  printf '  [%-6s] %-58s %s\n' "$state" "$1" "$2"
  printf '{"goal":"%s","measured":"%s","met":%s}\n' "$1" "$2" \
    "$(case $3 in 1) echo true ;; 0) echo false ;; *) echo null ;; esac)" >>"$out/results.jsonl"
}
cmp_ge() { awk -v a="$1" -v b="$2" -v k="$3" 'BEGIN { print (a >= k * b) ? 1 : 0 }'; }
cmp_le() { awk -v a="$1" -v b="$2" -v k="$3" 'BEGIN { print (a <= k * b) ? 1 : 0 }'; }

echo
echo "== data-path goals (issue #11)"
for name in 4k-randread-qd32 4k-randwrite-qd32; do
  if have $name; then
    tv=$(val tgt "$name" iops) ov=$(val ours "$name" iops)
    goal "$name: IOPS >= 1.5 x tgt" "$(fmt "$ov" 0) vs $(fmt "$tv" 0) (x$(ratio "$ov" "$tv"))" \
      "$(cmp_ge "$ov" "$tv" 1.5)"
  else
    goal "$name: IOPS >= 1.5 x tgt" "not run" ""
  fi
done
for name in 4k-randread-qd1 4k-randwrite-qd1; do
  if have $name; then
    tv=$(val tgt "$name" lat_p99_us) ov=$(val ours "$name" lat_p99_us)
    goal "$name: p99 latency <= tgt" "$(fmt "$ov" 0) us vs $(fmt "$tv" 0) us" \
      "$(cmp_le "$ov" "$tv" 1)"
  else
    goal "$name: p99 latency <= tgt" "not run" ""
  fi
done
for name in 1m-seqread-qd8 1m-seqwrite-qd8; do
  if have $name; then
    tv=$(val tgt "$name" mib_s) ov=$(val ours "$name" mib_s)
    goal "$name: MiB/s >= 1.2 x tgt" "$(fmt "$ov" 0) vs $(fmt "$tv" 0) (x$(ratio "$ov" "$tv"))" \
      "$(cmp_ge "$ov" "$tv" 1.2)"
    if [[ -n $iperf_bps && $iperf_mib != 0 ]]; then
      goal "$name: MiB/s >= 60% of iperf3 loopback" \
        "$(fmt "$ov" 0) vs $iperf_mib ($(awk -v a="$ov" -v b="$iperf_mib" \
          'BEGIN { printf "%.0f", 100 * a / b }')%)" \
        "$(cmp_ge "$ov" "$iperf_mib" 0.6)"
    else
      goal "$name: MiB/s >= 60% of iperf3 loopback" "iperf3 gave no figure" ""
    fi
  else
    goal "$name: MiB/s >= 1.2 x tgt and >= 60% of iperf3" "not run" ""
  fi
done
if [[ -n $per_mio_tgt && -n $per_mio_ours ]]; then
  goal "CPU s per million 4 KiB I/Os <= 0.7 x tgt" \
    "$per_mio_ours vs $per_mio_tgt (x$(ratio "$per_mio_ours" "$per_mio_tgt"))" \
    "$(cmp_le "$per_mio_ours" "$per_mio_tgt" 0.7)"
else
  goal "CPU s per million 4 KiB I/Os <= 0.7 x tgt" "not measured" ""
fi

# --- control plane ----------------------------------------------------------------------
cp_rc=0
if [[ $control_plane == 1 ]]; then
  echo
  echo "== control plane: $volumes volumes through iscsi-csi controller (pool on $shm)"
  cp_port=$(free_port)
  "$bench" control-plane --binary="$iscsi_csi" --work-dir="$work/control-plane" \
    --portal="127.0.0.1:$cp_port" --volumes="$volumes" --sessions="$cp_sessions" \
    >"$out/control-plane.json" 2>"$out/control-plane.log" || cp_rc=$?
  sed 's/^/  /' "$out/control-plane.log"
  cat "$out/control-plane.json" >>"$out/results.jsonl" 2>/dev/null || true
  if ((cp_rc != 0)); then
    echo "  (control-plane benchmark exited $cp_rc)"
    failed_runs=$((failed_runs + 1))
  fi
  cp_missed=$(grep -o '"met":false' "$out/control-plane.json" 2>/dev/null | wc -l || true)
  goals_missed=$((goals_missed + cp_missed))
  cp_met=$(grep -o '"met":true' "$out/control-plane.json" 2>/dev/null | wc -l || true)
  goals_met=$((goals_met + cp_met))
fi

echo
echo "== goals: $goals_met met, $goals_missed missed"

echo
echo "== results: $out (results.jsonl, one JSON line per run; logs)"
if ((failed_runs > 0)); then
  echo "bench.sh: $failed_runs run(s) failed or saw errors" >&2
  exit 1
fi
if ((require_goals == 1 && goals_missed > 0)); then
  echo "bench.sh: $goals_missed goal(s) missed" >&2
  exit 3
fi
exit 0
