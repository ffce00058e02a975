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
    if (strcasecmp(w[0], "replace") == 0 && strcasecmp(w[1], "into") == 0)
        return "REPLACE";
    if (strcasecmp(w[0], "insert") == 0 && strcasecmp(w[1], "or") == 0 && strcasecmp(w[2], "replace") == 0)
        return "INSERT OR REPLACE";
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
        cmocka_unit_test_teardown(t_slt_longest, s_teardown),
        cmocka_unit_test_teardown(t_slt_all, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
