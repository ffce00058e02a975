/* modules/query/plan.c — the planner: per relation the access path from the
 * conjuncts of WHERE (primary-key point / prefix / range / IN, secondary-index
 * equality / range / IN — history relations take the primary-key paths only, as
 * version scans of the keys they select —, hash join on an equi-condition, nested loop over a
 * materialized inner side, else a full scan), the join order (greedy: the
 * relation with the most selective path given the ones already placed, the
 * smallest first among equals; syntactic when a LEFT JOIN is present), the
 * placement of each conjunct at the first level where everything it reads is
 * bound, and the EXPLAIN text of a compiled select.
 *
 * The paths only narrow what is read: every conjunct is re-checked on every
 * row, so a path never changes a result, and a probe value whose type does not
 * fit the column (decided at run time by exec.c) falls back to a scan.
 * Single-threaded; everything lives in the statement's arena. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "modules/query/exec_int.h"
#include "modules/query/stats.h"

/* ------------------------------------------------------------------ predicates */

typedef enum { XP_EQ = 1, XP_LO, XP_HI, XP_BETWEEN, XP_IN } xpk_t;

typedef struct {
    xpk_t kind;
    uint32_t col;
    int incl;                  /* XP_LO / XP_HI */
    const drift_node_t *a, *b; /* probe (XP_EQ/LO/HI), bounds (BETWEEN) */
    const drift_node_t *in;    /* IN_LIST node */
} xpred_t;

/* Whether n is a regular column of relation rel at depth 0; its column in *col. */
static int s_is_col(const drift_node_t *n, const xrel_t *rel, uint32_t *col)
{
    if (!n || n->kind != DRIFT_AST_COLUMN || !n->bound || n->depth != 0 || (uint32_t)n->rel != rel->index)
        return 0;
    if ((uint32_t)n->col >= rel->nreg)
        return 0;
    *col = (uint32_t)n->col;
    return 1;
}

/* Whether expression n only reads relations of avail (and constants / outer values). */
static int s_avail(const drift_node_t *n, uint64_t avail)
{
    return (xq_mask(n) & ~avail) == 0;
}

/* Reads conjunct e as a predicate usable on relation rel when the relations avail are bound. */
static int s_pred(const drift_node_t *e, const xrel_t *rel, uint64_t avail, xpred_t *p)
{
    memset(p, 0, sizeof *p);
    avail &= ~(1ULL << rel->index);
    if (e->kind == DRIFT_AST_BINARY && e->bop >= DRIFT_BOP_EQ && e->bop <= DRIFT_BOP_GE && e->bop != DRIFT_BOP_NE) {
        drift_bop_t op = e->bop;
        const drift_node_t *probe;
        if (s_is_col(e->l, rel, &p->col) && s_avail(e->r, avail)) {
            probe = e->r;
        } else if (s_is_col(e->r, rel, &p->col) && s_avail(e->l, avail)) {
            probe = e->l;
            op = op == DRIFT_BOP_LT   ? DRIFT_BOP_GT
                 : op == DRIFT_BOP_LE ? DRIFT_BOP_GE
                 : op == DRIFT_BOP_GT ? DRIFT_BOP_LT
                 : op == DRIFT_BOP_GE ? DRIFT_BOP_LE
                                      : op;
        } else {
            return 0;
        }
        p->a = probe;
        switch (op) {
        case DRIFT_BOP_EQ: p->kind = XP_EQ; break;
        case DRIFT_BOP_GT: p->kind = XP_LO; break;
        case DRIFT_BOP_GE:
            p->kind = XP_LO;
            p->incl = 1;
            break;
        case DRIFT_BOP_LT: p->kind = XP_HI; break;
        case DRIFT_BOP_LE:
            p->kind = XP_HI;
            p->incl = 1;
            break;
        default: return 0;
        }
        return 1;
    }
    if (e->kind == DRIFT_AST_BETWEEN && !e->negate && e->nargs == 2 && s_is_col(e->l, rel, &p->col) &&
        s_avail(e->args[0], avail) && s_avail(e->args[1], avail)) {
        p->kind = XP_BETWEEN;
        p->a = e->args[0];
        p->b = e->args[1];
        return 1;
    }
    if (e->kind == DRIFT_AST_IN_LIST && !e->negate && e->nargs > 0 && s_is_col(e->l, rel, &p->col)) {
        for (uint32_t i = 0; i < e->nargs; i++)
            if (!s_avail(e->args[i], avail))
                return 0;
        p->kind = XP_IN;
        p->in = e;
        return 1;
    }
    return 0;
}

typedef struct {
    xpred_t *p;
    uint32_t n;
} xpreds_t;

/* The first predicate of a kind on a column, or NULL. */
static const xpred_t *s_find(const xpreds_t *ps, uint32_t col, xpk_t kind)
{
    for (uint32_t i = 0; i < ps->n; i++)
        if (ps->p[i].col == col && ps->p[i].kind == kind)
            return &ps->p[i];
    return NULL;
}

/* Fills the range part of acc on column col; returns 1 when there is a bound. */
static int s_range(const xpreds_t *ps, uint32_t col, xacc_t *acc)
{
    const xpred_t *bt = s_find(ps, col, XP_BETWEEN);
    const xpred_t *lo = s_find(ps, col, XP_LO), *hi = s_find(ps, col, XP_HI);
    if (bt) {
        acc->lo = bt->a;
        acc->hi = bt->b;
        acc->lo_incl = acc->hi_incl = 1;
        return 1;
    }
    if (lo) {
        acc->lo = lo->a;
        acc->lo_incl = lo->incl;
    }
    if (hi) {
        acc->hi = hi->a;
        acc->hi_incl = hi->incl;
    }
    return lo || hi;
}

/* Collects the leaves of an OR tree that are `col = probe` on one column of rel into in (args); 0 when
 * some leaf is something else. */
