/* modules/query/stats.c — planner statistics: gathering (ANALYZE), the stored
 * record, reading it back as of a point, and selectivity estimates. See
 * stats.h. Single-threaded (the statement's worker). */
#include "modules/query/stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/commit.h"
#include "common/util.h"
#include "modules/query/txn.h"
#include "shm/stats.h"

/* ------------------------------------------------------------------ distinct counting */

/* splitmix64 finalizer: spreads a value hash over all 64 bits (HyperLogLog reads the top bits). */
static uint64_t s_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t drift_stats_hash(const drift_value_t *v, uint64_t seed)
{
    return s_mix(drift_val_hash(v, seed));
}

void drift_ndv_init(drift_ndv_t *d, uint32_t exact_bound)
{
    memset(d, 0, sizeof *d);
    d->bound = exact_bound;
}

void drift_ndv_free(drift_ndv_t *d)
{
    free(d->set);
    d->set = NULL;
    d->cap = d->n = 0;
}

/* Inserts h into the exact set (h != 0); returns 0 or -ENOMEM. */
static int s_set_add(drift_ndv_t *d, uint64_t h)
{
    if ((d->n + 1) * 2 > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        uint64_t *ns = calloc(cap, sizeof *ns);
        if (!ns)
            return -ENOMEM;
        for (size_t i = 0; i < d->cap; i++) {
            if (!d->set[i])
                continue;
            size_t j = d->set[i] & (cap - 1);
            while (ns[j])
                j = (j + 1) & (cap - 1);
            ns[j] = d->set[i];
        }
        free(d->set);
        d->set = ns;
        d->cap = cap;
    }
    size_t j = h & (d->cap - 1);
    while (d->set[j]) {
        if (d->set[j] == h)
            return 0;
        j = (j + 1) & (d->cap - 1);
    }
    d->set[j] = h;
    d->n++;
    return 0;
}

int drift_ndv_add(drift_ndv_t *d, uint64_t h)
{
    uint32_t idx = (uint32_t)(h >> 52);
    uint64_t w = (h << 12) | (1ULL << 11);
    uint8_t rank = (uint8_t)(__builtin_clzll(w) + 1);
    if (rank > d->reg[idx])
        d->reg[idx] = rank;
    if (d->overflow)
        return 0;
    if (s_set_add(d, h ? h : 1) < 0)
        return -ENOMEM;
    if (d->n > d->bound) {
        drift_ndv_free(d);
        d->overflow = 1;
    }
    return 0;
}

double drift_ndv_estimate(const drift_ndv_t *d)
{
    if (!d->overflow)
        return (double)d->n;
    const double m = 4096.0;
    double sum = 0;
    uint32_t zeros = 0;
    for (uint32_t i = 0; i < 4096; i++) {
        sum += ldexp(1.0, -(int)d->reg[i]);
        zeros += d->reg[i] == 0;
    }
    double e = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
    if (e <= 2.5 * m && zeros)
        e = m * log(m / zeros);
    return e < d->bound ? d->bound : e; /* it overflowed the exact count */
}

/* ------------------------------------------------------------------ histogram and MCVs */

/* qsort order of values (drift_val_cmp). */
static int s_vcmp(const void *a, const void *b)
{
    return drift_val_cmp(a, b);
}

typedef struct {
    size_t at, count;
} s_run_t;

