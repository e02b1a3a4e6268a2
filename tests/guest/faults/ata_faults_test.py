#!/usr/bin/env python3
"""faults.ata_errors: host I/O faults as the guest and the user see them.

usage: ata_faults_test.py SOFTCPU ata_faults.rom fault_shim.so MAKE_DISK

softcpu runs ata_faults.rom with fault_shim.so preloaded: every write or read touching
sectors 100 and 200 fails with EIO, the first fsync fails. The guest checks the ATA errors
(ERR + ABRT / UNC) and that the drive still works afterwards (exit status 1 = pass); here we
check softcpu stayed up to the end (its shutdown flush fails too), wrote one stderr line per kind of failure plus one summary
(not one per failure), and that sector 300 (written after the failures) is in the image."""
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib  # noqa: E402


def main():
    softcpu, rom, shim, disk_maker = sys.argv[1:5]
    with faultlib.scratch_dir() as tmp:
        disk = faultlib.make_disk(disk_maker, tmp)
        log = os.path.join(tmp, "faults.log")
        env = dict(os.environ, LD_PRELOAD=shim, SOFTCPU_FAULT_FILE=disk, SOFTCPU_FAULT_LOG=log,
                   ASAN_OPTIONS="verify_asan_link_order=0",
                   SOFTCPU_FAULTS="write:EIO:at=51200:times=0,read:EIO:at=102400:times=0,"
                                  "fsync:EIO")
        p = subprocess.run(faultlib.softcpu_cmd(softcpu, rom, f"file={disk},format=raw"),
                           env=env, capture_output=True, text=True, timeout=60)
        print(p.stdout)
        print(p.stderr, file=sys.stderr)
        injected = open(log).read().splitlines() if os.path.exists(log) else []
        print(f"faults injected: {injected}")
        failures = []
        if p.returncode != 1:
            failures.append(f"exit status {p.returncode}, expected 1 (guest pass)")
        if not any(x.startswith("write 51200") for x in injected) or \
           not any(x.startswith("read 102400") for x in injected) or \
           not any(x.startswith("fsync") for x in injected):
            failures.append("the shim did not inject every fault (is it preloaded?)")
        err = [line for line in p.stderr.splitlines() if line.startswith("softcpu: disk")]
        want = [f"softcpu: disk '{disk}': write of 512 bytes at offset 51200 failed: i/o error",
                f"softcpu: disk '{disk}': read of 512 bytes at offset 102400 failed: i/o error",
                f"softcpu: disk '{disk}': flush (fsync) failed: i/o error",
                f"softcpu: disk '{disk}': the final fsync failed",
                f"softcpu: disk '{disk}': 6 host I/O errors in all (1 read, 2 write, 3 flush)"]
        if len(err) != len(want) or any(not e.startswith(w) for e, w in zip(err, want)):
            failures.append("stderr reports:\n  " + "\n  ".join(err) +
                            "\nexpected lines starting with:\n  " + "\n  ".join(want))
        with open(disk, "rb") as f:
            f.seek(300 * 512)
            sector = f.read(512)
        words = [int.from_bytes(sector[i:i + 2], "little") for i in range(0, 512, 2)]
        if words != [(2 * 0x9E37 + i * 0x0101) & 0xFFFF for i in range(256)]:
            failures.append("sector 300 (written after the faults) is not in the image")
        return faultlib.report(failures, "faults.ata_errors")


if __name__ == "__main__":
    sys.exit(main())