static int s_or_leaves(const drift_node_t *e, const xrel_t *rel, uint64_t avail, int *col, drift_node_t **args,
                       uint32_t *n, uint32_t cap)
{
    if (e->kind == DRIFT_AST_OR)
        return s_or_leaves(e->l, rel, avail, col, args, n, cap) && s_or_leaves(e->r, rel, avail, col, args, n, cap);
    xpred_t p;
    if (*n >= cap || !s_pred(e, rel, avail, &p) || p.kind != XP_EQ || (*col >= 0 && (uint32_t)*col != p.col))
        return 0;
    *col = (int)p.col;
    args[(*n)++] = (drift_node_t *)p.a;
    return 1;
}

/* `col = a OR col = b ...` on one column of rel as a synthetic IN list (the OR itself stays the filter). */
static int s_or_pred(xcore_t *c, const drift_node_t *e, const xrel_t *rel, uint64_t avail, xpred_t *p)
{
    drift_node_t *args[64];
    uint32_t n = 0;
    int col = -1;
    if (e->kind != DRIFT_AST_OR || !s_or_leaves(e, rel, avail, &col, args, &n, 64) || col < 0)
        return 0;
    drift_node_t *in = xq_alloc(c->x, sizeof *in);
    drift_node_t **a = xq_alloc(c->x, sizeof *a * n);
    if (!in || !a)
        return 0;
    memcpy(a, args, sizeof *a * n);
    in->kind = DRIFT_AST_IN_LIST;
    in->pos = e->pos;
    in->agg = -1;
    in->args = a;
    in->nargs = n;
    memset(p, 0, sizeof *p);
    p->kind = XP_IN;
    p->col = (uint32_t)col;
    p->in = in;
    return 1;
}

/* ------------------------------------------------------------------ statistics and selectivity */

#define C_SEEK 4.0  /* one key lookup (a B-tree descent), in sequential row reads */
#define C_FETCH 5.0 /* one secondary-index entry plus the row it points to */
#define C_PAIR 0.2  /* one pair compared by a nested loop over materialized rows */

/* The ANALYZE statistics of rel as of its point (looked up once), or NULL. */
static const drift_stats_t *s_stats(xrel_t *rel)
{
    if (!rel->stats_loaded) {
        rel->stats_loaded = 1;
        drift_stats_t *st = NULL;
        if (rel->t && !rel->history && !rel->derived && drift_stats_load(rel->t, &st) == 1)
            rel->stats = st;
    }
    return rel->stats;
}

/* The statistics of column col of rel, or NULL. */
static const drift_colstats_t *s_colst(xrel_t *rel, uint32_t col)
{
    const drift_stats_t *st = s_stats(rel);
    if (!st || col >= st->ncols || !st->cols[col].present)
        return NULL;
    return &st->cols[col];
}

/* A probe's value when it is known at plan time (a literal), else NULL. */
static const drift_value_t *s_lit(const drift_node_t *n)
{
    return n && n->kind == DRIFT_AST_LITERAL ? &n->value : NULL;
}

/* Fraction of rel's rows with col = probe (a value of other relations or unknown: 1/ndistinct). */
static double s_eqsel(xrel_t *rel, uint32_t col, const drift_node_t *probe)
{
    const drift_colstats_t *cs = s_colst(rel, col);
    return cs ? drift_stats_sel_eq(cs, s_lit(probe)) : 0.1;
}

/* Fraction of rel's rows a predicate keeps. */
static double s_psel(xrel_t *rel, const xpred_t *p)
{
    const drift_colstats_t *cs = s_colst(rel, p->col);
    const drift_value_t *a = s_lit(p->a), *b = s_lit(p->b);
    double sel;
    switch (p->kind) {
    case XP_EQ: return s_eqsel(rel, p->col, p->a);
    case XP_IN:
        sel = 0;
        for (uint32_t i = 0; i < p->in->nargs; i++)
            sel += s_eqsel(rel, p->col, p->in->args[i]);
        return sel > 1 ? 1 : sel;
    case XP_LO: return cs ? drift_stats_sel_range(cs, a, p->incl, !a, NULL, 0, 0) : 1.0 / 3;
    case XP_HI: return cs ? drift_stats_sel_range(cs, NULL, 0, 0, a, p->incl, !a) : 1.0 / 3;
    case XP_BETWEEN: return cs ? drift_stats_sel_range(cs, a, 1, !a, b, 1, !b) : 0.25;
    }
    return 0.25;
}

/* Fraction of rel's rows a conjunct keeps (the other relations it reads are bound). */
static double s_esel(xrel_t *rel, const drift_node_t *e)
{
    xpred_t p;
    uint32_t col;
    double a, b;
    switch (e->kind) {
    case DRIFT_AST_AND: return s_esel(rel, e->l) * s_esel(rel, e->r);
    case DRIFT_AST_OR:
        a = s_esel(rel, e->l);
        b = s_esel(rel, e->r);
        return a + b - a * b;
    case DRIFT_AST_NOT: return 1.0 - s_esel(rel, e->l);
    case DRIFT_AST_ISNULL:
        if (s_is_col(e->l, rel, &col)) {
            const drift_colstats_t *cs = s_colst(rel, col);
            return cs ? drift_stats_sel_null(cs, e->negate) : e->negate ? 0.9 : 0.1;
        }
        break;
    case DRIFT_AST_BINARY:
        if (e->bop == DRIFT_BOP_NE) {
            if (s_is_col(e->l, rel, &col))
                return 1.0 - s_eqsel(rel, col, e->r);
            if (s_is_col(e->r, rel, &col))
                return 1.0 - s_eqsel(rel, col, e->l);
        }
        break;
    case DRIFT_AST_IN_LIST:
        if (e->negate && s_is_col(e->l, rel, &col)) {
            double sel = 0;
            for (uint32_t i = 0; i < e->nargs; i++)
                sel += s_eqsel(rel, col, e->args[i]);
            return sel >= 1 ? 0 : 1.0 - sel;
        }
        break;
    default: break;
    }
    if (s_pred(e, rel, ~0ULL, &p))
        return s_psel(rel, &p);
    return 0.25;
}

