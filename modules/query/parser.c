/* modules/query/parser.c — see parser.h. Recursive descent over the lexer's
 * tokens with one token of lookahead (plus one peeked token where SQL needs
 * two: `t AS OF` vs `t AS o`, `x NOT IN`, `pk=`). Every node, array and
 * string lives in the AST's arena; decoded token texts live in the lexer,
 * which the AST keeps until it is destroyed. Recursion (expressions, nested
 * selects, EXPLAIN) is bounded by MAX_DEPTH. Single-threaded; no globals. */
#include "modules/query/parser.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "ipc/proto.h"
#include "modules/query/arena.h"

struct drift_ast {
    drift_lexer_t *lex; /* decoded token texts live here */
    drift_arena_t arena;
    drift_stmt_t *stmt;
};

typedef struct {
    drift_ast_t *ast;
    const char *src;
    size_t len;
    drift_tok_t tok;  /* current token */
    drift_tok_t peek; /* the token after it, when has_peek */
    int has_peek;
    uint32_t prev_end; /* byte offset just after the last consumed token */
    drift_sqlerr_t *err;
    int depth;
    uint32_t max_param;
    int values_default; /* the next VALUES is an INSERT's own: its rows may hold DEFAULT (a NULL expression) */
} s_parser_t;

/* Nesting bound for expressions, subqueries and EXPLAIN (each level is a handful of C frames). */
#define MAX_DEPTH 200

#define SQLSTATE_UNDEF_OBJECT "42704"
#define SQLSTATE_INVALID_TABLE_DEF "42P16"
#define SQLSTATE_TOO_COMPLEX "54001"
#define SQLSTATE_OOM "53200"

/* ------------------------------------------------------------------ basics */

/* The 1-based character position of a byte offset. */
static uint32_t s_cpos(s_parser_t *p, uint32_t bytepos)
{
    return drift_lexer_charpos(p->src, p->len, bytepos);
}

/* Sets the out-of-memory error; returns -1. */
static int s_oom(s_parser_t *p)
{
    return drift_sqlerr_set(p->err, SQLSTATE_OOM, 0, "out of memory");
}

/* n zeroed bytes in the AST's arena, or NULL with err set. */
static void *s_alloc(s_parser_t *p, size_t n)
{
    void *m = drift_arena_alloc(&p->ast->arena, n);
    if (!m)
        s_oom(p);
    return m;
}

/* A NUL-terminated arena copy of s[0..n). */
static char *s_dup(s_parser_t *p, const char *s, size_t n)
{
    char *m = drift_arena_strndup(&p->ast->arena, s, n);
    if (!m)
        s_oom(p);
    return m;
}

/* The source text [a, b) trimmed of surrounding whitespace, NUL-terminated. */
static const char *s_srctext(s_parser_t *p, uint32_t a, uint32_t b)
{
    while (a < b && (p->src[a] == ' ' || p->src[a] == '\t' || p->src[a] == '\n' || p->src[a] == '\r'))
        a++;
    while (b > a && (p->src[b - 1] == ' ' || p->src[b - 1] == '\t' || p->src[b - 1] == '\n' || p->src[b - 1] == '\r'))
        b--;
    return s_dup(p, p->src + a, b - a);
}

/* 42601 "syntax error at or near "X"" at the current token. */
static int s_syntax(s_parser_t *p)
{
    const drift_tok_t *t = &p->tok;
    if (t->kind == DRIFT_TOK_EOF)
        return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_SYNTAX, s_cpos(p, t->pos), "syntax error at end of input");
    uint32_t n = t->len;
    if (n > 60) { /* keep the message short; do not cut a UTF-8 sequence */
        n = 60;
        while (n > 0 && ((unsigned char)p->src[t->pos + n] & 0xc0) == 0x80)
            n--;
    }
    return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_SYNTAX, s_cpos(p, t->pos), "syntax error at or near \"%.*s\"",
                            (int)n, p->src + t->pos);
}

/* 0A000 at a byte position. */
static int s_unsupported(s_parser_t *p, uint32_t pos, const char *what, const char *why)
{
    return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_NOT_SUPPORTED, s_cpos(p, pos), "%s is not supported: %s", what, why);
}

/* Lexes one token into t, turning a lexer error into 42601. */
static int s_lex(s_parser_t *p, drift_tok_t *t)
{
    char msg[200];
    uint32_t pos = 0;
    if (drift_lexer_next(p->ast->lex, t, msg, sizeof msg, &pos) < 0)
        return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_SYNTAX, s_cpos(p, pos), "%s", msg);
    return 0;
}

/* Consumes the current token. */
static int s_next(s_parser_t *p)
{
    if (p->tok.kind != DRIFT_TOK_EOF)
        p->prev_end = p->tok.pos + p->tok.len;
    if (p->has_peek) {
        p->tok = p->peek;
        p->has_peek = 0;
        return 0;
    }
    return s_lex(p, &p->tok);
}

/* The token after the current one (lexed once and kept). */
static const drift_tok_t *s_peek(s_parser_t *p)
{
    if (!p->has_peek) {
        if (s_lex(p, &p->peek) < 0)
            return NULL;
        p->has_peek = 1;
    }
    return &p->peek;
}

/* The current token is operator op. */
static int s_is_op(const s_parser_t *p, drift_tok_op_t op)
{
    return p->tok.kind == DRIFT_TOK_OP && p->tok.op == op;
}

/* The current token is keyword kw. */
static int s_is_kw(const s_parser_t *p, drift_kw_t kw)
{
    return p->tok.kind == DRIFT_TOK_KEYWORD && p->tok.kw == kw;
}

/* Token t is keyword kw. */
static int s_tok_is_kw(const drift_tok_t *t, drift_kw_t kw)
{
    return t->kind == DRIFT_TOK_KEYWORD && t->kw == kw;
}

/* An unquoted identifier spelled w (context words such as NOW, TABLES, NULLS that are not keywords). */
static int s_tok_is_word(const drift_tok_t *t, const char *w)
{
    return t->kind == DRIFT_TOK_IDENT && strlen(w) == t->text_len && strncasecmp(t->text, w, t->text_len) == 0;
}

/* The current token is the unquoted word w. */
static int s_is_word(const s_parser_t *p, const char *w)
{
    return s_tok_is_word(&p->tok, w);
}

/* A token usable as a name: identifier, quoted identifier or non-reserved keyword. */
static int s_tok_is_name(const drift_tok_t *t)
{
    return t->kind == DRIFT_TOK_IDENT || t->kind == DRIFT_TOK_QIDENT ||
           (t->kind == DRIFT_TOK_KEYWORD && !drift_kw_reserved(t->kw));
}

/* The current token can be a name. */
static int s_is_name(const s_parser_t *p)
{
    return s_tok_is_name(&p->tok);
}

/* Expects and consumes an operator. */
static int s_expect_op(s_parser_t *p, drift_tok_op_t op)
{
    if (!s_is_op(p, op))
        return s_syntax(p);
    return s_next(p);
}

/* Expects and consumes a keyword. */
static int s_expect_kw(s_parser_t *p, drift_kw_t kw)
{
    if (!s_is_kw(p, kw))
        return s_syntax(p);
    return s_next(p);
}

/* Consumes the keyword if it is the current token: 1 consumed, 0 not, -1 error. */
static int s_accept_kw(s_parser_t *p, drift_kw_t kw)
{
    if (!s_is_kw(p, kw))
        return 0;
    return s_next(p) < 0 ? -1 : 1;
}

