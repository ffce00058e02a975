/* tests/unit/test_parser.c — the SQL parser (modules/query/parser.c): every
 * statement and expression form of ast.h parses to the expected tree (fields
 * checked, not only the return code), precedence, temporal clauses, DriftQL,
 * errors with their SQLSTATE and 1-based character position, the depth limit,
 * and every statement of the sqllogictest files in ../shared/slt (read at test
 * time, never copied: DRIFT_SLT_DIR, else $DRIFT_SRCDIR/../shared/slt). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "modules/query/parser.h"

/* ------------------------------------------------------------------ helpers */

static drift_ast_t *g_ast; /* the last parsed statement, freed by the teardown */

static int s_teardown(void **state)
{
    (void)state;
    drift_ast_destroy(&g_ast);
    return 0;
}

/* Parses sql, which must succeed; returns its statement (valid until the next call). */
static drift_stmt_t *s_ok(const char *sql)
{
    drift_sqlerr_t err;
    memset(&err, 0, sizeof err);
    drift_ast_destroy(&g_ast);
    if (drift_parse(sql, strlen(sql), &g_ast, &err) != 0)
        fail_msg("parse of [%s] failed: %s %s (position %u)", sql, err.code, err.message, err.position);
    assert_non_null(g_ast);
    drift_stmt_t *st = drift_ast_stmt(g_ast);
    assert_non_null(st);
    return st;
}

/* sql must fail with code at 1-based character position pos (0: do not check) and a message containing msg. */
static void s_fail(const char *sql, const char *code, uint32_t pos, const char *msg)
{
    drift_sqlerr_t err;
    memset(&err, 0, sizeof err);
    drift_ast_t *ast = (drift_ast_t *)0x1;
    int rc = drift_parse(sql, strlen(sql), &ast, &err);
    if (rc == 0) {
        drift_ast_destroy(&ast);
        fail_msg("parse of [%s] succeeded, expected %s", sql, code);
    }
    assert_int_equal(rc, -1);
    assert_null(ast);
    if (strcmp(err.code, code) != 0)
        fail_msg("[%s]: %s %s, expected %s", sql, err.code, err.message, code);
    if (pos && err.position != pos)
        fail_msg("[%s]: position %u, expected %u (%s)", sql, err.position, pos, err.message);
    if (msg && !strstr(err.message, msg))
        fail_msg("[%s]: message \"%s\" lacks \"%s\"", sql, err.message, msg);
}

/* The only select item's expression of SELECT <expr>. */
static drift_node_t *s_expr1(const char *sql)
{
    drift_stmt_t *st = s_ok(sql);
    assert_int_equal(st->kind, DRIFT_STMT_SELECT);
    assert_int_equal(st->select->nitems, 1);
    return st->select->items[0].expr;
}

/* Renders an expression tree as a fully parenthesised string (for precedence checks). */
static void s_render(const drift_node_t *n, char *b, size_t cap)
{
    static const char *const bops[] = {"?",  "+", "-",  "*",  "/",   "%", "||", "=",  "<>", "<",
                                       "<=", ">", ">=", "->", "->>", "&", "|",  "<<", ">>"};
    char l[512] = "", r[512] = "";
    if (!n) {
        snprintf(b, cap, "_");
        return;
    }
    switch (n->kind) {
    case DRIFT_AST_LITERAL:
        if (n->value.type == DRIFT_VAL_INT)
            snprintf(b, cap, "%lld", (long long)n->value.u.i);
        else if (n->value.type == DRIFT_VAL_REAL)
            snprintf(b, cap, "%g", n->value.u.r);
        else if (n->value.type == DRIFT_VAL_TEXT)
            snprintf(b, cap, "'%.*s'", (int)n->value.u.s.n, n->value.u.s.p);
        else if (n->value.type == DRIFT_VAL_NULL)
            snprintf(b, cap, "NULL");
        else if (n->value.type == DRIFT_VAL_BOOL)
            snprintf(b, cap, n->value.u.b ? "TRUE" : "FALSE");
        else
            snprintf(b, cap, "lit");
        return;
    case DRIFT_AST_PARAM: snprintf(b, cap, "$%u", n->param); return;
    case DRIFT_AST_COLUMN:
        snprintf(b, cap, "%s%s%s", n->qualifier ? n->qualifier : "", n->qualifier ? "." : "", n->name);
        return;
    case DRIFT_AST_STAR: snprintf(b, cap, "%s%s*", n->qualifier ? n->qualifier : "", n->qualifier ? "." : ""); return;
    case DRIFT_AST_UNARY:
        s_render(n->l, l, sizeof l);
        snprintf(b, cap, "(%s%s)", n->op == DRIFT_TOP_MINUS ? "-" : n->op == DRIFT_TOP_PLUS ? "+" : "~", l);
        return;
    case DRIFT_AST_NOT:
        s_render(n->l, l, sizeof l);
        snprintf(b, cap, "(NOT %s)", l);
        return;
    case DRIFT_AST_BINARY:
    case DRIFT_AST_AND:
    case DRIFT_AST_OR:
    case DRIFT_AST_IS:
        s_render(n->l, l, sizeof l);
        s_render(n->r, r, sizeof r);
        snprintf(b, cap, "(%s %s %s)", l,
                 n->kind == DRIFT_AST_AND  ? "AND"
                 : n->kind == DRIFT_AST_OR ? "OR"
                 : n->kind == DRIFT_AST_IS ? (n->negate ? "IS NOT" : "IS")
                                           : bops[n->bop],
                 r);
        return;
    case DRIFT_AST_ISNULL:
        s_render(n->l, l, sizeof l);
        snprintf(b, cap, "(%s IS %sNULL)", l, n->negate ? "NOT " : "");
        return;
    case DRIFT_AST_BETWEEN: {
        char a0[256], a1[256];
        s_render(n->l, l, sizeof l);
        s_render(n->args[0], a0, sizeof a0);
        s_render(n->args[1], a1, sizeof a1);
        snprintf(b, cap, "(%s %sBETWEEN %s AND %s)", l, n->negate ? "NOT " : "", a0, a1);
        return;
    }
    case DRIFT_AST_LIKE:
        s_render(n->l, l, sizeof l);
        s_render(n->r, r, sizeof r);
        snprintf(b, cap, "(%s %s%s %s)", l, n->negate ? "NOT " : "", n->glob ? "GLOB" : "LIKE", r);
        return;
    case DRIFT_AST_IN_LIST:
        s_render(n->l, l, sizeof l);
        snprintf(b, cap, "(%s %sIN [%u])", l, n->negate ? "NOT " : "", n->nargs);
        return;
    case DRIFT_AST_IN_SELECT:
        s_render(n->l, l, sizeof l);
        snprintf(b, cap, "(%s %sIN SELECT)", l, n->negate ? "NOT " : "");
        return;
    case DRIFT_AST_FUNC: {
        size_t o = (size_t)snprintf(b, cap, "%s(%s%s", n->name, n->distinct ? "DISTINCT " : "", n->star ? "*" : "");
        for (uint32_t i = 0; i < n->nargs && o < cap; i++) {
            s_render(n->args[i], l, sizeof l);
            o += (size_t)snprintf(b + o, cap - o, "%s%s", i ? "," : "", l);
        }
        if (o < cap)
            snprintf(b + o, cap - o, ")");
        return;
    }
    case DRIFT_AST_CAST:
        s_render(n->l, l, sizeof l);
        snprintf(b, cap, "CAST(%s AS %s)", l, drift_coltype_name(n->cast_type));
        return;
    default: snprintf(b, cap, "<%d>", (int)n->kind); return;
    }
}

