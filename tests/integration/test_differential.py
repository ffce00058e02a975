#!/usr/bin/python3
"""Differential test against SQLite (issue 7): random tables and random
queries, generated from a seed, run against the real daemon (driftharness +
the Python client) and against Python's sqlite3 as the oracle; the results
must be the same, compared as sqllogictest does (rows sorted unless ORDER BY
fixes the order, REAL to 12 significant digits, booleans as 0/1).

The seed is fixed by default and can be set with DRIFT_DIFF_SEED (and the
number of queries with DRIFT_DIFF_QUERIES); on a failure the seed, the
schema and every mismatching statement are printed.

What DriftDB does differently on purpose (docs/query-language.md) is left
out by construction, not by hiding mismatches: expressions are generated per
type (numbers compared with numbers, text with text: SQLite's column
affinity on mixed comparisons is not modelled), values written to a column
have the column's type (a typed column refuses `3.5` in an INTEGER column,
22P02), numbers stay small (no `sum` overflow, 22003), a scalar subquery
is an aggregate (one row: which row of several comes first is unspecified),
and group_concat's order inside a group is unspecified (its pieces are
compared sorted).

FIXED_CASES are the mismatches this test found, each a regression test."""
import math
import os
import random
import re
import sqlite3
import sys
import unittest

import driftdb
from driftharness import DaemonTestCase

SEED = int(os.environ.get("DRIFT_DIFF_SEED", "20261126"))
NQUERIES = int(os.environ.get("DRIFT_DIFF_QUERIES", "600"))

INTS = [-2, -1, 0, 1, 2, 3, 4, 5, 7, 10]
REALS = [-1.5, 0.0, 0.25, 0.5, 1.0, 2.0, 2.5, 3.75, 10.0, -0.125]
TEXTS = ["a", "b", "ab", "abc", "B", "A", "x%y", "", " a ", "ba", "b_c", "zz", "12", "3.5", "-7", " 4 ", "1e2", "0x10"]

# ------------------------------------------------------------------ schema


class Table:
    def __init__(self, name, cols, pk, indexes, rows):
        self.name = name
        self.cols = cols          # [(name, 'INTEGER'|'REAL'|'TEXT')]
        self.pk = pk              # column name or None
        self.indexes = indexes    # [column name]
        self.rows = rows          # [tuple]

    def ddl(self):
        parts = []
        for c, t in self.cols:
            parts.append("%s %s%s" % (c, t, " PRIMARY KEY" if c == self.pk else ""))
        out = ["CREATE TABLE %s (%s)" % (self.name, ", ".join(parts))]
        for i, c in enumerate(self.indexes):
            out.append("CREATE INDEX %s_i%d ON %s (%s)" % (self.name, i, self.name, c))
        return out

    def inserts(self):
        out = []
        for r in self.rows:
            out.append("INSERT INTO %s VALUES (%s)" % (self.name, ", ".join(lit(v) for v in r)))
        return out


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def gen_value(rng, typ, nulls=True):
    if nulls and rng.random() < 0.15:
        return None
    if typ == "INTEGER":
        return rng.choice(INTS)
    if typ == "REAL":
        return rng.choice(REALS)
    return rng.choice(TEXTS)


def gen_tables(rng):
    tables = []
    for ti in range(4):
        name = "t%d" % (ti + 1)
        ncols = rng.randint(2, 4)
        types = ["INTEGER"] + [rng.choice(["INTEGER", "INTEGER", "REAL", "TEXT"]) for _ in range(ncols - 1)]
        rng.shuffle(types)
        if "TEXT" not in types and rng.random() < 0.6:
            types[-1] = "TEXT"
        cols = [("%s%s" % ("abcd"[ti], chr(ord("a") + i)), t) for i, t in enumerate(types)]
        pk = None
        if rng.random() < 0.5:
            pk = rng.choice([c for c, t in cols if t != "REAL"])
        indexes = [c for c, _ in cols if c != pk and rng.random() < 0.3]
        nrows = rng.randint(0 if ti == 3 else 3, 12)
        rows, used = [], set()
        for _ in range(nrows):
            r = []
            for c, t in cols:
                if c == pk:
                    pool = INTS + list(range(11, 40)) if t == "INTEGER" else TEXTS + ["k%d" % i for i in range(30)]
                    v = rng.choice([p for p in pool if p not in used])
                    used.add(v)
                else:
                    v = gen_value(rng, t)
                r.append(v)
            rows.append(tuple(r))
        tables.append(Table(name, cols, pk, indexes, rows))
    return tables

# ------------------------------------------------------------------ queries


