/* modules/query/exec_int.h — the executor's internal structures, shared by
 * exec.c (binding, execution, statements) and plan.c (access paths, join
 * order, EXPLAIN text). Not an API: nothing outside exec*.c/plan.c includes it.
 *
 * A statement is compiled into selects (xsel_t: a compound of cores), each
 * core (xcore_t) holding its FROM relations (xrel_t: an opened table, a
 * version scan or a derived table), the conjuncts of its WHERE, its output
 * expressions, aggregates and sort keys. Everything lives in the statement's
 * arena. Single-threaded: one statement at a time per worker. */
#ifndef DRIFT_QUERY_EXEC_INT_H
#define DRIFT_QUERY_EXEC_INT_H

#include <stdint.h>

#include "modules/query/ast.h"
#include "modules/query/exec.h"
#include "modules/query/expr.h"
#include "modules/query/table.h"

#define XQ_MAXRELS 63 /* relations per core (a bit mask of them fits a uint64_t) */
#define XQ_NPSEUDO 4  /* _seq, _ts, _op, _end_seq after a table's regular columns */

typedef struct xexec xexec_t;
typedef struct xsel xsel_t;
typedef struct xcore xcore_t;
typedef struct xrel xrel_t;
typedef struct xscope xscope_t;

/* The access path of one relation. */
typedef enum {
    XA_FULL = 0,  /* table scan / version scan / derived rows */
    XA_PK_EQ,     /* every pk column = a probe: one get */
    XA_PK_IN,     /* single-column pk IN (list): one get per distinct value */
    XA_PK_RANGE,  /* pk prefix equality and/or a range on the next pk column */
    XA_IDX_EQ,    /* secondary index prefix equality */
    XA_IDX_IN,    /* secondary index first column IN (list) */
    XA_IDX_RANGE, /* secondary index prefix equality and/or a range on the next column */
    XA_HASH,      /* hash join: rows hashed on hcol, probed with hprobe */
    XA_MAT,       /* nested loop over the materialized (pre-filtered) rows */
} xacc_kind_t;

typedef struct {
    xacc_kind_t kind;
    const drift_tidx_t *idx;
    uint32_t neq; /* leading columns with an equality probe */
    const drift_node_t *eq[16];
    const drift_node_t *in;      /* IN_LIST node on the first column (PK_IN / IDX_IN) */
    const drift_node_t *lo, *hi; /* range on the column after the equality prefix */
    int lo_incl, hi_incl;
    uint32_t hcol;              /* HASH: the relation's column ... */
    const drift_node_t *hprobe; /* ... equal to this expression of earlier relations */
} xacc_t;

struct xrel {
    uint32_t index;   /* position in the core's rels (= rowctx relation index) */
    const char *qual; /* alias, else the table name */
    const drift_from_t *from;
    drift_table_t *t; /* tables */
    int history;      /* FOR SYSTEM_TIME ALL / BETWEEN / FROM..TO: a version scan */
    uint64_t h_from, h_to;
    int h_incl;
    const char *h_text;   /* EXPLAIN text of the temporal clause */
    xsel_t *derived;      /* FROM (subquery) */
    uint32_t nreg, ncols; /* regular columns; all (with pseudo-columns) */
    const char **names;
    drift_val_type_t *types;
    uint8_t *star_hidden;  /* not in * (pseudo-columns, hidden _rowid) */
    uint8_t *using_hidden; /* merged into an earlier relation by USING / NATURAL */
    int left;              /* LEFT JOIN: null-extended when nothing matches */
    drift_node_t **on;     /* LEFT JOIN ON conjuncts */
    uint32_t non;
    uint64_t est; /* estimated rows: read it through xq_rel_est (tables count it on first use) */
    int est_known; /* est holds the estimate (views, derived tables: set at bind; tables: lazily) */
    const void *stats;      /* ANALYZE statistics as of the table's point (drift_stats_t *), NULL = none */
    int stats_loaded;       /* stats looked up (plan.c, lazily) */
    double est_rows, est_cost; /* the planner's estimates at this level (EXPLAIN) */
    xacc_t acc;
    drift_node_t **conds; /* conjuncts checked once this relation is placed */
    uint32_t nconds;
    /* runtime */
    drift_value_t *buf; /* the current row (ncols) */
    drift_value_t *nullrow;
    int mat_done;
    drift_value_t **mat; /* materialized rows (HASH, MAT, derived) */
    size_t nmat, capmat;
    int32_t *hbucket, *hnext; /* HASH: chains over mat */
    size_t hnb;
    uint64_t actual; /* rows produced at this level (EXPLAIN ANALYZE) */
    uint64_t loops;
    uint64_t time_ns; /* EXPLAIN ANALYZE: time spent at this level and below */
    uint64_t scanned; /* EXPLAIN ANALYZE: index entries (rows, versions) this level's scans stepped over */
    uint64_t mat_run; /* the core run mat was built in (correlated cores rebuild per run) */
};