/* SELECT <expr> renders as want. */
static void s_prec(const char *expr, const char *want)
{
    char sql[512], got[1024];
    snprintf(sql, sizeof sql, "SELECT %s", expr);
    s_render(s_expr1(sql), got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got %s, expected %s", expr, got, want);
}

/* ------------------------------------------------------------------ expressions */

static void t_precedence(void **state)
{
    (void)state;
    s_prec("1 + 2 * 3", "(1 + (2 * 3))");
    s_prec("1 * 2 + 3", "((1 * 2) + 3)");
    s_prec("1 - 2 - 3", "((1 - 2) - 3)");
    s_prec("8 / 4 % 3", "((8 / 4) % 3)");
    s_prec("a * b || c", "(a * (b || c))");
    s_prec("a || b || c", "((a || b) || c)");
    s_prec("a = 1 AND b = 2 OR c = 3", "(((a = 1) AND (b = 2)) OR (c = 3))");
    s_prec("a OR b AND c", "(a OR (b AND c))");
    s_prec("NOT a = b", "(NOT (a = b))");
    s_prec("NOT NOT a", "(NOT (NOT a))");
    s_prec("NOT a AND b", "((NOT a) AND b)");
    s_prec("a < b = c < d", "((a < b) = (c < d))");
    s_prec("a == b != c <> d", "(((a = b) <> c) <> d)");
    s_prec("1 + 2 << 3", "((1 + 2) << 3)");
    s_prec("a & b | c >> 1", "(((a & b) | c) >> 1)");
    s_prec("a << 1 < b", "((a << 1) < b)");
    s_prec("-a * b", "((-a) * b)");
    s_prec("- 5 * 2", "(-5 * 2)");
    s_prec("+a", "(+a)");
    s_prec("~a + 1", "((~a) + 1)");
    s_prec("- - 4", "4"); /* nested signs fold */
    s_prec("- (4)", "-4");
    s_prec("x -> 'a' ->> 'b'", "((x -> 'a') ->> 'b')");
    s_prec("x -> 'a' || 'b'", "((x -> 'a') || 'b')");
    s_prec("-x -> 'a'", "((-x) -> 'a')");
    s_prec("x ->> 0 = 1", "((x ->> 0) = 1)");
    s_prec("a IS NULL", "(a IS NULL)");
    s_prec("a IS NOT NULL", "(a IS NOT NULL)");
    s_prec("a ISNULL", "(a IS NULL)");
    s_prec("a NOTNULL", "(a IS NOT NULL)");
    s_prec("a NOT NULL", "(a IS NOT NULL)");
    s_prec("a IS b", "(a IS b)");
    s_prec("a IS NOT b + 1", "(a IS NOT (b + 1))");
    s_prec("a IS DISTINCT FROM b", "(a IS NOT b)");
    s_prec("a IS NOT DISTINCT FROM b", "(a IS b)");
    s_prec("a = b IS NULL", "((a = b) IS NULL)");
    s_prec("a BETWEEN 1 AND 2 AND c", "((a BETWEEN 1 AND 2) AND c)");
    s_prec("a NOT BETWEEN b + 1 AND c * 2", "(a NOT BETWEEN (b + 1) AND (c * 2))");
    s_prec("a LIKE 'x%' OR b NOT LIKE c", "((a LIKE 'x%') OR (b NOT LIKE c))");
    s_prec("a NOT GLOB 'x*'", "(a NOT GLOB 'x*')");
    s_prec("a IN (1, 2, 3) = 0", "((a IN [3]) = 0)");
    s_prec("a NOT IN ()", "(a NOT IN [0])");
    s_prec("a + 1 IN (SELECT b FROM t)", "((a + 1) IN SELECT)");
    s_prec("NOT a IN t", "(NOT (a IN SELECT))");
    s_prec("1 = 1.0", "(1 = 1)");
    s_prec("CAST(a AS INTEGER) + a::TEXT", "(CAST(a AS INTEGER) + CAST(a AS TEXT))");
    s_prec("-a::REAL", "(-CAST(a AS REAL))");
    s_prec("count(*) + count(DISTINCT a) + sum(a + 1)", "((count(*) + count(DISTINCT a)) + sum((a + 1)))");
    s_prec("f() + coalesce(a, b, c)", "(f() + coalesce(a,b,c))");
    s_prec("REPLACE(a, 'x', 'y') || Left(b, 2)", "(replace(a,'x','y') || left(b,2))");
    s_prec("ABS(-1)", "abs(-1)");
    s_prec("CURRENT_TIMESTAMP", "current_timestamp()");
    s_prec("t.a + \"T\".\"B\"", "(t.a + T.B)");
    s_prec("a COLLATE binary = b", "(a = b)");
}

static void t_literals(void **state)
{
    (void)state;
    drift_node_t *n = s_expr1("SELECT -9223372036854775808");
    assert_int_equal(n->kind, DRIFT_AST_LITERAL);
    assert_int_equal(n->value.type, DRIFT_VAL_INT);
    assert_true(n->value.u.i == INT64_MIN);
    n = s_expr1("SELECT 9223372036854775807");
    assert_true(n->value.type == DRIFT_VAL_INT && n->value.u.i == INT64_MAX);
    n = s_expr1("SELECT 9223372036854775808");
    assert_true(n->value.type == DRIFT_VAL_REAL && n->value.u.r == 9223372036854775808.0);
    n = s_expr1("SELECT 0x1F");
    assert_true(n->value.type == DRIFT_VAL_INT && n->value.u.i == 31);
    n = s_expr1("SELECT 1e3");
    assert_true(n->value.type == DRIFT_VAL_REAL && n->value.u.r == 1000.0);
    n = s_expr1("SELECT .5");
    assert_true(n->value.type == DRIFT_VAL_REAL && n->value.u.r == 0.5);
    n = s_expr1("SELECT -2.5");
    assert_true(n->value.type == DRIFT_VAL_REAL && n->value.u.r == -2.5);
    assert_int_equal(n->pos, 7);
    n = s_expr1("SELECT 'it''s'");
    assert_int_equal(n->value.type, DRIFT_VAL_TEXT);
    assert_int_equal(n->value.u.s.n, 4);
    assert_memory_equal(n->value.u.s.p, "it's", 4);
    n = s_expr1("SELECT x'0aFF'");
    assert_int_equal(n->value.type, DRIFT_VAL_BLOB);
    assert_int_equal(n->value.u.s.n, 2);
    assert_memory_equal(n->value.u.s.p, "\x0a\xff", 2);
    n = s_expr1("SELECT TRUE");
    assert_true(n->value.type == DRIFT_VAL_BOOL && n->value.u.b == 1);
    n = s_expr1("SELECT false");
    assert_true(n->value.type == DRIFT_VAL_BOOL && n->value.u.b == 0);
    n = s_expr1("SELECT NULL");
    assert_int_equal(n->value.type, DRIFT_VAL_NULL);
    n = s_expr1("SELECT {\"b\": [1, 2.50, \"}\"], \"a\" : null}");
    assert_int_equal(n->kind, DRIFT_AST_JSON);
    assert_int_equal(n->value.type, DRIFT_VAL_JSON);
    assert_string_equal(n->value.u.s.p, "{\"b\":[1,2.5,\"}\"],\"a\":null}");
    assert_int_equal(n->value.u.s.n, strlen("{\"b\":[1,2.5,\"}\"],\"a\":null}"));
}

static void t_params(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("SELECT $1 + ? + ?");
    assert_int_equal(st->max_param, 3);
    drift_node_t *n = st->select->items[0].expr;
    assert_int_equal(n->r->kind, DRIFT_AST_PARAM);
    assert_int_equal(n->r->param, 3);
    assert_int_equal(n->l->r->param, 2);
    assert_int_equal(n->l->l->param, 1);
    st = s_ok("SELECT ? + $5 + ?");
    assert_int_equal(st->max_param, 6);
    assert_int_equal(st->select->items[0].expr->l->l->param, 1);
    assert_int_equal(st->select->items[0].expr->r->param, 6);
    st = s_ok("UPDATE t SET a = $2 WHERE k = $1");
    assert_int_equal(st->max_param, 2);
    st = s_ok("SELECT 1");
    assert_int_equal(st->max_param, 0);
    st = s_ok("EXPLAIN SELECT * FROM t WHERE a = $3");
    assert_int_equal(st->max_param, 3);
    assert_int_equal(st->inner->max_param, 3);
    s_fail("SELECT $0", "42601", 8, "numbered from $1");
    s_fail("SELECT $", "42601", 8, NULL);
}

static void t_case_cast_subquery(void **state)
{
    (void)state;
    drift_node_t *n = s_expr1("SELECT CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END");
    assert_int_equal(n->kind, DRIFT_AST_CASE);
    assert_non_null(n->l);
    assert_string_equal(n->l->name, "a");
    assert_int_equal(n->nargs, 4);
    assert_int_equal(n->args[2]->value.u.i, 2);
    assert_memory_equal(n->args[3]->value.u.s.p, "two", 3);
    assert_memory_equal(n->r->value.u.s.p, "many", 4);
    n = s_expr1("SELECT CASE WHEN a > 1 THEN b END");
    assert_null(n->l);
    assert_null(n->r);
    assert_int_equal(n->nargs, 2);
    assert_int_equal(n->args[0]->kind, DRIFT_AST_BINARY);
    s_fail("SELECT CASE END", "42601", 13, "\"END\"");
    s_fail("SELECT CASE a WHEN 1 THEN 2", "42601", 28, "end of input");

    static const struct {
        const char *type;
        drift_coltype_t t;
    } types[] = {
        {"INTEGER", DRIFT_COL_INTEGER},
        {"int", DRIFT_COL_INTEGER},
        {"BIGINT", DRIFT_COL_INTEGER},
        {"SMALLINT", DRIFT_COL_INTEGER},
        {"TINYINT", DRIFT_COL_INTEGER},
        {"REAL", DRIFT_COL_REAL},
        {"FLOAT", DRIFT_COL_REAL},
        {"DOUBLE", DRIFT_COL_REAL},
        {"DOUBLE PRECISION", DRIFT_COL_REAL},
        {"DECIMAL(10, 2)", DRIFT_COL_REAL},
        {"NUMERIC", DRIFT_COL_REAL},
        {"TEXT", DRIFT_COL_TEXT},
        {"VARCHAR(16)", DRIFT_COL_TEXT},
        {"CHAR(2)", DRIFT_COL_TEXT},
        {"CHARACTER VARYING(5)", DRIFT_COL_TEXT},
        {"BOOLEAN", DRIFT_COL_BOOLEAN},
        {"bool", DRIFT_COL_BOOLEAN},
        {"BLOB", DRIFT_COL_BLOB},
        {"BYTEA", DRIFT_COL_BLOB},
        {"JSON", DRIFT_COL_JSON},
        {"JSONB", DRIFT_COL_JSON},
        {"TIMESTAMP", DRIFT_COL_TIMESTAMP},
        {"TIMESTAMPTZ", DRIFT_COL_TIMESTAMP},
        {"TIMESTAMP WITH TIME ZONE", DRIFT_COL_TIMESTAMP},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT CAST(a AS %s)", types[i].type);
        n = s_expr1(sql);
        assert_int_equal(n->kind, DRIFT_AST_CAST);
        if (n->cast_type != types[i].t)
            fail_msg("%s: type %d, expected %d", types[i].type, n->cast_type, types[i].t);
        snprintf(sql, sizeof sql, "CREATE TABLE t (c %s NOT NULL)", types[i].type);
        drift_stmt_t *st = s_ok(sql);
        assert_int_equal(st->coldefs[0].type, types[i].t);
        assert_true(st->coldefs[0].not_null);
    }
    s_fail("SELECT CAST(a AS STRING)", "42704", 18, "type \"STRING\" does not exist");
    s_fail("SELECT a::nope", "42704", 11, "\"nope\"");
    s_fail("SELECT CAST(a)", "42601", 14, "\")\"");

    n = s_expr1("SELECT EXISTS (SELECT 1 FROM t WHERE t.a = u.a)");
    assert_int_equal(n->kind, DRIFT_AST_EXISTS);
    assert_false(n->negate);
    assert_non_null(n->sub);
    assert_string_equal(n->sub->from->name, "t");
    n = s_expr1("SELECT NOT EXISTS (SELECT 1)");
    assert_int_equal(n->kind, DRIFT_AST_EXISTS);
    assert_true(n->negate);
    assert_int_equal(n->pos, 7);
    n = s_expr1("SELECT (SELECT max(b) FROM u) + 1");
    assert_int_equal(n->kind, DRIFT_AST_BINARY);
    assert_int_equal(n->l->kind, DRIFT_AST_SUBQUERY);
    assert_string_equal(n->l->sub->items[0].expr->name, "max");
    n = s_expr1("SELECT a NOT IN (SELECT b FROM u UNION SELECT c FROM v)");
    assert_int_equal(n->kind, DRIFT_AST_IN_SELECT);
    assert_true(n->negate);
    assert_int_equal(n->sub->setop, DRIFT_SETOP_UNION);
    n = s_expr1("SELECT 1 IN t2");
    assert_int_equal(n->kind, DRIFT_AST_IN_SELECT);
    assert_string_equal(n->sub->from->name, "t2");
    assert_int_equal(n->sub->items[0].expr->kind, DRIFT_AST_STAR);
    n = s_expr1("SELECT a IN (1, b, 'c')");
    assert_int_equal(n->kind, DRIFT_AST_IN_LIST);
    assert_int_equal(n->nargs, 3);
    assert_string_equal(n->args[1]->name, "b");
    n = s_expr1("SELECT a LIKE '10!%' ESCAPE '!'");
    assert_int_equal(n->kind, DRIFT_AST_LIKE);
    assert_int_equal(n->nargs, 1);
    assert_memory_equal(n->args[0]->value.u.s.p, "!", 1);
    assert_false(n->glob);
    n = s_expr1("SELECT a GLOB 'x*'");
    assert_true(n->glob);
    assert_int_equal(n->nargs, 0);
    n = s_expr1("SELECT count(*)");
    assert_int_equal(n->kind, DRIFT_AST_FUNC);
    assert_true(n->star);
    assert_int_equal(n->nargs, 0);
    assert_int_equal(n->agg, -1);
    n = s_expr1("SELECT Group_Concat(DISTINCT x, ':')");
    assert_string_equal(n->name, "group_concat");
    assert_true(n->distinct);
    assert_int_equal(n->nargs, 2);
    s_fail("SELECT count(DISTINCT *)", "42601", 23, "\"*\"");
    s_fail("SELECT (1, 2)", "0A000", 10, "row value");
}

/* ------------------------------------------------------------------ SELECT */

static void t_select_items(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("SELECT a AS \"X\", b c, 'lit' 'alias', a + 1, *, t.*, 1 AS 'q', x key FROM t");
    drift_select_t *s = st->select;
    assert_int_equal(st->kind, DRIFT_STMT_SELECT);
    assert_int_equal(s->nitems, 8);
    assert_string_equal(s->items[0].alias, "X");
    assert_string_equal(s->items[0].text, "a");
    assert_string_equal(s->items[1].alias, "c");
    assert_string_equal(s->items[2].alias, "alias");
    assert_string_equal(s->items[2].text, "'lit'");
    assert_null(s->items[3].alias);
    assert_string_equal(s->items[3].text, "a + 1");
    assert_int_equal(s->items[4].expr->kind, DRIFT_AST_STAR);
    assert_null(s->items[4].expr->qualifier);
    assert_string_equal(s->items[4].text, "*");
    assert_int_equal(s->items[5].expr->kind, DRIFT_AST_STAR);
    assert_string_equal(s->items[5].expr->qualifier, "t");
    assert_string_equal(s->items[5].text, "t.*");
    assert_string_equal(s->items[6].alias, "q");
    assert_string_equal(s->items[7].alias, "key"); /* a non-reserved keyword as an alias */
    assert_false(s->distinct);
    st = s_ok("select distinct A  ,  Sum( B )   from T");
    assert_true(st->select->distinct);
    assert_string_equal(st->select->items[0].expr->name, "a");
    assert_string_equal(st->select->items[1].text, "Sum( B )");
    assert_string_equal(st->select->from->name, "t");
    st = s_ok("SELECT ALL a FROM t");
    assert_false(st->select->distinct);
    assert_int_equal(st->pos, 0);
    /* the item text keeps the source spelling, without comments after it */
    st = s_ok("SELECT   x->>'a'  /* c */ , 2");
    assert_string_equal(st->select->items[0].text, "x->>'a'");
    s_fail("SELECT a AS FROM t", "42601", 13, "\"FROM\"");
    s_fail("SELECT a b c", "42601", 12, "\"c\"");
    s_fail("SELECT", "42601", 7, "end of input");
    s_fail("SELECT 1,", "42601", 10, "end of input");
}

static void t_select_from(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("SELECT * FROM a, b AS x, c y");
    drift_from_t *f = st->select->from;
    /* a, b, c is ((a CROSS b) CROSS c) */
    assert_int_equal(f->kind, DRIFT_FROM_JOIN);
    assert_int_equal(f->join, DRIFT_JOIN_CROSS);
    assert_int_equal(f->right->kind, DRIFT_FROM_TABLE);
    assert_string_equal(f->right->name, "c");
    assert_string_equal(f->right->alias, "y");
    assert_int_equal(f->left->kind, DRIFT_FROM_JOIN);
    assert_string_equal(f->left->left->name, "a");
    assert_null(f->left->left->alias);
    assert_string_equal(f->left->right->alias, "x");
    assert_null(f->on);

    st = s_ok("SELECT * FROM a JOIN b ON a.id = b.id INNER JOIN c USING (id, k) LEFT OUTER JOIN d ON 1 "
              "LEFT JOIN e ON 2 CROSS JOIN f NATURAL JOIN g NATURAL LEFT JOIN h");
    f = st->select->from;
    assert_int_equal(f->join, DRIFT_JOIN_LEFT);
    assert_true(f->natural);
    assert_string_equal(f->right->name, "h");
    f = f->left;
    assert_int_equal(f->join, DRIFT_JOIN_INNER);
    assert_true(f->natural);
    f = f->left;
    assert_int_equal(f->join, DRIFT_JOIN_CROSS);
    assert_false(f->natural);
    assert_string_equal(f->right->name, "f");
    f = f->left;
    assert_int_equal(f->join, DRIFT_JOIN_LEFT);
    assert_int_equal(f->on->value.u.i, 2);
    f = f->left;
    assert_int_equal(f->join, DRIFT_JOIN_LEFT);
    assert_int_equal(f->on->value.u.i, 1);
    f = f->left;
    assert_int_equal(f->join, DRIFT_JOIN_INNER);
    assert_int_equal(f->nusing, 2);
    assert_string_equal(f->using_cols[0], "id");
    assert_string_equal(f->using_cols[1], "k");
    assert_null(f->on);
    f = f->left;
    assert_int_equal(f->join, DRIFT_JOIN_INNER);
    assert_int_equal(f->on->kind, DRIFT_AST_BINARY);
    assert_string_equal(f->on->l->qualifier, "a");
    assert_string_equal(f->left->name, "a");
    assert_string_equal(f->right->name, "b");

    st = s_ok("SELECT s.x FROM (SELECT 1 AS x) AS s, (VALUES (1), (2)) v, (SELECT 2)");
    f = st->select->from;
    assert_int_equal(f->right->kind, DRIFT_FROM_SUBQUERY);
    assert_null(f->right->alias);
    assert_int_equal(f->left->right->kind, DRIFT_FROM_SUBQUERY);
    assert_string_equal(f->left->right->alias, "v");
    assert_int_equal(f->left->right->sub->nvalues, 2);
    assert_string_equal(f->left->left->alias, "s");
    assert_string_equal(f->left->left->sub->items[0].alias, "x");

    st = s_ok("SELECT * FROM (a JOIN b ON a.x = b.x), c");
    assert_int_equal(st->select->from->left->kind, DRIFT_FROM_JOIN);
    assert_int_equal(st->select->from->left->join, DRIFT_JOIN_INNER);

    st = s_ok("SELECT * FROM t1 NOT INDEXED WHERE x > 0");
    assert_string_equal(st->select->from->name, "t1");
    assert_null(st->select->from->alias);
    st = s_ok("SELECT * FROM t1 AS a INDEXED BY i1");
    assert_string_equal(st->select->from->alias, "a");

    st = s_ok("SELECT * FROM a RIGHT OUTER JOIN b ON 1");
    assert_int_equal(st->select->from->kind, DRIFT_FROM_JOIN);
    assert_int_equal(st->select->from->join, DRIFT_JOIN_RIGHT);
    st = s_ok("SELECT * FROM a RIGHT JOIN b USING (x)");
    assert_int_equal(st->select->from->join, DRIFT_JOIN_RIGHT);
    s_fail("SELECT * FROM a FULL OUTER JOIN b ON 1", "0A000", 17, "FULL JOIN");
    s_fail("SELECT * FROM a JOIN", "42601", 21, "end of input");
    s_fail("SELECT * FROM a NATURAL b", "42601", 25, "\"b\"");
    s_fail("SELECT * FROM main.t", "0A000", 19, "schema-qualified");
    s_fail("SELECT * FROM", "42601", 14, NULL);
    s_fail("SELECT * FROM a, ", "42601", 18, NULL);
}

static void t_select_clauses(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("SELECT a, count(*) FROM t WHERE b > 1 GROUP BY a, b + 1 HAVING count(*) > 2 "
                            "ORDER BY 2 DESC, a ASC NULLS LAST, b NULLS FIRST, c LIMIT 10 OFFSET 5");
    drift_select_t *s = st->select;
    assert_int_equal(s->where->bop, DRIFT_BOP_GT);
    assert_int_equal(s->ngroup_by, 2);
    assert_string_equal(s->group_by[0]->name, "a");
    assert_int_equal(s->group_by[1]->kind, DRIFT_AST_BINARY);
    assert_int_equal(s->having->kind, DRIFT_AST_BINARY);
    assert_int_equal(s->norder_by, 4);
    assert_int_equal(s->order_by[0].expr->value.u.i, 2);
    assert_true(s->order_by[0].desc);
    assert_int_equal(s->order_by[0].nulls, 0);
    assert_false(s->order_by[1].desc);
    assert_int_equal(s->order_by[1].nulls, 2);
    assert_int_equal(s->order_by[2].nulls, 1);
    assert_int_equal(s->order_by[3].nulls, 0);
    assert_int_equal(s->limit->value.u.i, 10);
    assert_int_equal(s->offset->value.u.i, 5);
    st = s_ok("SELECT a FROM t LIMIT 5, 10"); /* SQLite: LIMIT offset, count */
    assert_int_equal(st->select->limit->value.u.i, 10);
    assert_int_equal(st->select->offset->value.u.i, 5);
    st = s_ok("SELECT a FROM t LIMIT $1");
    assert_int_equal(st->select->limit->kind, DRIFT_AST_PARAM);
    assert_null(st->select->offset);
    s_fail("SELECT a FROM t ORDER a", "42601", 23, "\"a\"");
    s_fail("SELECT a FROM t ORDER BY a NULLS", "42601", 33, "end of input");
    s_fail("SELECT a FROM t GROUP a", "42601", 23, NULL);
    s_fail("SELECT a FROM t WHERE", "42601", 22, "end of input");
}

static void t_compound_values(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("SELECT a FROM t UNION ALL SELECT b FROM u INTERSECT SELECT c FROM v EXCEPT SELECT 1 "
                            "UNION SELECT 2 ORDER BY 1 DESC LIMIT 3");
    drift_select_t *s = st->select;
    assert_int_equal(s->setop, DRIFT_SETOP_UNION_ALL);
    assert_int_equal(s->next->setop, DRIFT_SETOP_INTERSECT);
    assert_int_equal(s->next->next->setop, DRIFT_SETOP_EXCEPT);
    assert_int_equal(s->next->next->next->setop, DRIFT_SETOP_UNION);
    assert_int_equal(s->next->next->next->next->setop, DRIFT_SETOP_NONE);
    assert_null(s->next->next->next->next->next);
    assert_int_equal(s->norder_by, 1); /* ORDER BY / LIMIT of the whole compound: on the first select */
    assert_true(s->order_by[0].desc);
    assert_int_equal(s->limit->value.u.i, 3);
    assert_int_equal(s->next->next->next->next->norder_by, 0);
    assert_null(s->next->next->next->next->limit);

    st = s_ok("VALUES (1, 'a'), (2, 'b'), (3, NULL)");
    s = st->select;
    assert_int_equal(st->kind, DRIFT_STMT_SELECT);
    assert_int_equal(s->nvalues, 3);
    assert_int_equal(s->nitems, 2);
    assert_null(s->items);
    assert_int_equal(s->values[2][0]->value.u.i, 3);
    assert_int_equal(s->values[2][1]->value.type, DRIFT_VAL_NULL);
    st = s_ok("(SELECT 1) UNION (SELECT 2) ORDER BY 1");
    assert_int_equal(st->select->setop, DRIFT_SETOP_UNION);
    assert_int_equal(st->select->norder_by, 1);
    st = s_ok("((SELECT a FROM t ORDER BY a LIMIT 1))");
    assert_int_equal(st->select->norder_by, 1);
    s_fail("VALUES (1, 2), (3)", "42601", 16, "same length");
    s_fail("(SELECT 1 LIMIT 1) UNION SELECT 2", "0A000", 1, "compound member");
    s_fail("SELECT 1 UNION", "42601", 15, "end of input");
    s_fail("WITH x AS (SELECT 1) SELECT * FROM x", "0A000", 1, "WITH");
    s_fail("SELECT 1; SELECT 2", "42601", 11, "\"SELECT\"");
}

/* ------------------------------------------------------------------ time travel */

static void t_temporal(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("SELECT * FROM t FOR SYSTEM_TIME AS OF @seq:42 AS x");
    drift_from_t *f = st->select->from;
    assert_int_equal(f->temporal.kind, DRIFT_TEMP_AS_OF);
    assert_int_equal(f->temporal.pos, 16);
    assert_int_equal(f->temporal.a.kind, DRIFT_TP_SEQ);
    assert_true(f->temporal.a.seq == 42);
    assert_int_equal(f->temporal.a.pos, 38);
    assert_string_equal(f->alias, "x");

    st = s_ok("SELECT * FROM t AS OF '2026-01-02T03:04:05Z'");
    f = st->select->from;
    assert_int_equal(f->temporal.kind, DRIFT_TEMP_AS_OF);
    assert_int_equal(f->temporal.a.kind, DRIFT_TP_TIME);
    assert_string_equal(f->temporal.a.time, "2026-01-02T03:04:05Z");
    assert_null(f->alias);

    st = s_ok("SELECT * FROM t AS o"); /* an alias, not a temporal clause */
    assert_string_equal(st->select->from->alias, "o");
    assert_int_equal(st->select->from->temporal.kind, DRIFT_TEMP_NONE);
    st = s_ok("SELECT * FROM t AS OF $1 o JOIN u AS OF @seq:7 ON o.k = u.k WHERE o.a > 1");
    f = st->select->from;
    assert_int_equal(f->left->temporal.a.kind, DRIFT_TP_EXPR);
    assert_int_equal(f->left->temporal.a.expr->kind, DRIFT_AST_PARAM);
    assert_string_equal(f->left->alias, "o");
    assert_int_equal(f->right->temporal.a.kind, DRIFT_TP_SEQ);
    assert_true(f->right->temporal.a.seq == 7);
    assert_int_equal(st->max_param, 1);
    st = s_ok("SELECT * FROM t x FOR SYSTEM_TIME ALL");
    assert_string_equal(st->select->from->alias, "x");
    assert_int_equal(st->select->from->temporal.kind, DRIFT_TEMP_ALL);
    st = s_ok("SELECT _seq, _op FROM t FOR SYSTEM_TIME BETWEEN @seq:1 AND @seq:9 WHERE a = 1");
    f = st->select->from;
    assert_int_equal(f->temporal.kind, DRIFT_TEMP_BETWEEN);
    assert_true(f->temporal.a.seq == 1 && f->temporal.b.seq == 9);
    assert_non_null(st->select->where);
    st = s_ok("SELECT * FROM t FOR SYSTEM_TIME FROM '2026-01-01' TO now()");
    f = st->select->from;
    assert_int_equal(f->temporal.kind, DRIFT_TEMP_FROM_TO);
    assert_int_equal(f->temporal.a.kind, DRIFT_TP_TIME);
    assert_int_equal(f->temporal.b.kind, DRIFT_TP_NOW);
    st = s_ok("SELECT * FROM t FOR SYSTEM_TIME BETWEEN 3 + 1 AND $2");
    f = st->select->from;
    assert_int_equal(f->temporal.a.kind, DRIFT_TP_EXPR);
    assert_int_equal(f->temporal.a.expr->bop, DRIFT_BOP_ADD);
    assert_int_equal(f->temporal.b.expr->param, 2);
    st = s_ok("SELECT * FROM t AS OF CURRENT_TIMESTAMP");
    assert_int_equal(st->select->from->temporal.a.kind, DRIFT_TP_NOW);

    st = s_ok("SET AS OF @seq:3");
    assert_int_equal(st->kind, DRIFT_STMT_SET_AS_OF);
    assert_int_equal(st->point.kind, DRIFT_TP_SEQ);
    assert_true(st->point.seq == 3);
    st = s_ok("SET AS OF '2026-11-25T10:00:00+01:00'");
    assert_int_equal(st->point.kind, DRIFT_TP_TIME);
    st = s_ok("set as of now");
    assert_int_equal(st->point.kind, DRIFT_TP_NOW);
    st = s_ok("SET AS OF DEFAULT;");
    assert_int_equal(st->point.kind, DRIFT_TP_NOW);
    st = s_ok("SET AS OF $1");
    assert_int_equal(st->point.kind, DRIFT_TP_EXPR);

    s_fail("SELECT * FROM t AS OF @foo:1", "22023", 24, "malformed AS OF");
    s_fail("SELECT * FROM t AS OF @seq:x", "22023", 28, "malformed AS OF");
    s_fail("SELECT * FROM t AS OF @seq 5", "22023", 28, "malformed AS OF");
    s_fail("SELECT * FROM t AS OF @seq:-1", "22023", 28, "malformed AS OF");
    s_fail("SELECT * FROM t AS OF", "22023", 22, "malformed AS OF");
    s_fail("SELECT * FROM t AS OF WHERE a = 1", "22023", 23, "malformed AS OF");
    s_fail("SET AS OF", "22023", 10, "malformed AS OF");
    s_fail("SELECT * FROM t FOR SYSTEM_TIME", "42601", 32, "end of input");
    s_fail("SELECT * FROM t FOR SYSTEM_TIME BETWEEN @seq:1", "42601", 47, "end of input");
    s_fail("SELECT * FROM t FOR SYSTEM_TIME FROM @seq:1 AND @seq:2", "42601", 45, "\"AND\"");
    s_fail("SET a = 1", "42601", 5, "\"a\"");
}

/* ------------------------------------------------------------------ DML */

static void t_insert(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("INSERT INTO T (a, \"B\") VALUES (1, 'x'), ($1, NULL)");
    assert_int_equal(st->kind, DRIFT_STMT_INSERT);
    assert_string_equal(st->table, "t");
    assert_int_equal(st->ncols, 2);
    assert_string_equal(st->cols[0], "a");
    assert_string_equal(st->cols[1], "B");
    assert_non_null(st->select);
    assert_int_equal(st->select->nvalues, 2);
    assert_int_equal(st->select->nitems, 2);
    assert_int_equal(st->select->values[1][0]->kind, DRIFT_AST_PARAM);
    assert_null(st->json);
    assert_int_equal(st->max_param, 1);
    st = s_ok("INSERT t VALUES (1)");
    assert_string_equal(st->table, "t");
    assert_int_equal(st->ncols, 0);
    st = s_ok("INSERT INTO t SELECT * FROM u WHERE a > 0");
    assert_null(st->select->values);
    assert_string_equal(st->select->from->name, "u");
    st = s_ok("INSERT INTO t (a) SELECT b FROM u UNION SELECT 3");
    assert_int_equal(st->ncols, 1);
    assert_int_equal(st->select->setop, DRIFT_SETOP_UNION);
    st = s_ok("INSERT INTO t DEFAULT VALUES");
    assert_null(st->select);
    assert_null(st->json);
    st = s_ok("INSERT INTO docs {\"id\": 1, \"tags\": [\"a\", \"b\"],  \"n\": {\"x\": 1e2}}");
    assert_null(st->select);
    assert_non_null(st->json);
    assert_int_equal(st->json->kind, DRIFT_AST_JSON);
    assert_string_equal(st->json->value.u.s.p, "{\"id\":1,\"tags\":[\"a\",\"b\"],\"n\":{\"x\":100.0}}");
    assert_int_equal(st->json->pos, 17);
    st = s_ok("INSERT INTO docs [{\"id\": 1}, {\"id\": 2}];");
    assert_string_equal(st->json->value.u.s.p, "[{\"id\":1},{\"id\":2}]");
    st = s_ok("INSERT INTO docs $1");
    assert_int_equal(st->json->kind, DRIFT_AST_PARAM);
    assert_int_equal(st->max_param, 1);
    st = s_ok("INSERT INTO docs {\"s\": \"a } ] { [ \\\" \"} ");
    assert_string_equal(st->json->value.u.s.p, "{\"s\":\"a } ] { [ \\\" \"}");

    s_fail("INSERT INTO t VALUES (1), (1, 2)", "42601", 27, "same length");
    s_fail("INSERT INTO t (a, b VALUES (1)", "42601", 21, "\"VALUES\"");
    s_fail("INSERT INTO t", "42601", 14, "end of input");
    s_fail("INSERT INTO docs {\"a\": 1,}", "42601", 26, "invalid JSON literal");
    s_fail("INSERT INTO docs {\"a\": tru}", "42601", 27, "invalid JSON literal");
    s_fail("INSERT INTO docs {\"a\": [1}", "42601", 26, "unbalanced");
    s_fail("INSERT INTO docs {\"a\": 1", "42601", 18, "unterminated JSON literal");
    s_fail("INSERT INTO docs {\"a\": \"x}", "42601", 24, "unterminated string");
    s_fail("INSERT INTO docs {\"a\": 1} x", "42601", 27, "\"x\"");
    st = s_ok("INSERT OR REPLACE INTO t VALUES (1)");
    assert_int_equal(st->kind, DRIFT_STMT_INSERT);
    assert_true(st->replace);
    assert_string_equal(st->table, "t");
    st = s_ok("REPLACE INTO t (a, b) SELECT 1, 2");
    assert_int_equal(st->kind, DRIFT_STMT_INSERT);
    assert_true(st->replace);
    assert_int_equal(st->ncols, 2);
    assert_non_null(st->select);
    st = s_ok("INSERT INTO t VALUES (1, 2)");
    assert_false(st->replace);
    s_fail("INSERT OR IGNORE INTO t VALUES (1)", "0A000", 1, "INSERT OR <conflict action> is not supported");
    s_fail("REPLACE INTO docs {\"a\": 1}", "0A000", 19, "REPLACE of a DriftQL document is not supported");
    /* DEFAULT in the INSERT's own VALUES rows is a NULL expression; anywhere else a syntax error */
    st = s_ok("INSERT INTO t VALUES (1, DEFAULT), (DEFAULT, 2)");
    assert_int_equal(st->select->nvalues, 2);
    assert_non_null(st->select->values[0][0]);
    assert_null(st->select->values[0][1]);
    assert_null(st->select->values[1][0]);
    st = s_ok("INSERT INTO t DEFAULT VALUES");
    assert_null(st->select);
    s_fail("INSERT INTO t VALUES (DEFAULT + 1)", "42601", 31, "\"+\"");
    s_fail("INSERT INTO t SELECT * FROM (VALUES (DEFAULT))", "42601", 38, "\"DEFAULT\"");
    s_fail("INSERT INTO t VALUES (1) UNION VALUES (DEFAULT)", "42601", 40, "\"DEFAULT\"");
    s_fail("SELECT * FROM (VALUES (DEFAULT))", "42601", 24, "\"DEFAULT\"");
    s_fail("INSERT INTO t VALUES ((SELECT DEFAULT))", "42601", 31, "\"DEFAULT\"");
}

static void t_update_delete(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("UPDATE t AS a SET x = 1, Y = y + 1, t.z = $1 WHERE a.k = 'k'");
    assert_int_equal(st->kind, DRIFT_STMT_UPDATE);
    assert_string_equal(st->table, "t");
    assert_string_equal(st->alias, "a");
    assert_int_equal(st->nsets, 3);
    assert_string_equal(st->sets[0].col, "x");
    assert_int_equal(st->sets[0].pos, 18);
    assert_int_equal(st->sets[0].expr->value.u.i, 1);
    assert_string_equal(st->sets[1].col, "y");
    assert_int_equal(st->sets[1].expr->bop, DRIFT_BOP_ADD);
    assert_string_equal(st->sets[2].col, "z");
    assert_int_equal(st->where->kind, DRIFT_AST_BINARY);
    st = s_ok("UPDATE t SET x = NULL");
    assert_null(st->alias);
    assert_null(st->where);
    st = s_ok("UPDATE t u SET x = 2");
    assert_string_equal(st->alias, "u");
    st = s_ok("DELETE FROM t WHERE a IN (SELECT b FROM u)");
    assert_int_equal(st->kind, DRIFT_STMT_DELETE);
    assert_string_equal(st->table, "t");
    assert_int_equal(st->where->kind, DRIFT_AST_IN_SELECT);
    st = s_ok("DELETE FROM t");
    assert_null(st->where);
    st = s_ok("DELETE FROM t AS x WHERE x.a = 1");
    assert_string_equal(st->alias, "x");
    s_fail("UPDATE t SET", "42601", 13, "end of input");
    s_fail("UPDATE t SET x 1", "42601", 16, "\"1\"");
    s_fail("UPDATE t SET x = 1 FROM u", "0A000", 20, "UPDATE ... FROM");
    s_fail("DELETE t", "42601", 8, "\"t\"");
    s_fail("DELETE FROM t WHERE", "42601", 20, "end of input");
}

/* ------------------------------------------------------------------ DDL */

static void t_create_table(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("CREATE TABLE IF NOT EXISTS Users (id INTEGER PRIMARY KEY, \"Name\" TEXT NOT NULL UNIQUE, "
                            "score REAL DEFAULT -1.5, n INT DEFAULT 7 NULL, flag BOOLEAN DEFAULT TRUE, "
                            "created TIMESTAMP DEFAULT CURRENT_TIMESTAMP, x INT CONSTRAINT c1 DEFAULT (2 * 3), "
                            "doc JSON DEFAULT {\"a\": 1}, s VARCHAR(8) DEFAULT 'it''s')");
    assert_int_equal(st->kind, DRIFT_STMT_CREATE_TABLE);
    assert_string_equal(st->table, "users");
    assert_true(st->if_not_exists);
    assert_int_equal(st->ncoldefs, 9);
    drift_coldef_t *c = st->coldefs;
    assert_string_equal(c[0].name, "id");
    assert_int_equal(c[0].type, DRIFT_COL_INTEGER);
    assert_true(c[0].primary_key);
    assert_string_equal(c[1].name, "Name");
    assert_int_equal(c[1].type, DRIFT_COL_TEXT);
    assert_true(c[1].not_null && c[1].unique && !c[1].primary_key);
    assert_int_equal(c[1].pos, 58);
    assert_true(c[2].default_expr->kind == DRIFT_AST_LITERAL && c[2].default_expr->value.u.r == -1.5);
    assert_int_equal(c[3].default_expr->value.u.i, 7);
    assert_false(c[3].not_null);
    assert_true(c[4].default_expr->value.type == DRIFT_VAL_BOOL && c[4].default_expr->value.u.b);
    assert_int_equal(c[5].type, DRIFT_COL_TIMESTAMP);
    assert_string_equal(c[5].default_expr->name, "current_timestamp");
    assert_int_equal(c[6].default_expr->bop, DRIFT_BOP_MUL);
    assert_int_equal(c[7].default_expr->kind, DRIFT_AST_JSON);
    assert_memory_equal(c[8].default_expr->value.u.s.p, "it's", 4);
    assert_null(st->primary_key);
    assert_int_equal(st->nuniques, 0);
    assert_false(st->driftql);

    st = s_ok("CREATE TABLE t (a INT, b TEXT, c INT, CONSTRAINT pk PRIMARY KEY (a, b), UNIQUE (c), "
              "CONSTRAINT u2 UNIQUE (b, c))");
    assert_int_equal(st->ncoldefs, 3);
    assert_non_null(st->primary_key);
    assert_string_equal(st->primary_key->name, "pk");
    assert_int_equal(st->primary_key->ncols, 2);
    assert_string_equal(st->primary_key->cols[1], "b");
    assert_int_equal(st->nuniques, 2);
    assert_null(st->uniques[0].name);
    assert_string_equal(st->uniques[0].cols[0], "c");
    assert_string_equal(st->uniques[1].name, "u2");
    assert_int_equal(st->uniques[1].ncols, 2);
    assert_false(st->if_not_exists);

    st = s_ok("CREATE TABLE docs (pk=id, INDEX(a, b), INDEX(c))");
    assert_true(st->driftql);
    assert_string_equal(st->table, "docs");
    assert_string_equal(st->doc_pk, "id");
    assert_int_equal(st->ndoc_idx, 2);
    assert_int_equal(st->doc_idx[0].ncols, 2);
    assert_string_equal(st->doc_idx[0].cols[1], "b");
    assert_string_equal(st->doc_idx[1].cols[0], "c");
    assert_int_equal(st->ncoldefs, 0);
    st = s_ok("create table d2 (PK = \"Key\")");
    assert_true(st->driftql);
    assert_string_equal(st->doc_pk, "Key");
    assert_int_equal(st->ndoc_idx, 0);

    s_fail("CREATE TABLE t (a FOO)", "42704", 19, "type \"FOO\" does not exist");
    s_fail("CREATE TABLE t (a, b INT)", "42601", 18, "needs a type");
    s_fail("CREATE TABLE t (a INT PRIMARY KEY, b INT PRIMARY KEY)", "42P16", 36, "multiple primary keys");
    s_fail("CREATE TABLE t (a INT PRIMARY KEY, PRIMARY KEY (a))", "42P16", 36, "multiple primary keys");
    s_fail("CREATE TABLE t (a INT CHECK (a > 0))", "0A000", 23, "CHECK constraints");
    s_fail("CREATE TABLE t (a INT REFERENCES u(id))", "0A000", 23, "REFERENCES constraints");
    s_fail("CREATE TABLE t (a INT DEFAULT a + 1)", "42601", 31, "\"a\"");
    s_fail("CREATE TABLE t (a INT DEFAULT - x)", "42601", 33, "\"x\"");
    s_fail("CREATE TABLE t ()", "42601", 17, "\")\"");
    s_fail("CREATE TABLE t (a INT,)", "42601", 23, "\")\"");
    s_fail("CREATE TABLE t AS SELECT 1", "0A000", 16, "CREATE TABLE ... AS SELECT");
    s_fail("CREATE TEMP TABLE t (a INT)", "0A000", 1, "CREATE TEMPORARY TABLE");
    s_fail("CREATE TABLE docs (pk=id, INDEX a)", "42601", 33, "\"a\"");
    s_fail("CREATE TABLE docs (INDEX(a))", "42601", 20, "needs pk=");
    s_fail("CREATE TABLE docs (pk=id, pk=x)", "42601", 27, "pk= given twice");
    s_fail("CREATE TABLE select (a INT)", "42601", 14, "\"select\"");
}

static void t_index_view_drop_alter(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("CREATE UNIQUE INDEX IF NOT EXISTS Ix ON T (a DESC, \"B\" ASC, c COLLATE binary)");
    assert_int_equal(st->kind, DRIFT_STMT_CREATE_INDEX);
    assert_true(st->unique);
    assert_true(st->if_not_exists);
    assert_string_equal(st->name, "ix");
    assert_string_equal(st->table, "t");
    assert_int_equal(st->nidx_cols, 3);
    assert_string_equal(st->idx_cols[0], "a");
    assert_string_equal(st->idx_cols[1], "B");
    assert_string_equal(st->idx_cols[2], "c");
    st = s_ok("CREATE INDEX i ON t(x)");
    assert_false(st->unique);
    assert_int_equal(st->nidx_cols, 1);
    s_fail("CREATE INDEX i ON t (a + 1)", "0A000", 22, "an index on an expression");
    s_fail("CREATE INDEX i ON t (lower(a))", "0A000", 22, "an index on an expression");
    s_fail("CREATE INDEX i ON t (a) WHERE a > 0", "0A000", 25, "partial index");
    s_fail("CREATE INDEX ON t (a)", "42601", 14, "\"ON\"");

    const char *v = "CREATE VIEW IF NOT EXISTS V1 AS   SELECT x, y FROM t1 WHERE x > 0 ORDER BY y  ;";
    st = s_ok(v);
    assert_int_equal(st->kind, DRIFT_STMT_CREATE_VIEW);
    assert_string_equal(st->name, "v1");
    assert_true(st->if_not_exists);
    assert_string_equal(st->view_text, "SELECT x, y FROM t1 WHERE x > 0 ORDER BY y");
    assert_int_equal(st->select->nitems, 2);
    assert_int_equal(st->select->norder_by, 1);
    st = s_ok("CREATE TEMP VIEW view2 AS SELECT x FROM t1 WHERE x>0");
    assert_int_equal(st->kind, DRIFT_STMT_CREATE_VIEW);
    assert_string_equal(st->view_text, "SELECT x FROM t1 WHERE x>0");
    st = s_ok("CREATE TEMPORARY VIEW v3 AS VALUES (1)");
    assert_string_equal(st->view_text, "VALUES (1)");
    st = s_ok("CREATE VIEW v (a, \"B c\") AS SELECT 1, 2");
    assert_int_equal(st->nview_cols, 2);
    assert_string_equal(st->view_cols[0], "a");
    assert_string_equal(st->view_cols[1], "B c");
    /* stored as the whole statement so that a read of the view finds the names */
    assert_string_equal(st->view_text, "CREATE VIEW v (a, \"B c\") AS SELECT 1, 2");
    s_fail("CREATE VIEW v () AS SELECT 1", "42601", 16, "\")\"");
    s_fail("CREATE VIEW v SELECT 1", "42601", 15, "\"SELECT\"");

    static const struct {
        const char *sql;
        drift_stmt_kind_t kind;
        int if_exists;
    } drops[] = {
        {"DROP TABLE T", DRIFT_STMT_DROP_TABLE, 0},  {"DROP TABLE IF EXISTS t", DRIFT_STMT_DROP_TABLE, 1},
        {"DROP INDEX t;", DRIFT_STMT_DROP_INDEX, 0}, {"drop index if exists t", DRIFT_STMT_DROP_INDEX, 1},
        {"DROP VIEW t", DRIFT_STMT_DROP_VIEW, 0},    {"DROP VIEW IF EXISTS t", DRIFT_STMT_DROP_VIEW, 1},
    };
    for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++) {
        st = s_ok(drops[i].sql);
        assert_int_equal(st->kind, drops[i].kind);
        assert_int_equal(st->if_exists, drops[i].if_exists);
        assert_string_equal(st->name, "t");
    }
    s_fail("DROP TABLE IF t", "42601", 15, "\"t\"");
    s_fail("DROP SEQUENCE s", "42601", 6, "\"SEQUENCE\"");

    st = s_ok("ALTER TABLE t ADD COLUMN c INTEGER NOT NULL DEFAULT 0");
    assert_int_equal(st->kind, DRIFT_STMT_ALTER_TABLE);
    assert_string_equal(st->table, "t");
    assert_int_equal(st->alter.kind, DRIFT_ALTER_ADD_COLUMN);
    assert_string_equal(st->alter.coldef.name, "c");
    assert_int_equal(st->alter.coldef.type, DRIFT_COL_INTEGER);
    assert_true(st->alter.coldef.not_null);
    assert_int_equal(st->alter.coldef.default_expr->value.u.i, 0);
    st = s_ok("ALTER TABLE t ADD d TEXT");
    assert_string_equal(st->alter.coldef.name, "d");
    st = s_ok("ALTER TABLE t DROP COLUMN c");
    assert_int_equal(st->alter.kind, DRIFT_ALTER_DROP_COLUMN);
    assert_string_equal(st->alter.name, "c");
    st = s_ok("ALTER TABLE t DROP c");
    assert_string_equal(st->alter.name, "c");
    st = s_ok("ALTER TABLE t RENAME COLUMN a TO b");
    assert_int_equal(st->alter.kind, DRIFT_ALTER_RENAME_COLUMN);
    assert_string_equal(st->alter.name, "a");
    assert_string_equal(st->alter.new_name, "b");
    st = s_ok("ALTER TABLE t RENAME a TO \"B\"");
    assert_string_equal(st->alter.new_name, "B");
    st = s_ok("ALTER TABLE t RENAME TO u");
    assert_int_equal(st->alter.kind, DRIFT_ALTER_RENAME_TABLE);
    assert_string_equal(st->alter.new_name, "u");
    s_fail("ALTER TABLE t ADD COLUMN c BADTYPE", "42704", 28, "BADTYPE");
    s_fail("ALTER TABLE t ADD CONSTRAINT u UNIQUE (a)", "0A000", 19, "ADD CONSTRAINT");
    s_fail("ALTER TABLE t RENAME a b", "42601", 24, "\"b\"");
    s_fail("ALTER t ADD c INT", "42601", 7, "\"t\"");
}

