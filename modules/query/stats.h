/* modules/query/stats.h — planner statistics: what ANALYZE gathers, how it is
 * stored (the record of shm/stats.h, committed as a DDL-kind op on table 0 and
 * kept history-aware by the indexer), how the planner reads it back as of the
 * seq a table is opened at, and the selectivity estimates plan.c derives from
 * it.
 *
 * Per table: the row count. Per column (by column id, so ALTER TABLE keeps the
 * statistics of the columns that stay): the fraction of NULLs, the number of
 * distinct non-NULL values (exact up to DRIFT_STATS_EXACT_ND, then a
 * HyperLogLog estimate), min and max, the most common values with their
 * frequencies, and an equi-depth histogram of up to DRIFT_STATS_BUCKETS
 * buckets built from a reservoir sample of up to DRIFT_STATS_SAMPLE rows
 * (fixed seed: the same table gives the same statistics). Per secondary
 * index: the number of distinct values of each leading-column prefix.
 *
 * Single-threaded (one statement at a time per worker); everything a parsed
 * record holds lives in the arena it was parsed into. */
#ifndef DRIFT_QUERY_STATS_H
#define DRIFT_QUERY_STATS_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "modules/query/arena.h"
#include "modules/query/expr.h"
#include "modules/query/table.h"

#define DRIFT_STATS_SAMPLE 30000u    /* reservoir sample size (rows) */
#define DRIFT_STATS_BUCKETS 32u      /* histogram buckets */
#define DRIFT_STATS_MCV 10u          /* most common values kept per column */
#define DRIFT_STATS_EXACT_ND 50000u  /* distinct values counted exactly up to this many */
#define DRIFT_STATS_IDX_PREFIX 4u    /* index prefixes with a distinct count */

/* Statistics of one column. */
typedef struct {
    int present;             /* the record has this column */
    uint32_t id;             /* column id */
    double nullfrac;         /* NULLs / rows */
    double nd;               /* distinct non-NULL values */
    int has_minmax;
    drift_value_t min, max;
    uint32_t nhist;          /* histogram bounds (buckets + 1), 0 = none */
    drift_value_t *hist;
    uint32_t nmcv;           /* most common values and their frequency (fraction of all rows) */
    drift_value_t *mcv;
    double *mcvf;
} drift_colstats_t;

/* Statistics of one secondary index: distinct values of its first 1..nprefix columns. */
typedef struct {
    uint32_t id;
    uint32_t nprefix;
    double nd[DRIFT_STATS_IDX_PREFIX];
} drift_idxstats_t;

/* The statistics of one table as of a point. */
typedef struct {
    uint64_t seq;            /* the ANALYZE's commit (0: computed, not stored yet) */
    double rows;
    uint32_t ncols;          /* = the opened table's ncols: cols[i] is column position i */
    drift_colstats_t *cols;
    uint32_t nidx;
    drift_idxstats_t *idx;
} drift_stats_t;

/* ---- distinct counting (exact up to a bound, then HyperLogLog) ---- */
typedef struct {
    uint64_t *set; /* open addressing, 0 = empty (hash 0 is stored as 1) */
    size_t cap, n;
    uint32_t bound;  /* exact up to this many */
    int overflow;    /* the set was dropped: the estimate comes from the registers */
    uint8_t reg[4096];
} drift_ndv_t;

void drift_ndv_init(drift_ndv_t *d, uint32_t exact_bound);
/* Adds a 64-bit hash (well mixed). Returns 0 or -ENOMEM. */
int drift_ndv_add(drift_ndv_t *d, uint64_t h);
double drift_ndv_estimate(const drift_ndv_t *d);
void drift_ndv_free(drift_ndv_t *d);
/* A mixed hash of a value (for drift_ndv_add). */
uint64_t drift_stats_hash(const drift_value_t *v, uint64_t seed);

/* Builds a column's histogram and most common values from n sampled non-NULL values (sorted in place)
 * out of sample_rows sampled rows; nullfrac, nd, min/max must already be set in out. Returns 0 or -1 (OOM). */
int drift_stats_col_build(drift_arena_t *a, drift_value_t *vals, size_t n, size_t sample_rows, uint32_t buckets,
                          drift_colstats_t *out);

/* ---- selectivity (fractions of all rows of the table) ---- */
/* col = v (v NULL: a value not known at plan time). */
double drift_stats_sel_eq(const drift_colstats_t *c, const drift_value_t *v);
/* lo < col < hi (bounds may be NULL = open; *_incl: <= / >=; a bound not known at plan time: pass
 * unknown_lo / unknown_hi = 1). */
double drift_stats_sel_range(const drift_colstats_t *c, const drift_value_t *lo, int lo_incl, int unknown_lo,
                             const drift_value_t *hi, int hi_incl, int unknown_hi);
/* col IS NULL (negate: IS NOT NULL). */
double drift_stats_sel_null(const drift_colstats_t *c, int negate);
/* Fraction of non-NULL values below v (histogram; 0.5 without one). */
double drift_stats_frac_below(const drift_colstats_t *c, const drift_value_t *v);

/* ---- gathering, storage, reading ---- */
/* Scans t (opened present) and computes its statistics into a (arena). Returns 0 or -1 with q->err. */
int drift_stats_compute(drift_table_t *t, drift_arena_t *a, drift_stats_t **ret);
/* The stats record of t ({"ddl": "stats", "table": id, ...}) into sb. */
void drift_stats_pack(const drift_table_t *t, const drift_stats_t *s, msgpack_sbuffer *sb);
/* Parses a stats record for table t as opened (columns matched by id). Returns 0, or -1 when malformed. */
int drift_stats_parse(drift_arena_t *a, const drift_table_t *t, const void *rec, size_t len, drift_stats_t **ret);
/* The statistics of t as of t->as_of (the latest ANALYZE at or before it, from the index snapshot):
 * 1 with them in *ret (t->q->arena), 0 when there are none (or they cannot be read). */
int drift_stats_load(drift_table_t *t, drift_stats_t **ret);
/* ANALYZE [table]: gathers the statistics of table (NULL: every table) as of the statement's snapshot and
 * puts one stats op per table into q->txn. Returns 0 or -1 with q->err. */
int drift_stats_analyze(drift_qctx_t *q, const char *table, uint32_t pos);

#endif
