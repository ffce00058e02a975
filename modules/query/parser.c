/* modules/query/parser.c — see parser.h. Precedence, lowest first:
 * OR, AND, NOT, comparison (= <> < <= > >= IS [NOT] NULL), + -, * / %, ||,
 * unary + -, primary. */
#include "modules/query/parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/proto.h"

typedef struct s_block {
    struct s_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} s_block_t;

struct drift_ast {
    drift_lexer_t *lex; /* decoded token texts live here */
    s_block_t *blocks;
    drift_stmt_t stmt;
};

typedef struct {
    drift_ast_t *ast;
    const char *src;
    size_t len;
    drift_tok_t tok; /* current token */
    drift_sqlerr_t *err;
    int depth;
} s_parser_t;

#define MAX_EXPR_DEPTH 200

/* Allocates n zeroed bytes in the AST arena. */
static void *s_alloc(drift_ast_t *ast, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    s_block_t *b = ast->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = ast->blocks;
        ast->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static uint32_t s_cpos(s_parser_t *p, uint32_t bytepos)
{
    return drift_lexer_charpos(p->src, p->len, bytepos);
}

/* Describes the current token for messages. */
static void s_tokdesc(s_parser_t *p, char *buf, size_t cap)
{
    const drift_tok_t *t = &p->tok;
    if (t->kind == DRIFT_TOK_EOF)
        snprintf(buf, cap, "end of input");
    else
        snprintf(buf, cap, "\"%.*s\"", (int)(t->len > 40 ? 40 : t->len), p->src + t->pos);
}

static int s_syntax(s_parser_t *p, const char *expect)
{
    char d[64];
    s_tokdesc(p, d, sizeof d);
    return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_SYNTAX, s_cpos(p, p->tok.pos), "syntax error at %s%s%s", d,
                            expect ? ": expected " : "", expect ? expect : "");
}

static int s_next(s_parser_t *p)
{
    char msg[200];
    uint32_t pos = 0;
    if (drift_lexer_next(p->ast->lex, &p->tok, msg, sizeof msg, &pos) < 0)
        return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_SYNTAX, s_cpos(p, pos), "%s", msg);
    return 0;
}

static int s_is_op(s_parser_t *p, drift_tok_op_t op)
{
    return p->tok.kind == DRIFT_TOK_OP && p->tok.op == op;
}

static int s_is_kw(s_parser_t *p, drift_kw_t kw)
{
    return p->tok.kind == DRIFT_TOK_KEYWORD && p->tok.kw == kw;
}

