/* modules/query/expr.c — the expression evaluator (expr.h): every node kind
 * of ast.h against a row context, with SQLite's value semantics.
 *
 * Comparison affinity (SQLite's rule, simplified): when a column of a numeric
 * type (INTEGER/REAL) is compared with a TEXT that is entirely a number, the
 * text is compared as that number (`intcol = '5'` is true); when a TEXT column
 * is compared with a number that is not a column, the number is compared as
 * its text (`textcol = 5` matches '5'); a BOOLEAN column compared with 'true' /
 * 'false' text compares as a boolean. CAST(... AS type) carries the affinity
 * of its type. In `x IN (list)` only x's affinity applies (the list's values
 * have none, as in SQLite). Everything else compares by drift_val_compare_op
 * (numbers < TEXT < BLOB when the types differ).
 *
 * Single-threaded; results that need bytes live in env->arena. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "ipc/proto.h"
#include "modules/query/expr_priv.h"

#define SQLSTATE_OOM "53200"

uint32_t drift_expr_pos(const drift_evalenv_t *env, const drift_node_t *n)
{
    if (!env->sql || !n)
        return 0;
    return drift_lexer_charpos(env->sql, env->sql_len, n->pos);
}

static int s_oom(drift_evalenv_t *env)
{
    return drift_sqlerr_set(env->err, SQLSTATE_OOM, 0, "out of memory");
}

/* ------------------------------------------------------------------ parameters */

/* The character position of byte pos, computed only for an error: it scans the text up to pos, and a
 * statement may hold thousands of parameters (driftctl ingest: O(n^2) when computed for each). */
static uint32_t s_cpos(const drift_evalenv_t *env, uint32_t pos)
{
    return env->sql ? drift_lexer_charpos(env->sql, env->sql_len, pos) : 0;
}

int drift_expr_param(drift_evalenv_t *env, uint32_t idx, uint32_t pos, drift_value_t *out)
{
    uint32_t np = env->params && env->params->type == MSGPACK_OBJECT_ARRAY ? env->params->via.array.size : 0;
    if (idx < 1 || idx > np)
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_WRONG_PARAMS, s_cpos(env, pos),
                                "there is no parameter $%u (%u given)", idx, np);
    const msgpack_object *o = &env->params->via.array.ptr[idx - 1];
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: *out = drift_val_null(); return 0;
    case MSGPACK_OBJECT_BOOLEAN: *out = drift_val_bool(o->via.boolean); return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX)
            return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_OUT_OF_RANGE, s_cpos(env, pos),
                                    "parameter $%u is out of the 64-bit integer range", idx);
        *out = drift_val_int((int64_t)o->via.u64);
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = drift_val_int(o->via.i64); return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = drift_val_real(o->via.f64); return 0;
    case MSGPACK_OBJECT_STR: *out = drift_val_text(o->via.str.ptr, o->via.str.size); return 0;
    case MSGPACK_OBJECT_BIN: *out = drift_val_blob(o->via.bin.ptr, o->via.bin.size); return 0;
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        if (drift_jnode_value(env->arena, o, out) < 0)
            return s_oom(env);
        return 0;
    default:
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_BAD_VALUE, s_cpos(env, pos),
                                "parameter $%u has an unsupported MessagePack type (ext)", idx);
    }
}

/* ------------------------------------------------------------------ helpers */

static drift_value_t s_b3(int t)
{
    return t < 0 ? drift_val_null() : drift_val_bool(t);
}

/* The text form of v in the arena (NULL on OOM). */
static const char *s_text(drift_evalenv_t *env, const drift_value_t *v, size_t *ret_n)
{
    if (v->type == DRIFT_VAL_TEXT || v->type == DRIFT_VAL_BLOB || v->type == DRIFT_VAL_JSON) {
        *ret_n = v->u.s.n;
        return v->u.s.p;
    }
    return drift_val_to_text(env->arena, v, ret_n);
}

/* Comparison affinity of an operand: 'N' numeric, 'T' text, 'B' boolean, 0 none. */
static int s_affinity(const drift_node_t *n, const drift_value_t *v)
{
    if (!n)
        return 0;
    if (n->kind == DRIFT_AST_COLUMN) {
        switch (v->type) {
        case DRIFT_VAL_INT:
        case DRIFT_VAL_REAL: return 'N';
        case DRIFT_VAL_TEXT: return 'T';
        case DRIFT_VAL_BOOL: return 'B';
        default: return 0;
        }
    }
    if (n->kind == DRIFT_AST_CAST) {
        switch (n->cast_type) {
        case DRIFT_COL_INTEGER:
        case DRIFT_COL_REAL: return 'N';
        case DRIFT_COL_TEXT: return 'T';
        case DRIFT_COL_BOOLEAN: return 'B';
        default: return 0;
        }
    }
    return 0;
}