/* The current name token as an arena string (unquoted: folded to lower case), consumed; NULL + err. */
static const char *s_name(s_parser_t *p)
{
    if (!s_is_name(p)) {
        s_syntax(p);
        return NULL;
    }
    const drift_tok_t *t = &p->tok;
    char *out = s_alloc(p, t->text_len + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < t->text_len; i++) {
        char c = t->text[i];
        out[i] = t->kind != DRIFT_TOK_QIDENT && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    if (s_next(p) < 0)
        return NULL;
    return out;
}

/* Enters one nesting level; fails with 54001 beyond MAX_DEPTH. */
static int s_enter(s_parser_t *p)
{
    if (++p->depth > MAX_DEPTH)
        return drift_sqlerr_set(p->err, SQLSTATE_TOO_COMPLEX, s_cpos(p, p->tok.pos),
                                "statement too complex: nesting deeper than %d levels", MAX_DEPTH);
    return 0;
}

/* Appends val to the arena array arr (n used, cap allocated); fails with failret. */
#define PUSH(p, arr, n, cap, val, failret)                                                                             \
    do {                                                                                                               \
        if ((n) == (cap)) {                                                                                            \
            uint32_t nc_ = (cap) ? (cap)*2 : 4;                                                                        \
            void *na_ = s_alloc((p), (size_t)nc_ * sizeof *(arr));                                                     \
            if (!na_)                                                                                                  \
                return failret;                                                                                        \
            if (n)                                                                                                     \
                memcpy(na_, (arr), (size_t)(n) * sizeof *(arr));                                                       \
            (arr) = na_;                                                                                               \
            (cap) = nc_;                                                                                               \
        }                                                                                                              \
        (arr)[(n)++] = (val);                                                                                          \
    } while (0)

/* ------------------------------------------------------------------ nodes */

/* A new node (binder slot agg = -1, i.e. not an aggregate). */
static drift_node_t *s_node(s_parser_t *p, drift_ast_kind_t kind, uint32_t pos)
{
    drift_node_t *n = s_alloc(p, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->pos = pos;
    n->agg = -1;
    return n;
}

/* A new node with operands l and r, positioned at l. */
static drift_node_t *s_node2(s_parser_t *p, drift_ast_kind_t kind, drift_node_t *l, drift_node_t *r)
{
    drift_node_t *n = s_node(p, kind, l->pos);
    if (n) {
        n->l = l;
        n->r = r;
    }
    return n;
}

/* A JSON literal starting at the current '{' or '[' token: the raw span, canonicalised (42601 at the bad byte). */
static drift_node_t *s_json(s_parser_t *p)
{
    uint32_t start = p->tok.pos, end = 0, epos = 0;
    char msg[200];
    p->has_peek = 0; /* a peeked token lies inside the JSON text: the span re-scans from start */
    if (drift_lexer_json_span(p->ast->lex, start, &end, msg, sizeof msg, &epos) < 0) {
        drift_sqlerr_set(p->err, DRIFT_SQLSTATE_SYNTAX, s_cpos(p, epos), "%s", msg);
        return NULL;
    }
    drift_strbuf_t b = {0};
    size_t jpos = 0;
    int rc = drift_json_canon(p->src + start, end - start, &b, msg, sizeof msg, &jpos);
    if (rc < 0) {
        drift_strbuf_free(&b);
        if (rc == -ENOMEM) {
            s_oom(p);
            return NULL;
        }
        drift_sqlerr_set(p->err, DRIFT_SQLSTATE_SYNTAX, s_cpos(p, start + (uint32_t)jpos), "invalid JSON literal: %s",
                         msg);
        return NULL;
    }
    drift_node_t *n = s_node(p, DRIFT_AST_JSON, start);
    char *text = n ? s_dup(p, b.p ? b.p : "", b.len) : NULL;
    size_t tl = b.len;
    drift_strbuf_free(&b);
    if (!text)
        return NULL;
    n->value.type = DRIFT_VAL_JSON;
    n->value.u.s.p = text;
    n->value.u.s.n = tl;
    /* the current token was '{' / '['; continue after the JSON text */
    p->tok.len = end - start;
    if (s_next(p) < 0)
        return NULL;
    return n;
}

/* ------------------------------------------------------------------ types */

/* Parses a type name: one or more words (DOUBLE PRECISION, CHARACTER VARYING, TIMESTAMP WITH TIME ZONE)
 * and an optional (n [, m]). Unknown names are 42704. */
static int s_typename(s_parser_t *p, drift_coltype_t *ret)
{
    if (p->tok.kind != DRIFT_TOK_IDENT && p->tok.kind != DRIFT_TOK_QIDENT)
        return s_syntax(p);
    drift_tok_t first = p->tok;
    if (s_next(p) < 0)
        return -1;
    char name[64];
    size_t n = first.text_len < sizeof name - 1 ? first.text_len : sizeof name - 1;
    memcpy(name, first.text, n);
    name[n] = 0;
    int t = drift_coltype_parse(first.text, first.text_len);
    if (strcasecmp(name, "double") == 0 && s_is_word(p, "precision")) {
        if (s_next(p) < 0)
            return -1;
    } else if (strcasecmp(name, "character") == 0 && s_is_word(p, "varying")) {
        if (s_next(p) < 0)
            return -1;
    } else if ((strcasecmp(name, "timestamp") == 0 || strcasecmp(name, "timestamptz") == 0) &&
               (s_is_kw(p, DRIFT_KW_WITH) || s_is_word(p, "without"))) {
        if (s_next(p) < 0)
            return -1;
        if (!s_is_word(p, "time"))
            return s_syntax(p);
        if (s_next(p) < 0)
            return -1;
        if (!s_is_word(p, "zone"))
            return s_syntax(p);
        if (s_next(p) < 0)
            return -1;
    }
    if (t < 0)
        return drift_sqlerr_set(p->err, SQLSTATE_UNDEF_OBJECT, s_cpos(p, first.pos), "type \"%.*s\" does not exist",
                                (int)(first.text_len > 60 ? 60 : first.text_len), first.text);
    if (s_is_op(p, DRIFT_TOP_LPAREN)) { /* VARCHAR(16), DECIMAL(10, 2): the size is not enforced */
        if (s_next(p) < 0)
            return -1;
        for (int k = 0;; k++) {
            if (s_is_op(p, DRIFT_TOP_MINUS) || s_is_op(p, DRIFT_TOP_PLUS))
                if (s_next(p) < 0)
                    return -1;
            if (p->tok.kind != DRIFT_TOK_INTEGER || k > 1)
                return s_syntax(p);
            if (s_next(p) < 0)
                return -1;
            if (!s_is_op(p, DRIFT_TOP_COMMA))
                break;
            if (s_next(p) < 0)
                return -1;
        }
        if (s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
            return -1;
    }
    *ret = (drift_coltype_t)t;
    return 0;
}

/* ------------------------------------------------------------------ expressions */

/* A whole expression: OR, the lowest level. */
static drift_node_t *s_expr(s_parser_t *p);
static drift_node_t *s_bitexpr(s_parser_t *p);
static drift_select_t *s_select(s_parser_t *p);

/* Token t starts a query (SELECT, VALUES, WITH). */
static int s_starts_select(const drift_tok_t *t)
{
    return s_tok_is_kw(t, DRIFT_KW_SELECT) || s_tok_is_kw(t, DRIFT_KW_VALUES) || s_tok_is_kw(t, DRIFT_KW_WITH);
}

/* SELECT * FROM name, for SQLite's `x IN table`. */
static drift_select_t *s_select_star_from(s_parser_t *p, const char *table, uint32_t pos)
{
    drift_select_t *s = s_alloc(p, sizeof *s);
    drift_node_t *star = s_node(p, DRIFT_AST_STAR, pos);
    drift_from_t *f = s_alloc(p, sizeof *f);
    drift_select_item_t *it = s_alloc(p, sizeof *it);
    if (!s || !star || !f || !it)
        return NULL;
    f->kind = DRIFT_FROM_TABLE;
    f->pos = pos;
    f->name = table;
    it->expr = star;
    it->text = "*";
    s->pos = pos;
    s->items = it;
    s->nitems = 1;
    s->from = f;
    return s;
}

/* Comma-separated expressions up to (not including) ')'; empty allowed when allow_empty. */
static int s_exprlist(s_parser_t *p, drift_node_t ***ret, uint32_t *ret_n, int allow_empty)
{
    drift_node_t **a = NULL;
    uint32_t n = 0, cap = 0;
    if (!(allow_empty && s_is_op(p, DRIFT_TOP_RPAREN))) {
        for (;;) {
            drift_node_t *e = s_expr(p);
            if (!e)
                return -1;
            PUSH(p, a, n, cap, e, -1);
            if (!s_is_op(p, DRIFT_TOP_COMMA))
                break;
            if (s_next(p) < 0)
                return -1;
        }
    }
    *ret = a;
    *ret_n = n;
    return 0;
}

/* name(...) with the name token already consumed (fname lower case). */
static drift_node_t *s_funcall(s_parser_t *p, const char *fname, uint32_t pos)
{
    drift_node_t *n = s_node(p, DRIFT_AST_FUNC, pos);
    if (!n || s_next(p) < 0) /* ( */
        return NULL;
    n->name = fname;
    if (s_is_op(p, DRIFT_TOP_STAR)) {
        n->star = 1;
        if (s_next(p) < 0)
            return NULL;
    } else {
        int d = s_accept_kw(p, DRIFT_KW_DISTINCT);
        if (d < 0)
            return NULL;
        if (!d && s_accept_kw(p, DRIFT_KW_ALL) < 0)
            return NULL;
        n->distinct = d;
        if (s_exprlist(p, &n->args, &n->nargs, !d) < 0)
            return NULL;
    }
    if (s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
        return NULL;
    return n;
}

/* CASE [base] WHEN w THEN t ... [ELSE e] END, the CASE keyword current. */
static drift_node_t *s_case(s_parser_t *p)
{
    drift_node_t *n = s_node(p, DRIFT_AST_CASE, p->tok.pos);
    uint32_t cap = 0;
    if (!n || s_next(p) < 0)
        return NULL;
    if (!s_is_kw(p, DRIFT_KW_WHEN) && !(n->l = s_expr(p)))
        return NULL;
    if (!s_is_kw(p, DRIFT_KW_WHEN)) {
        s_syntax(p);
        return NULL;
    }
    while (s_is_kw(p, DRIFT_KW_WHEN)) {
        if (s_next(p) < 0)
            return NULL;
        drift_node_t *w = s_expr(p);
        if (!w || s_expect_kw(p, DRIFT_KW_THEN) < 0)
            return NULL;
        drift_node_t *t = s_expr(p);
        if (!t)
            return NULL;
        PUSH(p, n->args, n->nargs, cap, w, NULL);
        PUSH(p, n->args, n->nargs, cap, t, NULL);
    }
    int e = s_accept_kw(p, DRIFT_KW_ELSE);
    if (e < 0 || (e && !(n->r = s_expr(p))))
        return NULL;
    if (s_expect_kw(p, DRIFT_KW_END) < 0)
        return NULL;
    return n;
}

/* A literal node from a literal token (current), consumed. */
static drift_node_t *s_literal(s_parser_t *p)
{
    drift_tok_t t = p->tok;
    drift_node_t *n = s_node(p, DRIFT_AST_LITERAL, t.pos);
    if (!n)
        return NULL;
    switch (t.kind) {
    case DRIFT_TOK_INTEGER:
        n->value.type = DRIFT_VAL_INT;
        n->value.u.i = t.ival;
        break;
    case DRIFT_TOK_REAL:
        n->value.type = DRIFT_VAL_REAL;
        n->value.u.r = t.rval;
        break;
    case DRIFT_TOK_STRING:
    case DRIFT_TOK_BLOB: {
        char *s = s_alloc(p, t.text_len + 1);
        if (!s)
            return NULL;
        memcpy(s, t.text, t.text_len);
        n->value.type = t.kind == DRIFT_TOK_STRING ? DRIFT_VAL_TEXT : DRIFT_VAL_BLOB;
        n->value.u.s.p = s;
        n->value.u.s.n = t.text_len;
        break;
    }
    default: /* NULL TRUE FALSE */
        n->value.type = t.kw == DRIFT_KW_NULL ? DRIFT_VAL_NULL : DRIFT_VAL_BOOL;
        n->value.u.b = t.kw == DRIFT_KW_TRUE;
        break;
    }
    if (s_next(p) < 0)
        return NULL;
    return n;
}

/* Literals, parameters, names, function calls, (expr), (subquery), CASE, CAST, EXISTS, {json}. */
static drift_node_t *s_primary(s_parser_t *p)
{
    drift_tok_t t = p->tok;
    drift_node_t *n = NULL;
    switch (t.kind) {
    case DRIFT_TOK_INTEGER:
    case DRIFT_TOK_REAL:
    case DRIFT_TOK_STRING:
    case DRIFT_TOK_BLOB: return s_literal(p);
    case DRIFT_TOK_PARAM:
        if (!(n = s_node(p, DRIFT_AST_PARAM, t.pos)))
            return NULL;
        n->param = t.ival ? (uint32_t)t.ival : p->max_param + 1; /* ? is one more than the largest so far */
        if (n->param > p->max_param)
            p->max_param = n->param;
        if (s_next(p) < 0)
            return NULL;
        return n;
    case DRIFT_TOK_OP:
        if (t.op == DRIFT_TOP_LPAREN) {
            const drift_tok_t *nx = s_peek(p);
            if (!nx)
                return NULL;
            if (s_starts_select(nx)) {
                if (!(n = s_node(p, DRIFT_AST_SUBQUERY, t.pos)) || s_next(p) < 0 || !(n->sub = s_select(p)) ||
                    s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
                    return NULL;
                return n;
            }
            if (s_next(p) < 0 || !(n = s_expr(p)))
                return NULL;
            if (s_is_op(p, DRIFT_TOP_COMMA)) {
                s_unsupported(p, p->tok.pos, "a row value", "compare the columns one by one");
                return NULL;
            }
            if (s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
                return NULL;
            return n;
        }
        if (t.op == DRIFT_TOP_LBRACE)
            return s_json(p);
        s_syntax(p);
        return NULL;
    case DRIFT_TOK_KEYWORD:
        switch (t.kw) {
        case DRIFT_KW_NULL:
        case DRIFT_KW_TRUE:
        case DRIFT_KW_FALSE: return s_literal(p);
        case DRIFT_KW_CASE: return s_case(p);
        case DRIFT_KW_CAST:
            if (!(n = s_node(p, DRIFT_AST_CAST, t.pos)) || s_next(p) < 0 || s_expect_op(p, DRIFT_TOP_LPAREN) < 0 ||
                !(n->l = s_expr(p)) || s_expect_kw(p, DRIFT_KW_AS) < 0 || s_typename(p, &n->cast_type) < 0 ||
                s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
                return NULL;
            return n;
        case DRIFT_KW_EXISTS:
            if (!(n = s_node(p, DRIFT_AST_EXISTS, t.pos)) || s_next(p) < 0 || s_expect_op(p, DRIFT_TOP_LPAREN) < 0 ||
                !(n->sub = s_select(p)) || s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
                return NULL;
            return n;
        case DRIFT_KW_CURRENT_TIMESTAMP:
        case DRIFT_KW_CURRENT_DATE:
        case DRIFT_KW_CURRENT_TIME:
            if (!(n = s_node(p, DRIFT_AST_FUNC, t.pos)))
                return NULL;
            n->name = t.kw == DRIFT_KW_CURRENT_TIMESTAMP ? "current_timestamp"
                      : t.kw == DRIFT_KW_CURRENT_DATE    ? "current_date"
                                                         : "current_time";
            if (s_next(p) < 0)
                return NULL;
            return n;
        case DRIFT_KW_REPLACE:
        case DRIFT_KW_LIKE:
        case DRIFT_KW_GLOB:
        case DRIFT_KW_LEFT:
        case DRIFT_KW_RIGHT: {
            /* functions whose names are keywords: replace(), like(), glob(), left(), right() */
            const drift_tok_t *nx = s_peek(p);
            if (!nx)
                return NULL;
            if (nx->kind == DRIFT_TOK_OP && nx->op == DRIFT_TOP_LPAREN) {
                char *fn = s_dup(p, drift_kw_name(t.kw), strlen(drift_kw_name(t.kw)));
                if (!fn)
                    return NULL;
                for (char *c = fn; *c; c++)
                    *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
                if (s_next(p) < 0)
                    return NULL;
                return s_funcall(p, fn, t.pos);
            }
            s_syntax(p);
            return NULL;
        }
        default: break;
        }
        if (!s_tok_is_name(&t)) {
            s_syntax(p);
            return NULL;
        }
        __attribute__((fallthrough)); /* a non-reserved keyword used as a name */
    case DRIFT_TOK_IDENT:
    case DRIFT_TOK_QIDENT: {
        const char *name = s_name(p);
        if (!name)
            return NULL;
        if (s_is_op(p, DRIFT_TOP_LPAREN)) {
            char *fn = (char *)name;
            for (char *c = fn; *c; c++) /* function names are case-insensitive, even quoted */
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
            return s_funcall(p, fn, t.pos);
        }
        if (s_is_op(p, DRIFT_TOP_DOT)) {
            if (s_next(p) < 0)
                return NULL;
            if (s_is_op(p, DRIFT_TOP_STAR)) {
                if (!(n = s_node(p, DRIFT_AST_STAR, t.pos)) || s_next(p) < 0)
                    return NULL;
                n->qualifier = name;
                return n;
            }
            const char *col = s_name(p);
            if (!col || !(n = s_node(p, DRIFT_AST_COLUMN, t.pos)))
                return NULL;
            if (s_is_op(p, DRIFT_TOP_DOT)) {
                s_unsupported(p, p->tok.pos, "a schema-qualified name", "DriftDB has one schema");
                return NULL;
            }
            n->qualifier = name;
            n->name = col;
            return n;
        }
        if (!(n = s_node(p, DRIFT_AST_COLUMN, t.pos)))
            return NULL;
        n->name = name;
        return n;
    }
    default: s_syntax(p); return NULL;
    }
}

/* primary, then any number of ::type casts and COLLATE clauses. */
static drift_node_t *s_postfix(s_parser_t *p)
{
    drift_node_t *l = s_primary(p);
    while (l) {
        if (s_is_op(p, DRIFT_TOP_CAST)) {
            drift_node_t *n = s_node(p, DRIFT_AST_CAST, l->pos);
            if (!n || s_next(p) < 0 || s_typename(p, &n->cast_type) < 0)
                return NULL;
            n->l = l;
            l = n;
        } else if (s_is_kw(p, DRIFT_KW_COLLATE)) {
            uint32_t pos = p->tok.pos;
            if (s_next(p) < 0)
                return NULL;
            if (!s_is_name(p)) {
                s_syntax(p);
                return NULL;
            }
            if (!s_is_word(p, "binary")) { /* TEXT compares bytewise: BINARY is the only collation */
                s_unsupported(p, pos, "COLLATE other than BINARY", "text compares bytewise");
                return NULL;
            }
            if (s_next(p) < 0)
                return NULL;
        } else {
            break;
        }
    }
    return l;
}

/* Unary - + ~ (a minus sign on a number literal is folded into it). */
static drift_node_t *s_unary(s_parser_t *p)
{
    if (s_is_op(p, DRIFT_TOP_MINUS) || s_is_op(p, DRIFT_TOP_PLUS) || s_is_op(p, DRIFT_TOP_TILDE)) {
        drift_tok_t t = p->tok;
        if (s_enter(p) < 0 || s_next(p) < 0)
            return NULL;
        drift_node_t *o = s_unary(p);
        p->depth--;
        if (!o)
            return NULL;
        /* fold -<number literal> into the literal (so that -9223372036854775808 is an integer) */
        if (t.op == DRIFT_TOP_MINUS && o->kind == DRIFT_AST_LITERAL &&
            (o->value.type == DRIFT_VAL_INT || o->value.type == DRIFT_VAL_REAL)) {
            if (o->value.type == DRIFT_VAL_REAL && o->value.u.r == 9223372036854775808.0) {
                o->value.type = DRIFT_VAL_INT;
                o->value.u.i = INT64_MIN;
            } else if (o->value.type == DRIFT_VAL_REAL) {
                o->value.u.r = -o->value.u.r;
            } else if (o->value.u.i == INT64_MIN) {
                o->value.type = DRIFT_VAL_REAL;
                o->value.u.r = 9223372036854775808.0;
            } else {
                o->value.u.i = -o->value.u.i;
            }
            o->pos = t.pos;
            return o;
        }
        drift_node_t *n = s_node(p, DRIFT_AST_UNARY, t.pos);
        if (!n)
            return NULL;
        n->op = t.op;
        n->l = o;
        return n;
    }
    return s_postfix(p);
}

/* One left-associative binary level: operand (op operand)*. */
static drift_node_t *s_binlevel(s_parser_t *p, drift_node_t *(*operand)(s_parser_t *), const drift_tok_op_t *ops,
                                const drift_bop_t *bops, size_t nops)
{
    drift_node_t *l = operand(p);
    while (l && p->tok.kind == DRIFT_TOK_OP) {
        size_t k;
        for (k = 0; k < nops && ops[k] != p->tok.op; k++)
            ;
        if (k == nops)
            break;
        if (s_next(p) < 0)
            return NULL;
        drift_node_t *r = operand(p);
        drift_node_t *n = r ? s_node2(p, DRIFT_AST_BINARY, l, r) : NULL;
        if (!n)
            return NULL;
        n->bop = bops[k];
        l = n;
    }
    return l;
}

/* -> ->> */
static drift_node_t *s_jsonop(s_parser_t *p)
{
    static const drift_tok_op_t ops[] = {DRIFT_TOP_ARROW, DRIFT_TOP_ARROW2};
    static const drift_bop_t bops[] = {DRIFT_BOP_JSON_GET, DRIFT_BOP_JSON_GET_TEXT};
    return s_binlevel(p, s_unary, ops, bops, 2);
}

/* || */
static drift_node_t *s_concat(s_parser_t *p)
{
    static const drift_tok_op_t ops[] = {DRIFT_TOP_CONCAT};
    static const drift_bop_t bops[] = {DRIFT_BOP_CONCAT};
    return s_binlevel(p, s_jsonop, ops, bops, 1);
}

/* * / % */
static drift_node_t *s_mul(s_parser_t *p)
{
    static const drift_tok_op_t ops[] = {DRIFT_TOP_STAR, DRIFT_TOP_SLASH, DRIFT_TOP_PERCENT};
    static const drift_bop_t bops[] = {DRIFT_BOP_MUL, DRIFT_BOP_DIV, DRIFT_BOP_MOD};
    return s_binlevel(p, s_concat, ops, bops, 3);
}

/* + - */
static drift_node_t *s_add(s_parser_t *p)
{
    static const drift_tok_op_t ops[] = {DRIFT_TOP_PLUS, DRIFT_TOP_MINUS};
    static const drift_bop_t bops[] = {DRIFT_BOP_ADD, DRIFT_BOP_SUB};
    return s_binlevel(p, s_mul, ops, bops, 2);
}

/* & | << >> (SQLite gives them one level, above + -). */
static drift_node_t *s_bitexpr(s_parser_t *p)
{
    static const drift_tok_op_t ops[] = {DRIFT_TOP_AMP, DRIFT_TOP_PIPE, DRIFT_TOP_SHL, DRIFT_TOP_SHR};
    static const drift_bop_t bops[] = {DRIFT_BOP_BITAND, DRIFT_BOP_BITOR, DRIFT_BOP_SHL, DRIFT_BOP_SHR};
    return s_binlevel(p, s_add, ops, bops, 4);
}

/* < <= > >= */
static drift_node_t *s_rel(s_parser_t *p)
{
    static const drift_tok_op_t ops[] = {DRIFT_TOP_LT, DRIFT_TOP_LE, DRIFT_TOP_GT, DRIFT_TOP_GE};
    static const drift_bop_t bops[] = {DRIFT_BOP_LT, DRIFT_BOP_LE, DRIFT_BOP_GT, DRIFT_BOP_GE};
    return s_binlevel(p, s_bitexpr, ops, bops, 4);
}

/* [NOT] IN (list) | (select) | table, the IN already current; l the left operand. */
static drift_node_t *s_in(s_parser_t *p, drift_node_t *l, int negate)
{
    if (s_next(p) < 0)
        return NULL;
    drift_node_t *n;
    if (s_is_op(p, DRIFT_TOP_LPAREN)) {
        const drift_tok_t *nx = s_peek(p);
        if (!nx)
            return NULL;
        if (s_starts_select(nx)) {
            if (!(n = s_node2(p, DRIFT_AST_IN_SELECT, l, NULL)) || s_next(p) < 0 || !(n->sub = s_select(p)))
                return NULL;
        } else {
            if (!(n = s_node2(p, DRIFT_AST_IN_LIST, l, NULL)) || s_next(p) < 0 ||
                s_exprlist(p, &n->args, &n->nargs, 1) < 0)
                return NULL;
        }
        if (s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
            return NULL;
    } else if (s_is_name(p)) { /* SQLite: x IN table */
        uint32_t pos = p->tok.pos;
        const char *t = s_name(p);
        if (!t || !(n = s_node2(p, DRIFT_AST_IN_SELECT, l, NULL)) || !(n->sub = s_select_star_from(p, t, pos)))
            return NULL;
    } else {
        s_syntax(p);
        return NULL;
    }
    n->negate = negate;
    return n;
}

/* Equality level: = == != <> IS [NOT] [DISTINCT FROM] IN LIKE GLOB BETWEEN ISNULL NOTNULL NOT NULL. */
static drift_node_t *s_eq(s_parser_t *p)
{
    drift_node_t *l = s_rel(p);
    while (l) {
        drift_node_t *n = NULL;
        int negate = 0;
        if (s_is_op(p, DRIFT_TOP_EQ) || s_is_op(p, DRIFT_TOP_NE)) {
            drift_bop_t bop = s_is_op(p, DRIFT_TOP_EQ) ? DRIFT_BOP_EQ : DRIFT_BOP_NE;
            if (s_next(p) < 0)
                return NULL;
            drift_node_t *r = s_rel(p);
            if (!r || !(n = s_node2(p, DRIFT_AST_BINARY, l, r)))
                return NULL;
            n->bop = bop;
            l = n;
            continue;
        }
        if (s_is_kw(p, DRIFT_KW_ISNULL) || s_is_kw(p, DRIFT_KW_NOTNULL)) {
            if (!(n = s_node2(p, DRIFT_AST_ISNULL, l, NULL)))
                return NULL;
            n->negate = s_is_kw(p, DRIFT_KW_NOTNULL);
            if (s_next(p) < 0)
                return NULL;
            l = n;
            continue;
        }
        if (s_is_kw(p, DRIFT_KW_IS)) {
            if (s_next(p) < 0)
                return NULL;
            int neg = s_accept_kw(p, DRIFT_KW_NOT);
            if (neg < 0)
                return NULL;
            if (s_is_kw(p, DRIFT_KW_NULL)) {
                if (s_next(p) < 0 || !(n = s_node2(p, DRIFT_AST_ISNULL, l, NULL)))
                    return NULL;
                n->negate = neg;
                l = n;
                continue;
            }
            int dist = s_accept_kw(p, DRIFT_KW_DISTINCT);
            if (dist < 0 || (dist && s_expect_kw(p, DRIFT_KW_FROM) < 0))
                return NULL;
            drift_node_t *r = s_rel(p);
            if (!r || !(n = s_node2(p, DRIFT_AST_IS, l, r)))
                return NULL;
            n->negate = dist ? !neg : neg; /* IS DISTINCT FROM = IS NOT */
            l = n;
            continue;
        }
        if (s_is_kw(p, DRIFT_KW_NOT)) {
            const drift_tok_t *nx = s_peek(p);
            if (!nx)
                return NULL;
            if (s_tok_is_kw(nx, DRIFT_KW_NULL)) { /* x NOT NULL */
                if (s_next(p) < 0 || s_next(p) < 0 || !(n = s_node2(p, DRIFT_AST_ISNULL, l, NULL)))
                    return NULL;
                n->negate = 1;
                l = n;
                continue;
            }
            if (!s_tok_is_kw(nx, DRIFT_KW_IN) && !s_tok_is_kw(nx, DRIFT_KW_LIKE) && !s_tok_is_kw(nx, DRIFT_KW_GLOB) &&
                !s_tok_is_kw(nx, DRIFT_KW_BETWEEN))
                break;
            if (s_next(p) < 0)
                return NULL;
            negate = 1;
        }
        if (s_is_kw(p, DRIFT_KW_IN)) {
            if (!(l = s_in(p, l, negate)))
                return NULL;
        } else if (s_is_kw(p, DRIFT_KW_LIKE) || s_is_kw(p, DRIFT_KW_GLOB)) {
            int glob = s_is_kw(p, DRIFT_KW_GLOB);
            if (s_next(p) < 0)
                return NULL;
            drift_node_t *r = s_rel(p);
            if (!r || !(n = s_node2(p, DRIFT_AST_LIKE, l, r)))
                return NULL;
            n->glob = glob;
            n->negate = negate;
            if (s_is_kw(p, DRIFT_KW_ESCAPE)) {
                drift_node_t *e;
                if (s_next(p) < 0 || !(e = s_rel(p)) || !(n->args = s_alloc(p, sizeof *n->args)))
                    return NULL;
                n->args[0] = e;
                n->nargs = 1;
            }
            l = n;
        } else if (s_is_kw(p, DRIFT_KW_BETWEEN)) {
            drift_node_t *a, *b;
            if (s_next(p) < 0 || !(a = s_rel(p)) || s_expect_kw(p, DRIFT_KW_AND) < 0 || !(b = s_rel(p)) ||
                !(n = s_node2(p, DRIFT_AST_BETWEEN, l, NULL)) || !(n->args = s_alloc(p, 2 * sizeof *n->args)))
                return NULL;
            n->args[0] = a;
            n->args[1] = b;
            n->nargs = 2;
            n->negate = negate;
            l = n;
        } else {
            break;
        }
    }
    return l;
}

/* NOT (NOT EXISTS becomes a negated EXISTS). */
static drift_node_t *s_not(s_parser_t *p)
{
    if (!s_is_kw(p, DRIFT_KW_NOT))
        return s_eq(p);
    uint32_t pos = p->tok.pos;
    if (s_enter(p) < 0 || s_next(p) < 0)
        return NULL;
    drift_node_t *o = s_not(p);
    p->depth--;
    if (!o)
        return NULL;
    if (o->kind == DRIFT_AST_EXISTS && !o->negate) { /* NOT EXISTS */
        o->negate = 1;
        o->pos = pos;
        return o;
    }
    drift_node_t *n = s_node(p, DRIFT_AST_NOT, pos);
    if (n)
        n->l = o;
    return n;
}

/* AND */
static drift_node_t *s_and(s_parser_t *p)
{
    drift_node_t *l = s_not(p);
    while (l && s_is_kw(p, DRIFT_KW_AND)) {
        if (s_next(p) < 0)
            return NULL;
        drift_node_t *r = s_not(p);
        if (!r || !(l = s_node2(p, DRIFT_AST_AND, l, r)))
            return NULL;
    }
    return l;
}

/* A whole expression: OR, the lowest level. */
static drift_node_t *s_expr(s_parser_t *p)
{
    if (s_enter(p) < 0)
        return NULL;
    drift_node_t *l = s_and(p);
    while (l && s_is_kw(p, DRIFT_KW_OR)) {
        if (s_next(p) < 0)
            return NULL;
        drift_node_t *r = s_and(p);
        if (!r || !(l = s_node2(p, DRIFT_AST_OR, l, r)))
            return NULL;
    }
    p->depth--;
    return l;
}

/* ------------------------------------------------------------------ time travel */

/* One point in time: @seq:N | 'timestamp' | NOW | CURRENT_TIMESTAMP | DEFAULT | expression.
 * A malformed point is 22023. */
static int s_tpoint(s_parser_t *p, drift_tpoint_t *tp)
{
    memset(tp, 0, sizeof *tp);
    tp->pos = p->tok.pos;
    if (s_is_op(p, DRIFT_TOP_AT)) {
        if (s_next(p) < 0)
            return -1;
        if (!s_is_word(p, "seq"))
            goto malformed;
        if (s_next(p) < 0)
            return -1;
        if (!s_is_op(p, DRIFT_TOP_COLON))
            goto malformed;
        if (s_next(p) < 0)
            return -1;
        if (p->tok.kind != DRIFT_TOK_INTEGER)
            goto malformed;
        tp->kind = DRIFT_TP_SEQ;
        tp->seq = (uint64_t)p->tok.ival;
        return s_next(p);
    }
    if (p->tok.kind == DRIFT_TOK_STRING) {
        tp->kind = DRIFT_TP_TIME;
        if (!(tp->time = s_dup(p, p->tok.text, p->tok.text_len)))
            return -1;
        return s_next(p);
    }
    if (s_is_word(p, "now") || s_is_kw(p, DRIFT_KW_CURRENT_TIMESTAMP) || s_is_kw(p, DRIFT_KW_DEFAULT)) {
        int now = s_is_word(p, "now");
        tp->kind = DRIFT_TP_NOW;
        if (s_next(p) < 0)
            return -1;
        if (now && s_is_op(p, DRIFT_TOP_LPAREN)) { /* NOW() */
            if (s_next(p) < 0 || s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
                return -1;
        }
        return 0;
    }
    if (p->tok.kind == DRIFT_TOK_EOF || s_is_op(p, DRIFT_TOP_SEMI) || s_is_op(p, DRIFT_TOP_RPAREN) ||
        s_is_op(p, DRIFT_TOP_COMMA) ||
        (p->tok.kind == DRIFT_TOK_KEYWORD && drift_kw_reserved(p->tok.kw) && !s_is_kw(p, DRIFT_KW_CAST) &&
         !s_is_kw(p, DRIFT_KW_CASE) && !s_is_kw(p, DRIFT_KW_NULL)))
        goto malformed;
    tp->kind = DRIFT_TP_EXPR;
    return (tp->expr = s_bitexpr(p)) ? 0 : -1;
malformed:
    return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_INVALID_PARAM, s_cpos(p, p->tok.pos),
                            "malformed AS OF: expected @seq:N, an RFC 3339 timestamp, NOW or an expression");
}

/* [FOR SYSTEM_TIME] AS OF p | FOR SYSTEM_TIME ALL | BETWEEN p AND p | FROM p TO p; the current token is FOR or
 * AS (followed by OF). */
static int s_temporal(s_parser_t *p, drift_temporal_t *t)
{
    t->pos = p->tok.pos;
    if (s_is_kw(p, DRIFT_KW_FOR)) {
        if (s_next(p) < 0 || s_expect_kw(p, DRIFT_KW_SYSTEM_TIME) < 0)
            return -1;
        if (s_is_kw(p, DRIFT_KW_ALL)) {
            t->kind = DRIFT_TEMP_ALL;
            return s_next(p);
        }
        if (s_is_kw(p, DRIFT_KW_BETWEEN) || s_is_kw(p, DRIFT_KW_FROM)) {
            int between = s_is_kw(p, DRIFT_KW_BETWEEN);
            t->kind = between ? DRIFT_TEMP_BETWEEN : DRIFT_TEMP_FROM_TO;
            if (s_next(p) < 0 || s_tpoint(p, &t->a) < 0 || s_expect_kw(p, between ? DRIFT_KW_AND : DRIFT_KW_TO) < 0 ||
                s_tpoint(p, &t->b) < 0)
                return -1;
            return 0;
        }
        if (!s_is_kw(p, DRIFT_KW_AS))
            return s_syntax(p);
    }
    if (s_expect_kw(p, DRIFT_KW_AS) < 0 || s_expect_kw(p, DRIFT_KW_OF) < 0)
        return -1;
    t->kind = DRIFT_TEMP_AS_OF;
    return s_tpoint(p, &t->a);
}

/* The current token starts a temporal clause: FOR, or AS followed by OF. -1 on a lexer error. */
static int s_at_temporal(s_parser_t *p)
{
    if (s_is_kw(p, DRIFT_KW_FOR))
        return 1;
    if (!s_is_kw(p, DRIFT_KW_AS))
        return 0;
    const drift_tok_t *nx = s_peek(p);
    if (!nx)
        return -1;
    return s_tok_is_kw(nx, DRIFT_KW_OF);
}

/* ------------------------------------------------------------------ SELECT */

/* FROM items joined by commas (CROSS) and JOIN operators, left-deep. */
static drift_from_t *s_from_list(s_parser_t *p);

/* [AS] alias after a table or subquery (not a temporal AS OF). Returns 0 (alias may stay NULL) or -1. */
static int s_alias(s_parser_t *p, const char **ret)
{
    if (s_is_kw(p, DRIFT_KW_AS)) {
        if (s_next(p) < 0 || !(*ret = s_name(p)))
            return -1;
        return 0;
    }
    if (s_is_kw(p, DRIFT_KW_INDEXED)) { /* INDEXED BY is a hint, not an alias */
        const drift_tok_t *nx = s_peek(p);
        if (!nx)
            return -1;
        if (s_tok_is_kw(nx, DRIFT_KW_BY))
            return 0;
    }
    if (s_is_name(p) && !(p->tok.kind == DRIFT_TOK_KEYWORD && p->tok.kw == DRIFT_KW_OF))
        return (*ret = s_name(p)) ? 0 : -1;
    return 0;
}

/* One FROM item: table [temporal] [[AS] alias] [INDEXED BY i | NOT INDEXED] | (select) [AS] alias | (join). */
static drift_from_t *s_from_item(s_parser_t *p)
{
    drift_from_t *f = s_alloc(p, sizeof *f);
    if (!f)
        return NULL;
    f->pos = p->tok.pos;
    if (s_is_op(p, DRIFT_TOP_LPAREN)) {
        const drift_tok_t *nx = s_peek(p);
        if (!nx)
            return NULL;
        if (s_starts_select(nx) || (nx->kind == DRIFT_TOK_OP && nx->op == DRIFT_TOP_LPAREN)) {
            f->kind = DRIFT_FROM_SUBQUERY;
            if (s_next(p) < 0 || !(f->sub = s_select(p)) || s_expect_op(p, DRIFT_TOP_RPAREN) < 0 ||
                s_alias(p, &f->alias) < 0)
                return NULL;
            return f;
        }
        if (s_enter(p) < 0 || s_next(p) < 0)
            return NULL;
        drift_from_t *in = s_from_list(p);
        p->depth--;
        if (!in || s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
            return NULL;
        return in;
    }
    f->kind = DRIFT_FROM_TABLE;
    if (!(f->name = s_name(p)))
        return NULL;
    if (s_is_op(p, DRIFT_TOP_DOT)) {
        s_unsupported(p, p->tok.pos, "a schema-qualified name", "DriftDB has one schema");
        return NULL;
    }
    int tc = s_at_temporal(p);
    if (tc < 0 || (tc && s_temporal(p, &f->temporal) < 0))
        return NULL;
    if (s_alias(p, &f->alias) < 0)
        return NULL;
    if (f->temporal.kind == DRIFT_TEMP_NONE) {
        tc = s_at_temporal(p);
        if (tc < 0 || (tc && s_temporal(p, &f->temporal) < 0))
            return NULL;
    }
    /* SQLite's index hints: accepted and ignored (the planner chooses) */
    if (s_is_kw(p, DRIFT_KW_INDEXED)) {
        if (s_next(p) < 0 || s_expect_kw(p, DRIFT_KW_BY) < 0 || !s_name(p))
            return NULL;
    } else if (s_is_kw(p, DRIFT_KW_NOT)) {
        const drift_tok_t *nx = s_peek(p);
        if (!nx)
            return NULL;
        if (s_tok_is_kw(nx, DRIFT_KW_INDEXED) && (s_next(p) < 0 || s_next(p) < 0))
            return NULL;
    }
    return f;
}

/* A join operator at the current token: sets join and natural and consumes it; 1 found, 0 none, -1 error. */
static int s_join_op(s_parser_t *p, drift_join_t *join, int *natural)
{
    *natural = 0;
    if (s_is_kw(p, DRIFT_KW_NATURAL)) {
        *natural = 1;
        if (s_next(p) < 0)
            return -1;
    }
    if (s_is_kw(p, DRIFT_KW_JOIN) || s_is_kw(p, DRIFT_KW_INNER)) {
        *join = DRIFT_JOIN_INNER;
        if (s_is_kw(p, DRIFT_KW_INNER) && s_next(p) < 0)
            return -1;
    } else if (s_is_kw(p, DRIFT_KW_CROSS)) {
        *join = DRIFT_JOIN_CROSS;
        if (s_next(p) < 0)
            return -1;
    } else if (s_is_kw(p, DRIFT_KW_LEFT)) {
        *join = DRIFT_JOIN_LEFT;
        if (s_next(p) < 0 || s_accept_kw(p, DRIFT_KW_OUTER) < 0)
            return -1;
    } else if (s_is_kw(p, DRIFT_KW_RIGHT)) {
        *join = DRIFT_JOIN_RIGHT;
        if (s_next(p) < 0 || s_accept_kw(p, DRIFT_KW_OUTER) < 0)
            return -1;
    } else if (s_is_kw(p, DRIFT_KW_FULL)) {
        return s_unsupported(p, p->tok.pos, "FULL JOIN", "UNION a LEFT JOIN and the unmatched rows of the other side");
    } else {
        return *natural ? s_syntax(p) : 0;
    }
    if (s_expect_kw(p, DRIFT_KW_JOIN) < 0)
        return -1;
    return 1;
}

/* FROM items joined by commas (CROSS) and JOIN operators, left-deep. */
static drift_from_t *s_from_list(s_parser_t *p)
{
    drift_from_t *l = s_from_item(p);
    while (l) {
        drift_join_t join = DRIFT_JOIN_CROSS;
        int natural = 0, comma = s_is_op(p, DRIFT_TOP_COMMA), found = 1;
        if (comma) {
            if (s_next(p) < 0)
                return NULL;
        } else if ((found = s_join_op(p, &join, &natural)) <= 0) {
            return found < 0 ? NULL : l;
        }
        drift_from_t *j = s_alloc(p, sizeof *j);
        if (!j || !(j->right = s_from_item(p)))
            return NULL;
        j->kind = DRIFT_FROM_JOIN;
        j->pos = l->pos;
        j->join = join;
        j->natural = natural;
        j->left = l;
        if (!comma && s_is_kw(p, DRIFT_KW_ON)) {
            if (s_next(p) < 0 || !(j->on = s_expr(p)))
                return NULL;
        } else if (!comma && s_is_kw(p, DRIFT_KW_USING)) {
            uint32_t cap = 0;
            if (s_next(p) < 0 || s_expect_op(p, DRIFT_TOP_LPAREN) < 0)
                return NULL;
            for (;;) {
                const char *c = s_name(p);
                if (!c)
                    return NULL;
                PUSH(p, j->using_cols, j->nusing, cap, c, NULL);
                if (!s_is_op(p, DRIFT_TOP_COMMA))
                    break;
                if (s_next(p) < 0)
                    return NULL;
            }
            if (s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
                return NULL;
        }
        l = j;
    }
    return l;
}

/* SELECT [DISTINCT|ALL] items [FROM ...] [WHERE] [GROUP BY] [HAVING], the SELECT keyword current. */
static drift_select_t *s_select_core(s_parser_t *p)
{
    drift_select_t *s = s_alloc(p, sizeof *s);
    uint32_t cap = 0;
    if (!s)
        return NULL;
    s->pos = p->tok.pos;
    if (s_next(p) < 0)
        return NULL;
    if (s_is_kw(p, DRIFT_KW_DISTINCT) || s_is_kw(p, DRIFT_KW_ALL)) {
        s->distinct = s_is_kw(p, DRIFT_KW_DISTINCT);
        if (s_next(p) < 0)
            return NULL;
    }
    for (;;) {
        drift_select_item_t it = {0};
        uint32_t start = p->tok.pos;
        if (s_is_op(p, DRIFT_TOP_STAR)) {
            if (!(it.expr = s_node(p, DRIFT_AST_STAR, start)) || s_next(p) < 0)
                return NULL;
        } else if (!(it.expr = s_expr(p))) {
            return NULL;
        }
        if (!(it.text = s_srctext(p, start, p->prev_end)))
            return NULL;
        if (s_is_kw(p, DRIFT_KW_AS)) {
            if (s_next(p) < 0)
                return NULL;
            if (p->tok.kind == DRIFT_TOK_STRING) {
                if (!(it.alias = s_dup(p, p->tok.text, p->tok.text_len)) || s_next(p) < 0)
                    return NULL;
            } else if (!(it.alias = s_name(p))) {
                return NULL;
            }
        } else if (p->tok.kind == DRIFT_TOK_STRING) {
            if (!(it.alias = s_dup(p, p->tok.text, p->tok.text_len)) || s_next(p) < 0)
                return NULL;
        } else if (s_is_name(p) && it.expr->kind != DRIFT_AST_STAR) {
            if (!(it.alias = s_name(p)))
                return NULL;
        }
        PUSH(p, s->items, s->nitems, cap, it, NULL);
        if (!s_is_op(p, DRIFT_TOP_COMMA))
            break;
        if (s_next(p) < 0)
            return NULL;
    }
    if (s_is_kw(p, DRIFT_KW_FROM)) {
        if (s_next(p) < 0 || !(s->from = s_from_list(p)))
            return NULL;
    }
    if (s_is_kw(p, DRIFT_KW_WHERE)) {
        if (s_next(p) < 0 || !(s->where = s_expr(p)))
            return NULL;
    }
    if (s_is_kw(p, DRIFT_KW_GROUP)) {
        uint32_t gcap = 0;
        if (s_next(p) < 0 || s_expect_kw(p, DRIFT_KW_BY) < 0)
            return NULL;
        for (;;) {
            drift_node_t *e = s_expr(p);
            if (!e)
                return NULL;
            PUSH(p, s->group_by, s->ngroup_by, gcap, e, NULL);
            if (!s_is_op(p, DRIFT_TOP_COMMA))
                break;
            if (s_next(p) < 0)
                return NULL;
        }
    }
    if (s_is_kw(p, DRIFT_KW_HAVING)) {
        if (s_next(p) < 0 || !(s->having = s_expr(p)))
            return NULL;
    }
    return s;
}

/* VALUES (row), (row) ... as a query, the VALUES keyword current. */
static drift_select_t *s_values(s_parser_t *p)
{
    drift_select_t *s = s_alloc(p, sizeof *s);
    uint32_t cap = 0;
    if (!s)
        return NULL;
    s->pos = p->tok.pos;
    int allow_default = p->values_default;
    p->values_default = 0;
    if (s_next(p) < 0)
        return NULL;
    for (;;) {
        uint32_t rpos = p->tok.pos, n = 0;
        drift_node_t **row = NULL;
        if (s_expect_op(p, DRIFT_TOP_LPAREN) < 0)
            return NULL;
        if (allow_default) {
            uint32_t rcap = 0;
            for (;;) {
                drift_node_t *e = NULL;
                if (s_is_kw(p, DRIFT_KW_DEFAULT)) {
                    if (s_next(p) < 0)
                        return NULL;
                } else if (!(e = s_expr(p))) {
                    return NULL;
                }
                PUSH(p, row, n, rcap, e, NULL);
                if (!s_is_op(p, DRIFT_TOP_COMMA))
                    break;
                if (s_next(p) < 0)
                    return NULL;
            }
        } else if (s_exprlist(p, &row, &n, 0) < 0) {
            return NULL;
        }
        if (s->nvalues && n != s->nitems) {
            drift_sqlerr_set(p->err, DRIFT_SQLSTATE_SYNTAX, s_cpos(p, rpos),
                             "VALUES lists must all be the same length (%u expressions, then %u)", s->nitems, n);
            return NULL;
        }
        s->nitems = n;
        PUSH(p, s->values, s->nvalues, cap, row, NULL);
        if (s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
            return NULL;
        if (!s_is_op(p, DRIFT_TOP_COMMA))
            break;
        if (s_next(p) < 0)
            return NULL;
    }
    return s;
}

/* One member of a compound: a select core, VALUES, or a parenthesised select. */
static drift_select_t *s_select_term(s_parser_t *p)
{
    if (s_is_kw(p, DRIFT_KW_SELECT))
        return s_select_core(p);
    if (s_is_kw(p, DRIFT_KW_VALUES))
        return s_values(p);
    if (s_is_kw(p, DRIFT_KW_WITH)) {
        s_unsupported(p, p->tok.pos, "WITH (common table expressions)", "use a subquery in FROM");
        return NULL;
    }
    if (s_is_op(p, DRIFT_TOP_LPAREN)) {
        drift_select_t *s;
        if (s_next(p) < 0 || !(s = s_select(p)) || s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
            return NULL;
        return s;
    }
    s_syntax(p);
    return NULL;
}

/* A whole query: terms joined by UNION [ALL] / INTERSECT / EXCEPT, then ORDER BY and LIMIT for the whole
 * (stored on the first select). */
static drift_select_t *s_select(s_parser_t *p)
{
    if (s_enter(p) < 0)
        return NULL;
    uint32_t pos0 = p->tok.pos;
    drift_select_t *first = s_select_term(p), *cur = first;
    if (!first)
        return NULL;
    while (s_is_kw(p, DRIFT_KW_UNION) || s_is_kw(p, DRIFT_KW_INTERSECT) || s_is_kw(p, DRIFT_KW_EXCEPT)) {
        drift_setop_t op = s_is_kw(p, DRIFT_KW_UNION)       ? DRIFT_SETOP_UNION
                           : s_is_kw(p, DRIFT_KW_INTERSECT) ? DRIFT_SETOP_INTERSECT
                                                            : DRIFT_SETOP_EXCEPT;
        if (s_next(p) < 0)
            return NULL;
        if (op == DRIFT_SETOP_UNION && s_is_kw(p, DRIFT_KW_ALL)) {
            op = DRIFT_SETOP_UNION_ALL;
            if (s_next(p) < 0)
                return NULL;
        } else if (s_accept_kw(p, DRIFT_KW_DISTINCT) < 0) {
            return NULL;
        }
        uint32_t tpos = p->tok.pos;
        drift_select_t *nx = s_select_term(p);
        if (!nx)
            return NULL;
        /* a parenthesised member that is itself a compound or has its own ORDER BY / LIMIT */
        if (cur->next || cur->order_by || cur->limit || nx->next || nx->order_by || nx->limit) {
            s_unsupported(p, cur->next || cur->order_by || cur->limit ? pos0 : tpos,
                          "a compound member with its own ORDER BY, LIMIT or set operation", "use a subquery in FROM");
            return NULL;
        }
        cur->setop = op;
        cur->next = nx;
        cur = nx;
    }
    if (s_is_kw(p, DRIFT_KW_ORDER) || s_is_kw(p, DRIFT_KW_LIMIT)) {
        if (first->order_by || first->limit) {
            s_unsupported(p, p->tok.pos, "a second ORDER BY or LIMIT", "use a subquery in FROM");
            return NULL;
        }
    }
    if (s_is_kw(p, DRIFT_KW_ORDER)) {
        uint32_t cap = 0;
        if (s_next(p) < 0 || s_expect_kw(p, DRIFT_KW_BY) < 0)
            return NULL;
        for (;;) {
            drift_order_item_t o = {0};
            if (!(o.expr = s_expr(p)))
                return NULL;
            if (s_is_kw(p, DRIFT_KW_ASC) || s_is_kw(p, DRIFT_KW_DESC)) {
                o.desc = s_is_kw(p, DRIFT_KW_DESC);
                if (s_next(p) < 0)
                    return NULL;
            }
            if (s_is_word(p, "nulls")) {
                if (s_next(p) < 0)
                    return NULL;
                if (s_is_word(p, "first"))
                    o.nulls = 1;
                else if (s_is_word(p, "last"))
                    o.nulls = 2;
                else {
                    s_syntax(p);
                    return NULL;
                }
                if (s_next(p) < 0)
                    return NULL;
            }
            PUSH(p, first->order_by, first->norder_by, cap, o, NULL);
            if (!s_is_op(p, DRIFT_TOP_COMMA))
                break;
            if (s_next(p) < 0)
                return NULL;
        }
    }
    if (s_is_kw(p, DRIFT_KW_LIMIT)) {
        if (s_next(p) < 0 || !(first->limit = s_expr(p)))
            return NULL;
        if (s_is_kw(p, DRIFT_KW_OFFSET)) {
            if (s_next(p) < 0 || !(first->offset = s_expr(p)))
                return NULL;
        } else if (s_is_op(p, DRIFT_TOP_COMMA)) { /* SQLite: LIMIT offset, count */
            if (s_next(p) < 0)
                return NULL;
            first->offset = first->limit;
            if (!(first->limit = s_expr(p)))
                return NULL;
        }
    } else if (s_is_kw(p, DRIFT_KW_OFFSET)) {
        if (s_next(p) < 0 || !(first->offset = s_expr(p)))
            return NULL;
    }
    p->depth--;
    return first;
}

/* ------------------------------------------------------------------ DDL pieces */

/* (name, ...) into *ret. */
static int s_namelist(s_parser_t *p, const char ***ret, uint32_t *ret_n)
{
    uint32_t cap = 0;
    *ret = NULL;
    *ret_n = 0;
    if (s_expect_op(p, DRIFT_TOP_LPAREN) < 0)
        return -1;
    for (;;) {
        const char *c = s_name(p);
        if (!c)
            return -1;
        PUSH(p, *ret, *ret_n, cap, c, -1);
        if (!s_is_op(p, DRIFT_TOP_COMMA))
            break;
        if (s_next(p) < 0)
            return -1;
    }
    return s_expect_op(p, DRIFT_TOP_RPAREN);
}

/* DEFAULT value: literal, signed number, TRUE/FALSE/NULL, CURRENT_TIMESTAMP, {json} or (expr). */
static drift_node_t *s_default(s_parser_t *p)
{
    drift_tok_t t = p->tok;
    if (s_is_op(p, DRIFT_TOP_LPAREN)) {
        drift_node_t *e;
        if (s_next(p) < 0 || !(e = s_expr(p)) || s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
            return NULL;
        return e;
    }
    if (s_is_op(p, DRIFT_TOP_MINUS) || s_is_op(p, DRIFT_TOP_PLUS)) {
        const drift_tok_t *nx = s_peek(p);
        if (!nx)
            return NULL;
        if (nx->kind != DRIFT_TOK_INTEGER && nx->kind != DRIFT_TOK_REAL) {
            if (s_next(p) < 0)
                return NULL;
            s_syntax(p);
            return NULL;
        }
        return s_unary(p); /* folds into the literal */
    }
    if (t.kind == DRIFT_TOK_INTEGER || t.kind == DRIFT_TOK_REAL || t.kind == DRIFT_TOK_STRING ||
        t.kind == DRIFT_TOK_BLOB || s_is_kw(p, DRIFT_KW_NULL) || s_is_kw(p, DRIFT_KW_TRUE) ||
        s_is_kw(p, DRIFT_KW_FALSE) || s_is_kw(p, DRIFT_KW_CURRENT_TIMESTAMP) || s_is_kw(p, DRIFT_KW_CURRENT_DATE) ||
        s_is_kw(p, DRIFT_KW_CURRENT_TIME) || s_is_op(p, DRIFT_TOP_LBRACE))
        return s_primary(p);
    s_syntax(p);
    return NULL;
}

/* name type [constraints...] */
static int s_coldef(s_parser_t *p, drift_coldef_t *c)
{
    memset(c, 0, sizeof *c);
    c->pos = p->tok.pos;
    if (!(c->name = s_name(p)))
        return -1;
    if (p->tok.kind != DRIFT_TOK_IDENT && p->tok.kind != DRIFT_TOK_QIDENT) {
        if (p->tok.kind == DRIFT_TOK_KEYWORD || s_is_op(p, DRIFT_TOP_COMMA) || s_is_op(p, DRIFT_TOP_RPAREN) ||
            p->tok.kind == DRIFT_TOK_EOF)
            return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_SYNTAX, s_cpos(p, p->tok.pos),
                                    "syntax error at or near \"%.*s\": column \"%s\" needs a type",
                                    (int)(p->tok.len > 40 ? 40 : p->tok.len), p->src + p->tok.pos, c->name);
        return s_syntax(p);
    }
    if (s_typename(p, &c->type) < 0)
        return -1;
    for (;;) {
        if (s_is_kw(p, DRIFT_KW_CONSTRAINT)) {
            if (s_next(p) < 0 || !s_name(p))
                return -1;
            continue;
        }
        if (s_is_kw(p, DRIFT_KW_PRIMARY)) {
            if (s_next(p) < 0 || s_expect_kw(p, DRIFT_KW_KEY) < 0)
                return -1;
            if ((s_is_kw(p, DRIFT_KW_ASC) || s_is_kw(p, DRIFT_KW_DESC)) && s_next(p) < 0)
                return -1;
            if (s_is_word(p, "autoincrement") && s_next(p) < 0)
                return -1;
            c->primary_key = 1;
        } else if (s_is_kw(p, DRIFT_KW_NOT)) {
            if (s_next(p) < 0 || s_expect_kw(p, DRIFT_KW_NULL) < 0)
                return -1;
            c->not_null = 1;
        } else if (s_is_kw(p, DRIFT_KW_NULL)) {
            if (s_next(p) < 0)
                return -1;
        } else if (s_is_kw(p, DRIFT_KW_UNIQUE)) {
            if (s_next(p) < 0)
                return -1;
            c->unique = 1;
        } else if (s_is_kw(p, DRIFT_KW_DEFAULT)) {
            if (s_next(p) < 0 || !(c->default_expr = s_default(p)))
                return -1;
        } else if (s_is_kw(p, DRIFT_KW_COLLATE)) {
            uint32_t pos = p->tok.pos;
            if (s_next(p) < 0)
                return -1;
            if (!s_is_word(p, "binary"))
                return s_unsupported(p, pos, "COLLATE other than BINARY", "text compares bytewise");
            if (s_next(p) < 0)
                return -1;
        } else if (s_is_word(p, "check") || s_is_word(p, "references") || s_is_word(p, "generated")) {
            char what[32];
            snprintf(what, sizeof what, "%.*s constraints", (int)p->tok.text_len, p->tok.text);
            for (char *w = what; *w && *w != ' '; w++)
                *w = (char)(*w >= 'a' && *w <= 'z' ? *w - 'a' + 'A' : *w);
            return s_unsupported(p, p->tok.pos, what, "DriftDB supports PRIMARY KEY, NOT NULL, UNIQUE and DEFAULT");
        } else {
            break;
        }
    }
    return 0;
}

/* CREATE TABLE name (...) | (pk=field, INDEX(...), ...), the '(' current. */
static int s_create_table_body(s_parser_t *p, drift_stmt_t *st)
{
    uint32_t ccap = 0, ucap = 0;
    if (s_expect_op(p, DRIFT_TOP_LPAREN) < 0)
        return -1;
    const drift_tok_t *nx = s_peek(p);
    if (!nx)
        return -1;
    if ((s_is_word(p, "pk") && nx->kind == DRIFT_TOK_OP && nx->op == DRIFT_TOP_EQ) ||
        (s_is_kw(p, DRIFT_KW_INDEX) && nx->kind == DRIFT_TOK_OP && nx->op == DRIFT_TOP_LPAREN)) {
        /* DriftQL document table */
        uint32_t icap = 0, pos0 = p->tok.pos;
        st->driftql = 1;
        for (;;) {
            if (s_is_word(p, "pk")) {
                if (st->doc_pk)
                    return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_SYNTAX, s_cpos(p, p->tok.pos),
                                            "syntax error at or near \"pk\": pk= given twice");
                if (s_next(p) < 0 || s_expect_op(p, DRIFT_TOP_EQ) < 0 || !(st->doc_pk = s_name(p)))
                    return -1;
            } else if (s_is_kw(p, DRIFT_KW_INDEX)) {
                drift_keydef_t k = {0};
                if (s_next(p) < 0 || s_namelist(p, &k.cols, &k.ncols) < 0)
                    return -1;
                PUSH(p, st->doc_idx, st->ndoc_idx, icap, k, -1);
            } else {
                return s_syntax(p);
            }
            if (!s_is_op(p, DRIFT_TOP_COMMA))
                break;
            if (s_next(p) < 0)
                return -1;
        }
        if (!st->doc_pk)
            return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_SYNTAX, s_cpos(p, pos0),
                                    "a DriftQL table needs pk=<field> (CREATE TABLE t (pk=id, INDEX(a)))");
        return s_expect_op(p, DRIFT_TOP_RPAREN);
    }
    for (;;) {
        uint32_t pos = p->tok.pos;
        const char *cname = NULL;
        if (s_is_kw(p, DRIFT_KW_CONSTRAINT)) {
            if (s_next(p) < 0 || !(cname = s_name(p)))
                return -1;
        }
        if (s_is_kw(p, DRIFT_KW_PRIMARY) || s_is_kw(p, DRIFT_KW_UNIQUE)) {
            int pk = s_is_kw(p, DRIFT_KW_PRIMARY);
            drift_keydef_t k = {.name = cname};
            if (s_next(p) < 0 || (pk && s_expect_kw(p, DRIFT_KW_KEY) < 0) || s_namelist(p, &k.cols, &k.ncols) < 0)
                return -1;
            if (pk) {
                int colpk = 0;
                for (uint32_t i = 0; i < st->ncoldefs; i++)
                    colpk |= st->coldefs[i].primary_key;
                if (st->primary_key || colpk)
                    return drift_sqlerr_set(p->err, SQLSTATE_INVALID_TABLE_DEF, s_cpos(p, pos),
                                            "multiple primary keys for table \"%s\" are not allowed", st->table);
                if (!(st->primary_key = s_alloc(p, sizeof *st->primary_key)))
                    return -1;
                *st->primary_key = k;
            } else {
                PUSH(p, st->uniques, st->nuniques, ucap, k, -1);
            }
        } else if (s_is_word(p, "check") || s_is_word(p, "foreign")) {
            return s_unsupported(p, p->tok.pos, s_is_word(p, "check") ? "CHECK constraints" : "FOREIGN KEY constraints",
                                 "DriftDB supports PRIMARY KEY, NOT NULL, UNIQUE and DEFAULT");
        } else if (cname) {
            return s_syntax(p);
        } else {
            drift_coldef_t c;
            if (s_coldef(p, &c) < 0)
                return -1;
            if (c.primary_key) {
                int colpk = 0;
                for (uint32_t i = 0; i < st->ncoldefs; i++)
                    colpk |= st->coldefs[i].primary_key;
                if (st->primary_key || colpk)
                    return drift_sqlerr_set(p->err, SQLSTATE_INVALID_TABLE_DEF, s_cpos(p, pos),
                                            "multiple primary keys for table \"%s\" are not allowed", st->table);
            }
            PUSH(p, st->coldefs, st->ncoldefs, ccap, c, -1);
        }
        if (!s_is_op(p, DRIFT_TOP_COMMA))
            break;
        if (s_next(p) < 0)
            return -1;
    }
    if (s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
        return -1;
    if (s_is_word(p, "without") || s_is_word(p, "strict")) /* SQLite table options */
        return s_unsupported(p, p->tok.pos, "a table option", "DriftDB tables are always keyed and typed");
    return 0;
}

/* [IF NOT EXISTS] / [IF EXISTS]. */
static int s_if_exists(s_parser_t *p, int with_not, int *ret)
{
    if (!s_is_kw(p, DRIFT_KW_IF))
        return 0;
    if (s_next(p) < 0 || (with_not && s_expect_kw(p, DRIFT_KW_NOT) < 0) || s_expect_kw(p, DRIFT_KW_EXISTS) < 0)
        return -1;
    *ret = 1;
    return 0;
}

/* CREATE ..., the CREATE keyword current. */
static int s_create(s_parser_t *p, drift_stmt_t *st)
{
    uint32_t pos0 = p->tok.pos;
    int temp = 0;
    if (s_next(p) < 0)
        return -1;
    if (s_is_kw(p, DRIFT_KW_TEMP) || s_is_kw(p, DRIFT_KW_TEMPORARY)) {
        temp = 1;
        if (s_next(p) < 0)
            return -1;
    }
    if (s_is_kw(p, DRIFT_KW_TRIGGER))
        return s_unsupported(p, pos0, "CREATE TRIGGER", "DriftDB has no triggers");
    if (s_is_word(p, "virtual"))
        return s_unsupported(p, pos0, "CREATE VIRTUAL TABLE", "DriftDB has no virtual tables");
    if (s_is_kw(p, DRIFT_KW_TABLE)) {
        if (temp)
            return s_unsupported(p, pos0, "CREATE TEMPORARY TABLE", "every DriftDB table is durable");
        st->kind = DRIFT_STMT_CREATE_TABLE;
        if (s_next(p) < 0 || s_if_exists(p, 1, &st->if_not_exists) < 0 || !(st->table = s_name(p)))
            return -1;
        if (s_is_kw(p, DRIFT_KW_AS))
            return s_unsupported(p, p->tok.pos, "CREATE TABLE ... AS SELECT",
                                 "create the table, then INSERT ... SELECT");
        return s_create_table_body(p, st);
    }
    if (s_is_kw(p, DRIFT_KW_UNIQUE) || s_is_kw(p, DRIFT_KW_INDEX)) {
        uint32_t cap = 0;
        st->kind = DRIFT_STMT_CREATE_INDEX;
        if (s_is_kw(p, DRIFT_KW_UNIQUE)) {
            st->unique = 1;
            if (s_next(p) < 0)
                return -1;
        }
        if (s_expect_kw(p, DRIFT_KW_INDEX) < 0 || s_if_exists(p, 1, &st->if_not_exists) < 0 ||
            !(st->name = s_name(p)) || s_expect_kw(p, DRIFT_KW_ON) < 0 || !(st->table = s_name(p)) ||
            s_expect_op(p, DRIFT_TOP_LPAREN) < 0)
            return -1;
        for (;;) {
            uint32_t cpos = p->tok.pos;
            const char *c = s_name(p);
            if (!c)
                return -1;
            if (s_is_op(p, DRIFT_TOP_LPAREN) ||
                (p->tok.kind == DRIFT_TOK_OP && !s_is_op(p, DRIFT_TOP_COMMA) && !s_is_op(p, DRIFT_TOP_RPAREN)))
                return s_unsupported(p, cpos, "an index on an expression", "index columns");
            if (s_is_kw(p, DRIFT_KW_COLLATE)) {
                if (s_next(p) < 0)
                    return -1;
                if (!s_is_word(p, "binary"))
                    return s_unsupported(p, p->tok.pos, "COLLATE other than BINARY", "text compares bytewise");
                if (s_next(p) < 0)
                    return -1;
            }
            if ((s_is_kw(p, DRIFT_KW_ASC) || s_is_kw(p, DRIFT_KW_DESC)) && s_next(p) < 0)
                return -1; /* an index serves both directions */
            PUSH(p, st->idx_cols, st->nidx_cols, cap, c, -1);
            if (!s_is_op(p, DRIFT_TOP_COMMA))
                break;
            if (s_next(p) < 0)
                return -1;
        }
        if (s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
            return -1;
        if (s_is_kw(p, DRIFT_KW_WHERE))
            return s_unsupported(p, p->tok.pos, "a partial index (CREATE INDEX ... WHERE)", "index the whole table");
        return 0;
    }
    if (s_is_kw(p, DRIFT_KW_VIEW)) {
        /* TEMP/TEMPORARY views are accepted and created like any view (DriftDB has no per-session schema) */
        st->kind = DRIFT_STMT_CREATE_VIEW;
        if (s_next(p) < 0 || s_if_exists(p, 1, &st->if_not_exists) < 0 || !(st->name = s_name(p)))
            return -1;
        uint32_t lparen = p->tok.pos;
        if (s_is_op(p, DRIFT_TOP_LPAREN) && s_namelist(p, &st->view_cols, &st->nview_cols) < 0)
            return -1;
        if (s_expect_kw(p, DRIFT_KW_AS) < 0)
            return -1;
        uint32_t start = p->tok.pos;
        if (!(st->select = s_select(p)) || !(st->view_text = s_srctext(p, start, p->prev_end)))
            return -1;
        if (st->nview_cols) {
            /* stored as a whole statement so that a read of the view finds its column names */
            const char *cols = s_srctext(p, lparen, start);
            if (!cols || !(st->view_text = drift_arena_printf(&p->ast->arena, "CREATE VIEW v %s %s", cols,
                                                              st->view_text)))
                return drift_sqlerr_set(p->err, "53200", 0, "out of memory");
        }
        return 0;
    }
    return s_syntax(p);
}

/* DROP TABLE|INDEX|VIEW [IF EXISTS] name. */
static int s_drop(s_parser_t *p, drift_stmt_t *st)
{
    uint32_t pos0 = p->tok.pos;
    if (s_next(p) < 0)
        return -1;
    if (s_is_kw(p, DRIFT_KW_TRIGGER))
        return s_unsupported(p, pos0, "DROP TRIGGER", "DriftDB has no triggers");
    if (s_is_kw(p, DRIFT_KW_TABLE))
        st->kind = DRIFT_STMT_DROP_TABLE;
    else if (s_is_kw(p, DRIFT_KW_INDEX))
        st->kind = DRIFT_STMT_DROP_INDEX;
    else if (s_is_kw(p, DRIFT_KW_VIEW))
        st->kind = DRIFT_STMT_DROP_VIEW;
    else
        return s_syntax(p);
    if (s_next(p) < 0 || s_if_exists(p, 0, &st->if_exists) < 0 || !(st->name = s_name(p)))
        return -1;
    if (st->kind == DRIFT_STMT_DROP_TABLE)
        st->table = st->name;
    return 0;
}

/* ALTER TABLE t ADD [COLUMN] coldef | DROP [COLUMN] c | RENAME [COLUMN] a TO b | RENAME TO n. */
static int s_alter(s_parser_t *p, drift_stmt_t *st)
{
    st->kind = DRIFT_STMT_ALTER_TABLE;
    if (s_next(p) < 0 || s_expect_kw(p, DRIFT_KW_TABLE) < 0 || !(st->table = s_name(p)))
        return -1;
    if (s_is_kw(p, DRIFT_KW_ADD)) {
        st->alter.kind = DRIFT_ALTER_ADD_COLUMN;
        if (s_next(p) < 0 || s_accept_kw(p, DRIFT_KW_COLUMN) < 0)
            return -1;
        if (s_is_kw(p, DRIFT_KW_CONSTRAINT) || s_is_kw(p, DRIFT_KW_PRIMARY) || s_is_kw(p, DRIFT_KW_UNIQUE))
            return s_unsupported(p, p->tok.pos, "ALTER TABLE ... ADD CONSTRAINT", "use CREATE UNIQUE INDEX");
        return s_coldef(p, &st->alter.coldef);
    }
    if (s_is_kw(p, DRIFT_KW_DROP)) {
        st->alter.kind = DRIFT_ALTER_DROP_COLUMN;
        if (s_next(p) < 0 || s_accept_kw(p, DRIFT_KW_COLUMN) < 0 || !(st->alter.name = s_name(p)))
            return -1;
        return 0;
    }
    if (s_is_kw(p, DRIFT_KW_RENAME)) {
        if (s_next(p) < 0)
            return -1;
        if (s_is_kw(p, DRIFT_KW_TO)) {
            st->alter.kind = DRIFT_ALTER_RENAME_TABLE;
            if (s_next(p) < 0 || !(st->alter.new_name = s_name(p)))
                return -1;
            return 0;
        }
        st->alter.kind = DRIFT_ALTER_RENAME_COLUMN;
        if (s_accept_kw(p, DRIFT_KW_COLUMN) < 0 || !(st->alter.name = s_name(p)) || s_expect_kw(p, DRIFT_KW_TO) < 0 ||
            !(st->alter.new_name = s_name(p)))
            return -1;
        return 0;
    }
    return s_syntax(p);
}

/* ------------------------------------------------------------------ DML */

/* A DriftQL document: {json}, [json] or $N. */
static drift_node_t *s_document(s_parser_t *p)
{
    if (s_is_op(p, DRIFT_TOP_LBRACE) || s_is_op(p, DRIFT_TOP_LBRACKET))
        return s_json(p);
    if (p->tok.kind == DRIFT_TOK_PARAM)
        return s_primary(p);
    s_syntax(p);
    return NULL;
}

static int s_insert_rest(s_parser_t *p, drift_stmt_t *st);

/* INSERT [OR REPLACE] [INTO] t [AS a] [(cols)] VALUES/SELECT/DEFAULT VALUES/{json}/[json]/$N; REPLACE INTO ... */
static int s_insert(s_parser_t *p, drift_stmt_t *st)
{
    uint32_t pos0 = p->tok.pos;
    st->kind = DRIFT_STMT_INSERT;
    if (s_next(p) < 0)
        return -1;
    if (s_is_kw(p, DRIFT_KW_OR)) {
        if (s_next(p) < 0)
            return -1;
        if (s_is_kw(p, DRIFT_KW_REPLACE)) {
            st->replace = 1;
            if (s_next(p) < 0)
                return -1;
            return s_insert_rest(p, st);
        }
        if (s_is_name(p) || s_is_kw(p, DRIFT_KW_ROLLBACK) || s_is_kw(p, DRIFT_KW_ABORT))
            return s_unsupported(p, pos0, "INSERT OR <conflict action>", "a conflicting INSERT fails with 23505");
        return s_syntax(p);
    }
    return s_insert_rest(p, st);
}

/* The rest of an INSERT / REPLACE after INSERT [OR REPLACE] / REPLACE: [INTO] t ... */
static int s_insert_rest(s_parser_t *p, drift_stmt_t *st)
{
    if (s_accept_kw(p, DRIFT_KW_INTO) < 0 || !(st->table = s_name(p)))
        return -1;
    if (s_is_kw(p, DRIFT_KW_AS) && (s_next(p) < 0 || !(st->alias = s_name(p))))
        return -1;
    if (s_is_op(p, DRIFT_TOP_LPAREN)) {
        const drift_tok_t *nx = s_peek(p);
        if (!nx)
            return -1;
        if (!s_starts_select(nx) && s_namelist(p, &st->cols, &st->ncols) < 0)
            return -1;
    }
    if (s_is_kw(p, DRIFT_KW_DEFAULT)) {
        if (s_next(p) < 0 || s_expect_kw(p, DRIFT_KW_VALUES) < 0)
            return -1;
        return 0; /* select and json stay NULL: one row of defaults */
    }
    if (!st->ncols &&
        (s_is_op(p, DRIFT_TOP_LBRACE) || s_is_op(p, DRIFT_TOP_LBRACKET) || p->tok.kind == DRIFT_TOK_PARAM)) {
        if (st->replace)
            return s_unsupported(p, p->tok.pos, "REPLACE of a DriftQL document", "use PATCH");
        return (st->json = s_document(p)) ? 0 : -1;
    }
    if (s_is_kw(p, DRIFT_KW_SELECT) || s_is_kw(p, DRIFT_KW_VALUES) || s_is_kw(p, DRIFT_KW_WITH) ||
        s_is_op(p, DRIFT_TOP_LPAREN)) {
        p->values_default = s_is_kw(p, DRIFT_KW_VALUES); /* DEFAULT in the rows of this VALUES only */
        st->select = s_select(p);
        p->values_default = 0;
        return st->select ? 0 : -1;
    }
    return s_syntax(p);
}

/* UPDATE t [[AS] a] SET c = e, ... [WHERE e]. */
static int s_update(s_parser_t *p, drift_stmt_t *st)
{
    uint32_t cap = 0;
    st->kind = DRIFT_STMT_UPDATE;
    if (s_next(p) < 0)
        return -1;
    if (s_is_kw(p, DRIFT_KW_OR))
        return s_unsupported(p, p->tok.pos, "UPDATE OR <conflict action>", "a conflicting UPDATE fails with 23505");
    if (!(st->table = s_name(p)))
        return -1;
    if (s_is_kw(p, DRIFT_KW_AS)) {
        if (s_next(p) < 0 || !(st->alias = s_name(p)))
            return -1;
    } else if (s_is_name(p) && !(st->alias = s_name(p))) {
        return -1;
    }
    if (s_expect_kw(p, DRIFT_KW_SET) < 0)
        return -1;
    for (;;) {
        drift_set_item_t it = {.pos = p->tok.pos};
        if (!(it.col = s_name(p)))
            return -1;
        if (s_is_op(p, DRIFT_TOP_DOT)) { /* t.col = ... (the target's own name or alias) */
            if (s_next(p) < 0 || !(it.col = s_name(p)))
                return -1;
        }
        if (s_expect_op(p, DRIFT_TOP_EQ) < 0 || !(it.expr = s_expr(p)))
            return -1;
        PUSH(p, st->sets, st->nsets, cap, it, -1);
        if (!s_is_op(p, DRIFT_TOP_COMMA))
            break;
        if (s_next(p) < 0)
            return -1;
    }
    if (s_is_kw(p, DRIFT_KW_FROM))
        return s_unsupported(p, p->tok.pos, "UPDATE ... FROM", "use a subquery in SET or WHERE");
    if (s_is_kw(p, DRIFT_KW_WHERE) && (s_next(p) < 0 || !(st->where = s_expr(p))))
        return -1;
    return 0;
}

/* DELETE FROM t [[AS] a] [WHERE e]. */
static int s_delete(s_parser_t *p, drift_stmt_t *st)
{
    st->kind = DRIFT_STMT_DELETE;
    if (s_next(p) < 0 || s_expect_kw(p, DRIFT_KW_FROM) < 0 || !(st->table = s_name(p)))
        return -1;
    if (s_is_kw(p, DRIFT_KW_AS)) {
        if (s_next(p) < 0 || !(st->alias = s_name(p)))
            return -1;
    } else if (s_is_name(p) && !s_is_kw(p, DRIFT_KW_INDEXED) && !(st->alias = s_name(p))) {
        return -1;
    }
    if (s_is_kw(p, DRIFT_KW_WHERE) && (s_next(p) < 0 || !(st->where = s_expr(p))))
        return -1;
    return 0;
}

/* KEY k | KEY (k1, k2, ...) for the DriftQL statements. */
static int s_key(s_parser_t *p, drift_stmt_t *st)
{
    if (s_expect_kw(p, DRIFT_KW_KEY) < 0)
        return -1;
    if (s_is_op(p, DRIFT_TOP_LPAREN)) {
        if (s_next(p) < 0 || s_exprlist(p, &st->key, &st->nkey, 0) < 0 || s_expect_op(p, DRIFT_TOP_RPAREN) < 0)
            return -1;
        return 0;
    }
    drift_node_t *k = s_bitexpr(p);
    if (!k || !(st->key = s_alloc(p, sizeof *st->key)))
        return -1;
    st->key[0] = k;
    st->nkey = 1;
    return 0;
}

/* ------------------------------------------------------------------ transactions */

/* BEGIN / START TRANSACTION [ISOLATION LEVEL ...]. */
static int s_begin(s_parser_t *p, drift_stmt_t *st)
{
    int start = s_is_kw(p, DRIFT_KW_START);
    st->kind = DRIFT_STMT_BEGIN;
    if (s_next(p) < 0)
        return -1;
    if (start && !s_is_kw(p, DRIFT_KW_TRANSACTION))
        return s_syntax(p);
    if (!start && (s_is_word(p, "deferred") || s_is_word(p, "immediate") || s_is_word(p, "exclusive")) &&
        s_next(p) < 0) /* SQLite's locking modes: one writer commits at a time anyway */
        return -1;
    if ((s_is_kw(p, DRIFT_KW_TRANSACTION) || s_is_kw(p, DRIFT_KW_WORK)) && s_next(p) < 0)
        return -1;
    if (!s_is_kw(p, DRIFT_KW_ISOLATION))
        return 0;
    if (s_next(p) < 0 || s_expect_kw(p, DRIFT_KW_LEVEL) < 0)
        return -1;
    if (s_is_kw(p, DRIFT_KW_SERIALIZABLE)) {
        st->isolation = DRIFT_ISOLATION_SERIALIZABLE;
    } else if (s_is_kw(p, DRIFT_KW_REPEATABLE)) {
        if (s_next(p) < 0)
            return -1;
        if (!s_is_kw(p, DRIFT_KW_READ))
            return s_syntax(p);
        st->isolation = DRIFT_ISOLATION_REPEATABLE_READ;
    } else if (s_is_kw(p, DRIFT_KW_READ)) {
        if (s_next(p) < 0)
            return -1;
        if (!s_is_kw(p, DRIFT_KW_COMMITTED) && !s_is_word(p, "uncommitted"))
            return s_syntax(p);
        st->isolation =
            DRIFT_ISOLATION_READ_COMMITTED; /* READ UNCOMMITTED behaves as READ COMMITTED, as in PostgreSQL */
    } else {
        return s_syntax(p);
    }
    return s_next(p);
}

/* ROLLBACK / ABORT [TRANSACTION|WORK] [TO [SAVEPOINT] name]. */
static int s_rollback(s_parser_t *p, drift_stmt_t *st)
{
    st->kind = DRIFT_STMT_ROLLBACK;
    if (s_next(p) < 0)
        return -1;
    if ((s_is_kw(p, DRIFT_KW_TRANSACTION) || s_is_kw(p, DRIFT_KW_WORK)) && s_next(p) < 0)
        return -1;
    if (!s_is_kw(p, DRIFT_KW_TO))
        return 0;
    if (s_next(p) < 0 || s_accept_kw(p, DRIFT_KW_SAVEPOINT) < 0 || !(st->name = s_name(p)))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ statements */

/* One statement, allocated in the arena. */
static drift_stmt_t *s_statement(s_parser_t *p);

/* The statement body for the current first token; fills st. */
/* SET name {= | TO} {on | off | true | false | default} (after SET): a session planner setting. */
static int s_set_param(s_parser_t *p, drift_stmt_t *st)
{
    st->kind = DRIFT_STMT_SET_PARAM;
    if (!(st->name = s_name(p)))
        return -1;
    if (s_is_op(p, DRIFT_TOP_EQ) || s_is_kw(p, DRIFT_KW_TO)) {
        if (s_next(p) < 0)
            return -1;
    } else {
        return s_syntax(p);
    }
    if (s_is_kw(p, DRIFT_KW_ON) || s_is_kw(p, DRIFT_KW_TRUE))
        st->set_value = 1;
    else if (s_is_word(p, "off") || s_is_kw(p, DRIFT_KW_FALSE))
        st->set_value = 0;
    else if (s_is_kw(p, DRIFT_KW_DEFAULT))
        st->set_value = -1;
    else
        return s_syntax(p);
    return s_next(p);
}

static int s_dispatch(s_parser_t *p, drift_stmt_t *st)
{
    drift_tok_t t = p->tok;
    if (s_is_op(p, DRIFT_TOP_LPAREN)) {
        st->kind = DRIFT_STMT_SELECT;
        return (st->select = s_select(p)) ? 0 : -1;
    }
    if (t.kind != DRIFT_TOK_KEYWORD) {
        if (s_is_word(p, "reset")) { /* RESET name | RESET ALL: a planner setting back to its default */
            st->kind = DRIFT_STMT_SET_PARAM;
            st->set_value = -1;
            if (s_next(p) < 0)
                return -1;
            if (s_is_kw(p, DRIFT_KW_ALL))
                return s_next(p);
            return (st->name = s_name(p)) ? 0 : -1;
        }
        if (s_is_word(p, "pragma") || s_is_word(p, "vacuum") || s_is_word(p, "attach") || s_is_word(p, "detach")) {
            char what[16];
            snprintf(what, sizeof what, "%.*s", (int)(t.text_len < 10 ? t.text_len : 10), t.text);
            for (char *w = what; *w; w++)
                *w = (char)(*w >= 'a' && *w <= 'z' ? *w - 'a' + 'A' : *w);
            return s_unsupported(p, t.pos, what, "it is an SQLite administration statement");
        }
        return s_syntax(p);
    }
    switch (t.kw) {
    case DRIFT_KW_SELECT:
    case DRIFT_KW_VALUES:
    case DRIFT_KW_WITH: st->kind = DRIFT_STMT_SELECT; return (st->select = s_select(p)) ? 0 : -1;
    case DRIFT_KW_INSERT: return s_insert(p, st);
    case DRIFT_KW_REPLACE: st->replace = 1; return s_insert(p, st);
    case DRIFT_KW_UPDATE: return s_update(p, st);
    case DRIFT_KW_DELETE: return s_delete(p, st);
    case DRIFT_KW_CREATE: return s_create(p, st);
    case DRIFT_KW_DROP: return s_drop(p, st);
    case DRIFT_KW_ALTER: return s_alter(p, st);
    case DRIFT_KW_REINDEX: return s_unsupported(p, t.pos, "REINDEX", "the indexer maintains every index");
    case DRIFT_KW_BEGIN:
    case DRIFT_KW_START: return s_begin(p, st);
    case DRIFT_KW_COMMIT:
    case DRIFT_KW_END:
        st->kind = DRIFT_STMT_COMMIT;
        if (s_next(p) < 0)
            return -1;
        if ((s_is_kw(p, DRIFT_KW_TRANSACTION) || s_is_kw(p, DRIFT_KW_WORK)) && s_next(p) < 0)
            return -1;
        return 0;
    case DRIFT_KW_ROLLBACK:
    case DRIFT_KW_ABORT: return s_rollback(p, st);
    case DRIFT_KW_SAVEPOINT: st->kind = DRIFT_STMT_SAVEPOINT; return s_next(p) < 0 || !(st->name = s_name(p)) ? -1 : 0;
    case DRIFT_KW_RELEASE:
        st->kind = DRIFT_STMT_RELEASE;
        if (s_next(p) < 0 || s_accept_kw(p, DRIFT_KW_SAVEPOINT) < 0)
            return -1;
        return (st->name = s_name(p)) ? 0 : -1;
    case DRIFT_KW_SET:
        st->kind = DRIFT_STMT_SET_AS_OF;
        if (s_next(p) < 0)
            return -1;
        if (p->tok.kind == DRIFT_TOK_IDENT && p->tok.text_len > 7 && strncasecmp(p->tok.text, "enable_", 7) == 0)
            return s_set_param(p, st); /* SET enable_* = on|off (planner settings); anything else is SET AS OF */
        if (s_expect_kw(p, DRIFT_KW_AS) < 0 || s_expect_kw(p, DRIFT_KW_OF) < 0)
            return -1;
        return s_tpoint(p, &st->point);
    case DRIFT_KW_EXPLAIN: {
        st->kind = DRIFT_STMT_EXPLAIN;
        if (s_next(p) < 0)
            return -1;
        if (s_is_kw(p, DRIFT_KW_ANALYZE)) {
            st->analyze = 1;
            if (s_next(p) < 0)
                return -1;
        } else if (s_is_word(p, "query")) { /* SQLite's EXPLAIN QUERY PLAN */
            if (s_next(p) < 0)
                return -1;
            if (!s_is_word(p, "plan"))
                return s_syntax(p);
            if (s_next(p) < 0)
                return -1;
        }
        if (s_is_kw(p, DRIFT_KW_EXPLAIN))
            return s_syntax(p);
        if (s_enter(p) < 0 || !(st->inner = s_statement(p)))
            return -1;
        p->depth--;
        return 0;
    }
    case DRIFT_KW_ANALYZE:
        st->kind = DRIFT_STMT_ANALYZE;
        if (s_next(p) < 0)
            return -1;
        if (s_is_name(p) && !(st->table = s_name(p)))
            return -1;
        return 0;
    case DRIFT_KW_PATCH:
        st->kind = DRIFT_STMT_PATCH;
        if (s_next(p) < 0 || !(st->table = s_name(p)) || s_key(p, st) < 0 || s_expect_kw(p, DRIFT_KW_SET) < 0 ||
            !(st->patch = s_document(p)))
            return -1;
        return 0;
    case DRIFT_KW_SOFT:
        st->kind = DRIFT_STMT_SOFT_DELETE;
        if (s_next(p) < 0 || s_expect_kw(p, DRIFT_KW_DELETE) < 0 || s_expect_kw(p, DRIFT_KW_FROM) < 0 ||
            !(st->table = s_name(p)) || s_key(p, st) < 0)
            return -1;
        return 0;
    case DRIFT_KW_SHOW:
        if (s_next(p) < 0)
            return -1;
        if (s_is_word(p, "tables")) {
            st->kind = DRIFT_STMT_SHOW_TABLES;
            return s_next(p);
        }
        if (!s_is_kw(p, DRIFT_KW_DRIFT))
            return s_syntax(p);
        st->kind = DRIFT_STMT_SHOW_DRIFT;
        if (s_next(p) < 0 || !(st->table = s_name(p)) || s_key(p, st) < 0)
            return -1;
        return 0;
    case DRIFT_KW_SNAPSHOT:
    case DRIFT_KW_COMPACT:
        st->kind = t.kw == DRIFT_KW_SNAPSHOT ? DRIFT_STMT_SNAPSHOT : DRIFT_STMT_COMPACT;
        if (s_next(p) < 0)
            return -1;
        if (s_accept_kw(p, DRIFT_KW_TABLE) < 0)
            return -1;
        return (st->table = s_name(p)) ? 0 : -1;
    default: return s_syntax(p);
    }
}

/* One statement, allocated in the arena. */
static drift_stmt_t *s_statement(s_parser_t *p)
{
    drift_stmt_t *st = s_alloc(p, sizeof *st);
    if (!st)
        return NULL;
    st->pos = p->tok.pos;
    if (s_dispatch(p, st) < 0)
        return NULL;
    st->max_param = p->max_param;
    return st;
}

/* Parses one statement (see parser.h). */
int drift_parse(const char *sql, size_t len, drift_ast_t **ret_ast, drift_sqlerr_t *err)
{
    drift_ast_t *ast = calloc(1, sizeof *ast);
    *ret_ast = NULL;
    if (!ast || !(ast->lex = drift_lexer_new(sql, len))) {
        free(ast);
        return drift_sqlerr_set(err, SQLSTATE_OOM, 0, "out of memory");
    }
    s_parser_t p = {.ast = ast, .src = sql, .len = len, .err = err};
    int rc = -1;
    if (s_next(&p) < 0)
        goto out;
    if (p.tok.kind == DRIFT_TOK_EOF || s_is_op(&p, DRIFT_TOP_SEMI)) {
        drift_sqlerr_set(err, DRIFT_SQLSTATE_SYNTAX, s_cpos(&p, p.tok.pos), "empty statement");
        goto out;
    }
    if (!(ast->stmt = s_statement(&p)))
        goto out;
    if (s_is_op(&p, DRIFT_TOP_SEMI) && s_next(&p) < 0)
        goto out;
    if (p.tok.kind != DRIFT_TOK_EOF) {
        s_syntax(&p);
        goto out;
    }
    ast->stmt->max_param = p.max_param;
    rc = 0;
out:
    if (rc < 0)
        drift_ast_destroy(&ast);
    *ret_ast = ast;
    return rc;
}

/* The parsed statement (see parser.h). */
drift_stmt_t *drift_ast_stmt(const drift_ast_t *ast)
{
    return ast->stmt;
}

/* Frees the arena and the lexer with its decoded texts. */
void drift_ast_destroy(drift_ast_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    drift_ast_t *a = *self_p;
    drift_arena_free(&a->arena);
    drift_lexer_destroy(&a->lex);
    free(a);
    *self_p = NULL;
}