static drift_node_t *s_node(s_parser_t *p, drift_ast_kind_t kind, uint32_t pos)
{
    drift_node_t *n = s_alloc(p->ast, sizeof *n);
    if (!n) {
        drift_sqlerr_set(p->err, "53200", 0, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->pos = pos;
    return n;
}

static drift_node_t *s_expr(s_parser_t *p);

/* An identifier token as a NUL-terminated arena string: unquoted ones folded to lower case. */
static const char *s_ident(s_parser_t *p, const drift_tok_t *t)
{
    char *out = s_alloc(p->ast, t->text_len + 1);
    if (!out) {
        drift_sqlerr_set(p->err, "53200", 0, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < t->text_len; i++) {
        char c = t->text[i];
        out[i] = t->kind == DRIFT_TOK_QIDENT || c < 'A' || c > 'Z' ? c : (char)(c - 'A' + 'a');
    }
    return out;
}

/* The binary operator of an operator token. */
static drift_bop_t s_bop(drift_tok_op_t op)
{
    switch (op) {
    case DRIFT_TOP_PLUS: return DRIFT_BOP_ADD;
    case DRIFT_TOP_MINUS: return DRIFT_BOP_SUB;
    case DRIFT_TOP_STAR: return DRIFT_BOP_MUL;
    case DRIFT_TOP_SLASH: return DRIFT_BOP_DIV;
    case DRIFT_TOP_PERCENT: return DRIFT_BOP_MOD;
    case DRIFT_TOP_CONCAT: return DRIFT_BOP_CONCAT;
    case DRIFT_TOP_EQ: return DRIFT_BOP_EQ;
    case DRIFT_TOP_NE: return DRIFT_BOP_NE;
    case DRIFT_TOP_LT: return DRIFT_BOP_LT;
    case DRIFT_TOP_LE: return DRIFT_BOP_LE;
    case DRIFT_TOP_GT: return DRIFT_BOP_GT;
    case DRIFT_TOP_GE: return DRIFT_BOP_GE;
    default: return (drift_bop_t)0;
    }
}

static drift_node_t *s_primary(s_parser_t *p)
{
    drift_tok_t t = p->tok;
    drift_node_t *n = NULL;
    switch (t.kind) {
    case DRIFT_TOK_INTEGER:
    case DRIFT_TOK_REAL:
    case DRIFT_TOK_STRING:
    case DRIFT_TOK_BLOB:
        if (!(n = s_node(p, DRIFT_AST_LITERAL, t.pos)))
            return NULL;
        if (t.kind == DRIFT_TOK_INTEGER) {
            n->value.type = DRIFT_VAL_INT;
            n->value.u.i = t.ival;
        } else if (t.kind == DRIFT_TOK_REAL) {
            n->value.type = DRIFT_VAL_REAL;
            n->value.u.r = t.rval;
        } else {
            n->value.type = t.kind == DRIFT_TOK_STRING ? DRIFT_VAL_TEXT : DRIFT_VAL_BLOB;
            n->value.u.s.p = t.text;
            n->value.u.s.n = t.text_len;
        }
        break;
    case DRIFT_TOK_PARAM:
        if (!(n = s_node(p, DRIFT_AST_PARAM, t.pos)))
            return NULL;
        n->param = (uint32_t)t.ival;
        if (n->param > p->ast->stmt.max_param)
            p->ast->stmt.max_param = n->param;
        break;
    case DRIFT_TOK_KEYWORD:
        if (t.kw == DRIFT_KW_NULL || t.kw == DRIFT_KW_TRUE || t.kw == DRIFT_KW_FALSE) {
            if (!(n = s_node(p, DRIFT_AST_LITERAL, t.pos)))
                return NULL;
            n->value.type = t.kw == DRIFT_KW_NULL ? DRIFT_VAL_NULL : DRIFT_VAL_BOOL;
            n->value.u.b = t.kw == DRIFT_KW_TRUE;
            break;
        }
        if (t.kw == DRIFT_KW_CASE || t.kw == DRIFT_KW_CAST || t.kw == DRIFT_KW_EXISTS || t.kw == DRIFT_KW_SELECT) {
            drift_sqlerr_set(p->err, DRIFT_SQLSTATE_NOT_SUPPORTED, s_cpos(p, t.pos),
                             "%s expressions are not supported yet", drift_kw_name(t.kw));
            return NULL;
        }
        s_syntax(p, "an expression");
        return NULL;
    case DRIFT_TOK_IDENT:
    case DRIFT_TOK_QIDENT:
        if (!(n = s_node(p, DRIFT_AST_COLUMN, t.pos)))
            return NULL;
        if (!(n->name = s_ident(p, &t)))
            return NULL;
        if (s_next(p) < 0)
            return NULL;
        if (s_is_op(p, DRIFT_TOP_LPAREN)) {
            drift_sqlerr_set(p->err, DRIFT_SQLSTATE_UNDEF_FUNCTION, s_cpos(p, t.pos), "function %.*s() does not exist",
                             (int)(t.text_len > 64 ? 64 : t.text_len), t.text);
            return NULL;
        }
        return n;
    case DRIFT_TOK_OP:
        if (t.op == DRIFT_TOP_LPAREN) {
            if (s_next(p) < 0)
                return NULL;
            n = s_expr(p);
            if (!n)
                return NULL;
            if (!s_is_op(p, DRIFT_TOP_RPAREN)) {
                s_syntax(p, "\")\"");
                return NULL;
            }
            break;
        }
        s_syntax(p, "an expression");
        return NULL;
    default: s_syntax(p, "an expression"); return NULL;
    }
    if (s_next(p) < 0)
        return NULL;
    return n;
}

static drift_node_t *s_unary(s_parser_t *p)
{
    if (s_is_op(p, DRIFT_TOP_MINUS) || s_is_op(p, DRIFT_TOP_PLUS)) {
        drift_tok_t t = p->tok;
        if (++p->depth > MAX_EXPR_DEPTH) {
            drift_sqlerr_set(p->err, "54001", s_cpos(p, t.pos), "expression nested too deeply");
            return NULL;
        }
        if (s_next(p) < 0)
            return NULL;
        drift_node_t *o = s_unary(p);
        p->depth--;
        if (!o)
            return NULL;
        /* fold -<literal>, so that -9223372036854775808 is an integer */
        if (t.op == DRIFT_TOP_MINUS && o->kind == DRIFT_AST_LITERAL && o->pos == t.pos + 1) {
            if (o->value.type == DRIFT_VAL_REAL && o->value.u.r == 9223372036854775808.0) {
                o->value.type = DRIFT_VAL_INT;
                o->value.u.i = INT64_MIN;
                o->pos = t.pos;
                return o;
            }
        }
        drift_node_t *n = s_node(p, DRIFT_AST_UNARY, t.pos);
        if (!n)
            return NULL;
        n->op = t.op;
        n->l = o;
        return n;
    }
    return s_primary(p);
}

/* One binary precedence level: operand (op operand)* for the ops in ops[]. */
static drift_node_t *s_binary(s_parser_t *p, drift_node_t *(*operand)(s_parser_t *), const drift_tok_op_t *ops,
                              size_t nops)
{
    drift_node_t *l = operand(p);
    while (l && p->tok.kind == DRIFT_TOK_OP) {
        size_t k;
        for (k = 0; k < nops && ops[k] != p->tok.op; k++)
            ;
        if (k == nops)
            break;
        drift_node_t *n = s_node(p, DRIFT_AST_BINARY, p->tok.pos);
        if (!n || s_next(p) < 0)
            return NULL;
        n->bop = s_bop(ops[k]);
        n->l = l;
        if (!(n->r = operand(p)))
            return NULL;
        l = n;
    }
    return l;
}

static drift_node_t *s_concat(s_parser_t *p)
{
    static const drift_tok_op_t ops[] = {DRIFT_TOP_CONCAT};
    return s_binary(p, s_unary, ops, 1);
}

static drift_node_t *s_mul(s_parser_t *p)
{
    static const drift_tok_op_t ops[] = {DRIFT_TOP_STAR, DRIFT_TOP_SLASH, DRIFT_TOP_PERCENT};
    return s_binary(p, s_concat, ops, 3);
}

static drift_node_t *s_add(s_parser_t *p)
{
    static const drift_tok_op_t ops[] = {DRIFT_TOP_PLUS, DRIFT_TOP_MINUS};
    return s_binary(p, s_mul, ops, 2);
}

static drift_node_t *s_cmp(s_parser_t *p)
{
    static const drift_tok_op_t ops[] = {DRIFT_TOP_EQ, DRIFT_TOP_NE, DRIFT_TOP_LT,
                                         DRIFT_TOP_LE, DRIFT_TOP_GT, DRIFT_TOP_GE};
    drift_node_t *l = s_binary(p, s_add, ops, 6);
    while (l && s_is_kw(p, DRIFT_KW_IS)) {
        drift_node_t *n = s_node(p, DRIFT_AST_ISNULL, p->tok.pos);
        if (!n || s_next(p) < 0)
            return NULL;
        if (s_is_kw(p, DRIFT_KW_NOT)) {
            n->negate = 1;
            if (s_next(p) < 0)
                return NULL;
        }
        if (!s_is_kw(p, DRIFT_KW_NULL)) {
            s_syntax(p, "NULL after IS [NOT]");
            return NULL;
        }
        if (s_next(p) < 0)
            return NULL;
        n->l = l;
        l = n;
    }
    return l;
}

static drift_node_t *s_not(s_parser_t *p)
{
    if (s_is_kw(p, DRIFT_KW_NOT)) {
        drift_node_t *n = s_node(p, DRIFT_AST_NOT, p->tok.pos);
        if (!n || s_next(p) < 0)
            return NULL;
        if (++p->depth > MAX_EXPR_DEPTH) {
            drift_sqlerr_set(p->err, "54001", s_cpos(p, n->pos), "expression nested too deeply");
            return NULL;
        }
        n->l = s_not(p);
        p->depth--;
        return n->l ? n : NULL;
    }
    return s_cmp(p);
}

static drift_node_t *s_and(s_parser_t *p)
{
    drift_node_t *l = s_not(p);
    while (l && s_is_kw(p, DRIFT_KW_AND)) {
        drift_node_t *n = s_node(p, DRIFT_AST_AND, p->tok.pos);
        if (!n || s_next(p) < 0)
            return NULL;
        n->l = l;
        if (!(n->r = s_not(p)))
            return NULL;
        l = n;
    }
    return l;
}

static drift_node_t *s_expr(s_parser_t *p)
{
    if (++p->depth > MAX_EXPR_DEPTH) {
        drift_sqlerr_set(p->err, "54001", s_cpos(p, p->tok.pos), "expression nested too deeply");
        return NULL;
    }
    drift_node_t *l = s_and(p);
    while (l && s_is_kw(p, DRIFT_KW_OR)) {
        drift_node_t *n = s_node(p, DRIFT_AST_OR, p->tok.pos);
        if (!n || s_next(p) < 0)
            return NULL;
        n->l = l;
        if (!(n->r = s_and(p)))
            return NULL;
        l = n;
    }
    p->depth--;
    return l;
}

/* Copies [a, b) of the source, trimmed, into the arena as a NUL-terminated string. */
static const char *s_srcdup(s_parser_t *p, const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    char *out = s_alloc(p->ast, n + 1);
    if (out)
        memcpy(out, s, n);
    return out;
}

static int s_select(s_parser_t *p)
{
    drift_stmt_t *stmt = &p->ast->stmt;
    stmt->kind = DRIFT_STMT_SELECT;
    drift_select_t *st = s_alloc(p->ast, sizeof *st);
    if (!st)
        return drift_sqlerr_set(p->err, "53200", 0, "out of memory");
    st->pos = p->tok.pos;
    stmt->select = st;
    uint32_t cap = 0;
    if (s_next(p) < 0)
        return -1;
    if (s_is_kw(p, DRIFT_KW_DISTINCT) || s_is_kw(p, DRIFT_KW_ALL))
        return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_NOT_SUPPORTED, s_cpos(p, p->tok.pos),
                                "SELECT %s is not supported yet", drift_kw_name(p->tok.kw));
    if (s_is_op(p, DRIFT_TOP_STAR))
        return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_NOT_SUPPORTED, s_cpos(p, p->tok.pos),
                                "SELECT * needs FROM, which is not supported yet");
    for (;;) {
        uint32_t start = p->tok.pos;
        drift_node_t *e = s_expr(p);
        if (!e)
            return -1;
        uint32_t end = p->tok.pos;
        const char *alias = NULL, *text = s_srcdup(p, p->src + start, end - start);
        int has_as = 0;
        if (!text)
            return -1;
        if (s_is_kw(p, DRIFT_KW_AS)) {
            has_as = 1;
            if (s_next(p) < 0)
                return -1;
            if (p->tok.kind != DRIFT_TOK_IDENT && p->tok.kind != DRIFT_TOK_QIDENT && p->tok.kind != DRIFT_TOK_STRING)
                return s_syntax(p, "a column alias after AS");
        }
        if (p->tok.kind == DRIFT_TOK_IDENT || p->tok.kind == DRIFT_TOK_QIDENT ||
            (has_as && p->tok.kind == DRIFT_TOK_STRING)) {
            alias = p->tok.kind == DRIFT_TOK_STRING ? s_srcdup(p, p->tok.text, p->tok.text_len) : s_ident(p, &p->tok);
            if (!alias || s_next(p) < 0)
                return -1;
        }
        if (st->nitems == cap) {
            cap = cap ? cap * 2 : 8;
            drift_select_item_t *items = s_alloc(p->ast, cap * sizeof *items);
            if (!items)
                return drift_sqlerr_set(p->err, "53200", 0, "out of memory");
            if (st->nitems)
                memcpy(items, st->items, st->nitems * sizeof *items);
            st->items = items;
        }
        st->items[st->nitems].expr = e;
        st->items[st->nitems].alias = alias;
        st->items[st->nitems].text = text;
        st->nitems++;
        if (!s_is_op(p, DRIFT_TOP_COMMA))
            break;
        if (s_next(p) < 0)
            return -1;
    }
    if (s_is_kw(p, DRIFT_KW_FROM))
        return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_NOT_SUPPORTED, s_cpos(p, p->tok.pos),
                                "SELECT ... FROM is not supported yet (tables arrive with the SQL engine)");
    if (p->tok.kind == DRIFT_TOK_KEYWORD &&
        (p->tok.kw == DRIFT_KW_WHERE || p->tok.kw == DRIFT_KW_GROUP || p->tok.kw == DRIFT_KW_ORDER ||
         p->tok.kw == DRIFT_KW_LIMIT || p->tok.kw == DRIFT_KW_UNION || p->tok.kw == DRIFT_KW_HAVING ||
         p->tok.kw == DRIFT_KW_OFFSET))
        return drift_sqlerr_set(p->err, DRIFT_SQLSTATE_NOT_SUPPORTED, s_cpos(p, p->tok.pos),
                                "SELECT ... %s is not supported yet", drift_kw_name(p->tok.kw));
    return 0;
}

