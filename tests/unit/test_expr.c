/* tests/unit/test_expr.c — values, expressions, functions and aggregates
 * (modules/query/expr.h). Expressions are built by hand (no parser), so each
 * case states its tree; expected results were checked against the sqlite3
 * CLI (3.40) where SQLite defines them. */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/query/expr.h"

static drift_arena_t s_ar; /* the tree and the results: freed per test */

/* ------------------------------------------------------------------ tree builders */

static drift_node_t *s_node(drift_ast_kind_t kind)
{
    drift_node_t *n = drift_arena_alloc(&s_ar, sizeof *n);
    assert_non_null(n);
    n->kind = kind;
    n->agg = -1;
    return n;
}

static drift_node_t *s_lit(drift_value_t v)
{
    drift_node_t *n = s_node(DRIFT_AST_LITERAL);
    n->value = v;
    return n;
}

#define I(x) s_lit(drift_val_int(x))
#define R(x) s_lit(drift_val_real(x))
#define T(x) s_lit(drift_val_text((x), strlen(x)))
#define NUL s_lit(drift_val_null())
#define BO(x) s_lit(drift_val_bool(x))
#define BL(p, n) s_lit(drift_val_blob((p), (n)))
#define J(x) s_lit(drift_val_json((x), strlen(x)))

static drift_node_t *s_bin(drift_bop_t op, drift_node_t *l, drift_node_t *r)
{
    drift_node_t *n = s_node(DRIFT_AST_BINARY);
    n->bop = op;
    n->l = l;
    n->r = r;
    return n;
}

static drift_node_t *s_lr(drift_ast_kind_t kind, drift_node_t *l, drift_node_t *r, int negate)
{
    drift_node_t *n = s_node(kind);
    n->l = l;
    n->r = r;
    n->negate = negate;
    return n;
}

static drift_node_t *s_args(drift_node_t *n, drift_node_t **args, uint32_t nargs)
{
    n->args = drift_arena_memdup(&s_ar, args, nargs * sizeof *args);
    n->nargs = nargs;
    return n;
}

#define ARGS(...)                                                                                                      \
    (drift_node_t *[]){__VA_ARGS__}, (uint32_t)(sizeof((drift_node_t *[]){__VA_ARGS__}) / sizeof(drift_node_t *))

static drift_node_t *s_func(const char *name, drift_node_t **args, uint32_t nargs)
{
    drift_node_t *n = s_node(DRIFT_AST_FUNC);
    n->name = name;
    return s_args(n, args, nargs);
}

#define F(name, ...) s_func(name, ARGS(__VA_ARGS__))
#define F0(name) s_func(name, NULL, 0)

static drift_node_t *s_neg(drift_node_t *l)
{
    drift_node_t *n = s_node(DRIFT_AST_UNARY);
    n->op = DRIFT_TOP_MINUS;
    n->l = l;
    return n;
}

static drift_node_t *s_cast(drift_node_t *l, drift_coltype_t t)
{
    drift_node_t *n = s_node(DRIFT_AST_CAST);
    n->l = l;
    n->cast_type = t;
    return n;
}

static drift_node_t *s_like(drift_node_t *l, drift_node_t *r, drift_node_t *esc, int negate, int glob)
{
    drift_node_t *n = s_lr(DRIFT_AST_LIKE, l, r, negate);
    n->glob = glob;
    if (esc)
        s_args(n, (drift_node_t *[]){esc}, 1);
    return n;
}

static drift_node_t *s_between(drift_node_t *x, drift_node_t *lo, drift_node_t *hi, int negate)
{
    drift_node_t *n = s_lr(DRIFT_AST_BETWEEN, x, NULL, negate);
    return s_args(n, (drift_node_t *[]){lo, hi}, 2);
}

static drift_node_t *s_in(int negate, drift_node_t *x, drift_node_t **args, uint32_t nargs)
{
    return s_args(s_lr(DRIFT_AST_IN_LIST, x, NULL, negate), args, nargs);
}

#define IN(x, ...) s_in(0, x, ARGS(__VA_ARGS__))
#define NOTIN(x, ...) s_in(1, x, ARGS(__VA_ARGS__))

/* CASE [base] WHEN/THEN pairs [ELSE els] END */
static drift_node_t *s_case(drift_node_t *base, drift_node_t *els, drift_node_t **args, uint32_t nargs)
{
    return s_args(s_lr(DRIFT_AST_CASE, base, els, 0), args, nargs);
}

/* A bound column: relation rel, column col, depth levels out. */
static drift_node_t *s_col(const char *name, int32_t rel, int32_t col, int32_t depth)
{
    drift_node_t *n = s_node(DRIFT_AST_COLUMN);
    n->name = name;
    n->bound = 1;
    n->rel = rel;
    n->col = col;
    n->depth = depth;
    return n;
}

#define ADD(a, b) s_bin(DRIFT_BOP_ADD, a, b)
#define SUB(a, b) s_bin(DRIFT_BOP_SUB, a, b)
#define MUL(a, b) s_bin(DRIFT_BOP_MUL, a, b)
#define DIV(a, b) s_bin(DRIFT_BOP_DIV, a, b)
#define MOD(a, b) s_bin(DRIFT_BOP_MOD, a, b)
#define CAT(a, b) s_bin(DRIFT_BOP_CONCAT, a, b)
#define EQ(a, b) s_bin(DRIFT_BOP_EQ, a, b)
#define NE(a, b) s_bin(DRIFT_BOP_NE, a, b)
#define LT(a, b) s_bin(DRIFT_BOP_LT, a, b)
#define GT(a, b) s_bin(DRIFT_BOP_GT, a, b)
#define LE(a, b) s_bin(DRIFT_BOP_LE, a, b)
#define GE(a, b) s_bin(DRIFT_BOP_GE, a, b)
#define AND(a, b) s_lr(DRIFT_AST_AND, a, b, 0)
#define OR(a, b) s_lr(DRIFT_AST_OR, a, b, 0)
#define NOT(a) s_lr(DRIFT_AST_NOT, a, NULL, 0)
#define JGET(a, b) s_bin(DRIFT_BOP_JSON_GET, a, b)
#define JTXT(a, b) s_bin(DRIFT_BOP_JSON_GET_TEXT, a, b)

/* ------------------------------------------------------------------ evaluation helpers */

static drift_sqlerr_t s_err;
static const drift_rowctx_t *s_ctx;
static drift_evalenv_t s_env;

static int s_setup(void **state)
{
    (void)state;
    memset(&s_ar, 0, sizeof s_ar);
    memset(&s_err, 0, sizeof s_err);
    memset(&s_env, 0, sizeof s_env);
    s_env.arena = &s_ar;
    s_env.err = &s_err;
    s_ctx = NULL;
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    drift_arena_free(&s_ar);
    return 0;
}

static const char *s_tname(drift_val_type_t t)
{
    static const char *const n[] = {"NULL", "INTEGER", "REAL", "TEXT", "BOOLEAN", "BLOB", "JSON", "TIMESTAMP"};
    return (unsigned)t < 8 ? n[t] : "?";
}

static drift_value_t s_eval_ok(drift_node_t *n, int line)
{
    drift_value_t v;
    memset(&s_err, 0, sizeof s_err);
    if (drift_expr_eval(&s_env, n, s_ctx, &v) < 0)
        fail_msg("line %d: evaluation failed: %s %s", line, s_err.code, s_err.message);
    return v;
}

/* Checks that n evaluates to type t with text form text (NULL: no text check). */
static void s_expect(drift_node_t *n, drift_val_type_t t, const char *text, int line)
{
    drift_value_t v = s_eval_ok(n, line);
    size_t len;
    const char *got = drift_val_to_text(&s_ar, &v, &len);
    if (v.type != t || (text && (strlen(text) != len || memcmp(text, got, len) != 0)))
        fail_msg("line %d: expected %s '%s', got %s '%.*s'", line, s_tname(t), text ? text : "", s_tname(v.type),
                 (int)len, got);
}

#define EXPECT(n, t, text) s_expect((n), (t), (text), __LINE__)
#define EXPECT_NULL(n) s_expect((n), DRIFT_VAL_NULL, "", __LINE__)
#define EXPECT_INT(n, s) s_expect((n), DRIFT_VAL_INT, (s), __LINE__)
#define EXPECT_REAL(n, s) s_expect((n), DRIFT_VAL_REAL, (s), __LINE__)
#define EXPECT_TEXT(n, s) s_expect((n), DRIFT_VAL_TEXT, (s), __LINE__)
#define EXPECT_TRUE(n) s_expect((n), DRIFT_VAL_BOOL, "1", __LINE__)
#define EXPECT_FALSE(n) s_expect((n), DRIFT_VAL_BOOL, "0", __LINE__)

/* Checks that n fails with SQLSTATE code and a message containing part. */
static void s_expect_err(drift_node_t *n, const char *code, const char *part, int line)
{
    drift_value_t v;
    memset(&s_err, 0, sizeof s_err);
    if (drift_expr_eval(&s_env, n, s_ctx, &v) == 0)
        fail_msg("line %d: expected error %s, got a %s", line, code, s_tname(v.type));
    if (strcmp(s_err.code, code) != 0 || (part && !strstr(s_err.message, part)))
        fail_msg("line %d: expected %s '...%s...', got %s '%s'", line, code, part ? part : "", s_err.code,
                 s_err.message);
}

#define EXPECT_ERR(n, code, part) s_expect_err((n), (code), (part), __LINE__)

/* ------------------------------------------------------------------ tests */

