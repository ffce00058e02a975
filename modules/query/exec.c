/* modules/query/exec.c — the executor (exec.h): binds a statement's names
 * against the tables opened as of the right points, compiles selects into
 * cores (exec_int.h), asks plan.c for access paths and join order, and runs
 * them: nested loops over index/pk lookups, hash joins or materialized inner
 * sides, WHERE, projection, GROUP BY / HAVING with the aggregates of expr.h,
 * DISTINCT, compound selects, ORDER BY, LIMIT / OFFSET, subqueries through
 * the evaluator's callback (uncorrelated ones run once per statement), the
 * temporal clauses (AS OF, FOR SYSTEM_TIME ALL / BETWEEN / FROM..TO with the
 * pseudo-columns _seq, _ts, _op, _end_seq), DML (read first, then write) and
 * the DriftQL statements.
 *
 * Values follow SQLite where the sqllogictest suite observes them: a scalar
 * subquery yields its first row, bare columns of an aggregate query come from
 * one row of the group, groups come out in key order, NULLs sort first.
 *
 * Single-threaded (one statement at a time per worker); all memory is the
 * statement's arena (q->arena), except key buffers freed before returning. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipc/commit.h"
#include "ipc/proto.h"
#include "modules/query/exec_int.h"
#include "modules/query/stats.h"
#include "modules/query/txn.h"
#include "modules/query/lexer.h"
#include "modules/query/parser.h"

#define XNOPOS UINT32_MAX

/* ------------------------------------------------------------------ helpers */

int xq_err(xexec_t *x, const char *code, uint32_t bytepos, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint32_t pos = 0;
    if (bytepos != XNOPOS && x->q->sql)
        pos = drift_lexer_charpos(x->q->sql, x->q->sql_len, bytepos);
    return drift_sqlerr_set(x->q->err, code, pos, "%s", msg);
}

/* n zeroed bytes of the statement arena; 53200 when out of memory. */
void *xq_alloc(xexec_t *x, size_t n)
{
    void *p = drift_arena_alloc(x->arena, n ? n : 1);
    if (!p)
        drift_sqlerr_set(x->q->err, "53200", 0, "out of memory");
    return p;
}

uint64_t xq_mask(const drift_node_t *n)
{
    if (!n)
        return 0;
    uint64_t m = 0;
    switch (n->kind) {
    case DRIFT_AST_COLUMN:
        if (n->bound && n->depth == 0 && n->rel >= 0 && n->rel < 64)
            m |= 1ULL << n->rel;
        return m;
    case DRIFT_AST_IN_SELECT:
    case DRIFT_AST_EXISTS:
    case DRIFT_AST_SUBQUERY: {
        const xsel_t *s = n->plan;
        if (!s || s->correlated)
            m = ~0ULL;
        break;
    }
    default: break;
    }
    m |= xq_mask(n->l) | xq_mask(n->r);
    for (uint32_t i = 0; i < n->nargs; i++)
        m |= xq_mask(n->args[i]);
    return m;
}

/* A growable array of rows in the arena. */
typedef struct {
    drift_value_t **v;
    size_t n, cap;
} xvec_t;

static int s_vec_push(xexec_t *x, xvec_t *v, drift_value_t *row)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        drift_value_t **nv = xq_alloc(x, sizeof *nv * cap);
        if (!nv)
            return -1;
        if (v->n)
            memcpy(nv, v->v, sizeof *nv * v->n);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = row;
    return 0;
}

/* A deep copy of n values into the arena. */
static drift_value_t *s_copyrow(xexec_t *x, const drift_value_t *vals, uint32_t n)
{
    drift_value_t *r = xq_alloc(x, sizeof *r * (n ? n : 1));
    if (!r)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (drift_val_copy(x->arena, &vals[i], &r[i]) < 0) {
            drift_sqlerr_set(x->q->err, "53200", 0, "out of memory");
            return NULL;
        }
    }
    return r;
}

static uint64_t s_rowhash(const drift_value_t *v, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (uint32_t i = 0; i < n; i++)
        h = drift_val_hash(&v[i], h);
    return h;
}

static int s_roweq(const drift_value_t *a, const drift_value_t *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (drift_val_cmp(&a[i], &b[i]) != 0)
            return 0;
    return 1;
}

/* A set of rows (first width values), open addressing. */
typedef struct xhset {
    drift_value_t **rows;
    uint64_t *hash;
    size_t cap, n;
    uint32_t width;
} xhset_t;

/* An empty row set keyed on the first width values. */
static xhset_t *s_hset_new(xexec_t *x, uint32_t width)
{
    xhset_t *h = xq_alloc(x, sizeof *h);
    if (!h)
        return NULL;
    h->width = width;
    h->cap = 64;
    h->rows = xq_alloc(x, sizeof *h->rows * h->cap);
    h->hash = xq_alloc(x, sizeof *h->hash * h->cap);
    return h->rows && h->hash ? h : NULL;
}

/* Finds row; inserts it when add (the row pointer is kept: it must live). 1 present, 0 absent/added, -1 oom. */
static int s_hset_find(xexec_t *x, xhset_t *h, drift_value_t *row, int add)
{
    uint64_t hv = s_rowhash(row, h->width);
    size_t mask = h->cap - 1;
    for (size_t i = hv & mask;; i = (i + 1) & mask) {
        if (!h->rows[i])
            break;
        if (h->hash[i] == hv && s_roweq(h->rows[i], row, h->width))
            return 1;
    }
    if (!add)
        return 0;
    if ((h->n + 1) * 2 > h->cap) {
        size_t ncap = h->cap * 2;
        drift_value_t **nr = xq_alloc(x, sizeof *nr * ncap);
        uint64_t *nh = xq_alloc(x, sizeof *nh * ncap);
        if (!nr || !nh)
            return -1;
        for (size_t i = 0; i < h->cap; i++) {
            if (!h->rows[i])
                continue;
            size_t j = h->hash[i] & (ncap - 1);
            while (nr[j])
                j = (j + 1) & (ncap - 1);
            nr[j] = h->rows[i];
            nh[j] = h->hash[i];
        }
        h->rows = nr;
        h->hash = nh;
        h->cap = ncap;
        mask = ncap - 1;
    }
    size_t i = hv & mask;
    while (h->rows[i])
        i = (i + 1) & mask;
    h->rows[i] = row;
    h->hash[i] = hv;
    h->n++;
    return 0;
}

static drift_val_type_t s_coltype_val(drift_coltype_t t)
{
    switch (t) {
    case DRIFT_COL_INTEGER: return DRIFT_VAL_INT;
    case DRIFT_COL_REAL: return DRIFT_VAL_REAL;
    case DRIFT_COL_TEXT: return DRIFT_VAL_TEXT;
    case DRIFT_COL_BOOLEAN: return DRIFT_VAL_BOOL;
    case DRIFT_COL_BLOB: return DRIFT_VAL_BLOB;
    case DRIFT_COL_JSON: return DRIFT_VAL_JSON;
    case DRIFT_COL_TIMESTAMP: return DRIFT_VAL_TIMESTAMP;
    default: return DRIFT_VAL_NULL;
    }
}

/* The name of a log op as _op shows it ('insert', 'update', 'patch', 'delete'). */
static const char *s_opname(int op)
{
    switch (op) {
    case DRIFT_COP_INSERT: return "insert";
    case DRIFT_COP_UPDATE: return "update";
    case DRIFT_COP_PATCH: return "patch";
    case DRIFT_COP_DELETE: return "delete";
    default: return "?";
    }
}

/* An integer from a LIMIT / OFFSET value (SQLite: reals truncate, text is read as a number). */
static int s_intval(xexec_t *x, const drift_value_t *v, uint32_t pos, int64_t *ret)
{
    drift_value_t o;
    if (v->type == DRIFT_VAL_INT) {
        *ret = v->u.i;
        return 0;
    }
    if (v->type == DRIFT_VAL_NULL)
        return xq_err(x, "22023", pos, "LIMIT / OFFSET must not be NULL");
    if (v->type == DRIFT_VAL_TEXT ? drift_val_coerce(x->arena, DRIFT_COL_INTEGER, v, &o, NULL, x->q->err) < 0
                                  : drift_val_cast(x->arena, DRIFT_COL_INTEGER, v, &o, x->q->err) < 0)
        return -1;
    if (o.type != DRIFT_VAL_INT)
        return xq_err(x, "22023", pos, "LIMIT / OFFSET must be an integer");
    *ret = o.u.i;
    return 0;
}

/* ------------------------------------------------------------------ binding */

static int s_sel(xexec_t *x, const drift_select_t *s, xscope_t *parent, xsel_t **ret);
static int s_bind(xscope_t *sc, drift_node_t *n);

/* A new core (one SELECT of a compound) and its name scope inside parent. */
static xcore_t *s_core_new(xexec_t *x, xsel_t *sel, const drift_select_t *s, xscope_t *parent, xscope_t **ret_scope)
{
    xcore_t *c = xq_alloc(x, sizeof *c);
    xscope_t *sc = xq_alloc(x, sizeof *sc);
    if (!c || !sc)
        return NULL;
    c->x = x;
    c->sel = sel;
    c->s = s;
    c->parent = parent;
    c->rels = xq_alloc(x, sizeof *c->rels * XQ_MAXRELS);
    if (!c->rels)
        return NULL;
    sc->parent = parent;
    sc->core = c;
    *ret_scope = sc;
    return c;
}

static int s_conj_push(xcore_t *c, drift_node_t *e)
{
    if (c->nconj == c->capconj) {
        uint32_t cap = c->capconj ? c->capconj * 2 : 8;
        xconj_t *n = xq_alloc(c->x, sizeof *n * cap);
        if (!n)
            return -1;
        if (c->nconj)
            memcpy(n, c->conj, sizeof *n * c->nconj);
        c->conj = n;
        c->capconj = cap;
    }
    c->conj[c->nconj].e = e;
    c->conj[c->nconj].mask = 0;
    c->nconj++;
    return 0;
}

/* Splits an AND tree into conjuncts (appended to *arr). */
static int s_split(xexec_t *x, drift_node_t *e, drift_node_t ***arr, uint32_t *n)
{
    if (!e)
        return 0;
    if (e->kind == DRIFT_AST_AND) {
        if (s_split(x, e->l, arr, n) < 0 || s_split(x, e->r, arr, n) < 0)
            return -1;
        return 0;
    }
    drift_node_t **na = xq_alloc(x, sizeof *na * (*n + 1));
    if (!na)
        return -1;
    if (*n)
        memcpy(na, *arr, sizeof *na * *n);
    na[(*n)++] = e;
    *arr = na;
    return 0;
}

static int s_agg_push(xcore_t *c, drift_node_t *n)
{
    if (c->naggs == c->capaggs) {
        uint32_t cap = c->capaggs ? c->capaggs * 2 : 8;
        drift_node_t **a = xq_alloc(c->x, sizeof *a * cap);
        if (!a)
            return -1;
        if (c->naggs)
            memcpy(a, c->aggs, sizeof *a * c->naggs);
        c->aggs = a;
        c->capaggs = cap;
    }
    n->agg = (int32_t)c->naggs;
    c->aggs[c->naggs++] = n;
    return 0;
}

static int s_sub_push(xcore_t *c, xsel_t *s)
{
    if (c->nsubs == c->capsubs) {
        uint32_t cap = c->capsubs ? c->capsubs * 2 : 4;
        xsel_t **a = xq_alloc(c->x, sizeof *a * cap);
        if (!a)
            return -1;
        if (c->nsubs)
            memcpy(a, c->subs, sizeof *a * c->nsubs);
        c->subs = a;
        c->capsubs = cap;
    }
    c->subs[c->nsubs++] = s;
    return 0;
}

/* Resolves a COLUMN node in sc and the enclosing scopes. */
static int s_bind_col(xscope_t *sc, drift_node_t *n)
{
    xexec_t *x = sc->core->x;
    int depth = 0;
    int qual_known = 0;
    for (xscope_t *s = sc; s; s = s->parent, depth++) {
        xcore_t *c = s->core;
        int found = 0, qual_seen = 0;
        uint32_t frel = 0, fcol = 0;
        for (uint32_t i = 0; i < c->nrels; i++) {
            xrel_t *r = c->rels[i];
            if (n->qualifier) {
                if (strcmp(r->qual, n->qualifier) != 0)
                    continue;
                qual_seen = 1;
            }
            for (uint32_t j = 0; j < r->ncols; j++) {
                if (strcmp(r->names[j], n->name) != 0)
                    continue;
                if (!n->qualifier && r->using_hidden[j])
                    continue;
                found++;
                frel = i;
                fcol = j;
                break;
            }
        }
        if (found > 1)
            return xq_err(x, "42702", n->pos, "column reference \"%s\" is ambiguous", n->name);
        if (found == 1) {
            n->bound = 1;
            n->rel = (int32_t)frel;
            n->col = (int32_t)fcol;
            n->depth = depth;
            for (xscope_t *m = sc; m != s; m = m->parent) {
                m->core->correlated = 1;
                if (m->core->sel)
                    m->core->sel->correlated = 1;
            }
            return 0;
        }
        if (qual_seen)
            return xq_err(x, "42703", n->pos, "column %s.%s does not exist", n->qualifier, n->name);
        qual_known |= qual_seen;
    }
    /* an alias of the select list (SQLite resolves WHERE / GROUP BY / HAVING names against them too) */
    if (!n->qualifier && !sc->no_alias && sc->core->s && sc->core->s->items) {
        const drift_select_t *s = sc->core->s;
        for (uint32_t i = 0; i < s->nitems; i++) {
            if (s->items[i].alias && strcmp(s->items[i].alias, n->name) == 0 && s->items[i].expr &&
                s->items[i].expr->kind != DRIFT_AST_STAR) {
                uint32_t pos = n->pos;
                *n = *s->items[i].expr;
                n->pos = pos;
                sc->no_alias = 1;
                int rc = s_bind(sc, n);
                sc->no_alias = 0;
                return rc;
            }
        }
    }
    if (n->qualifier && !qual_known)
        return xq_err(x, "42P01", n->pos, "missing FROM-clause entry for table \"%s\"", n->qualifier);
    return xq_err(x, "42703", n->pos, "column \"%s\" does not exist", n->name);
}