/* ------------------------------------------------------------------ transactions, DriftQL, misc */

static void t_transactions(void **state)
{
    (void)state;
    static const struct {
        const char *sql;
        drift_stmt_kind_t kind;
        drift_isolation_t iso;
        const char *name;
    } cases[] = {
        {"BEGIN", DRIFT_STMT_BEGIN, DRIFT_ISOLATION_DEFAULT, NULL},
        {"begin transaction;", DRIFT_STMT_BEGIN, DRIFT_ISOLATION_DEFAULT, NULL},
        {"BEGIN WORK", DRIFT_STMT_BEGIN, DRIFT_ISOLATION_DEFAULT, NULL},
        {"BEGIN IMMEDIATE TRANSACTION", DRIFT_STMT_BEGIN, DRIFT_ISOLATION_DEFAULT, NULL},
        {"BEGIN ISOLATION LEVEL READ COMMITTED", DRIFT_STMT_BEGIN, DRIFT_ISOLATION_READ_COMMITTED, NULL},
        {"BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ", DRIFT_STMT_BEGIN, DRIFT_ISOLATION_REPEATABLE_READ, NULL},
        {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE", DRIFT_STMT_BEGIN, DRIFT_ISOLATION_SERIALIZABLE, NULL},
        {"START TRANSACTION", DRIFT_STMT_BEGIN, DRIFT_ISOLATION_DEFAULT, NULL},
        {"BEGIN ISOLATION LEVEL READ UNCOMMITTED", DRIFT_STMT_BEGIN, DRIFT_ISOLATION_READ_COMMITTED, NULL},
        {"COMMIT", DRIFT_STMT_COMMIT, 0, NULL},
        {"commit work;", DRIFT_STMT_COMMIT, 0, NULL},
        {"END", DRIFT_STMT_COMMIT, 0, NULL},
        {"END TRANSACTION", DRIFT_STMT_COMMIT, 0, NULL},
        {"ROLLBACK", DRIFT_STMT_ROLLBACK, 0, NULL},
        {"ABORT", DRIFT_STMT_ROLLBACK, 0, NULL},
        {"ROLLBACK TRANSACTION", DRIFT_STMT_ROLLBACK, 0, NULL},
        {"ROLLBACK TO SAVEPOINT Sp1", DRIFT_STMT_ROLLBACK, 0, "sp1"},
        {"ROLLBACK WORK TO sp1", DRIFT_STMT_ROLLBACK, 0, "sp1"},
        {"SAVEPOINT sp1", DRIFT_STMT_SAVEPOINT, 0, "sp1"},
        {"RELEASE sp1", DRIFT_STMT_RELEASE, 0, "sp1"},
        {"RELEASE SAVEPOINT \"Sp1\"", DRIFT_STMT_RELEASE, 0, "Sp1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        drift_stmt_t *st = s_ok(cases[i].sql);
        assert_int_equal(st->kind, cases[i].kind);
        if (st->kind == DRIFT_STMT_BEGIN)
            assert_int_equal(st->isolation, cases[i].iso);
        if (cases[i].name)
            assert_string_equal(st->name, cases[i].name);
        else
            assert_null(st->name);
    }
    s_fail("BEGIN ISOLATION LEVEL", "42601", 22, "end of input");
    s_fail("BEGIN ISOLATION LEVEL REPEATABLE", "42601", 33, NULL);
    s_fail("BEGIN ISOLATION LEVEL CHAOS", "42601", 23, "\"CHAOS\"");
    s_fail("START WORK", "42601", 7, "\"WORK\"");
    s_fail("ROLLBACK TO", "42601", 12, "end of input");
    s_fail("SAVEPOINT", "42601", 10, "end of input");
}

static void t_driftql_misc(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("PATCH docs KEY 5 SET {\"status\": \"shipped\",\"n\" : 2}");
    assert_int_equal(st->kind, DRIFT_STMT_PATCH);
    assert_string_equal(st->table, "docs");
    assert_int_equal(st->nkey, 1);
    assert_int_equal(st->key[0]->value.u.i, 5);
    assert_string_equal(st->patch->value.u.s.p, "{\"status\":\"shipped\",\"n\":2}");
    st = s_ok("PATCH docs KEY ('a', 2) SET $1");
    assert_int_equal(st->nkey, 2);
    assert_memory_equal(st->key[0]->value.u.s.p, "a", 1);
    assert_int_equal(st->patch->kind, DRIFT_AST_PARAM);
    st = s_ok("PATCH docs KEY $1 SET $2");
    assert_int_equal(st->max_param, 2);
    st = s_ok("SOFT DELETE FROM docs KEY 'k1'");
    assert_int_equal(st->kind, DRIFT_STMT_SOFT_DELETE);
    assert_string_equal(st->table, "docs");
    assert_int_equal(st->nkey, 1);
    st = s_ok("SHOW DRIFT docs KEY (1, 2)");
    assert_int_equal(st->kind, DRIFT_STMT_SHOW_DRIFT);
    assert_int_equal(st->nkey, 2);
    st = s_ok("SHOW DRIFT docs KEY -3");
    assert_int_equal(st->key[0]->value.u.i, -3);
    st = s_ok("SNAPSHOT docs");
    assert_int_equal(st->kind, DRIFT_STMT_SNAPSHOT);
    assert_string_equal(st->table, "docs");
    st = s_ok("COMPACT docs;");
    assert_int_equal(st->kind, DRIFT_STMT_COMPACT);
    st = s_ok("SHOW TABLES");
    assert_int_equal(st->kind, DRIFT_STMT_SHOW_TABLES);
    st = s_ok("ANALYZE");
    assert_int_equal(st->kind, DRIFT_STMT_ANALYZE);
    assert_null(st->table);
    st = s_ok("ANALYZE t");
    assert_string_equal(st->table, "t");
    st = s_ok("EXPLAIN SELECT * FROM t WHERE id = 1");
    assert_int_equal(st->kind, DRIFT_STMT_EXPLAIN);
    assert_false(st->analyze);
    assert_int_equal(st->inner->kind, DRIFT_STMT_SELECT);
    assert_int_equal(st->inner->pos, 8);
    st = s_ok("EXPLAIN ANALYZE UPDATE t SET a = 1");
    assert_true(st->analyze);
    assert_int_equal(st->inner->kind, DRIFT_STMT_UPDATE);
    st = s_ok("EXPLAIN QUERY PLAN SELECT 1");
    assert_int_equal(st->inner->kind, DRIFT_STMT_SELECT);
    s_fail("EXPLAIN EXPLAIN SELECT 1", "42601", 9, "\"EXPLAIN\"");
    s_fail("PATCH docs KEY 1 SET (1)", "42601", 22, "\"(\"");
    s_fail("PATCH docs KEY 1", "42601", 17, "end of input");
    s_fail("PATCH docs SET {}", "42601", 12, "\"SET\"");
    s_fail("SOFT DELETE docs KEY 1", "42601", 13, "\"docs\"");
    s_fail("SHOW DRIFT docs", "42601", 16, "end of input");
    s_fail("SHOW ME", "42601", 6, "\"ME\"");
    s_fail("SNAPSHOT", "42601", 9, "end of input");
}

static void t_unsupported_kinds(void **state)
{
    (void)state;
    s_fail("CREATE TRIGGER t1r1 UPDATE ON t1 BEGIN SELECT 1; END;", "0A000", 1, "CREATE TRIGGER is not supported: ");
    s_fail("CREATE TEMP TRIGGER x AFTER INSERT ON t BEGIN SELECT 1; END", "0A000", 1,
           "CREATE TRIGGER is not supported");
    s_fail("  DROP TRIGGER t1r1", "0A000", 3, "DROP TRIGGER is not supported: ");
    s_fail("REINDEX t1i1", "0A000", 1, "REINDEX is not supported: ");
    s_fail("CREATE VIRTUAL TABLE t USING fts5(a)", "0A000", 1, "CREATE VIRTUAL TABLE is not supported");
    s_fail("PRAGMA table_info(t)", "0A000", 1, "PRAGMA is not supported");
    s_fail("VACUUM", "0A000", 1, "VACUUM is not supported");
}

static void t_identifiers(void **state)
{
    (void)state;
    drift_stmt_t *st = s_ok("SELECT MyCol, \"MyCol\", \"a\"\"b\", T.X FROM MyTable T");
    drift_select_t *s = st->select;
    assert_string_equal(s->items[0].expr->name, "mycol");
    assert_string_equal(s->items[1].expr->name, "MyCol");
    assert_string_equal(s->items[2].expr->name, "a\"b");
    assert_string_equal(s->items[3].expr->qualifier, "t");
    assert_string_equal(s->items[3].expr->name, "x");
    assert_string_equal(s->from->name, "mytable");
    assert_string_equal(s->from->alias, "t");
    /* non-reserved keywords are names */
    st = s_ok("SELECT key, view, temp, level, read, drift, patch FROM snapshot");
    assert_int_equal(st->select->nitems, 7);
    assert_string_equal(st->select->items[0].expr->name, "key");
    assert_string_equal(st->select->items[6].expr->name, "patch");
    assert_string_equal(st->select->from->name, "snapshot");
    st = s_ok("CREATE TABLE key (view INT, \"select\" TEXT)");
    assert_string_equal(st->table, "key");
    assert_string_equal(st->coldefs[0].name, "view");
    assert_string_equal(st->coldefs[1].name, "select");
    st = s_ok("SELECT é FROM t");
    assert_string_equal(st->select->items[0].expr->name, "é");
    /* reserved ones are not */
    s_fail("SELECT a FROM from", "42601", 15, "\"from\"");
    s_fail("SELECT select", "42601", 8, "\"select\"");
    s_fail("SELECT \"\" FROM t", "42601", 8, "zero-length");
}

/* Every keyword lexes as itself in any case; reserved ones are refused as names, the others accepted. */
static void t_keywords(void **state)
{
    (void)state;
    for (int k = 1; k < DRIFT_KW__COUNT; k++) {
        const char *name = drift_kw_name((drift_kw_t)k);
        char lower[32], sql[96];
        size_t n = strlen(name);
        assert_true(n < sizeof lower);
        if (k > 1)
            assert_true(strcmp(drift_kw_name((drift_kw_t)(k - 1)), name) < 0); /* sorted: binary search */
        for (size_t i = 0; i <= n; i++)
            lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
        for (int v = 0; v < 2; v++) {
            const char *w = v ? lower : name;
            drift_lexer_t *lx = drift_lexer_new(w, n);
            drift_tok_t t;
            char msg[64];
            assert_int_equal(drift_lexer_next(lx, &t, msg, sizeof msg, NULL), 0);
            assert_int_equal(t.kind, DRIFT_TOK_KEYWORD);
            assert_int_equal(t.kw, k);
            drift_lexer_destroy(&lx);
        }
        snprintf(sql, sizeof sql, "SELECT a FROM %s", lower);
        drift_sqlerr_t err;
        memset(&err, 0, sizeof err);
        drift_ast_t *ast = NULL;
        int rc = drift_parse(sql, strlen(sql), &ast, &err);
        drift_ast_destroy(&ast);
        if (drift_kw_reserved((drift_kw_t)k))
            assert_int_equal(rc, -1);
        else if (rc != 0)
            fail_msg("%s: %s", sql, err.message);
    }
    drift_lexer_t *lx = drift_lexer_new("selectx _select", 15);
    drift_tok_t t;
    char msg[64];
    assert_int_equal(drift_lexer_next(lx, &t, msg, sizeof msg, NULL), 0);
    assert_int_equal(t.kind, DRIFT_TOK_IDENT);
    assert_int_equal(drift_lexer_next(lx, &t, msg, sizeof msg, NULL), 0);
    assert_int_equal(t.kind, DRIFT_TOK_IDENT);
    drift_lexer_destroy(&lx);
}

static void t_errors(void **state)
{
    (void)state;
    s_fail("", "42601", 1, "empty statement");
    s_fail("   ;", "42601", 4, "empty statement");
    s_fail("SELEC 1", "42601", 1, "syntax error at or near \"SELEC\"");
    s_fail("SELECT 1 +", "42601", 11, "syntax error at end of input");
    s_fail("SELECT (1", "42601", 10, "end of input");
    s_fail("SELECT 1 2", "42601", 10, "syntax error at or near \"2\"");
    s_fail("SELECT 'abc", "42601", 8, "unterminated string");
    s_fail("SELECT 1 FROM t WHERE a = = 1", "42601", 27, "\"=\"");
    s_fail("SELECT a FROM t WHERE a NOT 1", "42601", 25, "\"NOT\"");
    s_fail("SELECT * FROM t WHERE a IN 1", "42601", 28, "\"1\"");
    s_fail("SELECT 1 BETWEEN 2", "42601", 19, "end of input");
    s_fail("SELECT a IS", "42601", 12, "end of input");
    s_fail("SELECT #", "42601", 8, "unexpected character '#'");
    s_fail("SELECT 12abc", "42601", 8, "trailing junk");
    s_fail("SELECT /* open", "42601", 8, "unterminated /* comment");
    s_fail("UPSERT INTO t", "42601", 1, "\"UPSERT\"");
    s_fail("42", "42601", 1, "\"42\"");
    /* positions count characters, not bytes */
    s_fail("SELECT 'é', 'ü' +", "42601", 18, "end of input");
    s_fail("SELECT 'ééé' ééé ,, 1", "42601", 19, "\",\"");
    /* a long token is cut in the message */
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT 1 %0300d", 7);
    s_fail(sql, "42601", 10, "syntax error at or near \"0000");
}

static void t_depth(void **state)
{
    (void)state;
    /* moderately deep nesting parses */
    char buf[4096];
    size_t n = 0;
    n += (size_t)sprintf(buf, "SELECT ");
    for (int i = 0; i < 100; i++)
        buf[n++] = '(';
    buf[n++] = '1';
    for (int i = 0; i < 100; i++)
        buf[n++] = ')';
    buf[n] = 0;
    drift_node_t *e = s_expr1(buf);
    assert_int_equal(e->value.u.i, 1);
    /* very deep nesting of every recursive form fails cleanly with 54001 */
    static const char *const opens[] = {"(",  "- ",     "NOT ", "~", "(SELECT ", "CASE WHEN ", "EXISTS (SELECT ",
                                        "f(", "a IN (", "CAST("};
    for (size_t k = 0; k < sizeof opens / sizeof opens[0]; k++) {
        size_t ol = strlen(opens[k]), cap = 20 + 100000 * ol;
        char *sql = malloc(cap);
        assert_non_null(sql);
        n = (size_t)sprintf(sql, "SELECT ");
        for (int i = 0; i < 100000; i++) {
            memcpy(sql + n, opens[k], ol);
            n += ol;
        }
        sql[n++] = '1';
        sql[n] = 0;
        s_fail(sql, "54001", 0, "nesting deeper than");
        free(sql);
    }
    /* nested selects in FROM and EXPLAIN chains count too */
    char *sql = malloc(20 * 10000 + 100);
    assert_non_null(sql);
    n = (size_t)sprintf(sql, "SELECT * FROM ");
    for (int i = 0; i < 10000; i++)
        n += (size_t)sprintf(sql + n, "(SELECT * FROM ");
    sprintf(sql + n, "t");
    s_fail(sql, "54001", 0, NULL);
    free(sql);
    /* a deep JSON literal is a JSON error, not a crash */
    sql = malloc(30000);
    assert_non_null(sql);
    n = (size_t)sprintf(sql, "INSERT INTO d ");
    for (int i = 0; i < 20000; i++)
        sql[n++] = '[';
    sql[n] = 0;
    s_fail(sql, "42601", 0, "JSON");
    n = (size_t)sprintf(sql, "INSERT INTO d ");
    for (int i = 0; i < 30; i++)
        sql[n++] = '[';
    for (int i = 0; i < 30; i++)
        sql[n++] = ']';
    sql[n] = 0;
    s_fail(sql, "42601", 0, "nesting too deep");
    free(sql);
}

/* Random token soup never crashes the parser and always leaves a well-formed error. */
static void t_fuzz(void **state)
{
    (void)state;
    static const char *const toks[] = {"SELECT", "FROM",  "WHERE",   "(",      ")",       ",",      "a",
                                       "1",      "'x'",   "+",       "*",      "AND",     "NOT",    "IN",
                                       "AS",     "OF",    "@",       "seq",    ":",       "FOR",    "SYSTEM_TIME",
                                       "JOIN",   "ON",    "CASE",    "WHEN",   "THEN",    "END",    "{",
                                       "}",      "[",     "]",       "\"k\"",  "BETWEEN", "IS",     "NULL",
                                       "INSERT", "INTO",  "VALUES",  "UPDATE", "SET",     "=",      "CREATE",
                                       "TABLE",  "INT",   "DEFAULT", "UNION",  "$1",      "?",      "->>",
                                       "::",     "LIMIT", "ORDER",   "BY",     "GROUP",   "EXISTS", ";",
                                       "PATCH",  "KEY"};
    const size_t nt = sizeof toks / sizeof toks[0];
    uint64_t x = 88172645463325252ULL;
    char sql[1024];
    int ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int len = 1 + (int)(x % 24);
        for (int k = 0; k < len; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            n += (size_t)snprintf(sql + n, sizeof sql - n, "%s ", toks[x % nt]);
        }
        drift_sqlerr_t err;
        memset(&err, 0, sizeof err);
        drift_ast_t *ast = NULL;
        int rc = drift_parse(sql, n, &ast, &err);
        if (rc == 0) {
            ok++;
            assert_non_null(ast);
            drift_ast_destroy(&ast);
        } else {
            assert_null(ast);
            assert_int_equal(strlen(err.code), 5);
            assert_true(err.message[0] != 0);
            assert_true(err.position <= n + 1);
        }
    }
    print_message("fuzz: %d of 20000 random token strings parsed\n", ok);
}

/* ------------------------------------------------------------------ sqllogictest files */

/* The slt directory, or NULL when it is not there. */
static const char *s_slt_dir(char *buf, size_t cap)
{
    const char *env = getenv("DRIFT_SLT_DIR");
    struct stat sb;
    if (env && *env)
        snprintf(buf, cap, "%s", env);
    else if ((env = getenv("DRIFT_SRCDIR")) && *env)
        snprintf(buf, cap, "%s/../shared/slt", env);
    else { /* next to this source file: tests/unit/ -> ../../../shared/slt */
        const char *slash = strrchr(__FILE__, '/');
        snprintf(buf, cap, "%.*s/../../../shared/slt", slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
    }
    return stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode) ? buf : NULL;
}

typedef struct {
    char **paths;
    size_t n, cap;
} s_files_t;

/* Collects every *.test file under dir (sorted walk). */
static void s_find_tests(const char *dir, s_files_t *f)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        char path[4096];
        struct stat sb;
        if (nm[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, nm);
            if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
                s_find_tests(path, f);
            } else if (strlen(nm) > 5 && strcmp(nm + strlen(nm) - 5, ".test") == 0) {
                if (f->n == f->cap) {
                    f->cap = f->cap ? f->cap * 2 : 32;
                    f->paths = realloc(f->paths, f->cap * sizeof *f->paths);
                    assert_non_null(f->paths);
                }
                f->paths[f->n++] = strdup(path);
            }
        }
        free(ents[i]);
    }
    free(ents);
}