/* Runs of equal values, most frequent first (ties: the smaller value first, for determinism). */
static int s_run_cmp(const void *a, const void *b)
{
    const s_run_t *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

int drift_stats_col_build(drift_arena_t *a, drift_value_t *vals, size_t n, size_t sample_rows, uint32_t buckets,
                          drift_colstats_t *out)
{
    out->nhist = out->nmcv = 0;
    if (n == 0 || sample_rows == 0)
        return 0;
    qsort(vals, n, sizeof *vals, s_vcmp);
    /* runs of equal values: the most common ones (more frequent than 1.25x the average, seen twice) */
    size_t nruns = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || drift_val_cmp(&vals[i - 1], &vals[i]) != 0)
            nruns++;
    s_run_t *runs = malloc(nruns * sizeof *runs);
    if (!runs)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || drift_val_cmp(&vals[i - 1], &vals[i]) != 0)
            runs[k++] = (s_run_t){i, 0};
        runs[k - 1].count++;
    }
    qsort(runs, nruns, sizeof *runs, s_run_cmp);
    double avg = (double)n / (double)nruns;
    uint32_t nm = 0;
    while (nm < nruns && nm < DRIFT_STATS_MCV && runs[nm].count >= 2 && (double)runs[nm].count > 1.25 * avg)
        nm++;
    if (nm) {
        out->mcv = drift_arena_alloc(a, nm * sizeof *out->mcv);
        out->mcvf = drift_arena_alloc(a, nm * sizeof *out->mcvf);
        if (!out->mcv || !out->mcvf)
            goto oom;
        for (uint32_t i = 0; i < nm; i++) {
            if (drift_val_copy(a, &vals[runs[i].at], &out->mcv[i]) < 0)
                goto oom;
            out->mcvf[i] = (double)runs[i].count / (double)sample_rows;
        }
        out->nmcv = nm;
    }
    free(runs);
    runs = NULL;
    /* equi-depth histogram: bounds at the quantiles j/nb, j = 0..nb */
    uint32_t nb = buckets;
    if (nb > n)
        nb = (uint32_t)n;
    if (nb < 1)
        nb = 1;
    out->hist = drift_arena_alloc(a, (nb + 1) * sizeof *out->hist);
    if (!out->hist)
        goto oom;
    for (uint32_t j = 0; j <= nb; j++) {
        size_t at = (size_t)(((double)j * (double)(n - 1)) / nb + 0.5);
        if (drift_val_copy(a, &vals[at], &out->hist[j]) < 0)
            goto oom;
    }
    out->nhist = nb + 1;
    return 0;
oom:
    free(runs);
    return -1;
}

/* ------------------------------------------------------------------ selectivity */

/* A value as a number for interpolation: 1 with it in *ret, 0 when it is not numeric. */
static int s_num(const drift_value_t *v, double *ret)
{
    switch (v->type) {
    case DRIFT_VAL_INT:
    case DRIFT_VAL_TIMESTAMP: *ret = (double)v->u.i; return 1;
    case DRIFT_VAL_REAL: *ret = v->u.r; return 1;
    case DRIFT_VAL_BOOL: *ret = v->u.b; return 1;
    default: return 0;
    }
}

/* Where v lies between a and b (a <= v <= b) as a fraction: linear for numbers, else 0.5. */
static double s_interp(const drift_value_t *a, const drift_value_t *b, const drift_value_t *v)
{
    double x, y, z;
    if (s_num(a, &x) && s_num(b, &y) && s_num(v, &z) && y > x) {
        double f = (z - x) / (y - x);
        return f < 0 ? 0 : f > 1 ? 1 : f;
    }
    return 0.5;
}

double drift_stats_frac_below(const drift_colstats_t *c, const drift_value_t *v)
{
    if (c->nhist >= 2) {
        uint32_t k = c->nhist - 1;
        const drift_value_t *b = c->hist;
        if (drift_val_cmp(v, &b[0]) <= 0)
            return 0;
        if (drift_val_cmp(v, &b[k]) > 0)
            return 1;
        /* the first bucket i with b[i] < v <= b[i+1] */
        uint32_t lo = 0, hi = k; /* invariant: b[lo] < v <= b[hi] */
        while (hi - lo > 1) {
            uint32_t mid = (lo + hi) / 2;
            if (drift_val_cmp(&b[mid], v) < 0)
                lo = mid;
            else
                hi = mid;
        }
        return ((double)lo + s_interp(&b[lo], &b[lo + 1], v)) / k;
    }
    if (c->has_minmax) {
        if (drift_val_cmp(v, &c->min) <= 0)
            return 0;
        if (drift_val_cmp(v, &c->max) > 0)
            return 1;
        return s_interp(&c->min, &c->max, v);
    }
    return 0.5;
}

