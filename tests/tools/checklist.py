"""The pass/fail lines of the command-line tests: check() prints "ok   NAME" or
"FAIL NAME: DETAIL", counts the failures in `failures`, and returns whether it passed."""
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree

failures = 0


def check(name, ok, detail=""):
    global failures
    print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else ": " + str(detail)),
          flush=True)
    if not ok:
        failures += 1
    return ok
