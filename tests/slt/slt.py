#!/usr/bin/python3
"""DriftDB's sqllogictest runner.

Reads sqllogictest files (format: shared/slt/README.md; SQLite's about.wiki)
and runs every record against a fresh driftdbd per file through the Python
client (driftdb, DB-API). Prints, per file, records passed / failed /
skipped and a total. "Skipped" is only for statement kinds DriftDB
deliberately does not support (listed in SKIP_KINDS and in
docs/query-language.md). Records meant for another engine (skipif sqlite /
onlyif <other>: we run as engine "sqlite", as the README says) are counted
apart as "other-engine" and are in neither total.

Usage:
  slt.py [--endpoint EP] [--max-seconds S] [--verbose] [--baseline FILE] [--write-baseline FILE] FILE|DIR...
Without --endpoint each file gets its own daemon (tests/integration/driftharness.py).
With --baseline, exits 1 if any file passes fewer records than its baseline
(a ratchet: the suite may only get better); otherwise exits 1 only when a file
could not be run at all."""
import argparse
import hashlib
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "client", "python"))

ENGINE = "sqlite"
# Statement kinds DriftDB deliberately does not support; records using them are skipped.
SKIP_KINDS = [
    (re.compile(r"^\s*CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b", re.I), "CREATE TRIGGER"),
    (re.compile(r"^\s*DROP\s+TRIGGER\b", re.I), "DROP TRIGGER"),
    (re.compile(r"^\s*REINDEX\b", re.I), "REINDEX"),
]


class Record:
    __slots__ = ("kind", "line", "sql", "expect_ok", "types", "sort", "label", "expected", "skip_reason")

    def __init__(self, kind, line):
        self.kind, self.line = kind, line
        self.sql, self.expect_ok, self.types, self.sort, self.label = "", True, "", "nosort", None
        self.expected, self.skip_reason = [], None


def parse(path):
    """Parses a file into (records, halted_at). Control records (hash-threshold) are Records too."""
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    recs, i, n = [], 0, len(lines)
    skip_engine = False
    while i < n:
        line = lines[i].rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        words = line.split()
        if words[0] in ("skipif", "onlyif"):
            eng = words[1] if len(words) > 1 else ""
            if (words[0] == "skipif" and eng == ENGINE) or (words[0] == "onlyif" and eng != ENGINE):
                skip_engine = True
            i += 1
            continue
        if words[0] == "halt":
            if skip_engine:
                skip_engine = False
                i += 1
                continue
            break
        if words[0] == "hash-threshold":
            r = Record("hash-threshold", i + 1)
            r.sql = words[1] if len(words) > 1 else "0"
            recs.append(r)
            i += 1
            continue
        if words[0] == "statement":
            r = Record("statement", i + 1)
            r.expect_ok = len(words) < 2 or words[1] == "ok"
            i += 1
            body = []
            while i < n and lines[i].strip():
                body.append(lines[i].rstrip("\r"))
                i += 1
            r.sql = "\n".join(body)
        elif words[0] == "query":
            r = Record("query", i + 1)
            r.types = words[1] if len(words) > 1 else ""
            r.sort = words[2] if len(words) > 2 else "nosort"
            r.label = words[3] if len(words) > 3 else None
            i += 1
            body = []
            while i < n and lines[i].strip() and lines[i].strip() != "----":
                body.append(lines[i].rstrip("\r"))
                i += 1
            r.sql = "\n".join(body)
            if i < n and lines[i].strip() == "----":
                i += 1
                while i < n and lines[i].strip():
                    r.expected.append(lines[i].rstrip("\r").strip())
                    i += 1
        else:
            # unknown record: skip its block
            r = Record("unknown", i + 1)
            r.skip_reason = "unknown record '%s'" % words[0]
            while i < n and lines[i].strip():
                i += 1
        if skip_engine:
            r.kind = "other-engine"
            skip_engine = False
        if r.skip_reason is None:
            for rx, name in SKIP_KINDS:
                if rx.search(r.sql):
                    r.skip_reason = "unsupported statement kind: " + name
                    break
        recs.append(r)
    return recs


