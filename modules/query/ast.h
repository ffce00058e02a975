/* modules/query/ast.h — the abstract syntax tree of every statement DriftDB
 * parses (SQL, the temporal extensions and the DriftQL forms).
 *
 * Produced by the parser (parser.h), read by the executor (exec.h) and the
 * expression evaluator (expr.h). Every node, string and array lives in the
 * arena of the drift_ast_t that owns the statement (one free). Identifiers:
 * unquoted ones are folded to lower case by the parser, "quoted" ones are kept
 * as written; all are NUL-terminated. pos fields are BYTE offsets of the
 * node's first token in the statement text (drift_lexer_charpos() turns them
 * into the 1-based character positions errors report).
 *
 * Binding: a few fields (marked "binder") are zero after parsing and are set
 * by the executor when it resolves names; the evaluator reads them. The AST
 * is not shared between threads. */
#ifndef DRIFT_QUERY_AST_H
#define DRIFT_QUERY_AST_H

#include <stddef.h>
#include <stdint.h>

#include "modules/query/engine.h"
#include "modules/query/lexer.h"
#include "shm/keyenc.h"

typedef struct drift_select drift_select_t;

/* ------------------------------------------------------------------ expressions */

typedef enum {
    DRIFT_AST_LITERAL = 1, /* value (TEXT/BLOB bytes live in the arena) */
    DRIFT_AST_PARAM,       /* param = N of $N (1-based); also `?` numbered left to right */
    DRIFT_AST_COLUMN,      /* [qualifier.]name; pseudo-columns _seq/_ts/_op/_end_seq are COLUMNs too */
    DRIFT_AST_STAR,        /* * or qualifier.* (only in a select list and count(*)) */
    DRIFT_AST_UNARY,       /* op = DRIFT_TOP_MINUS / DRIFT_TOP_PLUS / DRIFT_TOP_TILDE (~, bitwise not); l */
    DRIFT_AST_NOT,         /* l */
    DRIFT_AST_BINARY,      /* bop; l r */
    DRIFT_AST_AND,         /* l r */
    DRIFT_AST_OR,          /* l r */
    DRIFT_AST_ISNULL,      /* l IS [NOT] NULL (negate = IS NOT NULL); also ISNULL / NOTNULL */
    DRIFT_AST_IS,          /* l IS [NOT] r (null-safe equality; negate = IS NOT) */
    DRIFT_AST_BETWEEN,     /* l [NOT] BETWEEN args[0] AND args[1] */
    DRIFT_AST_IN_LIST,     /* l [NOT] IN (args...) */
    DRIFT_AST_IN_SELECT,   /* l [NOT] IN (sub) */
    DRIFT_AST_EXISTS,      /* [NOT] EXISTS (sub) */
    DRIFT_AST_SUBQUERY,    /* (sub) as a scalar */
    DRIFT_AST_LIKE,        /* l [NOT] LIKE r [ESCAPE args[0]] (nargs 0/1); glob = 1 for GLOB */
    DRIFT_AST_CASE,        /* CASE [l] WHEN args[2i] THEN args[2i+1] ... [ELSE r] END; nargs even */
    DRIFT_AST_CAST,        /* CAST(l AS cast_type) and l::type */
    DRIFT_AST_FUNC,        /* name(args...) ; distinct; star for count(*) ; aggregates included */
    DRIFT_AST_JSON,        /* a DriftQL {json} / [json] literal: value is DRIFT_VAL_JSON text (canonical) */
} drift_ast_kind_t;

typedef enum {
    DRIFT_BOP_ADD = 1,
    DRIFT_BOP_SUB,
    DRIFT_BOP_MUL,
    DRIFT_BOP_DIV,
    DRIFT_BOP_MOD,
    DRIFT_BOP_CONCAT, /* || */
    DRIFT_BOP_EQ,
    DRIFT_BOP_NE,
    DRIFT_BOP_LT,
    DRIFT_BOP_LE,
    DRIFT_BOP_GT,
    DRIFT_BOP_GE,
    DRIFT_BOP_JSON_GET,      /* -> : JSON value of a field (key text) or element (integer) */
    DRIFT_BOP_JSON_GET_TEXT, /* ->> : the same as SQL text/number */
    DRIFT_BOP_BITAND,        /* & */
    DRIFT_BOP_BITOR,         /* | */
    DRIFT_BOP_SHL,           /* << */
    DRIFT_BOP_SHR,           /* >> */
} drift_bop_t;