/* BEGIN / START TRANSACTION / COMMIT / END / ROLLBACK / ABORT, current token = the first keyword. */
static int s_txn(s_parser_t *p)
{
    drift_stmt_t *st = &p->ast->stmt;
    drift_kw_t kw = p->tok.kw;
    st->kind = kw == DRIFT_KW_BEGIN || kw == DRIFT_KW_START  ? DRIFT_STMT_BEGIN
               : kw == DRIFT_KW_COMMIT || kw == DRIFT_KW_END ? DRIFT_STMT_COMMIT
                                                             : DRIFT_STMT_ROLLBACK;
    if (s_next(p) < 0)
        return -1;
    if (kw == DRIFT_KW_START && !s_is_kw(p, DRIFT_KW_TRANSACTION))
        return s_syntax(p, "TRANSACTION after START");
    if (s_is_kw(p, DRIFT_KW_TRANSACTION) || s_is_kw(p, DRIFT_KW_WORK)) {
        if (s_next(p) < 0)
            return -1;
    }
    if (st->kind != DRIFT_STMT_BEGIN || !s_is_kw(p, DRIFT_KW_ISOLATION))
        return 0;
    if (s_next(p) < 0)
        return -1;
    if (!s_is_kw(p, DRIFT_KW_LEVEL))
        return s_syntax(p, "LEVEL after ISOLATION");
    if (s_next(p) < 0)
        return -1;
    if (s_is_kw(p, DRIFT_KW_SERIALIZABLE)) {
        st->isolation = DRIFT_ISOLATION_SERIALIZABLE;
    } else if (s_is_kw(p, DRIFT_KW_REPEATABLE) || s_is_kw(p, DRIFT_KW_READ)) {
        int rr = s_is_kw(p, DRIFT_KW_REPEATABLE);
        if (s_next(p) < 0)
            return -1;
        if (rr ? !s_is_kw(p, DRIFT_KW_READ) : !s_is_kw(p, DRIFT_KW_COMMITTED))
            return s_syntax(p, rr ? "READ after REPEATABLE" : "COMMITTED after READ");
        st->isolation = rr ? DRIFT_ISOLATION_REPEATABLE_READ : DRIFT_ISOLATION_READ_COMMITTED;
    } else {
        return s_syntax(p, "READ COMMITTED, REPEATABLE READ or SERIALIZABLE");
    }
    return s_next(p);
}