static int s_bind(xscope_t *sc, drift_node_t *n)
{
    if (!n)
        return 0;
    xexec_t *x = sc->core->x;
    switch (n->kind) {
    case DRIFT_AST_COLUMN: return s_bind_col(sc, n);
    case DRIFT_AST_STAR: return xq_err(x, "42601", n->pos, "* is only allowed in a select list or count(*)");
    case DRIFT_AST_FUNC: {
        drift_agg_kind_t k = drift_agg_lookup(n->name, n->nargs, n->star);
        if (k != DRIFT_AGG_NONE) {
            if (!sc->allow_agg)
                return xq_err(x, "42803", n->pos, "aggregate function %s() is not allowed here", n->name);
            if (sc->in_agg)
                return xq_err(x, "42803", n->pos, "aggregate function calls cannot be nested");
            if (n->distinct && n->nargs != 1)
                return xq_err(x, "42601", n->pos, "DISTINCT aggregates must have exactly one argument");
            if (s_agg_push(sc->core, n) < 0)
                return -1;
            sc->in_agg = 1;
            int rc = 0;
            for (uint32_t i = 0; i < n->nargs && rc == 0; i++)
                rc = s_bind(sc, n->args[i]);
            sc->in_agg = 0;
            return rc;
        }
        n->agg = -1;
        if (!drift_func_exists(n->name, n->nargs))
            return xq_err(x, "42883", n->pos, "function %s() with %u argument%s does not exist", n->name, n->nargs,
                          n->nargs == 1 ? "" : "s");
        for (uint32_t i = 0; i < n->nargs; i++)
            if (s_bind(sc, n->args[i]) < 0)
                return -1;
        return 0;
    }
    case DRIFT_AST_IN_SELECT:
    case DRIFT_AST_EXISTS:
    case DRIFT_AST_SUBQUERY: {
        if (s_bind(sc, n->l) < 0)
            return -1;
        xsel_t *sub;
        int allow = sc->allow_agg, in = sc->in_agg;
        if (s_sel(x, n->sub, sc, &sub) < 0)
            return -1;
        sc->allow_agg = allow;
        sc->in_agg = in;
        n->plan = sub;
        if (n->kind != DRIFT_AST_EXISTS && sub->ncols != 1)
            return xq_err(x, "21000", n->pos, "subquery must return only one column (it returns %u)", sub->ncols);
        return s_sub_push(sc->core, sub);
    }
    default: break;
    }
    if (n->kind == DRIFT_AST_FUNC)
        n->agg = -1;
    if (s_bind(sc, n->l) < 0 || s_bind(sc, n->r) < 0)
        return -1;
    for (uint32_t i = 0; i < n->nargs; i++)
        if (s_bind(sc, n->args[i]) < 0)
            return -1;
    return 0;
}

/* Resolves a point in time to a seq. */
static int s_point(xexec_t *x, const drift_tpoint_t *p, uint64_t *ret)
{
    uint32_t pos = p->pos;
    switch (p->kind) {
    case DRIFT_TP_SEQ: return drift_table_resolve_seq(x->q, p->seq, pos, ret);
    case DRIFT_TP_TIME: return drift_table_resolve_time(x->q, p->time, strlen(p->time), pos, ret);
    case DRIFT_TP_NOW: *ret = x->q->snap_seq; return 0;
    case DRIFT_TP_EXPR: {
        drift_value_t v;
        drift_rowctx_t ctx = {0};
        if (drift_expr_eval(&x->env, p->expr, &ctx, &v) < 0)
            return -1;
        if (v.type == DRIFT_VAL_INT) {
            if (v.u.i < 0)
                return xq_err(x, "22023", p->pos, "AS OF seq %" PRId64 " is negative", v.u.i);
            return drift_table_resolve_seq(x->q, (uint64_t)v.u.i, pos, ret);
        }
        if (v.type == DRIFT_VAL_TEXT)
            return drift_table_resolve_time(x->q, v.u.s.p, v.u.s.n, pos, ret);
        if (v.type == DRIFT_VAL_TIMESTAMP) {
            char buf[64];
            size_t n = drift_ts_format(v.u.i, buf, sizeof buf);
            return drift_table_resolve_time(x->q, buf, n, pos, ret);
        }
        return xq_err(x, "22023", p->pos, "AS OF needs a seq (integer) or a timestamp (text), not %s",
                      drift_val_type_name(v.type));
    }
    default: return xq_err(x, "22023", p->pos, "AS OF needs a point in time");
    }
}

/* A relation with room for ncols columns (names, types, row buffers). */
static xrel_t *s_rel_alloc(xexec_t *x, uint32_t ncols)
{
    xrel_t *r = xq_alloc(x, sizeof *r);
    if (!r)
        return NULL;
    r->ncols = ncols;
    r->names = xq_alloc(x, sizeof *r->names * (ncols + 1));
    r->types = xq_alloc(x, sizeof *r->types * (ncols + 1));
    r->star_hidden = xq_alloc(x, ncols + 1);
    r->using_hidden = xq_alloc(x, ncols + 1);
    r->buf = xq_alloc(x, sizeof *r->buf * (ncols + 1));
    r->nullrow = xq_alloc(x, sizeof *r->nullrow * (ncols + 1)); /* zeroed = NULLs */
    if (!r->names || !r->types || !r->star_hidden || !r->using_hidden || !r->buf || !r->nullrow)
        return NULL;
    return r;
}

static int s_rel_add(xcore_t *c, xrel_t *r, uint32_t pos)
{
    if (c->nrels >= XQ_MAXRELS)
        return xq_err(c->x, "54000", pos, "too many tables in one FROM (at most %d)", XQ_MAXRELS);
    r->index = c->nrels;
    c->rels[c->nrels++] = r;
    return 0;
}

static const char *const s_pseudo[XQ_NPSEUDO] = {"_seq", "_ts", "_op", "_end_seq"};

/* A view's column name for a select item named n: a column reference `t.c` without alias is `c` (as in
 * SQLite and PostgreSQL); other names as they are. */