double drift_stats_sel_eq(const drift_colstats_t *c, const drift_value_t *v)
{
    double nonnull = 1.0 - c->nullfrac;
    if (c->nd < 1 || nonnull <= 0)
        return 0;
    if (!v)
        return nonnull / c->nd;
    if (v->type == DRIFT_VAL_NULL)
        return 0;
    if (c->has_minmax && (drift_val_cmp(v, &c->min) < 0 || drift_val_cmp(v, &c->max) > 0))
        return 0;
    double mcvsum = 0, mcvmin = 1;
    for (uint32_t i = 0; i < c->nmcv; i++) {
        if (drift_val_cmp(v, &c->mcv[i]) == 0)
            return c->mcvf[i];
        mcvsum += c->mcvf[i];
        if (c->mcvf[i] < mcvmin)
            mcvmin = c->mcvf[i];
    }
    double rest = nonnull - mcvsum, rest_nd = c->nd - c->nmcv;
    if (rest < 0)
        rest = 0;
    if (rest_nd < 1)
        rest_nd = 1;
    double sel = rest / rest_nd;
    if (c->nmcv && sel > mcvmin)
        sel = mcvmin;
    return sel;
}

double drift_stats_sel_range(const drift_colstats_t *c, const drift_value_t *lo, int lo_incl, int unknown_lo,
                             const drift_value_t *hi, int hi_incl, int unknown_hi)
{
    double nonnull = 1.0 - c->nullfrac;
    if (nonnull <= 0)
        return 0;
    if (unknown_lo || unknown_hi)
        return nonnull * (unknown_lo && unknown_hi ? 0.1 : (lo && hi) ? 0.25 : 1.0 / 3);
    if ((lo && lo->type == DRIFT_VAL_NULL) || (hi && hi->type == DRIFT_VAL_NULL))
        return 0;
    double upper = 1, lower = 0;
    if (hi) {
        upper = drift_stats_frac_below(c, hi);
        if (hi_incl)
            upper += drift_stats_sel_eq(c, hi) / nonnull;
    }
    if (lo) {
        lower = drift_stats_frac_below(c, lo);
        if (!lo_incl)
            lower += drift_stats_sel_eq(c, lo) / nonnull;
    }
    double f = upper - lower;
    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    return f * nonnull;
}

double drift_stats_sel_null(const drift_colstats_t *c, int negate)
{
    return negate ? 1.0 - c->nullfrac : c->nullfrac;
}

/* ------------------------------------------------------------------ gathering */

/* Sets 53200 out of memory; returns -1. */
static int s_oom(drift_qctx_t *q)
{
    return drift_sqlerr_set(q->err, "53200", 0, "out of memory");
}

