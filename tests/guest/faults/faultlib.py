"""Shared pieces of the host I/O fault tests: a fresh disk image, softcpu's command line for a
guest ROM with the disk on the primary IDE channel, and peak RSS of a finished child."""
import os
import resource
import subprocess
import tempfile


def make_disk(disk_maker, directory):
    """A 1 MiB image of the ide_pio pattern (tests/guest/platform/make_disk.c)."""
    path = os.path.join(directory, "disk.img")
    subprocess.run([disk_maker, path], check=True)
    return path


def softcpu_cmd(softcpu, rom, drive, timeout=30, extra=()):
    return [softcpu, "run", "--bios", rom, "--debugcon", "0xE9:-", "--serial", "none",
            "--timeout", str(timeout), "--drive", drive, *extra]


def scratch_dir():
    return tempfile.TemporaryDirectory(prefix="softcpu-faults-")


def children_peak_rss_kib():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def report(failures, name):
    """Print the failures (or PASSED); the test's exit status."""
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print(f"{name}: PASSED")
    return 0
