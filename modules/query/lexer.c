/* modules/query/lexer.c — see lexer.h. Hand-written scanner; decoded texts
 * (strings with '' escapes, blobs, quoted identifiers with "") live in a list
 * of small allocations the lexer frees at destroy. */
#include "modules/query/lexer.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct s_buf {
    struct s_buf *next;
    char data[];
} s_buf_t;

struct drift_lexer {
    const char *src;
    size_t len;
    size_t pos;
    s_buf_t *bufs;
};

static const char *const s_kw_names[] = {NULL,
#define X(k) #k,
                                         DRIFT_KEYWORDS(X)
#undef X
};

/* The keyword's upper-case name. */
const char *drift_kw_name(drift_kw_t kw)
{
    return kw > 0 && kw < DRIFT_KW__COUNT ? s_kw_names[kw] : "?";
}

/* Reserved keywords (see lexer.h): the ones that end or join clauses, and literals. */
int drift_kw_reserved(drift_kw_t kw)
{
    switch (kw) {
    case DRIFT_KW_ALL:
    case DRIFT_KW_AND:
    case DRIFT_KW_AS:
    case DRIFT_KW_BETWEEN:
    case DRIFT_KW_BY:
    case DRIFT_KW_CASE:
    case DRIFT_KW_CAST:
    case DRIFT_KW_COLLATE:
    case DRIFT_KW_CONSTRAINT:
    case DRIFT_KW_CREATE:
    case DRIFT_KW_CROSS:
    case DRIFT_KW_CURRENT_DATE:
    case DRIFT_KW_CURRENT_TIME:
    case DRIFT_KW_CURRENT_TIMESTAMP:
    case DRIFT_KW_DEFAULT:
    case DRIFT_KW_DELETE:
    case DRIFT_KW_DISTINCT:
    case DRIFT_KW_DROP:
    case DRIFT_KW_ELSE:
    case DRIFT_KW_END:
    case DRIFT_KW_ESCAPE:
    case DRIFT_KW_EXCEPT:
    case DRIFT_KW_EXISTS:
    case DRIFT_KW_FALSE:
    case DRIFT_KW_FOR:
    case DRIFT_KW_FROM:
    case DRIFT_KW_FULL:
    case DRIFT_KW_GLOB:
    case DRIFT_KW_GROUP:
    case DRIFT_KW_HAVING:
    case DRIFT_KW_IN:
    case DRIFT_KW_INNER:
    case DRIFT_KW_INSERT:
    case DRIFT_KW_INTERSECT:
    case DRIFT_KW_INTO:
    case DRIFT_KW_IS:
    case DRIFT_KW_ISNULL:
    case DRIFT_KW_JOIN:
    case DRIFT_KW_LEFT:
    case DRIFT_KW_LIKE:
    case DRIFT_KW_LIMIT:
    case DRIFT_KW_NATURAL:
    case DRIFT_KW_NOT:
    case DRIFT_KW_NOTNULL:
    case DRIFT_KW_NULL:
    case DRIFT_KW_OFFSET:
    case DRIFT_KW_ON:
    case DRIFT_KW_OR:
    case DRIFT_KW_ORDER:
    case DRIFT_KW_OUTER:
    case DRIFT_KW_PRIMARY:
    case DRIFT_KW_RIGHT:
    case DRIFT_KW_SELECT:
    case DRIFT_KW_SET:
    case DRIFT_KW_THEN:
    case DRIFT_KW_TO:
    case DRIFT_KW_TRUE:
    case DRIFT_KW_UNION:
    case DRIFT_KW_UNIQUE:
    case DRIFT_KW_UPDATE:
    case DRIFT_KW_USING:
    case DRIFT_KW_VALUES:
    case DRIFT_KW_WHEN:
    case DRIFT_KW_WHERE:
    case DRIFT_KW_WITH: return 1;
    default: return 0;
    }
}

/* The operator's spelling. */
const char *drift_op_text(drift_tok_op_t op)
{
    static const char *const t[] = {
        "?", "+", "-",  "*", "/", "%", "||", "=", "<>", "<", "<=", ">",  ">=", "(", ")",  ",",
        ";", ".", "::", "@", ":", "{", "}",  "[", "]",  "&", "|",  "<<", ">>", "~", "->", "->>"};
    return (size_t)op < sizeof t / sizeof t[0] ? t[op] : "?";
}

/* A lexer over src (borrowed). */
drift_lexer_t *drift_lexer_new(const char *src, size_t len)
{
    drift_lexer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->src = src;
    self->len = len;
    return self;
}

