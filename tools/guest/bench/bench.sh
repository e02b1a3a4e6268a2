#!/bin/sh
# The guest side of bench/guest_bench.py, in the rootfs of initrd-bench.img as
# /opt/bench/bench.sh (busybox sh; the tools are Debian's i386 builds in /opt/bench/bin).
#
# usage: bench.sh list                 the workloads
#        bench.sh run WORKLOAD         run it, each phase timed with busybox `time -p`
#        bench.sh check WORKLOAD       print what shows the run's result is right
#        bench.sh info                 versions, CPU flags, memory
#
# run prints, per timed phase, "BENCH-TIME WORKLOAD PHASE STATUS REAL USER SYS" (seconds,
# user and sys are the guest's CPU time of the phase's processes); a phase that fails prints
# its status and output. check prints "BENCH-CHECK WORKLOAD KEY VALUE" lines: sha256 digests
# and sizes of the outputs, the Lua scripts' result lines, the number of processes forked.
# Outputs go to /tmp/bench (RAM: the initramfs's rootfs).
B=/opt/bench
BIN=$B/bin
W=/tmp/bench
IN=$B/input.bin
exec 3>&1

# timed PHASE CMD...: run CMD under `time -p`, its stdout to $W/PHASE.out unless the phase
# redirects it itself (the caller's redirections apply to CMD); time's report goes to $W/time.
timed() {
  phase=$1
  shift
  time -p "$@" 2>"$W/time.$phase"
  status=$?
  real=$(sed -n 's/^real //p' "$W/time.$phase" | tail -1)
  user=$(sed -n 's/^user //p' "$W/time.$phase" | tail -1)
  sys=$(sed -n 's/^sys //p' "$W/time.$phase" | tail -1)
  echo "BENCH-TIME $workload $phase $status ${real:-?} ${user:-?} ${sys:-?}" >&3
  if [ "$status" -ne 0 ]; then
    echo "BENCH-ERROR $workload $phase exit status $status:" >&3
    head -c 2000 "$W/time.$phase" >&3
  fi
}

digest() { sha256sum "$1" | cut -d' ' -f1; }
size() { wc -c < "$1" | tr -d ' '; }

compressor() {  # NAME COMPRESS-ARGS: compress the input, then decompress it
  tool=$1
  shift
  rm -f "$W/$tool".*
  timed compress "$BIN/$tool" "$@" -c "$IN" > "$W/$tool.z"
  timed decompress "$BIN/$tool" -d -c "$W/$tool.z" > "$W/$tool.out"
}

compressor_check() {  # NAME
  echo "BENCH-CHECK $workload compressed_sha256 $(digest "$W/$1.z")"
  echo "BENCH-CHECK $workload compressed_bytes $(size "$W/$1.z")"
  echo "BENCH-CHECK $workload output_sha256 $(digest "$W/$1.out")"
  echo "BENCH-CHECK $workload output_bytes $(size "$W/$1.out")"
  rm -f "$W/$1".*
}

# Workload sizes: each takes seconds under QEMU TCG on a 2020s host core, tens of seconds at
# softcpu's tier 0.
LUA_INT_N=200000
LUA_FLOAT_N=256
SPAWN_N=200

workloads="gzip bzip2 xz lua-int lua-float spawn"

mkdir -p "$W"
cmd=$1
workload=$2
case "$cmd" in
  list) echo "$workloads" ;;
  info)
    echo "BENCH-INFO kernel $(uname -r)"
    echo "BENCH-INFO cpu $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "BENCH-INFO flags $(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "BENCH-INFO memtotal $(sed -n 's/^MemTotal: *//p' /proc/meminfo)"
    echo "BENCH-INFO input $(cat $B/input.sha256)"
    for t in gzip bzip2 xz; do
      echo "BENCH-INFO version $t $("$BIN/$t" --version 2>&1 < /dev/null | head -1)"
    done
    echo "BENCH-INFO version lua $("$BIN/lua" -v 2>&1 | head -1)"
    ;;
  run)
    case "$workload" in
      gzip) compressor gzip -9 -n ;;
      bzip2) compressor bzip2 -9 ;;
      xz) compressor xz -2 -T1 ;;
      lua-int) timed run "$BIN/lua" "$B/int.lua" "$LUA_INT_N" > "$W/lua-int.out" ;;
      lua-float) timed run "$BIN/lua" "$B/float.lua" "$LUA_FLOAT_N" > "$W/lua-float.out" ;;
      spawn)
        # The fork counter is read inside the timed shell, before and after its loop, with
        # builtins only, so the count is the loop's own forks.
        rm -f "$W/spawn.forks"
        timed run sh -c '
          while read -r k v _; do [ "$k" = processes ] && f0=$v; done < /proc/stat
          i=0
          while [ $i -lt $1 ]; do /bin/true || exit 1; i=$((i + 1)); done
          while read -r k v _; do [ "$k" = processes ] && f1=$v; done < /proc/stat
          echo $((f1 - f0)) > "$2"' sh "$SPAWN_N" "$W/spawn.forks"
        ;;
      *) echo "BENCH-ERROR unknown workload '$workload' (have: $workloads)"; exit 2 ;;
    esac
    ;;
  check)
    case "$workload" in
      gzip|bzip2|xz) compressor_check "$workload" ;;
      lua-int|lua-float) echo "BENCH-CHECK $workload result $(cat "$W/$workload.out")" ;;
      spawn)
        # Processes forked during the loop: SPAWN_N, plus any kernel thread started meanwhile.
        echo "BENCH-CHECK $workload forks $(cat "$W/spawn.forks" 2>/dev/null)"
        ;;
      *) echo "BENCH-ERROR unknown workload '$workload' (have: $workloads)"; exit 2 ;;
    esac
    ;;
  *) echo "usage: bench.sh list | info | run WORKLOAD | check WORKLOAD"; exit 2 ;;
esac