/* Applies affinity aff to v (the other operand). */
static int s_apply(drift_evalenv_t *env, int aff, drift_value_t *v)
{
    drift_value_t num;
    if (aff == 'N' && v->type == DRIFT_VAL_TEXT) {
        if (drift_text_numeric(v->u.s.p, v->u.s.n, &num))
            *v = num;
    } else if (aff == 'T' && (v->type == DRIFT_VAL_INT || v->type == DRIFT_VAL_REAL || v->type == DRIFT_VAL_BOOL)) {
        size_t n;
        const char *p = drift_val_to_text(env->arena, v, &n);
        if (!p)
            return s_oom(env);
        *v = drift_val_text(p, n);
    } else if (aff == 'B' && v->type == DRIFT_VAL_TEXT) {
        drift_value_t b;
        drift_sqlerr_t e;
        if (drift_val_coerce(env->arena, DRIFT_COL_BOOLEAN, v, &b, NULL, &e) == 0)
            *v = b;
    }
    return 0;
}

/* Adjusts a and b for a comparison of nodes ln and rn (see the file comment). */
static int s_affine(drift_evalenv_t *env, const drift_node_t *ln, drift_value_t *a, const drift_node_t *rn,
                    drift_value_t *b)
{
    if (a->type == DRIFT_VAL_NULL || b->type == DRIFT_VAL_NULL)
        return 0;
    int fa = s_affinity(ln, a), fb = s_affinity(rn, b);
    if (fa == fb)
        return 0;
    if (fa == 'N' || fa == 'B')
        return fb == 'N' || fb == 'B' ? 0 : s_apply(env, fa, b);
    if (fb == 'N' || fb == 'B')
        return s_apply(env, fb, a);
    if (fa == 'T' && fb == 0)
        return s_apply(env, 'T', b);
    if (fb == 'T' && fa == 0)
        return s_apply(env, 'T', a);
    return 0;
}

int drift_expr_affine(drift_evalenv_t *env, const drift_node_t *ln, drift_value_t *a, const drift_node_t *rn,
                      drift_value_t *b)
{
    return s_affine(env, ln, a, rn, b);
}

static int s_is_cmp(drift_bop_t op)
{
    return op >= DRIFT_BOP_EQ && op <= DRIFT_BOP_GE;
}

/* ------------------------------------------------------------------ arithmetic */

static int s_arith(drift_bop_t op, const drift_value_t *a, const drift_value_t *b, drift_value_t *out)
{
    drift_value_t x, y;
    drift_val_numify(a, &x);
    drift_val_numify(b, &y);
    if (x.type == DRIFT_VAL_NULL || y.type == DRIFT_VAL_NULL) {
        *out = drift_val_null();
        return 0;
    }
    if (x.type == DRIFT_VAL_INT && y.type == DRIFT_VAL_INT) {
        int64_t i = x.u.i, j = y.u.i, r = 0;
        int ovf = 0;
        switch (op) {
        case DRIFT_BOP_ADD: ovf = __builtin_add_overflow(i, j, &r); break;
        case DRIFT_BOP_SUB: ovf = __builtin_sub_overflow(i, j, &r); break;
        case DRIFT_BOP_MUL: ovf = __builtin_mul_overflow(i, j, &r); break;
        case DRIFT_BOP_DIV:
            if (j == 0) {
                *out = drift_val_null();
                return 0;
            }
            if (i == INT64_MIN && j == -1)
                ovf = 1;
            else
                r = i / j;
            break;
        case DRIFT_BOP_MOD:
            if (j == 0) {
                *out = drift_val_null();
                return 0;
            }
            r = j == -1 ? 0 : i % j;
            break;
        default: break;
        }
        if (!ovf) {
            *out = drift_val_int(r);
            return 0;
        }
        /* overflow: computed again in floating point (SQLite) */
    }
    double p = x.type == DRIFT_VAL_INT ? (double)x.u.i : x.u.r;
    double q = y.type == DRIFT_VAL_INT ? (double)y.u.i : y.u.r;
    double r = 0;
    switch (op) {
    case DRIFT_BOP_ADD: r = p + q; break;
    case DRIFT_BOP_SUB: r = p - q; break;
    case DRIFT_BOP_MUL: r = p * q; break;
    case DRIFT_BOP_DIV:
        if (q == 0.0) {
            *out = drift_val_null();
            return 0;
        }
        r = p / q;
        break;
    case DRIFT_BOP_MOD: {
        /* SQLite: the remainder of the integer parts, as a REAL */
        int64_t i = drift_val_int_of(a), j = drift_val_int_of(b); /* of the operands as given: '1e3' is 1 */
        if (j == 0) {
            *out = drift_val_null();
            return 0;
        }
        if (j == -1)
            j = 1;
        r = (double)(i % j);
        break;
    }
    default: break;
    }
    *out = isnan(r) ? drift_val_null() : drift_val_real(r);
    return 0;
}

