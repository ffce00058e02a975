/* modules/query/expr.h — values and expressions: comparison, arithmetic,
 * casts, functions and aggregates over drift_value_t (engine.h), and the
 * evaluation of AST expression nodes (ast.h) against a row context.
 *
 * Semantics follow SQLite wherever the sqllogictest suite observes them
 * (docs/query-language.md, "Values"): integer arithmetic stays integer and
 * `/` truncates, integer op real gives real, `x / 0` and `x % 0` are NULL,
 * integer overflow promotes to REAL, NULL propagates, comparisons between an
 * INTEGER and a REAL compare numerically (`1 = 1.0` is true), TEXT compares
 * bytewise, and in ORDER BY / DISTINCT / GROUP BY NULL < numbers (INTEGER,
 * REAL, BOOLEAN as 0/1, TIMESTAMP as ns) < TEXT < BLOB. A JSON scalar
 * compared with a non-JSON value is unwrapped first (string -> TEXT,
 * number -> INTEGER/REAL, true/false -> BOOLEAN, null -> NULL).
 *
 * Memory: results that need new bytes (concatenation, casts to text,
 * functions) are allocated in env->arena and live until the statement ends.
 * Single-threaded. */
#ifndef DRIFT_QUERY_EXPR_H
#define DRIFT_QUERY_EXPR_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "modules/query/arena.h"
#include "modules/query/ast.h"
#include "modules/query/engine.h"
#include "shm/keyenc.h"

/* ------------------------------------------------------------------ values */

/* Constructors. */
drift_value_t drift_val_null(void);
drift_value_t drift_val_int(int64_t i);
drift_value_t drift_val_real(double r);
drift_value_t drift_val_bool(int b);
drift_value_t drift_val_text(const char *p, size_t n); /* borrows p */
drift_value_t drift_val_blob(const void *p, size_t n); /* borrows p */
drift_value_t drift_val_ts(int64_t ns);
drift_value_t drift_val_json(const char *p, size_t n); /* borrows p: JSON text */

/* Total order for ORDER BY, DISTINCT, GROUP BY, set operations, MIN/MAX:
 * <0, 0, >0. NULLs are equal to each other and sort first. */
int drift_val_cmp(const drift_value_t *a, const drift_value_t *b);
/* SQL comparison for = <> < <= > >=: 1 true, 0 false, -1 NULL (unknown). */
int drift_val_compare_op(drift_bop_t op, const drift_value_t *a, const drift_value_t *b);
/* A hash consistent with drift_val_cmp() == 0 (1 and 1.0 hash alike). */
uint64_t drift_val_hash(const drift_value_t *v, uint64_t seed);
/* SQL truth value: 1 true, 0 false, -1 NULL. Numbers: non-zero is true; TEXT is read as a number (SQLite). */
int drift_val_truth(const drift_value_t *v);

/* A deep copy into the arena (text/blob/json bytes copied). Returns 0 or -1 (ENOMEM). */
int drift_val_copy(drift_arena_t *a, const drift_value_t *src, drift_value_t *dst);

/* Converts v to the column type t for storage (INSERT/UPDATE): INTEGER from an integral REAL or a
 * numeric TEXT, REAL from INTEGER, TEXT kept, BOOLEAN from 0/1/true/false, TIMESTAMP from an
 * RFC 3339 TEXT or INTEGER ns, JSON from valid JSON TEXT (validated) or any scalar (encoded).
 * NULL stays NULL. Returns 0, or -1 with err set (22P02 / 22003 / 22007 / 22023 naming column `col`). */
int drift_val_coerce(drift_arena_t *a, drift_coltype_t t, const drift_value_t *v, drift_value_t *out,
                     const char *col, drift_sqlerr_t *err);
/* CAST(v AS t) with SQLite's lenient rules (text to number takes the numeric prefix, etc.). */
int drift_val_cast(drift_arena_t *a, drift_coltype_t t, const drift_value_t *v, drift_value_t *out,
                   drift_sqlerr_t *err);

/* The value as a MessagePack object in the storage format of column type t (docs/indexes.md §1):
 * INTEGER int64, REAL float64, TEXT str, BLOB bin, BOOLEAN bool, TIMESTAMP int64 ns, JSON str, NULL nil.
 * v must already be coerced to t. */
void drift_val_pack(msgpack_packer *pk, const drift_value_t *v);
/* The value stored for a column of type t (decoding what drift_val_pack wrote). Borrows from o. */
int drift_val_unpack(drift_coltype_t t, const msgpack_object *o, drift_value_t *out);
/* Appends the memcomparable key encoding of v (coerced to t) for primary keys and index probes. */
void drift_val_keyenc(drift_keybuf_t *kb, drift_coltype_t t, const drift_value_t *v);
/* Text form (as the driftctl table and SQLite print it: integers, reals with %.15g semantics as
 * SQLite's, TEXT as is, BLOB raw bytes, BOOLEAN 1/0 ... see docs). Allocated in the arena. */