static void test_arithmetic(void **state)
{
    (void)state;
    EXPECT_TRUE(EQ(I(1), R(1.0)));
    EXPECT_INT(DIV(I(7), I(2)), "3");
    EXPECT_INT(DIV(I(-7), I(2)), "-3");
    EXPECT_NULL(DIV(I(7), I(0)));
    EXPECT_NULL(MOD(I(7), I(0)));
    EXPECT_NULL(DIV(R(7.5), R(0.0)));
    EXPECT_NULL(MOD(I(7), R(0.5))); /* SQLite: the remainder of the integer parts */
    EXPECT_INT(MOD(I(-7), I(3)), "-1");
    EXPECT_INT(MOD(I(7), I(-3)), "1");
    EXPECT_REAL(MOD(R(5.5), I(2)), "1.0");
    EXPECT_REAL(MOD(R(-7.5), I(2)), "-1.0");
    EXPECT_REAL(DIV(R(7.0), I(2)), "3.5");
    EXPECT_REAL(DIV(I(1), R(2.0)), "0.5");
    EXPECT_REAL(ADD(I(INT64_MAX), I(1)), "9.22337203685478e+18");
    EXPECT_REAL(SUB(I(-INT64_MAX), I(2)), "-9.22337203685478e+18");
    EXPECT_REAL(MUL(I(INT64_MAX), I(2)), "1.84467440737096e+19");
    EXPECT_REAL(DIV(I(INT64_MIN), I(-1)), "9.22337203685478e+18");
    EXPECT_INT(MOD(I(INT64_MIN), I(-1)), "0");
    EXPECT_REAL(s_neg(I(INT64_MIN)), "9.22337203685478e+18");
    EXPECT_INT(s_neg(I(5)), "-5");
    /* text converts by its numeric prefix; booleans are 0/1 */
    EXPECT_INT(ADD(T("12abc"), I(0)), "12");
    EXPECT_INT(ADD(T("x"), I(0)), "0");
    EXPECT_REAL(ADD(T("1e3"), I(0)), "1000.0");
    EXPECT_INT(ADD(T(" 7 "), I(0)), "7");
    EXPECT_REAL(MUL(T("1.5x"), I(2)), "3.0");
    EXPECT_REAL(ADD(T("9223372036854775808"), I(0)), "9.22337203685478e+18");
    EXPECT_INT(ADD(T("0x10"), I(0)), "0");
    EXPECT_INT(s_neg(T("abc")), "0");
    EXPECT_INT(s_neg(T("3")), "-3");
    EXPECT_INT(ADD(BO(1), BO(1)), "2");
    EXPECT_REAL(ADD(R(0.1), R(0.2)), "0.3");
    EXPECT_REAL(MUL(R(1e308), I(10)), "Inf");
    EXPECT_NULL(SUB(MUL(R(1e308), I(10)), MUL(R(1e308), I(10)))); /* NaN is NULL */
    /* bit operators */
    EXPECT_INT(s_bin(DRIFT_BOP_BITAND, I(3), I(5)), "1");
    EXPECT_INT(s_bin(DRIFT_BOP_BITOR, I(3), I(5)), "7");
    EXPECT_INT(s_bin(DRIFT_BOP_SHL, I(1), I(3)), "8");
    EXPECT_INT(s_bin(DRIFT_BOP_SHR, I(-16), I(2)), "-4");
    EXPECT_INT(s_bin(DRIFT_BOP_SHL, I(1), I(64)), "0");
    EXPECT_INT(s_bin(DRIFT_BOP_SHL, I(1), I(-1)), "0");
    EXPECT_INT(s_bin(DRIFT_BOP_SHR, I(-1), I(70)), "-1");
    /* integer contexts read text like CAST AS INTEGER (SQLite): '1e3' is 1 there */
    EXPECT_REAL(MOD(T("1e3"), I(7)), "1.0");
    EXPECT_INT(s_bin(DRIFT_BOP_BITAND, T("1e3"), I(1023)), "1");
    EXPECT_INT(s_bin(DRIFT_BOP_SHL, T("2.5"), I(1)), "4");
    EXPECT_TEXT(F("printf", T("%d"), T("1e3")), "1");
    EXPECT_TEXT(F("substr", T("abcdef"), T("2.9")), "bcdef");
    EXPECT_REAL(F("round", R(1.23456), T("2.9")), "1.23");
}

static void test_null_propagation(void **state)
{
    (void)state;
    static const drift_bop_t ops[] = {
        DRIFT_BOP_ADD,    DRIFT_BOP_SUB,   DRIFT_BOP_MUL, DRIFT_BOP_DIV, DRIFT_BOP_MOD,      DRIFT_BOP_CONCAT,
        DRIFT_BOP_EQ,     DRIFT_BOP_NE,    DRIFT_BOP_LT,  DRIFT_BOP_LE,  DRIFT_BOP_GT,       DRIFT_BOP_GE,
        DRIFT_BOP_BITAND, DRIFT_BOP_BITOR, DRIFT_BOP_SHL, DRIFT_BOP_SHR, DRIFT_BOP_JSON_GET, DRIFT_BOP_JSON_GET_TEXT};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        EXPECT_NULL(s_bin(ops[i], NUL, I(1)));
        EXPECT_NULL(s_bin(ops[i], T("[1]"), NUL));
        EXPECT_NULL(s_bin(ops[i], NUL, NUL));
    }
    EXPECT_NULL(s_neg(NUL));
    EXPECT_NULL(NOT(NUL));
    EXPECT_NULL(s_like(NUL, T("a"), NULL, 0, 0));
    EXPECT_NULL(s_like(T("a"), NUL, NULL, 1, 0));
    EXPECT_NULL(s_like(T("a"), T("a"), NUL, 0, 0));
    EXPECT_NULL(s_like(NUL, T("a"), NULL, 0, 1));
    EXPECT_NULL(s_between(NUL, I(1), I(2), 0));
    EXPECT_NULL(IN(NUL, I(1)));
    EXPECT_NULL(s_cast(NUL, DRIFT_COL_INTEGER));
    EXPECT_NULL(s_cast(NUL, DRIFT_COL_TEXT));
    EXPECT_NULL(F("abs", NUL));
    EXPECT_NULL(F("upper", NUL));
    EXPECT_NULL(F("length", NUL));
    EXPECT_NULL(F("round", NUL));
    EXPECT_NULL(F("round", R(2.5), NUL));
    EXPECT_NULL(F("substr", T("abc"), NUL));
    EXPECT_NULL(F("replace", T("abc"), T("b"), NUL));
    EXPECT_NULL(F("instr", NUL, T("a")));
    EXPECT_NULL(F("trim", NUL));
    EXPECT_NULL(F("max", I(1), NUL, I(3)));
    EXPECT_NULL(F("sign", NUL));
    EXPECT_NULL(F("json_extract", NUL, T("$")));
    EXPECT_NULL(F("printf", NUL));
    /* but not in these */
    EXPECT_TRUE(s_lr(DRIFT_AST_ISNULL, NUL, NULL, 0));
    EXPECT_TRUE(s_lr(DRIFT_AST_IS, NUL, NUL, 0));
    EXPECT_TEXT(F("coalesce", NUL, T("x")), "x");
    EXPECT_TEXT(F("hex", NUL), "");
    EXPECT_TEXT(F("typeof", NUL), "null");
}

static void test_three_valued_logic(void **state)
{
    (void)state;
    /* AND / OR truth tables over true (1), false (0), NULL */
    drift_node_t *(*mk[3])(void);
    (void)mk;
    const char *and_t[3][3] = {{"1", "0", "N"}, {"0", "0", "0"}, {"N", "0", "N"}};
    const char *or_t[3][3] = {{"1", "1", "1"}, {"1", "0", "N"}, {"1", "N", "N"}};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            drift_node_t *a = i == 0 ? I(1) : i == 1 ? I(0) : NUL;
            drift_node_t *b = j == 0 ? BO(1) : j == 1 ? BO(0) : NUL;
            if (and_t[i][j][0] == 'N')
                EXPECT_NULL(AND(a, b));
            else
                EXPECT(AND(a, b), DRIFT_VAL_BOOL, and_t[i][j]);
            if (or_t[i][j][0] == 'N')
                EXPECT_NULL(OR(a, b));
            else
                EXPECT(OR(a, b), DRIFT_VAL_BOOL, or_t[i][j]);
        }
    EXPECT_TRUE(NOT(I(0)));
    EXPECT_TRUE(NOT(T("abc"))); /* 'abc' is 0 */
    EXPECT_FALSE(NOT(T("1abc")));
    EXPECT_FALSE(AND(R(0.0), T("x")));
    /* short circuit: the right side is not evaluated once the answer is known */
    EXPECT_FALSE(AND(I(0), F("abs", I(INT64_MIN))));
    EXPECT_TRUE(OR(I(2), F("abs", I(INT64_MIN))));
    /* drift_expr_cond: NULL is false */
    memset(&s_err, 0, sizeof s_err);
    assert_int_equal(drift_expr_cond(&s_env, AND(NUL, I(1)), NULL), 0);
    assert_int_equal(drift_expr_cond(&s_env, OR(NUL, I(1)), NULL), 1);
    assert_int_equal(drift_expr_cond(&s_env, F("nosuch", I(1)), NULL), -1);
}

static void test_in_between_is(void **state)
{
    (void)state;
    EXPECT_TRUE(IN(I(1), I(1), NUL));
    EXPECT_NULL(IN(I(2), I(1), NUL));
    EXPECT_NULL(NOTIN(I(2), I(1), NUL));
    EXPECT_FALSE(NOTIN(I(1), I(1), NUL));
    EXPECT_NULL(IN(NUL, I(1)));
    EXPECT_TRUE(NOTIN(I(2), I(1), I(3)));
    EXPECT_TRUE(IN(I(1), R(1.0)));
    EXPECT_FALSE(IN(T("1"), I(1)));
    EXPECT_FALSE(s_in(0, NUL, NULL, 0)); /* x IN () is false, even for NULL */
    EXPECT_TRUE(s_in(1, NUL, NULL, 0));
    EXPECT_TRUE(s_between(I(2), I(1), I(3), 0));
    EXPECT_FALSE(s_between(I(2), NUL, I(1), 0));
    EXPECT_NULL(s_between(I(2), NUL, I(3), 0));
    EXPECT_TRUE(s_between(I(2), I(3), NUL, 1));
    EXPECT_TRUE(s_between(T("b"), T("a"), T("c"), 0));
    EXPECT_FALSE(s_lr(DRIFT_AST_ISNULL, I(1), NULL, 0));
    EXPECT_TRUE(s_lr(DRIFT_AST_ISNULL, I(1), NULL, 1));
    EXPECT_TRUE(s_lr(DRIFT_AST_IS, I(1), R(1.0), 0));
    EXPECT_TRUE(s_lr(DRIFT_AST_IS, NUL, I(1), 1));
    EXPECT_FALSE(s_lr(DRIFT_AST_IS, NUL, I(1), 0));
    EXPECT_FALSE(s_lr(DRIFT_AST_IS, I(1), I(2), 0));
}

static void test_comparison_and_order(void **state)
{
    (void)state;
    EXPECT_TRUE(LT(I(1), T("a"))); /* numbers < text < blob */
    EXPECT_TRUE(LT(T("a"), BL("\0", 1)));
    EXPECT_FALSE(EQ(I(2), T("2")));
    EXPECT_NULL(EQ(NUL, NUL));
    EXPECT_TRUE(LT(T("abc"), T("abd")));
    EXPECT_TRUE(LT(T("B"), T("a"))); /* bytewise */
    EXPECT_TRUE(LT(T("ab"), T("abc")));
    EXPECT_TRUE(LT(BL("\x01", 1), BL("\x02", 1)));
    EXPECT_TRUE(NE(I(1), R(1.5)));
    EXPECT_TRUE(GE(R(2.0), I(2)));
    EXPECT_TRUE(LE(I(INT64_MAX), R(9223372036854775808.0)));
    EXPECT_TRUE(LT(I(INT64_MAX), R(9223372036854775808.0)));
    EXPECT_TRUE(GT(I(INT64_MAX - 1), R(9.2233720368547748e18)));
    EXPECT_TRUE(EQ(BO(1), I(1)));
    EXPECT_TRUE(EQ(J("1"), I(1))); /* JSON scalars unwrap */
    EXPECT_TRUE(EQ(J("\"a\\u0062\""), T("ab")));
    EXPECT_NULL(EQ(J("null"), I(1)));
    EXPECT_TRUE(EQ(J("true"), BO(1)));
    /* a TIMESTAMP compared with timestamp text */
    int64_t ns;
    assert_int_equal(drift_ts_parse("2026-01-02T03:04:05Z", 20, &ns), 0);
    EXPECT_TRUE(EQ(s_lit(drift_val_ts(ns)), T("2026-01-02 03:04:05")));
    EXPECT_TRUE(GT(s_lit(drift_val_ts(ns)), T("2026-01-01")));

    /* the total order: NULL < numbers (by value, whatever the type) < TEXT < BLOB */
    drift_value_t v[] = {
        drift_val_blob("a", 1), drift_val_text("b", 1), drift_val_text("a", 1), drift_val_real(2.5),
        drift_val_int(2),       drift_val_bool(1),      drift_val_null(),       drift_val_real(-1e300),
        drift_val_ts(3),        drift_val_text("", 0),  drift_val_real(NAN),    drift_val_int(INT64_MIN),
    };
    size_t n = sizeof v / sizeof v[0];
    for (size_t i = 1; i < n; i++) /* insertion sort with drift_val_cmp */
        for (size_t j = i; j > 0 && drift_val_cmp(&v[j - 1], &v[j]) > 0; j--) {
            drift_value_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    const char *want[] = {
        "",  "-1.0e+300", "-9223372036854775808", "1", "2", "2.5", "1970-01-01T00:00:00.000000003Z", "NaN", "", "a",
        "b", "a"};
    drift_val_type_t wt[] = {DRIFT_VAL_NULL, DRIFT_VAL_REAL, DRIFT_VAL_INT,       DRIFT_VAL_BOOL,
                             DRIFT_VAL_INT,  DRIFT_VAL_REAL, DRIFT_VAL_TIMESTAMP, DRIFT_VAL_REAL,
                             DRIFT_VAL_TEXT, DRIFT_VAL_TEXT, DRIFT_VAL_TEXT,      DRIFT_VAL_BLOB};
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *t = drift_val_to_text(&s_ar, &v[i], &len);
        if (v[i].type != wt[i] || strcmp(t, want[i]) != 0)
            fail_msg("position %zu: expected %s %s, got %s %s", i, s_tname(wt[i]), want[i], s_tname(v[i].type), t);
    }
    drift_value_t one = drift_val_int(1), onef = drift_val_real(1.0), t1 = drift_val_text("1", 1);
    drift_value_t j1 = drift_val_json("1", 1), ja = drift_val_json("\"a\"", 3), ta = drift_val_text("a", 1);
    drift_value_t ba = drift_val_blob("a", 1);
    assert_int_equal(drift_val_cmp(&one, &onef), 0);
    assert_true(drift_val_cmp(&one, &t1) < 0);
    assert_int_equal(drift_val_cmp(&j1, &one), 0);
    assert_int_equal(drift_val_cmp(&ja, &ta), 0);
    assert_true(drift_val_cmp(&ta, &ba) < 0);
    assert_int_equal(drift_val_compare_op(DRIFT_BOP_LE, &one, &onef), 1);
    assert_int_equal(drift_val_compare_op(DRIFT_BOP_LT, &one, &onef), 0);
}

