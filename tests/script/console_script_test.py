#!/usr/bin/env python3
"""Console scripts (--serial-script, docs/console-script.md) end to end.

usage: console_script_test.py SCENARIO SOFTCPU ARGS...
  screen SOFTCPU ROM             the screen guest (tests/script/screen_guest.asm, no serial
                                 console): wait-screen/check-screen pass and set the status;
                                 a wait-screen that times out exits 4 showing the screen;
                                 script errors exit 2 with FILE:LINE before the guest runs
  demo SOFTCPU DEMO_ROM           the demo guest (serial output, then the debug-exit port with
                                 status 1): --serial-transcript alone copies stdout; a script
                                 with `transcript`, waits, `status 0` and wait-exit turns the
                                 guest's 1 into 0; a wait the guest's exit cuts short fails
  linux-pass SOFTCPU KERNEL INITRD
                                 the default guest: run a command, check its output, power
                                 off -> 0; the transcript equals what reached stdout
  linux-fail SOFTCPU KERNEL INITRD
                                 the same, but checking for output that is absent -> 4, and
                                 stderr names the step and shows the last console lines
Prints one "ok"/"FAIL" line per check; exit status 0 when all passed.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import checklist  # noqa: E402
from checklist import check  # noqa: E402

APPEND = "console=ttyS0 cryptomgr.notests noisapnp"
# The boot to the shell takes ~13 s of CPU; on a loaded 2-core machine much longer in wall time.
BOOT_WAIT = 400


def run(cmd, timeout):
    start = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("latin-1"), p.stderr.decode("latin-1"), \
        time.monotonic() - start


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def show(out, err):
    print("--- stdout (end)\n" + out[-3000:] + "\n--- stderr\n" + err)


def scenario_screen(softcpu, rom, d):
    base = [softcpu, "run", "--bios", rom, "--timeout", "60"]
    ok = write(d, "screen_ok.script", """\
# The screen guest writes no serial output: everything here reads the VGA text screen.
wait-screen 'step 3' 20
wait-screen '^screen guest: ready$' 20
check-screen '^softcpu screen guest$'
check-screen-not 'step 6'
status 7
exit
""")
    code, out, err, _ = run(base + ["--serial-script", ok], 90)
    good = check("screen: wait-screen and check-screen pass; exit takes the status (7)",
                 code == 7 and f"script {ok} passed (6 steps" in err, f"status {code}")
    if not good:
        show(out, err)

    bad = write(d, "screen_fail.script", "wait-screen 'step 2' 20\nwait-screen NEVER 1\n")
    code, out, err, _ = run(base + ["--expect", bad], 90)
    good = check("screen: a wait-screen that times out exits 4", code == 4, f"status {code}")
    good &= check("screen: the report names the step",
                  f"script failed at {bad}:2: wait-screen NEVER 1\n" in err and
                  "timed out after 1 s: no match for /NEVER/ on the screen" in err)
    good &= check("screen: the report shows the screen",
                  "the screen:\n  | softcpu screen guest\n  |\n  | step " in err)
    if not good:
        show(out, err)

    errors = write(d, "errors.script", "wait-screen x 1\nwiat y\nsend \"\\xQ\"\nwait '('\n")
    code, out, err, secs = run(base + ["--serial-script", errors], 60)
    good = check("script errors: status 2", code == 2, f"status {code}")
    good &= check("script errors: every error with FILE:LINE",
                  f"softcpu: {errors}:2: unknown command 'wiat'" in err and
                  f"softcpu: {errors}:3: \\x needs two hex digits" in err and
                  f"softcpu: {errors}:4: bad regular expression '('" in err)
    good &= check("script errors: reported before the guest runs (no 'passed', no timeout)",
                  "passed" not in err and "timeout after" not in err and secs < 30, f"{secs:.1f} s")
    if not good:
        show(out, err)

    code, out, err, _ = run(base + ["--serial-script", os.path.join(d, "missing.script")], 60)
    check("a missing script: status 2 and the file named",
          code == 2 and "cannot read console script" in err and "missing.script" in err,
          f"status {code}: {err!r}")


def scenario_demo(softcpu, rom, d):
    base = [softcpu, "run", "--bios", rom, "--timeout", "60"]
    copy = os.path.join(d, "copy.log")
    code, out, err, _ = run(base + ["--serial-transcript", copy], 90)
    with open(copy, "rb") as f:  # bytes: the guest's "\r\n" stays as it was
        saved = f.read().decode("latin-1")
    good = check("demo: --serial-transcript without a script copies the serial output",
                 code == 1 and "Hello from softcpu" in out and saved == out,
                 f"status {code}, {len(saved)} vs {len(out)} characters")
    if not good:
        show(out, err)

    log = os.path.join(d, "demo.log")
    script = write(d, "demo.script", f"""\