static void s_bits(drift_bop_t op, const drift_value_t *a, const drift_value_t *b, drift_value_t *out)
{
    if (a->type == DRIFT_VAL_NULL || b->type == DRIFT_VAL_NULL) {
        *out = drift_val_null();
        return;
    }
    int64_t x = drift_val_int_of(a), y = drift_val_int_of(b);
    uint64_t ux = (uint64_t)x;
    if (op == DRIFT_BOP_BITAND) {
        *out = drift_val_int(x & y);
        return;
    }
    if (op == DRIFT_BOP_BITOR) {
        *out = drift_val_int(x | y);
        return;
    }
    int left = op == DRIFT_BOP_SHL;
    if (y < 0) {
        left = !left;
        y = y == INT64_MIN ? 64 : -y;
    }
    if (left)
        *out = drift_val_int(y >= 64 ? 0 : (int64_t)(ux << y));
    else if (y >= 64)
        *out = drift_val_int(x < 0 ? -1 : 0);
    else
        *out = drift_val_int(x < 0 ? (int64_t) ~(~ux >> y) : (int64_t)(ux >> y));
}

static int s_concat(drift_evalenv_t *env, const drift_value_t *a, const drift_value_t *b, drift_value_t *out)
{
    if (a->type == DRIFT_VAL_NULL || b->type == DRIFT_VAL_NULL) {
        *out = drift_val_null();
        return 0;
    }
    size_t na, nb;
    const char *pa = s_text(env, a, &na), *pb = s_text(env, b, &nb);
    if (!pa || !pb)
        return s_oom(env);
    char *p = drift_arena_alloc(env->arena, na + nb + 1);
    if (!p)
        return s_oom(env);
    memcpy(p, pa, na);
    memcpy(p + na, pb, nb);
    *out = drift_val_text(p, na + nb);
    return 0;
}

/* ------------------------------------------------------------------ JSON -> and ->> */

/* The JSON text of a node, in the arena. */
static int s_jnode_json(drift_evalenv_t *env, const msgpack_object *o, drift_value_t *out)
{
    drift_strbuf_t sb = {0};
    if (drift_json_from_msgpack(o, &sb) < 0 || sb.oom) {
        drift_strbuf_free(&sb);
        return s_oom(env);
    }
    char *p = drift_arena_memdup(env->arena, sb.p ? sb.p : "", sb.len);
    size_t n = sb.len;
    drift_strbuf_free(&sb);
    if (!p)
        return s_oom(env);
    *out = drift_val_json(p, n);
    return 0;
}

/* The SQL value of a node with its bytes copied into the arena. */
static int s_jnode_sql(drift_evalenv_t *env, const msgpack_object *o, drift_value_t *out)
{
    int r = drift_jnode_value(env->arena, o, out);
    if (r < 0)
        return s_oom(env);
    if (r == 1 && (out->type == DRIFT_VAL_TEXT || out->type == DRIFT_VAL_BLOB)) {
        const char *p = drift_arena_memdup(env->arena, out->u.s.p, out->u.s.n);
        if (!p)
            return s_oom(env);
        out->u.s.p = p;
    }
    return 0;
}

static int s_json_get(drift_evalenv_t *env, const drift_node_t *n, const drift_value_t *a, const drift_value_t *b,
                      int as_sql, drift_value_t *out)
{
    *out = drift_val_null();
    if (a->type == DRIFT_VAL_NULL || b->type == DRIFT_VAL_NULL)
        return 0;
    const char *jp;
    size_t jn;
    switch (a->type) {
    case DRIFT_VAL_TEXT:
    case DRIFT_VAL_JSON:
    case DRIFT_VAL_INT:
    case DRIFT_VAL_REAL: jp = s_text(env, a, &jn); break;
    case DRIFT_VAL_BOOL:
        jp = a->u.b ? "true" : "false";
        jn = strlen(jp);
        break;
    default:
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_BAD_VALUE, drift_expr_pos(env, n),
                                "operator %s needs JSON on its left, not %s",
                                n->bop == DRIFT_BOP_JSON_GET ? "->" : "->>", drift_val_type_name(a->type));
    }
    if (!jp)
        return s_oom(env);
    drift_jdoc_t d;
    char msg[160];
    int rc = 0;
    if (drift_jdoc_parse(&d, jp, jn, msg, sizeof msg) < 0) {
        rc = drift_sqlerr_set(env->err, DRIFT_SQLSTATE_BAD_VALUE, drift_expr_pos(env, n), "%s", msg);
        goto out;
    }
    const msgpack_object *node = NULL;
    if (b->type == DRIFT_VAL_INT || b->type == DRIFT_VAL_BOOL) {
        int64_t idx = b->type == DRIFT_VAL_INT ? b->u.i : b->u.b;
        const msgpack_object *r = d.root;
        if (r->type == MSGPACK_OBJECT_ARRAY) {
            int64_t sz =
                r->via.array.size; /* a negative index is absent, as in SQLite ('$[#-1]' counts from the end) */
            if (idx >= 0 && idx < sz)
                node = &r->via.array.ptr[idx];
        }
    } else if (b->type == DRIFT_VAL_TEXT) {
        if (b->u.s.n > 0 && b->u.s.p[0] == '$') {
            int f = drift_json_path(&d, b->u.s.p, b->u.s.n, &node, msg, sizeof msg);
            if (f < 0) {
                rc = drift_sqlerr_set(env->err, DRIFT_SQLSTATE_BAD_VALUE, drift_expr_pos(env, n), "%s", msg);
                goto out;
            }
        } else if (d.root->type == MSGPACK_OBJECT_MAP) {
            const msgpack_object *r = d.root;
            for (uint32_t m = 0; m < r->via.map.size; m++) {
                const msgpack_object *k = &r->via.map.ptr[m].key;
                if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == b->u.s.n &&
                    memcmp(k->via.str.ptr, b->u.s.p, b->u.s.n) == 0)
                    node = &r->via.map.ptr[m].val;
            }
        }
    } else {
        rc =
            drift_sqlerr_set(env->err, DRIFT_SQLSTATE_BAD_VALUE, drift_expr_pos(env, n),
                             "the right side of %s must be a key (TEXT), a path ('$...') or an index (INTEGER), not %s",
                             n->bop == DRIFT_BOP_JSON_GET ? "->" : "->>", drift_val_type_name(b->type));
        goto out;
    }
    if (node)
        rc = as_sql ? s_jnode_sql(env, node, out) : s_jnode_json(env, node, out);