class Gen:
    """Typed random SQL. scope: [(alias, Table)] visible to expressions."""

    def __init__(self, rng, tables):
        self.rng = rng
        self.tables = tables
        self.sub = 0
        self.in_agg = False

    def r(self):
        return self.rng.random()

    def cols_of(self, scope, typ=None):
        out = []
        for alias, t in scope:
            for c, ct in t.cols:
                if typ is None or ct == typ or (typ == "NUM" and ct in ("INTEGER", "REAL")):
                    out.append(("%s.%s" % (alias, c), ct))
        return out

    def col(self, scope, typ):
        cs = self.cols_of(scope, typ)
        if not cs:
            return None
        return self.rng.choice(cs)[0]

    # typ: INTEGER, REAL, TEXT
    def expr(self, scope, typ, depth=0):
        rng = self.rng
        leaf = depth >= 2 or self.r() < 0.35
        if leaf:
            c = self.col(scope, typ) if self.r() < 0.75 else None
            if c:
                return c
            if self.r() < 0.1:
                return "NULL"
            if typ == "INTEGER":
                if not self.in_agg and self.r() < 0.05:
                    return rng.choice(["9223372036854775807", "-9223372036854775808", "4611686018427387904"])
                return str(rng.choice(INTS))
            if typ == "REAL":
                return repr(rng.choice(REALS))
            return lit(rng.choice(TEXTS))
        d = depth + 1
        k = rng.randint(0, 11)
        # INTEGER and REAL mix in branches: a REAL context takes either
        alt = rng.choice(["INTEGER", "REAL"]) if typ == "REAL" else typ
        if k == 0:
            return "CASE WHEN %s THEN %s ELSE %s END" % (self.cond(scope, d), self.expr(scope, typ, d),
                                                         self.expr(scope, alt, d))
        if k == 1:
            return "coalesce(%s, %s)" % (self.expr(scope, typ, d), self.expr(scope, alt, d))
        if k == 10:
            return "iif(%s, %s, %s)" % (self.cond(scope, d), self.expr(scope, alt, d), self.expr(scope, typ, d))
        if k == 11:
            return "%s(%s, %s)" % (rng.choice(["min", "max"]), self.expr(scope, typ, d), self.expr(scope, alt, d))
        if k == 2 and typ != "TEXT":
            return "CASE %s WHEN %s THEN %s WHEN %s THEN %s END" % (
                self.expr(scope, "INTEGER", d), rng.choice(INTS), self.expr(scope, typ, d),
                rng.choice(INTS), self.expr(scope, typ, d))
        if typ == "INTEGER":
            k = rng.randint(0, 12)
            if k <= 4:
                return "(%s %s %s)" % (self.expr(scope, "INTEGER", d), "+-*/%"[k], self.expr(scope, "INTEGER", d))
            if k == 5:
                return "-%s" % self.expr(scope, "INTEGER", d)
            if k == 6:
                return "abs(%s)" % self.expr(scope, "INTEGER", d)
            if k == 7:
                return "length(%s)" % self.expr(scope, "TEXT", d)
            if k == 8:
                return "instr(%s, %s)" % (self.expr(scope, "TEXT", d), self.expr(scope, "TEXT", d))
            if k == 9:
                return "nullif(%s, %s)" % (self.expr(scope, "INTEGER", d), self.expr(scope, "INTEGER", d))
            if k == 10:
                return "CAST(%s AS INTEGER)" % self.expr(scope, "REAL", d)
            if k == 11:
                return "ifnull(%s, %s)" % (self.expr(scope, "INTEGER", d), self.expr(scope, "INTEGER", d))
            if not self.in_agg and rng.random() < 0.5:
                # text read as a number (SQLite's lenient conversion); the result may be REAL, so never written
                return rng.choice(["CAST(%s AS INTEGER)", "(%s + 0)", "CAST(%s AS REAL)", "abs(%s)"]) % \
                    self.expr(scope, "TEXT", d)
            return rng.choice(["unicode(%s)", "length(%s)"]) % self.expr(scope, "TEXT", d)
        if typ == "REAL":
            k = rng.randint(0, 7)
            if k <= 3:
                return "(%s %s %s)" % (self.expr(scope, "REAL", d), "+-*/"[k],
                                       self.expr(scope, rng.choice(["REAL", "INTEGER"]), d))
            if k == 4:
                return "round(%s, %d)" % (self.expr(scope, "REAL", d), rng.randint(0, 2))
            if k == 5:
                return "abs(%s)" % self.expr(scope, "REAL", d)
            if k == 6:
                return "CAST(%s AS REAL)" % self.expr(scope, "INTEGER", d)
            if k == 7 and rng.random() < 0.5:
                return "round(%s)" % self.expr(scope, "REAL", d)
            return "-%s" % self.expr(scope, "REAL", d)
        k = rng.randint(0, 13)
        if k <= 1:
            return "(%s || %s)" % (self.expr(scope, "TEXT", d), self.expr(scope, rng.choice(["TEXT", "TEXT", "INTEGER", "REAL"]), d))
        if k == 10:
            return "quote(%s)" % self.expr(scope, rng.choice(["TEXT", "INTEGER", "REAL"]), d)
        if k == 11:
            return "typeof(%s)" % self.expr(scope, rng.choice(["TEXT", "INTEGER", "REAL"]), d)
        if k == 12:
            return "CAST(%s AS TEXT)" % self.expr(scope, "REAL", d)
        if k == 13:
            if rng.random() < 0.5:
                return "printf(%s, %s)" % (lit(rng.choice(["%.2f", "%g", "%e", "%8.3f|", "%.1e", "%!.5g"])),
                                           self.expr(scope, "REAL", d))
            return "printf(%s, %s)" % (lit(rng.choice(["%d", "%5d", "%-3d|", "%x", "%03d"])), self.expr(scope, "INTEGER", d))
        if k == 2:
            return "upper(%s)" % self.expr(scope, "TEXT", d)
        if k == 3:
            return "lower(%s)" % self.expr(scope, "TEXT", d)
        if k == 4:
            return "substr(%s, %d, %d)" % (self.expr(scope, "TEXT", d), rng.randint(-3, 4), rng.randint(0, 3))
        if k == 5:
            return "substr(%s, %d)" % (self.expr(scope, "TEXT", d), rng.randint(-2, 3))
        if k == 6:
            return "%s(%s)" % (rng.choice(["trim", "ltrim", "rtrim"]), self.expr(scope, "TEXT", d))
        if k == 7:
            return "replace(%s, %s, %s)" % (self.expr(scope, "TEXT", d), lit(rng.choice(["a", "b", "ab"])),
                                            lit(rng.choice(["", "Q", "xy"])))
        if k == 8:
            return "CAST(%s AS TEXT)" % self.expr(scope, "INTEGER", d)
        return "nullif(%s, %s)" % (self.expr(scope, "TEXT", d), self.expr(scope, "TEXT", d))

    def cond(self, scope, depth=0, outer=None):
        rng = self.rng
        if depth < 2 and self.r() < 0.3:
            k = rng.randint(0, 2)
            if k == 0:
                return "(%s AND %s)" % (self.cond(scope, depth + 1, outer), self.cond(scope, depth + 1, outer))
            if k == 1:
                return "(%s OR %s)" % (self.cond(scope, depth + 1, outer), self.cond(scope, depth + 1, outer))
            return "NOT (%s)" % self.cond(scope, depth + 1, outer)
        d = depth + 1
        typ = rng.choice(["INTEGER", "INTEGER", "REAL", "TEXT"])
        k = rng.randint(0, 9)
        if k <= 3:
            op = rng.choice(["=", "<>", "<", "<=", ">", ">=", "!="])
            ltyp = typ if typ == "TEXT" else rng.choice(["INTEGER", "REAL"])
            return "%s %s %s" % (self.expr(scope, typ, d), op, self.expr(scope, ltyp, d))
        if k == 4:
            vals = ", ".join(self.expr(scope, typ, 2) for _ in range(rng.randint(1, 4)))
            return "%s %sIN (%s)" % (self.expr(scope, typ, d), rng.choice(["", "NOT "]), vals)
        if k == 5:
            return "%s %sBETWEEN %s AND %s" % (self.expr(scope, typ, d), rng.choice(["", "NOT "]),
                                               self.expr(scope, typ, 2), self.expr(scope, typ, 2))
        if k == 6:
            pat = rng.choice(["a%", "%b", "_", "%a%", "A%", "b_c", "%", "x%%", "_b%", ""])
            return "%s %sLIKE %s" % (self.expr(scope, "TEXT", d), rng.choice(["", "NOT "]), lit(pat))
        if k == 7:
            if rng.random() < 0.3:
                return "%s IS %s%s" % (self.expr(scope, typ, d), rng.choice(["", "NOT "]), self.expr(scope, typ, d))
            return "%s IS %sNULL" % (self.expr(scope, typ, d), rng.choice(["", "NOT "]))
        if k == 8 and depth < 2 and self.sub < 2:
            return self.subquery_cond(scope, d)
        return "%s %s %s" % (self.expr(scope, typ, d), rng.choice(["=", "<", ">="]), self.expr(scope, typ, d))

    def subquery_cond(self, scope, depth):
        rng = self.rng
        self.sub += 1
        try:
            t = rng.choice(self.tables)
            alias = "s%d" % self.sub
            inner = [(alias, t)]
            both = inner + scope
            k = rng.randint(0, 3)
            if k == 0:
                typ = rng.choice([ct for _, ct in t.cols])
                typ2 = typ if typ == "TEXT" else rng.choice(["INTEGER", "REAL"])
                w = " WHERE %s" % self.cond(both if rng.random() < 0.5 else inner, 1) if rng.random() < 0.7 else ""
                return "%s %sIN (SELECT %s FROM %s %s%s)" % (
                    self.expr(scope, typ2, 2), rng.choice(["", "NOT "]), self.expr(inner, typ, 1), t.name, alias, w)
            if k == 1:
                return "%sEXISTS (SELECT 1 FROM %s %s WHERE %s)" % (rng.choice(["", "NOT "]), t.name, alias,
                                                                     self.cond(both, 1))
            typ = rng.choice(["INTEGER", "REAL", "TEXT"])
            return "%s %s %s" % (self.expr(scope, typ if typ == "TEXT" else "INTEGER", 2),
                                 rng.choice(["=", "<", ">=", "<>"]), self.scalar_sub(scope, typ))
        finally:
            self.sub -= 1

    def scalar_sub(self, scope, typ):
        rng = self.rng
        t = rng.choice(self.tables)
        alias = "q%d" % self.sub
        inner = [(alias, t)]
        c = self.col(inner, typ if typ != "REAL" else "NUM") or self.col(inner, None)
        ctyp = dict(("%s.%s" % (alias, n), tt) for n, tt in t.cols)[c]
        if typ == "TEXT" and ctyp != "TEXT":
            agg = "max(CAST(%s AS TEXT))" % c
        elif ctyp == "TEXT" and typ != "TEXT":
            agg = "count(%s)" % c
        elif ctyp == "TEXT":
            agg = "%s(%s)" % (rng.choice(["min", "max"]), c)
        else:
            agg = "%s(%s)" % (rng.choice(["min", "max", "sum", "count", "total", "avg"]), c)
        w = " WHERE %s" % self.cond(inner + scope if rng.random() < 0.6 else inner, 1) if rng.random() < 0.8 else ""
        return "(SELECT %s FROM %s %s%s)" % (agg, t.name, alias, w)

    def from_clause(self):
        rng = self.rng
        n = rng.choice([1, 1, 1, 2, 2, 2, 3])
        picked = [rng.choice(self.tables) for _ in range(n)]
        scope = []
        sql = ""
        for i, t in enumerate(picked):
            alias = "o%d" % (i + 1)
            if i == 0:
                sql = "%s %s" % (t.name, alias)
                scope.append((alias, t))
                continue
            newscope = scope + [(alias, t)]
            kinds = ["JOIN", "LEFT JOIN", "CROSS JOIN", ",", "INNER JOIN", "LEFT OUTER JOIN"]
            if i == 1:
                kinds += ["RIGHT JOIN", "RIGHT OUTER JOIN"]   # DriftDB: a single table on each side
            kind = rng.choice(kinds)
            if kind in ("CROSS JOIN", ","):
                sql += "%s %s %s" % ("," if kind == "," else " CROSS JOIN", t.name, alias)
            else:
                # an equi-join on a column of the same type most of the time
                on = None
                if rng.random() < 0.75:
                    l = rng.choice(t.cols)
                    rc = self.cols_of(scope, "NUM" if l[1] != "TEXT" else "TEXT")
                    if rc:
                        on = "%s.%s = %s" % (alias, l[0], rng.choice(rc)[0])
                        if rng.random() < 0.3:
                            on += " AND " + self.cond(newscope, 1)
                if on is None:
                    on = self.cond(newscope, 1)
                sql += " %s %s %s ON %s" % (kind, t.name, alias, on)
            scope = newscope
        return sql, scope

    def select_item(self, scope):
        rng = self.rng
        k = rng.random()
        if k < 0.08:
            return self.cond(scope, 1), "BOOL"
        if k < 0.14 and self.sub < 1:
            self.sub += 1
            try:
                typ = rng.choice(["INTEGER", "REAL", "TEXT"])
                return self.scalar_sub(scope, typ), typ
            finally:
                self.sub -= 1
        typ = rng.choice(["INTEGER", "INTEGER", "REAL", "TEXT", "TEXT"])
        return self.expr(scope, typ), typ

    def query_simple(self):
        rng = self.rng
        frm, scope = self.from_clause()
        n = rng.randint(1, 4)
        items = [self.select_item(scope) for _ in range(n)]
        sql = "SELECT %s%s FROM %s" % ("DISTINCT " if rng.random() < 0.15 else "",
                                       ", ".join(e for e, _ in items), frm)
        if rng.random() < 0.8:
            sql += " WHERE " + self.cond(scope)
        ordered = False
        if rng.random() < 0.3:
            sql += " ORDER BY " + ", ".join("%d %s" % (i + 1, rng.choice(["", "ASC", "DESC"])) for i in range(n))
            ordered = True
            if rng.random() < 0.6:
                sql += " LIMIT %d" % rng.randint(0, 6)
                if rng.random() < 0.4:
                    sql += " OFFSET %d" % rng.randint(0, 3)
        return sql, ordered, set()

    def agg_item(self, scope):
        self.in_agg = True
        try:
            return self.agg_item1(scope)
        finally:
            self.in_agg = False

    def agg_item1(self, scope):
        rng = self.rng
        k = rng.randint(0, 8)
        dist = "DISTINCT " if rng.random() < 0.25 else ""
        if k == 0:
            return "count(*)", False
        if k == 1:
            return "count(%s%s)" % (dist, self.expr(scope, rng.choice(["INTEGER", "TEXT", "REAL"]), 1)), False
        if k in (2, 3):
            return "%s(%s%s)" % (rng.choice(["sum", "avg", "total"]), dist,
                                 self.expr(scope, rng.choice(["INTEGER", "REAL"]), 1)), False
        if k in (4, 5):
            return "%s(%s)" % (rng.choice(["min", "max"]), self.expr(scope, rng.choice(["INTEGER", "REAL", "TEXT"]), 1)), False
        if k == 6:
            if dist:
                return "group_concat(DISTINCT %s)" % self.expr(scope, "TEXT", 1), True
            return "group_concat(%s)" % self.expr(scope, rng.choice(["TEXT", "INTEGER"]), 1), True
        if k == 7:
            return "group_concat(%s, ';')" % self.expr(scope, "TEXT", 1), ";"
        return "(%s(%s) %s %s)" % (rng.choice(["max", "min", "sum"]), self.expr(scope, "INTEGER", 1),
                                   rng.choice(["+", "*", "-"]), rng.choice(["count(*)", "1", "sum(1)"])), False

    def query_agg(self):
        rng = self.rng
        frm, scope = self.from_clause()
        ngroup = rng.choice([0, 1, 1, 2])
        groups = []
        for _ in range(ngroup):
            if rng.random() < 0.7:
                groups.append(self.col(scope, None))
            else:
                groups.append(self.expr(scope, rng.choice(["INTEGER", "TEXT"]), 1))
        items, concat = [], set()
        for g in groups:
            if rng.random() < 0.8:
                items.append(g)
        for _ in range(rng.randint(1, 3)):
            a, gc = self.agg_item(scope)
            if gc:
                concat.add((len(items), "," if gc is True else gc))
            items.append(a)
        sql = "SELECT %s FROM %s" % (", ".join(items), frm)
        if rng.random() < 0.6:
            sql += " WHERE " + self.cond(scope)
        if groups:
            sql += " GROUP BY " + ", ".join(groups)
            if rng.random() < 0.5:
                a, _ = self.agg_item(scope)
                if a.startswith("group_concat"):
                    a = "count(*)"
                sql += " HAVING %s %s %d" % (a, rng.choice([">", ">=", "<", "<>"]), rng.randint(0, 3))
        ordered = False
        if not concat and rng.random() < 0.25:
            sql += " ORDER BY " + ", ".join("%d%s" % (i + 1, rng.choice(["", " DESC"])) for i in range(len(items)))
            ordered = True
            if rng.random() < 0.5:
                sql += " LIMIT %d" % rng.randint(1, 4)
        return sql, ordered, concat

    def query_compound(self):
        rng = self.rng
        n = rng.randint(1, 2)
        types = [rng.choice(["INTEGER", "TEXT", "REAL"]) for _ in range(n)]
        parts = []
        for _ in range(rng.randint(2, 3)):
            t = rng.choice(self.tables)
            scope = [("c", t)]
            items = [self.expr(scope, ty, 1) for ty in types]
            s = "SELECT %s FROM %s c" % (", ".join(items), t.name)
            if rng.random() < 0.6:
                s += " WHERE " + self.cond(scope, 1)
            parts.append(s)
        sql = parts[0]
        for p in parts[1:]:
            sql += " %s %s" % (rng.choice(["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]), p)
        ordered = False
        if rng.random() < 0.3:
            sql += " ORDER BY " + ", ".join("%d%s" % (i + 1, rng.choice(["", " DESC"])) for i in range(n))
            ordered = True
            if rng.random() < 0.5:
                sql += " LIMIT %d" % rng.randint(1, 5)
        return sql, ordered, set()

    def query_derived(self):
        rng = self.rng
        t = rng.choice(self.tables)
        inner_scope = [("d", t)]
        typ = rng.choice(["INTEGER", "TEXT"])
        e = self.expr(inner_scope, typ, 1)
        inner = "SELECT %s AS k, count(*) AS n FROM %s d GROUP BY 1" % (e, t.name)
        t2 = rng.choice(self.tables)
        c = self.col([("o", t2)], "NUM" if typ == "INTEGER" else "TEXT")
        if c is None:
            return "SELECT k, n FROM (%s) x WHERE n >= 1" % inner, False, set()
        return ("SELECT o.*, x.n FROM %s o %sJOIN (%s) x ON x.k = %s" %
                (t2.name, rng.choice(["", "LEFT "]), inner, c)), False, set()

    def query(self):
        k = self.rng.random()
        if k < 0.45:
            return self.query_simple()
        if k < 0.78:
            return self.query_agg()
        if k < 0.93:
            return self.query_compound()
        return self.query_derived()

    def dml(self):
        # no 64-bit overflow in values written: a typed column refuses them (22003), SQLite stores a REAL
        self.in_agg = True
        try:
            return self.dml1()
        finally:
            self.in_agg = False

    def dml1(self):
        rng = self.rng
        t = rng.choice([t for t in self.tables if not isinstance(t, View)])
        scope = [(t.name, t)]
        if rng.random() < 0.5:
            sets = []
            for c, ct in rng.sample(t.cols, rng.randint(1, len(t.cols))):
                if c == t.pk:
                    continue
                sets.append("%s = %s" % (c, self.expr(scope, ct, 1)))
            if not sets:
                return None
            return "UPDATE %s SET %s WHERE %s" % (t.name, ", ".join(sets), self.cond(scope, 1))
        return "DELETE FROM %s WHERE %s" % (t.name, self.cond(scope, 1))

class View(Table):
    """A view over one table: typed expressions as columns, named by a column list or by AS aliases."""

    def __init__(self, name, cols, sql):
        Table.__init__(self, name, cols, None, [], [])
        self.sql = sql

    def ddl(self):
        return [self.sql]

    def inserts(self):
        return []


def gen_views(rng, tables):
    gen = Gen(rng, tables)
    gen.in_agg = True   # no 64-bit overflow inside a view's rows
    views = []
    for vi in range(2):
        t = rng.choice(tables)
        scope = [("s", t)]
        types = [rng.choice(["INTEGER", "REAL", "TEXT"]) for _ in range(rng.randint(1, 3))]
        names = ["v%d%s" % (vi + 1, chr(ord("a") + i)) for i in range(len(types))]
        exprs = [gen.expr(scope, ty, 1) for ty in types]
        where = " WHERE " + gen.cond(scope, 1) if rng.random() < 0.6 else ""
        if rng.random() < 0.5:
            sql = "CREATE VIEW vw%d (%s) AS SELECT %s FROM %s s%s" % (vi + 1, ", ".join(names), ", ".join(exprs),
                                                                     t.name, where)
        else:
            sql = "CREATE VIEW vw%d AS SELECT %s FROM %s s%s" % (
                vi + 1, ", ".join("%s AS %s" % (e, n) for e, n in zip(exprs, names)), t.name, where)
        views.append(View("vw%d" % (vi + 1), list(zip(names, types)), sql))
    return views

# ------------------------------------------------------------------ comparing


def norm_value(v):
    if isinstance(v, bool):
        return int(v)
    return v


def same_value(a, b, loose=False):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, float) and isinstance(b, float)):
            if loose and isinstance(a, (int, float)) and isinstance(b, (int, float)):
                return float(a) == float(b)
            return False            # INTEGER vs REAL is a difference, as the suite's I/R columns
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    return type(a) == type(b) and a == b


def norm_rows(rows, concat):
    out = []
    for r in rows:
        r = [norm_value(v) for v in r]
        for i, sep in concat:
            if isinstance(r[i], str):
                r[i] = sep.join(sorted(r[i].split(sep)))
        out.append(tuple(r))
    return out


def sort_key(row):
    # NULL < numbers < text, as both engines sort
    # 0 and 0.0 sort as equal numbers: the type breaks the tie, so both sides line up the same way
    return tuple((0, 0, "") if v is None else (1, v, "r" if isinstance(v, float) else "i")
                 if isinstance(v, (int, float)) else (2, 0, v) for v in row)


def same_rows(a, b, ordered, loose=False):
    if len(a) != len(b):
        return False
    if not ordered:
        a, b = sorted(a, key=sort_key), sorted(b, key=sort_key)
    for ra, rb in zip(a, b):
        if len(ra) != len(rb) or not all(same_value(x, y, loose) for x, y in zip(ra, rb)):
            return False
    return True


# Where rows are merged as equal (DISTINCT, GROUP BY, UNION, INTERSECT, EXCEPT), 10 and 10.0 are one value and
# which of them stands for the group is unspecified: there INTEGER and REAL of equal value compare equal.
MERGING = re.compile(r"\b(DISTINCT|GROUP BY|UNION|INTERSECT|EXCEPT)\b")

# ------------------------------------------------------------------ runner


class Pair:
    """The daemon's connection and an in-memory SQLite with the same data."""

    def __init__(self, conn):
        self.conn = conn
        self.lite = sqlite3.connect(":memory:")

    def drift(self, sql):
        c = self.conn.cursor()
        c.execute(sql)
        return c.fetchall() if c.description else None

    def sqlite(self, sql):
        c = self.lite.execute(sql)
        rows = c.fetchall()
        self.lite.commit()
        return rows if c.description else None

    def both(self, sql):
        """(drift rows or exception, sqlite rows or exception)."""
        try:
            d = self.drift(sql)
        except driftdb.Error as e:
            d = e
        try:
            s = self.sqlite(sql)
        except sqlite3.Error as e:
            s = e
        return d, s


STATS = {"rows": 0, "empty": 0, "errors": 0}


def check(pair, sql, ordered=False, concat=()):
    """None when both engines agree, else a description of the mismatch."""
    d, s = pair.both(sql)
    if isinstance(d, Exception) or isinstance(s, Exception):
        if isinstance(d, Exception) and isinstance(s, Exception):
            STATS["errors"] += 1
            return None
        return "%s\n  driftdb: %r\n  sqlite:  %r" % (sql, d, s)
    if d is None and s is None:
        return None
    if d is None or s is None:
        return "%s\n  driftdb: %r\n  sqlite:  %r" % (sql, d, s)
    STATS["rows" if s else "empty"] += 1
    dn, sn = norm_rows(d, concat), norm_rows(s, concat)
    if same_rows(dn, sn, ordered) or (MERGING.search(sql) and same_rows(dn, sn, ordered, loose=True)):
        return None
    return "%s\n  driftdb: %r\n  sqlite:  %r" % (sql, dn[:20], sn[:20])


# Mismatches found by the random test, kept as fixed cases: (setup statements, query, ordered).
FIXED_CASES = [
    # a GROUP BY position that names an aggregate is an error in both (DriftDB grouped by it: 42803 now)
    (["CREATE TABLE {n} (a INTEGER, b TEXT)", "INSERT INTO {n} VALUES (1, 'x'), (2, 'y')"],
     "SELECT a, count(*) FROM {n} GROUP BY 2", False),
    # an integer literal beyond 32 bits in GROUP BY / ORDER BY is a constant, not a position (was 42P10)
    (["CREATE TABLE {n} (a INTEGER, b TEXT)", "INSERT INTO {n} VALUES (1, 'x'), (2, 'y'), (2, 'z')"],
     "SELECT count(*), -9223372036854775808 FROM {n} GROUP BY -9223372036854775808", False),
    (["CREATE TABLE {n} (a INTEGER)", "INSERT INTO {n} VALUES (1), (2)"],
     "SELECT count(*) FROM {n} GROUP BY 4611686018427387904, a", False),
    (["CREATE TABLE {n} (a INTEGER)", "INSERT INTO {n} VALUES (2), (1)"],
     "SELECT a FROM {n} ORDER BY 4611686018427387904, a", True),
    # quote() of a REAL that 15 digits do not give back: 21 digits, as SQLite (was 15)
    ([], "SELECT quote(1.0 / 28), quote(1.0 / 3), quote(0.1), quote(1.0), quote(1e300), quote(-2.5), "
         "quote(123456789012345678.0), quote(1.0 / 7), quote(9.766804294760216e+204), quote(-1e-7 / 3)", False),
    # printf's %f/%e/%g and round() as SQLite's own printf does them: 16 significant digits then zeros, its
    # rounder (1.005 -> 1.01), -0.0 unsigned, the '0' flag; round() leaves values beyond 2^52 alone (were C's)
    ([], "SELECT printf('%.3f', 123456789012345.6), printf('%10.2f|', 1.005), printf('%.3f', 1e300), "
         "printf('%.2f', 1.2345678901234567e19), printf('%g', -0.0), printf('%e', -0.0), printf('%08.2f', -2.675), "
         "printf('%015.3e', 0.045), printf('%-12.2e|', 99.5), printf('%+.3g', 9.995), printf('%#g', 0.125), "
         "printf('%!.3g', 1e-7), printf('%G', 1e-7), printf('%!.20f', 0.1), printf('%.0f', 2.5)", False),
    ([], "SELECT round(123456789012345.6, 2), round(1.7976931348623157e308, 2), round(5.902590421231943e18, 2), "
         "round(4503599627370497.0), round(2.675, 2), round(-0.045, 2), round(1.005, 2), round(9.995, 2)", False),
    # REPLACE INTO / INSERT OR REPLACE: conflicts on the pk and on UNIQUE columns/indexes are deleted first
    (["CREATE TABLE {n} (id INTEGER PRIMARY KEY, u TEXT UNIQUE, v INTEGER DEFAULT 7)",
      "INSERT INTO {n} VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)",
      "REPLACE INTO {n} VALUES (1, 'x', 10)",
      "INSERT OR REPLACE INTO {n} VALUES (4, 'b', 20)",
      "REPLACE INTO {n} VALUES (3, 'x', 30)",
      "REPLACE INTO {n} (id, u) VALUES (5, 'q'), (6, 'q'), (5, 'z')",
      "REPLACE INTO {n} (id, u, v) SELECT id + 100, u || '2', v FROM {n} WHERE id < 5"],
     "SELECT * FROM {n}", False),
    (["CREATE TABLE {n} (a INTEGER, b TEXT, c INTEGER)", "CREATE UNIQUE INDEX {n}_bc ON {n} (b, c)",
      "INSERT INTO {n} VALUES (1, 'x', 1), (2, 'x', 2), (3, NULL, 1), (4, 'y', NULL)",
      "REPLACE INTO {n} VALUES (5, 'x', 2), (6, NULL, 1), (7, 'y', NULL), (8, 'x', 1)"],
     "SELECT * FROM {n}", False),
    # RIGHT [OUTER] JOIN (was 0A000): the right side's rows are kept, SELECT * in the written order
    (["CREATE TABLE {n}a (x INTEGER, y TEXT)", "CREATE TABLE {n}b (x INTEGER PRIMARY KEY, z TEXT)",
      "INSERT INTO {n}a VALUES (1, 'a1'), (2, 'a2'), (NULL, 'an'), (2, 'a22')",
      "INSERT INTO {n}b VALUES (2, 'b2'), (3, 'b3'), (4, 'b4')"],
     "SELECT * FROM {n}a RIGHT JOIN {n}b ON {n}a.x = {n}b.x AND {n}a.y <> 'a2' LEFT JOIN {n}a c ON c.x = {n}b.x - 1",
     False),
    (["CREATE TABLE {n}a (x INTEGER, y TEXT)", "CREATE TABLE {n}b (x INTEGER PRIMARY KEY, z TEXT)",
      "INSERT INTO {n}a VALUES (1, 'a1'), (2, 'a2')", "INSERT INTO {n}b VALUES (2, 'b2'), (3, 'b3')"],
     "SELECT count(*), count({n}a.x), group_concat({n}b.z) FROM {n}a RIGHT OUTER JOIN {n}b ON {n}a.x = {n}b.x "
     "WHERE {n}a.y IS NULL", False),
    # INSERT ... DEFAULT VALUES
    (["CREATE TABLE {n} (a INTEGER DEFAULT 3, b TEXT DEFAULT 'x', c REAL)",
      "INSERT INTO {n} DEFAULT VALUES", "INSERT INTO {n} DEFAULT VALUES"],
     "SELECT * FROM {n}", False),
    # CREATE VIEW v (a, b) AS ...: the list names the columns
    (["CREATE TABLE {n} (id INTEGER PRIMARY KEY, u TEXT)", "INSERT INTO {n} VALUES (1, 'a'), (2, 'b'), (3, 'c')",
      "CREATE VIEW {n}_v (p, q) AS SELECT id * 10, u || u FROM {n} WHERE id > 1",
      "CREATE VIEW {n}_w (r) AS SELECT max(p) FROM {n}_v"],
     "SELECT v.q, w.r FROM {n}_v v, {n}_w w WHERE v.p = 30", False),
]


class DifferentialTest(DaemonTestCase):
    def test_fixed_cases(self):
        pair = Pair(self.conn)
        bad = []
        for i, (setup, query, ordered) in enumerate(FIXED_CASES):
            for st in setup:
                st = st.replace("{n}", "fx%d" % i)
                d, s = pair.both(st)
                self.assertFalse(isinstance(d, Exception) or isinstance(s, Exception), "%s: %r %r" % (st, d, s))
            m = check(pair, query.replace("{n}", "fx%d" % i), ordered)
            if m:
                bad.append(m)
        self.assertEqual(bad, [], "\n".join(bad))

    def test_driftdb_only(self):
        """What SQLite has no form for: DEFAULT in VALUES rows; REPLACE in the history."""
        c = self.conn.cursor()
        c.execute("CREATE TABLE dflt (id INTEGER PRIMARY KEY, a TEXT DEFAULT 'x', b INTEGER DEFAULT (2 * 3), c REAL)")
        c.execute("INSERT INTO dflt VALUES (1, DEFAULT, DEFAULT, DEFAULT), (2, 'y', DEFAULT, 1.5)")
        c.execute("INSERT INTO dflt (c, id) VALUES (DEFAULT, 3), (2.5, 4)")
        c.execute("SELECT * FROM dflt ORDER BY id")
        self.assertEqual(c.fetchall(), [(1, "x", 6, None), (2, "y", 6, 1.5), (3, "x", 6, None), (4, "x", 6, 2.5)])
        self.err("42601", "INSERT INTO dflt VALUES (5, DEFAULT || 'z', 1, 1)")
        self.err("42601", "INSERT INTO dflt VALUES (5, DEFAULT)")
        # REPLACE is ordinary versions: the replaced row stays readable as of before
        c.execute("CREATE TABLE rep (id INTEGER PRIMARY KEY, u TEXT UNIQUE)")
        c.execute("INSERT INTO rep VALUES (1, 'a'), (2, 'b')")
        c.execute("SELECT max(_seq) FROM rep FOR SYSTEM_TIME ALL")
        s1 = c.fetchall()[0][0]
        c.execute("REPLACE INTO rep VALUES (3, 'a')")
        self.assertEqual(c.rowcount, 1)
        c.execute("SELECT * FROM rep ORDER BY id")
        self.assertEqual(c.fetchall(), [(2, "b"), (3, "a")])
        c.execute("SELECT * FROM rep AS OF @seq:%d ORDER BY id" % s1)
        self.assertEqual(c.fetchall(), [(1, "a"), (2, "b")])
        c.execute("SELECT id, u FROM rep FOR SYSTEM_TIME ALL ORDER BY id, _seq")
        self.assertEqual(c.fetchall(), [(1, "a"), (2, "b"), (3, "a")])
        # in a transaction that rolls back, nothing is replaced
        self.conn.begin()
        c.execute("REPLACE INTO rep VALUES (2, 'z')")
        self.conn.rollback()
        c.execute("SELECT * FROM rep ORDER BY id")
        self.assertEqual(c.fetchall(), [(2, "b"), (3, "a")])

    def test_random(self):
        seed = SEED
        rng = random.Random(seed)
        pair = Pair(self.conn)
        tables = gen_tables(rng)
        tables += gen_views(rng, tables)
        schema = []
        for t in tables:
            self.x_both(pair, "DROP %s IF EXISTS %s" % ("VIEW" if isinstance(t, View) else "TABLE", t.name))
            for st in t.ddl() + t.inserts():
                schema.append(st)
                self.x_both(pair, st)
        gen = Gen(rng, tables)
        mismatches, nq = [], 0
        for i in range(NQUERIES):
            if i % 100 == 99:
                # a few writes, then the tables must hold the same rows
                for _ in range(3):
                    st = gen.dml()
                    if st:
                        m = check(pair, st)
                        if m:
                            mismatches.append(m)
                for t in tables:
                    m = check(pair, "SELECT * FROM %s" % t.name)
                    if m:
                        mismatches.append(m)
            sql, ordered, concat = gen.query()
            nq += 1
            m = check(pair, sql, ordered, concat)
            if m:
                mismatches.append(m)
        sys.stderr.write("differential: seed %d, %d queries (%d with rows, %d empty, %d errors in both), "
                         "%d mismatches\n" % (seed, nq, STATS["rows"], STATS["empty"], STATS["errors"], len(mismatches)))
        if mismatches:
            msg = "seed %d (DRIFT_DIFF_SEED=%d to repeat); schema:\n%s\n%d mismatches:\n%s" % (
                seed, seed, "\n".join(schema), len(mismatches), "\n\n".join(mismatches[:40]))
            self.fail(msg)

    def x_both(self, pair, sql):
        d, s = pair.both(sql)
        if isinstance(d, Exception) or isinstance(s, Exception):
            self.fail("setup statement failed: %s: %r / %r" % (sql, d, s))


if __name__ == "__main__":
    unittest.main()