int drift_stats_compute(drift_table_t *t, drift_arena_t *a, drift_stats_t **ret)
{
    drift_qctx_t *q = t->q;
    const uint32_t nc = t->ncols, ni = t->nidx;
    drift_arena_t sa = {0}; /* sampled values and running min/max (freed at the end) */
    drift_tscan_t *sc = NULL;
    drift_ndv_t *nd = calloc(nc + (size_t)ni * DRIFT_STATS_IDX_PREFIX, sizeof *nd);
    uint64_t *nulls = calloc(nc ? nc : 1, sizeof *nulls);
    drift_value_t *mins = calloc(nc ? nc : 1, sizeof *mins), *maxs = calloc(nc ? nc : 1, sizeof *maxs);
    drift_value_t *samp = calloc((size_t)DRIFT_STATS_SAMPLE * (nc ? nc : 1), sizeof *samp);
    drift_value_t *tmp = calloc(DRIFT_STATS_SAMPLE, sizeof *tmp);
    drift_stats_t *s = drift_arena_alloc(a, sizeof *s);
    int rc = -1;
    if (!nd || !nulls || !mins || !maxs || !samp || !tmp || !s) {
        s_oom(q);
        goto out;
    }
    for (size_t i = 0; i < nc + (size_t)ni * DRIFT_STATS_IDX_PREFIX; i++)
        drift_ndv_init(&nd[i], DRIFT_STATS_EXACT_ND);
    uint64_t rows = 0, rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)t->id * 0x100000001b3ULL);
    if (drift_table_scan(t, NULL, 0, NULL, 0, &sc) < 0)
        goto out;
    drift_trow_t row;
    int r;
    while ((r = drift_tscan_next(sc, &row)) == 1) {
        if (drift_qctx_check(q) < 0)
            goto out;
        rows++;
        for (uint32_t i = 0; i < nc; i++) {
            const drift_value_t *v = &row.vals[i];
            if (v->type == DRIFT_VAL_NULL) {
                nulls[i]++;
                continue;
            }
            if (drift_ndv_add(&nd[i], drift_stats_hash(v, 0)) < 0)
                goto oom;
            if ((mins[i].type == DRIFT_VAL_NULL || drift_val_cmp(v, &mins[i]) < 0) &&
                drift_val_copy(&sa, v, &mins[i]) < 0)
                goto oom;
            if ((maxs[i].type == DRIFT_VAL_NULL || drift_val_cmp(v, &maxs[i]) > 0) &&
                drift_val_copy(&sa, v, &maxs[i]) < 0)
                goto oom;
        }
        for (uint32_t x = 0; x < ni; x++) {
            const drift_tidx_t *ix = &t->idx[x];
            uint64_t h = 0;
            for (uint32_t k = 0; k < ix->ncols && k < DRIFT_STATS_IDX_PREFIX; k++) {
                const drift_value_t *v = &row.vals[ix->cols[k]];
                if (v->type == DRIFT_VAL_NULL)
                    break; /* NULLs are not indexed values */
                h = drift_stats_hash(v, h);
                if (drift_ndv_add(&nd[nc + (size_t)x * DRIFT_STATS_IDX_PREFIX + k], h) < 0)
                    goto oom;
            }
        }
        uint64_t slot = rows - 1;
        if (rows > DRIFT_STATS_SAMPLE && (slot = drift_rand64(&rng) % rows) >= DRIFT_STATS_SAMPLE)
            continue;
        for (uint32_t i = 0; i < nc; i++)
            if (drift_val_copy(&sa, &row.vals[i], &samp[slot * nc + i]) < 0)
                goto oom;
    }
    if (r < 0)
        goto out;
    size_t ns = rows < DRIFT_STATS_SAMPLE ? (size_t)rows : DRIFT_STATS_SAMPLE;
    s->rows = (double)rows;
    s->ncols = nc;
    s->cols = drift_arena_alloc(a, (nc ? nc : 1) * sizeof *s->cols);
    s->idx = drift_arena_alloc(a, (ni ? ni : 1) * sizeof *s->idx);
    if (!s->cols || !s->idx)
        goto oom;
    for (uint32_t i = 0; i < nc; i++) {
        drift_colstats_t *c = &s->cols[i];
        c->present = 1;
        c->id = t->cols[i].id;
        c->nullfrac = rows ? (double)nulls[i] / (double)rows : 0;
        c->nd = drift_ndv_estimate(&nd[i]);
        if (t->cols[i].type == DRIFT_COL_JSON)
            continue; /* JSON documents: counts only (no order worth a histogram) */
        if (mins[i].type != DRIFT_VAL_NULL) {
            c->has_minmax = 1;
            if (drift_val_copy(a, &mins[i], &c->min) < 0 || drift_val_copy(a, &maxs[i], &c->max) < 0)
                goto oom;
        }
        size_t n = 0;
        for (size_t j = 0; j < ns; j++)
            if (samp[j * nc + i].type != DRIFT_VAL_NULL)
                tmp[n++] = samp[j * nc + i];
        if (drift_stats_col_build(a, tmp, n, ns, DRIFT_STATS_BUCKETS, c) < 0)
            goto oom;
    }
    for (uint32_t x = 0; x < ni; x++) {
        drift_idxstats_t *is = &s->idx[x];
        is->id = t->idx[x].id;
        is->nprefix = t->idx[x].ncols < DRIFT_STATS_IDX_PREFIX ? t->idx[x].ncols : DRIFT_STATS_IDX_PREFIX;
        for (uint32_t k = 0; k < is->nprefix; k++)
            is->nd[k] = drift_ndv_estimate(&nd[nc + (size_t)x * DRIFT_STATS_IDX_PREFIX + k]);
    }
    s->nidx = ni;
    *ret = s;
    rc = 0;
    goto out;
oom:
    s_oom(q);