static void s_files_free(s_files_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->paths[i]);
    free(f->paths);
}

/* One SQL statement of an slt file. */
typedef struct {
    char *sql;
    int expect_error; /* statement error */
    int line;
} s_sltstmt_t;

typedef struct {
    s_sltstmt_t *v;
    size_t n, cap;
} s_sltlist_t;

/* Reads a file's records as tests/slt/slt.py does (skipif/onlyif for engine "sqlite", halt, statement/query
 * bodies up to a blank line or ----), appending the statements that run under engine sqlite. */
static void s_slt_read(const char *path, s_sltlist_t *out)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    int skip_engine = 0, lineno = 0;
    char *body = NULL;
    size_t blen = 0, bcap = 0;
    int in_body = 0, body_err = 0, body_line = 0, body_skip = 0;
    for (;;) {
        ll = getline(&line, &lcap, fp);
        int eof = ll < 0;
        if (!eof) {
            lineno++;
            while (ll > 0 && (line[ll - 1] == '\n' || line[ll - 1] == '\r'))
                line[--ll] = 0;
        }
        int blank = eof || strspn(line, " \t") == (size_t)ll;
        if (in_body && (blank || strcmp(line, "----") == 0 || eof)) {
            if (!body_skip && blen) {
                if (out->n == out->cap) {
                    out->cap = out->cap ? out->cap * 2 : 1024;
                    out->v = realloc(out->v, out->cap * sizeof *out->v);
                    assert_non_null(out->v);
                }
                out->v[out->n++] =
                    (s_sltstmt_t){.sql = strndup(body, blen), .expect_error = body_err, .line = body_line};
            }
            in_body = 0;
            blen = 0;
            if (!eof && strcmp(line, "----") == 0) { /* skip the expected results */
                while ((ll = getline(&line, &lcap, fp)) >= 0) {
                    lineno++;
                    if (strspn(line, " \t\r\n") == (size_t)ll)
                        break;
                }
                if (ll < 0)
                    break;
            }
            if (eof)
                break;
            continue;
        }
        if (eof)
            break;
        if (in_body) {
            size_t need = blen + (size_t)ll + 2;
            if (need > bcap) {
                bcap = need * 2;
                body = realloc(body, bcap);
                assert_non_null(body);
            }
            if (blen)
                body[blen++] = '\n';
            memcpy(body + blen, line, (size_t)ll);
            blen += (size_t)ll;
            continue;
        }
        if (blank || line[strspn(line, " \t")] == '#')
            continue;
        char w0[32] = "", w1[32] = "";
        sscanf(line, "%31s %31s", w0, w1);
        if (strcmp(w0, "skipif") == 0 || strcmp(w0, "onlyif") == 0) {
            if ((strcmp(w0, "skipif") == 0 && strcmp(w1, "sqlite") == 0) ||
                (strcmp(w0, "onlyif") == 0 && strcmp(w1, "sqlite") != 0))
                skip_engine = 1;
            continue;
        }
        if (strcmp(w0, "halt") == 0) {
            if (skip_engine) {
                skip_engine = 0;
                continue;
            }
            break;
        }
        if (strcmp(w0, "statement") == 0 || strcmp(w0, "query") == 0) {
            in_body = 1;
            body_err = strcmp(w0, "statement") == 0 && strcmp(w1, "error") == 0;
            body_line = lineno + 1;
            body_skip = skip_engine;
            skip_engine = 0;
            continue;
        }
        skip_engine = 0; /* hash-threshold and unknown records */
    }
    free(body);
    free(line);
    fclose(fp);
}