/* Frees the lexer and its decoded texts. */
void drift_lexer_destroy(drift_lexer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_buf_t *b = (*self_p)->bufs;
    while (b) {
        s_buf_t *n = b->next;
        free(b);
        b = n;
    }
    free(*self_p);
    *self_p = NULL;
}

/* A buffer of n bytes owned by the lexer. */
static char *s_alloc(drift_lexer_t *self, size_t n)
{
    s_buf_t *b = malloc(sizeof *b + n + 1);
    if (!b)
        return NULL;
    b->next = self->bufs;
    self->bufs = b;
    return b->data;
}

/* Counts UTF-8 lead bytes before pos. */
uint32_t drift_lexer_charpos(const char *src, size_t len, uint32_t pos)
{
    uint32_t n = 1;
    for (size_t i = 0; i < pos && i < len; i++)
        if (((unsigned char)src[i] & 0xc0) != 0x80)
            n++;
    return n;
}

/* The keyword spelled p[0..n) (any case), or DRIFT_KW_NONE: a binary search of the ASCII-sorted names. */
static drift_kw_t s_keyword(const char *p, size_t n)
{
    char up[24];
    if (n > 17 || n < 2)
        return DRIFT_KW_NONE;
    for (size_t i = 0; i < n; i++)
        up[i] = p[i] >= 'a' && p[i] <= 'z' ? (char)(p[i] - 'a' + 'A') : p[i];
    up[n] = 0;
    int lo = 1, hi = DRIFT_KW__COUNT - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(up, s_kw_names[mid]);
        if (c == 0)
            return (drift_kw_t)mid;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return DRIFT_KW_NONE;
}

/* The value of a hex digit, or -1. */
static int s_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

#define LEXFAIL(at, ...)                                                                                               \
    do {                                                                                                               \
        if (err && errcap)                                                                                             \
            snprintf(err, errcap, __VA_ARGS__);                                                                        \
        if (ret_pos)                                                                                                   \
            *ret_pos = (uint32_t)(at);                                                                                 \
        return -1;                                                                                                     \
    } while (0)

