#!/usr/bin/env python3
"""Checks that every part of softcpu includes only what docs/design.md's table "Parts and
dependencies" lets it use; the build runs it before compiling anything (CMakeLists.txt, target
`layering`), so a device that includes interp/cpu.h does not build.

The table is the one list: for each row, the folder is the first column's path and what it
may include is its own folder plus every path in backticks in the "uses" column (a folder such
as `hostio/`, or one header such as `interp/memory.h`; words without a slash are names, not
paths). The most specific row names a file's part (monitor/hv/ before monitor/). A file's
direct `#include "..."` lines are checked against its row. A header named alone (an interface
header) must not bring in more than the row allows: its own includes, followed to the end,
are checked against the row too (interp/interrupts.h would bring interp/cpu.h to a device;
interp/interrupt_ack.h brings nothing). Folders a row uses whole are checked by their own rows.

  tools/check_layering.py [--root DIR] [--quiet]

Exit 0 if the tree keeps to the table, 1 with one line per breach otherwise, 2 if the table
cannot be read.
"""

import argparse
import os
import re
import sys

SOURCE_EXT = (".h", ".hpp", ".cpp", ".cc", ".inc", ".def")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
TICKED = re.compile(r"`([^`]+)`")


def die(message):
    print(f"check_layering: {message}", file=sys.stderr)
    sys.exit(2)


def read_table(root):
    """{folder: [allowed path prefixes]} from design.md's "Parts and dependencies" table."""
    path = os.path.join(root, "docs", "design.md")
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    start = text.find("## Parts and dependencies")
    if start < 0:
        die(f"{path} has no section 'Parts and dependencies'")
    rules = {}
    for line in text[start:].splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 3 or set(cells[0]) <= set("-: "):
            continue
        folder = TICKED.findall(cells[0])
        if len(folder) != 1 or not folder[0].endswith("/"):
            continue  # the header row
        uses = [t for t in TICKED.findall(cells[2]) if "/" in t and " " not in t]
        rules[folder[0]] = [folder[0]] + uses
    if not rules:
        die(f"no rows found in {path}'s 'Parts and dependencies' table")
    for folder, allowed in rules.items():
        for a in allowed:
            if not os.path.exists(os.path.join(root, a)):
                die(f"design.md's table names {a} (row {folder}), "
                         f"which does not exist")
    return rules


def row_of(rules, rel):
    """The most specific row whose folder holds `rel`, or None."""
    best = None
    for folder in rules:
        if rel.startswith(folder) and (best is None or len(folder) > len(best)):
            best = folder
    return best


def includes(root, rel, cache):
    """The project files `rel` includes, as paths from the root (system headers left out)."""
    if rel not in cache:
        try:
            text = open(os.path.join(root, rel), encoding="utf-8", errors="replace").read()
        except OSError:
            text = ""
        found = []
        for inc in INCLUDE.findall(text):
            here = os.path.normpath(os.path.join(os.path.dirname(rel), inc))
            if os.path.isfile(os.path.join(root, inc)):
                found.append(inc)
            elif os.path.isfile(os.path.join(root, here)):
                found.append(here)
            # else: generated, or a file of another tree (e.g. LLVM's): not ours to check
        cache[rel] = found
    return cache[rel]


def allowed(rule, path):
    return any(path == a or (a.endswith("/") and path.startswith(a)) for a in rule)


def check(root):
    rules = read_table(root)
    cache = {}
    breaches = []
    # Interface headers must stay within every row that names them alone.
    for folder, rule in rules.items():
        for entry in rule:
            if entry.endswith("/"):
                continue
            seen, todo = set(), [(entry, [entry])]
            while todo:
                rel, chain = todo.pop()
                for inc in includes(root, rel, cache):
                    if inc in seen:
                        continue
                    seen.add(inc)
                    if not allowed(rule, inc):
                        breaches.append(f"{entry}: includes {inc} ({' -> '.join(chain + [inc])})"
                                        f", which {folder} may not use; design.md lets {folder}"
                                        f" use {', '.join(rule)}")
                    todo.append((inc, chain + [inc]))
    checked = 0
    for folder in sorted(rules):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(SOURCE_EXT):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                if row_of(rules, rel) != folder:
                    continue  # a more specific row's file
                checked += 1
                for inc in includes(root, rel, cache):
                    if not allowed(rules[folder], inc):
                        breaches.append(f"{rel}: includes {inc}, which {folder} may not use; "
                                        f"design.md lets it use {', '.join(rules[folder])}")
    return checked, breaches


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--quiet", action="store_true", help="print nothing when the tree is fine")
    a = ap.parse_args()
    checked, breaches = check(a.root)
    for b in breaches:
        print(f"layering: {b}", file=sys.stderr)
    if breaches:
        print(f"layering: {len(breaches)} include(s) break docs/design.md \"Parts and "
              f"dependencies\"", file=sys.stderr)
        return 1
    if not a.quiet:
        print(f"layering: {checked} files keep to docs/design.md \"Parts and dependencies\"")
    return 0


if __name__ == "__main__":
    sys.exit(main())