static void s_sltlist_free(s_sltlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].sql);
    free(l->v);
}

/* The statement kinds DriftDB deliberately does not support (tests/slt/slt.py SKIP_KINDS): 0A000 expected. */
static const char *s_unsupported_kind(const char *sql)
{
    char w[4][32] = {"", "", "", ""};
    sscanf(sql, "%31s %31s %31s %31s", w[0], w[1], w[2], w[3]);
    int k = strcasecmp(w[1], "temp") == 0 || strcasecmp(w[1], "temporary") == 0 ? 2 : 1;
    if (strcasecmp(w[0], "create") == 0 && strcasecmp(w[k], "trigger") == 0)
        return "CREATE TRIGGER";
    if (strcasecmp(w[0], "drop") == 0 && strcasecmp(w[1], "trigger") == 0)
        return "DROP TRIGGER";
    if (strcasecmp(w[0], "reindex") == 0)
        return "REINDEX";
    return NULL;
}

/* Splits an slt record into statements at top-level ';' tokens (sqllogictest runs a record with sqlite3_exec,
 * which accepts several statements); calls fn on each non-empty piece. Returns the number of pieces. */
static size_t s_split(const char *sql, void (*fn)(const char *piece, size_t n, void *arg), void *arg)
{
    size_t len = strlen(sql), start = 0, pieces = 0;
    drift_lexer_t *lx = drift_lexer_new(sql, len);
    assert_non_null(lx);
    drift_tok_t t;
    char msg[128];
    for (;;) {
        if (drift_lexer_next(lx, &t, msg, sizeof msg, NULL) < 0 || t.kind == DRIFT_TOK_EOF)
            break;
        if (t.kind == DRIFT_TOK_OP && t.op == DRIFT_TOP_SEMI) {
            if (strspn(sql + start, " \t\r\n") < t.pos - start) {
                fn(sql + start, t.pos - start, arg);
                pieces++;
            }
            start = t.pos + 1;
        }
    }
    drift_lexer_destroy(&lx);
    if (strspn(sql + start, " \t\r\n") < len - start) {
        fn(sql + start, len - start, arg);
        pieces++;
    }
    return pieces;
}