static const char *s_view_colname(const char *n)
{
    const char *dot = strchr(n, '.');
    if (!dot || dot == n || !dot[1] || strchr(dot + 1, '.'))
        return n;
    for (const char *p = n; *p; p++)
        if (p != dot && !(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return n;
    if (!(dot[1] == '_' || (dot[1] >= 'a' && dot[1] <= 'z') || (dot[1] >= 'A' && dot[1] <= 'Z')))
        return n;
    return dot + 1;
}

/* A view read as of as_of: its SELECT text parsed afresh (the AST lives until the statement ends) and
 * bound as a derived table whose tables without a temporal clause are read as of as_of. */
static int s_rel_view(xcore_t *c, const drift_table_t *t, const char *alias, uint64_t as_of, uint32_t pos,
                      xrel_t **ret)
{
    xexec_t *x = c->x;
    if (x->view_depth >= 32)
        return xq_err(x, "54001", pos, "views nested too deeply (view %s)", t->name);
    struct drift_ast **va = xq_alloc(x, sizeof *va * (x->nview_asts + 1));
    if (!va)
        return -1;
    if (x->nview_asts)
        memcpy(va, x->view_asts, sizeof *va * x->nview_asts);
    x->view_asts = va;
    drift_sqlerr_t perr;
    memset(&perr, 0, sizeof perr);
    drift_ast_t *ast = NULL;
    if (drift_parse(t->view_sql, strlen(t->view_sql), &ast, &perr) < 0) {
        drift_ast_destroy(&ast);
        return xq_err(x, "XX001", pos, "view %s: its definition does not parse: %s", t->name, perr.message);
    }
    x->view_asts[x->nview_asts++] = ast;
    drift_stmt_t *st = drift_ast_stmt(ast);
    /* the SELECT text, or "CREATE VIEW v (cols) AS SELECT ..." for a view with a column list */
    if (!st || (st->kind != DRIFT_STMT_SELECT && st->kind != DRIFT_STMT_CREATE_VIEW) || !st->select)
        return xq_err(x, "XX001", pos, "view %s: its definition is not a SELECT", t->name);
    uint64_t save = x->base_as_of;
    x->base_as_of = as_of;
    x->view_depth++;
    xsel_t *sub;
    int rc = s_sel(x, st->select, NULL, &sub);
    x->view_depth--;
    x->base_as_of = save;
    if (rc < 0) {
        /* the error's position is in the view's text: report the view (at the FROM item) instead */
        if (x->view_depth == 0 && strncmp(x->q->err->message, "in view ", 8) != 0) {
            char m[sizeof x->q->err->message];
            snprintf(m, sizeof m, "%s", x->q->err->message);
            char code[sizeof x->q->err->code];
            snprintf(code, sizeof code, "%s", x->q->err->code);
            xq_err(x, code, pos, "in view %s: %s", t->name, m);
        }
        return -1;
    }
    xrel_t *r = s_rel_alloc(x, sub->ncols);
    if (!r)
        return -1;
    if (st->nview_cols && st->nview_cols != sub->ncols)
        return xq_err(x, "XX001", pos, "view %s: %u column names for %u columns", t->name, st->nview_cols,
                      sub->ncols);
    r->derived = sub;
    r->qual = alias ? alias : t->name;
    r->nreg = sub->ncols;
    for (uint32_t i = 0; i < sub->ncols; i++) {
        r->names[i] = st->nview_cols ? st->view_cols[i] : s_view_colname(sub->names[i]);
        r->types[i] = sub->types[i];
    }
    r->est = 100;
    r->est_known = 1;
    *ret = r;
    return s_rel_add(c, r, pos);
}

/* Opens a table as of its temporal clause (or the default point) and makes it a relation. */
static int s_rel_table(xcore_t *c, const char *name, const char *alias, const drift_temporal_t *tc, uint32_t pos,
                       xrel_t **ret)
{
    xexec_t *x = c->x;
    uint64_t as_of = x->base_as_of, from = 0, to = 0;
    int history = 0, incl = 1;
    const char *htext = NULL;
    if (tc) {
        switch (tc->kind) {
        case DRIFT_TEMP_NONE: break;
        case DRIFT_TEMP_AS_OF:
            if (s_point(x, &tc->a, &as_of) < 0)
                return -1;
            break;
        case DRIFT_TEMP_ALL:
            history = 1;
            to = as_of;
            htext = "FOR SYSTEM_TIME ALL";
            break;
        case DRIFT_TEMP_BETWEEN:
        case DRIFT_TEMP_FROM_TO:
            if (s_point(x, &tc->a, &from) < 0 || s_point(x, &tc->b, &to) < 0)
                return -1;
            history = 1;
            incl = tc->kind == DRIFT_TEMP_BETWEEN;
            as_of = to;
            htext = drift_arena_printf(x->arena, "FOR SYSTEM_TIME %s @seq:%" PRIu64 " %s @seq:%" PRIu64,
                                       incl ? "BETWEEN" : "FROM", from, incl ? "AND" : "TO", to);
            break;
        }
    }
    drift_table_t *t = NULL;
    if (drift_table_open(x->q, name, as_of, pos, &t) < 0)
        return -1;
    if (t->view_sql) {
        if (history)
            return xq_err(x, DRIFT_SQLSTATE_NOT_SUPPORTED, pos, "%s of a view (%s) is not supported: use AS OF", htext,
                          t->name);
        return s_rel_view(c, t, alias, as_of, pos, ret);
    }
    xrel_t *r = s_rel_alloc(x, t->ncols + XQ_NPSEUDO);
    if (!r)
        return -1;
    r->t = t;
    r->qual = alias ? alias : t->name;
    r->nreg = t->ncols;
    r->history = history;
    r->h_from = from;
    r->h_to = to;
    r->h_incl = incl;
    r->h_text = htext;
    for (uint32_t i = 0; i < t->ncols; i++) {
        r->names[i] = t->cols[i].name;
        r->types[i] = s_coltype_val(t->cols[i].type);
        r->star_hidden[i] = (uint8_t)(t->cols[i].hidden != 0);
    }
    static const drift_val_type_t pt[XQ_NPSEUDO] = {DRIFT_VAL_INT, DRIFT_VAL_TIMESTAMP, DRIFT_VAL_TEXT, DRIFT_VAL_INT};
    for (uint32_t i = 0; i < XQ_NPSEUDO; i++) {
        r->names[t->ncols + i] = s_pseudo[i];
        r->types[t->ncols + i] = pt[i];
        r->star_hidden[t->ncols + i] = 1;
    }
    /* r->est is left unknown: xq_rel_est counts it when the planner first needs it */
    *ret = r;
    return s_rel_add(c, r, pos);
}

uint64_t xq_rel_est(xrel_t *r)
{
    if (!r->est_known) {
        r->est = r->t ? drift_table_estimate_rows(r->t) : 100;
        if (r->history)
            r->est = r->est * 2 + 1;
        r->est_known = 1;
    }
    return r->est;
}

/* A derived table (FROM (subquery) alias). */
static int s_rel_derived(xcore_t *c, const drift_from_t *f, xrel_t **ret)
{
    xexec_t *x = c->x;
    xsel_t *sub;
    if (s_sel(x, f->sub, NULL, &sub) < 0)
        return -1;
    xrel_t *r = s_rel_alloc(x, sub->ncols);
    if (!r)
        return -1;
    r->derived = sub;
    r->qual = f->alias ? f->alias : "subquery";
    r->nreg = sub->ncols;
    for (uint32_t i = 0; i < sub->ncols; i++) {
        r->names[i] = sub->names[i];
        r->types[i] = sub->types[i];
    }
    r->est = 100;
    r->est_known = 1;
    *ret = r;
    return s_rel_add(c, r, f->pos);
}

/* A bound COLUMN node for (rel, col). */
static drift_node_t *s_colnode(xexec_t *x, const xrel_t *r, uint32_t col, uint32_t pos)
{
    drift_node_t *n = xq_alloc(x, sizeof *n);
    if (!n)
        return NULL;
    n->kind = DRIFT_AST_COLUMN;
    n->pos = pos;
    n->name = r->names[col];
    n->qualifier = r->qual;
    n->bound = 1;
    n->rel = (int32_t)r->index;
    n->col = (int32_t)col;
    n->agg = -1;
    return n;
}

/* Finds a visible column name among relations [from, to); 42702 when it is in two of them. */
static int s_find_visible(xcore_t *c, uint32_t from, uint32_t to, const char *name, uint32_t pos, xrel_t **ret_rel,
                          uint32_t *ret_col)
{
    int found = 0;
    for (uint32_t i = from; i < to; i++) {
        xrel_t *r = c->rels[i];
        for (uint32_t j = 0; j < r->nreg; j++) {
            if (r->using_hidden[j] || r->star_hidden[j] || strcmp(r->names[j], name) != 0)
                continue;
            if (found)
                return xq_err(c->x, "42702", pos, "common column name \"%s\" appears more than once in the left table",
                              name);
            found = 1;
            *ret_rel = r;
            *ret_col = j;
        }
    }
    return found;
}

/* Flattens a FROM tree into relations; inner join conditions become WHERE conjuncts. */
static int s_from(xcore_t *c, xscope_t *sc, const drift_from_t *f)
{
    xexec_t *x = c->x;
    xrel_t *r;
    switch (f->kind) {
    case DRIFT_FROM_TABLE: return s_rel_table(c, f->name, f->alias, &f->temporal, f->pos, &r);
    case DRIFT_FROM_SUBQUERY: return s_rel_derived(c, f, &r);
    case DRIFT_FROM_JOIN: break;
    }
    uint32_t lstart = c->nrels;
    if (s_from(c, sc, f->left) < 0)
        return -1;
    uint32_t rstart = c->nrels;
    if (s_from(c, sc, f->right) < 0)
        return -1;
    uint32_t rend = c->nrels;
    int left = f->join == DRIFT_JOIN_LEFT;
    xrel_t *lrel = NULL;
    if (f->join == DRIFT_JOIN_RIGHT) {
        /* A RIGHT JOIN B ON c is B LEFT JOIN A ON c with A's columns first: the relations are swapped (nothing
         * is bound to them yet) and SELECT * shows them in the written order */
        if (rstart - lstart != 1 || rend - rstart != 1)
            return xq_err(x, "0A000", f->pos, "RIGHT JOIN with a join on either side is not supported: use LEFT JOIN");
        if (f->natural || f->nusing)
            return xq_err(x, "0A000", f->pos, "RIGHT JOIN with USING or NATURAL is not supported: use ON");
        xrel_t *a = c->rels[lstart];
        c->rels[lstart] = c->rels[rstart];
        c->rels[rstart] = a;
        c->rels[lstart]->index = lstart;
        a->index = rstart;
        c->star_swap = lstart + 1;
        left = 1;
    }
    if (left) {
        if (rend - rstart != 1)
            return xq_err(x, "0A000", f->pos, "LEFT JOIN with a parenthesized join on its right is not supported");
        lrel = c->rels[rstart];
        lrel->left = 1;
        c->has_left = 1;
    }
    drift_node_t **conds = NULL;
    uint32_t nconds = 0;
    /* USING / NATURAL: equalities between the left and the right side; the right column is merged away */
    const char **ucols = f->using_cols;
    uint32_t nu = f->nusing;
    if (f->natural) {
        ucols = xq_alloc(x, sizeof *ucols * 256);
        if (!ucols)
            return -1;
        nu = 0;
        for (uint32_t i = rstart; i < rend && nu < 256; i++) {
            xrel_t *rr = c->rels[i];
            for (uint32_t j = 0; j < rr->nreg && nu < 256; j++) {
                xrel_t *lr;
                uint32_t lc;
                if (rr->star_hidden[j] || rr->using_hidden[j])
                    continue;
                int k = s_find_visible(c, lstart, rstart, rr->names[j], f->pos, &lr, &lc);
                if (k < 0)
                    return -1;
                if (k)
                    ucols[nu++] = rr->names[j];
            }
        }
    }
    for (uint32_t u = 0; u < nu; u++) {
        xrel_t *lr, *rr;
        uint32_t lc, rc;
        int k = s_find_visible(c, lstart, rstart, ucols[u], f->pos, &lr, &lc);
        if (k < 0)
            return -1;
        if (!k)
            return xq_err(x, "42703", f->pos, "column \"%s\" specified in USING does not exist in the left table",
                          ucols[u]);
        k = s_find_visible(c, rstart, rend, ucols[u], f->pos, &rr, &rc);
        if (k < 0)
            return -1;
        if (!k)
            return xq_err(x, "42703", f->pos, "column \"%s\" specified in USING does not exist in the right table",
                          ucols[u]);
        drift_node_t *eq = xq_alloc(x, sizeof *eq);
        if (!eq)
            return -1;
        eq->kind = DRIFT_AST_BINARY;
        eq->bop = DRIFT_BOP_EQ;
        eq->pos = f->pos;
        eq->agg = -1;
        eq->l = s_colnode(x, lr, lc, f->pos);
        eq->r = s_colnode(x, rr, rc, f->pos);
        if (!eq->l || !eq->r)
            return -1;
        rr->using_hidden[rc] = 1;
        drift_node_t **na = xq_alloc(x, sizeof *na * (nconds + 1));
        if (!na)
            return -1;
        if (nconds)
            memcpy(na, conds, sizeof *na * nconds);
        na[nconds++] = eq;
        conds = na;
    }
    if (f->on) {
        if (s_bind(sc, f->on) < 0)
            return -1;
        if (s_split(x, f->on, &conds, &nconds) < 0)
            return -1;
    }
    if (left) {
        lrel->on = conds;
        lrel->non = nconds;
        return 0;
    }
    for (uint32_t i = 0; i < nconds; i++)
        if (s_conj_push(c, conds[i]) < 0)
            return -1;
    return 0;
}

/* Output name of a select item. */
static const char *s_item_name(const drift_select_item_t *it)
{
    if (it->alias)
        return it->alias;
    if (it->text)
        return it->text;
    if (it->expr && it->expr->kind == DRIFT_AST_COLUMN)
        return it->expr->name;
    return "?column?";
}

static drift_val_type_t s_expr_type(const xcore_t *c, const drift_node_t *e)
{
    if (e->kind == DRIFT_AST_COLUMN && e->bound && e->depth == 0 && (uint32_t)e->rel < c->nrels) {
        const xrel_t *r = c->rels[e->rel];
        if ((uint32_t)e->col < r->ncols)
            return r->types[e->col];
    }
    return drift_expr_type_hint(e);
}

/* Whether an integer literal in GROUP BY / ORDER BY is a select-list position: as in SQLite, only a value
 * that fits in 32 bits (a larger one, like -9223372036854775808, is a constant expression). */
static int s_is_position(const drift_node_t *n)
{
    return n->value.u.i > INT32_MIN && n->value.u.i <= INT32_MAX;
}

/* Compiles one SELECT of a compound (without ORDER BY / LIMIT). */
static int s_core(xexec_t *x, xsel_t *sel, const drift_select_t *s, xscope_t *parent, xcore_t **ret,
                  xscope_t **ret_scope)
{
    xscope_t *sc;
    xcore_t *c = s_core_new(x, sel, s, parent, &sc);
    if (!c)
        return -1;
    *ret = c;
    *ret_scope = sc;
    if (s->from && s_from(c, sc, s->from) < 0)
        return -1;
    if (s->nvalues) {
        /* VALUES rows: evaluated per row in the (empty) scope */
        c->nout = s->nitems;
        if (c->nout == 0 && s->values)
            return xq_err(x, "42601", s->pos, "VALUES needs at least one column");
        c->names = xq_alloc(x, sizeof *c->names * (c->nout + 1));
        c->types = xq_alloc(x, sizeof *c->types * (c->nout + 1));
        if (!c->names || !c->types)
            return -1;
        for (uint32_t r = 0; r < s->nvalues; r++)
            for (uint32_t i = 0; i < c->nout; i++)
                if (s_bind(sc, s->values[r][i]) < 0)
                    return -1;
        for (uint32_t i = 0; i < c->nout; i++) {
            c->names[i] = drift_arena_printf(x->arena, "column%u", i + 1);
            c->types[i] = drift_expr_type_hint(s->values[0][i]);
        }
        return 0;
    }
    /* the select list, * and t.* expanded */
    uint32_t cap = 0;
    for (uint32_t i = 0; i < s->nitems; i++) {
        const drift_node_t *e = s->items[i].expr;
        if (e && e->kind == DRIFT_AST_STAR) {
            for (uint32_t k = 0; k < c->nrels; k++)
                cap += c->rels[k]->ncols;
        } else {
            cap++;
        }
    }
    c->out = xq_alloc(x, sizeof *c->out * (cap + 1));
    c->names = xq_alloc(x, sizeof *c->names * (cap + 1));
    c->types = xq_alloc(x, sizeof *c->types * (cap + 1));
    /* which output columns hold an aggregate: GROUP BY may not name them by position */
    uint8_t *out_agg = xq_alloc(x, cap + 1);
    if (!c->out || !c->names || !c->types || !out_agg)
        return -1;
    memset(out_agg, 0, cap + 1);
    sc->allow_agg = 1;
    for (uint32_t i = 0; i < s->nitems; i++) {
        drift_node_t *e = s->items[i].expr;
        if (e && e->kind == DRIFT_AST_STAR) {
            int any = 0;
            if (c->nrels == 0)
                return xq_err(x, "42601", e->pos, "SELECT * with no tables specified");
            for (uint32_t k = 0; k < c->nrels; k++) {
                uint32_t kk = k; /* the written order: a RIGHT JOIN swapped two relations */
                if (c->star_swap && k == c->star_swap - 1)
                    kk = k + 1;
                else if (c->star_swap && k == c->star_swap)
                    kk = k - 1;
                xrel_t *r = c->rels[kk];
                if (e->qualifier && strcmp(r->qual, e->qualifier) != 0)
                    continue;
                any = 1;
                for (uint32_t j = 0; j < r->ncols; j++) {
                    if (r->star_hidden[j] || (!e->qualifier && r->using_hidden[j]))
                        continue;
                    drift_node_t *n = s_colnode(x, r, j, e->pos);
                    if (!n)
                        return -1;
                    c->out[c->nout] = n;
                    c->names[c->nout] = r->names[j];
                    c->types[c->nout] = r->types[j];
                    c->nout++;
                }
            }
            if (!any)
                return xq_err(x, "42P01", e->pos, "missing FROM-clause entry for table \"%s\"", e->qualifier);
            continue;
        }
        sc->no_alias = 1; /* an item never resolves to an alias */
        uint32_t naggs = c->naggs;
        int rc = s_bind(sc, e);
        sc->no_alias = 0;
        if (rc < 0)
            return -1;
        out_agg[c->nout] = c->naggs != naggs;
        c->out[c->nout] = e;
        c->names[c->nout] = s_item_name(&s->items[i]);
        c->types[c->nout] = s_expr_type(c, e);
        c->nout++;
    }
    sc->allow_agg = 0;
    if (s->where) {
        drift_node_t **cj = NULL;
        uint32_t n = 0;
        if (s_bind(sc, s->where) < 0 || s_split(x, s->where, &cj, &n) < 0)
            return -1;
        for (uint32_t i = 0; i < n; i++)
            if (s_conj_push(c, cj[i]) < 0)
                return -1;
    }
    if (s->ngroup_by) {
        c->group = xq_alloc(x, sizeof *c->group * s->ngroup_by);
        if (!c->group)
            return -1;
        for (uint32_t i = 0; i < s->ngroup_by; i++) {
            drift_node_t *g = s->group_by[i];
            if (g->kind == DRIFT_AST_LITERAL && g->value.type == DRIFT_VAL_INT && s_is_position(g)) {
                if (g->value.u.i < 1 || (uint64_t)g->value.u.i > c->nout)
                    return xq_err(x, "42P10", g->pos, "GROUP BY position %" PRId64 " is not in select list",
                                  g->value.u.i);
                if (out_agg[g->value.u.i - 1])
                    return xq_err(x, "42803", g->pos, "GROUP BY position %" PRId64 " is an aggregate", g->value.u.i);
                c->group[c->ngroup++] = c->out[g->value.u.i - 1];
                continue;
            }
            if (s_bind(sc, g) < 0)
                return -1;
            c->group[c->ngroup++] = g;
        }
    }
    if (s->having) {
        sc->allow_agg = 1;
        if (s_bind(sc, s->having) < 0)
            return -1;
        sc->allow_agg = 0;
        c->having = s->having;
    }
    return 0;
}

/* Whether order item e names output column i of the first core (alias, name, or a bare column's name). */
static int s_order_match(const xcore_t *c, const drift_select_t *s, const drift_node_t *e, int alias_only)
{
    if (e->kind != DRIFT_AST_COLUMN || e->qualifier)
        return -1;
    if (!s->items)
        return -1;
    for (uint32_t i = 0; i < s->nitems && i < c->nout; i++) {
        if (s->items[i].alias && strcmp(s->items[i].alias, e->name) == 0)
            return (int)i;
    }
    if (alias_only)
        return -1;
    for (uint32_t i = 0; i < c->nout; i++) {
        if (strcmp(c->names[i], e->name) == 0)
            return (int)i;
        const drift_node_t *o = c->out[i];
        if (o && o->kind == DRIFT_AST_COLUMN && strcmp(o->name, e->name) == 0)
            return (int)i;
    }
    return -1;
}

/* The relation column a sort column of sel reads (a bare column of the single relation), or -1. */
static int s_sort_relcol(const xsel_t *sel, uint32_t col)
{
    const xcore_t *c = sel->cores[0];
    const drift_node_t *e = col < c->nout ? c->out[col] : c->keys[col - c->nout];
    if (e->kind != DRIFT_AST_COLUMN || !e->bound || e->depth != 0 || e->rel != 0)
        return -1;
    return e->col;
}

/* Drops ORDER BY when the single relation's access path already yields rows in that order: the primary key
 * columns ascending, after the columns its equality prefix fixes (key order is SQL order for one column
 * type; JSON columns are left out). */
static void s_order_by_key(xsel_t *sel)
{
    if (sel->ncores != 1 || sel->norder == 0)
        return;
    xcore_t *c = sel->cores[0];
    if (c->nrels != 1 || c->is_agg || (c->s && c->s->distinct))
        return;
    xrel_t *rel = c->rels[0];
    const xacc_t *a = &rel->acc;
    if (!rel->t || rel->history || rel->left)
        return;
    const uint32_t *cols;
    uint32_t ncols;
    switch (a->kind) {
    case XA_FULL:
    case XA_PK_EQ:
    case XA_PK_IN:
    case XA_PK_RANGE:
        /* (index paths are left out: a probe that does not fit the column falls back to a pk-order scan) */
        cols = rel->t->pk;
        ncols = rel->t->npk;
        break;
    default: return;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < sel->norder; i++) {
        if (sel->ord_desc[i] || sel->ord_nulls[i] == 2)
            return;
        int rc = s_sort_relcol(sel, sel->ord_col[i]);
        if (rc < 0)
            return;
        while (k < a->neq && k < ncols && cols[k] != (uint32_t)rc)
            k++; /* a column fixed by equality may be skipped */
        if (k >= ncols || cols[k] != (uint32_t)rc || rel->t->cols[rc].type == DRIFT_COL_JSON)
            return;
        k++;
    }
    sel->ord_by_key = 1;
}

static int s_sel(xexec_t *x, const drift_select_t *s, xscope_t *parent, xsel_t **ret)
{
    xsel_t *sel = xq_alloc(x, sizeof *sel);
    if (!sel)
        return -1;
    sel->x = x;
    sel->s = s;
    uint32_t n = 0;
    for (const drift_select_t *p = s; p; p = p->next)
        n++;
    sel->cores = xq_alloc(x, sizeof *sel->cores * n);
    if (!sel->cores)
        return -1;
    xscope_t *first_scope = NULL;
    for (const drift_select_t *p = s; p; p = p->next) {
        xcore_t *c;
        xscope_t *sc;
        if (s_core(x, sel, p, parent, &c, &sc) < 0)
            return -1;
        if (!first_scope)
            first_scope = sc;
        if (sel->ncores > 0 && c->nout != sel->cores[0]->nout)
            return xq_err(x, "42601", p->pos,
                          "SELECTs to the left and right of a set operation do not have the same number of result "
                          "columns (%u and %u)",
                          sel->cores[0]->nout, c->nout);
        sel->cores[sel->ncores++] = c;
    }
    xcore_t *c0 = sel->cores[0];
    sel->ncols = c0->nout;
    sel->names = c0->names;
    sel->types = c0->types;
    /* ORDER BY */
    if (s->norder_by) {
        sel->ord_col = xq_alloc(x, sizeof *sel->ord_col * s->norder_by);
        sel->ord_desc = xq_alloc(x, sizeof *sel->ord_desc * s->norder_by);
        sel->ord_nulls = xq_alloc(x, sizeof *sel->ord_nulls * s->norder_by);
        if (!sel->ord_col || !sel->ord_desc || !sel->ord_nulls)
            return -1;
        if (sel->ncores == 1) {
            c0->keys = xq_alloc(x, sizeof *c0->keys * s->norder_by);
            if (!c0->keys)
                return -1;
        }
        for (uint32_t i = 0; i < s->norder_by; i++) {
            drift_node_t *e = s->order_by[i].expr;
            int col = -1;
            sel->ord_desc[i] = s->order_by[i].desc;
            sel->ord_nulls[i] = s->order_by[i].nulls;
            if (e->kind == DRIFT_AST_LITERAL && e->value.type == DRIFT_VAL_INT && s_is_position(e)) {
                if (e->value.u.i < 1 || (uint64_t)e->value.u.i > sel->ncols)
                    return xq_err(x, "42P10", e->pos, "ORDER BY position %" PRId64 " is not in select list",
                                  e->value.u.i);
                col = (int)e->value.u.i - 1;
            } else if (sel->ncores == 1) {
                col = s_order_match(c0, s, e, 1);
                if (col < 0) {
                    first_scope->allow_agg = 1;
                    if (s_bind(first_scope, e) < 0)
                        return -1;
                    first_scope->allow_agg = 0;
                    col = (int)(sel->ncols + c0->nkeys);
                    c0->keys[c0->nkeys++] = e;
                }
            } else {
                col = s_order_match(c0, s, e, 0);
                if (col < 0)
                    return xq_err(x, "42P10", e->pos, "ORDER BY term %u does not match any column in the result set",
                                  i + 1);
            }
            sel->ord_col[i] = (uint32_t)col;
            sel->norder++;
        }
    }
    /* LIMIT / OFFSET: evaluated once, in an empty scope inside parent */
    xscope_t *lsc;
    sel->lim_core = s_core_new(x, sel, NULL, parent, &lsc);
    if (!sel->lim_core)
        return -1;
    if (s->limit && s_bind(lsc, s->limit) < 0)
        return -1;
    if (s->offset && s_bind(lsc, s->offset) < 0)
        return -1;
    sel->limit = s->limit;
    sel->offset = s->offset;
    for (uint32_t i = 0; i < sel->ncores; i++) {
        xcore_t *c = sel->cores[i];
        c->is_agg = c->ngroup > 0 || c->naggs > 0 || c->having != NULL;
        if (c->naggs == 1 && c->nrels > 0) {
            drift_agg_kind_t k = drift_agg_lookup(c->aggs[0]->name, c->aggs[0]->nargs, c->aggs[0]->star);
            c->minmax = k == DRIFT_AGG_MIN ? 1 : k == DRIFT_AGG_MAX ? 2 : 0;
        }
        for (uint32_t k = 0; k < c->nconj; k++)
            c->conj[k].mask = xq_mask(c->conj[k].e);
        if (xplan_core(c) < 0)
            return -1;
    }
    s_order_by_key(sel);
    *ret = sel;
    return 0;
}

/* ------------------------------------------------------------------ execution */

typedef int (*xrow_fn)(void *arg, drift_value_t *vals); /* 0 go on, 1 stop, -1 error */

typedef struct xgroup {
    struct xgroup *next;
    uint64_t h;
    drift_value_t *key;
    drift_agg_t **acc;
    const drift_value_t **rep;
    drift_value_t best; /* the single min()/max() so far: the bare columns come from its row (SQLite) */
    int has_best;
} xgroup_t;

typedef struct {
    xcore_t *c;
    const drift_value_t **relp;
    drift_rowctx_t ctx;
    xrow_fn fn;
    void *arg;
    drift_value_t *outbuf;
    /* aggregation */
    xgroup_t **tab;
    size_t tabcap, ngroups;
    xvec_t glist; /* groups in creation order (as value-array pointers cast) */
    drift_value_t *gkey;
} xrun_t;

static int s_level(xrun_t *r, uint32_t k);

/* Fills rel->buf from a table row (regular columns, then the pseudo-columns). */
static void s_fill(xrel_t *rel, const drift_trow_t *row)
{
    uint32_t n = rel->nreg;
    if (row->vals)
        memcpy(rel->buf, row->vals, sizeof *rel->buf * n);
    else
        memset(rel->buf, 0, sizeof *rel->buf * n);
    drift_value_t *p = rel->buf + n;
    p[0] = row->seq ? drift_val_int((int64_t)row->seq) : drift_val_null();
    p[1] = row->ts_ns ? drift_val_ts((int64_t)row->ts_ns) : drift_val_null();
    const char *op = s_opname(row->op ? row->op : DRIFT_COP_INSERT);
    p[2] = drift_val_text(op, strlen(op));
    p[3] = (row->end_seq == 0 || row->end_seq == DRIFT_INDEX_SEQ_LIVE) ? drift_val_null()
                                                                       : drift_val_int((int64_t)row->end_seq);
}

/* Checks the level's conjuncts, then goes one level deeper. */
static int s_level_check(xrun_t *r, uint32_t k, xrel_t *rel)
{
    xexec_t *x = r->c->x;
    for (uint32_t i = 0; i < rel->nconds; i++) {
        int c = drift_expr_cond(&x->env, rel->conds[i], &r->ctx);
        if (c < 0)
            return -1;
        if (c == 0)
            return 0;
    }
    rel->actual++;
    return s_level(r, k + 1);
}

/* One candidate row of the relation at level k. */
static int s_cand(xrun_t *r, uint32_t k, xrel_t *rel, const drift_value_t *vals, int *matched)
{
    xexec_t *x = r->c->x;
    if (drift_qctx_check(x->q) < 0) /* heartbeat while a long join progresses; statement timeout */
        return -1;
    r->relp[rel->index] = vals;
    if (rel->left) {
        for (uint32_t i = 0; i < rel->non; i++) {
            int c = drift_expr_cond(&x->env, rel->on[i], &r->ctx);
            if (c < 0)
                return -1;
            if (c == 0)
                return 0;
        }
        *matched = 1;
    }
    return s_level_check(r, k, rel);
}

/* Runs a table scan feeding candidates (or collecting them into rel->mat when collect). */
static int s_scan_loop(xrun_t *r, uint32_t k, xrel_t *rel, drift_tscan_t *s, int *matched)
{
    drift_trow_t row;
    int rc;
    while ((rc = drift_tscan_next(s, &row)) == 1) {
        s_fill(rel, &row);
        rc = s_cand(r, k, rel, rel->buf, matched);
        if (rc != 0)
            break;
    }
    rel->scanned += drift_tscan_steps(s);
    drift_tscan_close(&s);
    return rc < 0 ? -1 : rc;
}

typedef struct {
    xexec_t *x;
    xrel_t *rel;
    xvec_t *v;
    uint32_t width;
} xcollect_t;

static int s_collect_fn(void *arg, drift_value_t *vals)
{
    xcollect_t *cl = arg;
    drift_value_t *row = s_copyrow(cl->x, vals, cl->width);
    if (!row)
        return -1;
    return s_vec_push(cl->x, cl->v, row);
}

static int s_sel_run(xsel_t *s, const drift_rowctx_t *outer, xrow_fn fn, void *arg);

/* Materializes the rows of a relation (full source), pre-filtered by the conjuncts that only read it. */
static int s_materialize(xrun_t *r, xrel_t *rel)
{
    xexec_t *x = r->c->x;
    xcore_t *c = r->c;
    if (rel->mat_done && (rel->derived || !c->correlated || rel->mat_run == c->runs))
        return 0;
    rel->mat_run = c->runs;
    rel->nmat = 0;
    xvec_t v = {0};
    if (rel->derived) {
        xcollect_t cl = {x, rel, &v, rel->ncols};
        if (s_sel_run(rel->derived, NULL, s_collect_fn, &cl) < 0)
            return -1;
    } else {
        drift_tscan_t *s = NULL;
        int rc = rel->history ? drift_table_vscan(rel->t, rel->h_from, rel->h_to, rel->h_incl, &s)
                              : drift_table_scan(rel->t, NULL, 0, NULL, 0, &s);
        if (rc < 0)
            return -1;
        drift_trow_t row;
        const drift_value_t *save = r->relp[rel->index];
        while ((rc = drift_tscan_next(s, &row)) == 1) {
            s_fill(rel, &row);
            r->relp[rel->index] = rel->buf;
            int keep = 1;
            for (uint32_t i = 0; i < rel->nconds && keep && !rel->left; i++) {
                if (xq_mask(rel->conds[i]) != (1ULL << rel->index))
                    continue;
                int cv = drift_expr_cond(&x->env, rel->conds[i], &r->ctx);
                if (cv < 0) {
                    rc = -1;
                    break;
                }
                keep = cv;
            }
            if (rc < 0)
                break;
            if (!keep)
                continue;
            drift_value_t *cp = s_copyrow(x, rel->buf, rel->ncols);
            if (!cp || s_vec_push(x, &v, cp) < 0) {
                rc = -1;
                break;
            }
        }
        r->relp[rel->index] = save;
        rel->scanned += drift_tscan_steps(s);
        drift_tscan_close(&s);
        if (rc < 0)
            return -1;
    }
    rel->mat = v.v;
    rel->nmat = v.n;
    rel->mat_done = 1;
    if (rel->acc.kind == XA_HASH) {
        size_t nb = 16;
        while (nb < rel->nmat * 2)
            nb *= 2;
        rel->hnb = nb;
        rel->hbucket = xq_alloc(x, sizeof *rel->hbucket * nb);
        rel->hnext = xq_alloc(x, sizeof *rel->hnext * (rel->nmat + 1));
        if (!rel->hbucket || !rel->hnext)
            return -1;
        for (size_t i = 0; i < nb; i++)
            rel->hbucket[i] = -1;
        for (size_t i = 0; i < rel->nmat; i++) {
            const drift_value_t *kv = &rel->mat[i][rel->acc.hcol];
            if (kv->type == DRIFT_VAL_NULL) {
                rel->hnext[i] = -1;
                continue;
            }
            size_t b = drift_val_hash(kv, 0) & (nb - 1);
            rel->hnext[i] = rel->hbucket[b];
            rel->hbucket[b] = (int32_t)i;
        }
    }
    return 0;
}

static int s_doc_keyval(xexec_t *x, const drift_value_t *v, drift_value_t *out);
static int s_conv(drift_coltype_t t, const drift_value_t *v, drift_value_t *out);

/* Converts a probe value to a column's type for a key: 1 ok, 0 NULL (matches nothing), 2 does not fit, -1
 * error. JSON columns (DriftQL document keys and fields) take text, integers and booleans as the JSON
 * scalar they compare equal to, for equality only (JSON key order is not SQL order). */
static int s_conv_x(xexec_t *x, int eq, drift_coltype_t t, const drift_value_t *v, drift_value_t *out)
{
    if (t == DRIFT_COL_JSON && v->type != DRIFT_VAL_NULL) {
        if (!eq || !(v->type == DRIFT_VAL_TEXT || v->type == DRIFT_VAL_INT || v->type == DRIFT_VAL_BOOL ||
                     v->type == DRIFT_VAL_JSON))
            return 2;
        return s_doc_keyval(x, v, out) < 0 ? -1 : 1;
    }
    return s_conv(t, v, out);
}

/* Converts a probe value to a column's type for a key: 1 ok, 0 NULL (matches nothing), 2 does not fit. */
static int s_conv(drift_coltype_t t, const drift_value_t *v, drift_value_t *out)
{
    if (v->type == DRIFT_VAL_NULL)
        return 0;
    switch (t) {
    case DRIFT_COL_INTEGER:
        if (v->type == DRIFT_VAL_INT) {
            *out = *v;
            return 1;
        }
        if (v->type == DRIFT_VAL_REAL && isfinite(v->u.r) && v->u.r >= -9.2e18 && v->u.r <= 9.2e18 &&
            v->u.r == (double)(int64_t)v->u.r) {
            *out = drift_val_int((int64_t)v->u.r);
            return 1;
        }
        return 2;
    case DRIFT_COL_REAL:
        if (v->type == DRIFT_VAL_REAL && !isnan(v->u.r)) {
            *out = *v;
            return 1;
        }
        if (v->type == DRIFT_VAL_INT) {
            *out = drift_val_real((double)v->u.i);
            return 1;
        }
        return 2;
    case DRIFT_COL_TEXT: break;
    case DRIFT_COL_BOOLEAN:
        if (v->type == DRIFT_VAL_BOOL) {
            *out = *v;
            return 1;
        }
        return 2;
    case DRIFT_COL_BLOB:
        if (v->type == DRIFT_VAL_BLOB) {
            *out = *v;
            return 1;
        }
        return 2;
    case DRIFT_COL_TIMESTAMP:
        if (v->type == DRIFT_VAL_TIMESTAMP) {
            *out = *v;
            return 1;
        }
        return 2;
    default: return 2;
    }
    if (v->type == DRIFT_VAL_TEXT) {
        *out = *v;
        return 1;
    }
    return 2;
}

/* Key encoding of vals[0..n) on the pk columns or on index idx. */
static int s_enc(xrel_t *rel, const drift_tidx_t *idx, const drift_value_t *vals, uint32_t n, drift_keybuf_t *kb)
{
    drift_keybuf_reset(kb);
    if (idx)
        return drift_table_encode_ivals(rel->t, idx, vals, n, kb);
    for (uint32_t i = 0; i < n; i++)
        drift_val_keyenc(kb, rel->t->cols[rel->t->pk[i]].type, &vals[i]);
    return kb->oom ? drift_sqlerr_set(rel->t->q->err, "53200", 0, "out of memory") : 0;
}

static int s_keycmp(const void *a, const void *b)
{
    const drift_keybuf_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->buf, y->buf, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* History relations: a version scan of the one encoded pk key (hi: scratch for the bound [key, key 0xFF)). */
static int s_vscan_key(xrel_t *rel, const drift_keybuf_t *key, drift_keybuf_t *hi, drift_tscan_t **ret)
{
    static const uint8_t ff = 0xFF;
    drift_keybuf_reset(hi);
    drift_keybuf_raw(hi, key->buf, key->len);
    drift_keybuf_raw(hi, &ff, 1);
    if (hi->oom)
        return drift_sqlerr_set(rel->t->q->err, "53200", 0, "out of memory");
    return drift_table_vscan_range(rel->t, key->buf, key->len, hi->buf, hi->len, rel->h_from, rel->h_to, rel->h_incl,
                                   ret);
}

/* Iterates the candidate rows of the relation at level k by its access path. */
static int s_rel_iter(xrun_t *r, uint32_t k, xrel_t *rel, int *matched)
{
    xexec_t *x = r->c->x;
    const xacc_t *a = &rel->acc;
    drift_tscan_t *s = NULL;
    int rc = 0;
    drift_keybuf_t lo = {0}, hi = {0};
    drift_keybuf_t *keys = NULL;
    uint32_t nkeys = 0;
    const uint32_t *cols = NULL;
    drift_value_t pv[17];
    int fallback = 0;

    switch (a->kind) {
    case XA_FULL:
        if (rel->derived) {
            if (s_materialize(r, rel) < 0)
                return -1;
            break;
        }
        rc = rel->history ? drift_table_vscan(rel->t, rel->h_from, rel->h_to, rel->h_incl, &s)
                          : drift_table_scan(rel->t, NULL, 0, NULL, 0, &s);
        if (rc < 0)
            return -1;
        return s_scan_loop(r, k, rel, s, matched);
    case XA_MAT:
        if (s_materialize(r, rel) < 0)
            return -1;
        break;
    case XA_HASH: {
        if (s_materialize(r, rel) < 0)
            return -1;
        drift_value_t pr;
        if (drift_expr_eval(&x->env, a->hprobe, &r->ctx, &pr) < 0)
            return -1;
        if (pr.type == DRIFT_VAL_NULL)
            return 0;
        size_t b = drift_val_hash(&pr, 0) & (rel->hnb - 1);
        for (int32_t i = rel->hbucket[b]; i >= 0; i = rel->hnext[i]) {
            if (drift_val_compare_op(DRIFT_BOP_EQ, &rel->mat[i][a->hcol], &pr) != 1)
                continue;
            rc = s_cand(r, k, rel, rel->mat[i], matched);
            if (rc)
                return rc;
        }
        return 0;
    }
    case XA_PK_EQ:
    case XA_PK_RANGE:
    case XA_IDX_EQ:
    case XA_IDX_RANGE: {
        cols = a->idx ? a->idx->cols : rel->t->pk;
        for (uint32_t i = 0; i < a->neq; i++) {
            drift_value_t v;
            if (drift_expr_eval(&x->env, a->eq[i], &r->ctx, &v) < 0)
                return -1;
            int cv = s_conv_x(x, 1, rel->t->cols[cols[i]].type, &v, &pv[i]);
            if (cv < 0)
                return -1;
            if (cv == 0)
                return 0; /* col = NULL: nothing */
            if (cv == 2) {
                fallback = 1;
                break;
            }
        }
        if (fallback)
            break;
        if (a->kind == XA_PK_EQ) {
            drift_trow_t row;
            if (drift_table_encode_pk(rel->t, pv, &lo) < 0) {
                rc = -1;
                goto out;
            }
            if (rel->history) {
                /* every version of this one key: [pk, pk 0xFF) */
                rc = s_vscan_key(rel, &lo, &hi, &s);
                if (rc == 0)
                    rc = s_scan_loop(r, k, rel, s, matched);
                goto out;
            }
            rc = drift_table_get(rel->t, lo.buf, lo.len, &row);
            if (rc == 1) {
                s_fill(rel, &row);
                rc = s_cand(r, k, rel, rel->buf, matched);
            }
            goto out;
        }
        /* bounds: prefix equality, then an optional range on the next column */
        drift_value_t bl, bh;
        int has_lo = 0, has_hi = 0, ranged = a->lo || a->hi;
        uint32_t n = a->neq;
        if (a->lo) {
            drift_value_t v;
            if (drift_expr_eval(&x->env, a->lo, &r->ctx, &v) < 0)
                return -1;
            int cv = s_conv(rel->t->cols[cols[n]].type, &v, &bl);
            if (cv == 0)
                return 0;
            has_lo = cv == 1;
        }
        if (a->hi) {
            drift_value_t v;
            if (drift_expr_eval(&x->env, a->hi, &r->ctx, &v) < 0)
                return -1;
            int cv = s_conv(rel->t->cols[cols[n]].type, &v, &bh);
            if (cv == 0)
                return 0;
            has_hi = cv == 1;
        }
        static const uint8_t ff = 0xFF, above_null = DRIFT_KEYENC_NULL + 1;
        if (has_lo) {
            pv[n] = bl;
            if (s_enc(rel, a->idx, pv, n + 1, &lo) < 0) {
                rc = -1;
                goto out;
            }
            if (!a->lo_incl)
                drift_keybuf_raw(&lo, &ff, 1);
        } else {
            if (s_enc(rel, a->idx, pv, n, &lo) < 0) {
                rc = -1;
                goto out;
            }
            if (ranged)
                drift_keybuf_raw(&lo, &above_null, 1);
        }
        int hi_open = 0;
        if (has_hi) {
            pv[n] = bh;
            if (s_enc(rel, a->idx, pv, n + 1, &hi) < 0) {
                rc = -1;
                goto out;
            }
            if (a->hi_incl)
                drift_keybuf_raw(&hi, &ff, 1);
        } else if (n > 0) {
            if (s_enc(rel, a->idx, pv, n, &hi) < 0) {
                rc = -1;
                goto out;
            }
            drift_keybuf_raw(&hi, &ff, 1);
        } else {
            hi_open = 1;
        }
        if (lo.oom || hi.oom) {
            rc = drift_sqlerr_set(x->q->err, "53200", 0, "out of memory");
            goto out;
        }
        const uint8_t *hb = hi_open ? NULL : hi.buf;
        size_t hl = hi_open ? 0 : hi.len;
        if (a->idx)
            rc = drift_table_iscan(rel->t, a->idx, lo.buf, lo.len, hb, hl, &s);
        else if (rel->history) /* the versions of the keys in range */
            rc = drift_table_vscan_range(rel->t, lo.buf, lo.len, hb, hl, rel->h_from, rel->h_to, rel->h_incl, &s);
        else
            rc = drift_table_scan(rel->t, lo.buf, lo.len, hb, hl, &s);
        if (rc < 0)
            goto out;
        rc = s_scan_loop(r, k, rel, s, matched);
        goto out;
    }
    case XA_PK_IN:
    case XA_IDX_IN: {
        const drift_node_t *in = a->in;
        drift_coltype_t ct = rel->t->cols[a->idx ? a->idx->cols[0] : rel->t->pk[0]].type;
        keys = calloc(in->nargs ? in->nargs : 1, sizeof *keys);
        if (!keys)
            return drift_sqlerr_set(x->q->err, "53200", 0, "out of memory");
        for (uint32_t i = 0; i < in->nargs && !fallback; i++) {
            drift_value_t v, cvv;
            if (drift_expr_eval(&x->env, in->args[i], &r->ctx, &v) < 0) {
                rc = -1;
                goto out;
            }
            int cv = s_conv_x(x, 1, ct, &v, &cvv);
            if (cv < 0) {
                rc = -1;
                goto out;
            }
            if (cv == 0)
                continue;
            if (cv == 2) {
                fallback = 1;
                break;
            }
            int e = a->kind == XA_PK_IN ? drift_table_encode_pk(rel->t, &cvv, &keys[nkeys])
                                        : drift_table_encode_ivals(rel->t, a->idx, &cvv, 1, &keys[nkeys]);
            nkeys++;
            if (e < 0) {
                rc = -1;
                goto out;
            }
        }
        if (fallback)
            break;
        if (nkeys > 1)
            qsort(keys, nkeys, sizeof *keys, s_keycmp);
        for (uint32_t i = 0; i < nkeys && rc == 0; i++) {
            if (i > 0 && s_keycmp(&keys[i], &keys[i - 1]) == 0)
                continue;
            if (a->kind == XA_PK_IN && rel->history) {
                rc = s_vscan_key(rel, &keys[i], &hi, &s);
                if (rc == 0)
                    rc = s_scan_loop(r, k, rel, s, matched);
            } else if (a->kind == XA_PK_IN) {
                drift_trow_t row;
                rc = drift_table_get(rel->t, keys[i].buf, keys[i].len, &row);
                if (rc == 1) {
                    s_fill(rel, &row);
                    rc = s_cand(r, k, rel, rel->buf, matched);
                }
            } else {
                static const uint8_t ff2 = 0xFF;
                drift_keybuf_reset(&hi);
                drift_keybuf_raw(&hi, keys[i].buf, keys[i].len);
                drift_keybuf_raw(&hi, &ff2, 1);
                rc = drift_table_iscan(rel->t, a->idx, keys[i].buf, keys[i].len, hi.buf, hi.len, &s);
                if (rc == 0)
                    rc = s_scan_loop(r, k, rel, s, matched);
            }
        }
        goto out;
    }
    }
    if (fallback) {
        /* a probe that does not fit the key column: scan (the conjuncts decide) */
        if (rel->derived) {
            if (s_materialize(r, rel) < 0)
                return -1;
        } else {
            rc = rel->history ? drift_table_vscan(rel->t, rel->h_from, rel->h_to, rel->h_incl, &s)
                              : drift_table_scan(rel->t, NULL, 0, NULL, 0, &s);
            if (rc < 0)
                goto out;
            rc = s_scan_loop(r, k, rel, s, matched);
            goto out;
        }
    }
    /* materialized rows */
    for (size_t i = 0; i < rel->nmat; i++) {
        rc = s_cand(r, k, rel, rel->mat[i], matched);
        if (rc)
            break;
    }
out:
    if (keys) {
        for (uint32_t i = 0; i < (a->in ? a->in->nargs : 0); i++)
            drift_keybuf_free(&keys[i]);
        free(keys);
    }
    drift_keybuf_free(&lo);
    drift_keybuf_free(&hi);
    return rc < 0 ? -1 : rc;
}

static int s_emit(xrun_t *r);

static int s_level(xrun_t *r, uint32_t k)
{
    xcore_t *c = r->c;
    if (k == c->nrels)
        return s_emit(r);
    xrel_t *rel = c->rels[c->order[k]];
    rel->loops++;
    int matched = 0;
    struct timespec t0, t1;
    if (c->x->timing)
        clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = s_rel_iter(r, k, rel, &matched);
    if (c->x->timing) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        rel->time_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
    }
    if (rc)
        return rc;
    if (rel->left && !matched) {
        r->relp[rel->index] = rel->nullrow;
        return s_level_check(r, k, rel);
    }
    return 0;
}

/* Evaluates the output (and sort keys) of the current row in ctx and hands it over. */
static int s_project(xrun_t *r, const drift_rowctx_t *ctx)
{
    xcore_t *c = r->c;
    xexec_t *x = c->x;
    for (uint32_t i = 0; i < c->nout; i++)
        if (drift_expr_eval(&x->env, c->out[i], ctx, &r->outbuf[i]) < 0)
            return -1;
    for (uint32_t j = 0; j < c->nkeys; j++)
        if (drift_expr_eval(&x->env, c->keys[j], ctx, &r->outbuf[c->nout + j]) < 0)
            return -1;
    c->actual++;
    return r->fn(r->arg, r->outbuf);
}

/* A new group for the current row: copied key, fresh accumulators, a copy of the row (bare columns). */
static xgroup_t *s_group_new(xrun_t *r, uint64_t h)
{
    xcore_t *c = r->c;
    xexec_t *x = c->x;
    xgroup_t *g = xq_alloc(x, sizeof *g);
    if (!g)
        return NULL;
    g->h = h;
    if (c->ngroup && !(g->key = s_copyrow(x, r->gkey, c->ngroup)))
        return NULL;
    g->acc = xq_alloc(x, sizeof *g->acc * (c->naggs + 1));
    g->rep = xq_alloc(x, sizeof *g->rep * (c->nrels + 1));
    if (!g->acc || !g->rep)
        return NULL;
    for (uint32_t j = 0; j < c->naggs; j++) {
        const drift_node_t *n = c->aggs[j];
        g->acc[j] = drift_agg_new(x->arena, drift_agg_lookup(n->name, n->nargs, n->star), n->distinct);
        if (!g->acc[j]) {
            drift_sqlerr_set(x->q->err, "53200", 0, "out of memory");
            return NULL;
        }
    }
    for (uint32_t i = 0; i < c->nrels; i++) {
        if (r->relp[i] == c->rels[i]->nullrow) {
            g->rep[i] = c->rels[i]->nullrow;
        } else if (!(g->rep[i] = s_copyrow(x, r->relp[i], c->rels[i]->ncols))) {
            return NULL;
        }
    }
    if (s_vec_push(x, &r->glist, (drift_value_t *)g) < 0)
        return NULL;
    r->ngroups++;
    return g;
}

/* Adds the current row to its group. */
static int s_group_step(xrun_t *r)
{
    xcore_t *c = r->c;
    xexec_t *x = c->x;
    for (uint32_t i = 0; i < c->ngroup; i++)
        if (drift_expr_eval(&x->env, c->group[i], &r->ctx, &r->gkey[i]) < 0)
            return -1;
    uint64_t h = s_rowhash(r->gkey, c->ngroup);
    xgroup_t *g = NULL;
    if (r->ngroups * 2 >= r->tabcap) {
        size_t cap = r->tabcap ? r->tabcap * 2 : 64;
        xgroup_t **nt = xq_alloc(x, sizeof *nt * cap);
        if (!nt)
            return -1;
        for (size_t i = 0; i < r->glist.n; i++) {
            xgroup_t *o = (xgroup_t *)r->glist.v[i];
            size_t b = o->h & (cap - 1);
            o->next = nt[b];
            nt[b] = o;
        }
        r->tab = nt;
        r->tabcap = cap;
    }
    size_t b = h & (r->tabcap - 1);
    for (g = r->tab[b]; g; g = g->next)
        if (g->h == h && s_roweq(g->key, r->gkey, c->ngroup))
            break;
    if (!g) {
        if (!(g = s_group_new(r, h)))
            return -1;
        g->next = r->tab[b];
        r->tab[b] = g;
    }
    for (uint32_t j = 0; j < c->naggs; j++) {
        const drift_node_t *n = c->aggs[j];
        drift_value_t v = drift_val_int(1), sep;
        if (!n->star && n->nargs > 0 && drift_expr_eval(&x->env, n->args[0], &r->ctx, &v) < 0)
            return -1;
        int has_sep = !n->star && n->nargs > 1;
        if (has_sep && drift_expr_eval(&x->env, n->args[1], &r->ctx, &sep) < 0)
            return -1;
        if (drift_agg_step(g->acc[j], &v, has_sep ? &sep : NULL, x->q->err) < 0)
            return -1;
        if (c->minmax && v.type != DRIFT_VAL_NULL) {
            int cmp = g->has_best ? drift_val_cmp(&v, &g->best) : 0;
            if (!g->has_best || (c->minmax == 1 ? cmp < 0 : cmp > 0)) {
                if (drift_val_copy(x->arena, &v, &g->best) < 0)
                    return drift_sqlerr_set(x->q->err, "53200", 0, "out of memory");
                g->has_best = 1;
                for (uint32_t i = 0; i < c->nrels; i++) {
                    if (r->relp[i] == c->rels[i]->nullrow)
                        g->rep[i] = c->rels[i]->nullrow;
                    else if (!(g->rep[i] = s_copyrow(x, r->relp[i], c->rels[i]->ncols)))
                        return -1;
                }
            }
        }
    }
    return 0;
}

static int s_emit(xrun_t *r)
{
    if (r->c->is_agg)
        return s_group_step(r);
    return s_project(r, &r->ctx);
}

static xcore_t *s_sort_core;
static int s_group_cmp(const void *a, const void *b)
{
    const xgroup_t *x = *(xgroup_t *const *)a, *y = *(xgroup_t *const *)b;
    for (uint32_t i = 0; i < s_sort_core->ngroup; i++) {
        int c = drift_val_cmp(&x->key[i], &y->key[i]);
        if (c)
            return c;
    }
    return 0;
}

/* Finishes the groups: HAVING, output in group-key order. */
static int s_group_finish(xrun_t *r)
{
    xcore_t *c = r->c;
    xexec_t *x = c->x;
    if (r->ngroups == 0 && c->ngroup == 0) {
        for (uint32_t i = 0; i < c->nrels; i++)
            r->relp[i] = c->rels[i]->nullrow;
        if (!s_group_new(r, 0))
            return -1;
    }
    xgroup_t **gs = (xgroup_t **)r->glist.v;
    if (c->ngroup && r->ngroups > 1) {
        s_sort_core = c;
        qsort(gs, r->ngroups, sizeof *gs, s_group_cmp);
    }
    drift_value_t *aggv = xq_alloc(x, sizeof *aggv * (c->naggs + 1));
    if (!aggv)
        return -1;
    for (size_t gi = 0; gi < r->ngroups; gi++) {
        xgroup_t *g = gs[gi];
        for (uint32_t j = 0; j < c->naggs; j++)
            if (drift_agg_final(g->acc[j], &aggv[j], x->q->err) < 0)
                return -1;
        drift_rowctx_t ctx = {g->rep, c->nrels, aggv, c->naggs, r->ctx.outer};
        if (c->having) {
            int cv = drift_expr_cond(&x->env, c->having, &ctx);
            if (cv < 0)
                return -1;
            if (cv == 0)
                continue;
        }
        int rc = s_project(r, &ctx);
        if (rc)
            return rc;
    }
    return 0;
}

/* Runs one core: rows (nout + nkeys values) go to fn. */
static int s_core_run(xcore_t *c, const drift_rowctx_t *outer, xrow_fn fn, void *arg)
{
    xexec_t *x = c->x;
    xrun_t r;
    memset(&r, 0, sizeof r);
    r.c = c;
    c->runs++;
    r.fn = fn;
    r.arg = arg;
    r.relp = xq_alloc(x, sizeof *r.relp * (c->nrels + 1));
    r.outbuf = xq_alloc(x, sizeof *r.outbuf * (c->nout + c->nkeys + 1));
    r.gkey = xq_alloc(x, sizeof *r.gkey * (c->ngroup + 1));
    if (!r.relp || !r.outbuf || !r.gkey)
        return -1;
    for (uint32_t i = 0; i < c->nrels; i++)
        r.relp[i] = c->rels[i]->nullrow;
    r.ctx.rels = r.relp;
    r.ctx.nrels = c->nrels;
    r.ctx.outer = outer;
    int rc = 0, skip = 0;
    for (uint32_t i = 0; i < c->npre && !skip; i++) {
        int cv = drift_expr_cond(&x->env, c->pre[i], &r.ctx);
        if (cv < 0)
            return -1;
        skip = !cv;
    }
    if (!skip) {
        if (c->s && c->s->nvalues) {
            for (uint32_t i = 0; i < c->s->nvalues && rc == 0; i++) {
                for (uint32_t j = 0; j < c->nout; j++)
                    if (drift_expr_eval(&x->env, c->s->values[i][j], &r.ctx, &r.outbuf[j]) < 0)
                        return -1;
                c->actual++;
                rc = fn(arg, r.outbuf);
            }
            return rc < 0 ? -1 : rc;
        }
        rc = s_level(&r, 0);
        if (rc < 0)
            return -1;
    }
    if (c->is_agg && rc == 0)
        rc = s_group_finish(&r);
    return rc < 0 ? -1 : rc;
}

/* Streaming consumer: OFFSET / LIMIT then the caller's fn. */
typedef struct {
    int64_t offset, limit, n;
    xrow_fn fn;
    void *arg;
    xsel_t *s;
} xstream_t;

static int s_stream_fn(void *arg, drift_value_t *vals)
{
    xstream_t *st = arg;
    if (st->offset > 0) {
        st->offset--;
        return 0;
    }
    if (st->limit >= 0 && st->n >= st->limit)
        return 1;
    st->n++;
    st->s->actual++;
    int rc = st->fn(st->arg, vals);
    if (rc)
        return rc;
    return st->limit >= 0 && st->n >= st->limit ? 1 : 0;
}

/* Row order of sel: its ORDER BY, or every column ascending (compound results without ORDER BY). */
static int s_rowcmp_sel(const xsel_t *s, const drift_value_t *a, const drift_value_t *b)
{
    if (s->norder == 0) {
        for (uint32_t i = 0; i < s->ncols; i++) {
            int c = drift_val_cmp(&a[i], &b[i]);
            if (c)
                return c;
        }
        return 0;
    }
    for (uint32_t i = 0; i < s->norder; i++) {
        const drift_value_t *va = &a[s->ord_col[i]], *vb = &b[s->ord_col[i]];
        int an = va->type == DRIFT_VAL_NULL, bn = vb->type == DRIFT_VAL_NULL;
        int desc = s->ord_desc[i];
        if (an || bn) {
            if (an && bn)
                continue;
            int nulls_first = s->ord_nulls[i] == 1 ? 1 : s->ord_nulls[i] == 2 ? 0 : !desc;
            return an ? (nulls_first ? -1 : 1) : (nulls_first ? 1 : -1);
        }
        int c = drift_val_cmp(va, vb);
        if (c)
            return desc ? -c : c;
    }
    return 0;
}

static const xsel_t *s_sort_sel; /* qsort's context (qsort never re-enters the executor) */
static int s_row_cmp(const void *pa, const void *pb)
{
    return s_rowcmp_sel(s_sort_sel, *(drift_value_t *const *)pa, *(drift_value_t *const *)pb);
}

/* Rows of core i, materialized (DISTINCT applied when the core says so). */
static int s_core_rows(xsel_t *s, uint32_t i, const drift_rowctx_t *outer, xvec_t *v)
{
    xexec_t *x = s->x;
    xcore_t *c = s->cores[i];
    xcollect_t cl = {x, NULL, v, c->nout + c->nkeys};
    if (s_core_run(c, outer, s_collect_fn, &cl) < 0)
        return -1;
    if (c->s && c->s->distinct) {
        xhset_t *h = s_hset_new(x, s->ncols);
        if (!h)
            return -1;
        size_t w = 0;
        for (size_t k = 0; k < v->n; k++) {
            int f = s_hset_find(x, h, v->v[k], 1);
            if (f < 0)
                return -1;
            if (!f)
                v->v[w++] = v->v[k];
        }
        v->n = w;
    }
    return 0;
}

/* ORDER BY ... LIMIT: the first k rows in order, kept in a max-heap (the worst on top). */
typedef struct {
    xexec_t *x;
    const xsel_t *s;
    drift_value_t **h;
    size_t n, k;
    uint32_t width;
} xtopn_t;

static void s_heap_down(xtopn_t *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && s_rowcmp_sel(t->s, t->h[l], t->h[m]) > 0)
            m = l;
        if (r < t->n && s_rowcmp_sel(t->s, t->h[r], t->h[m]) > 0)
            m = r;
        if (m == i)
            return;
        drift_value_t *tmp = t->h[i];
        t->h[i] = t->h[m];
        t->h[m] = tmp;
        i = m;
    }
}