transcript '{log}'
wait 'crc32\\("123456789"\\) += 0x([0-9a-f]+)$' 30
check 'cbf43926'
wait '^Bye\\.$'
status 0
wait-exit 30
""")
    code, out, err, _ = run(base + ["--serial-script", script, "--serial", "none"], 90)
    with open(log, encoding="latin-1") as f:
        saved = f.read()
    good = check("demo: status 0 overrides the guest's debug-exit status 1",
                 code == 0 and f"script {script} passed (5 steps" in err, f"status {code}")
    good &= check("demo: the script's transcript has the output; --serial none printed nothing",
                  "Bye." in saved and out == "", f"{saved[-200:]!r} / {out[:200]!r}")
    if not good:
        show(out, err)

    script = write(d, "cut.script", "wait 'Bye'\nwait 'never printed' 30\n")
    code, out, err, _ = run(base + ["--serial-script", script], 90)
    good = check("demo: a wait cut short by the guest's exit fails with 4", code == 4,
                 f"status {code}")
    good &= check("demo: ... and says the machine stopped",
                  f"script failed at {script}:2: wait 'never printed' 30" in err and
                  "the machine stopped (exit status 1) before this step was done" in err and
                  "  | Bye." in err)
    if not good:
        show(out, err)


def linux_cmd(softcpu, kernel, initrd, script, *extra):
    return [softcpu, "run", "--kernel", kernel, "--initrd", initrd, "--append", APPEND,
            "--serial-script", script, *extra]


def scenario_linux_pass(softcpu, kernel, initrd, d):
    script = write(d, "ci.script", f"""\
# The CI example of docs/console-script.md.
fail-on 'Kernel panic|BUG: |Oops'
timeout 60
wait 'softcpu-guest: ready' {BOOT_WAIT}
wait 'softcpu# '
sendline 'echo $((6*7)); uname -m'
wait 'softcpu# '
check '^42$'
check '^i686$'
check-not 'not found'
sendline 'poweroff -f'
wait-exit 120
""")
    transcript = os.path.join(d, "console.log")
    code, out, err, secs = run(linux_cmd(softcpu, kernel, initrd, script,
                                         "--serial-transcript", transcript), BOOT_WAIT + 200)
    print(f"(the run took {secs:.1f} s)")
    good = check("linux: the script passes and the guest's power-off gives status 0", code == 0,
                 f"status {code}")
    good &= check("linux: passed is reported",
                  f"script {script} passed (10 steps" in err and "ACPI S5" in err)
    good &= check("linux: the serial output still reaches stdout",
                  "softcpu-guest: ready" in out and "\n42\r\n" in out and "reboot: Power down" in out)
    try:
        with open(transcript, "rb") as f:
            saved = f.read().decode("latin-1")
    except OSError as e:
        saved = str(e)
    good &= check("linux: the transcript is what reached stdout", saved == out,
                  f"{len(saved)} vs {len(out)} characters")
    if not good:
        show(out, err)


def scenario_linux_fail(softcpu, kernel, initrd, d):
    script = write(d, "fail.script", f"""\
wait 'softcpu# ' {BOOT_WAIT}
sendline 'echo $((6*7))'
wait 'softcpu# ' 60
check '^43$'
sendline 'echo not reached'
""")
    code, out, err, secs = run(linux_cmd(softcpu, kernel, initrd, script, "--serial", "none"),
                               BOOT_WAIT + 200)
    print(f"(the run took {secs:.1f} s)")
    good = check("linux-fail: a failed check exits 4", code == 4, f"status {code}")
    good &= check("linux-fail: stderr names the step",
                  f"softcpu: script failed at {script}:4: check '^43$'\n" in err and
                  "the output of the last wait does not match /^43$/" in err)
    good &= check("linux-fail: stderr shows the last console lines",
                  "the last 20 lines of serial output:\n" in err and
                  "  | 42\n" in err and "echo $((6*7))\n" in err)
    good &= check("linux-fail: nothing after the failed step ran", "not reached" not in err)
    good &= check("linux-fail: --serial none: no guest output on stdout", out == "", repr(out[:200]))
    if not good:
        show(out, err)


def main():
    scenario, softcpu, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    with tempfile.TemporaryDirectory() as d:
        if scenario == "screen":
            scenario_screen(softcpu, args[0], d)
        elif scenario == "demo":
            scenario_demo(softcpu, args[0], d)
        elif scenario in ("linux-pass", "linux-fail"):
            kernel, initrd = args
            for path in (kernel, initrd):
                if not os.path.exists(path):
                    print(f"FAIL no guest image {path}: build it with tools/guest/build-image.sh "
                          "(make test does)")
                    return 1
            (scenario_linux_pass if scenario == "linux-pass" else scenario_linux_fail)(
                softcpu, kernel, initrd, d)
        else:
            print(f"unknown scenario {scenario}")
            return 2
    return 1 if checklist.failures else 0


if __name__ == "__main__":
    sys.exit(main())
