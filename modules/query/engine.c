/* modules/query/engine.c — see engine.h. Evaluates the AST of parser.h.
 * Value semantics follow SQLite where it is unambiguous (integer division
 * truncates, integer op real gives real, NULL propagates, 0/nonzero integers
 * act as booleans) and PostgreSQL where SQLite is silently lossy (integer
 * overflow and division by zero are errors, text in arithmetic is 42883).
 * Single-threaded; a statement's temporary strings live in a per-call list. */
#include "modules/query/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/proto.h"
#include "modules/query/parser.h"

struct drift_engine {
    drift_ctl_header_t *hdr;
};

struct drift_session {
    drift_engine_t *engine;
    uint64_t id;
    drift_txn_state_t txn;
    uint64_t snapshot_seq; /* fixed at BEGIN: reads inside the transaction see this seq */
    drift_isolation_t isolation;
};

typedef struct s_tmp {
    struct s_tmp *next;
    char data[];
} s_tmp_t;

typedef struct {
    const char *sql;
    size_t sql_len;
    const msgpack_object *params;
    drift_sqlerr_t *err;
    s_tmp_t *tmp;
} s_eval_t;

const char *drift_val_type_name(drift_val_type_t t)
{
    static const char *const n[] = {"NULL", "INTEGER", "REAL", "TEXT", "BOOLEAN", "BLOB", "JSON"};
    return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "NULL";
}

int drift_sqlerr_set(drift_sqlerr_t *e, const char *code, uint32_t position, const char *fmt, ...)
{
    if (!e)
        return -1;
    snprintf(e->code, sizeof e->code, "%s", code);
    e->position = position;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

drift_engine_t *drift_engine_new(drift_ctl_header_t *hdr)
{
    drift_engine_t *e = calloc(1, sizeof *e);
    if (e)
        e->hdr = hdr;
    return e;
}

void drift_engine_destroy(drift_engine_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

drift_session_t *drift_session_new(drift_engine_t *engine, uint64_t id)
{
    drift_session_t *s = calloc(1, sizeof *s);
    if (s) {
        s->engine = engine;
        s->id = id;
    }
    return s;
}

void drift_session_destroy(drift_session_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    /* No transactions exist yet; the SQL issue rolls back an open one here. */
    free(*self_p);
    *self_p = NULL;
}

drift_txn_state_t drift_session_txn(const drift_session_t *s)
{
    return s ? s->txn : DRIFT_TXN_IDLE;
}

const char *drift_txn_name(drift_txn_state_t t)
{
    switch (t) {
    case DRIFT_TXN_OPEN: return "open";
    case DRIFT_TXN_FAILED: return "failed";
    default: return "idle";
    }
}

static uint32_t s_cpos(s_eval_t *ev, uint32_t bytepos)
{
    return drift_lexer_charpos(ev->sql, ev->sql_len, bytepos);
}

/* Converts parameter $n (1-based) to a value. */
static int s_param(s_eval_t *ev, const drift_node_t *n, drift_value_t *out)
{
    uint32_t np = ev->params ? ev->params->via.array.size : 0;
    if (n->param > np)
        return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_WRONG_PARAMS, s_cpos(ev, n->pos),
                                "there is no parameter $%u (%u given)", n->param, np);
    const msgpack_object *o = &ev->params->via.array.ptr[n->param - 1];
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: out->type = DRIFT_VAL_NULL; break;
    case MSGPACK_OBJECT_BOOLEAN:
        out->type = DRIFT_VAL_BOOL;
        out->u.b = o->via.boolean;
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX)
            return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_OUT_OF_RANGE, s_cpos(ev, n->pos),
                                    "parameter $%u is out of the 64-bit integer range", n->param);
        out->type = DRIFT_VAL_INT;
        out->u.i = (int64_t)o->via.u64;
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        out->type = DRIFT_VAL_INT;
        out->u.i = o->via.i64;
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        out->type = DRIFT_VAL_REAL;
        out->u.r = o->via.f64;
        break;
    case MSGPACK_OBJECT_STR:
        out->type = DRIFT_VAL_TEXT;
        out->u.s.p = o->via.str.ptr;
        out->u.s.n = o->via.str.size;
        break;
    case MSGPACK_OBJECT_BIN:
        out->type = DRIFT_VAL_BLOB;
        out->u.s.p = o->via.bin.ptr;
        out->u.s.n = o->via.bin.size;
        break;
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        out->type = DRIFT_VAL_JSON;
        out->u.json = o;
        break;
    default:
        return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_BAD_VALUE, s_cpos(ev, n->pos),
                                "parameter $%u has an unsupported MessagePack type", n->param);
    }
    return 0;
}

