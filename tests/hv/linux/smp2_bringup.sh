#!/bin/sh
# A 2-vCPU Linux partition on two threads of a 2-thread processor set, from just before the
# kernel starts its second CPU to past its SMP bring-up: the part of hv.linux_smp2_threads where
# both vCPU threads run Linux at once, short enough for ThreadSanitizer (docs/hardening.md
# "ThreadSanitizer"; the whole boot is ~2.6 G instructions, ~2.3 G of them the kernel's
# decompression on CPU 0 alone).
# usage: smp2_bringup.sh HV_TWO_LINUX VMLINUZ INITRD OUTDIR PRESMP AFTER [TIMEOUT]
# 1. The snapshot: HV_SNAPSHOT_MAKER (the release build's hv_two_linux, which `make test-tsan`
#    passes) or HV_TWO_LINUX boots the partition for PRESMP instructions of CPU 0 and saves it;
#    the save refuses if CPU 1 has started by then (docs/snapshot.md "SMP").
# 2. HV_TWO_LINUX starts from it and runs AFTER more instructions of CPU 0 (or until the
#    partition's TIMEOUT, 300 s unless given); its console must show both CPUs brought up.
set -e
prog=$1 vmlinuz=$2 initrd=$3 out=$4 presmp=$5 after=$6 timeout=${7:-300}
mkdir -p "$out/save" "$out/run"
export HV_SET_THREADS=2 HV_VCPUS=2 HV_VCPU_THREADS=multi
HV_INSN_LIMIT=$presmp HV_SAVE="$out/presmp.snap" "${HV_SNAPSHOT_MAKER:-$prog}" \
  "$vmlinuz" "$initrd" "$out/save" 1
HV_LOADVM="$out/presmp.snap" HV_INSN_LIMIT=$after HV_EXPECT="smp: Brought up 1 node, 2 CPUs" \
  HV_TIMEOUT=$timeout exec "$prog" "$vmlinuz" "$initrd" "$out/run" 1
