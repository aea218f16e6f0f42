#!/usr/bin/env python3
"""Checks the dependency rule of docs/architecture.md: a module includes only modules below it.

Usage: architecture_test.py SOURCE_DIR. Reads every source and header under src/ and
include/cnnlab/, and fails naming each #include "cnnlab/<module>/..." that points up or
sideways, and each module that is not in the layer order below.
"""
import pathlib
import re
import sys

# Bottom to top, as docs/architecture.md draws them.
LAYERS = ["io", "data", "models", "analysis", "training", "config", "run", "experiments",
          "report", "app", "cli"]
INCLUDE = re.compile(r'^\s*#\s*include\s*"cnnlab/([^/"]+)/')


def module_of(path, root):
    parts = path.relative_to(root).parts
    if parts[0] == "include" and len(parts) > 3:
        return parts[2]
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    return None


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    problems = []
    files = [p for folder in ("src", "include/cnnlab") for p in (root / folder).rglob("*")
             if p.suffix in (".h", ".cpp")]
    if not files:
        problems.append(f"{root}: no sources found under src/ and include/cnnlab/")
    for path in sorted(files):
        module = module_of(path, root)
        if module is None:
            continue
        if module not in LAYERS:
            problems.append(f"{path.relative_to(root)}: module '{module}' is not in the layer order")
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match or match.group(1) == module:
                continue
            used = match.group(1)
            if used not in LAYERS:
                problems.append(f"{path.relative_to(root)}:{number}: includes unknown module '{used}'")
            elif LAYERS.index(used) > LAYERS.index(module):
                problems.append(f"{path.relative_to(root)}:{number}: module '{module}' includes "
                                f"'{used}', which is above it")
    for problem in problems:
        print(problem)
    print(f"{len(files)} files checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