/* Fraction of rel's rows the key / index path a reads (one probe). */
static double s_pathsel(xrel_t *rel, const xacc_t *a)
{
    const uint32_t *cols = a->idx ? a->idx->cols : rel->t->pk;
    uint32_t ncols = a->idx ? a->idx->ncols : rel->t->npk;
    const drift_stats_t *st = s_stats(rel);
    double sel = 1;
    int known = 1;
    for (uint32_t k = 0; k < a->neq; k++) {
        sel *= s_eqsel(rel, cols[k], a->eq[k]);
        known &= s_lit(a->eq[k]) != NULL;
    }
    if (a->neq && !known && a->idx && st) {
        /* probes known only at run time: 1 / distinct values of the index prefix */
        for (uint32_t i = 0; i < st->nidx; i++)
            if (st->idx[i].id == a->idx->id && a->neq <= st->idx[i].nprefix && st->idx[i].nd[a->neq - 1] >= 1)
                sel = (1.0 - (s_colst(rel, cols[0]) ? s_colst(rel, cols[0])->nullfrac : 0)) /
                      st->idx[i].nd[a->neq - 1];
    }
    if (a->in) {
        xpred_t p = {.kind = XP_IN, .col = cols[a->neq], .in = a->in};
        sel *= s_psel(rel, &p);
    }
    if ((a->lo || a->hi) && a->neq < ncols) {
        xpred_t p = {.col = cols[a->neq]};
        const drift_colstats_t *cs = s_colst(rel, p.col);
        const drift_value_t *lo = s_lit(a->lo), *hi = s_lit(a->hi);
        sel *= cs ? drift_stats_sel_range(cs, lo, a->lo_incl, a->lo && !lo, hi, a->hi_incl, a->hi && !hi)
                  : (a->lo && a->hi ? 0.25 : 1.0 / 3);
    }
    return sel;
}

/* Rows one key yields: 1, or for a history relation its versions (a guess: the version estimate is twice the
 * live rows). */
static double s_per_key(const xrel_t *rel)
{
    return rel->history ? 2.0 : 1.0;
}

/* Cost-based estimate (cost, rows out) of reading rel by a once per each of n incoming rows, when the
 * relations avail are bound and cj are the conjuncts in play. Costs count sequential row reads. */
static void s_cost_cbo(xrel_t *rel, const xacc_t *a, uint64_t avail, double n, const xconj_t *cj, uint32_t ncj,
                       double *ret_cost, double *ret_rows)
{
    const drift_stats_t *st = s_stats(rel);
    double N = st ? st->rows : (double)xq_rel_est(rel);
    if (N < 1)
        N = 1;
    uint64_t me = 1ULL << rel->index;
    double sel = 1, fsel = 1; /* every conjunct placed at this level; those reading rel alone */
    for (uint32_t i = 0; i < ncj; i++) {
        uint64_t m = cj[i].mask;
        if (!(m & me) || (m & ~(avail | me)))
            continue;
        double s1 = s_esel(rel, cj[i].e);
        sel *= s1;
        if (m == me)
            fsel *= s1;
    }
    double cost, m;
    switch (a->kind) {
    case XA_PK_EQ:
        cost = n * C_SEEK;
        if (sel * N > s_per_key(rel))
            sel = s_per_key(rel) / N;
        cost += n * (s_per_key(rel) - 1);
        break;
    case XA_PK_IN: cost = n * a->in->nargs * (C_SEEK + s_per_key(rel) - 1); break;
    case XA_PK_RANGE:
        m = N * s_pathsel(rel, a);
        cost = n * (C_SEEK + m);
        break;
    case XA_IDX_EQ:
    case XA_IDX_IN:
    case XA_IDX_RANGE:
        m = N * s_pathsel(rel, a);
        if (a->kind == XA_IDX_EQ && a->idx->unique && a->neq == a->idx->ncols && m > 1)
            m = 1;
        cost = n * (C_SEEK * (a->in ? a->in->nargs : 1) + m * C_FETCH);
        break;
    case XA_HASH: cost = N + n; break;
    case XA_MAT: cost = N + n * (N * fsel > 1 ? N * fsel : 1) * C_PAIR; break;
    default: cost = n * N; break;
    }
    double rows = n * N * sel;
    *ret_cost = cost;
    *ret_rows = rows < 1 ? 1 : rows;
}

/* ------------------------------------------------------------------ access paths */

/* The choice among candidate paths: by score (rules, no statistics) or by estimated cost. */
typedef struct {
    xcore_t *c;
    xrel_t *rel;
    uint64_t avail;
    const xconj_t *cj;
    uint32_t ncj;
    double n;
    int best;     /* rules: the best score so far */
    double bcost; /* cost: the cheapest so far (< 0: none) */
    xacc_t *ret;
} s_choice_t;

/* Takes candidate path a (rule score sc) when it beats the best so far. */
static void s_consider(s_choice_t *ch, const xacc_t *a, int sc)
{
    if (!ch->c->cbo) {
        if (sc > ch->best) {
            ch->best = sc;
            *ch->ret = *a;
        }
        return;
    }
    double cost, rows;
    s_cost_cbo(ch->rel, a, ch->avail, ch->n, ch->cj, ch->ncj, &cost, &rows);
    if (ch->bcost < 0 || cost < ch->bcost) {
        ch->bcost = cost;
        ch->best = sc;
        *ch->ret = *a;
    }
}

/* The best access path of rel given the bound relations avail (n incoming rows) and the conjuncts cj;
 * returns its score (rules). SET enable_indexscan / enable_hashjoin = off leave those paths out. */