out:
    drift_jdoc_free(&d);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ LIKE and GLOB */

/* The next UTF-8 code point of s[*i..n) (a stray byte counts as itself). */
static uint32_t s_utf8(const unsigned char *s, size_t n, size_t *i)
{
    uint32_t c = s[(*i)++];
    int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (more == 0)
        return c;
    uint32_t cp = c & (0x3F >> more);
    for (int k = 0; k < more; k++) {
        if (*i >= n || (s[*i] & 0xC0) != 0x80)
            return c;
        cp = (cp << 6) | (s[(*i)++] & 0x3F);
    }
    return cp;
}

static uint32_t s_fold(uint32_t c)
{
    return c < 128 ? (uint32_t)tolower((int)c) : c;
}

typedef struct {
    const unsigned char *p, *s;
    size_t pn, sn;
    uint32_t esc; /* UINT32_MAX: none */
    int glob;
} s_pat_t;

/* Matches a GLOB set "[...]" at p[*pi] (after '[') against c; advances *pi past ']'. -1: malformed. */
static int s_glob_set(const s_pat_t *m, size_t *pi, uint32_t c)
{
    size_t i = *pi;
    int neg = 0, hit = 0, first = 1;
    uint32_t prev = 0;
    if (i < m->pn && m->p[i] == '^') {
        neg = 1;
        i++;
    }
    while (i < m->pn) {
        uint32_t x = s_utf8(m->p, m->pn, &i);
        if (x == ']' && !first) {
            *pi = i;
            return hit != neg;
        }
        if (x == '-' && !first && i < m->pn && m->p[i] != ']') {
            uint32_t hi = s_utf8(m->p, m->pn, &i);
            if (c >= prev && c <= hi)
                hit = 1;
            prev = 0;
        } else {
            if (x == c)
                hit = 1;
            prev = x;
        }
        first = 0;
    }
    return -1;
}

/* Matches one pattern element at p[*pi] (not the many-wildcard) against character sc; advances *pi.
 * Returns 1 match, 0 no match, -1 the pattern can never match (bad set, escape at the end). */
static int s_match_one(const s_pat_t *m, size_t *pi, uint32_t sc)
{
    uint32_t c = s_utf8(m->p, m->pn, pi);
    if (c == (m->glob ? '?' : '_'))
        return 1;
    if (m->glob && c == '[')
        return s_glob_set(m, pi, sc);
    if (!m->glob && c == m->esc) {
        if (*pi >= m->pn)
            return -1;
        c = s_utf8(m->p, m->pn, pi);
    }
    return m->glob ? c == sc : s_fold(c) == s_fold(sc);
}

/* Matches the whole pattern against the whole string: 1 match, 0 no match. Iterative, remembering
 * only the last many-wildcard (enough, since it matches any sequence): O(pattern x string). */
static int s_match(const s_pat_t *m)
{
    uint32_t many = m->glob ? '*' : '%';
    size_t pi = 0, si = 0, star_pi = SIZE_MAX, star_si = 0;
    while (si < m->sn) {
        if (pi < m->pn) {
            size_t t = pi;
            if (s_utf8(m->p, m->pn, &t) == many) {
                star_pi = pi = t;
                star_si = si;
                continue;
            }
            size_t sn = si;
            uint32_t sc = s_utf8(m->s, m->sn, &sn);
            t = pi;
            int r = s_match_one(m, &t, sc);
            if (r < 0)
                return 0;
            if (r == 1) {
                pi = t;
                si = sn;
                continue;
            }
        }
        if (star_pi == SIZE_MAX)
            return 0;
        /* let the last wildcard absorb one more character and retry from there */
        s_utf8(m->s, m->sn, &star_si);
        si = star_si;
        pi = star_pi;
    }
    while (pi < m->pn) {
        size_t t = pi;
        if (s_utf8(m->p, m->pn, &t) != many)
            return 0;
        pi = t;
    }
    return 1;
}