/* Truth value: 1, 0, or -1 for NULL; -2 (error set) for a non-boolean. */
static int s_truth(s_eval_t *ev, const drift_value_t *v, const drift_node_t *n, const char *what)
{
    switch (v->type) {
    case DRIFT_VAL_NULL: return -1;
    case DRIFT_VAL_BOOL: return v->u.b ? 1 : 0;
    case DRIFT_VAL_INT: return v->u.i != 0;
    case DRIFT_VAL_REAL: return v->u.r != 0.0;
    default:
        drift_sqlerr_set(ev->err, "42804", s_cpos(ev, n->pos), "argument of %s must be boolean, not %s", what,
                         drift_val_type_name(v->type));
        return -2;
    }
}

static int s_is_num(const drift_value_t *v)
{
    return v->type == DRIFT_VAL_INT || v->type == DRIFT_VAL_REAL;
}

static double s_real(const drift_value_t *v)
{
    return v->type == DRIFT_VAL_INT ? (double)v->u.i : v->u.r;
}

static int s_eval(s_eval_t *ev, const drift_node_t *n, drift_value_t *out);

static int s_arith(s_eval_t *ev, const drift_node_t *n, const drift_value_t *a, const drift_value_t *b,
                   drift_value_t *out)
{
    if (!s_is_num(a) || !s_is_num(b))
        return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_UNDEF_FUNCTION, s_cpos(ev, n->pos),
                                "operator does not exist: %s %s %s", drift_val_type_name(a->type), drift_op_text(n->op),
                                drift_val_type_name(b->type));
    if (a->type == DRIFT_VAL_INT && b->type == DRIFT_VAL_INT) {
        int64_t x = a->u.i, y = b->u.i, r = 0;
        int ovf = 0;
        switch (n->op) {
        case DRIFT_TOP_PLUS: ovf = __builtin_add_overflow(x, y, &r); break;
        case DRIFT_TOP_MINUS: ovf = __builtin_sub_overflow(x, y, &r); break;
        case DRIFT_TOP_STAR: ovf = __builtin_mul_overflow(x, y, &r); break;
        case DRIFT_TOP_SLASH:
        case DRIFT_TOP_PERCENT:
            if (y == 0)
                return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_DIV_ZERO, s_cpos(ev, n->pos), "division by zero");
            if (x == INT64_MIN && y == -1) {
                if (n->op == DRIFT_TOP_SLASH)
                    ovf = 1;
                else
                    r = 0;
            } else {
                r = n->op == DRIFT_TOP_SLASH ? x / y : x % y;
            }
            break;
        default: break;
        }
        if (ovf)
            return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_OUT_OF_RANGE, s_cpos(ev, n->pos), "integer out of range");
        out->type = DRIFT_VAL_INT;
        out->u.i = r;
        return 0;
    }
    double x = s_real(a), y = s_real(b), r = 0;
    switch (n->op) {
    case DRIFT_TOP_PLUS: r = x + y; break;
    case DRIFT_TOP_MINUS: r = x - y; break;
    case DRIFT_TOP_STAR: r = x * y; break;
    case DRIFT_TOP_SLASH:
    case DRIFT_TOP_PERCENT:
        if (y == 0.0)
            return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_DIV_ZERO, s_cpos(ev, n->pos), "division by zero");
        r = n->op == DRIFT_TOP_SLASH ? x / y : fmod(x, y);
        break;
    default: break;
    }
    if (!isfinite(r))
        return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_OUT_OF_RANGE, s_cpos(ev, n->pos), "real value out of range");
    out->type = DRIFT_VAL_REAL;
    out->u.r = r;
    return 0;
}

