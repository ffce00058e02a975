/* modules/query/expr_priv.h — helpers shared by value.c, expr.c, func.c and
 * agg.c (the implementation of expr.h); not an API for other modules.
 * Single-threaded, like expr.h. */
#ifndef DRIFT_QUERY_EXPR_PRIV_H
#define DRIFT_QUERY_EXPR_PRIV_H

#include <msgpack.h>

#include "modules/query/expr.h"

/* A JSON text parsed into a MessagePack object (root); strings borrow from sb. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_unpacked u;
    const msgpack_object *root;
} drift_jdoc_t;

/* Parses JSON text p[0..n). Returns 0, or -1 with a message in err (errcap bytes, may be NULL).
 * Always call drift_jdoc_free() afterwards. */
int drift_jdoc_parse(drift_jdoc_t *d, const char *p, size_t n, char *err, size_t errcap);
void drift_jdoc_free(drift_jdoc_t *d);
/* The SQL value of a JSON node: string -> TEXT, number -> INTEGER/REAL, bool -> BOOLEAN, nil -> NULL,
 * map/array -> JSON text (allocated in a; when a is NULL, containers are left as *out untouched and
 * 0 is returned). Scalars borrow from o. Returns 1 when o is a scalar, 0 for a container, -1 ENOMEM. */
int drift_jnode_value(drift_arena_t *a, const msgpack_object *o, drift_value_t *out);

/* The value with JSON scalars unwrapped (JSON text parsed; a container stays JSON). *tmp must be
 * freed with drift_jdoc_free() when *ret_used is set. Non-JSON values are copied as they are. */
void drift_val_unwrap(const drift_value_t *v, drift_value_t *out, drift_jdoc_t *tmp, int *ret_used);

/* SQLite's conversion of a value to a number for arithmetic: TEXT/BLOB take their numeric prefix
 * (none -> INTEGER 0), BOOLEAN 0/1, TIMESTAMP its ns, INTEGER/REAL as they are, NULL stays NULL,
 * JSON is unwrapped first (a container -> 0). */
void drift_val_numify(const drift_value_t *v, drift_value_t *out);
/* Whether text p[0..n) is entirely a number (surrounding blanks allowed); *out gets it. */
int drift_text_numeric(const char *p, size_t n, drift_value_t *out);
/* The number at the start of p[0..n) (SQLite prefix rule): INTEGER when integral and in range. */
void drift_text_num_prefix(const char *p, size_t n, drift_value_t *out);
/* The value as a double (after numify). */
double drift_val_real_of(const drift_value_t *v);
/* The value as an int64 where SQLite wants an integer (function arguments, %, bit operators): like
 * CAST AS INTEGER — TEXT by its sign and leading digits ('1e3' is 1), REAL truncated and clamped. */
int64_t drift_val_int_of(const drift_value_t *v);

/* Evaluates a scalar function call node (func.c) with already evaluated arguments. */
int drift_func_call(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *args, uint32_t nargs,
                    drift_value_t *out);
/* The static result type of a scalar function, or NULL (unknown). */
drift_val_type_t drift_func_type_hint(const char *name, uint32_t nargs);

/* Looks up path in JSON text (SQLite json_extract path syntax "$", "$.a.b", "$[0]", "$.a[#-1]", or a
 * plain key label when labels is set). Returns 1 found (*ret_node points into d), 0 absent,
 * -1 bad JSON / bad path (message in err). */
int drift_json_path(drift_jdoc_t *d, const char *path, size_t plen, const msgpack_object **ret_node, char *err,
                    size_t errcap);

/* The error position of node n (1-based characters), 0 without statement text. */
uint32_t drift_expr_pos(const drift_evalenv_t *env, const drift_node_t *n);

#endif