out:
    drift_tscan_close(&sc);
    if (nd)
        for (size_t i = 0; i < nc + (size_t)ni * DRIFT_STATS_IDX_PREFIX; i++)
            drift_ndv_free(&nd[i]);
    free(nd);
    free(nulls);
    free(mins);
    free(maxs);
    free(samp);
    free(tmp);
    drift_arena_free(&sa);
    return rc;
}

/* ------------------------------------------------------------------ the record */

/* Packs a C string. */
static void s_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

#define STATS_VAL_MAX 256 /* text / blob bytes kept per stored value (a prefix keeps the order closely) */

/* Packs a value, text and blobs cut to STATS_VAL_MAX bytes (the record stays small). */
static void s_val(msgpack_packer *pk, const drift_value_t *v)
{
    drift_value_t x = *v;
    if ((x.type == DRIFT_VAL_TEXT || x.type == DRIFT_VAL_BLOB) && x.u.s.n > STATS_VAL_MAX) {
        size_t n = STATS_VAL_MAX;
        if (x.type == DRIFT_VAL_TEXT)
            while (n > 0 && ((unsigned char)x.u.s.p[n] & 0xc0) == 0x80)
                n--; /* not inside a UTF-8 sequence */
        x.u.s.n = n;
    }
    drift_val_pack(pk, &x);
}

/* Packs n values as an array. */
static void s_vals(msgpack_packer *pk, const drift_value_t *v, uint32_t n)
{
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++)
        s_val(pk, &v[i]);
}

void drift_stats_pack(const drift_table_t *t, const drift_stats_t *s, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    s_str(&pk, "ddl");
    s_str(&pk, "stats");
    s_str(&pk, "table");
    msgpack_pack_uint32(&pk, t->id);
    s_str(&pk, "rows");
    msgpack_pack_uint64(&pk, (uint64_t)s->rows);
    s_str(&pk, "cols");
    msgpack_pack_array(&pk, s->ncols);
    for (uint32_t i = 0; i < s->ncols; i++) {
        const drift_colstats_t *c = &s->cols[i];
        msgpack_pack_map(&pk, 8);
        s_str(&pk, "id");
        msgpack_pack_uint32(&pk, c->id);
        s_str(&pk, "nulls");
        msgpack_pack_double(&pk, c->nullfrac);
        s_str(&pk, "nd");
        msgpack_pack_double(&pk, c->nd);
        s_str(&pk, "min");
        if (c->has_minmax)
            s_val(&pk, &c->min);
        else
            msgpack_pack_nil(&pk);
        s_str(&pk, "max");
        if (c->has_minmax)
            s_val(&pk, &c->max);
        else
            msgpack_pack_nil(&pk);
        s_str(&pk, "hist");
        s_vals(&pk, c->hist, c->nhist);
        s_str(&pk, "mcv");
        s_vals(&pk, c->mcv, c->nmcv);
        s_str(&pk, "mcvf");
        msgpack_pack_array(&pk, c->nmcv);
        for (uint32_t j = 0; j < c->nmcv; j++)
            msgpack_pack_double(&pk, c->mcvf[j]);
    }
    s_str(&pk, "idx");
    msgpack_pack_array(&pk, s->nidx);
    for (uint32_t i = 0; i < s->nidx; i++) {
        msgpack_pack_map(&pk, 2);
        s_str(&pk, "id");
        msgpack_pack_uint32(&pk, s->idx[i].id);
        s_str(&pk, "nd");
        msgpack_pack_array(&pk, s->idx[i].nprefix);
        for (uint32_t k = 0; k < s->idx[i].nprefix; k++)
            msgpack_pack_double(&pk, s->idx[i].nd[k]);
    }
}

/* Whether map key k is the string s. */
static int s_key(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, s, n) == 0;
}

/* A number (integer or float) as a double: 0, or -1 when o is not a number. */
static int s_dbl(const msgpack_object *o, double *ret)
{
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *ret = o->via.f64; return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *ret = (double)o->via.u64; return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *ret = (double)o->via.i64; return 0;
    default: return -1;
    }
}