static void test_hash(void **state)
{
    (void)state;
    drift_value_t a = drift_val_int(1), b = drift_val_real(1.0), c = drift_val_bool(1), d = drift_val_json("1.0", 3);
    drift_value_t t = drift_val_text("a", 1), jt = drift_val_json("\"a\"", 3), bl = drift_val_blob("a", 1);
    drift_value_t h = drift_val_real(1.5), z = drift_val_real(-0.0), z2 = drift_val_int(0);
    drift_value_t big = drift_val_real(1e30), n1 = drift_val_null(), n2 = drift_val_null();
    assert_true(drift_val_hash(&a, 7) == drift_val_hash(&b, 7));
    assert_true(drift_val_hash(&a, 7) == drift_val_hash(&c, 7));
    assert_true(drift_val_hash(&a, 7) == drift_val_hash(&d, 7));
    assert_true(drift_val_hash(&t, 7) == drift_val_hash(&jt, 7));
    assert_true(drift_val_hash(&z, 7) == drift_val_hash(&z2, 7));
    assert_true(drift_val_hash(&n1, 7) == drift_val_hash(&n2, 7));
    assert_true(drift_val_hash(&t, 7) != drift_val_hash(&bl, 7));
    assert_true(drift_val_hash(&a, 7) != drift_val_hash(&h, 7));
    assert_true(drift_val_hash(&a, 7) != drift_val_hash(&a, 8));
    assert_true(drift_val_hash(&big, 7) == drift_val_hash(&big, 7));
    assert_int_equal(drift_val_cmp(&z, &z2), 0);
}

static void test_truth_copy(void **state)
{
    (void)state;
    drift_value_t v[] = {drift_val_null(),          drift_val_int(0),    drift_val_int(-3),
                         drift_val_real(0.0),       drift_val_real(0.5), drift_val_text("abc", 3),
                         drift_val_text("0.5", 3),  drift_val_bool(1),   drift_val_json("null", 4),
                         drift_val_json("false", 5)};
    int want[] = {-1, 0, 1, 0, 1, 0, 1, 1, -1, 0};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(drift_val_truth(&v[i]), want[i]);
    char buf[4] = "xyz";
    drift_value_t src = drift_val_text(buf, 3), dst;
    assert_int_equal(drift_val_copy(&s_ar, &src, &dst), 0);
    buf[0] = 'q';
    assert_int_equal(dst.type, DRIFT_VAL_TEXT);
    assert_memory_equal(dst.u.s.p, "xyz", 3);
}

static void test_like_glob(void **state)
{
    (void)state;
    EXPECT_TRUE(s_like(T("abc"), T("a%"), NULL, 0, 0));
    EXPECT_TRUE(s_like(T("ABC"), T("a_c"), NULL, 0, 0));
    EXPECT_TRUE(s_like(T("a%c"), T("a\\%c"), T("\\"), 0, 0));
    EXPECT_FALSE(s_like(T("abc"), T("a\\%c"), T("\\"), 0, 0));
    EXPECT_TRUE(s_like(T("a_c"), T("a!_c"), T("!"), 0, 0));
    EXPECT_FALSE(s_like(T("abc"), T("a!_c"), T("!"), 0, 0));
    EXPECT_TRUE(s_like(T("\xc3\xa9"), T("_"), NULL, 0, 0));         /* one character, two bytes */
    EXPECT_FALSE(s_like(T("\xc3\x89"), T("\xc3\xa9"), NULL, 0, 0)); /* ASCII-only case folding */
    EXPECT_TRUE(s_like(T(""), T("%"), NULL, 0, 0));
    EXPECT_TRUE(s_like(T("abc"), T("%%c"), NULL, 0, 0));
    EXPECT_FALSE(s_like(T("abc"), T("%b"), NULL, 0, 0));
    EXPECT_TRUE(s_like(T("abc"), T("x%"), NULL, 1, 0));
    EXPECT_TRUE(s_like(I(5), T("5"), NULL, 0, 0));
    EXPECT_TRUE(s_like(T("aXbXc"), T("%b%c"), NULL, 0, 0));
    EXPECT_FALSE(s_like(T("ab"), T("a_%_"), NULL, 0, 0));
    EXPECT_TRUE(s_like(T("abc"), T("a_%_"), NULL, 0, 0));
    EXPECT_ERR(s_like(T("a"), T("a"), T("ab"), 0, 0), "22P02", "ESCAPE expression must be a single character");
    EXPECT_TRUE(s_like(T("abc"), T("a*"), NULL, 0, 1));
    EXPECT_FALSE(s_like(T("ABC"), T("a*"), NULL, 0, 1));
    EXPECT_TRUE(s_like(T("abc"), T("[a-c]?c"), NULL, 0, 1));
    EXPECT_TRUE(s_like(T("x"), T("[^a-c]"), NULL, 0, 1));
    EXPECT_FALSE(s_like(T("b"), T("[^a-c]"), NULL, 0, 1));
    EXPECT_TRUE(s_like(T("]"), T("[]]"), NULL, 0, 1));
    EXPECT_TRUE(s_like(T("-"), T("[a-]"), NULL, 0, 1));
    EXPECT_TRUE(s_like(T("abc"), T("*c*"), NULL, 0, 1));
    EXPECT_FALSE(s_like(T("a"), T("[a"), NULL, 0, 1));
    EXPECT_TRUE(s_like(T("a%"), T("a%"), NULL, 0, 1)); /* % is not special in GLOB */
    EXPECT_TRUE(s_like(T("a%b"), T("%\\%b"), T("\\"), 0, 0));
    EXPECT_FALSE(s_like(T("axb"), T("%\\%b"), T("\\"), 0, 0));
    EXPECT_FALSE(s_like(T("a"), T("a\\"), T("\\"), 0, 0)); /* escape at the end never matches */
    EXPECT_TRUE(s_like(T("mississippi"), T("%iss%pi"), NULL, 0, 0));
    EXPECT_TRUE(s_like(T("mississippi"), T("*ss*?pi"), NULL, 0, 1));
    EXPECT_FALSE(s_like(T("mississippi"), T("*ss*?ppi*x"), NULL, 0, 1));
    /* a pathological pattern over a long string finishes quickly (no exponential backtracking) */
    char *big = drift_arena_alloc(&s_ar, 100001);
    memset(big, 'a', 100000);
    EXPECT_FALSE(s_like(T(big), T("%a%a%a%a%a%a%a%a%b"), NULL, 0, 0));
    EXPECT_TRUE(s_like(T(big), T("%a%a%a%a%a%a%a%a%"), NULL, 0, 0));
}

static void test_case(void **state)
{
    (void)state;
    EXPECT_TEXT(s_case(I(1), T("other"), ARGS(I(1), T("one"), I(2), T("two"))), "one");
    EXPECT_TEXT(s_case(I(5), T("other"), ARGS(I(1), T("one"), I(2), T("two"))), "other");
    EXPECT_NULL(s_case(I(3), NULL, ARGS(I(1), T("one"))));
    EXPECT_TEXT(s_case(NUL, T("x"), ARGS(NUL, T("n"))), "x");
    EXPECT_TEXT(s_case(NULL, NULL, ARGS(I(0), T("a"), NUL, T("b"), I(2), T("c"))), "c");
    EXPECT_TEXT(s_case(I(1), NULL, ARGS(R(1.0), T("eq"))), "eq");
    /* only the chosen branch is evaluated */
    EXPECT_INT(s_case(NULL, F("abs", I(INT64_MIN)), ARGS(I(1), I(7))), "7");
}