static int s_topn_fn(void *arg, drift_value_t *vals)
{
    xtopn_t *t = arg;
    if (t->n == t->k && s_rowcmp_sel(t->s, vals, t->h[0]) >= 0)
        return 0; /* not better than the worst kept */
    drift_value_t *row = s_copyrow(t->x, vals, t->width);
    if (!row)
        return -1;
    if (t->n < t->k) {
        size_t i = t->n++;
        t->h[i] = row;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (s_rowcmp_sel(t->s, t->h[i], t->h[p]) <= 0)
                break;
            drift_value_t *tmp = t->h[i];
            t->h[i] = t->h[p];
            t->h[p] = tmp;
            i = p;
        }
        return 0;
    }
    t->h[0] = row;
    s_heap_down(t, 0);
    return 0;
}

static int s_sel_run(xsel_t *s, const drift_rowctx_t *outer, xrow_fn fn, void *arg)
{
    xexec_t *x = s->x;
    int64_t limit = -1, offset = 0;
    drift_rowctx_t lctx = {.outer = outer};
    if (s->limit) {
        drift_value_t v;
        if (drift_expr_eval(&x->env, s->limit, &lctx, &v) < 0 || s_intval(x, &v, s->limit->pos, &limit) < 0)
            return -1;
        if (limit < 0)
            limit = -1;
    }
    if (s->offset) {
        drift_value_t v;
        if (drift_expr_eval(&x->env, s->offset, &lctx, &v) < 0 || s_intval(x, &v, s->offset->pos, &offset) < 0)
            return -1;
        if (offset < 0)
            offset = 0;
    }
    if (limit == 0)
        return 0;
    xstream_t st = {offset, limit, 0, fn, arg, s};
    if (s->ncores == 1 && !(s->cores[0]->s && s->cores[0]->s->distinct) && (s->norder == 0 || s->ord_by_key)) {
        int rc = s_core_run(s->cores[0], outer, s_stream_fn, &st);
        return rc < 0 ? -1 : 0;
    }
    xvec_t a = {0};
    int setop_sort = 0;
    if (s->ncores == 1 && !(s->cores[0]->s && s->cores[0]->s->distinct) && s->norder && limit > 0 &&
        limit + offset <= 100000) {
        xcore_t *c = s->cores[0];
        xtopn_t t = {x, s, NULL, 0, (size_t)(limit + offset), c->nout + c->nkeys};
        t.h = xq_alloc(x, sizeof *t.h * t.k);
        if (!t.h)
            return -1;
        if (s_core_run(c, outer, s_topn_fn, &t) < 0)
            return -1;
        a.v = t.h;
        a.n = t.n;
    } else if (s_core_rows(s, 0, outer, &a) < 0) {
        return -1;
    }
    for (uint32_t i = 1; i < s->ncores; i++) {
        drift_setop_t op = s->cores[i - 1]->s->setop;
        xvec_t b = {0};
        if (s_core_rows(s, i, outer, &b) < 0)
            return -1;
        if (op == DRIFT_SETOP_UNION_ALL) {
            for (size_t k = 0; k < b.n; k++)
                if (s_vec_push(x, &a, b.v[k]) < 0)
                    return -1;
            continue;
        }
        setop_sort = 1;
        xhset_t *ha = s_hset_new(x, s->ncols);
        if (!ha)
            return -1;
        xvec_t out = {0};
        if (op == DRIFT_SETOP_UNION) {
            for (int pass = 0; pass < 2; pass++) {
                xvec_t *src = pass ? &b : &a;
                for (size_t k = 0; k < src->n; k++) {
                    int f = s_hset_find(x, ha, src->v[k], 1);
                    if (f < 0 || (!f && s_vec_push(x, &out, src->v[k]) < 0))
                        return -1;
                }
            }
        } else {
            xhset_t *hb = s_hset_new(x, s->ncols);
            if (!hb)
                return -1;
            for (size_t k = 0; k < b.n; k++)
                if (s_hset_find(x, hb, b.v[k], 1) < 0)
                    return -1;
            for (size_t k = 0; k < a.n; k++) {
                int f = s_hset_find(x, ha, a.v[k], 1);
                if (f < 0)
                    return -1;
                if (f)
                    continue;
                int inb = s_hset_find(x, hb, a.v[k], 0);
                if ((op == DRIFT_SETOP_INTERSECT) == (inb == 1) && s_vec_push(x, &out, a.v[k]) < 0)
                    return -1;
            }
        }
        a = out;
    }
    if ((s->norder || setop_sort) && a.n > 1) { /* qsort(NULL, 0) is undefined (UBSan aborts the worker) */
        s_sort_sel = s;
        qsort(a.v, a.n, sizeof *a.v, s_row_cmp);
    }
    for (size_t k = 0; k < a.n; k++) {
        int rc = s_stream_fn(&st, a.v[k]);
        if (rc < 0)
            return -1;
        if (rc)
            break;
    }
    return 0;
}