static int s_like(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx, drift_value_t *out)
{
    drift_value_t a, b, e = drift_val_null();
    if (drift_expr_eval(env, n->l, ctx, &a) < 0 || drift_expr_eval(env, n->r, ctx, &b) < 0)
        return -1;
    if (n->nargs > 0 && drift_expr_eval(env, n->args[0], ctx, &e) < 0)
        return -1;
    *out = drift_val_null();
    if (a.type == DRIFT_VAL_NULL || b.type == DRIFT_VAL_NULL || (n->nargs > 0 && e.type == DRIFT_VAL_NULL))
        return 0;
    s_pat_t m = {.esc = UINT32_MAX, .glob = n->glob};
    size_t sn, pn;
    const char *s = s_text(env, &a, &sn), *p = s_text(env, &b, &pn);
    if (!s || !p)
        return s_oom(env);
    if (n->nargs > 0) {
        size_t en, i = 0;
        const char *ep = s_text(env, &e, &en);
        if (!ep)
            return s_oom(env);
        uint32_t c = en ? s_utf8((const unsigned char *)ep, en, &i) : 0;
        if (en == 0 || i != en)
            return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_BAD_VALUE, drift_expr_pos(env, n->args[0]),
                                    "ESCAPE expression must be a single character");
        m.esc = c;
    }
    m.p = (const unsigned char *)p;
    m.pn = pn;
    m.s = (const unsigned char *)s;
    m.sn = sn;
    int r = s_match(&m);
    *out = drift_val_bool(n->negate ? !r : r);
    return 0;
}

/* ------------------------------------------------------------------ the evaluator */

static int s_column(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx, drift_value_t *out)
{
    if (!n->bound) {
        if (n->qualifier)
            return drift_sqlerr_set(env->err, "42703", drift_expr_pos(env, n), "column \"%s.%s\" does not exist",
                                    n->qualifier, n->name ? n->name : "?");
        return drift_sqlerr_set(env->err, "42703", drift_expr_pos(env, n), "column \"%s\" does not exist",
                                n->name ? n->name : "?");
    }
    const drift_rowctx_t *c = ctx;
    for (int32_t d = 0; d < n->depth && c; d++)
        c = c->outer;
    if (!c || n->rel < 0 || (uint32_t)n->rel >= c->nrels || n->col < 0 || !c->rels[n->rel])
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_INTERNAL, drift_expr_pos(env, n),
                                "column \"%s\" is not available in this context", n->name ? n->name : "?");
    *out = c->rels[n->rel][n->col];
    return 0;
}

static int s_subquery(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx,
                      const drift_value_t *probe, drift_value_t *out)
{
    if (!env->subquery)
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_NOT_SUPPORTED, drift_expr_pos(env, n),
                                "subqueries are not supported here");
    *out = drift_val_null();
    if (env->subquery(env, n, ctx, probe, out) < 0)
        return -1;
    return 0;
}

static int s_func(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx, drift_value_t *out)
{
    const char *name = n->name ? n->name : "";
    drift_agg_kind_t ak = drift_agg_lookup(name, n->nargs, n->star);
    if (ak != DRIFT_AGG_NONE) {
        if (ctx && ctx->aggs && n->agg >= 0 && (uint32_t)n->agg < ctx->naggs) {
            *out = ctx->aggs[n->agg];
            return 0;
        }
        return drift_sqlerr_set(env->err, "42803", drift_expr_pos(env, n), "aggregate functions are not allowed here");
    }
    if (n->star)
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_UNDEF_FUNCTION, drift_expr_pos(env, n),
                                "function %s(*) does not exist", name);
    if (n->distinct)
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_UNDEF_FUNCTION, drift_expr_pos(env, n),
                                "DISTINCT is only allowed in aggregate functions: %s()", name);
    if (!drift_func_exists(name, n->nargs))
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_UNDEF_FUNCTION, drift_expr_pos(env, n),
                                "function %s(%u args) does not exist", name, n->nargs);
    /* coalesce / ifnull / iif evaluate lazily, as SQLite does (a later argument may fail) */
    if ((!strcmp(name, "coalesce") || !strcmp(name, "ifnull")) && n->nargs >= 2) {
        for (uint32_t i = 0; i < n->nargs; i++) {
            if (drift_expr_eval(env, n->args[i], ctx, out) < 0)
                return -1;
            if (out->type != DRIFT_VAL_NULL)
                break;
        }
        return 0;
    }
    if (!strcmp(name, "iif") && n->nargs == 3) {
        drift_value_t c;
        if (drift_expr_eval(env, n->args[0], ctx, &c) < 0)
            return -1;
        return drift_expr_eval(env, n->args[drift_val_truth(&c) == 1 ? 1 : 2], ctx, out);
    }
    drift_value_t sargs[8], *args = sargs;
    if (n->nargs > 8) {
        args = drift_arena_alloc(env->arena, n->nargs * sizeof *args);
        if (!args)
            return s_oom(env);
    }
    for (uint32_t i = 0; i < n->nargs; i++)
        if (drift_expr_eval(env, n->args[i], ctx, &args[i]) < 0)
            return -1;
    return drift_func_call(env, n, args, n->nargs, out);
}