static int s_best(xcore_t *c, xrel_t *rel, uint64_t avail, const xconj_t *cj, uint32_t ncj, double n, xacc_t *ret)
{
    xpred_t pbuf[64];
    xpreds_t ps = {pbuf, 0};
    uint32_t off = c->x->q ? c->x->q->plan_off : 0;
    for (uint32_t i = 0; i < ncj && ps.n < 64; i++)
        if (s_pred(cj[i].e, rel, avail, &ps.p[ps.n]) || s_or_pred(c, cj[i].e, rel, avail, &ps.p[ps.n]))
            ps.n++;
    s_choice_t ch = {.c = c, .rel = rel, .avail = avail, .cj = cj, .ncj = ncj, .n = n, .best = -1, .bcost = -1,
                     .ret = ret};
    xacc_t a;
    memset(&a, 0, sizeof a);
    a.kind = avail ? XA_MAT : XA_FULL;
    s_consider(&ch, &a, 0);
    if (rel->t && !(off & DRIFT_PLAN_NO_INDEXSCAN)) {
        /* history relations (FOR SYSTEM_TIME ALL / BETWEEN / FROM..TO) take the primary-key paths too: a
         * version scan of the keys they select; secondary indexes are not used for them (full version scan) */
        drift_table_t *t = rel->t;
        /* primary key */
        memset(&a, 0, sizeof a);
        uint32_t k = 0;
        while (k < t->npk) {
            const xpred_t *eq = s_find(&ps, t->pk[k], XP_EQ);
            if (!eq)
                break;
            a.eq[k++] = eq->a;
        }
        a.neq = k;
        if (t->npk > 0 && k == t->npk) {
            a.kind = XA_PK_EQ;
            *ret = a;
            return 100;
        }
        if (t->npk > 0) {
            int sc = -1;
            if (k == 0 && t->npk == 1) {
                const xpred_t *in = s_find(&ps, t->pk[0], XP_IN);
                if (in) {
                    a.kind = XA_PK_IN;
                    a.in = in->in;
                    sc = 90;
                }
            }
            if (sc < 0) {
                int r = s_range(&ps, t->pk[k], &a);
                if (k > 0 || r) {
                    a.kind = XA_PK_RANGE;
                    sc = 40 + 10 * (int)k + (a.lo ? 5 : 0) + (a.hi ? 5 : 0);
                }
            }
            if (sc >= 0)
                s_consider(&ch, &a, sc);
        }
        /* secondary indexes */
        for (uint32_t i = 0; i < t->nidx && !rel->history; i++) {
            const drift_tidx_t *ix = &t->idx[i];
            memset(&a, 0, sizeof a);
            a.idx = ix;
            k = 0;
            while (k < ix->ncols) {
                const xpred_t *eq = s_find(&ps, ix->cols[k], XP_EQ);
                if (!eq)
                    break;
                a.eq[k++] = eq->a;
            }
            a.neq = k;
            int sc = -1;
            if (k > 0 && k == ix->ncols) {
                a.kind = XA_IDX_EQ;
                sc = ix->unique ? 95 : 80;
            } else {
                if (k == 0) {
                    const xpred_t *in = s_find(&ps, ix->cols[0], XP_IN);
                    if (in) {
                        a.kind = XA_IDX_IN;
                        a.in = in->in;
                        sc = 70;
                    }
                }
                if (sc < 0) {
                    int r = s_range(&ps, ix->cols[k], &a);
                    if (r) {
                        a.kind = XA_IDX_RANGE;
                        sc = 35 + 10 * (int)k + (a.lo ? 4 : 0) + (a.hi ? 4 : 0);
                    } else if (k > 0) {
                        a.kind = XA_IDX_EQ;
                        sc = 60 + 5 * (int)k;
                    }
                }
            }
            if (sc >= 0)
                s_consider(&ch, &a, sc);
        }
    }
    if (avail && !(off & DRIFT_PLAN_NO_HASHJOIN) && (c->cbo || ch.best < 30)) {
        /* hash join on an equi-condition with an expression of the bound relations */
        for (uint32_t i = 0; i < ps.n; i++) {
            if (ps.p[i].kind == XP_EQ && (xq_mask(ps.p[i].a) & avail)) {
                memset(&a, 0, sizeof a);
                a.kind = XA_HASH;
                a.hcol = ps.p[i].col;
                a.hprobe = ps.p[i].a;
                if (!c->cbo) {
                    *ret = a;
                    return 30;
                }
                s_consider(&ch, &a, 30);
                break;
            }
        }
    }
    return ch.best;
}

/* Estimated (cost, rows out) of reading rel by acc once per each of n incoming rows (rules: no statistics). */
static void s_cost(const xcore_t *c, xrel_t *rel, const xacc_t *a, double n, double *ret_cost, double *ret_rows)
{
    /* a key lookup's rows do not depend on the table's size: its estimate is not counted for them */
    int keyed = a->kind == XA_PK_EQ || a->kind == XA_PK_IN;
    uint64_t e = keyed ? 1 : xq_rel_est(rel);
    double est = e > 0 ? (double)e : 1.0, rows, cost;
    double pow10 = 1;
    for (uint32_t i = 0; i < a->neq; i++)
        pow10 *= 10;
    switch (a->kind) {
    case XA_PK_EQ:
        rows = s_per_key(rel);
        cost = n * rows;
        break;
    case XA_PK_IN:
        rows = a->in->nargs * s_per_key(rel);
        cost = n * rows;
        break;
    case XA_IDX_IN:
        rows = a->in->nargs * (est / 10 > 1 ? est / 10 : 1);
        cost = n * (rows + 1);
        break;
    case XA_PK_RANGE:
    case XA_IDX_RANGE:
    case XA_IDX_EQ:
        if (a->kind == XA_IDX_EQ && a->idx->unique && a->neq == a->idx->ncols)
            rows = 1;
        else
            rows = est / pow10 / ((a->lo || a->hi) ? 3 : 1);
        if (rows < 1)
            rows = 1;
        cost = n * (rows + 1);
        break;
    case XA_HASH:
        rows = 1;
        cost = est + n;
        break;
    case XA_MAT:
        rows = est;
        cost = est + n * est;
        break;
    default:
        rows = est;
        cost = n * est;
        break;
    }
    /* conjuncts that only read this relation filter it further */
    for (uint32_t i = 0; i < c->nconj; i++)
        if (c->conj[i].mask == (1ULL << rel->index))
            rows *= 0.25;
    *ret_cost = cost;
    *ret_rows = n * rows;
}