static void test_cast(void **state)
{
    (void)state;
    struct {
        drift_node_t *in;
        drift_coltype_t t;
        drift_val_type_t want_t;
        const char *want;
    } c[] = {
        {T("12abc"), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "12"},
        {T("x"), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "0"},
        {R(1.9), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "1"},
        {R(-1.9), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "-1"},
        {T("1e3"), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "1"},
        {T(" 12 "), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "12"},
        {T("  -12"), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "-12"},
        {T("-5e-2"), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "-5"},
        {T("0x1A"), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "0"},
        {R(1e30), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "9223372036854775807"},
        {R(-1e30), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "-9223372036854775808"},
        {T("9223372036854775808"), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "9223372036854775807"},
        {BO(1), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "1"},
        {T("abc"), DRIFT_COL_REAL, DRIFT_VAL_REAL, "0.0"},
        {T("1.5e2x"), DRIFT_COL_REAL, DRIFT_VAL_REAL, "150.0"},
        {I(5), DRIFT_COL_REAL, DRIFT_VAL_REAL, "5.0"},
        {I(12), DRIFT_COL_TEXT, DRIFT_VAL_TEXT, "12"},
        {R(1.0), DRIFT_COL_TEXT, DRIFT_VAL_TEXT, "1.0"},
        {BL("ABC", 3), DRIFT_COL_TEXT, DRIFT_VAL_TEXT, "ABC"},
        {T("abc"), DRIFT_COL_BLOB, DRIFT_VAL_BLOB, "abc"},
        {I(5), DRIFT_COL_BLOB, DRIFT_VAL_BLOB, "5"},
        {T("true"), DRIFT_COL_BOOLEAN, DRIFT_VAL_BOOL, "1"},
        {T("F"), DRIFT_COL_BOOLEAN, DRIFT_VAL_BOOL, "0"},
        {I(7), DRIFT_COL_BOOLEAN, DRIFT_VAL_BOOL, "1"},
        {T("2026-11-25 23:01:17.5"), DRIFT_COL_TIMESTAMP, DRIFT_VAL_TIMESTAMP, "2026-11-25T23:01:17.5Z"},
        {I(1000000000), DRIFT_COL_TIMESTAMP, DRIFT_VAL_TIMESTAMP, "1970-01-01T00:00:01Z"},
        {T(" {\"a\": [1, 2]} "), DRIFT_COL_JSON, DRIFT_VAL_JSON, "{\"a\":[1,2]}"},
        {I(3), DRIFT_COL_JSON, DRIFT_VAL_JSON, "3"},
        {J("\"x\""), DRIFT_COL_TEXT, DRIFT_VAL_TEXT, "\"x\""},
        {J("\"41\""), DRIFT_COL_INTEGER, DRIFT_VAL_INT, "41"},
        {J("2.5"), DRIFT_COL_REAL, DRIFT_VAL_REAL, "2.5"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        s_expect(s_cast(c[i].in, c[i].t), c[i].want_t, c[i].want, (int)(1000 + i));
    EXPECT_TEXT(CAT(s_cast(R(1.5), DRIFT_COL_TEXT), T("x")), "1.5x");
    EXPECT_INT(F("length", s_cast(I(1), DRIFT_COL_BLOB)), "1");
    EXPECT_ERR(s_cast(T("yesterday"), DRIFT_COL_TIMESTAMP), "22007", "yesterday");
    EXPECT_ERR(s_cast(T("{bad"), DRIFT_COL_JSON), "22P02", "JSON");
}

static void test_text_form(void **state)
{
    (void)state;
    struct {
        double r;
        const char *s;
    } c[] = {{1e20, "1.0e+20"},
             {1.0, "1.0"},
             {0.5, "0.5"},
             {123456789012345678.0, "1.23456789012346e+17"},
             {1.5e-7, "1.5e-07"},
             {1e15, "1.0e+15"},
             {100.0, "100.0"},
             {-0.0, "0.0"},
             {1.0 / 3, "0.333333333333333"},
             {1e100, "1.0e+100"},
             {-2.5, "-2.5"},
             {INFINITY, "Inf"}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        drift_value_t v = drift_val_real(c[i].r);
        size_t n;
        const char *t = drift_val_to_text(&s_ar, &v, &n);
        if (strcmp(t, c[i].s) != 0 || n != strlen(t))
            fail_msg("%.17g: expected %s, got %s", c[i].r, c[i].s, t);
    }
    EXPECT_TEXT(CAT(I(1), I(2)), "12");
    EXPECT_TEXT(CAT(R(1.0), T("")), "1.0");
    EXPECT_TEXT(CAT(BO(1), T("x")), "1x");
    EXPECT_TEXT(CAT(T("a"), BL("b", 1)), "ab");
}

static void test_functions(void **state)
{
    (void)state;
    EXPECT_INT(F("abs", I(-5)), "5");
    EXPECT_REAL(F("abs", T("-5")), "5.0");
    EXPECT_REAL(F("abs", R(-1.5)), "1.5");
    EXPECT_INT(F("abs", I(-INT64_MAX)), "9223372036854775807");
    EXPECT_ERR(F("abs", I(INT64_MIN)), "22003", "integer overflow");
    EXPECT_REAL(F("round", R(2.675), I(2)), "2.68");
    EXPECT_REAL(F("round", R(2.5)), "3.0");
    EXPECT_REAL(F("round", R(-2.5)), "-3.0");
    EXPECT_REAL(F("round", R(1.005), I(2)), "1.01");
    EXPECT_REAL(F("round", R(123.456), I(-1)), "123.0");
    EXPECT_REAL(F("round", I(5)), "5.0");
    EXPECT_REAL(F("round", T("abc")), "0.0");
    EXPECT_REAL(F("round", R(1234.5678), I(2)), "1234.57");
    EXPECT_REAL(F("round", R(-0.4)), "0.0");
    EXPECT_REAL(F("round", R(0.125), I(2)), "0.13");
    EXPECT_INT(F("length", I(123)), "3");
    EXPECT_INT(F("length", R(1.5)), "3");
    EXPECT_INT(F("length", BL("\x01\x02", 2)), "2");
    EXPECT_INT(F("length", T("h\xc3\xa9llo")), "5");
    EXPECT_INT(F("length", T("")), "0");
    EXPECT_TEXT(F("hex", I(12)), "3132");
    EXPECT_TEXT(F("hex", T("\xc3\xa9")), "C3A9");
    EXPECT_TEXT(F("hex", BL("\x00\xff", 2)), "00FF");
    EXPECT_TEXT(F("substr", T("hello"), I(0)), "hello");
    EXPECT_TEXT(F("substr", T("hello"), I(-3)), "llo");
    EXPECT_TEXT(F("substr", T("hello"), I(-3), I(2)), "ll");
    EXPECT_TEXT(F("substr", T("hello"), I(2), I(-1)), "h");
    EXPECT_TEXT(F("substr", T("hello"), I(0), I(2)), "h");
    EXPECT_TEXT(F("substr", T("hello"), I(-10), I(7)), "he");
    EXPECT_TEXT(F("substr", I(12345), I(2), I(2)), "23");
    EXPECT_TEXT(F("substr", T("hello"), I(2)), "ello");
    EXPECT_TEXT(F("substr", T("hello"), I(10)), "");
    EXPECT_TEXT(F("substr", T("h\xc3\xa9llo"), I(2), I(2)), "\xc3\xa9l");
    EXPECT_TEXT(F("substr", T("hello"), I(3), I(-5)), "he");
    EXPECT_TEXT(F("substr", T("hello"), I(0), I(-1)), "");
    EXPECT(F("substr", BL("\x01\x02\x03", 3), I(2)), DRIFT_VAL_BLOB, "\x02\x03");
    EXPECT_TEXT(F("substring", T("hello"), I(1), I(3)), "hel");
    EXPECT_INT(F("instr", T("hello"), T("l")), "3");
    EXPECT_INT(F("instr", T("hello"), T("")), "1");
    EXPECT_INT(F("instr", T("h\xc3\xa9llo"), T("l")), "3");
    EXPECT_INT(F("instr", T("abc"), T("z")), "0");
    EXPECT_TEXT(F("trim", T("xxhixx"), T("x")), "hi");
    EXPECT_TEXT(F("trim", T("  hi  ")), "hi");
    EXPECT_TEXT(F("ltrim", T("  a ")), "a ");
    EXPECT_TEXT(F("rtrim", T("  a ")), "  a");
    EXPECT_TEXT(F("trim", T("abcba"), T("ab")), "c");
    EXPECT_TEXT(F("rtrim", T("hello"), T("lo")), "he");
    EXPECT_TEXT(F("trim", T("\xc3\xa9x\xc3\xa9"), T("\xc3\xa9")), "x");
    EXPECT_TEXT(F("ltrim", BL("\x01\x02", 2)), "\x01\x02"); /* TEXT, even from a BLOB */
    EXPECT_REAL(F("round", R(3.5), R(1e20)), "4.0");        /* digits as a 32-bit int: -1 -> 0 */
    EXPECT_TEXT(F("replace", T("aaa"), T("a"), T("bb")), "bbbbbb");
    EXPECT_TEXT(F("replace", T("abc"), T(""), T("x")), "abc");
    EXPECT_TEXT(F("replace", T("hello world"), T("o"), T("0")), "hell0 w0rld");
    EXPECT_TEXT(F("replace", T("a%"), T(""), NUL), "a%");
    EXPECT_INT(F("replace", I(0), T(""), NUL), "0");
    EXPECT_NULL(F("replace", T("a%"), T("a"), NUL));
    EXPECT_TEXT(F("substr", T("0"), I(INT64_MAX), I(1)), "0"); /* 32-bit wrap, as SQLite */
    EXPECT_TEXT(F("substr", T("abc"), I(4294967297LL), I(1)), "a");
    EXPECT_TEXT(F("substr", T("abc"), I(2147483648LL), I(1)), "");
    EXPECT_INT(F("min", R(1.0), I(1)), "1");
    EXPECT_REAL(F("max", R(1.0), I(1)), "1.0");
    EXPECT_NULL(F("nullif", I(1), R(1.0)));
    EXPECT_INT(F("nullif", I(1), I(2)), "1");
    EXPECT_NULL(F("coalesce", NUL, NUL));
    EXPECT_INT(F("coalesce", NUL, I(2), I(3)), "2");
    EXPECT_TEXT(F("ifnull", NUL, T("x")), "x");
    EXPECT_INT(F("ifnull", I(1), T("x")), "1");
    EXPECT_TEXT(F("iif", I(1), T("a"), T("b")), "a");
    EXPECT_TEXT(F("iif", NUL, T("a"), T("b")), "b");
    /* lazily evaluated: the failing argument is never reached */
    EXPECT_INT(F("coalesce", I(0), F("abs", I(INT64_MIN))), "0");
    EXPECT_INT(F("ifnull", I(0), F("abs", I(INT64_MIN))), "0");
    EXPECT_TEXT(F("iif", I(0), F("abs", I(INT64_MIN)), T("b")), "b");
    EXPECT_ERR(F("coalesce", NUL, F("abs", I(INT64_MIN))), "22003", "integer overflow");
    EXPECT_INT(F("sign", R(-3.5)), "-1");
    EXPECT_NULL(F("sign", T("x")));
    EXPECT_INT(F("sign", T("7")), "1");
    EXPECT_INT(F("sign", I(0)), "0");
    EXPECT_INT(F("min", I(1), T("a"), R(2.0)), "1");
    EXPECT_TEXT(F("max", I(1), T("a"), R(2.0)), "a");
    EXPECT_REAL(F("min", I(3), R(2.5)), "2.5");
    EXPECT_TEXT(F("max", T("abc"), T("abd")), "abd");
    EXPECT_TEXT(F("printf", T("%d|%5.2f|%s|%%|%x"), I(42), R(3.14159), T("hi"), I(255)), "42| 3.14|hi|%|ff");
    EXPECT_TEXT(F("printf", T("%d"), T("12abc")), "12");
    EXPECT_TEXT(F("printf", T("%s"), R(1.5)), "1.5");
    EXPECT_TEXT(F("printf", T("%5s|%-5s|"), T("ab"), T("cd")), "   ab|cd   |");
    EXPECT_TEXT(F("format", T("%03d"), I(7)), "007");
    EXPECT_TEXT(F("printf", T("%s and %s"), T("a")), "a and ");
    EXPECT_NULL(F("printf", T("")));
    EXPECT_TEXT(F("printf", T("%s"), T("")), "");
    EXPECT_TEXT(F("printf", T("ab%bc"), I(1)), "ab"); /* an unknown conversion ends the output */
    EXPECT_NULL(F("printf", T("%b%"), I(1)));
    EXPECT_TEXT(F("printf", T("x%")), "x%");
    EXPECT_TEXT(F("printf", T("%q|%Q|%Q"), T("it's"), T("a'b"), NUL), "it''s|'a''b'|NULL");
    EXPECT_TEXT(F("printf", T("%,d|%i|%u"), I(-1234567), I(-5), I(-5)), "-1,234,567|-5|18446744073709551611");
    EXPECT_TEXT(F("printf", T("%e|%g|%.3s|%-8.3f|%+d|%05.1f|%x|%o|%c"), R(12345.678), R(0.0001), T("abcdef"),
                  R(3.14159), I(5), R(-2.5), I(-1), I(8), T("xyz")),
                "1.234568e+04|0.0001|abc|3.142   |+5|-02.5|ffffffffffffffff|10|x");
    EXPECT_FALSE(F("json_valid", NUL)); /* SQLite 3.40 */
    EXPECT_ERR(F("printf", T("%99999d"), I(1)), "22023", "width");
    EXPECT_TEXT(F("upper", T("a\xc3\xa9")), "A\xc3\xa9");
    EXPECT_TEXT(F("lower", T("AB\xc3\x89")), "ab\xc3\x89");
    EXPECT_TEXT(F("upper", I(12)), "12");
    EXPECT_TEXT(F("typeof", I(1)), "integer");
    EXPECT_TEXT(F("typeof", R(1.5)), "real");
    EXPECT_TEXT(F("typeof", T("a")), "text");
    EXPECT_TEXT(F("typeof", BL("", 0)), "blob");
    EXPECT_TEXT(F("typeof", DIV(I(1), I(0))), "null");
    EXPECT_TEXT(F("typeof", ADD(I(INT64_MAX), I(1))), "real");
    EXPECT_TEXT(F("typeof", ADD(T("5"), I(0))), "integer");
    EXPECT_TEXT(F("typeof", BO(0)), "boolean");
    EXPECT_TEXT(F("typeof", J("{}")), "json");
    EXPECT_TEXT(F("typeof", s_lit(drift_val_ts(0))), "timestamp");
    EXPECT_TEXT(F("quote", NUL), "NULL");
    EXPECT_TEXT(F("quote", T("a'b")), "'a''b'");
    EXPECT_TEXT(F("quote", R(1.5)), "1.5");
    EXPECT_TEXT(F("quote", BL("\x01\xab", 2)), "X'01AB'");
    EXPECT_TEXT(F("quote", I(7)), "7");
    EXPECT_INT(F("unicode", T("\xc3\xa9")), "233");
    EXPECT_NULL(F("unicode", T("")));
    EXPECT_TEXT(F("char", I(72), I(105), I(233)), "Hi\xc3\xa9");
    EXPECT_TEXT(F("concat", T("a"), NUL, I(1)), "a1");
    EXPECT_TEXT(F("concat_ws", T("-"), T("a"), NUL, T("b")), "a-b");
    EXPECT(F("json", T(" { \"a\" : 1 } ")), DRIFT_VAL_JSON, "{\"a\":1}");
    EXPECT_ERR(F("json", T("{")), "22P02", "JSON");
    EXPECT_TRUE(F("json_valid", T("{}")));
    EXPECT_FALSE(F("json_valid", T("{")));
    EXPECT_INT(F("json_array_length", T("[1,2]")), "2");
    EXPECT_INT(F("json_array_length", T("{}")), "0");
    EXPECT_INT(F("json_array_length", T("{\"a\":[1]}"), T("$.a")), "1");
    EXPECT_NULL(F("json_array_length", T("{\"a\":[1]}"), T("$.b")));
    s_env.now_ns = 1764111677123456789LL;
    EXPECT(F0("now"), DRIFT_VAL_TIMESTAMP, "2025-11-25T23:01:17.123456789Z");
    EXPECT(F0("current_timestamp"), DRIFT_VAL_TIMESTAMP, "2025-11-25T23:01:17.123456789Z");
    /* unknown functions and wrong argument counts, with the position of the call */
    s_env.sql = "SELECT 1, nosuch(1)";
    s_env.sql_len = strlen(s_env.sql);
    drift_node_t *bad = F("nosuch", I(1));
    bad->pos = 10;
    EXPECT_ERR(bad, "42883", "function nosuch(1 args) does not exist");
    assert_int_equal(s_err.position, 11);
    EXPECT_ERR(F("abs", I(1), I(2)), "42883", "function abs(2 args) does not exist");
    EXPECT_ERR(F("coalesce", I(1)), "42883", "coalesce(1 args)");
    assert_true(drift_func_exists("substr", 3));
    assert_false(drift_func_exists("substr", 4));
    assert_false(drift_func_exists("sum", 1)); /* an aggregate, not a scalar function */
    assert_true(drift_func_exists("max", 2));
    assert_false(drift_func_exists("max", 1));
}

static void test_json(void **state)
{
    (void)state;
    const char *doc = "{\"a\":{\"b\":[1,2,{\"c\":\"x\"}]},\"n\":null,\"f\":1.5,\"t\":true,\"s\":\"q\\\"\"}";
    EXPECT_TEXT(F("json_extract", T(doc), T("$.a.b[2].c")), "x");
    EXPECT_NULL(F("json_extract", T(doc), T("$.zz")));
    EXPECT(F("json_extract", T(doc), T("$.a.b")), DRIFT_VAL_JSON, "[1,2,{\"c\":\"x\"}]");
    EXPECT_REAL(F("json_extract", T(doc), T("$.f")), "1.5");
    EXPECT_INT(F("json_extract", T("[1,2,3]"), T("$[#-1]")), "3");
    EXPECT(F("json_extract", T(doc), T("$.f"), T("$.t"), T("$.none")), DRIFT_VAL_JSON, "[1.5,true,null]");
    EXPECT(F("json_extract", T(doc), T("$.t")), DRIFT_VAL_BOOL, "1");
    EXPECT_TEXT(F("json_extract", T(doc), T("$.s")), "q\"");
    EXPECT_ERR(F("json_extract", T(doc), T("a.b")), "22P02", "bad JSON path");
    EXPECT_ERR(F("json_extract", T("{nope"), T("$")), "22P02", "malformed JSON");
    EXPECT_TEXT(F("json_type", T(doc)), "object");
    EXPECT_TEXT(F("json_type", T(doc), T("$.a.b")), "array");
    EXPECT_TEXT(F("json_type", T(doc), T("$.f")), "real");
    EXPECT_TEXT(F("json_type", T(doc), T("$.a.b[0]")), "integer");
    EXPECT_TEXT(F("json_type", T(doc), T("$.s")), "text");
    EXPECT_TEXT(F("json_type", T(doc), T("$.n")), "null");
    EXPECT_TEXT(F("json_type", T(doc), T("$.t")), "true");
    EXPECT_NULL(F("json_type", T(doc), T("$.missing")));
    /* -> gives JSON, ->> gives SQL values; both take TEXT or JSON on the left */
    EXPECT(JGET(J(doc), T("a")), DRIFT_VAL_JSON, "{\"b\":[1,2,{\"c\":\"x\"}]}");
    EXPECT(JGET(T(doc), T("$.a.b[1]")), DRIFT_VAL_JSON, "2");
    EXPECT_INT(JTXT(J(doc), T("$.a.b[1]")), "2");
    EXPECT(JGET(J(doc), T("s")), DRIFT_VAL_JSON, "\"q\\\"\"");
    EXPECT_TEXT(JTXT(J(doc), T("s")), "q\"");
    EXPECT_REAL(JTXT(J(doc), T("f")), "1.5");
    EXPECT(JTXT(J(doc), T("t")), DRIFT_VAL_BOOL, "1");
    EXPECT_NULL(JTXT(J(doc), T("n")));
    EXPECT(JGET(J(doc), T("n")), DRIFT_VAL_JSON, "null");
    EXPECT_NULL(JGET(J(doc), T("missing")));
    EXPECT_NULL(JTXT(J(doc), T("missing")));
    EXPECT(JTXT(J(doc), T("a")), DRIFT_VAL_JSON, "{\"b\":[1,2,{\"c\":\"x\"}]}");
    EXPECT(JGET(J("[1,2,3]"), I(1)), DRIFT_VAL_JSON, "2");
    EXPECT_NULL(JTXT(J("[1,2,3]"), I(-1)));
    EXPECT_NULL(JTXT(J("[1,2,3]"), I(3)));
    EXPECT_NULL(JTXT(J("[1,2,3]"), T("a")));
    EXPECT_INT(JTXT(JGET(J(doc), T("a")), T("$.b[0]")), "1");
    EXPECT_ERR(JGET(T("not json"), T("a")), "22P02", "malformed JSON");
    EXPECT_ERR(JGET(BL("x", 1), T("a")), "22P02", "needs JSON");
    EXPECT_ERR(JGET(J(doc), R(1.5)), "22P02", "right side");
    /* the JSON literal node evaluates to its text */
    drift_node_t *jl = s_node(DRIFT_AST_JSON);
    jl->value = drift_val_json("{\"k\":1}", 7);
    EXPECT(jl, DRIFT_VAL_JSON, "{\"k\":1}");
}

static void test_params(void **state)
{
    (void)state;
    /* [nil, true, 5, -7, 2.5, "s", bin "b", {"k":[1]}, u64 max, ext] */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 10);
    msgpack_pack_nil(&pk);
    msgpack_pack_true(&pk);
    msgpack_pack_int(&pk, 5);
    msgpack_pack_int(&pk, -7);
    msgpack_pack_double(&pk, 2.5);
    msgpack_pack_str_with_body(&pk, "s", 1);
    msgpack_pack_bin_with_body(&pk, "b", 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "k", 1);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_ext_with_body(&pk, "x", 1, 1);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    s_env.params = &u.data;
    s_env.sql = "SELECT $1";
    s_env.sql_len = 9;
    drift_node_t *p[12];
    for (uint32_t i = 0; i < 12; i++) {
        p[i] = s_node(DRIFT_AST_PARAM);
        p[i]->param = i + 1;
        p[i]->pos = 7;
    }
    EXPECT_NULL(p[0]);
    EXPECT(p[1], DRIFT_VAL_BOOL, "1");
    EXPECT_INT(p[2], "5");
    EXPECT_INT(p[3], "-7");
    EXPECT_REAL(p[4], "2.5");
    EXPECT_TEXT(p[5], "s");
    EXPECT(p[6], DRIFT_VAL_BLOB, "b");
    EXPECT(p[7], DRIFT_VAL_JSON, "{\"k\":[1]}");
    EXPECT_ERR(p[8], "22003", "$9");
    EXPECT_ERR(p[9], "22P02", "$10");
    EXPECT_ERR(p[10], "07001", "there is no parameter $11 (10 given)");
    assert_int_equal(s_err.position, 8);
    EXPECT_INT(ADD(p[2], p[3]), "-2");
    EXPECT_INT(JTXT(p[7], T("$.k[0]")), "1");
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    s_env.params = NULL;
    EXPECT_ERR(p[0], "07001", "no parameter $1 (0 given)");
}

static void test_columns_affinity(void **state)
{
    (void)state;
    /* relation 0: (id INTEGER, name TEXT, ok BOOLEAN, score REAL); outer relation 0: (x INTEGER) */
    drift_value_t row[] = {drift_val_int(5), drift_val_text("5", 1), drift_val_bool(1), drift_val_real(2.5)};
    drift_value_t orow[] = {drift_val_int(42)};
    const drift_value_t *rels[] = {row}, *orels[] = {orow};
    drift_rowctx_t outer = {.rels = orels, .nrels = 1};
    drift_rowctx_t ctx = {.rels = rels, .nrels = 1, .outer = &outer};
    s_ctx = &ctx;
    drift_node_t *id = s_col("id", 0, 0, 0), *name = s_col("name", 0, 1, 0), *ok = s_col("ok", 0, 2, 0);
    drift_node_t *score = s_col("score", 0, 3, 0);
    EXPECT_INT(id, "5");
    EXPECT_INT(s_col("x", 0, 0, 1), "42");
    EXPECT_TRUE(EQ(id, T("5"))); /* numeric column vs numeric text: compared as numbers */
    EXPECT_TRUE(EQ(T("5.0"), id));
    EXPECT_FALSE(EQ(id, T("5x")));
    EXPECT_TRUE(LT(score, T("10"))); /* 2.5 < 10, not '2.5' < '10' */
    EXPECT_TRUE(EQ(name, I(5)));     /* text column vs a number: compared as text */
    EXPECT_TRUE(EQ(name, id));       /* text column vs numeric column: numeric */
    EXPECT_FALSE(EQ(I(5), T("5")));  /* no column: no affinity */
    EXPECT_TRUE(EQ(ok, T("true")));
    EXPECT_TRUE(IN(id, T("4"), T("5")));
    EXPECT_FALSE(IN(T(" 7 "), s_cast(T("7"), DRIFT_COL_REAL))); /* list values have no affinity */
    EXPECT_TRUE(IN(s_cast(T(" 7 "), DRIFT_COL_TEXT), I(7), T(" 7 ")));
    EXPECT_TRUE(IN(name, I(5)));
    EXPECT_TRUE(s_between(id, T("1"), T("9"), 0));
    EXPECT_TRUE(EQ(s_cast(T("7"), DRIFT_COL_INTEGER), T("7")));
    EXPECT_FALSE(LT(LT(I(1), I(0)), s_cast(I(0), DRIFT_COL_TEXT))); /* '0' < '0' under TEXT affinity */
    EXPECT_TEXT(s_case(id, NULL, ARGS(T("5"), T("five"))), "five");
    /* the same rule for values compared outside the evaluator (IN (SELECT ...), joins) */
    drift_value_t pa = drift_val_int(7), pb = drift_val_text(" 7", 2);
    assert_int_equal(drift_expr_affine(&s_env, id, &pa, name, &pb), 0);
    assert_int_equal(pb.type, DRIFT_VAL_INT);
    assert_int_equal(drift_val_compare_op(DRIFT_BOP_EQ, &pa, &pb), 1);
    pa = drift_val_int(7);
    pb = drift_val_text(" 7", 2);
    assert_int_equal(drift_expr_affine(&s_env, NULL, &pa, NULL, &pb), 0);
    assert_int_equal(drift_val_compare_op(DRIFT_BOP_EQ, &pa, &pb), 0);
    drift_node_t *unbound = s_node(DRIFT_AST_COLUMN);
    unbound->name = "nope";
    s_env.sql = "SELECT nope";
    s_env.sql_len = 11;
    unbound->pos = 7;
    EXPECT_ERR(unbound, "42703", "column \"nope\" does not exist");
    assert_int_equal(s_err.position, 8);
    unbound->qualifier = "t";
    EXPECT_ERR(unbound, "42703", "column \"t.nope\" does not exist");
    EXPECT_ERR(s_col("y", 0, 0, 2), "XX000", "not available");
    EXPECT_ERR(s_node(DRIFT_AST_STAR), "42601", NULL);
}

static void test_aggregate_nodes_and_subqueries(void **state)
{
    (void)state;
    drift_node_t *sum = F("sum", I(1));
    EXPECT_ERR(sum, "42803", "aggregate functions are not allowed here");
    drift_value_t aggs[] = {drift_val_int(10), drift_val_real(2.5)};
    drift_rowctx_t ctx = {.aggs = aggs, .naggs = 2};
    s_ctx = &ctx;
    sum->agg = 1;
    EXPECT_REAL(sum, "2.5");
    drift_node_t *cnt = F0("count");
    cnt->star = 1;
    cnt->agg = 0;
    EXPECT_INT(ADD(cnt, I(1)), "11");
    drift_node_t *bad = F("abs", I(1));
    bad->distinct = 1;
    EXPECT_ERR(bad, "42883", "DISTINCT");
    s_ctx = NULL;
    /* subqueries go through the callback; NOT is applied by the evaluator */
    drift_node_t *ex = s_lr(DRIFT_AST_EXISTS, NULL, NULL, 0);
    EXPECT_ERR(ex, "0A000", "subqueries");
    s_env.subquery = NULL;
}

static int s_fake_sub(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx,
                      const drift_value_t *probe, drift_value_t *out)
{
    (void)env;
    (void)ctx;
    switch (n->kind) {
    case DRIFT_AST_EXISTS: *out = drift_val_bool(1); return 0;
    case DRIFT_AST_SUBQUERY: *out = drift_val_int(99); return 0;
    case DRIFT_AST_IN_SELECT: /* the set {1, NULL} */
        if (probe->type == DRIFT_VAL_NULL)
            *out = drift_val_null();
        else if (probe->type == DRIFT_VAL_INT && probe->u.i == 1)
            *out = drift_val_bool(1);
        else
            *out = drift_val_null();
        return 0;
    default: return drift_sqlerr_set(env->err, "XX000", 0, "unexpected");
    }
}

static void test_subquery_callback(void **state)
{
    (void)state;
    s_env.subquery = s_fake_sub;
    EXPECT_TRUE(s_lr(DRIFT_AST_EXISTS, NULL, NULL, 0));
    EXPECT_FALSE(s_lr(DRIFT_AST_EXISTS, NULL, NULL, 1));
    EXPECT_INT(ADD(s_node(DRIFT_AST_SUBQUERY), I(1)), "100");
    EXPECT_TRUE(s_lr(DRIFT_AST_IN_SELECT, I(1), NULL, 0));
    EXPECT_FALSE(s_lr(DRIFT_AST_IN_SELECT, I(1), NULL, 1));
    EXPECT_NULL(s_lr(DRIFT_AST_IN_SELECT, I(2), NULL, 1));
}

/* Runs an aggregate over vals and returns the text of its result (type in *ret_t). */
static const char *s_agg(drift_agg_kind_t k, int distinct, const drift_value_t *vals, size_t n,
                         const drift_value_t *sep, drift_val_type_t *ret_t)
{
    drift_agg_t *g = drift_agg_new(&s_ar, k, distinct);
    assert_non_null(g);
    drift_sqlerr_t err = {0};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(drift_agg_step(g, &vals[i], sep, &err), 0);
    drift_value_t out;
    assert_int_equal(drift_agg_final(g, &out, &err), 0);
    *ret_t = out.type;
    return drift_val_to_text(&s_ar, &out, NULL);
}

#define AGG(k, d, arr, n, sep, t, text)                                                                                \
    do {                                                                                                               \
        drift_val_type_t _t;                                                                                           \
        const char *_s = s_agg((k), (d), (arr), (n), (sep), &_t);                                                      \
        if (_t != (t) || strcmp(_s, (text)) != 0)                                                                      \
            fail_msg("line %d: expected %s '%s', got %s '%s'", __LINE__, s_tname(t), (text), s_tname(_t), _s);         \
    } while (0)

static void test_aggregates(void **state)
{
    (void)state;
    drift_value_t v[] = {drift_val_int(3),    drift_val_null(), drift_val_int(1),
                         drift_val_real(1.0), drift_val_int(3), drift_val_text("2", 1)};
    size_t n = sizeof v / sizeof v[0];
    AGG(DRIFT_AGG_COUNT_STAR, 0, v, n, NULL, DRIFT_VAL_INT, "6");
    AGG(DRIFT_AGG_COUNT, 0, v, n, NULL, DRIFT_VAL_INT, "5");
    AGG(DRIFT_AGG_COUNT, 1, v, n, NULL, DRIFT_VAL_INT, "3"); /* 3, 1 (= 1.0), '2' */
    AGG(DRIFT_AGG_SUM, 0, v, n, NULL, DRIFT_VAL_REAL, "10.0");
    AGG(DRIFT_AGG_SUM, 0, v, 3, NULL, DRIFT_VAL_INT, "4");
    AGG(DRIFT_AGG_SUM, 1, v, 5, NULL, DRIFT_VAL_INT, "4");
    AGG(DRIFT_AGG_TOTAL, 0, v, 3, NULL, DRIFT_VAL_REAL, "4.0");
    AGG(DRIFT_AGG_AVG, 0, v, n, NULL, DRIFT_VAL_REAL, "2.0");
    AGG(DRIFT_AGG_AVG, 1, v, n, NULL, DRIFT_VAL_REAL, "2.0");
    AGG(DRIFT_AGG_MIN, 0, v, n, NULL, DRIFT_VAL_INT, "1");
    AGG(DRIFT_AGG_MAX, 0, v, n, NULL, DRIFT_VAL_TEXT, "2"); /* text sorts after numbers */
    AGG(DRIFT_AGG_GROUP_CONCAT, 0, v, n, NULL, DRIFT_VAL_TEXT, "3,1,1.0,3,2");
    AGG(DRIFT_AGG_GROUP_CONCAT, 1, v, n, NULL, DRIFT_VAL_TEXT, "3,1,2");
    drift_value_t sep = drift_val_text("; ", 2), nsep = drift_val_null();
    AGG(DRIFT_AGG_GROUP_CONCAT, 0, v, 3, &sep, DRIFT_VAL_TEXT, "3; 1");
    AGG(DRIFT_AGG_GROUP_CONCAT, 0, v, 3, &nsep, DRIFT_VAL_TEXT, "31");
    /* text adds as an integer only when it is wholly one (SQLite): else the sum is REAL */
    drift_value_t tx[] = {drift_val_text(" 7", 2), drift_val_text("abc", 3), drift_val_text("5x", 2)};
    AGG(DRIFT_AGG_SUM, 0, tx, 1, NULL, DRIFT_VAL_INT, "7");
    AGG(DRIFT_AGG_SUM, 0, tx, 2, NULL, DRIFT_VAL_REAL, "7.0");
    AGG(DRIFT_AGG_SUM, 0, tx + 2, 1, NULL, DRIFT_VAL_REAL, "5.0");
    /* empty input */
    AGG(DRIFT_AGG_COUNT_STAR, 0, v, 0, NULL, DRIFT_VAL_INT, "0");
    AGG(DRIFT_AGG_COUNT, 0, v, 0, NULL, DRIFT_VAL_INT, "0");
    AGG(DRIFT_AGG_SUM, 0, v, 0, NULL, DRIFT_VAL_NULL, "");
    AGG(DRIFT_AGG_SUM, 0, v + 1, 1, NULL, DRIFT_VAL_NULL, ""); /* only NULLs */
    AGG(DRIFT_AGG_TOTAL, 0, v, 0, NULL, DRIFT_VAL_REAL, "0.0");
    AGG(DRIFT_AGG_AVG, 0, v, 0, NULL, DRIFT_VAL_NULL, "");
    AGG(DRIFT_AGG_MIN, 0, v, 0, NULL, DRIFT_VAL_NULL, "");
    AGG(DRIFT_AGG_MAX, 1, v, 0, NULL, DRIFT_VAL_NULL, "");
    AGG(DRIFT_AGG_GROUP_CONCAT, 0, v + 1, 1, NULL, DRIFT_VAL_NULL, "");
    /* many distinct values (the set grows) */
    drift_value_t many[600];
    for (int i = 0; i < 600; i++)
        many[i] = i % 2 ? drift_val_int(i / 2) : drift_val_real((double)(i / 2));
    AGG(DRIFT_AGG_COUNT, 1, many, 600, NULL, DRIFT_VAL_INT, "300");
    AGG(DRIFT_AGG_SUM, 1, many, 600, NULL, DRIFT_VAL_REAL, "44850.0");
    /* integer overflow of sum is an error (SQLite); total does not overflow */
    drift_value_t big[] = {drift_val_int(INT64_MAX), drift_val_int(1)};
    drift_agg_t *g = drift_agg_new(&s_ar, DRIFT_AGG_SUM, 0);
    drift_sqlerr_t err = {0};
    drift_value_t out;
    assert_int_equal(drift_agg_step(g, &big[0], NULL, &err), 0);
    assert_int_equal(drift_agg_step(g, &big[1], NULL, &err), -1);
    assert_string_equal(err.code, "22003");
    assert_string_equal(err.message, "integer overflow");
    assert_int_equal(drift_agg_final(g, &out, &err), -1);
    AGG(DRIFT_AGG_TOTAL, 0, big, 2, NULL, DRIFT_VAL_REAL, "9.22337203685478e+18");
    /* lookup */
    assert_int_equal(drift_agg_lookup("count", 0, 1), DRIFT_AGG_COUNT_STAR);
    assert_int_equal(drift_agg_lookup("count", 1, 0), DRIFT_AGG_COUNT);
    assert_int_equal(drift_agg_lookup("max", 1, 0), DRIFT_AGG_MAX);
    assert_int_equal(drift_agg_lookup("max", 2, 0), DRIFT_AGG_NONE);
    assert_int_equal(drift_agg_lookup("group_concat", 2, 0), DRIFT_AGG_GROUP_CONCAT);
    assert_int_equal(drift_agg_lookup("abs", 1, 0), DRIFT_AGG_NONE);
    assert_int_equal(drift_agg_lookup("sum", 1, 1), DRIFT_AGG_NONE);
}

static void test_timestamps(void **state)
{
    (void)state;
    struct {
        const char *in;
        const char *out;
    } ok[] = {
        {"2026-11-25T23:01:17.123456789Z", "2026-11-25T23:01:17.123456789Z"},
        {"2026-11-25T23:01:17Z", "2026-11-25T23:01:17Z"},
        {"2026-11-25t23:01:17.5z", "2026-11-25T23:01:17.5Z"},
        {"2026-11-25T23:01:17.120+02:00", "2026-11-25T21:01:17.12Z"},
        {"2026-11-25T01:00:00-05:30", "2026-11-25T06:30:00Z"},
        {"2026-11-25T01:00:00+0100", "2026-11-25T00:00:00Z"},
        {"2026-11-25 23:01:17", "2026-11-25T23:01:17Z"},
        {"2026-11-25 23:01:17.000001", "2026-11-25T23:01:17.000001Z"},
        {"2026-11-25", "2026-11-25T00:00:00Z"},
        {"2024-02-29T12:00:00Z", "2024-02-29T12:00:00Z"},
        {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
        {"1969-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.999999999Z"},
        {"1900-03-01T00:00:00Z", "1900-03-01T00:00:00Z"},
        {"2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775807Z"},
        {"2000-01-01T00:00+00:00", "2000-01-01T00:00:00Z"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ns;
        char buf[64];
        if (drift_ts_parse(ok[i].in, strlen(ok[i].in), &ns) != 0)
            fail_msg("%s: not parsed", ok[i].in);
        drift_ts_format(ns, buf, sizeof buf);
        if (strcmp(buf, ok[i].out) != 0)
            fail_msg("%s: expected %s, got %s", ok[i].in, ok[i].out, buf);
        int64_t again;
        assert_int_equal(drift_ts_parse(buf, strlen(buf), &again), 0);
        assert_true(again == ns);
    }
    int64_t ns;
    assert_int_equal(drift_ts_parse("1970-01-01T00:00:01.5Z", 22, &ns), 0);
    assert_true(ns == 1500000000LL);
    const char *bad[] = {"",
                         "2026",
                         "2026-13-01",
                         "2026-02-30",
                         "2023-02-29",
                         "2026-11-25T24:00:00Z",
                         "2026-11-25T23:60:00Z",
                         "2026-11-25T23:01:17.Z",
                         "2026-11-25T23:01:17.1234567890Z",
                         "2026-11-25T23:01:17+25:00",
                         "2026-11-25T23:01:17Zjunk",
                         "2026-11-25X23:01:17",
                         "26-11-25",
                         "2026-11-25T23",
                         "3000-01-01T00:00:00Z",
                         "1600-01-01T00:00:00Z",
                         "yesterday"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (drift_ts_parse(bad[i], strlen(bad[i]), &ns) == 0)
            fail_msg("'%s' parsed", bad[i]);
    char small[8];
    assert_int_equal(drift_ts_format(0, small, sizeof small), 7);
    assert_string_equal(small, "1970-01");
}

static void test_coerce(void **state)
{
    (void)state;
    drift_sqlerr_t err;
    drift_value_t out;
    struct {
        drift_coltype_t t;
        drift_value_t in;
        drift_val_type_t want_t;
        const char *want;
    } ok[] = {
        {DRIFT_COL_INTEGER, drift_val_real(3.0), DRIFT_VAL_INT, "3"},
        {DRIFT_COL_INTEGER, drift_val_text(" 42 ", 4), DRIFT_VAL_INT, "42"},
        {DRIFT_COL_INTEGER, drift_val_text("1e2", 3), DRIFT_VAL_INT, "100"},
        {DRIFT_COL_INTEGER, drift_val_bool(1), DRIFT_VAL_INT, "1"},
        {DRIFT_COL_INTEGER, drift_val_json("7", 1), DRIFT_VAL_INT, "7"},
        {DRIFT_COL_REAL, drift_val_int(2), DRIFT_VAL_REAL, "2.0"},
        {DRIFT_COL_REAL, drift_val_text("2.5", 3), DRIFT_VAL_REAL, "2.5"},
        {DRIFT_COL_TEXT, drift_val_int(2), DRIFT_VAL_TEXT, "2"},
        {DRIFT_COL_TEXT, drift_val_real(0.5), DRIFT_VAL_TEXT, "0.5"},
        {DRIFT_COL_TEXT, drift_val_json("\"hi\"", 4), DRIFT_VAL_TEXT, "hi"},
        {DRIFT_COL_BOOLEAN, drift_val_int(0), DRIFT_VAL_BOOL, "0"},
        {DRIFT_COL_BOOLEAN, drift_val_text("TRUE", 4), DRIFT_VAL_BOOL, "1"},
        {DRIFT_COL_BOOLEAN, drift_val_text("f", 1), DRIFT_VAL_BOOL, "0"},
        {DRIFT_COL_BLOB, drift_val_text("ab", 2), DRIFT_VAL_BLOB, "ab"},
        {DRIFT_COL_TIMESTAMP, drift_val_text("2026-01-01T00:00:00+01:00", 25), DRIFT_VAL_TIMESTAMP,
         "2025-12-31T23:00:00Z"},
        {DRIFT_COL_TIMESTAMP, drift_val_int(5), DRIFT_VAL_TIMESTAMP, "1970-01-01T00:00:00.000000005Z"},
        {DRIFT_COL_JSON, drift_val_text("[1, {\"a\" : null}]", 17), DRIFT_VAL_JSON, "[1,{\"a\":null}]"},
        {DRIFT_COL_JSON, drift_val_text("\"s\"", 3), DRIFT_VAL_JSON, "\"s\""},
        {DRIFT_COL_JSON, drift_val_real(1.5), DRIFT_VAL_JSON, "1.5"},
        {DRIFT_COL_JSON, drift_val_bool(0), DRIFT_VAL_JSON, "false"},
        {DRIFT_COL_JSON, drift_val_ts(0), DRIFT_VAL_JSON, "\"1970-01-01T00:00:00Z\""},
        {DRIFT_COL_INTEGER, drift_val_null(), DRIFT_VAL_NULL, ""},
        {DRIFT_COL_JSON, drift_val_null(), DRIFT_VAL_NULL, ""},
        {DRIFT_COL_INTEGER, drift_val_json("null", 4), DRIFT_VAL_NULL, ""},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        memset(&err, 0, sizeof err);
        if (drift_val_coerce(&s_ar, ok[i].t, &ok[i].in, &out, "c", &err) != 0)
            fail_msg("case %zu: %s %s", i, err.code, err.message);
        const char *t = drift_val_to_text(&s_ar, &out, NULL);
        if (out.type != ok[i].want_t || strcmp(t, ok[i].want) != 0)
            fail_msg("case %zu: expected %s %s, got %s %s", i, s_tname(ok[i].want_t), ok[i].want, s_tname(out.type), t);
    }
    struct {
        drift_coltype_t t;
        drift_value_t in;
        const char *code, *msg;
    } bad[] = {
        {DRIFT_COL_INTEGER, drift_val_real(1.5), "22P02",
         "invalid value for column \"qty\" of type INTEGER: 1.5: not an integer"},
        {DRIFT_COL_INTEGER, drift_val_real(1e30), "22003",
         "invalid value for column \"qty\" of type INTEGER: 1.0e+30: out of the 64-bit integer range"},
        {DRIFT_COL_INTEGER, drift_val_text("12abc", 5), "22P02",
         "invalid value for column \"qty\" of type INTEGER: \"12abc\": not a number"},
        {DRIFT_COL_INTEGER, drift_val_blob("x", 1), "22P02", "a BLOB of 1 bytes"},
        {DRIFT_COL_REAL, drift_val_text("abc", 3), "22P02", "of type REAL: \"abc\": not a number"},
        {DRIFT_COL_BOOLEAN, drift_val_int(2), "22P02", "of type BOOLEAN: 2: expected 0 or 1"},
        {DRIFT_COL_BOOLEAN, drift_val_text("maybe", 5), "22P02", "expected true or false"},
        {DRIFT_COL_TIMESTAMP, drift_val_text("2026-02-30", 10), "22007",
         "invalid value for column \"qty\" of type TIMESTAMP: \"2026-02-30\": expected an RFC 3339 timestamp"},
        {DRIFT_COL_TIMESTAMP, drift_val_real(1.5), "22P02", "of type TIMESTAMP"},
        {DRIFT_COL_JSON, drift_val_text("{\"a\":}", 6), "22P02",
         "invalid value for column \"qty\" of type JSON: \"{\"a\":}\""},
        {DRIFT_COL_JSON, drift_val_blob("x", 1), "22P02", "of type JSON"},
        {DRIFT_COL_TEXT, drift_val_blob("x", 1), "22P02", "of type TEXT"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        if (drift_val_coerce(&s_ar, bad[i].t, &bad[i].in, &out, "qty", &err) != -1)
            fail_msg("bad case %zu accepted", i);
        if (strcmp(err.code, bad[i].code) != 0 || !strstr(err.message, bad[i].msg))
            fail_msg("bad case %zu: expected %s '%s', got %s '%s'", i, bad[i].code, bad[i].msg, err.code, err.message);
    }
}

static void test_pack_keyenc(void **state)
{
    (void)state;
    struct {
        drift_coltype_t t;
        drift_value_t v;
    } c[] = {
        {DRIFT_COL_INTEGER, drift_val_int(-5)},      {DRIFT_COL_REAL, drift_val_real(2.5)},
        {DRIFT_COL_TEXT, drift_val_text("h\0i", 3)}, {DRIFT_COL_BLOB, drift_val_blob("\x00\x01", 2)},
        {DRIFT_COL_BOOLEAN, drift_val_bool(1)},      {DRIFT_COL_TIMESTAMP, drift_val_ts(-1)},
        {DRIFT_COL_JSON, drift_val_json("[1]", 3)},  {DRIFT_COL_TEXT, drift_val_null()},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        drift_val_pack(&pk, &c[i].v);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
        drift_value_t back;
        assert_int_equal(drift_val_unpack(c[i].t, &u.data, &back), 0);
        assert_int_equal(back.type, c[i].v.type);
        assert_int_equal(drift_val_cmp(&back, &c[i].v), 0);
        /* the key encoding of the value equals keyenc's own encoding of the stored MessagePack */
        drift_keybuf_t k1 = {0}, k2 = {0};
        drift_val_keyenc(&k1, c[i].t, &c[i].v);
        assert_int_equal(drift_keyenc_msgpack(&k2, c[i].t, &u.data), 0);
        assert_int_equal(k1.len, k2.len);
        assert_memory_equal(k1.buf, k2.buf, k1.len);
        drift_keybuf_free(&k1);
        drift_keybuf_free(&k2);
        msgpack_unpacked_destroy(&u);
        msgpack_sbuffer_destroy(&sb);
    }
    /* a mismatched stored type is refused */
    msgpack_object o = {.type = MSGPACK_OBJECT_STR};
    o.via.str.ptr = "x";
    o.via.str.size = 1;
    drift_value_t v;
    assert_true(drift_val_unpack(DRIFT_COL_INTEGER, &o, &v) < 0);
    /* an integral REAL probing an INTEGER key encodes as the integer */
    drift_keybuf_t k1 = {0}, k2 = {0};
    drift_value_t r = drift_val_real(7.0), i7 = drift_val_int(7);
    drift_val_keyenc(&k1, DRIFT_COL_INTEGER, &r);
    drift_val_keyenc(&k2, DRIFT_COL_INTEGER, &i7);
    assert_int_equal(k1.len, k2.len);
    assert_memory_equal(k1.buf, k2.buf, k1.len);
    drift_keybuf_free(&k1);
    drift_keybuf_free(&k2);
}

static void test_type_hint(void **state)
{
    (void)state;
    assert_int_equal(drift_expr_type_hint(I(1)), DRIFT_VAL_INT);
    assert_int_equal(drift_expr_type_hint(ADD(I(1), R(2))), DRIFT_VAL_REAL);
    assert_int_equal(drift_expr_type_hint(ADD(I(1), I(2))), DRIFT_VAL_INT);
    assert_int_equal(drift_expr_type_hint(EQ(I(1), I(2))), DRIFT_VAL_BOOL);
    assert_int_equal(drift_expr_type_hint(CAT(I(1), I(2))), DRIFT_VAL_TEXT);
    assert_int_equal(drift_expr_type_hint(s_cast(I(1), DRIFT_COL_TIMESTAMP)), DRIFT_VAL_TIMESTAMP);
    assert_int_equal(drift_expr_type_hint(F("count", I(1))), DRIFT_VAL_INT);
    assert_int_equal(drift_expr_type_hint(F("avg", I(1))), DRIFT_VAL_REAL);
    assert_int_equal(drift_expr_type_hint(F("length", T("a"))), DRIFT_VAL_INT);
    assert_int_equal(drift_expr_type_hint(F("coalesce", NUL, T("a"))), DRIFT_VAL_TEXT);
    assert_int_equal(drift_expr_type_hint(s_col("c", 0, 0, 0)), DRIFT_VAL_NULL);
    assert_int_equal(drift_expr_type_hint(JGET(T("{}"), T("a"))), DRIFT_VAL_JSON);
    assert_int_equal(drift_expr_type_hint(s_case(NULL, T("x"), ARGS(I(1), T("y")))), DRIFT_VAL_TEXT);
    assert_int_equal(drift_expr_type_hint(s_case(NULL, I(1), ARGS(I(1), T("y")))), DRIFT_VAL_NULL);
}

/* ------------------------------------------------------------------ random trees (properties) */

static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

static uint32_t s_rand(uint32_t n)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t)(s_rng % n);
}

static drift_value_t s_rand_value(void)
{
    static const char *const texts[] = {"",
                                        "a",
                                        "abc",
                                        "12",
                                        " 7 ",
                                        "1.5e3x",
                                        "-",
                                        "\xc3\xa9",
                                        "%",
                                        "a_c",
                                        "2026-01-02T03:04:05Z",
                                        "true",
                                        "9223372036854775808",
                                        "[1,2]"};
    static const char *const jsons[] = {"1",          "2.5", "\"a\"", "null", "true", "[1,\"x\"]", "{\"a\":{\"b\":1}}",
                                        "\"\\u00e9\""};
    static const int64_t ints[] = {0, 1, -1, 2, 7, INT64_MAX, INT64_MIN, 1000000007};
    static const double reals[] = {0.0, -0.0, 0.5, 1.0, -2.5, 1e20, 1e308, -1e-300};
    switch (s_rand(8)) {
    case 0: return drift_val_null();
    case 1: return drift_val_int(ints[s_rand(8)]);
    case 2: return drift_val_real(reals[s_rand(8)]);
    case 3: {
        const char *t = texts[s_rand(sizeof texts / sizeof texts[0])];
        return drift_val_text(t, strlen(t));
    }
    case 4: return drift_val_bool((int)s_rand(2));
    case 5: return drift_val_blob("\x00\x01x", s_rand(4));
    case 6: {
        const char *j = jsons[s_rand(sizeof jsons / sizeof jsons[0])];
        return drift_val_json(j, strlen(j));
    }
    default: return drift_val_ts((int64_t)s_rand(1000000) * 1000000000 - 500000000000000);
    }
}

static drift_node_t *s_rand_tree(int depth)
{
    if (depth <= 0 || s_rand(4) == 0)
        return s_lit(s_rand_value());
    static const char *const fns[] = {"abs",     "round",        "length",    "substr", "upper",  "trim",
                                      "replace", "instr",        "coalesce",  "nullif", "typeof", "hex",
                                      "printf",  "json_extract", "json_type", "min",    "max",    "sign",
                                      "quote",   "concat",       "unicode",   "ifnull", "iif",    "json",
                                      "char",    "json_valid",   "ltrim",     "format"};
    switch (s_rand(12)) {
    case 0: return s_bin((drift_bop_t)(1 + s_rand(DRIFT_BOP_SHR)), s_rand_tree(depth - 1), s_rand_tree(depth - 1));
    case 1: return s_lr(s_rand(2) ? DRIFT_AST_AND : DRIFT_AST_OR, s_rand_tree(depth - 1), s_rand_tree(depth - 1), 0);
    case 2: return s_rand(2) ? NOT(s_rand_tree(depth - 1)) : s_neg(s_rand_tree(depth - 1));
    case 3:
        return s_lr(s_rand(2) ? DRIFT_AST_IS : DRIFT_AST_ISNULL, s_rand_tree(depth - 1), s_rand_tree(depth - 1),
                    (int)s_rand(2));
    case 4: return s_between(s_rand_tree(depth - 1), s_rand_tree(depth - 1), s_rand_tree(depth - 1), (int)s_rand(2));
    case 5: return s_in((int)s_rand(2), s_rand_tree(depth - 1), ARGS(s_rand_tree(depth - 1), s_rand_tree(depth - 1)));
    case 6:
        return s_like(s_rand_tree(depth - 1), s_rand_tree(depth - 1), s_rand(3) ? NULL : T("!"), (int)s_rand(2),
                      (int)s_rand(2));
    case 7:
        return s_case(s_rand(2) ? s_rand_tree(depth - 1) : NULL, s_rand(2) ? s_rand_tree(depth - 1) : NULL,
                      ARGS(s_rand_tree(depth - 1), s_rand_tree(depth - 1)));
    case 8: return s_cast(s_rand_tree(depth - 1), (drift_coltype_t)(1 + s_rand(7)));
    default: {
        uint32_t na = s_rand(4);
        drift_node_t *a[3];
        for (uint32_t i = 0; i < na; i++)
            a[i] = s_rand_tree(depth - 1);
        return s_func(fns[s_rand(sizeof fns / sizeof fns[0])], a, na);
    }
    }
}

static void test_random_trees(void **state)
{
    (void)state;
    int ok = 0, errs = 0;
    drift_value_t prev = drift_val_null();
    for (int i = 0; i < 20000; i++) {
        drift_node_t *n = s_rand_tree(4);
        drift_value_t v;
        memset(&s_err, 0, sizeof s_err);
        if (drift_expr_eval(&s_env, n, NULL, &v) < 0) {
            /* an error is a clean SQLSTATE with a message */
            assert_int_equal(strlen(s_err.code), 5);
            assert_true(s_err.message[0] != 0);
            errs++;
            continue;
        }
        ok++;
        assert_true(v.type >= DRIFT_VAL_NULL && v.type <= DRIFT_VAL_TIMESTAMP);
        assert_non_null(drift_val_to_text(&s_ar, &v, NULL));
        /* the order is antisymmetric and hashing agrees with it */
        int c1 = drift_val_cmp(&v, &prev), c2 = drift_val_cmp(&prev, &v);
        assert_true((c1 > 0) == (c2 < 0) && (c1 == 0) == (c2 == 0));
        if (c1 == 0)
            assert_true(drift_val_hash(&v, 1) == drift_val_hash(&prev, 1));
        drift_value_t cp;
        assert_int_equal(drift_val_copy(&s_ar, &v, &cp), 0);
        assert_int_equal(drift_val_cmp(&v, &cp), 0);
        int jnull = v.type == DRIFT_VAL_JSON && v.u.s.n == 4 && memcmp(v.u.s.p, "null", 4) == 0;
        assert_int_equal(drift_val_compare_op(DRIFT_BOP_EQ, &v, &cp), v.type == DRIFT_VAL_NULL || jnull ? -1 : 1);
        /* storage conversion: a success has the column's type (or NULL) */
        drift_coltype_t t = (drift_coltype_t)(1 + s_rand(7));
        drift_value_t co;
        drift_sqlerr_t e = {0};
        if (drift_val_coerce(&s_ar, t, &v, &co, "c", &e) == 0) {
            static const drift_val_type_t want[] = {DRIFT_VAL_NULL, DRIFT_VAL_INT,      DRIFT_VAL_REAL,
                                                    DRIFT_VAL_TEXT, DRIFT_VAL_BOOL,     DRIFT_VAL_BLOB,
                                                    DRIFT_VAL_JSON, DRIFT_VAL_TIMESTAMP};
            assert_true(co.type == want[t] || co.type == DRIFT_VAL_NULL);
        } else {
            assert_true(e.code[0] == '2' && e.code[1] == '2');
        }
        prev = cp;
        if (i % 1000 == 999) { /* keep the arena small */
            drift_arena_reset(&s_ar);
            prev = drift_val_null();
        }
    }
    assert_true(ok > 10000);
    (void)errs;
}

#define T_(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T_(test_arithmetic),
        T_(test_null_propagation),
        T_(test_three_valued_logic),
        T_(test_in_between_is),
        T_(test_comparison_and_order),
        T_(test_hash),
        T_(test_truth_copy),
        T_(test_like_glob),
        T_(test_case),
        T_(test_cast),
        T_(test_text_form),
        T_(test_functions),
        T_(test_json),
        T_(test_params),
        T_(test_columns_affinity),
        T_(test_aggregate_nodes_and_subqueries),
        T_(test_subquery_callback),
        T_(test_aggregates),
        T_(test_timestamps),
        T_(test_coerce),
        T_(test_pack_keyenc),
        T_(test_type_hint),
        T_(test_random_trees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
