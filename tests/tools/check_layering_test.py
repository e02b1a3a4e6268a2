#!/usr/bin/env python3
"""tools/check_layering.py: the real tree keeps to docs/design.md's table, and a small tree of
our own with the breaches the check exists for is refused, each named: a device including
interp/cpu.h directly, a device through an interface header that brings in interp/cpu.h, and
a lower part (cache/) including a higher one; a table naming a file that does not exist is an
error of its own (exit 2)."""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHECK = os.path.join(ROOT, "tools", "check_layering.py")

TABLE = """# design

## Parts and dependencies

| folder | owns | uses |
|---|---|---|
| `cache/` | blocks | nothing |
| `interp/` | `Cpu` | `cache/` |
| `vdevices/` | devices | `interp/ack.h` (`InterruptAcknowledge`) |
| `monitor/` | `Machine` | `interp/`, `cache/`, `vdevices/` |

## Next
"""


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def run(root):
    p = subprocess.run([sys.executable, CHECK, "--root", root], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


def main():
    failures = []

    def expect(cond, what, out):
        if not cond:
            failures.append(f"{what}:\n{out}")

    status, out = run(ROOT)
    expect(status == 0 and "files keep to" in out, "the real tree should pass", out)

    with tempfile.TemporaryDirectory() as t:
        write(t, "docs/design.md", TABLE)
        write(t, "cache/block.h", "#pragma once\n")
        write(t, "interp/cpu.h", '#pragma once\n#include "cache/block.h"\n')
        write(t, "interp/ack.h", "#pragma once\n")
        write(t, "vdevices/pic.h", '#pragma once\n#include "interp/ack.h"\n#include <cstdint>\n')
        write(t, "vdevices/pic.cpp", '#include "vdevices/pic.h"\n#include "pic.h"\n')
        write(t, "monitor/machine.cpp", '#include "interp/cpu.h"\n#include "vdevices/pic.h"\n')
        status, out = run(t)
        expect(status == 0 and "6 files keep to" in out, "the clean small tree should pass", out)

        # A device that includes the CPU's state.
        write(t, "vdevices/apic.cpp", '#include "interp/cpu.h"\n')
        status, out = run(t)
        expect(status == 1 and "vdevices/apic.cpp: includes interp/cpu.h" in out,
               "a device including interp/cpu.h should be refused", out)
        os.remove(os.path.join(t, "vdevices/apic.cpp"))

        # The interface header brings the CPU in: refused with the chain.
        write(t, "interp/ack.h", '#pragma once\n#include "interp/cpu.h"\n')
        status, out = run(t)
        expect(status == 1 and "interp/ack.h -> interp/cpu.h -> cache/block.h" in out,
               "an interface header bringing in interp/cpu.h should be refused", out)
        write(t, "interp/ack.h", "#pragma once\n")

        # A lower part including a higher one (relative include, resolved from its folder).
        write(t, "cache/index.cpp", '#include "../monitor/machine.h"\n')
        write(t, "monitor/machine.h", "#pragma once\n")
        status, out = run(t)
        expect(status == 1 and "cache/index.cpp: includes monitor/machine.h" in out,
               "cache/ including monitor/ should be refused", out)
        os.remove(os.path.join(t, "cache/index.cpp"))

        # The table names a header that is not there.
        write(t, "docs/design.md", TABLE.replace("`interp/ack.h`", "`interp/gone.h`"))
        status, out = run(t)
        expect(status == 2 and "interp/gone.h" in out, "a missing table entry should be exit 2",
               out)

    for f in failures:
        print("FAIL:", f)
    print(f"check_layering_test: {'FAILED' if failures else 'passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