/* Greedy join order starting with relation first (or the cheapest when first < 0): each step takes the
 * relation with the least cost + rows given the ones placed. Returns the total estimated cost; the
 * estimates of each relation's level in erows / ecost. */
static double s_greedy(xcore_t *c, int first, uint32_t *order, xacc_t *accs, double *erows, double *ecost)
{
    uint32_t n = c->nrels;
    uint64_t avail = 0;
    uint8_t placed[XQ_MAXRELS] = {0};
    double rows_in = 1, total = 0;
    for (uint32_t k = 0; k < n; k++) {
        double best = -1, bcost = 0, brows = 0;
        uint32_t bi = 0;
        xacc_t bacc;
        memset(&bacc, 0, sizeof bacc);
        for (uint32_t r = 0; r < n; r++) {
            if (placed[r])
                continue;
            if (k == 0 && first >= 0 && r != (uint32_t)first)
                continue;
            if (c->has_left && r != k)
                continue; /* syntactic order when a LEFT JOIN is present */
            xrel_t *rel = c->rels[r];
            xacc_t a;
            xconj_t cjl[64];
            const xconj_t *cj = c->conj;
            uint32_t m = c->nconj;
            if (rel->left) {
                m = 0;
                for (uint32_t i = 0; i < rel->non && m < 64; i++) {
                    cjl[m].e = rel->on[i];
                    cjl[m].mask = xq_mask(rel->on[i]);
                    m++;
                }
                cj = cjl;
            }
            s_best(c, rel, avail, cj, m, rows_in, &a);
            double cost, rows;
            if (c->cbo)
                s_cost_cbo(rel, &a, avail, rows_in, c->conj, c->nconj, &cost, &rows);
            else
                s_cost(c, rel, &a, rows_in, &cost, &rows);
            double score = cost + rows;
            if (best < 0 || score < best || (score == best && xq_rel_est(rel) < xq_rel_est(c->rels[bi]))) {
                best = score;
                bcost = cost;
                brows = rows;
                bi = r;
                bacc = a;
            }
        }
        placed[bi] = 1;
        order[k] = bi;
        accs[bi] = bacc;
        erows[bi] = brows;
        ecost[bi] = bcost;
        avail |= 1ULL << bi;
        total += bcost;
        rows_in = brows > 1 ? brows : 1;
    }
    return total;
}

int xplan_core(xcore_t *c)
{
    uint32_t n = c->nrels;
    if (n > 0) {
        xacc_t *accs = xq_alloc(c->x, sizeof *accs * n), *baccs = xq_alloc(c->x, sizeof *baccs * n);
        double *er = xq_alloc(c->x, sizeof *er * n * 4);
        if (!accs || !baccs || !er)
            return -1;
        double *ec = er + n, *ber = er + 2 * n, *bec = er + 3 * n;
        /* the cost model runs when some table has statistics (a single primary-key lookup needs none) */
        c->cbo = 0;
        int point = 0;
        if (n == 1) {
            xacc_t a;
            point = s_best(c, c->rels[0], 0, c->conj, c->nconj, 1, &a) == 100;
        }
        for (uint32_t r = 0; r < n && !point; r++)
            if (s_stats(c->rels[r]))
                c->cbo = 1;
        uint32_t order[XQ_MAXRELS];
        double best = s_greedy(c, -1, c->order, baccs, ber, bec);
        if (!c->has_left && n > 1 && n <= 12) {
            /* every relation as the first one, the rest greedy: the cheapest total wins */
            for (uint32_t f = 0; f < n; f++) {
                double cost = s_greedy(c, (int)f, order, accs, er, ec);
                if (cost < best) {
                    best = cost;
                    memcpy(c->order, order, sizeof order[0] * n);
                    memcpy(baccs, accs, sizeof *accs * n);
                    memcpy(ber, er, sizeof *er * n);
                    memcpy(bec, ec, sizeof *ec * n);
                }
            }
        }
        for (uint32_t r = 0; r < n; r++) {
            c->rels[r]->acc = baccs[r];
            c->rels[r]->est_rows = ber[r];
            c->rels[r]->est_cost = bec[r];
        }
    }
    /* conjuncts */
    for (uint32_t i = 0; i < c->nconj; i++) {
        uint64_t m = c->conj[i].mask;
        if (m == 0 || n == 0) {
            drift_node_t **np = xq_alloc(c->x, sizeof *np * (c->npre + 1));
            if (!np)
                return -1;
            if (c->npre)
                memcpy(np, c->pre, sizeof *np * c->npre);
            np[c->npre++] = c->conj[i].e;
            c->pre = np;
            continue;
        }
        uint32_t level = n - 1;
        for (uint32_t k = n; k-- > 0;) {
            if (m & (1ULL << c->order[k])) {
                level = k;
                break;
            }
        }
        xrel_t *rel = c->rels[c->order[level]];
        drift_node_t **nc = xq_alloc(c->x, sizeof *nc * (rel->nconds + 1));
        if (!nc)
            return -1;
        if (rel->nconds)
            memcpy(nc, rel->conds, sizeof *nc * rel->nconds);
        nc[rel->nconds++] = c->conj[i].e;
        rel->conds = nc;
    }
    return 0;
}

/* ------------------------------------------------------------------ deparse */

typedef struct {
    char *p;
    size_t n, cap;
    xexec_t *x;
} xbuf_t;