const char *drift_val_to_text(drift_arena_t *a, const drift_value_t *v, size_t *ret_len);
/* RFC 3339 parse / format (UTC, up to nanoseconds). Parse returns 0 or -1. */
int drift_ts_parse(const char *s, size_t n, int64_t *ret_ns);
/* Writes e.g. "2026-11-25T23:01:17.123456789Z" (trailing zero digits of the fraction dropped). */
size_t drift_ts_format(int64_t ns, char *buf, size_t cap);

/* ------------------------------------------------------------------ evaluation */

/* The rows an expression can see: rels[r][c] is column c of relation r (binder: node->rel/col),
 * aggs[k] the finished aggregate in slot k (binder: node->agg) when evaluating over a group,
 * outer the enclosing query's context for correlated subqueries (node->depth). */
typedef struct drift_rowctx drift_rowctx_t;
struct drift_rowctx {
    const drift_value_t *const *rels;
    uint32_t nrels;
    const drift_value_t *aggs;
    uint32_t naggs;
    const drift_rowctx_t *outer;
};

typedef struct drift_evalenv drift_evalenv_t;
/* Runs a subquery node for the evaluator (the executor provides it):
 *   SUBQUERY  -> *out = the single value of the first row (NULL when no row; 21000 when more than one column)
 *   EXISTS    -> *out = BOOLEAN (negate already applied by the evaluator, not by the callback)
 *   IN_SELECT -> *out = the value of (probe IN (sub)): BOOLEAN true/false, or NULL per SQL rules
 * Returns 0 or -1 with env->err set. */
typedef int (*drift_subquery_fn)(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx,
                                 const drift_value_t *probe, drift_value_t *out);

struct drift_evalenv {
    drift_arena_t *arena;
    const msgpack_object *params; /* ARRAY or NULL */
    const char *sql;              /* for error positions */
    size_t sql_len;
    drift_sqlerr_t *err;
    drift_subquery_fn subquery;
    void *subquery_arg;
    int64_t now_ns; /* statement start: CURRENT_TIMESTAMP, now() */
};

/* Evaluates n. Returns 0, or -1 with env->err set (42703 unbound column, 42883 unknown function,
 * 22xxx data errors, 07001 missing parameter, ...; positions are character positions). */
int drift_expr_eval(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx, drift_value_t *out);
/* SQLite's comparison affinity for a = b where a is the value of node ln and b of node rn (either node
 * may be NULL: no affinity): a numeric column (or CAST) compared with text that is wholly a number
 * compares as numbers, a TEXT column compared with a number that has no affinity compares as text.
 * Converts a or b in place (bytes in env->arena); call before drift_val_compare_op / hashing when
 * comparing values outside drift_expr_eval (IN (SELECT ...): ln = the probe, rn = the subquery's
 * select item; joins). Returns 0 or -1 (ENOMEM, env->err set). */
int drift_expr_affine(drift_evalenv_t *env, const drift_node_t *ln, drift_value_t *a, const drift_node_t *rn,
                      drift_value_t *b);
/* Evaluates a condition: 1 true, 0 false or NULL, -1 error. */
int drift_expr_cond(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx);
/* The value of parameter $idx (1-based) converted from MessagePack (maps/arrays become JSON text). */
int drift_expr_param(drift_evalenv_t *env, uint32_t idx, uint32_t pos, drift_value_t *out);
/* The result type of n when it can be known before execution (for reply column types), else NULL. */
drift_val_type_t drift_expr_type_hint(const drift_node_t *n);
/* Whether name is a scalar function the evaluator knows (lower case). */
int drift_func_exists(const char *name, uint32_t nargs);

/* ------------------------------------------------------------------ aggregates */

typedef enum {
    DRIFT_AGG_NONE = 0,
    DRIFT_AGG_COUNT_STAR,
    DRIFT_AGG_COUNT,
    DRIFT_AGG_SUM,   /* NULL over no rows; integer while exact, error 22003 on overflow (SQLite) */
    DRIFT_AGG_TOTAL, /* always REAL, 0.0 over no rows */
    DRIFT_AGG_AVG,   /* REAL */
    DRIFT_AGG_MIN,
    DRIFT_AGG_MAX,
    DRIFT_AGG_GROUP_CONCAT, /* group_concat(x [, sep]) , default sep "," */
} drift_agg_kind_t;

/* The aggregate a function name denotes (lower case; nargs as written; star for count(*)), or NONE. */
drift_agg_kind_t drift_agg_lookup(const char *name, uint32_t nargs, int star);

typedef struct drift_agg drift_agg_t;
/* A fresh accumulator (in the arena); distinct = f(DISTINCT x). */
drift_agg_t *drift_agg_new(drift_arena_t *a, drift_agg_kind_t kind, int distinct);
/* Adds one input (sep only for group_concat's 2nd argument). Returns 0 or -1 with err set. */
int drift_agg_step(drift_agg_t *g, const drift_value_t *v, const drift_value_t *sep, drift_sqlerr_t *err);
/* The result (may be called once, at the end of the group). */
int drift_agg_final(drift_agg_t *g, drift_value_t *out, drift_sqlerr_t *err);

#endif