/* ------------------------------------------------------------------ subqueries */

typedef struct {
    drift_value_t v;
    int got;
    xexec_t *x;
} xfirst_t;

static int s_first_fn(void *arg, drift_value_t *vals)
{
    xfirst_t *f = arg;
    if (drift_val_copy(f->x->arena, &vals[0], &f->v) < 0)
        return drift_sqlerr_set(f->x->q->err, "53200", 0, "out of memory");
    f->got = 1;
    return 1;
}

typedef struct {
    xexec_t *x;
    xhset_t *set;
    int has_null;
    const drift_value_t *probe;
    int found;
} xin_t;

static int s_inset_fn(void *arg, drift_value_t *vals)
{
    xin_t *in = arg;
    if (vals[0].type == DRIFT_VAL_NULL) {
        in->has_null = 1;
        return 0;
    }
    drift_value_t *cp = s_copyrow(in->x, vals, 1);
    if (!cp)
        return -1;
    return s_hset_find(in->x, in->set, cp, 1) < 0 ? -1 : 0;
}

static int s_inscan_fn(void *arg, drift_value_t *vals)
{
    xin_t *in = arg;
    int c = drift_val_compare_op(DRIFT_BOP_EQ, in->probe, &vals[0]);
    if (c == 1) {
        in->found = 1;
        return 1;
    }
    if (c < 0)
        in->has_null = 1;
    return 0;
}

