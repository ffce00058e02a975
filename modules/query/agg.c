/* modules/query/agg.c — aggregate accumulators (expr.h): count(*), count,
 * sum, total, avg, min, max, group_concat, and their DISTINCT forms.
 *
 * SQLite semantics: NULL inputs are skipped; sum is INTEGER while every input
 * is an integer (overflow is the error 22003 "integer overflow"), REAL as soon
 * as one input is REAL, NULL over no rows; total is always REAL (0.0 over no
 * rows); avg is REAL; min/max use drift_val_cmp's total order. DISTINCT keeps
 * a hash set of the values seen (drift_val_hash / drift_val_cmp: 1 and 1.0 are
 * one value). Everything lives in the arena given to drift_agg_new (no
 * destroy). Single-threaded. */
#include <math.h>
#include <string.h>

#include "ipc/proto.h"
#include "modules/query/expr_priv.h"

struct drift_agg {
    drift_arena_t *arena;
    drift_agg_kind_t kind;
    int distinct;
    int64_t count;      /* non-NULL inputs (rows for count(*)) */
    int64_t isum;       /* integer sum while exact */
    double rsum;        /* floating sum (total, avg, sum after a REAL) */
    int approx;         /* sum saw a REAL */
    int overflow;       /* the integer sum overflowed */
    drift_value_t best; /* min / max */
    int has_best;
    /* group_concat */
    char *buf;
    size_t len, cap;
    int has_text;
    /* DISTINCT: open addressing set */
    drift_value_t *set;
    uint64_t *hashes;
    size_t set_cap, set_n;
};

drift_agg_kind_t drift_agg_lookup(const char *name, uint32_t nargs, int star)
{
    if (!name)
        return DRIFT_AGG_NONE;
    if (!strcmp(name, "count"))
        return star || nargs == 0 ? DRIFT_AGG_COUNT_STAR : nargs == 1 ? DRIFT_AGG_COUNT : DRIFT_AGG_NONE;
    if (star)
        return DRIFT_AGG_NONE;
    if (nargs == 1) {
        if (!strcmp(name, "sum"))
            return DRIFT_AGG_SUM;
        if (!strcmp(name, "total"))
            return DRIFT_AGG_TOTAL;
        if (!strcmp(name, "avg"))
            return DRIFT_AGG_AVG;
        if (!strcmp(name, "min"))
            return DRIFT_AGG_MIN;
        if (!strcmp(name, "max"))
            return DRIFT_AGG_MAX;
    }
    if ((nargs == 1 || nargs == 2) && !strcmp(name, "group_concat"))
        return DRIFT_AGG_GROUP_CONCAT;
    if (nargs == 2 && !strcmp(name, "string_agg"))
        return DRIFT_AGG_GROUP_CONCAT;
    return DRIFT_AGG_NONE;
}

drift_agg_t *drift_agg_new(drift_arena_t *a, drift_agg_kind_t kind, int distinct)
{
    drift_agg_t *g = drift_arena_alloc(a, sizeof *g);
    if (!g)
        return NULL;
    g->arena = a;
    g->kind = kind;
    g->distinct = distinct && kind != DRIFT_AGG_COUNT_STAR;
    return g;
}

static int s_oom(drift_sqlerr_t *err)
{
    return drift_sqlerr_set(err, "53200", 0, "out of memory");
}

/* Inserts v into the DISTINCT set: 1 new, 0 already seen, -1 ENOMEM. */
static int s_set_add(drift_agg_t *g, const drift_value_t *v)
{
    if ((g->set_n + 1) * 2 > g->set_cap) {
        size_t ncap = g->set_cap ? g->set_cap * 2 : 16;
        drift_value_t *ns = drift_arena_alloc(g->arena, ncap * sizeof *ns);
        uint64_t *nh = drift_arena_alloc(g->arena, ncap * sizeof *nh);
        if (!ns || !nh)
            return -1;
        for (size_t i = 0; i < g->set_cap; i++) {
            if (!g->hashes[i])
                continue;
            size_t j = g->hashes[i] & (ncap - 1);
            while (nh[j])
                j = (j + 1) & (ncap - 1);
            nh[j] = g->hashes[i];
            ns[j] = g->set[i];
        }
        g->set = ns;
        g->hashes = nh;
        g->set_cap = ncap;
    }
    uint64_t h = drift_val_hash(v, 0x5eed) | 1; /* 0 marks an empty slot */
    size_t j = h & (g->set_cap - 1);
    while (g->hashes[j]) {
        if (g->hashes[j] == h && drift_val_cmp(&g->set[j], v) == 0)
            return 0;
        j = (j + 1) & (g->set_cap - 1);
    }
    if (drift_val_copy(g->arena, v, &g->set[j]) < 0)
        return -1;
    g->hashes[j] = h;
    g->set_n++;
    return 1;
}

/* Appends bytes to the group_concat buffer. */
static int s_append(drift_agg_t *g, const char *p, size_t n)
{
    if (g->len + n + 1 > g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 64;
        while (ncap < g->len + n + 1)
            ncap *= 2;
        char *nb = drift_arena_alloc(g->arena, ncap);
        if (!nb)
            return -1;
        if (g->len)
            memcpy(nb, g->buf, g->len);
        g->buf = nb;
        g->cap = ncap;
    }
    if (n)
        memcpy(g->buf + g->len, p, n);
    g->len += n;
    return 0;
}