/* Reads the next token (see lexer.h). */
int drift_lexer_next(drift_lexer_t *self, drift_tok_t *tok, char *err, size_t errcap, uint32_t *ret_pos)
{
    const char *s = self->src;
    size_t n = self->len, i = self->pos;
    memset(tok, 0, sizeof *tok);
    /* whitespace and comments */
    for (;;) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
            while (i < n && s[i] != '\n')
                i++;
            continue;
        }
        if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
            size_t start = i;
            i += 2;
            while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/'))
                i++;
            if (i + 1 >= n)
                LEXFAIL(start, "unterminated /* comment");
            i += 2;
            continue;
        }
        break;
    }
    tok->pos = (uint32_t)i;
    if (i >= n) {
        tok->kind = DRIFT_TOK_EOF;
        self->pos = i;
        return 0;
    }
    const size_t start = i;
    unsigned char c = (unsigned char)s[i];

    if ((c == 'x' || c == 'X') && i + 1 < n && s[i + 1] == '\'') {
        /* blob literal x'...' */
        i += 2;
        size_t d0 = i;
        while (i < n && s[i] != '\'')
            i++;
        if (i >= n)
            LEXFAIL(start, "unterminated blob literal");
        size_t nd = i - d0;
        if (nd % 2)
            LEXFAIL(start, "blob literal needs an even number of hex digits");
        char *out = s_alloc(self, nd / 2);
        if (!out)
            LEXFAIL(start, "out of memory");
        for (size_t k = 0; k < nd; k += 2) {
            int hi = s_hex((unsigned char)s[d0 + k]), lo = s_hex((unsigned char)s[d0 + k + 1]);
            if (hi < 0 || lo < 0)
                LEXFAIL(d0 + k, "invalid hex digit in blob literal");
            out[k / 2] = (char)(hi << 4 | lo);
        }
        i++;
        tok->kind = DRIFT_TOK_BLOB;
        tok->text = out;
        tok->text_len = nd / 2;
    } else if (isalpha(c) || c == '_' || c >= 0x80) {
        while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_' || (unsigned char)s[i] >= 0x80))
            i++;
        tok->kw = s_keyword(s + start, i - start);
        tok->kind = tok->kw ? DRIFT_TOK_KEYWORD : DRIFT_TOK_IDENT;
        tok->text = s + start;
        tok->text_len = i - start;
    } else if (c == '\'' || c == '"') {
        /* 'string' or "identifier"; a doubled quote is one quote */
        const char q = (char)c;
        size_t out_n = 0;
        i++;
        size_t k = i;
        for (;;) {
            if (k >= n)
                LEXFAIL(start, q == '\'' ? "unterminated string literal" : "unterminated quoted identifier");
            if (s[k] == q) {
                if (k + 1 < n && s[k + 1] == q) {
                    k += 2;
                    out_n++;
                    continue;
                }
                break;
            }
            k++;
            out_n++;
        }
        char *out = s_alloc(self, out_n);
        if (!out)
            LEXFAIL(start, "out of memory");
        size_t o = 0;
        while (i < k) {
            out[o++] = s[i];
            i += s[i] == q ? 2 : 1;
        }
        i = k + 1;
        if (q == '"' && out_n == 0)
            LEXFAIL(start, "zero-length quoted identifier");
        tok->kind = q == '\'' ? DRIFT_TOK_STRING : DRIFT_TOK_QIDENT;
        tok->text = out;
        tok->text_len = out_n;
    } else if (c == '0' && i + 2 < n && (s[i + 1] == 'x' || s[i + 1] == 'X') && s_hex((unsigned char)s[i + 2]) >= 0) {
        /* 0x hex integer: up to 16 digits, taken as a 64-bit two's complement value like SQLite */
        i += 2;
        uint64_t v = 0;
        size_t d0 = i;
        while (i < n && s_hex((unsigned char)s[i]) >= 0)
            v = v << 4 | (uint64_t)s_hex((unsigned char)s[i++]);
        if (i - d0 > 16)
            LEXFAIL(start, "hexadecimal literal too big");
        if (i < n && (isalpha((unsigned char)s[i]) || s[i] == '_'))
            LEXFAIL(start, "trailing junk after numeric literal");
        tok->kind = DRIFT_TOK_INTEGER;
        tok->ival = (int64_t)v;
        tok->text = s + start;
        tok->text_len = i - start;
    } else if (isdigit(c) || (c == '.' && i + 1 < n && isdigit((unsigned char)s[i + 1]))) {
        int real = 0;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i < n && s[i] == '.') {
            real = 1;
            i++;
            while (i < n && isdigit((unsigned char)s[i]))
                i++;
        }
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
            size_t e = i + 1;
            if (e < n && (s[e] == '+' || s[e] == '-'))
                e++;
            if (e < n && isdigit((unsigned char)s[e])) {
                real = 1;
                i = e;
                while (i < n && isdigit((unsigned char)s[i]))
                    i++;
            } else {
                LEXFAIL(i, "invalid number: exponent without digits");
            }
        }
        if (i < n && (isalpha((unsigned char)s[i]) || s[i] == '_'))
            LEXFAIL(start, "trailing junk after numeric literal");
        char tmp[64];
        size_t tl = i - start;
        tok->text = s + start;
        tok->text_len = tl;
        if (!real) {
            /* integers that do not fit in 64 bits become reals, like SQLite */
            uint64_t v = 0;
            int overflow = 0;
            for (size_t k = start; k < i; k++) {
                unsigned d = (unsigned)(s[k] - '0');
                if (v > (UINT64_MAX - d) / 10)
                    overflow = 1;
                v = v * 10 + d;
            }
            if (!overflow && v <= (uint64_t)INT64_MAX + 1) {
                tok->kind = DRIFT_TOK_INTEGER;
                /* INT64_MAX + 1 is only valid after a unary minus; the parser folds it */
                tok->ival = (int64_t)v;
                if (v == (uint64_t)INT64_MAX + 1)
                    tok->kind = DRIFT_TOK_REAL, tok->rval = 9223372036854775808.0;
                goto done;
            }
        }
        if (tl >= sizeof tmp)
            LEXFAIL(start, "numeric literal too long");
        memcpy(tmp, s + start, tl);
        tmp[tl] = 0;
        tok->kind = DRIFT_TOK_REAL;
        tok->rval = strtod(tmp, NULL);
        if (!isfinite(tok->rval))
            LEXFAIL(start, "numeric literal out of range");
    } else if (c == '?') {
        i++;
        tok->kind = DRIFT_TOK_PARAM;
        tok->ival = 0;
    } else if (c == '$') {
        i++;
        if (i >= n || !isdigit((unsigned char)s[i]))
            LEXFAIL(start, "'$' must be followed by a parameter number");
        int64_t v = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            v = v * 10 + (s[i] - '0');
            if (v > 65535)
                LEXFAIL(start, "parameter number too large");
            i++;
        }
        if (v == 0)
            LEXFAIL(start, "parameters are numbered from $1");
        tok->kind = DRIFT_TOK_PARAM;
        tok->ival = v;
    } else {
        tok->kind = DRIFT_TOK_OP;
        char c2 = i + 1 < n ? s[i + 1] : 0;
        i++;
        switch (c) {
        case '+': tok->op = DRIFT_TOP_PLUS; break;
        case '-':
            tok->op = DRIFT_TOP_MINUS;
            if (c2 == '>') {
                tok->op = DRIFT_TOP_ARROW;
                i++;
                if (i < n && s[i] == '>')
                    tok->op = DRIFT_TOP_ARROW2, i++;
            }
            break;
        case '&': tok->op = DRIFT_TOP_AMP; break;
        case '~': tok->op = DRIFT_TOP_TILDE; break;
        case '*': tok->op = DRIFT_TOP_STAR; break;
        case '/': tok->op = DRIFT_TOP_SLASH; break;
        case '%': tok->op = DRIFT_TOP_PERCENT; break;
        case '(': tok->op = DRIFT_TOP_LPAREN; break;
        case ')': tok->op = DRIFT_TOP_RPAREN; break;
        case ',': tok->op = DRIFT_TOP_COMMA; break;
        case ';': tok->op = DRIFT_TOP_SEMI; break;
        case '.': tok->op = DRIFT_TOP_DOT; break;
        case '@': tok->op = DRIFT_TOP_AT; break;
        case '{': tok->op = DRIFT_TOP_LBRACE; break;
        case '}': tok->op = DRIFT_TOP_RBRACE; break;
        case '[': tok->op = DRIFT_TOP_LBRACKET; break;
        case ']': tok->op = DRIFT_TOP_RBRACKET; break;
        case '|':
            tok->op = DRIFT_TOP_PIPE;
            if (c2 == '|')
                tok->op = DRIFT_TOP_CONCAT, i++;
            break;
        case '=':
            tok->op = DRIFT_TOP_EQ;
            if (c2 == '=')
                i++;
            break;
        case '!':
            if (c2 != '=')
                LEXFAIL(start, "unexpected character '!'");
            tok->op = DRIFT_TOP_NE;
            i++;
            break;
        case '<':
            if (c2 == '=')
                tok->op = DRIFT_TOP_LE, i++;
            else if (c2 == '>')
                tok->op = DRIFT_TOP_NE, i++;
            else if (c2 == '<')
                tok->op = DRIFT_TOP_SHL, i++;
            else
                tok->op = DRIFT_TOP_LT;
            break;
        case '>':
            if (c2 == '=')
                tok->op = DRIFT_TOP_GE, i++;
            else if (c2 == '>')
                tok->op = DRIFT_TOP_SHR, i++;
            else
                tok->op = DRIFT_TOP_GT;
            break;
        case ':':
            if (c2 == ':')
                tok->op = DRIFT_TOP_CAST, i++;
            else
                tok->op = DRIFT_TOP_COLON;
            break;
        default:
            if (isprint(c))
                LEXFAIL(start, "unexpected character '%c'", c);
            LEXFAIL(start, "unexpected byte 0x%02x", c);
        }
    }