def fmt_value(v, t):
    """Formats one value as sqllogictest prints it for column type t (I, R, T)."""
    if v is None:
        return "NULL"
    if t == "I":
        if isinstance(v, bool):
            return "1" if v else "0"
        if isinstance(v, int):
            return "%d" % v
        if isinstance(v, float):
            return "%d" % int(v)
        try:
            return "%d" % int(float(v))
        except (TypeError, ValueError):
            return "0"
    if t == "R":
        try:
            f = float(v)
        except (TypeError, ValueError):
            return "0.000"
        # SQLite's printf (which wrote the expected results) renders at most 16 significant digits
        # and pads with zeros: %.3f of -2^63 is -9223372036854776000.000
        if f != f or f in (float("inf"), float("-inf")):
            return "%.3f" % f
        import decimal
        return format(decimal.Decimal("%.16g" % f), ".3f")
    if isinstance(v, bytes):
        v = v.decode(errors="replace")
    s = str(v) if not isinstance(v, bool) else ("1" if v else "0")
    if s == "":
        return "(empty)"
    return "".join(c if " " <= c <= "~" else "@" for c in s)


def result_values(rows, types, sort):
    vals = []
    rows = [[fmt_value(v, types[k] if k < len(types) else "T") for k, v in enumerate(row)] for row in rows]
    if sort == "rowsort":
        rows.sort()
    for row in rows:
        vals.extend(row)
    if sort == "valuesort":
        vals.sort()
    return vals


def md5_of(vals):
    h = hashlib.md5()
    for v in vals:
        h.update(v.encode())
        h.update(b"\n")
    return h.hexdigest()


HASH_RX = re.compile(r"^(\d+) values hashing to ([0-9a-f]{32})$")


class FileResult:
    def __init__(self, path):
        self.path, self.passed, self.failed, self.skipped, self.other = path, 0, 0, 0, 0
        self.failures = []
        self.error = None
        self.seconds = 0.0