typedef struct {
    int rc;
    drift_sqlerr_t err;
} s_splitres_t;

/* Parses one piece of a record; keeps the first failure. */
static void s_parse_piece(const char *piece, size_t n, void *arg)
{
    s_splitres_t *r = arg;
    drift_sqlerr_t err;
    memset(&err, 0, sizeof err);
    drift_ast_t *ast = NULL;
    int rc = drift_parse(piece, n, &ast, &err);
    drift_ast_destroy(&ast);
    if (rc && !r->rc) {
        r->rc = rc;
        r->err = err;
    }
}

/* Every statement of every slt file parses, except the unsupported kinds (0A000 naming the kind) and
 * `statement error` records (which may fail, with a proper SQLSTATE). */
static void t_slt_all(void **state)
{
    (void)state;
    char dir[4096];
    if (!s_slt_dir(dir, sizeof dir)) {
        print_message("slt directory not found (set DRIFT_SLT_DIR): skipped\n");
        skip();
    }
    s_files_t files = {0};
    s_find_tests(dir, &files);
    assert_true(files.n > 0);
    size_t total = 0, unsupported = 0, err_ok = 0, err_failed = 0, bad = 0, multi = 0;
    for (size_t f = 0; f < files.n; f++) {
        s_sltlist_t l = {0};
        s_slt_read(files.paths[f], &l);
        for (size_t i = 0; i < l.n; i++) {
            const char *sql = l.v[i].sql;
            s_splitres_t res;
            memset(&res, 0, sizeof res);
            const char *kind = s_unsupported_kind(sql);
            if (kind) /* a trigger body holds ';': the whole record is one statement */
                s_parse_piece(sql, strlen(sql), &res);
            else if (s_split(sql, s_parse_piece, &res) > 1)
                multi++;
            int rc = res.rc;
            drift_sqlerr_t err = res.err;
            total++;
            if (kind) {
                unsupported++;
                char want[64];
                snprintf(want, sizeof want, "%s is not supported", kind);
                if (rc == 0 || strcmp(err.code, "0A000") != 0 || strncmp(err.message, want, strlen(want)) != 0) {
                    print_error("%s:%d: [%s]: %s %s (expected 0A000 \"%s\")\n", files.paths[f], l.v[i].line, sql,
                                rc ? err.code : "ok", rc ? err.message : "", want);
                    bad++;
                }
            } else if (l.v[i].expect_error) {
                if (rc == 0) {
                    err_ok++;
                } else {
                    err_failed++;
                    assert_int_equal(strlen(err.code), 5);
                }
            } else if (rc != 0) {
                if (bad < 40)
                    print_error("%s:%d: [%.300s]: %s %s (position %u)\n", files.paths[f], l.v[i].line, sql, err.code,
                                err.message, err.position);
                bad++;
            }
        }
        s_sltlist_free(&l);
    }
    print_message(
        "slt: %zu files, %zu statements: %zu unsupported kinds (0A000), %zu `statement error` records "
        "(%zu rejected by the parser, %zu left to execution), %zu records of several statements, %zu failed to "
        "parse\n",
        files.n, total, unsupported, err_ok + err_failed, err_failed, err_ok, multi, bad);
    s_files_free(&files);
    assert_int_equal(bad, 0);
}