/* The evaluator's subquery callback. */
static int s_subquery(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx,
                      const drift_value_t *probe, drift_value_t *out)
{
    xexec_t *x = env->subquery_arg;
    xsel_t *s = n->plan;
    if (!s)
        return drift_sqlerr_set(env->err, "XX000", 0, "subquery was not compiled");
    switch (n->kind) {
    case DRIFT_AST_SUBQUERY:
    case DRIFT_AST_EXISTS: {
        if (s->cached) {
            *out = s->cval;
            return 0;
        }
        xfirst_t f = {.x = x};
        if (s_sel_run(s, ctx, s_first_fn, &f) < 0)
            return -1;
        if (n->kind == DRIFT_AST_EXISTS)
            *out = drift_val_bool(f.got);
        else
            *out = f.got ? f.v : drift_val_null();
        if (!s->correlated) {
            s->cached = 1;
            s->cval = *out;
        }
        return 0;
    }
    case DRIFT_AST_IN_SELECT: {
        if (!s->correlated) {
            if (!s->cached) {
                xin_t in = {.x = x, .set = s_hset_new(x, 1)};
                if (!in.set || s_sel_run(s, ctx, s_inset_fn, &in) < 0)
                    return -1;
                s->cset = in.set;
                s->cset_null = in.has_null;
                s->cached = 1;
            }
            if (s->cset->n == 0 && !s->cset_null) {
                *out = drift_val_bool(0);
                return 0;
            }
            if (probe->type == DRIFT_VAL_NULL) {
                *out = drift_val_null();
                return 0;
            }
            drift_value_t pv = *probe;
            int f = s_hset_find(x, s->cset, &pv, 0);
            if (f == 0 && (probe->type == DRIFT_VAL_TEXT || probe->type == DRIFT_VAL_JSON)) {
                /* values that compare equal across types (affinity): look them over */
                for (size_t i = 0; i < s->cset->cap && !f; i++)
                    if (s->cset->rows[i] && drift_val_compare_op(DRIFT_BOP_EQ, probe, &s->cset->rows[i][0]) == 1)
                        f = 1;
            }
            *out = f ? drift_val_bool(1) : s->cset_null ? drift_val_null() : drift_val_bool(0);
            return 0;
        }
        xin_t in = {.x = x, .probe = probe};
        int any = 0;
        if (probe->type == DRIFT_VAL_NULL) {
            xfirst_t f = {.x = x};
            if (s_sel_run(s, ctx, s_first_fn, &f) < 0)
                return -1;
            any = f.got;
            *out = any ? drift_val_null() : drift_val_bool(0);
            return 0;
        }
        if (s_sel_run(s, ctx, s_inscan_fn, &in) < 0)
            return -1;
        *out = in.found ? drift_val_bool(1) : in.has_null ? drift_val_null() : drift_val_bool(0);
        return 0;
    }
    default: return drift_sqlerr_set(env->err, "XX000", 0, "not a subquery node");
    }
}

/* ------------------------------------------------------------------ statements */

typedef struct {
    drift_sink_t *sink;
    uint32_t n;
} xsinkarg_t;

static int s_sink_fn(void *arg, drift_value_t *vals)
{
    xsinkarg_t *a = arg;
    return a->sink->row(a->sink, vals, a->n) < 0 ? -1 : 0;
}

static int s_columns(xexec_t *x, drift_sink_t *sink, uint32_t n, const char *const *names,
                     const drift_val_type_t *types)
{
    const char **tn = xq_alloc(x, sizeof *tn * (n + 1));
    if (!tn)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        tn[i] = drift_val_type_name(types[i]);
    return sink->columns(sink, n, names, tn) < 0 ? -1 : 0;
}

static int s_exec_select(xexec_t *x, const drift_select_t *sel, drift_sink_t *sink)
{
    xsel_t *s;
    if (s_sel(x, sel, NULL, &s) < 0)
        return -1;
    if (s_columns(x, sink, s->ncols, s->names, s->types) < 0)
        return -1;
    xsinkarg_t a = {sink, s->ncols};
    return s_sel_run(s, NULL, s_sink_fn, &a);
}

