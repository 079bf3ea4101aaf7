"""Check an exported CSV table against its declared column types.

usage: python3 csvtypes.py TABLE.csv TYPES.json

TYPES.json lists [name, type] pairs, the table's columns in order (what
plots.Table.Columns declares). Every cell is read with Python's csv module
and must be empty (an absent value) or parse as its column's type. Prints
one line per column: its name, its type and how many cells hold a value.
Exits 1 with a message at the first cell that does not fit.
"""
import csv
import datetime
import json
import math
import sys


def check(value, typ):
    if typ == "int":
        n = int(value)
        if str(n) != value:
            raise ValueError("not a canonical decimal integer")
    elif typ == "float":
        if not math.isfinite(float(value)):
            raise ValueError("not finite")
    elif typ == "bool":
        if value not in ("true", "false"):
            raise ValueError("not true or false")
    elif typ == "time":
        t = datetime.datetime.fromisoformat(value)
        if not value.endswith("Z") or t.utcoffset() != datetime.timedelta(0):
            raise ValueError("not RFC 3339 in UTC")
    elif typ == "json":
        json.loads(value)
    elif typ != "string":
        raise ValueError("unknown column type " + typ)


def main():
    path, types_path = sys.argv[1], sys.argv[2]
    with open(types_path) as f:
        types = json.load(f)
    with open(path, newline="") as f:
        rows = csv.reader(f)
        head = next(rows)
        if head != [name for name, _ in types]:
            sys.exit("header %r differs from the declared columns %r" % (head, [n for n, _ in types]))
        counts = [0] * len(head)
        for line, row in enumerate(rows, start=2):
            if len(row) != len(head):
                sys.exit("line %d: %d cells, want %d" % (line, len(row), len(head)))
            for i, value in enumerate(row):
                if value == "":
                    continue
                name, typ = types[i]
                try:
                    check(value, typ)
                except ValueError as e:
                    sys.exit("line %d, column %s (%s): %r: %s" % (line, name, typ, value, e))
                counts[i] += 1
    for (name, typ), n in zip(types, counts):
        print(name, typ, n)


main()
