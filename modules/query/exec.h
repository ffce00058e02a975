/* modules/query/exec.h — the executor: binds a parsed statement (ast.h)
 * against the catalog as of the right points, plans access paths, and runs
 * SELECT / INSERT / UPDATE / DELETE / EXPLAIN / DriftQL reads, streaming rows
 * to a sink (engine.h). engine.c owns sessions and transactions and calls it.
 * (Being written by helper D; internal structure is its own.) */
#ifndef DRIFT_QUERY_EXEC_H
#define DRIFT_QUERY_EXEC_H

#include "modules/query/ast.h"
#include "modules/query/engine.h"
#include "modules/query/expr.h"
#include "modules/query/table.h"

/* Runs one data statement (SELECT, INSERT, UPDATE, DELETE, EXPLAIN, SHOW DRIFT, SNAPSHOT, PATCH, SOFT
 * DELETE, SHOW TABLES) in the context q with parameters params. Rows go to sink; *ret_affected is the
 * row count for DML (-1 for a read). Returns 0 or -1 with q->err set. */
int drift_exec_statement(drift_qctx_t *q, const drift_stmt_t *st, const msgpack_object *params, drift_sink_t *sink,
                         int64_t *ret_affected);

#endif
