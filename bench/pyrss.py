#!/usr/bin/python3
"""pyrss.py: run a Python script and record its process's peak RSS.

`runner bench --torch` reports PyTorch's images/s but not its memory, and
its own peak RSS is getrusage(RUSAGE_SELF), which leaves the python child
out. Passing this file as `--python` runs the torch step script unchanged
(same interpreter, same argv) and, once it finishes, writes its peak RSS
in bytes (VmHWM of /proc/self/status) to the file named by $PYRSS_OUT,
one line per run appended (runner bench --torch runs fp32, then bf16).

Not getrusage's ru_maxrss: Linux carries the pre-exec address space's
high-water mark into it on execve, and Go starts children with a
vfork-like clone that shares the parent's memory, so ru_maxrss here
reads the runner's own peak, not python's.

Usage: PYRSS_OUT=FILE bench/pyrss.py SCRIPT ARGS...
"""
import os
import runpy
import sys


def vm_hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    raise SystemExit("pyrss.py: no VmHWM in /proc/self/status")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: PYRSS_OUT=FILE pyrss.py SCRIPT ARGS...")
    out = os.environ.get("PYRSS_OUT")
    if not out:
        sys.exit("pyrss.py: PYRSS_OUT is not set: want the file to write the peak RSS to")
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
    rss = vm_hwm()
    with open(out, "a") as f:
        f.write(f"{rss}\n")


if __name__ == "__main__":
    main()