static void s_put(xbuf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 128;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = xq_alloc(b->x, cap);
        if (!np)
            return;
        if (b->n)
            memcpy(np, b->p, b->n);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void s_puts(xbuf_t *b, const char *s)
{
    s_put(b, s, strlen(s));
}

static const char *s_bop(drift_bop_t op)
{
    switch (op) {
    case DRIFT_BOP_ADD: return "+";
    case DRIFT_BOP_SUB: return "-";
    case DRIFT_BOP_MUL: return "*";
    case DRIFT_BOP_DIV: return "/";
    case DRIFT_BOP_MOD: return "%";
    case DRIFT_BOP_CONCAT: return "||";
    case DRIFT_BOP_EQ: return "=";
    case DRIFT_BOP_NE: return "<>";
    case DRIFT_BOP_LT: return "<";
    case DRIFT_BOP_LE: return "<=";
    case DRIFT_BOP_GT: return ">";
    case DRIFT_BOP_GE: return ">=";
    case DRIFT_BOP_JSON_GET: return "->";
    case DRIFT_BOP_JSON_GET_TEXT: return "->>";
    case DRIFT_BOP_BITAND: return "&";
    case DRIFT_BOP_BITOR: return "|";
    case DRIFT_BOP_SHL: return "<<";
    case DRIFT_BOP_SHR: return ">>";
    }
    return "?";
}

static void s_dep(xbuf_t *b, const drift_node_t *n, int top);

static void s_deplist(xbuf_t *b, drift_node_t **a, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            s_puts(b, ", ");
        s_dep(b, a[i], 1);
    }
}

static void s_dep(xbuf_t *b, const drift_node_t *n, int top)
{
    char tmp[64];
    if (!n) {
        s_puts(b, "?");
        return;
    }
    switch (n->kind) {
    case DRIFT_AST_LITERAL:
    case DRIFT_AST_JSON: {
        const drift_value_t *v = &n->value;
        if (v->type == DRIFT_VAL_NULL) {
            s_puts(b, "NULL");
        } else if (v->type == DRIFT_VAL_TEXT) {
            s_puts(b, "'");
            s_put(b, v->u.s.p, v->u.s.n);
            s_puts(b, "'");
        } else {
            size_t len = 0;
            const char *t = drift_val_to_text(b->x->arena, v, &len);
            if (t)
                s_put(b, t, len);
        }
        break;
    }
    case DRIFT_AST_PARAM:
        snprintf(tmp, sizeof tmp, "$%u", n->param);
        s_puts(b, tmp);
        break;
    case DRIFT_AST_COLUMN:
        if (n->qualifier) {
            s_puts(b, n->qualifier);
            s_puts(b, ".");
        }
        s_puts(b, n->name ? n->name : "?");
        break;
    case DRIFT_AST_STAR:
        if (n->qualifier) {
            s_puts(b, n->qualifier);
            s_puts(b, ".");
        }
        s_puts(b, "*");
        break;
    case DRIFT_AST_UNARY:
        s_puts(b, n->op == DRIFT_TOP_MINUS ? "-" : "+");
        s_dep(b, n->l, 0);
        break;
    case DRIFT_AST_NOT:
        s_puts(b, "NOT ");
        s_dep(b, n->l, 0);
        break;
    case DRIFT_AST_BINARY:
    case DRIFT_AST_AND:
    case DRIFT_AST_OR:
        if (!top)
            s_puts(b, "(");
        s_dep(b, n->l, 0);
        s_puts(b, " ");
        s_puts(b, n->kind == DRIFT_AST_AND ? "AND" : n->kind == DRIFT_AST_OR ? "OR" : s_bop(n->bop));
        s_puts(b, " ");
        s_dep(b, n->r, 0);
        if (!top)
            s_puts(b, ")");
        break;
    case DRIFT_AST_ISNULL:
        s_dep(b, n->l, 0);
        s_puts(b, n->negate ? " IS NOT NULL" : " IS NULL");
        break;
    case DRIFT_AST_IS:
        s_dep(b, n->l, 0);
        s_puts(b, n->negate ? " IS NOT " : " IS ");
        s_dep(b, n->r, 0);
        break;
    case DRIFT_AST_BETWEEN:
        s_dep(b, n->l, 0);
        s_puts(b, n->negate ? " NOT BETWEEN " : " BETWEEN ");
        if (n->nargs == 2) {
            s_dep(b, n->args[0], 0);
            s_puts(b, " AND ");
            s_dep(b, n->args[1], 0);
        }
        break;
    case DRIFT_AST_IN_LIST:
        s_dep(b, n->l, 0);
        s_puts(b, n->negate ? " NOT IN (" : " IN (");
        s_deplist(b, n->args, n->nargs);
        s_puts(b, ")");
        break;
    case DRIFT_AST_IN_SELECT:
        s_dep(b, n->l, 0);
        s_puts(b, n->negate ? " NOT IN (SELECT ...)" : " IN (SELECT ...)");
        break;
    case DRIFT_AST_EXISTS: s_puts(b, n->negate ? "NOT EXISTS (SELECT ...)" : "EXISTS (SELECT ...)"); break;
    case DRIFT_AST_SUBQUERY: s_puts(b, "(SELECT ...)"); break;
    case DRIFT_AST_LIKE:
        s_dep(b, n->l, 0);
        s_puts(b, n->negate ? (n->glob ? " NOT GLOB " : " NOT LIKE ") : (n->glob ? " GLOB " : " LIKE "));
        s_dep(b, n->r, 0);
        break;
    case DRIFT_AST_CASE:
        s_puts(b, "CASE");
        if (n->l) {
            s_puts(b, " ");
            s_dep(b, n->l, 0);
        }
        for (uint32_t i = 0; i + 1 < n->nargs; i += 2) {
            s_puts(b, " WHEN ");
            s_dep(b, n->args[i], 1);
            s_puts(b, " THEN ");
            s_dep(b, n->args[i + 1], 1);
        }
        if (n->r) {
            s_puts(b, " ELSE ");
            s_dep(b, n->r, 1);
        }
        s_puts(b, " END");
        break;
    case DRIFT_AST_CAST:
        s_puts(b, "CAST(");
        s_dep(b, n->l, 1);
        s_puts(b, " AS ");
        s_puts(b, drift_coltype_name(n->cast_type));
        s_puts(b, ")");
        break;
    case DRIFT_AST_FUNC:
        s_puts(b, n->name ? n->name : "?");
        s_puts(b, "(");
        if (n->star)
            s_puts(b, "*");
        else {
            if (n->distinct)
                s_puts(b, "DISTINCT ");
            s_deplist(b, n->args, n->nargs);
        }
        s_puts(b, ")");
        break;
    }
}