done:
    tok->len = (uint32_t)(i - start);
    self->pos = i;
    return 0;
}

int drift_lexer_json_span(drift_lexer_t *self, uint32_t start, uint32_t *ret_end, char *err, size_t errcap,
                          uint32_t *ret_pos)
{
    const char *s = self->src;
    size_t n = self->len, i = start;
    char stack[64];
    size_t depth = 0;
    if (i >= n || (s[i] != '{' && s[i] != '['))
        LEXFAIL(start, "a JSON literal starts with '{' or '['");
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            size_t q = i++;
            while (i < n && s[i] != '"')
                i += s[i] == '\\' ? 2 : 1;
            if (i >= n)
                LEXFAIL(q, "unterminated string in JSON literal");
        } else if (c == '{' || c == '[') {
            if (depth == sizeof stack)
                LEXFAIL(i, "JSON literal nested too deeply");
            stack[depth++] = c == '{' ? '}' : ']';
        } else if (c == '}' || c == ']') {
            if (!depth || stack[depth - 1] != c)
                LEXFAIL(i, "unbalanced '%c' in JSON literal", c);
            if (--depth == 0) {
                self->pos = i + 1;
                *ret_end = (uint32_t)(i + 1);
                return 0;
            }
        }
        i++;
    }
    LEXFAIL(start, "unterminated JSON literal (no matching '%c')", stack[0]);
}