static int s_case(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx, drift_value_t *out)
{
    drift_value_t base, w;
    if (n->l && drift_expr_eval(env, n->l, ctx, &base) < 0)
        return -1;
    for (uint32_t i = 0; i + 1 < n->nargs; i += 2) {
        if (drift_expr_eval(env, n->args[i], ctx, &w) < 0)
            return -1;
        int hit;
        if (n->l) {
            drift_value_t b = base;
            if (s_affine(env, n->l, &b, n->args[i], &w) < 0)
                return -1;
            hit = drift_val_compare_op(DRIFT_BOP_EQ, &b, &w) == 1;
        } else {
            hit = drift_val_truth(&w) == 1;
        }
        if (hit)
            return drift_expr_eval(env, n->args[i + 1], ctx, out);
    }
    if (n->r)
        return drift_expr_eval(env, n->r, ctx, out);
    *out = drift_val_null();
    return 0;
}

/* x IN (list): 1, 0 or -1 (NULL). */
static int s_in_list(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx, const drift_value_t *x,
                     int *ret)
{
    int saw_null = 0;
    *ret = 0;
    if (n->nargs == 0)
        return 0;
    if (x->type == DRIFT_VAL_NULL) {
        *ret = -1;
        return 0;
    }
    for (uint32_t i = 0; i < n->nargs; i++) {
        drift_value_t v, a = *x;
        if (drift_expr_eval(env, n->args[i], ctx, &v) < 0)
            return -1;
        /* the list's values have no affinity of their own, only x's applies (SQLite: a = +y OR ...) */
        if (s_affine(env, n->l, &a, NULL, &v) < 0)
            return -1;
        int c = drift_val_compare_op(DRIFT_BOP_EQ, &a, &v);
        if (c == 1) {
            *ret = 1;
            return 0;
        }
        if (c < 0)
            saw_null = 1;
    }
    *ret = saw_null ? -1 : 0;
    return 0;
}

static int s_not3(int t)
{
    return t < 0 ? -1 : !t;
}