/* A one-relation core over a table opened at the present for UPDATE / DELETE: its output is every column. */
static int s_dml_core(xexec_t *x, const drift_stmt_t *st, xcore_t **ret, xscope_t **ret_sc)
{
    xsel_t *sel = xq_alloc(x, sizeof *sel);
    if (!sel)
        return -1;
    sel->x = x;
    xscope_t *sc;
    xcore_t *c = s_core_new(x, sel, NULL, NULL, &sc);
    if (!c)
        return -1;
    xrel_t *r;
    uint64_t save = x->base_as_of;
    x->base_as_of = x->q->snap_seq;
    int rc = s_rel_table(c, st->table, st->alias, NULL, st->pos, &r);
    x->base_as_of = save;
    if (rc < 0)
        return -1;
    if (!r->t)
        return xq_err(x, "42809", st->pos, "cannot change view \"%s\"", st->table);
    c->nout = r->ncols;
    c->out = xq_alloc(x, sizeof *c->out * r->ncols);
    if (!c->out)
        return -1;
    for (uint32_t i = 0; i < r->ncols; i++)
        if (!(c->out[i] = s_colnode(x, r, i, st->pos)))
            return -1;
    if (st->where) {
        drift_node_t **cj = NULL;
        uint32_t n = 0;
        if (s_bind(sc, st->where) < 0 || s_split(x, st->where, &cj, &n) < 0)
            return -1;
        for (uint32_t i = 0; i < n; i++)
            if (s_conj_push(c, cj[i]) < 0)
                return -1;
    }
    *ret = c;
    *ret_sc = sc;
    return 0;
}

static int s_dml_plan(xcore_t *c)
{
    for (uint32_t k = 0; k < c->nconj; k++)
        c->conj[k].mask = xq_mask(c->conj[k].e);
    return xplan_core(c);
}

/* Encodes the pk of a full row of t. */
static int s_row_pk(xexec_t *x, drift_table_t *t, const drift_value_t *row, drift_keybuf_t *kb)
{
    drift_value_t pv[16];
    for (uint32_t i = 0; i < t->npk; i++)
        pv[i] = row[t->pk[i]];
    drift_keybuf_reset(kb);
    (void)x;
    return drift_table_encode_pk(t, pv, kb);
}

/* ---- READ COMMITTED re-evaluation of single-row UPDATEs (txn.h drift_txn_mark_delta) ---- */

/* Whether n is a constant once parameters are bound: a literal, a parameter, or a sign applied to one. */
static int s_rc_const(const drift_node_t *n)
{
    if (n->kind == DRIFT_AST_UNARY && (n->op == DRIFT_TOP_MINUS || n->op == DRIFT_TOP_PLUS))
        return n->l && s_rc_const(n->l);
    return n->kind == DRIFT_AST_LITERAL || n->kind == DRIFT_AST_PARAM;
}

/* Whether n is this statement's own reference to column pos of its table. */
static int s_rc_self(const drift_node_t *n, int32_t pos)
{
    return n->kind == DRIFT_AST_COLUMN && n->bound && n->depth == 0 && n->rel == 0 && n->col == pos;
}

/* Whether where is a conjunction of `pk column = constant` terms naming each pk column of t (bit in *seen). */
static int s_rc_pk_where(const drift_node_t *n, const drift_table_t *t, uint32_t *seen)
{
    if (n->kind == DRIFT_AST_AND)
        return s_rc_pk_where(n->l, t, seen) && s_rc_pk_where(n->r, t, seen);
    if (n->kind != DRIFT_AST_BINARY || n->bop != DRIFT_BOP_EQ)
        return 0;
    const drift_node_t *c = n->l, *k = n->r;
    if (c->kind != DRIFT_AST_COLUMN) {
        c = n->r;
        k = n->l;
    }
    if (c->kind != DRIFT_AST_COLUMN || !c->bound || c->depth != 0 || c->rel != 0 || !s_rc_const(k) || c->col < 0 ||
        (uint32_t)c->col >= t->ncols || !t->cols[c->col].in_pk)
        return 0;
    *seen |= 1u << (t->cols[c->col].in_pk - 1);
    return 1;
}

/* Whether column pos of t is in a UNIQUE index. */
static int s_rc_unique_col(const drift_table_t *t, uint32_t pos)
{
    for (uint32_t i = 0; i < t->nidx; i++)
        for (uint32_t j = 0; t->idx[i].unique && j < t->idx[i].ncols; j++)
            if (t->idx[i].cols[j] == pos)
                return 1;
    return 0;
}

/* The delta spec of an UPDATE that PostgreSQL's READ COMMITTED would re-evaluate on the newest row version and
 * DriftDB's writer can recompute alone (docs/query-language.md, "Isolation levels"): every SET is `c = c +/- k`
 * (INTEGER with an integer k, or REAL with a number) or `c = k`, k a constant or parameter, c not in the primary key
 * nor in a UNIQUE index, and the WHERE is primary-key equality. Returns the number of entries in d (0: not
 * eligible), or -1 on an evaluation error. */
static int s_rc_spec(xexec_t *x, const drift_stmt_t *st, const drift_table_t *t, const int32_t *setcol,
                     drift_txn_delta_t *d)
{
    if (!x->q->txn || drift_txn_iso(x->q->txn) != DRIFT_ISO_READ_COMMITTED || t->driftql || !st->where ||
        st->nsets == 0 || st->nsets > 64 || t->npk == 0 || t->npk > 16)
        return 0;
    uint32_t seen = 0;
    if (!s_rc_pk_where(st->where, t, &seen) || seen != (t->npk == 32 ? 0xffffffffu : (1u << t->npk) - 1))
        return 0;
    for (uint32_t j = 0; j < st->nsets; j++) {
        int32_t pos = setcol[j];
        if (pos < 0 || (uint32_t)pos >= t->ncols || t->cols[pos].in_pk || s_rc_unique_col(t, (uint32_t)pos))
            return 0;
        for (uint32_t k = 0; k < j; k++)
            if (setcol[k] == pos)
                return 0;
        const drift_node_t *e = st->sets[j].expr;
        d[j] = (drift_txn_delta_t){.pos = (uint32_t)pos};
        if (s_rc_const(e))
            continue; /* set: the value is taken from the row written */
        if (e->kind != DRIFT_AST_BINARY || (e->bop != DRIFT_BOP_ADD && e->bop != DRIFT_BOP_SUB) ||
            !s_rc_self(e->l, pos) || !s_rc_const(e->r))
            return 0;
        drift_coltype_t ct = t->cols[pos].type;
        if (ct != DRIFT_COL_INTEGER && ct != DRIFT_COL_REAL)
            return 0;
        drift_value_t v;
        drift_rowctx_t ctx = {0};
        if (drift_expr_eval(&x->env, e->r, &ctx, &v) < 0)
            return -1;
        d[j].add = 1;
        if (v.type == DRIFT_VAL_INT && (e->bop == DRIFT_BOP_ADD || v.u.i != INT64_MIN)) {
            d[j].i = e->bop == DRIFT_BOP_ADD ? v.u.i : -v.u.i;
        } else if (v.type == DRIFT_VAL_REAL && ct == DRIFT_COL_REAL) {
            d[j].is_real = 1;
            d[j].r = e->bop == DRIFT_BOP_ADD ? v.u.r : -v.u.r;
        } else
            return 0;
        if (ct == DRIFT_COL_REAL && !d[j].is_real) {
            /* REAL + integer is computed in double by the worker: send the double */
            d[j].is_real = 1;
            d[j].r = (double)d[j].i;
        }
    }
    return (int)st->nsets;
}

static int s_exec_update_delete(xexec_t *x, const drift_stmt_t *st, int64_t *ret_affected)
{
    xcore_t *c;
    xscope_t *sc;
    if (s_dml_core(x, st, &c, &sc) < 0)
        return -1;
    xrel_t *rel = c->rels[0];
    drift_table_t *t = rel->t;
    int32_t *setcol = NULL;
    if (st->kind == DRIFT_STMT_UPDATE) {
        setcol = xq_alloc(x, sizeof *setcol * (st->nsets + 1));
        if (!setcol)
            return -1;
        for (uint32_t i = 0; i < st->nsets; i++) {
            int p = drift_table_colpos(t, st->sets[i].col);
            if (p < 0)
                return xq_err(x, "42703", st->sets[i].pos, "column \"%s\" of table %s does not exist", st->sets[i].col,
                              t->name);
            setcol[i] = p; /* SET x = 1, x = 2: the last one wins (SQLite) */
            if (s_bind(sc, st->sets[i].expr) < 0)
                return -1;
        }
    }
    if (s_dml_plan(c) < 0)
        return -1;
    /* read first, then write */
    xvec_t rows = {0};
    xcollect_t cl = {x, NULL, &rows, c->nout};
    if (s_core_run(c, NULL, s_collect_fn, &cl) < 0)
        return -1;
    drift_keybuf_t kb = {0};
    int64_t n = 0;
    int rc = 0;
    drift_value_t *nv = xq_alloc(x, sizeof *nv * (t->ncols + 1));
    if (!nv)
        return -1;
    for (size_t i = 0; i < rows.n && rc == 0; i++) {
        drift_value_t *row = rows.v[i];
        if (s_row_pk(x, t, row, &kb) < 0) {
            rc = -1;
            break;
        }
        if (st->kind == DRIFT_STMT_DELETE) {
            int d = drift_table_delete(t, kb.buf, kb.len);
            if (d < 0)
                rc = -1;
            else
                n += d;
            continue;
        }
        const drift_value_t *rp[1] = {row};
        drift_rowctx_t ctx = {rp, 1, NULL, 0, NULL};
        memcpy(nv, row, sizeof *nv * t->ncols);
        for (uint32_t j = 0; j < st->nsets; j++) {
            if (drift_expr_eval(&x->env, st->sets[j].expr, &ctx, &nv[setcol[j]]) < 0) {
                rc = -1;
                break;
            }
        }
        if (rc < 0)
            break;
        drift_trow_t old = {.pk = kb.buf, .pk_len = kb.len, .vals = row};
        drift_value_t *ps = row + t->ncols;
        old.seq = ps[0].type == DRIFT_VAL_INT ? (uint64_t)ps[0].u.i : 0;
        old.ts_ns = ps[1].type == DRIFT_VAL_TIMESTAMP ? (uint64_t)ps[1].u.i : 0;
        old.end_seq = DRIFT_INDEX_SEQ_LIVE;
        old.op = DRIFT_COP_INSERT;
        if (drift_table_update(t, &old, nv) < 0) {
            rc = -1;
            break;
        }
        n++;
        if (rows.n == 1 && old.seq) {
            drift_txn_delta_t d[64];
            int nd = s_rc_spec(x, st, t, setcol, d);
            if (nd < 0 || (nd > 0 && drift_txn_mark_delta(x->q->txn, t->id, kb.buf, kb.len, old.seq, d,
                                                           (size_t)nd) < 0)) {
                if (nd > 0)
                    xq_err(x, "53200", st->pos, "out of memory");
                rc = -1;
            }
        }
    }
    drift_keybuf_free(&kb);
    if (rc < 0)
        return -1;
    *ret_affected = n;
    return 0;
}

/* The value of a DriftQL JSON argument ({json} literal or a parameter) as JSON text. */
static int s_json_arg(xexec_t *x, const drift_node_t *n, const char **ret, size_t *ret_len)
{
    drift_value_t v;
    drift_rowctx_t ctx = {0};
    if (drift_expr_eval(&x->env, n, &ctx, &v) < 0)
        return -1;
    if (v.type != DRIFT_VAL_JSON && v.type != DRIFT_VAL_TEXT)
        return xq_err(x, "22023", n->pos, "a JSON document is expected, not %s", drift_val_type_name(v.type));
    *ret = v.u.s.p;
    *ret_len = v.u.s.n;
    return 0;
}

static int s_exec_insert(xexec_t *x, const drift_stmt_t *st, int64_t *ret_affected)
{
    drift_table_t *t;
    if (drift_table_open(x->q, st->table, x->q->snap_seq, st->pos, &t) < 0)
        return -1;
    if (t->view_sql)
        return xq_err(x, "42809", st->pos, "cannot change view \"%s\"", t->name);
    if (st->json) {
        const char *js;
        size_t jn;
        if (s_json_arg(x, st->json, &js, &jn) < 0)
            return -1;
        if (drift_table_insert_doc(t, js, jn) < 0)
            return -1;
        *ret_affected = 1;
        return 0;
    }
    uint32_t *map = xq_alloc(x, sizeof *map * (t->ncols + 1));
    uint32_t nmap = 0;
    if (!map)
        return -1;
    if (st->ncols) {
        for (uint32_t i = 0; i < st->ncols; i++) {
            int p = drift_table_colpos(t, st->cols[i]);
            if (p < 0)
                return xq_err(x, "42703", st->pos, "column \"%s\" of table %s does not exist", st->cols[i], t->name);
            for (uint32_t j = 0; j < nmap; j++)
                if (map[j] == (uint32_t)p)
                    return xq_err(x, "42701", st->pos, "column \"%s\" specified more than once", st->cols[i]);
            map[nmap++] = (uint32_t)p;
        }
    } else {
        for (uint32_t i = 0; i < t->ncols; i++)
            if (!t->cols[i].hidden)
                map[nmap++] = i;
    }
    drift_value_t *vals = xq_alloc(x, sizeof *vals * (t->ncols + 1));
    if (!vals)
        return -1;
    if (!st->select) { /* INSERT ... DEFAULT VALUES: one row of defaults */
        if (st->ncols)
            return xq_err(x, "42601", st->pos, "DEFAULT VALUES takes no column list");
        for (uint32_t j = 0; j < t->ncols; j++)
            vals[j] = t->cols[j].has_default ? t->cols[j].default_val : drift_val_null();
        if ((st->replace ? drift_table_replace(t, vals, NULL) : drift_table_insert(t, vals)) < 0)
            return -1;
        *ret_affected = 1;
        return 0;
    }
    /* DEFAULT in the rows of the INSERT's own VALUES (a NULL expression): the column's default */
    const drift_select_t *vs = st->select;
    for (uint32_t i = 0; i < vs->nvalues; i++) {
        for (uint32_t j = 0; j < vs->nitems; j++) {
            if (vs->values[i][j])
                continue;
            if (vs->nitems != nmap)
                return xq_err(x, "42601", vs->pos, "table %s has %u columns but %u values were supplied", t->name,
                              nmap, vs->nitems);
            drift_node_t *d = xq_alloc(x, sizeof *d);
            if (!d)
                return -1;
            memset(d, 0, sizeof *d);
            d->kind = DRIFT_AST_LITERAL;
            d->pos = vs->pos;
            d->agg = -1;
            d->value = t->cols[map[j]].has_default ? t->cols[map[j]].default_val : drift_val_null();
            vs->values[i][j] = d;
        }
    }
    xsel_t *s;
    if (s_sel(x, st->select, NULL, &s) < 0)
        return -1;
    if (s->ncols != nmap)
        return xq_err(x, "42601", st->select->pos, "table %s has %u columns but %u values were supplied", t->name, nmap,
                      s->ncols);
    xvec_t rows = {0};
    xcollect_t cl = {x, NULL, &rows, s->ncols};
    if (s_sel_run(s, NULL, s_collect_fn, &cl) < 0)
        return -1;
    for (size_t i = 0; i < rows.n; i++) {
        for (uint32_t j = 0; j < t->ncols; j++)
            vals[j] = t->cols[j].has_default ? t->cols[j].default_val : drift_val_null();
        for (uint32_t j = 0; j < nmap; j++)
            vals[map[j]] = rows.v[i][j];
        if ((st->replace ? drift_table_replace(t, vals, NULL) : drift_table_insert(t, vals)) < 0)
            return -1;
    }
    *ret_affected = (int64_t)rows.n;
    return 0;
}

