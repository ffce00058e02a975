/* modules/query/parser.h — the SQL parser: tokens (lexer.h) to the AST of
 * ast.h.
 *
 * Recursive descent with one token of lookahead; expression precedence as
 * SQLite's (lowest first): OR; AND; NOT; = == != <> IS [NOT] IN LIKE GLOB
 * BETWEEN IS NULL; < <= > >=; & | << >>; + -; * / %; ||; -> ->>; unary - + ~;
 * COLLATE. Any unexpected token is 42601 with its (1-based character)
 * position; statement kinds DriftDB deliberately does not support (triggers,
 * REINDEX, REPLACE) are 0A000 naming the kind. Nodes live in an arena owned
 * by the drift_ast_t result (one free). Single-threaded. */
#ifndef DRIFT_QUERY_PARSER_H
#define DRIFT_QUERY_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "modules/query/ast.h"
#include "modules/query/engine.h"
#include "modules/query/lexer.h"

typedef struct drift_ast drift_ast_t;

/* Parses exactly one statement (an optional trailing ';'). Returns 0 and *ret_ast (owning the
 * statement), or -1 with err set (42601 with a position, 42704 unknown type, 0A000 unsupported kind). */
int drift_parse(const char *sql, size_t len, drift_ast_t **ret_ast, drift_sqlerr_t *err);
/* The parsed statement (borrowed; the executor may write the binder fields of its nodes). */
drift_stmt_t *drift_ast_stmt(const drift_ast_t *ast);
/* Frees the AST and all its nodes; NULLs *self_p; accepts NULL. */
void drift_ast_destroy(drift_ast_t **self_p);

#endif
