/* modules/query/parser.h — the SQL parser: tokens (lexer.h) to an AST.
 *
 * Recursive descent with one token of lookahead. Today it parses
 * SELECT <expr> [[AS] alias] [, ...] [;] without FROM and the transaction
 * statements (BEGIN/START, COMMIT/END, ROLLBACK/ABORT); every other statement
 * kind is recognised by its first keyword and refused with 0A000, and any
 * unexpected token is 42601 with its position. Nodes live in an arena owned by
 * the drift_ast_t result (one free). Single-threaded. */
#ifndef DRIFT_QUERY_PARSER_H
#define DRIFT_QUERY_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "modules/query/engine.h"
#include "modules/query/lexer.h"

typedef enum {
    DRIFT_AST_LITERAL, /* value */
    DRIFT_AST_PARAM,   /* param (1-based) */
    DRIFT_AST_UNARY,   /* op (DRIFT_TOP_MINUS/PLUS, or NOT as DRIFT_AST_NOT) l */
    DRIFT_AST_BINARY,  /* op l r */
    DRIFT_AST_AND,
    DRIFT_AST_OR,
    DRIFT_AST_NOT,
    DRIFT_AST_ISNULL, /* l IS [NOT] NULL; negate */
    DRIFT_AST_COLUMN, /* name (no FROM yet: always 42703 at eval) */
} drift_ast_kind_t;

typedef struct drift_node drift_node_t;
struct drift_node {
    drift_ast_kind_t kind;
    drift_tok_op_t op;
    uint32_t pos; /* byte offset of the node's first token */
    int negate;
    uint32_t param;
    drift_value_t value;
    const char *name;
    size_t name_len;
    drift_node_t *l, *r;
};

typedef struct {
    drift_node_t *expr;
    const char *alias; /* NUL-terminated; the alias, or the expression's source text */
} drift_select_item_t;

typedef enum {
    DRIFT_STMT_SELECT = 1,
    DRIFT_STMT_BEGIN,    /* BEGIN [TRANSACTION|WORK] | START TRANSACTION, [ISOLATION LEVEL ...] */
    DRIFT_STMT_COMMIT,   /* COMMIT [TRANSACTION|WORK] | END [TRANSACTION|WORK] */
    DRIFT_STMT_ROLLBACK, /* ROLLBACK [TRANSACTION|WORK] | ABORT [TRANSACTION|WORK] */
} drift_stmt_kind_t;

typedef enum {
    DRIFT_ISO_DEFAULT = 0, /* REPEATABLE READ */
    DRIFT_ISO_READ_COMMITTED,
    DRIFT_ISO_REPEATABLE_READ,
    DRIFT_ISO_SERIALIZABLE,
} drift_isolation_t;

typedef struct {
    drift_stmt_kind_t kind;
    uint32_t nitems;
    drift_select_item_t *items;
    uint32_t max_param;          /* highest $N used */
    drift_isolation_t isolation; /* BEGIN */
} drift_stmt_t;

typedef struct drift_ast drift_ast_t;

/* Parses exactly one statement. Returns 0 and *ret_ast (owning the statement), or -1 with err
 * set (42601 with a position, 0A000 for statement kinds not supported yet). */
int drift_parse(const char *sql, size_t len, drift_ast_t **ret_ast, drift_sqlerr_t *err);
/* The parsed statement (borrowed). */
const drift_stmt_t *drift_ast_stmt(const drift_ast_t *ast);
/* Frees the AST and all its nodes; NULLs *self_p; accepts NULL. */
void drift_ast_destroy(drift_ast_t **self_p);

#endif