/* A scalar as the JSON value a document key field holds ('k1' -> "k1", 5 -> 5), canonical like the stored one. */
static int s_doc_keyval(xexec_t *x, const drift_value_t *v, drift_value_t *out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    *out = *v;
    switch (v->type) {
    case DRIFT_VAL_TEXT:
    case DRIFT_VAL_INT:
    case DRIFT_VAL_REAL:
    case DRIFT_VAL_BOOL: break;
    default: return 0;
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (v->type == DRIFT_VAL_TEXT) {
        msgpack_pack_str(&pk, v->u.s.n);
        msgpack_pack_str_body(&pk, v->u.s.p, v->u.s.n);
    } else if (v->type == DRIFT_VAL_INT) {
        msgpack_pack_int64(&pk, v->u.i);
    } else if (v->type == DRIFT_VAL_REAL) {
        msgpack_pack_double(&pk, v->u.r);
    } else if (v->u.b) {
        msgpack_pack_true(&pk);
    } else {
        msgpack_pack_false(&pk);
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    drift_strbuf_t b = {0};
    int rc = -1;
    if (msgpack_unpack_next(&u, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS &&
        drift_json_from_msgpack(&u.data, &b) == 0 && !b.oom) {
        char *p = drift_arena_memdup(x->arena, b.p ? b.p : "", b.len);
        if (p) {
            *out = drift_val_json(p, b.len);
            rc = 0;
        }
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    drift_strbuf_free(&b);
    return rc < 0 ? drift_sqlerr_set(x->q->err, "53200", 0, "out of memory") : 0;
}

/* KEY k / KEY (k1, k2) of a DriftQL statement, encoded. */
static int s_key(xexec_t *x, const drift_stmt_t *st, drift_table_t *t, drift_keybuf_t *kb)
{
    if (st->nkey != t->npk)
        return xq_err(x, "42601", st->pos, "table %s has a %u-column key, KEY gives %u value%s", t->name, t->npk,
                      st->nkey, st->nkey == 1 ? "" : "s");
    drift_value_t pv[16];
    drift_rowctx_t ctx = {0};
    for (uint32_t i = 0; i < st->nkey; i++) {
        if (drift_expr_eval(&x->env, st->key[i], &ctx, &pv[i]) < 0)
            return -1;
        if (t->cols[t->pk[i]].type == DRIFT_COL_JSON && s_doc_keyval(x, &pv[i], &pv[i]) < 0)
            return -1;
    }
    return drift_table_encode_pk(t, pv, kb);
}

typedef struct {
    xexec_t *x;
    drift_sink_t *sink;
    drift_table_t *t;
    drift_value_t *row;
    uint32_t *cols;
    uint32_t ncols;
} xdrift_t;

static int s_drift_fn(const drift_trow_t *v, void *arg)
{
    xdrift_t *d = arg;
    d->row[0] = drift_val_int((int64_t)v->seq);
    d->row[1] = drift_val_ts((int64_t)v->ts_ns);
    const char *op = s_opname(v->op);
    d->row[2] = drift_val_text(op, strlen(op));
    for (uint32_t i = 0; i < d->ncols; i++)
        d->row[3 + i] = v->vals && v->op != DRIFT_COP_DELETE ? v->vals[d->cols[i]] : drift_val_null();
    return d->sink->row(d->sink, d->row, 3 + d->ncols) < 0 ? -1 : 0;
}

static int s_exec_show_drift(xexec_t *x, const drift_stmt_t *st, drift_sink_t *sink)
{
    drift_table_t *t;
    if (drift_table_open(x->q, st->table, x->base_as_of, st->pos, &t) < 0)
        return -1;
    drift_keybuf_t kb = {0};
    int rc = -1;
    xdrift_t d = {x, sink, t, NULL, NULL, 0};
    const char **names = xq_alloc(x, sizeof *names * (t->ncols + 3));
    drift_val_type_t *types = xq_alloc(x, sizeof *types * (t->ncols + 3));
    d.cols = xq_alloc(x, sizeof *d.cols * (t->ncols + 1));
    d.row = xq_alloc(x, sizeof *d.row * (t->ncols + 3));
    if (!names || !types || !d.cols || !d.row)
        goto out;
    names[0] = "_seq";
    types[0] = DRIFT_VAL_INT;
    names[1] = "_ts";
    types[1] = DRIFT_VAL_TIMESTAMP;
    names[2] = "_op";
    types[2] = DRIFT_VAL_TEXT;
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (t->cols[i].hidden)
            continue;
        names[3 + d.ncols] = t->cols[i].name;
        types[3 + d.ncols] = s_coltype_val(t->cols[i].type);
        d.cols[d.ncols++] = i;
    }
    if (s_key(x, st, t, &kb) < 0)
        goto out;
    if (s_columns(x, sink, 3 + d.ncols, names, types) < 0)
        goto out;
    if (drift_table_history(t, kb.buf, kb.len, s_drift_fn, &d) != 0)
        goto out;
    rc = 0;
out:
    drift_keybuf_free(&kb);
    return rc;
}

static int s_exec_patch_delete(xexec_t *x, const drift_stmt_t *st, int64_t *ret_affected)
{
    drift_table_t *t;
    if (drift_table_open(x->q, st->table, x->q->snap_seq, st->pos, &t) < 0)
        return -1;
    if (t->view_sql)
        return xq_err(x, "42809", st->pos, "cannot change view \"%s\"", t->name);
    drift_keybuf_t kb = {0};
    int rc = -1;
    if (s_key(x, st, t, &kb) < 0)
        goto out;
    if (st->kind == DRIFT_STMT_PATCH) {
        const char *js;
        size_t jn;
        if (s_json_arg(x, st->patch, &js, &jn) < 0)
            goto out;
        rc = drift_table_patch_doc(t, kb.buf, kb.len, js, jn);
    } else {
        rc = drift_table_delete(t, kb.buf, kb.len);
    }
    if (rc >= 0) {
        *ret_affected = rc;
        rc = 0;
    }
out:
    drift_keybuf_free(&kb);
    return rc < 0 ? -1 : 0;
}

static int s_exec_snapshot(xexec_t *x, const drift_stmt_t *st, drift_sink_t *sink)
{
    drift_table_t *t;
    if (drift_table_open(x->q, st->table, x->base_as_of, st->pos, &t) < 0)
        return -1;
    drift_tscan_t *s;
    if (drift_table_scan(t, NULL, 0, NULL, 0, &s) < 0)
        return -1;
    drift_trow_t row;
    int64_t n = 0;
    int rc;
    while ((rc = drift_tscan_next(s, &row)) == 1)
        n++;
    drift_tscan_close(&s);
    if (rc < 0)
        return -1;
    uint64_t seq = x->base_as_of, ts = 0, aseq = 0, ats = 0;
    if (x->q->index && drift_index_applied(x->q->index, &aseq, &ats) == 0 && aseq == seq)
        ts = ats;
    else if (x->q->hdr && x->q->hdr->commit_seq == seq)
        ts = x->q->hdr->commit_ts_ns;
    static const char *const names[] = {"table", "seq", "ts", "rows"};
    const drift_val_type_t types[] = {DRIFT_VAL_TEXT, DRIFT_VAL_INT, DRIFT_VAL_TIMESTAMP, DRIFT_VAL_INT};
    if (s_columns(x, sink, 4, names, types) < 0)
        return -1;
    drift_value_t v[4] = {drift_val_text(t->name, strlen(t->name)), drift_val_int((int64_t)seq),
                          ts ? drift_val_ts((int64_t)ts) : drift_val_null(), drift_val_int(n)};
    return sink->row(sink, v, 4) < 0 ? -1 : 0;
}

static int s_table_fn(const char *name, uint32_t id, void *arg)
{
    drift_sink_t *sink = arg;
    (void)id;
    drift_value_t v = drift_val_text(name, strlen(name));
    return sink->row(sink, &v, 1) < 0 ? -1 : 0;
}

static int s_exec_show_tables(xexec_t *x, drift_sink_t *sink)
{
    static const char *const names[] = {"name"};
    const drift_val_type_t types[] = {DRIFT_VAL_TEXT};
    if (s_columns(x, sink, 1, names, types) < 0)
        return -1;
    return drift_table_list(x->q, x->base_as_of, s_table_fn, sink) != 0 ? -1 : 0;
}

/* EXPLAIN: rows of text. */
typedef struct {
    drift_sink_t *sink;
} xexpl_t;

static int s_line_fn(void *arg, const char *line)
{
    xexpl_t *e = arg;
    drift_value_t v = drift_val_text(line, strlen(line));
    return e->sink->row(e->sink, &v, 1) < 0 ? -1 : 0;
}

static int s_discard_fn(void *arg, drift_value_t *vals)
{
    (void)vals;
    ++*(uint64_t *)arg;
    return 0;
}

static int s_exec_explain(xexec_t *x, const drift_stmt_t *st, drift_sink_t *sink)
{
    const drift_stmt_t *in = st->inner;
    static const char *const names[] = {"QUERY PLAN"};
    const drift_val_type_t types[] = {DRIFT_VAL_TEXT};
    xexpl_t e = {sink};
    if (!in)
        return xq_err(x, "42601", st->pos, "EXPLAIN needs a statement");
    xsel_t *s = NULL;
    const char *head = NULL, *tail = NULL;
    xcore_t *c = NULL;
    switch (in->kind) {
    case DRIFT_STMT_SELECT:
        if (s_sel(x, in->select, NULL, &s) < 0)
            return -1;
        if (st->analyze) {
            struct timespec t0, t1;
            x->timing = 1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            uint64_t rows = 0;
            if (s_sel_run(s, NULL, s_discard_fn, &rows) < 0)
                return -1;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            tail =
                drift_arena_printf(x->arena, "EXECUTION: %" PRIu64 " row%s in %.3f ms", rows, rows == 1 ? "" : "s", ms);
        }
        break;
    case DRIFT_STMT_INSERT:
        if (st->analyze)
            return xq_err(x, "0A000", st->pos, "EXPLAIN ANALYZE of a write is not supported");
        head = drift_arena_printf(x->arena, "INSERT INTO %s", in->table);
        if (in->select && s_sel(x, in->select, NULL, &s) < 0)
            return -1;
        break;
    case DRIFT_STMT_UPDATE:
    case DRIFT_STMT_DELETE: {
        if (st->analyze)
            return xq_err(x, "0A000", st->pos, "EXPLAIN ANALYZE of a write is not supported");
        xscope_t *sc;
        if (s_dml_core(x, in, &c, &sc) < 0)
            return -1;
        for (uint32_t i = 0; in->kind == DRIFT_STMT_UPDATE && i < in->nsets; i++)
            if (s_bind(sc, in->sets[i].expr) < 0)
                return -1;
        if (s_dml_plan(c) < 0)
            return -1;
        head =
            drift_arena_printf(x->arena, "%s %s", in->kind == DRIFT_STMT_UPDATE ? "UPDATE" : "DELETE FROM", in->table);
        s = c->sel;
        s->cores = xq_alloc(x, sizeof *s->cores);
        if (!s->cores)
            return -1;
        s->cores[0] = c;
        s->ncores = 1;
        break;
    }
    default: return xq_err(x, "0A000", st->pos, "EXPLAIN supports SELECT, INSERT, UPDATE and DELETE");
    }
    if (s_columns(x, sink, 1, names, types) < 0)
        return -1;
    int depth = 0;
    if (head) {
        if (s_line_fn(&e, head) < 0)
            return -1;
        depth = 1;
    }
    if (s && xplan_explain(s, depth, st->analyze, s_line_fn, &e) < 0)
        return -1;
    if (tail && s_line_fn(&e, tail) < 0)
        return -1;
    return 0;
}

static int s_exec_statement(xexec_t *x, drift_qctx_t *q, const drift_stmt_t *st, const msgpack_object *params,
                            drift_sink_t *sink, int64_t *ret_affected)
{
    x->q = q;
    x->arena = q->arena;
    x->env.arena = q->arena;
    x->env.params = params;
    x->env.sql = q->sql;
    x->env.sql_len = q->sql_len;
    x->env.err = q->err;
    x->env.subquery = s_subquery;
    x->env.subquery_arg = x;
    x->env.now_ns = q->now_ns;
    x->base_as_of = q->has_default_as_of ? q->default_as_of : q->snap_seq;
    *ret_affected = -1;
    switch (st->kind) {
    case DRIFT_STMT_SELECT: return s_exec_select(x, st->select, sink);
    case DRIFT_STMT_EXPLAIN: return s_exec_explain(x, st, sink);
    case DRIFT_STMT_INSERT: return s_exec_insert(x, st, ret_affected);
    case DRIFT_STMT_UPDATE:
    case DRIFT_STMT_DELETE: return s_exec_update_delete(x, st, ret_affected);
    case DRIFT_STMT_PATCH:
    case DRIFT_STMT_SOFT_DELETE: return s_exec_patch_delete(x, st, ret_affected);
    case DRIFT_STMT_SHOW_DRIFT: return s_exec_show_drift(x, st, sink);
    case DRIFT_STMT_SNAPSHOT: return s_exec_snapshot(x, st, sink);
    case DRIFT_STMT_SHOW_TABLES: return s_exec_show_tables(x, sink);
    case DRIFT_STMT_COMPACT:
        return xq_err(x, DRIFT_SQLSTATE_NOT_SUPPORTED, st->pos,
                      "COMPACT is not yet available: the compactor is not built");
    case DRIFT_STMT_ANALYZE: *ret_affected = 0; return drift_stats_analyze(q, st->table, st->pos);
    case DRIFT_STMT_CREATE_VIEW: {
        /* the SELECT must bind now (a view over a missing table or column is refused), as of the present */
        xsel_t *s;
        x->base_as_of = q->snap_seq;
        *ret_affected = 0;
        if (s_sel(x, st->select, NULL, &s) < 0)
            return -1;
        if (st->nview_cols && st->nview_cols != s->ncols)
            return xq_err(x, "42601", st->pos, "view %s has %u column names but its SELECT has %u columns", st->name,
                          st->nview_cols, s->ncols);
        for (uint32_t i = 0; i < st->nview_cols; i++)
            for (uint32_t j = 0; j < i; j++)
                if (strcmp(st->view_cols[i], st->view_cols[j]) == 0)
                    return xq_err(x, "42701", st->pos, "column \"%s\" specified more than once", st->view_cols[i]);
        return drift_ddl_execute(q, st);
    }
    case DRIFT_STMT_DROP_VIEW: *ret_affected = 0; return drift_ddl_execute(q, st);
    default:
        return xq_err(x, DRIFT_SQLSTATE_NOT_SUPPORTED, st->pos, "statement kind %d is not run by the executor",
                      (int)st->kind);
    }
}

/* Frees the parsed views of the statement. */
static void s_views_free(xexec_t *x)
{
    for (uint32_t i = 0; i < x->nview_asts; i++)
        drift_ast_destroy(&x->view_asts[i]);
    x->nview_asts = 0;
}

int drift_exec_statement(drift_qctx_t *q, const drift_stmt_t *st, const msgpack_object *params, drift_sink_t *sink,
                         int64_t *ret_affected)
{
    xexec_t x;
    memset(&x, 0, sizeof x);
    int rc = s_exec_statement(&x, q, st, params, sink, ret_affected);
    s_views_free(&x);
    return rc;
}