typedef struct drift_node drift_node_t;
struct drift_node {
    drift_ast_kind_t kind;
    uint32_t pos;
    drift_bop_t bop;    /* BINARY */
    drift_tok_op_t op;  /* UNARY */
    int negate;         /* NOT variants: IS NOT NULL, NOT BETWEEN, NOT IN, NOT EXISTS, NOT LIKE, IS NOT */
    int distinct;       /* FUNC: f(DISTINCT x) */
    int star;           /* FUNC: count(*) */
    int glob;           /* LIKE: GLOB instead */
    uint32_t param;     /* PARAM */
    drift_value_t value; /* LITERAL, JSON */
    const char *name;   /* COLUMN: column name; FUNC: function name (lower case); STAR: NULL */
    const char *qualifier; /* COLUMN / STAR: table name or alias, or NULL */
    drift_coltype_t cast_type; /* CAST */
    drift_node_t *l, *r;
    drift_node_t **args;
    uint32_t nargs;
    drift_select_t *sub; /* IN_SELECT, EXISTS, SUBQUERY */

    /* binder (executor): where a COLUMN's value comes from, or which aggregate slot a FUNC fills */
    int bound;          /* 1 once resolved */
    int32_t rel;        /* COLUMN: index of the relation in the current row context (see expr.h) */
    int32_t col;        /* COLUMN: index of the column within that relation's row */
    int32_t depth;      /* COLUMN: 0 = current query, 1 = the enclosing query (correlated), ... */
    int32_t agg;        /* FUNC that is an aggregate: slot in the group's accumulators; -1 otherwise (the parser sets -1) */
    void *plan;         /* IN_SELECT / EXISTS / SUBQUERY: the executor's compiled subquery (opaque) */
};

/* ------------------------------------------------------------------ time travel */

/* One point in time: @seq:N, a timestamp string, or an expression ($1, or an
 * expression that evaluates to an integer seq or a timestamp text). */
typedef enum {
    DRIFT_TP_NONE = 0,
    DRIFT_TP_SEQ,  /* @seq:N (seq) */
    DRIFT_TP_TIME, /* 'RFC 3339' (text, NUL-terminated; validated at execution: 22007) */
    DRIFT_TP_EXPR, /* expr: INTEGER = seq, TEXT = timestamp */
    DRIFT_TP_NOW,  /* NOW / CURRENT_TIMESTAMP / DEFAULT (SET AS OF ... resets the session default) */
} drift_tpoint_kind_t;

typedef struct {
    drift_tpoint_kind_t kind;
    uint32_t pos;
    uint64_t seq;
    const char *time;
    drift_node_t *expr;
} drift_tpoint_t;

typedef enum {
    DRIFT_TEMP_NONE = 0, /* no clause: the session default (SET AS OF) or the present */
    DRIFT_TEMP_AS_OF,    /* [FOR SYSTEM_TIME] AS OF a */
    DRIFT_TEMP_ALL,      /* FOR SYSTEM_TIME ALL: every version */
    DRIFT_TEMP_BETWEEN,  /* FOR SYSTEM_TIME BETWEEN a AND b: versions live at some point in [a, b] */
    DRIFT_TEMP_FROM_TO,  /* FOR SYSTEM_TIME FROM a TO b: versions live at some point in [a, b) */
} drift_temporal_kind_t;

typedef struct {
    drift_temporal_kind_t kind;
    uint32_t pos;
    drift_tpoint_t a, b;
} drift_temporal_t;

/* ------------------------------------------------------------------ FROM */

typedef enum {
    DRIFT_FROM_TABLE = 1, /* name [temporal] [[AS] alias] (a view name too) */
    DRIFT_FROM_SUBQUERY,  /* (sub) [AS] alias */
    DRIFT_FROM_JOIN,      /* left join_type right [ON on | USING (using...)] */
} drift_from_kind_t;

typedef enum {
    DRIFT_JOIN_INNER = 1, /* [INNER] JOIN, and comma (with no ON) */
    DRIFT_JOIN_LEFT,      /* LEFT [OUTER] JOIN */
    DRIFT_JOIN_CROSS,     /* CROSS JOIN and comma */
    DRIFT_JOIN_RIGHT,     /* RIGHT [OUTER] JOIN (the executor takes a single table on each side, with ON) */
} drift_join_t;

typedef struct drift_from drift_from_t;
struct drift_from {
    drift_from_kind_t kind;
    uint32_t pos;
    /* TABLE */
    const char *name;
    drift_temporal_t temporal;
    /* TABLE, SUBQUERY */
    const char *alias;
    drift_select_t *sub;
    /* JOIN */
    drift_join_t join;
    int natural;
    drift_from_t *left, *right;
    drift_node_t *on;
    const char **using_cols;
    uint32_t nusing;
};

