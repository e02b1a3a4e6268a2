#!/bin/sh
# run_guest.sh SOFTCPU ROM [EXPECTED_STATUS [TIMEOUT]]
# Runs a guest ROM under `softcpu run` with debugcon 0xE9 on stdout and the
# serial console on stdout, and compares the exit status with the expected
# one (default 1: the guest wrote 0 to the isa-debug-exit port 0xF4).
# On a mismatch it prints the guest's output and both statuses.
set -u
softcpu=$1
rom=$2
expected=${3:-1}
timeout=${4:-30}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$softcpu" run --bios "$rom" --debugcon 0xE9:- --serial stdio --timeout "$timeout" >"$out" 2>&1
status=$?
if [ "$status" -eq "$expected" ]; then
  cat "$out"
  exit 0
fi
echo "---- guest output ($rom) ----"
if [ "$(wc -c <"$out")" -gt 20000 ]; then
  echo "[... $(wc -c <"$out") bytes, showing the first and last 8000 ...]"
  head -c 8000 "$out"
  echo
  echo "[...]"
  tail -c 8000 "$out"
else
  cat "$out"
fi
echo "---- end of guest output ----"
case $status in
  124) why=" (timeout after ${timeout}s)" ;;
  3) why=" (guest exit value 1, or triple fault)" ;;
  0) why=" (guest halted for good)" ;;
  2) why=" (configuration error)" ;;
  *) if [ $((status & 1)) -eq 1 ]; then why=" (guest exit value $((status >> 1)))"; else why=""; fi ;;
esac
echo "FAIL: expected exit status $expected, saw $status$why"
exit 1
