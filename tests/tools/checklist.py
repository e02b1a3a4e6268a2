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


def toml_block(markdown_path, n):
    """The n-th (1-based) ```toml block of a Markdown file (docs/config.md's examples); prints
    a FAIL line and exits when it has fewer."""
    blocks = open(markdown_path).read().split("```toml\n")
    if len(blocks) <= n:
        print(f"FAIL {markdown_path} has no ```toml block number {n}", flush=True)
        sys.exit(1)
    return blocks[n].split("```")[0]