int drift_expr_eval(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx, drift_value_t *out)
{
    drift_value_t a, b;
    *out = drift_val_null();
    if (!n)
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_INTERNAL, 0, "missing expression");
    switch (n->kind) {
    case DRIFT_AST_LITERAL:
    case DRIFT_AST_JSON: *out = n->value; return 0;
    case DRIFT_AST_PARAM: return drift_expr_param(env, n->param, n->pos, out);
    case DRIFT_AST_COLUMN: return s_column(env, n, ctx, out);
    case DRIFT_AST_STAR:
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_SYNTAX, drift_expr_pos(env, n),
                                "* is only allowed in a select list or count(*)");
    case DRIFT_AST_UNARY:
        if (drift_expr_eval(env, n->l, ctx, &a) < 0)
            return -1;
        if (n->op != DRIFT_TOP_MINUS || a.type == DRIFT_VAL_NULL) {
            *out = a; /* unary plus is a no-op, as in SQLite */
            return 0;
        }
        drift_val_numify(&a, &b);
        if (b.type == DRIFT_VAL_INT)
            *out = b.u.i == INT64_MIN ? drift_val_real(9223372036854775808.0) : drift_val_int(-b.u.i);
        else
            *out = drift_val_real(-b.u.r);
        return 0;
    case DRIFT_AST_NOT:
        if (drift_expr_eval(env, n->l, ctx, &a) < 0)
            return -1;
        *out = s_b3(s_not3(drift_val_truth(&a)));
        return 0;
    case DRIFT_AST_AND:
    case DRIFT_AST_OR: {
        int is_and = n->kind == DRIFT_AST_AND;
        if (drift_expr_eval(env, n->l, ctx, &a) < 0)
            return -1;
        int x = drift_val_truth(&a);
        if ((is_and && x == 0) || (!is_and && x == 1)) {
            *out = drift_val_bool(x);
            return 0;
        }
        if (drift_expr_eval(env, n->r, ctx, &b) < 0)
            return -1;
        int y = drift_val_truth(&b);
        if (is_and)
            *out = y == 0 ? drift_val_bool(0) : (x == 1 && y == 1) ? drift_val_bool(1) : drift_val_null();
        else
            *out = y == 1 ? drift_val_bool(1) : (x == 0 && y == 0) ? drift_val_bool(0) : drift_val_null();
        return 0;
    }
    case DRIFT_AST_ISNULL: {
        if (drift_expr_eval(env, n->l, ctx, &a) < 0)
            return -1;
        int isnull = a.type == DRIFT_VAL_NULL;
        *out = drift_val_bool(n->negate ? !isnull : isnull);
        return 0;
    }
    case DRIFT_AST_IS: {
        if (drift_expr_eval(env, n->l, ctx, &a) < 0 || drift_expr_eval(env, n->r, ctx, &b) < 0)
            return -1;
        int eq;
        if (a.type == DRIFT_VAL_NULL || b.type == DRIFT_VAL_NULL) {
            eq = a.type == b.type;
        } else {
            if (s_affine(env, n->l, &a, n->r, &b) < 0)
                return -1;
            eq = drift_val_compare_op(DRIFT_BOP_EQ, &a, &b) == 1;
        }
        *out = drift_val_bool(n->negate ? !eq : eq);
        return 0;
    }
    case DRIFT_AST_BINARY:
        if (drift_expr_eval(env, n->l, ctx, &a) < 0 || drift_expr_eval(env, n->r, ctx, &b) < 0)
            return -1;
        if (s_is_cmp(n->bop)) {
            if (s_affine(env, n->l, &a, n->r, &b) < 0)
                return -1;
            *out = s_b3(drift_val_compare_op(n->bop, &a, &b));
            return 0;
        }
        switch (n->bop) {
        case DRIFT_BOP_ADD:
        case DRIFT_BOP_SUB:
        case DRIFT_BOP_MUL:
        case DRIFT_BOP_DIV:
        case DRIFT_BOP_MOD: return s_arith(n->bop, &a, &b, out);
        case DRIFT_BOP_CONCAT: return s_concat(env, &a, &b, out);
        case DRIFT_BOP_JSON_GET: return s_json_get(env, n, &a, &b, 0, out);
        case DRIFT_BOP_JSON_GET_TEXT: return s_json_get(env, n, &a, &b, 1, out);
        case DRIFT_BOP_BITAND:
        case DRIFT_BOP_BITOR:
        case DRIFT_BOP_SHL:
        case DRIFT_BOP_SHR: s_bits(n->bop, &a, &b, out); return 0;
        default: break;
        }
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_INTERNAL, drift_expr_pos(env, n), "unknown operator %d",
                                (int)n->bop);
    case DRIFT_AST_BETWEEN: {
        drift_value_t lo, hi;
        if (n->nargs != 2)
            return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_INTERNAL, drift_expr_pos(env, n), "malformed BETWEEN");
        if (drift_expr_eval(env, n->l, ctx, &a) < 0 || drift_expr_eval(env, n->args[0], ctx, &lo) < 0 ||
            drift_expr_eval(env, n->args[1], ctx, &hi) < 0)
            return -1;
        drift_value_t a1 = a, a2 = a;
        if (s_affine(env, n->l, &a1, n->args[0], &lo) < 0 || s_affine(env, n->l, &a2, n->args[1], &hi) < 0)
            return -1;
        int x = drift_val_compare_op(DRIFT_BOP_GE, &a1, &lo), y = drift_val_compare_op(DRIFT_BOP_LE, &a2, &hi);
        int r = (x == 0 || y == 0) ? 0 : (x == 1 && y == 1) ? 1 : -1;
        *out = s_b3(n->negate ? s_not3(r) : r);
        return 0;
    }
    case DRIFT_AST_IN_LIST: {
        int r;
        if (drift_expr_eval(env, n->l, ctx, &a) < 0 || s_in_list(env, n, ctx, &a, &r) < 0)
            return -1;
        *out = s_b3(n->negate ? s_not3(r) : r);
        return 0;
    }
    case DRIFT_AST_IN_SELECT:
        if (drift_expr_eval(env, n->l, ctx, &a) < 0 || s_subquery(env, n, ctx, &a, &b) < 0)
            return -1;
        *out = s_b3(n->negate ? s_not3(drift_val_truth(&b)) : drift_val_truth(&b));
        return 0;
    case DRIFT_AST_EXISTS:
        if (s_subquery(env, n, ctx, NULL, &b) < 0)
            return -1;
        *out = s_b3(n->negate ? s_not3(drift_val_truth(&b)) : drift_val_truth(&b));
        return 0;
    case DRIFT_AST_SUBQUERY: return s_subquery(env, n, ctx, NULL, out);
    case DRIFT_AST_LIKE: return s_like(env, n, ctx, out);
    case DRIFT_AST_CASE: return s_case(env, n, ctx, out);
    case DRIFT_AST_CAST:
        if (drift_expr_eval(env, n->l, ctx, &a) < 0)
            return -1;
        if (drift_val_cast(env->arena, n->cast_type, &a, out, env->err) < 0) {
            if (env->err && env->err->position == 0)
                env->err->position = drift_expr_pos(env, n);
            return -1;
        }
        return 0;
    case DRIFT_AST_FUNC: return s_func(env, n, ctx, out);
    }
    return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_INTERNAL, drift_expr_pos(env, n), "unknown expression node %d",
                            (int)n->kind);
}

int drift_expr_cond(drift_evalenv_t *env, const drift_node_t *n, const drift_rowctx_t *ctx)
{
    drift_value_t v;
    if (drift_expr_eval(env, n, ctx, &v) < 0)
        return -1;
    return drift_val_truth(&v) == 1;
}

static drift_val_type_t s_coltype_val(drift_coltype_t t)
{
    switch (t) {
    case DRIFT_COL_INTEGER: return DRIFT_VAL_INT;
    case DRIFT_COL_REAL: return DRIFT_VAL_REAL;
    case DRIFT_COL_TEXT: return DRIFT_VAL_TEXT;
    case DRIFT_COL_BOOLEAN: return DRIFT_VAL_BOOL;
    case DRIFT_COL_BLOB: return DRIFT_VAL_BLOB;
    case DRIFT_COL_JSON: return DRIFT_VAL_JSON;
    case DRIFT_COL_TIMESTAMP: return DRIFT_VAL_TIMESTAMP;
    default: return DRIFT_VAL_NULL;
    }
}

