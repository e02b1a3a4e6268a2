#!/bin/sh
# run_platform.sh SOFTCPU ROM TIMEOUT [softcpu run options...]
# Like ../run_guest.sh, but passes extra options (-m, --drive) to `softcpu run`.  The guest
# passes by writing 0 to the debug-exit port 0xF4 (exit status 1); anything else prints the
# guest's output and the status.
set -u
softcpu=$1
rom=$2
timeout=$3
shift 3

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$softcpu" run --bios "$rom" --debugcon 0xE9:- --serial stdio --timeout "$timeout" "$@" >"$out" 2>&1
status=$?
cat "$out"
if [ "$status" -eq 1 ]; then
  exit 0
fi
case $status in
  124) why=" (timeout after ${timeout}s)" ;;
  0) why=" (guest halted for good)" ;;
  2) why=" (configuration error)" ;;
  *) if [ $((status & 1)) -eq 1 ]; then why=" (guest check $((status >> 1)) failed)"; else why=""; fi ;;
esac
echo "FAIL: expected exit status 1, saw $status$why"
exit 1
