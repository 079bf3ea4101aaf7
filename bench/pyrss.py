#!/usr/bin/python3
"""pyrss.py: run a Python script and record its process's peak RSS.

`runner bench --torch` reports PyTorch's images/s but not its memory, and
its own peak RSS is getrusage(RUSAGE_SELF), which leaves the python child
out. Passing this file as `--python` runs the torch step script unchanged
(same interpreter, same argv) and, once it finishes, writes ru_maxrss in
bytes to the file named by $PYRSS_OUT.

Usage: PYRSS_OUT=FILE bench/pyrss.py SCRIPT ARGS...
"""
import os
import resource
import runpy
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: PYRSS_OUT=FILE pyrss.py SCRIPT ARGS...")
    out = os.environ.get("PYRSS_OUT")
    if not out:
        sys.exit("pyrss.py: PYRSS_OUT is not set: want the file to write the peak RSS to")
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
    # ru_maxrss is in KiB on Linux.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with open(out, "w") as f:
        f.write(f"{rss}\n")


if __name__ == "__main__":
    main()