int drift_parse(const char *sql, size_t len, drift_ast_t **ret_ast, drift_sqlerr_t *err)
{
    drift_ast_t *ast = calloc(1, sizeof *ast);
    if (!ast || !(ast->lex = drift_lexer_new(sql, len))) {
        free(ast);
        return drift_sqlerr_set(err, "53200", 0, "out of memory");
    }
    s_parser_t p = {.ast = ast, .src = sql, .len = len, .err = err};
    int rc = -1;
    if (s_next(&p) < 0)
        goto out;
    if (p.tok.kind == DRIFT_TOK_EOF || s_is_op(&p, DRIFT_TOP_SEMI)) {
        drift_sqlerr_set(err, DRIFT_SQLSTATE_SYNTAX, s_cpos(&p, p.tok.pos), "empty statement");
        goto out;
    }
    if (p.tok.kind != DRIFT_TOK_KEYWORD) {
        s_syntax(&p, "a statement");
        goto out;
    }
    switch (p.tok.kw) {
    case DRIFT_KW_SELECT:
        if (s_select(&p) < 0)
            goto out;
        break;
    case DRIFT_KW_BEGIN:
    case DRIFT_KW_START:
    case DRIFT_KW_COMMIT:
    case DRIFT_KW_END:
    case DRIFT_KW_ROLLBACK:
    case DRIFT_KW_ABORT:
        if (s_txn(&p) < 0)
            goto out;
        break;
    case DRIFT_KW_INSERT:
    case DRIFT_KW_UPDATE:
    case DRIFT_KW_DELETE:
    case DRIFT_KW_CREATE:
    case DRIFT_KW_DROP:
    case DRIFT_KW_ALTER:
    case DRIFT_KW_SAVEPOINT:
    case DRIFT_KW_SHOW:
    case DRIFT_KW_EXPLAIN:
    case DRIFT_KW_ANALYZE:
    case DRIFT_KW_WITH:
    case DRIFT_KW_VALUES:
    case DRIFT_KW_PATCH:
    case DRIFT_KW_SOFT:
    case DRIFT_KW_SNAPSHOT:
    case DRIFT_KW_COMPACT:
    case DRIFT_KW_SET:
        drift_sqlerr_set(err, DRIFT_SQLSTATE_NOT_SUPPORTED, s_cpos(&p, p.tok.pos), "%s is not supported yet",
                         drift_kw_name(p.tok.kw));
        goto out;
    default: s_syntax(&p, "a statement"); goto out;
    }
    if (s_is_op(&p, DRIFT_TOP_SEMI) && s_next(&p) < 0)
        goto out;
    if (p.tok.kind != DRIFT_TOK_EOF) {
        s_syntax(&p, "end of statement (one statement per request)");
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        drift_ast_destroy(&ast);
    *ret_ast = ast;
    return rc;
}

drift_stmt_t *drift_ast_stmt(const drift_ast_t *ast)
{
    return (drift_stmt_t *)&ast->stmt;
}

void drift_ast_destroy(drift_ast_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    drift_ast_t *a = *self_p;
    s_block_t *b = a->blocks;
    while (b) {
        s_block_t *n = b->next;
        free(b);
        b = n;
    }
    drift_lexer_destroy(&a->lex);
    free(a);
    *self_p = NULL;
}