drift_val_type_t drift_expr_type_hint(const drift_node_t *n)
{
    if (!n)
        return DRIFT_VAL_NULL;
    switch (n->kind) {
    case DRIFT_AST_LITERAL:
    case DRIFT_AST_JSON: return n->value.type;
    case DRIFT_AST_NOT:
    case DRIFT_AST_AND:
    case DRIFT_AST_OR:
    case DRIFT_AST_ISNULL:
    case DRIFT_AST_IS:
    case DRIFT_AST_BETWEEN:
    case DRIFT_AST_IN_LIST:
    case DRIFT_AST_IN_SELECT:
    case DRIFT_AST_EXISTS:
    case DRIFT_AST_LIKE: return DRIFT_VAL_BOOL;
    case DRIFT_AST_CAST: return s_coltype_val(n->cast_type);
    case DRIFT_AST_UNARY: {
        drift_val_type_t t = drift_expr_type_hint(n->l);
        return t == DRIFT_VAL_INT || t == DRIFT_VAL_REAL ? t : DRIFT_VAL_NULL;
    }
    case DRIFT_AST_BINARY: {
        if (s_is_cmp(n->bop))
            return DRIFT_VAL_BOOL;
        switch (n->bop) {
        case DRIFT_BOP_CONCAT: return DRIFT_VAL_TEXT;
        case DRIFT_BOP_JSON_GET: return DRIFT_VAL_JSON;
        case DRIFT_BOP_JSON_GET_TEXT: return DRIFT_VAL_NULL;
        case DRIFT_BOP_BITAND:
        case DRIFT_BOP_BITOR:
        case DRIFT_BOP_SHL:
        case DRIFT_BOP_SHR: return DRIFT_VAL_INT;
        default: break;
        }
        drift_val_type_t x = drift_expr_type_hint(n->l), y = drift_expr_type_hint(n->r);
        if (x == DRIFT_VAL_REAL && (y == DRIFT_VAL_REAL || y == DRIFT_VAL_INT))
            return DRIFT_VAL_REAL;
        if (y == DRIFT_VAL_REAL && x == DRIFT_VAL_INT)
            return DRIFT_VAL_REAL;
        /* INTEGER op INTEGER may overflow to REAL or divide by zero to NULL: still INTEGER typed */
        if (x == DRIFT_VAL_INT && y == DRIFT_VAL_INT)
            return DRIFT_VAL_INT;
        return DRIFT_VAL_NULL;
    }
    case DRIFT_AST_CASE: {
        drift_val_type_t t = DRIFT_VAL_NULL;
        for (uint32_t i = 1; i < n->nargs; i += 2) {
            drift_val_type_t u = drift_expr_type_hint(n->args[i]);
            if (u == DRIFT_VAL_NULL)
                continue;
            if (t != DRIFT_VAL_NULL && u != t)
                return DRIFT_VAL_NULL;
            t = u;
        }
        if (n->r) {
            drift_val_type_t u = drift_expr_type_hint(n->r);
            if (u != DRIFT_VAL_NULL && t != DRIFT_VAL_NULL && u != t)
                return DRIFT_VAL_NULL;
            if (u != DRIFT_VAL_NULL)
                t = u;
        }
        return t;
    }
    case DRIFT_AST_FUNC: {
        const char *name = n->name ? n->name : "";
        switch (drift_agg_lookup(name, n->nargs, n->star)) {
        case DRIFT_AGG_COUNT_STAR:
        case DRIFT_AGG_COUNT: return DRIFT_VAL_INT;
        case DRIFT_AGG_TOTAL:
        case DRIFT_AGG_AVG: return DRIFT_VAL_REAL;
        case DRIFT_AGG_GROUP_CONCAT: return DRIFT_VAL_TEXT;
        case DRIFT_AGG_SUM: {
            drift_val_type_t t = n->nargs ? drift_expr_type_hint(n->args[0]) : DRIFT_VAL_NULL;
            return t == DRIFT_VAL_INT || t == DRIFT_VAL_REAL ? t : DRIFT_VAL_NULL;
        }
        case DRIFT_AGG_MIN:
        case DRIFT_AGG_MAX: return n->nargs ? drift_expr_type_hint(n->args[0]) : DRIFT_VAL_NULL;
        default: break;
        }
        drift_val_type_t t = drift_func_type_hint(name, n->nargs);
        if (t != DRIFT_VAL_NULL)
            return t;
        /* functions returning one of their arguments' type */
        if (!strcmp(name, "abs") || !strcmp(name, "coalesce") || !strcmp(name, "ifnull") || !strcmp(name, "nullif") ||
            !strcmp(name, "min") || !strcmp(name, "max")) {
            drift_val_type_t r = DRIFT_VAL_NULL;
            for (uint32_t i = 0; i < n->nargs; i++) {
                drift_val_type_t u = drift_expr_type_hint(n->args[i]);
                if (u == DRIFT_VAL_NULL)
                    continue;
                if (r != DRIFT_VAL_NULL && u != r)
                    return DRIFT_VAL_NULL;
                r = u;
                if (!strcmp(name, "nullif"))
                    break;
            }
            return r;
        }
        return DRIFT_VAL_NULL;
    }
    default: return DRIFT_VAL_NULL;
    }
}