/* Values of an array as column type ty, copied into a; NULL values (or unreadable ones) make it fail. */
static int s_unvals(drift_arena_t *a, drift_coltype_t ty, const msgpack_object *o, drift_value_t **ret, uint32_t *n)
{
    *n = 0;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return -1;
    drift_value_t *v = drift_arena_alloc(a, (o->via.array.size + 1) * sizeof *v);
    if (!v)
        return -1;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        drift_value_t x;
        if (drift_val_unpack(ty, &o->via.array.ptr[i], &x) < 0 || x.type == DRIFT_VAL_NULL ||
            drift_val_copy(a, &x, &v[i]) < 0)
            return -1;
    }
    *ret = v;
    *n = o->via.array.size;
    return 0;
}

/* One column's map into s->cols (matched by id; a column the table no longer has is ignored). */
static int s_parse_col(drift_arena_t *a, const drift_table_t *t, drift_stats_t *s, const msgpack_object *m)
{
    if (m->type != MSGPACK_OBJECT_MAP)
        return -1;
    const msgpack_object *id = NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++)
        if (s_key(&m->via.map.ptr[i].key, "id"))
            id = &m->via.map.ptr[i].val;
    if (!id || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    int pos = -1;
    for (uint32_t i = 0; i < t->ncols; i++)
        if (t->cols[i].id == id->via.u64)
            pos = (int)i;
    if (pos < 0)
        return 0;
    drift_colstats_t *c = &s->cols[pos];
    drift_coltype_t ty = t->cols[pos].type;
    memset(c, 0, sizeof *c);
    c->id = (uint32_t)id->via.u64;
    const msgpack_object *mcvf = NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
        drift_value_t x;
        if (s_key(k, "nulls") && s_dbl(v, &c->nullfrac) < 0)
            return -1;
        if (s_key(k, "nd") && s_dbl(v, &c->nd) < 0)
            return -1;
        if ((s_key(k, "min") || s_key(k, "max")) && v->type != MSGPACK_OBJECT_NIL) {
            if (drift_val_unpack(ty, v, &x) < 0 || drift_val_copy(a, &x, s_key(k, "min") ? &c->min : &c->max) < 0)
                return -1;
            c->has_minmax = 1;
        }
        if (s_key(k, "hist") && s_unvals(a, ty, v, &c->hist, &c->nhist) < 0)
            return -1;
        if (s_key(k, "mcv") && s_unvals(a, ty, v, &c->mcv, &c->nmcv) < 0)
            return -1;
        if (s_key(k, "mcvf"))
            mcvf = v;
    }
    if (c->nmcv) {
        if (!mcvf || mcvf->type != MSGPACK_OBJECT_ARRAY || mcvf->via.array.size != c->nmcv ||
            !(c->mcvf = drift_arena_alloc(a, c->nmcv * sizeof *c->mcvf)))
            return -1;
        for (uint32_t j = 0; j < c->nmcv; j++)
            if (s_dbl(&mcvf->via.array.ptr[j], &c->mcvf[j]) < 0)
                return -1;
    }
    if (c->nhist == 1)
        c->nhist = 0;
    c->present = 1;
    return 0;
}