const char *xplan_deparse(xexec_t *x, const drift_node_t *n)
{
    xbuf_t b = {.x = x};
    s_dep(&b, n, 1);
    return b.p ? b.p : "";
}

/* ------------------------------------------------------------------ EXPLAIN */

typedef struct {
    xexec_t *x;
    xline_fn fn;
    void *arg;
    int analyze;
} xexp_t;

static int s_line(xexp_t *e, int depth, const char *text)
{
    xbuf_t b = {.x = e->x};
    for (int i = 0; i < depth; i++)
        s_puts(&b, "  ");
    s_puts(&b, text);
    return e->fn(e->arg, b.p ? b.p : "");
}

static const char *s_colname(const xrel_t *rel, uint32_t col)
{
    return col < rel->ncols ? rel->names[col] : "?";
}

/* "c1 = e1 AND c2 >= lo AND c2 < hi" for a key path over columns cols. */
static void s_keytext(xbuf_t *b, const xrel_t *rel, const uint32_t *cols, const xacc_t *a)
{
    int first = 1;
    for (uint32_t i = 0; i < a->neq; i++) {
        if (!first)
            s_puts(b, " AND ");
        first = 0;
        s_puts(b, s_colname(rel, cols[i]));
        s_puts(b, " = ");
        s_dep(b, a->eq[i], 0);
    }
    if (a->in) {
        if (!first)
            s_puts(b, " AND ");
        first = 0;
        s_puts(b, s_colname(rel, cols[a->neq]));
        s_puts(b, " IN (");
        s_deplist(b, a->in->args, a->in->nargs);
        s_puts(b, ")");
    }
    if (a->lo) {
        if (!first)
            s_puts(b, " AND ");
        first = 0;
        s_puts(b, s_colname(rel, cols[a->neq]));
        s_puts(b, a->lo_incl ? " >= " : " > ");
        s_dep(b, a->lo, 0);
    }
    if (a->hi) {
        if (!first)
            s_puts(b, " AND ");
        s_puts(b, s_colname(rel, cols[a->neq]));
        s_puts(b, a->hi_incl ? " <= " : " < ");
        s_dep(b, a->hi, 0);
    }
}

static int s_explain_sel(xexp_t *e, xsel_t *s, int depth);

/* The source of a relation's rows without a key path. */
static void s_source(xbuf_t *b, const xrel_t *rel)
{
    if (rel->derived) {
        s_puts(b, "SUBQUERY ");
        s_puts(b, rel->qual);
    } else if (rel->history) {
        s_puts(b, "VERSION SCAN ");
        s_puts(b, rel->t->name);
        s_puts(b, " ");
        s_puts(b, rel->h_text ? rel->h_text : "");
    } else {
        s_puts(b, "FULL SCAN ");
        s_puts(b, rel->t->name);
    }
}

static int s_explain_rel(xexp_t *e, xcore_t *c, uint32_t k, int depth)
{
    xrel_t *rel = c->rels[c->order[k]];
    xbuf_t b = {.x = e->x};
    char tmp[96];
    const xacc_t *a = &rel->acc;
    if (rel->left)
        s_puts(&b, "LEFT JOIN ");
    switch (a->kind) {
    case XA_FULL: s_source(&b, rel); break;
    case XA_MAT:
        s_puts(&b, "NESTED LOOP (materialized ");
        s_source(&b, rel);
        s_puts(&b, ")");
        break;
    case XA_HASH:
        s_puts(&b, "HASH JOIN ");
        s_puts(&b, rel->qual);
        s_puts(&b, " (");
        s_puts(&b, s_colname(rel, a->hcol));
        s_puts(&b, " = ");
        s_dep(&b, a->hprobe, 0);
        s_puts(&b, ") BUILD ");
        s_source(&b, rel);
        break;
    case XA_PK_EQ:
    case XA_PK_IN:
    case XA_PK_RANGE:
        if (rel->history)
            s_puts(&b, a->kind == XA_PK_RANGE ? "PK VERSION RANGE SCAN " : "PK VERSION LOOKUP ");
        else
            s_puts(&b, a->kind == XA_PK_RANGE ? "PK RANGE SCAN " : "PK LOOKUP ");
        s_puts(&b, rel->t->name);
        s_puts(&b, " (");
        s_keytext(&b, rel, rel->t->pk, a);
        s_puts(&b, ")");
        if (rel->history) {
            s_puts(&b, " ");
            s_puts(&b, rel->h_text ? rel->h_text : "");
        }
        break;
    case XA_IDX_EQ:
    case XA_IDX_IN:
    case XA_IDX_RANGE:
        s_puts(&b, "INDEX SCAN ");
        s_puts(&b, rel->t->name);
        s_puts(&b, " USING ");
        s_puts(&b, a->idx->name);
        s_puts(&b, " (");
        s_keytext(&b, rel, a->idx->cols, a);
        s_puts(&b, ")");
        break;
    }
    if (rel->t && strcmp(rel->qual, rel->t->name) != 0) {
        s_puts(&b, " AS ");
        s_puts(&b, rel->qual);
    }
    if (rel->t && !rel->history) {
        snprintf(tmp, sizeof tmp, " AS OF @seq:%" PRIu64, rel->t->as_of);
        s_puts(&b, tmp);
    }
    double er = rel->est_rows < 1 ? 1 : rel->est_rows;
    if (c->cbo)
        snprintf(tmp, sizeof tmp, " (rows=%.0f cost=%.0f)", er, rel->est_cost);
    else
        snprintf(tmp, sizeof tmp, " (rows=%.0f)", er);
    s_puts(&b, tmp);
    if (e->analyze) {
        snprintf(tmp, sizeof tmp, " (actual rows=%" PRIu64 " loops=%" PRIu64 " time=%.3f ms)", rel->actual, rel->loops,
                 (double)rel->time_ns / 1e6);
        s_puts(&b, tmp);
        if (rel->scanned) {
            snprintf(tmp, sizeof tmp, " (scanned=%" PRIu64 ")", rel->scanned);
            s_puts(&b, tmp);
        }
        if (rel->t && rel->t->est_steps) {
            snprintf(tmp, sizeof tmp, " (estimate scanned=%" PRIu64 ")", rel->t->est_steps);
            s_puts(&b, tmp);
        }
    }
    if (s_line(e, depth, b.p) < 0)
        return -1;
    if (rel->left && rel->non) {
        xbuf_t f = {.x = e->x};
        s_puts(&f, "ON ");
        for (uint32_t i = 0; i < rel->non; i++) {
            if (i)
                s_puts(&f, " AND ");
            s_dep(&f, rel->on[i], 1);
        }
        if (s_line(e, depth + 1, f.p) < 0)
            return -1;
    }
    if (rel->nconds) {
        xbuf_t f = {.x = e->x};
        s_puts(&f, "FILTER ");
        for (uint32_t i = 0; i < rel->nconds; i++) {
            if (i)
                s_puts(&f, " AND ");
            s_dep(&f, rel->conds[i], 1);
        }
        if (s_line(e, depth + 1, f.p) < 0)
            return -1;
    }
    if (rel->derived && s_explain_sel(e, rel->derived, depth + 1) < 0)
        return -1;
    return 0;
}