static int s_compare(s_eval_t *ev, const drift_node_t *n, const drift_value_t *a, const drift_value_t *b,
                     drift_value_t *out)
{
    int c;
    if (s_is_num(a) && s_is_num(b)) {
        if (a->type == DRIFT_VAL_INT && b->type == DRIFT_VAL_INT)
            c = (a->u.i > b->u.i) - (a->u.i < b->u.i);
        else {
            double x = s_real(a), y = s_real(b);
            c = (x > y) - (x < y);
        }
    } else if (a->type == b->type && (a->type == DRIFT_VAL_TEXT || a->type == DRIFT_VAL_BLOB)) {
        size_t m = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        c = m ? memcmp(a->u.s.p, b->u.s.p, m) : 0;
        if (c == 0)
            c = (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
        else
            c = c > 0 ? 1 : -1;
    } else if (a->type == DRIFT_VAL_BOOL && b->type == DRIFT_VAL_BOOL) {
        c = (a->u.b > b->u.b) - (a->u.b < b->u.b);
    } else {
        return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_UNDEF_FUNCTION, s_cpos(ev, n->pos),
                                "operator does not exist: %s %s %s", drift_val_type_name(a->type), drift_op_text(n->op),
                                drift_val_type_name(b->type));
    }
    int r = 0;
    switch (n->op) {
    case DRIFT_TOP_EQ: r = c == 0; break;
    case DRIFT_TOP_NE: r = c != 0; break;
    case DRIFT_TOP_LT: r = c < 0; break;
    case DRIFT_TOP_LE: r = c <= 0; break;
    case DRIFT_TOP_GT: r = c > 0; break;
    case DRIFT_TOP_GE: r = c >= 0; break;
    default: break;
    }
    out->type = DRIFT_VAL_BOOL;
    out->u.b = r;
    return 0;
}

/* Formats a scalar as text for ||. */
static int s_text_of(const drift_value_t *v, char *buf, size_t cap, const char **ret_p, size_t *ret_n)
{
    switch (v->type) {
    case DRIFT_VAL_TEXT:
        *ret_p = v->u.s.p;
        *ret_n = v->u.s.n;
        return 0;
    case DRIFT_VAL_INT: *ret_n = (size_t)snprintf(buf, cap, "%" PRId64, v->u.i); break;
    case DRIFT_VAL_REAL: *ret_n = (size_t)snprintf(buf, cap, "%.17g", v->u.r); break;
    case DRIFT_VAL_BOOL: *ret_n = (size_t)snprintf(buf, cap, "%s", v->u.b ? "true" : "false"); break;
    default: return -1;
    }
    *ret_p = buf;
    return 0;
}

static int s_concat(s_eval_t *ev, const drift_node_t *n, const drift_value_t *a, const drift_value_t *b,
                    drift_value_t *out)
{
    char ba[40], bb[40];
    const char *pa, *pb;
    size_t na, nb;
    if (s_text_of(a, ba, sizeof ba, &pa, &na) < 0 || s_text_of(b, bb, sizeof bb, &pb, &nb) < 0)
        return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_UNDEF_FUNCTION, s_cpos(ev, n->pos),
                                "operator does not exist: %s || %s", drift_val_type_name(a->type),
                                drift_val_type_name(b->type));
    if (na + nb > (64u << 20))
        return drift_sqlerr_set(ev->err, "54000", s_cpos(ev, n->pos), "string too long");
    s_tmp_t *t = malloc(sizeof *t + na + nb + 1);
    if (!t)
        return drift_sqlerr_set(ev->err, "53200", 0, "out of memory");
    t->next = ev->tmp;
    ev->tmp = t;
    memcpy(t->data, pa, na);
    memcpy(t->data + na, pb, nb);
    out->type = DRIFT_VAL_TEXT;
    out->u.s.p = t->data;
    out->u.s.n = na + nb;
    return 0;
}