/* ------------------------------------------------------------------ SELECT */

typedef struct {
    drift_node_t *expr; /* DRIFT_AST_STAR for * / t.* */
    const char *alias;  /* [AS] alias, or NULL */
    const char *text;   /* the item's source text (NUL-terminated), the column name when there is no alias */
} drift_select_item_t;

typedef struct {
    drift_node_t *expr; /* an integer literal k means the k-th select item (1-based), as in SQL */
    int desc;
    int nulls; /* 0 default (NULLs first ascending, as SQLite), 1 NULLS FIRST, 2 NULLS LAST */
} drift_order_item_t;

typedef enum {
    DRIFT_SETOP_NONE = 0,
    DRIFT_SETOP_UNION,
    DRIFT_SETOP_UNION_ALL,
    DRIFT_SETOP_INTERSECT,
    DRIFT_SETOP_EXCEPT,
} drift_setop_t;

struct drift_select {
    uint32_t pos;
    int distinct;
    drift_select_item_t *items;
    uint32_t nitems;
    drift_from_t *from; /* NULL: no FROM; several comma-separated items become a CROSS JOIN tree */
    drift_node_t *where;
    drift_node_t **group_by;
    uint32_t ngroup_by;
    drift_node_t *having;
    /* VALUES (...), (...) as a query: rows of nitems-wide expression lists (items NULL) */
    drift_node_t ***values;
    uint32_t nvalues;
    /* a compound: this select, then setop, then next (left-associative chain) */
    drift_setop_t setop;
    drift_select_t *next;
    /* ORDER BY / LIMIT / OFFSET apply to the whole compound; set on the first select only */
    drift_order_item_t *order_by;
    uint32_t norder_by;
    drift_node_t *limit, *offset;
};

/* ------------------------------------------------------------------ DDL */

typedef struct {
    const char *name;
    uint32_t pos;
    drift_coltype_t type; /* a declared type name DriftDB does not know is 42704 at parse time */
    int not_null;
    int primary_key; /* column constraint PRIMARY KEY */
    int unique;
    drift_node_t *default_expr; /* DEFAULT <literal | (expr)>, or NULL */
} drift_coldef_t;

typedef struct {
    const char *name; /* CONSTRAINT name, or NULL */
    const char **cols;
    uint32_t ncols;
} drift_keydef_t;

/* ------------------------------------------------------------------ statements */

typedef enum {
    DRIFT_STMT_SELECT = 1,  /* select */
    DRIFT_STMT_INSERT,      /* table, cols, select (VALUES rows are a select with values) or json; neither: DEFAULT VALUES */
    DRIFT_STMT_UPDATE,      /* table, sets, where */
    DRIFT_STMT_DELETE,      /* table, where */
    DRIFT_STMT_CREATE_TABLE,
    DRIFT_STMT_CREATE_INDEX,
    DRIFT_STMT_CREATE_VIEW, /* name, select, view_text */
    DRIFT_STMT_DROP_TABLE,  /* name, if_exists */
    DRIFT_STMT_DROP_INDEX,  /* name, if_exists */
    DRIFT_STMT_DROP_VIEW,   /* name, if_exists */
    DRIFT_STMT_ALTER_TABLE, /* table, alter */
    DRIFT_STMT_BEGIN,       /* isolation */
    DRIFT_STMT_COMMIT,
    DRIFT_STMT_ROLLBACK,    /* name != NULL: ROLLBACK TO [SAVEPOINT] name */
    DRIFT_STMT_SAVEPOINT,   /* name */
    DRIFT_STMT_RELEASE,     /* name */
    DRIFT_STMT_SET_AS_OF,   /* SET AS OF <point> (point.kind NOW resets) */
    DRIFT_STMT_EXPLAIN,     /* inner, analyze */
    DRIFT_STMT_ANALYZE,     /* table or NULL (all) */
    /* DriftQL */
    DRIFT_STMT_PATCH,       /* PATCH table KEY key... SET {json} */
    DRIFT_STMT_SOFT_DELETE, /* SOFT DELETE FROM table KEY key... */
    DRIFT_STMT_SHOW_DRIFT,  /* SHOW DRIFT table KEY key... */
    DRIFT_STMT_SNAPSHOT,    /* SNAPSHOT table */
    DRIFT_STMT_COMPACT,     /* COMPACT table */
    DRIFT_STMT_SHOW_TABLES, /* SHOW TABLES */
    DRIFT_STMT_SET_PARAM,   /* SET name {= | TO} value / RESET name / RESET ALL (name NULL): name, set_value */
} drift_stmt_kind_t;

