#!/usr/bin/env python3
"""The softcpu command line end to end (tools/options.cpp, on CLI11): each command's help on
stdout with status 0, `softcpu info`, and CLI11's own error cases (unknown option or command,
missing value, bad number) as one line on stderr with status 2; '--' before a disk image whose
name begins with '-'.
Usage: cli_parser_test.py SOFTCPU"""
import os
import subprocess
import sys
import tempfile

SOFTCPU = os.path.abspath(sys.argv[1])  # the runs below change directory
failures = 0


def check(name, args, status, out_starts=None, out_has=(), err=None, cwd=None):
    global failures
    p = subprocess.run([SOFTCPU] + args, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, cwd=cwd)
    ok = p.returncode == status
    if out_starts is not None and not p.stdout.startswith(out_starts):
        ok = False
    if any(s not in p.stdout for s in out_has):
        ok = False
    if err is not None and p.stderr != f"softcpu: {err}\n":
        ok = False
    if status == 0 and p.stderr:
        ok = False
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        failures += 1
        print(f"  expected status {status}, stdout starting {out_starts!r} with {out_has!r}, "
              f"stderr {err!r}")
        print(f"  saw status {p.returncode}\n  stdout: {p.stdout[:600]!r}\n  stderr: {p.stderr!r}")
    return p.stdout


main_help = check("main help", ["--help"], 0, "usage: softcpu <command> [options]\n",
                  ("  run [disk-image]", "  check-config FILE", "  info", "  --version"))
check("help command", ["help"], 0, main_help)
check("no arguments", [], 0, main_help)
run_help = check("run help", ["run", "--help"], 0, "usage: softcpu run [options] [disk-image]\n",
                 ("\nboot:\n", "\nmachine:\n", "\ndevices:\n", "\ndebugging:\n", "\nJIT (",
                  "\ndeterminism (", "\nstatistics and profiling:\n", "  --bios FILE ",
                  "\nexit status: "))
check("help run", ["help", "run"], 0, run_help)
check("check-config help", ["check-config", "-h"], 0, "usage: softcpu check-config FILE\n")
check("info help", ["info", "--help"], 0, "usage: softcpu info\n")
check("info", ["info"], 0, "softcpu 0.1\n", ("LLVM ", "build:", "firmware:"))
check("version", ["--version"], 0, "softcpu 0.1\n")

check("unknown option", ["run", "--frob"], 2,
      err="unknown option '--frob' (try 'softcpu run --help')")
check("unknown command", ["frob"], 2, err="unknown command 'frob' (try 'softcpu --help')")
check("unknown option of info", ["info", "-x"], 2,
      err="unknown option '-x' (try 'softcpu info --help')")
check("missing value", ["run", "--timeout", "1", "--bios"], 2,
      err="option --bios needs a value")
check("bad number", ["run", "-m", "lots"], 2,
      err="bad memory size 'lots': give MiB between 1 and 3072")
check("bad number after '='", ["run", "--insn-limit=ten"], 2,
      err="bad --insn-limit 'ten': expected a positive number of instructions")
check("flag with a value", ["run", "--deterministic=on"], 2,
      err="option --deterministic takes no value")
check("check-config without a file", ["check-config"], 2,
      err="usage: softcpu check-config FILE (a system description, docs/config.md)")

with tempfile.TemporaryDirectory() as d:
    # out 0xF4, al with al = 0x21 -> status 0x43, at the reset vector of a 64 KiB ROM.
    rom = bytearray(b"\xF4" * 65536)
    rom[-16:-11] = b"\xB0\x21\xE6\xF4\xF4"
    with open(os.path.join(d, "exit.rom"), "wb") as f:
        f.write(rom)
    with open(os.path.join(d, "-d.img"), "wb") as f:
        f.write(bytes(1 << 20))
    check("'--' before a disk named -d.img", ["run", "--bios", "exit.rom", "--", "-d.img"], 0x43,
          cwd=d)
    check("-d.img without '--' is an option", ["run", "--bios", "exit.rom", "-d.img"], 2,
          err="unknown option '-d.img' (try 'softcpu run --help')", cwd=d)
    check("'--' then two disks", ["run", "--bios", "exit.rom", "--", "-d.img", "-m"], 2,
          err="more than one disk image given ('-d.img' and '-m')", cwd=d)

print(f"{failures} failed" if failures else "all command-line parser checks passed")
sys.exit(1 if failures else 0)