def split_statements(sql):
    """Splits a record's text at top-level ';' (outside quotes and comments), as sqlite3_exec runs
    several statements of one record one after the other; DriftDB takes one statement per request."""
    parts, cur, i, n = [], [], 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`[":
            close = "]" if c == "[" else c
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            cur.append(sql[i:j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            cur.append(sql[i:j])
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            cur.append(sql[i:j])
            i = j
        elif c == ";":
            parts.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(c)
            i += 1
    parts.append("".join(cur))
    parts = [p for p in parts if p.strip()]
    return parts or [sql]


def run_file(path, conn_factory, max_seconds, verbose, labels):
    import driftdb
    res = FileResult(path)
    t0 = time.monotonic()
    try:
        recs = parse(path)
    except OSError as e:
        res.error = str(e)
        return res
    threshold = 0
    conn = conn_factory()
    cur = conn.cursor()
    for r in recs:
        if r.kind == "hash-threshold":
            threshold = int(r.sql)
            continue
        if r.kind == "other-engine":
            res.other += 1
            continue
        if r.skip_reason:
            res.skipped += 1
            continue
        if max_seconds and time.monotonic() - t0 > max_seconds:
            res.failed += 1
            res.failures.append((r.line, "not run: file time limit of %ss reached" % max_seconds))
            continue
        ok, why = True, None
        try:
            if r.kind == "statement":
                for part in split_statements(r.sql):
                    cur.execute(part)
            else:
                cur.execute(r.sql)
            if r.kind == "statement":
                if not r.expect_ok:
                    ok, why = False, "statement succeeded but error was expected"
            else:
                rows = cur.fetchall() if cur.description is not None else []
                vals = result_values(rows, r.types, r.sort)
                ok, why = compare(r, vals, threshold, labels)
        except driftdb.OperationalError as e:
            if "08" in str(getattr(e, "sqlstate", "")) or not conn_alive(conn):
                res.failed += 1
                res.failures.append((r.line, "connection lost: %s" % e))
                conn = conn_factory()
                cur = conn.cursor()
                continue
            ok, why = (not r.expect_ok and r.kind == "statement"), str(e)
        except driftdb.Error as e:
            if r.kind == "statement" and not r.expect_ok:
                ok = True
            elif r.kind == "query" and str(getattr(e, "sqlstate", "")).startswith("22") and not r.expected:
                # A data exception while the query runs (22003 integer overflow of sum()): SQLite raises it
                # too, and the reference harness (slt_sqlite.c) ignores an sqlite3_step error and records the
                # rows returned before it, so the expected result is empty. Counted as agreeing with SQLite
                # (docs/query-language.md "sqllogictest").
                ok = True
            else:
                ok, why = False, "%s: %s" % (getattr(e, "sqlstate", "?"), e)
        if ok:
            res.passed += 1
        else:
            res.failed += 1
            res.failures.append((r.line, why))
            if verbose:
                print("  %s:%d: %s\n    %s" % (path, r.line, why, r.sql.replace("\n", "\n    ")))
    try:
        conn.close()
    except Exception:
        pass
    res.seconds = time.monotonic() - t0
    return res


def conn_alive(conn):
    try:
        conn.ping(timeout=2)
        return True
    except Exception:
        return False


def compare(r, vals, threshold, labels):
    exp = r.expected
    if len(exp) == 1 and HASH_RX.match(exp[0]):
        m = HASH_RX.match(exp[0])
        n, h = int(m.group(1)), m.group(2)
        got = md5_of(vals)
        if len(vals) != n or got != h:
            return False, "expected %d values hashing to %s, got %d values hashing to %s" % (n, h, len(vals), got)
        if r.label:
            labels.setdefault(r.label, h)
        return True, None
    if len(exp) != len(vals):
        # some files print a row per line with values separated by spaces
        flat = [v for line in exp for v in line.split(" ")] if exp else []
        if len(flat) == len(vals):
            exp = flat
    if exp != vals:
        return False, "expected %r, got %r" % (exp[:12], vals[:12])
    if r.label:
        h = md5_of(vals)
        if labels.setdefault(r.label, h) != h:
            return False, "label %s: results differ from an earlier query with the same label" % r.label
    return True, None


def collect(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            for d, _, files in os.walk(p):
                out.extend(os.path.join(d, f) for f in files if f.endswith(".test"))
        else:
            out.append(p)
    return sorted(out)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--endpoint")
    ap.add_argument("--max-seconds", type=float, default=300.0, help="time limit per file")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--baseline")
    ap.add_argument("--write-baseline")
    ap.add_argument("--root", help="print paths relative to this directory")
    args = ap.parse_args(argv)
    import driftdb
    files = collect(args.paths)
    if not files:
        print("no .test files found in %s" % " ".join(args.paths))
        return 1
    results = []
    broken = 0
    for path in files:
        daemon = None
        try:
            if args.endpoint:
                endpoint = args.endpoint
            else:
                from driftharness import Daemon
                daemon = Daemon(query_workers=1).start()
                endpoint = daemon.endpoint
            res = run_file(path, lambda: driftdb.connect(endpoint, timeout=30), args.max_seconds, args.verbose, {})
        except Exception as e:  # the runner or the daemon broke: a real failure
            res = FileResult(path)
            res.error = "%s: %s" % (type(e).__name__, e)
        finally:
            if daemon is not None:
                daemon.close()
        name = os.path.relpath(path, args.root) if args.root else path
        res.name = name
        results.append(res)
        if res.error:
            broken += 1
            print("%-60s ERROR %s" % (name, res.error))
        else:
            print("%-50s %6d passed %6d failed %5d skipped %5d other-engine (%.1fs)"
                  % (name, res.passed, res.failed, res.skipped, res.other, res.seconds))
        sys.stdout.flush()
    tp = sum(r.passed for r in results)
    tf = sum(r.failed for r in results)
    ts = sum(r.skipped for r in results)
    total = tp + tf
    print("sqllogictest total: %d records passed, %d failed, %d skipped (%.1f%% of run records pass), %d files"
          % (tp, tf, ts, 100.0 * tp / total if total else 0.0, len(results)))
    rc = 1 if broken else 0
    if args.write_baseline:
        with open(args.write_baseline, "w") as f:
            f.write("# file passed-at-least (tests/slt/slt.py --write-baseline)\n")
            for r in results:
                f.write("%s %d\n" % (r.name, r.passed))
    if args.baseline:
        base = {}
        for line in open(args.baseline):
            if line.strip() and not line.startswith("#"):
                k, v = line.rsplit(None, 1)
                base[k] = int(v)
        for r in results:
            if r.name in base and r.passed < base[r.name]:
                print("REGRESSION: %s passed %d records, baseline %d" % (r.name, r.passed, base[r.name]))
                rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