/* A conjunct of WHERE (or an inner join's ON) and the relations it reads. */
typedef struct {
    drift_node_t *e;
    uint64_t mask;
} xconj_t;

struct xscope {
    xscope_t *parent;
    xcore_t *core;
    int allow_agg;
    int in_agg;
    int no_alias; /* alias fallback disabled (recursion guard) */
};

struct xcore {
    xexec_t *x;
    xsel_t *sel;
    const drift_select_t *s;
    xscope_t *parent; /* the enclosing query's scope (correlated references), or NULL */
    xrel_t **rels;
    uint32_t nrels;
    uint32_t order[XQ_MAXRELS];
    int has_left;
    uint32_t star_swap; /* k + 1 when a RIGHT JOIN swapped rels k and k + 1 (SELECT * shows them unswapped) */
    xconj_t *conj;
    uint32_t nconj, capconj;
    drift_node_t **pre; /* conjuncts that read no relation: checked once before the loops */
    uint32_t npre;
    /* output */
    uint32_t nout;
    drift_node_t **out;
    const char **names;
    drift_val_type_t *types;
    /* extra sort-key expressions appended after the output values (single-core selects) */
    uint32_t nkeys;
    drift_node_t **keys;
    /* aggregates */
    int is_agg;
    int minmax; /* the only aggregate is min() (1) or max() (2): bare columns come from its row */
    drift_node_t **aggs;
    uint32_t naggs, capaggs;
    drift_node_t **group;
    uint32_t ngroup;
    drift_node_t *having;
    int correlated;
    uint64_t runs; /* executions so far (a correlated core runs once per outer row) */
    int cbo;       /* some relation has ANALYZE statistics: paths and order chosen by estimated cost */
    xsel_t **subs; /* subqueries compiled in this core (EXPLAIN) */
    uint32_t nsubs, capsubs;
    uint64_t actual;
};

struct xsel {
    xexec_t *x;
    const drift_select_t *s;
    xcore_t **cores;
    uint32_t ncores;
    uint32_t ncols;
    const char **names;
    drift_val_type_t *types;
    /* ORDER BY over the rows the cores produce: column index in the row, direction, nulls */
    uint32_t norder;
    int ord_by_key; /* the access path already yields this order: no sort */
    uint32_t *ord_col;
    int *ord_desc, *ord_nulls;
    drift_node_t *limit, *offset;
    xcore_t *lim_core; /* an empty core: LIMIT / OFFSET / VALUES are evaluated in it */
    int correlated;
    /* cached result of an uncorrelated subquery */
    int cached;
    drift_value_t cval;
    struct xhset *cset;
    int cset_null;
    uint64_t actual;
};

struct xexec {
    drift_qctx_t *q;
    drift_evalenv_t env;
    drift_arena_t *arena;
    uint64_t base_as_of; /* tables without a temporal clause */
    int explain;         /* compiling for EXPLAIN (nothing executed) */
    int timing;          /* EXPLAIN ANALYZE: time each plan level */
    /* views read by this statement: their parsed SELECTs live until the statement ends */
    struct drift_ast **view_asts;
    uint32_t nview_asts, view_depth;
};

/* exec.c helpers plan.c uses */
int xq_err(xexec_t *x, const char *code, uint32_t bytepos, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void *xq_alloc(xexec_t *x, size_t n);
/* Relations read by an expression at depth 0 (subqueries: all relations). */
uint64_t xq_mask(const drift_node_t *n);
/* The relation's estimated rows, computed on first use (a table's estimate walks up to 1000 index entries:
 * only plans that choose between paths or orders, and EXPLAIN's rows=, ask for it). */
uint64_t xq_rel_est(xrel_t *r);

/* plan.c */
/* Chooses the join order and the access path of every relation of c, and places the conjuncts. */
int xplan_core(xcore_t *c);
/* EXPLAIN: appends the plan of s as text lines (indent: depth) via fn. */
typedef int (*xline_fn)(void *arg, const char *line);
int xplan_explain(xsel_t *s, int depth, int analyze, xline_fn fn, void *arg);
/* A readable text of an expression (EXPLAIN). */
const char *xplan_deparse(xexec_t *x, const drift_node_t *n);

#endif