static int s_eval(s_eval_t *ev, const drift_node_t *n, drift_value_t *out)
{
    drift_value_t a, b;
    memset(out, 0, sizeof *out);
    switch (n->kind) {
    case DRIFT_AST_LITERAL: *out = n->value; return 0;
    case DRIFT_AST_PARAM: return s_param(ev, n, out);
    case DRIFT_AST_COLUMN:
        return drift_sqlerr_set(ev->err, "42703", s_cpos(ev, n->pos), "column \"%.*s\" does not exist",
                                (int)(n->name_len > 64 ? 64 : n->name_len), n->name);
    case DRIFT_AST_UNARY:
        if (s_eval(ev, n->l, &a) < 0)
            return -1;
        if (a.type == DRIFT_VAL_NULL)
            return 0;
        if (!s_is_num(&a))
            return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_UNDEF_FUNCTION, s_cpos(ev, n->pos),
                                    "operator does not exist: %s %s", drift_op_text(n->op),
                                    drift_val_type_name(a.type));
        if (n->op == DRIFT_TOP_PLUS) {
            *out = a;
        } else if (a.type == DRIFT_VAL_INT) {
            if (a.u.i == INT64_MIN)
                return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_OUT_OF_RANGE, s_cpos(ev, n->pos),
                                        "integer out of range");
            out->type = DRIFT_VAL_INT;
            out->u.i = -a.u.i;
        } else {
            out->type = DRIFT_VAL_REAL;
            out->u.r = -a.u.r;
        }
        return 0;
    case DRIFT_AST_NOT: {
        if (s_eval(ev, n->l, &a) < 0)
            return -1;
        int t = s_truth(ev, &a, n, "NOT");
        if (t == -2)
            return -1;
        if (t >= 0) {
            out->type = DRIFT_VAL_BOOL;
            out->u.b = !t;
        }
        return 0;
    }
    case DRIFT_AST_AND:
    case DRIFT_AST_OR: {
        const char *what = n->kind == DRIFT_AST_AND ? "AND" : "OR";
        if (s_eval(ev, n->l, &a) < 0)
            return -1;
        int x = s_truth(ev, &a, n, what);
        if (x == -2)
            return -1;
        /* short-circuit like SQL's three-valued logic allows */
        if ((n->kind == DRIFT_AST_AND && x == 0) || (n->kind == DRIFT_AST_OR && x == 1)) {
            out->type = DRIFT_VAL_BOOL;
            out->u.b = x;
            return 0;
        }
        if (s_eval(ev, n->r, &b) < 0)
            return -1;
        int y = s_truth(ev, &b, n, what);
        if (y == -2)
            return -1;
        if (n->kind == DRIFT_AST_AND) {
            if (y == 0) {
                out->type = DRIFT_VAL_BOOL;
                out->u.b = 0;
            } else if (x == 1 && y == 1) {
                out->type = DRIFT_VAL_BOOL;
                out->u.b = 1;
            }
        } else {
            if (y == 1) {
                out->type = DRIFT_VAL_BOOL;
                out->u.b = 1;
            } else if (x == 0 && y == 0) {
                out->type = DRIFT_VAL_BOOL;
                out->u.b = 0;
            }
        }
        return 0;
    }
    case DRIFT_AST_ISNULL:
        if (s_eval(ev, n->l, &a) < 0)
            return -1;
        out->type = DRIFT_VAL_BOOL;
        out->u.b = (a.type == DRIFT_VAL_NULL) != n->negate;
        return 0;
    case DRIFT_AST_BINARY:
        if (s_eval(ev, n->l, &a) < 0 || s_eval(ev, n->r, &b) < 0)
            return -1;
        if (a.type == DRIFT_VAL_NULL || b.type == DRIFT_VAL_NULL)
            return 0;
        switch (n->op) {
        case DRIFT_TOP_PLUS:
        case DRIFT_TOP_MINUS:
        case DRIFT_TOP_STAR:
        case DRIFT_TOP_SLASH:
        case DRIFT_TOP_PERCENT: return s_arith(ev, n, &a, &b, out);
        case DRIFT_TOP_CONCAT: return s_concat(ev, n, &a, &b, out);
        default: return s_compare(ev, n, &a, &b, out);
        }
    }
    return drift_sqlerr_set(ev->err, DRIFT_SQLSTATE_INTERNAL, 0, "unknown AST node %d", (int)n->kind);
}