static int s_explain_core(xexp_t *e, xcore_t *c, int depth)
{
    char tmp[96];
    if (c->s && c->s->distinct) {
        if (s_line(e, depth++, "DISTINCT") < 0)
            return -1;
    }
    if (c->is_agg) {
        xbuf_t b = {.x = e->x};
        s_puts(&b, "AGGREGATE");
        if (c->ngroup) {
            s_puts(&b, " GROUP BY ");
            s_deplist(&b, c->group, c->ngroup);
        }
        if (c->having) {
            s_puts(&b, " HAVING ");
            s_dep(&b, c->having, 1);
        }
        if (s_line(e, depth++, b.p) < 0)
            return -1;
    }
    if (c->npre) {
        xbuf_t f = {.x = e->x};
        s_puts(&f, "CONDITION ");
        for (uint32_t i = 0; i < c->npre; i++) {
            if (i)
                s_puts(&f, " AND ");
            s_dep(&f, c->pre[i], 1);
        }
        if (s_line(e, depth, f.p) < 0)
            return -1;
    }
    if (c->nrels == 0) {
        if (c->s && c->s->nvalues)
            snprintf(tmp, sizeof tmp, "VALUES (%u rows)", c->s->nvalues);
        else
            snprintf(tmp, sizeof tmp, "RESULT (no table)");
        if (s_line(e, depth, tmp) < 0)
            return -1;
    }
    for (uint32_t k = 0; k < c->nrels; k++)
        if (s_explain_rel(e, c, k, depth + (int)k) < 0)
            return -1;
    for (uint32_t i = 0; i < c->nsubs; i++) {
        if (s_line(e, depth, c->subs[i]->correlated ? "SUBQUERY (correlated: run per row)" : "SUBQUERY (run once)") < 0)
            return -1;
        if (s_explain_sel(e, c->subs[i], depth + 1) < 0)
            return -1;
    }
    return 0;
}

static int s_explain_sel(xexp_t *e, xsel_t *s, int depth)
{
    char tmp[96];
    if (s->limit || s->offset) {
        xbuf_t b = {.x = e->x};
        if (s->limit) {
            s_puts(&b, "LIMIT ");
            s_dep(&b, s->limit, 1);
        }
        if (s->offset) {
            s_puts(&b, s->limit ? " OFFSET " : "OFFSET ");
            s_dep(&b, s->offset, 1);
        }
        if (s_line(e, depth++, b.p) < 0)
            return -1;
    }
    if (s->norder) {
        xbuf_t b = {.x = e->x};
        s_puts(&b, s->ord_by_key ? "ORDER BY KEY (no sort: " : "SORT (");
        for (uint32_t i = 0; i < s->norder; i++) {
            uint32_t col = s->ord_col[i];
            if (i)
                s_puts(&b, ", ");
            if (col < s->ncols)
                s_puts(&b, s->names[col]);
            else if (s->ncores == 1 && col - s->ncols < s->cores[0]->nkeys)
                s_dep(&b, s->cores[0]->keys[col - s->ncols], 0);
            if (s->ord_desc[i])
                s_puts(&b, " DESC");
        }
        s_puts(&b, ")");
        if (e->analyze) {
            snprintf(tmp, sizeof tmp, " (actual rows=%" PRIu64 ")", s->actual);
            s_puts(&b, tmp);
        }
        if (s_line(e, depth++, b.p) < 0)
            return -1;
    }
    if (s->ncores == 1)
        return s_explain_core(e, s->cores[0], depth);
    for (uint32_t i = 0; i < s->ncores; i++) {
        const char *name = "UNION";
        if (i > 0) {
            /* the setop joining core i to the previous ones is on core i-1 */
            switch (s->cores[i - 1]->s->setop) {
            case DRIFT_SETOP_UNION: name = "UNION"; break;
            case DRIFT_SETOP_UNION_ALL: name = "UNION ALL"; break;
            case DRIFT_SETOP_INTERSECT: name = "INTERSECT"; break;
            case DRIFT_SETOP_EXCEPT: name = "EXCEPT"; break;
            default: break;
            }
            if (s_line(e, depth, name) < 0)
                return -1;
        }
        if (s_explain_core(e, s->cores[i], depth + 1) < 0)
            return -1;
    }
    return 0;
}

int xplan_explain(xsel_t *s, int depth, int analyze, xline_fn fn, void *arg)
{
    xexp_t e = {.x = s->x, .fn = fn, .arg = arg, .analyze = analyze};
    return s_explain_sel(&e, s, depth);
}