/* BEGIN's ISOLATION LEVEL as written (named DRIFT_ISOLATION_* because ipc/commit.h's drift_iso_t owns
 * DRIFT_ISO_READ_COMMITTED etc., and engine.c/ddl.c include both). */
typedef enum {
    DRIFT_ISOLATION_DEFAULT = 0, /* REPEATABLE READ */
    DRIFT_ISOLATION_READ_COMMITTED,
    DRIFT_ISOLATION_REPEATABLE_READ,
    DRIFT_ISOLATION_SERIALIZABLE,
} drift_isolation_t;

typedef enum {
    DRIFT_ALTER_ADD_COLUMN = 1, /* coldef */
    DRIFT_ALTER_DROP_COLUMN,    /* name */
    DRIFT_ALTER_RENAME_COLUMN,  /* name -> new_name */
    DRIFT_ALTER_RENAME_TABLE,   /* new_name */
} drift_alter_kind_t;

typedef struct {
    drift_alter_kind_t kind;
    drift_coldef_t coldef;
    const char *name, *new_name;
} drift_alter_t;

typedef struct {
    const char *col;
    uint32_t pos;
    drift_node_t *expr;
} drift_set_item_t;

typedef struct drift_stmt drift_stmt_t;
struct drift_stmt {
    drift_stmt_kind_t kind;
    uint32_t pos;
    uint32_t max_param; /* highest $N (or number of ?) used */

    drift_select_t *select; /* SELECT; INSERT ... SELECT / VALUES; CREATE VIEW */

    const char *table; /* INSERT/UPDATE/DELETE/CREATE INDEX/ALTER/ANALYZE/DriftQL target; CREATE TABLE name */
    const char *alias; /* UPDATE/DELETE t [AS] alias */
    const char *name;  /* index / view / savepoint name; DROP target */
    int if_exists, if_not_exists;

    /* INSERT */
    const char **cols;
    uint32_t ncols;
    drift_node_t *json; /* DriftQL INSERT INTO t {json}: a DRIFT_AST_JSON node (or a $N parameter) */
    int replace;        /* REPLACE INTO / INSERT OR REPLACE: rows conflicting on the pk or a UNIQUE index are
                           deleted first (drift_table_replace) */
    /* In an INSERT's VALUES rows (select->values), a NULL expression is the keyword DEFAULT: the column's
       default (the parser allows it only in the rows of the INSERT's own top-level VALUES). */

    /* UPDATE */
    drift_set_item_t *sets;
    uint32_t nsets;
    drift_node_t *where; /* UPDATE, DELETE */

    /* CREATE TABLE (SQL form) */
    drift_coldef_t *coldefs;
    uint32_t ncoldefs;
    drift_keydef_t *primary_key; /* table constraint PRIMARY KEY (...), or NULL */
    drift_keydef_t *uniques;     /* table constraints UNIQUE (...) */
    uint32_t nuniques;
    /* CREATE TABLE t (pk=id, INDEX(a, b), ...) — DriftQL document table */
    int driftql;
    const char *doc_pk;       /* the document field that is the key */
    drift_keydef_t *doc_idx;  /* INDEX(...) entries: document fields */
    uint32_t ndoc_idx;

    /* CREATE INDEX name ON table (cols) */
    int unique;
    const char **idx_cols;
    uint32_t nidx_cols;

    /* CREATE VIEW: the SELECT's source text (NUL-terminated), stored in the catalog; with a column list
     * `CREATE VIEW v (a, b) AS ...` the stored text is the statement "CREATE VIEW v (a, b) AS SELECT ..." (a view
     * read parses either form) and view_cols names the columns */
    const char *view_text;
    const char **view_cols;
    uint32_t nview_cols;

    /* ALTER TABLE */
    drift_alter_t alter;

    /* BEGIN */
    drift_isolation_t isolation;

    /* SET AS OF */
    drift_tpoint_t point;

    /* SET name = on|off|true|false|default, RESET: 1 on, 0 off, -1 default */
    int set_value;

    /* EXPLAIN [ANALYZE] inner */
    drift_stmt_t *inner;
    int analyze;

    /* DriftQL: KEY k | KEY (k1, k2); PATCH ... SET {json} */
    drift_node_t **key;
    uint32_t nkey;
    drift_node_t *patch;
};

#endif