static int s_cmp_len(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

/* The 30 longest statements of a set of files parse to a SELECT (or the statement their text starts with). */
static void s_longest(s_files_t *files, const char *what)
{
    s_sltlist_t all = {0};
    for (size_t f = 0; f < files->n; f++)
        s_slt_read(files->paths[f], &all);
    assert_true(all.n > 0);
    char **v = malloc(all.n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < all.n; i++)
        v[i] = all.v[i].sql;
    qsort(v, all.n, sizeof *v, s_cmp_len);
    size_t k = all.n < 30 ? all.n : 30;
    for (size_t i = 0; i < k; i++) {
        drift_stmt_t *st = s_ok(v[i]);
        if (strncasecmp(v[i], "SELECT", 6) == 0) {
            assert_int_equal(st->kind, DRIFT_STMT_SELECT);
            assert_non_null(st->select);
            assert_true(st->select->nitems > 0);
            if (strstr(v[i], " WHERE "))
                assert_true(st->select->where != NULL || st->select->next != NULL);
        }
    }
    print_message("slt %s: the %zu longest of %zu statements (%zu to %zu bytes) parse\n", what, k, all.n,
                  strlen(v[k - 1]), strlen(v[0]));
    free(v);
    s_sltlist_free(&all);
}

/* The 30 longest statements of random/ (and select5.test when present), then of every file. */
static void t_slt_longest(void **state)
{
    (void)state;
    char dir[4096], sub[4200];
    if (!s_slt_dir(dir, sizeof dir)) {
        print_message("slt directory not found (set DRIFT_SLT_DIR): skipped\n");
        skip();
    }
    s_files_t files = {0};
    snprintf(sub, sizeof sub, "%s/random", dir);
    s_find_tests(sub, &files);
    snprintf(sub, sizeof sub, "%s/select5.test", dir);
    struct stat sb;
    if (stat(sub, &sb) == 0) {
        files.paths = realloc(files.paths, (files.n + 1) * sizeof *files.paths);
        assert_non_null(files.paths);
        files.paths[files.n++] = strdup(sub);
    }
    s_longest(&files, "random/ + select5.test");
    s_files_free(&files);
    memset(&files, 0, sizeof files);
    s_find_tests(dir, &files);
    s_longest(&files, "all files");
    s_files_free(&files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(t_precedence, s_teardown),
        cmocka_unit_test_teardown(t_literals, s_teardown),
        cmocka_unit_test_teardown(t_params, s_teardown),
        cmocka_unit_test_teardown(t_case_cast_subquery, s_teardown),
        cmocka_unit_test_teardown(t_select_items, s_teardown),
        cmocka_unit_test_teardown(t_select_from, s_teardown),
        cmocka_unit_test_teardown(t_select_clauses, s_teardown),
        cmocka_unit_test_teardown(t_compound_values, s_teardown),
        cmocka_unit_test_teardown(t_temporal, s_teardown),
        cmocka_unit_test_teardown(t_insert, s_teardown),
        cmocka_unit_test_teardown(t_update_delete, s_teardown),
        cmocka_unit_test_teardown(t_create_table, s_teardown),
        cmocka_unit_test_teardown(t_index_view_drop_alter, s_teardown),
        cmocka_unit_test_teardown(t_transactions, s_teardown),
        cmocka_unit_test_teardown(t_driftql_misc, s_teardown),
        cmocka_unit_test_teardown(t_unsupported_kinds, s_teardown),
        cmocka_unit_test_teardown(t_identifiers, s_teardown),
        cmocka_unit_test_teardown(t_keywords, s_teardown),
        cmocka_unit_test_teardown(t_errors, s_teardown),
        cmocka_unit_test_teardown(t_depth, s_teardown),
        cmocka_unit_test_teardown(t_fuzz, s_teardown),
        cmocka_unit_test_teardown(t_slt_longest, s_teardown),
        cmocka_unit_test_teardown(t_slt_all, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