int drift_agg_step(drift_agg_t *g, const drift_value_t *v, const drift_value_t *sep, drift_sqlerr_t *err)
{
    if (g->kind == DRIFT_AGG_COUNT_STAR) {
        g->count++;
        return 0;
    }
    if (!v || v->type == DRIFT_VAL_NULL)
        return 0;
    if (g->distinct) {
        int r = s_set_add(g, v);
        if (r < 0)
            return s_oom(err);
        if (r == 0)
            return 0;
    }
    g->count++;
    switch (g->kind) {
    case DRIFT_AGG_COUNT: return 0;
    case DRIFT_AGG_SUM:
    case DRIFT_AGG_TOTAL:
    case DRIFT_AGG_AVG: {
        drift_value_t n;
        if (v->type == DRIFT_VAL_TEXT || v->type == DRIFT_VAL_BLOB) {
            /* SQLite: text that is wholly an integer adds as one; other text makes the sum REAL */
            if (!drift_text_numeric(v->u.s.p, v->u.s.n, &n) || n.type != DRIFT_VAL_INT)
                n = drift_val_real(drift_val_real_of(v));
        } else {
            drift_val_numify(v, &n);
        }
        if (n.type == DRIFT_VAL_INT) {
            g->rsum += (double)n.u.i;
            if (!g->approx && !g->overflow && __builtin_add_overflow(g->isum, n.u.i, &g->isum))
                g->overflow = 1;
        } else if (n.type == DRIFT_VAL_REAL) {
            g->rsum += n.u.r;
            g->approx = 1;
        }
        if (g->kind == DRIFT_AGG_SUM && g->overflow)
            return drift_sqlerr_set(err, DRIFT_SQLSTATE_OUT_OF_RANGE, 0, "integer overflow");
        return 0;
    }
    case DRIFT_AGG_MIN:
    case DRIFT_AGG_MAX: {
        if (g->has_best) {
            int c = drift_val_cmp(v, &g->best);
            if (g->kind == DRIFT_AGG_MIN ? c >= 0 : c <= 0)
                return 0;
        }
        if (drift_val_copy(g->arena, v, &g->best) < 0)
            return s_oom(err);
        g->has_best = 1;
        return 0;
    }
    case DRIFT_AGG_GROUP_CONCAT: {
        size_t n, sn = 1;
        const char *p, *s = ",";
        if (g->has_text) {
            if (sep) {
                sn = 0;
                s = "";
                if (sep->type != DRIFT_VAL_NULL) {
                    s = sep->type == DRIFT_VAL_TEXT || sep->type == DRIFT_VAL_BLOB || sep->type == DRIFT_VAL_JSON
                            ? sep->u.s.p
                            : drift_val_to_text(g->arena, sep, &sn);
                    if (!s)
                        return s_oom(err);
                    if (sep->type == DRIFT_VAL_TEXT || sep->type == DRIFT_VAL_BLOB || sep->type == DRIFT_VAL_JSON)
                        sn = sep->u.s.n;
                }
            }
            if (s_append(g, s, sn) < 0)
                return s_oom(err);
        }
        if (v->type == DRIFT_VAL_TEXT || v->type == DRIFT_VAL_BLOB || v->type == DRIFT_VAL_JSON) {
            p = v->u.s.p;
            n = v->u.s.n;
        } else {
            p = drift_val_to_text(g->arena, v, &n);
            if (!p)
                return s_oom(err);
        }
        if (s_append(g, p, n) < 0)
            return s_oom(err);
        g->has_text = 1;
        return 0;
    }
    default: return 0;
    }
}

int drift_agg_final(drift_agg_t *g, drift_value_t *out, drift_sqlerr_t *err)
{
    *out = drift_val_null();
    switch (g->kind) {
    case DRIFT_AGG_COUNT_STAR:
    case DRIFT_AGG_COUNT: *out = drift_val_int(g->count); return 0;
    case DRIFT_AGG_SUM:
        if (g->count == 0)
            return 0;
        if (g->overflow)
            return drift_sqlerr_set(err, DRIFT_SQLSTATE_OUT_OF_RANGE, 0, "integer overflow");
        if (g->approx)
            *out = drift_val_real(g->rsum);
        else
            *out = drift_val_int(g->isum);
        return 0;
    case DRIFT_AGG_TOTAL: *out = drift_val_real(g->rsum); return 0;
    case DRIFT_AGG_AVG:
        if (g->count > 0)
            *out = drift_val_real(g->rsum / (double)g->count);
        return 0;
    case DRIFT_AGG_MIN:
    case DRIFT_AGG_MAX:
        if (g->has_best)
            *out = g->best;
        return 0;
    case DRIFT_AGG_GROUP_CONCAT:
        if (g->has_text)
            *out = drift_val_text(g->buf ? g->buf : "", g->len);
        return 0;
    default: return 0;
    }
}