/* BEGIN / COMMIT / ROLLBACK. The state changes before sink->done so the reply carries it. */
static int s_exec_txn(drift_engine_t *self, drift_session_t *s, const drift_stmt_t *st, uint64_t commit_seq,
                      drift_sink_t *sink, drift_sqlerr_t *err)
{
    if (!s)
        return drift_sqlerr_set(err, DRIFT_SQLSTATE_INTERNAL, 0, "transaction statement without a session");
    switch (st->kind) {
    case DRIFT_STMT_BEGIN:
        if (s->txn != DRIFT_TXN_IDLE) {
            s->txn = DRIFT_TXN_FAILED;
            return drift_sqlerr_set(err, "25001", 1, "there is already a transaction in progress");
        }
        s->txn = DRIFT_TXN_OPEN;
        s->snapshot_seq = commit_seq;
        s->isolation = st->isolation;
        return sink->done(sink, -1, s->snapshot_seq);
    case DRIFT_STMT_COMMIT:
        if (s->txn == DRIFT_TXN_FAILED) {
            s->txn = DRIFT_TXN_IDLE;
            return drift_sqlerr_set(err, "40000", 1,
                                    "the transaction was rolled back because a statement in it failed");
        }
        s->txn = DRIFT_TXN_IDLE; /* read-only so far: nothing to send to the writer */
        return sink->done(sink, -1, s->snapshot_seq ? s->snapshot_seq : commit_seq);
    default: /* ROLLBACK (also when idle, like PostgreSQL: a no-op) */
        s->txn = DRIFT_TXN_IDLE;
        return sink->done(sink, -1, commit_seq);
    }
}

int drift_engine_execute(drift_engine_t *self, drift_session_t *s, const drift_stmt_input_t *in, drift_sink_t *sink,
                         drift_sqlerr_t *err)
{
    drift_ast_t *ast = NULL;
    drift_value_t *vals = NULL;
    const char **names = NULL, **types = NULL;
    s_eval_t ev = {.sql = in->sql, .sql_len = in->sql_len, .params = in->params, .err = err};
    int rc = -1;
    sink->err = err;
    uint64_t commit_seq = self->hdr ? atomic_load(&self->hdr->commit_seq) : 0;
    if (drift_parse(in->sql, in->sql_len, &ast, err) < 0)
        goto out;
    const drift_stmt_t *st = drift_ast_stmt(ast);
    if (s && s->txn == DRIFT_TXN_FAILED && st->kind != DRIFT_STMT_ROLLBACK && st->kind != DRIFT_STMT_COMMIT) {
        drift_sqlerr_set(err, DRIFT_SQLSTATE_FAILED_TXN, 0,
                         "current transaction is aborted, commands ignored until end of transaction block");
        goto out;
    }
    if (st->kind != DRIFT_STMT_SELECT) {
        rc = s_exec_txn(self, s, st, commit_seq, sink, err);
        goto out;
    }
    uint64_t snap = s && s->txn == DRIFT_TXN_OPEN ? s->snapshot_seq : commit_seq;
    if (in->has_as_of) {
        if (in->as_of_time) {
            drift_sqlerr_set(err, DRIFT_SQLSTATE_NOT_SUPPORTED, 0, "as_of with a timestamp is not supported yet");
            goto out;
        }
        if (in->as_of_seq < 1 || (uint64_t)in->as_of_seq > commit_seq) {
            drift_sqlerr_set(err, DRIFT_SQLSTATE_INVALID_PARAM, 0,
                             "as_of seq %" PRId64 " is not a committed seq (current commit seq %" PRIu64 ")",
                             in->as_of_seq, commit_seq);
            goto out;
        }
        snap = (uint64_t)in->as_of_seq;
    }
    uint32_t n = st->nitems;
    vals = calloc(n, sizeof *vals);
    names = calloc(n, sizeof *names);
    types = calloc(n, sizeof *types);
    if (!vals || !names || !types) {
        drift_sqlerr_set(err, "53200", 0, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (s_eval(&ev, st->items[i].expr, &vals[i]) < 0)
            goto out;
        names[i] = st->items[i].alias;
        types[i] = drift_val_type_name(vals[i].type);
    }
    if (sink->columns(sink, n, names, types) < 0 || sink->row(sink, vals, n) < 0 || sink->done(sink, -1, snap) < 0)
        goto out;
    rc = 0;
out:
    /* A failed statement inside a transaction fails the transaction (until ROLLBACK). */
    if (rc < 0 && s && s->txn == DRIFT_TXN_OPEN)
        s->txn = DRIFT_TXN_FAILED;
    while (ev.tmp) {
        s_tmp_t *t = ev.tmp->next;
        free(ev.tmp);
        ev.tmp = t;
    }
    free(vals);
    free(names);
    free(types);
    drift_ast_destroy(&ast);
    return rc;
}