int drift_stats_parse(drift_arena_t *a, const drift_table_t *t, const void *rec, size_t len, drift_stats_t **ret)
{
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    int rc = -1;
    if (!msgpack_zone_init(&z, 4096))
        return -1;
    drift_stats_t *s = drift_arena_alloc(a, sizeof *s);
    if (!s || msgpack_unpack(rec, len, &off, &z, &o) != MSGPACK_UNPACK_SUCCESS || o.type != MSGPACK_OBJECT_MAP)
        goto out;
    s->ncols = t->ncols;
    s->cols = drift_arena_alloc(a, (t->ncols ? t->ncols : 1) * sizeof *s->cols);
    if (!s->cols)
        goto out;
    for (uint32_t i = 0; i < o.via.map.size; i++) {
        const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
        if (s_key(k, "rows") && s_dbl(v, &s->rows) < 0)
            goto out;
        if (s_key(k, "cols")) {
            if (v->type != MSGPACK_OBJECT_ARRAY)
                goto out;
            for (uint32_t j = 0; j < v->via.array.size; j++)
                if (s_parse_col(a, t, s, &v->via.array.ptr[j]) < 0)
                    goto out;
        }
        if (s_key(k, "idx")) {
            if (v->type != MSGPACK_OBJECT_ARRAY)
                goto out;
            s->idx = drift_arena_alloc(a, (v->via.array.size + 1) * sizeof *s->idx);
            if (!s->idx)
                goto out;
            for (uint32_t j = 0; j < v->via.array.size; j++) {
                const msgpack_object *m = &v->via.array.ptr[j];
                if (m->type != MSGPACK_OBJECT_MAP)
                    goto out;
                drift_idxstats_t *is = &s->idx[s->nidx];
                for (uint32_t x = 0; x < m->via.map.size; x++) {
                    const msgpack_object *mk = &m->via.map.ptr[x].key, *mv = &m->via.map.ptr[x].val;
                    if (s_key(mk, "id") && mv->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                        is->id = (uint32_t)mv->via.u64;
                    if (s_key(mk, "nd") && mv->type == MSGPACK_OBJECT_ARRAY) {
                        for (uint32_t y = 0; y < mv->via.array.size && y < DRIFT_STATS_IDX_PREFIX; y++)
                            if (s_dbl(&mv->via.array.ptr[y], &is->nd[y]) < 0)
                                goto out;
                        is->nprefix = mv->via.array.size < DRIFT_STATS_IDX_PREFIX ? mv->via.array.size
                                                                                   : DRIFT_STATS_IDX_PREFIX;
                    }
                }
                s->nidx++;
            }
        }
    }
    *ret = s;
    rc = 0;
out:
    msgpack_zone_destroy(&z);
    return rc;
}

int drift_stats_load(drift_table_t *t, drift_stats_t **ret)
{
    drift_qctx_t *q = t->q;
    const uint8_t *p;
    size_t len;
    uint64_t seq;
    if (!q || !q->rd || t->view_sql)
        return 0;
    if (drift_index_stats_get(q->rd, t->id, t->as_of, &p, &len, &seq) != 1)
        return 0;
    if (drift_stats_parse(q->arena, t, p, len, ret) < 0)
        return 0;
    (*ret)->seq = seq;
    return 1;
}

/* ------------------------------------------------------------------ ANALYZE */

typedef struct {
    drift_arena_t *a;
    const char **names;
    size_t n, cap;
} s_names_t;

/* drift_table_list callback: collects the table names into the arena. */
static int s_name_fn(const char *name, uint32_t id, void *arg)
{
    s_names_t *l = arg;
    (void)id;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        const char **nn = drift_arena_alloc(l->a, cap * sizeof *nn);
        if (!nn)
            return -1;
        if (l->n)
            memcpy(nn, l->names, l->n * sizeof *nn);
        l->names = nn;
        l->cap = cap;
    }
    if (!(l->names[l->n] = drift_arena_strndup(l->a, name, strlen(name))))
        return -1;
    l->n++;
    return 0;
}

int drift_stats_analyze(drift_qctx_t *q, const char *table, uint32_t pos)
{
    s_names_t l = {.a = q->arena};
    if (table) {
        if (s_name_fn(table, 0, &l) < 0)
            return s_oom(q);
    } else {
        int rc = drift_table_list(q, q->snap_seq, s_name_fn, &l);
        if (rc < 0)
            return q->err && q->err->code[0] ? -1 : s_oom(q);
        if (rc > 0)
            return s_oom(q);
    }
    if (!q->txn)
        return drift_sqlerr_set(q->err, "25000", 0, "no transaction to put the statistics in");
    for (size_t i = 0; i < l.n; i++) {
        drift_table_t *t;
        if (drift_table_open(q, l.names[i], q->snap_seq, pos, &t) < 0)
            return -1;
        if (t->view_sql) {
            if (table)
                return drift_sqlerr_set(q->err, "42809", pos, "ANALYZE: \"%s\" is a view", t->name);
            continue;
        }
        drift_stats_t *s;
        if (drift_stats_compute(t, q->arena, &s) < 0)
            return -1;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        drift_stats_pack(t, s, &sb);
        int rc = drift_txn_put(q->txn, DRIFT_COP_DDL, 0, NULL, 0, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        if (rc < 0)
            return s_oom(q);
    }
    return 0;
}
