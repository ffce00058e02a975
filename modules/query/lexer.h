/* modules/query/lexer.h — the SQL lexer.
 *
 * Turns one statement's text into tokens: keywords (case-insensitive),
 * identifiers, "quoted identifiers" ("" escapes), 'strings' ('' escapes),
 * integers (also 0x hex) and reals, blobs x'0A1B', $N and ? parameters, operators and
 * punctuation; skips whitespace, -- line and block comments. Each token
 * records its byte offset for 42601 positions. Tokens borrow from the source
 * text except decoded strings/identifiers with escapes, which the lexer owns.
 * Single-threaded per lexer; no globals besides the constant keyword table. */
#ifndef DRIFT_QUERY_LEXER_H
#define DRIFT_QUERY_LEXER_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DRIFT_TOK_EOF = 0,
    DRIFT_TOK_IDENT,   /* text = the identifier as written (unquoted) */
    DRIFT_TOK_QIDENT,  /* text = the decoded quoted identifier */
    DRIFT_TOK_KEYWORD, /* kw = the keyword id */
    DRIFT_TOK_STRING,  /* text = decoded string contents */
    DRIFT_TOK_INTEGER, /* ival (text = digits) */
    DRIFT_TOK_REAL,    /* rval */
    DRIFT_TOK_BLOB,    /* text = decoded bytes */
    DRIFT_TOK_PARAM,   /* ival = N of $N; 0 for ? (the parser numbers those) */
    DRIFT_TOK_OP,      /* op = a DRIFT_OP_* code */
} drift_tok_kind_t;

/* Operators and punctuation. */
typedef enum {
    DRIFT_TOP_NONE = 0,
    DRIFT_TOP_PLUS,
    DRIFT_TOP_MINUS,
    DRIFT_TOP_STAR,
    DRIFT_TOP_SLASH,
    DRIFT_TOP_PERCENT,
    DRIFT_TOP_CONCAT, /* || */
    DRIFT_TOP_EQ,     /* = or == */
    DRIFT_TOP_NE,     /* <> or != */
    DRIFT_TOP_LT,
    DRIFT_TOP_LE,
    DRIFT_TOP_GT,
    DRIFT_TOP_GE,
    DRIFT_TOP_LPAREN,
    DRIFT_TOP_RPAREN,
    DRIFT_TOP_COMMA,
    DRIFT_TOP_SEMI,
    DRIFT_TOP_DOT,
    DRIFT_TOP_CAST, /* :: */
    DRIFT_TOP_AT,   /* @ (AS OF @seq:N) */
    DRIFT_TOP_COLON,
    DRIFT_TOP_LBRACE,
    DRIFT_TOP_RBRACE,
    DRIFT_TOP_LBRACKET,
    DRIFT_TOP_RBRACKET,
    DRIFT_TOP_AMP,    /* & */
    DRIFT_TOP_PIPE,   /* | */
    DRIFT_TOP_SHL,    /* << */
    DRIFT_TOP_SHR,    /* >> */
    DRIFT_TOP_TILDE,  /* ~ (unary bitwise not) */
    DRIFT_TOP_ARROW,  /* -> */
    DRIFT_TOP_ARROW2, /* ->> */
} drift_tok_op_t;

/* Keywords, in ASCII order (the lexer binary-searches them; ids are internal). */
// clang-format off
#define DRIFT_KEYWORDS(X) \
    X(ABORT) X(ADD) X(ALL) X(ALTER) X(ANALYZE) X(AND) X(AS) X(ASC) X(BEGIN) X(BETWEEN) X(BY) X(CASE) \
    X(CAST) X(COLLATE) X(COLUMN) X(COMMIT) X(COMMITTED) X(COMPACT) X(CONSTRAINT) X(CREATE) X(CROSS) \
    X(CURRENT_DATE) X(CURRENT_TIME) X(CURRENT_TIMESTAMP) X(DEFAULT) X(DELETE) X(DESC) X(DISTINCT) \
    X(DRIFT) X(DROP) X(ELSE) X(END) X(ESCAPE) X(EXCEPT) X(EXISTS) X(EXPLAIN) X(FALSE) X(FOR) X(FROM) \
    X(FULL) X(GLOB) X(GROUP) X(HAVING) X(IF) X(IN) X(INDEX) X(INDEXED) X(INNER) X(INSERT) X(INTERSECT) \
    X(INTO) X(IS) X(ISNULL) X(ISOLATION) X(JOIN) X(KEY) X(LEFT) X(LEVEL) X(LIKE) X(LIMIT) X(NATURAL) \
    X(NOT) X(NOTNULL) X(NULL) X(OF) X(OFFSET) X(ON) X(OR) X(ORDER) X(OUTER) X(PATCH) X(PRIMARY) X(READ) \
    X(REINDEX) X(RELEASE) X(RENAME) X(REPEATABLE) X(REPLACE) X(RIGHT) X(ROLLBACK) X(SAVEPOINT) X(SELECT) \
    X(SERIALIZABLE) X(SET) X(SHOW) X(SNAPSHOT) X(SOFT) X(START) X(SYSTEM_TIME) X(TABLE) X(TEMP) \
    X(TEMPORARY) X(THEN) X(TO) X(TRANSACTION) X(TRIGGER) X(TRUE) X(UNION) X(UNIQUE) X(UPDATE) X(USING) \
    X(VALUES) X(VIEW) X(WHEN) X(WHERE) X(WITH) X(WORK)
// clang-format on

typedef enum {
    DRIFT_KW_NONE = 0,
#define X(k) DRIFT_KW_##k,
    DRIFT_KEYWORDS(X)
#undef X
        DRIFT_KW__COUNT
} drift_kw_t;

typedef struct {
    drift_tok_kind_t kind;
    uint32_t pos; /* byte offset in the source */
    uint32_t len; /* bytes in the source */
    drift_kw_t kw;
    drift_tok_op_t op;
    int64_t ival;
    double rval;
    const char *text; /* see drift_tok_kind_t; not NUL-terminated */
    size_t text_len;
} drift_tok_t;

typedef struct drift_lexer drift_lexer_t;

/* A lexer over src[0..len) (borrowed: must outlive the lexer and its tokens). Returns NULL + errno. */
drift_lexer_t *drift_lexer_new(const char *src, size_t len);
/* Frees the lexer and every decoded token text; NULLs *self_p; accepts NULL. */
void drift_lexer_destroy(drift_lexer_t **self_p);
/* Reads the next token. Returns 0, or -1 with a message in err and the offset in *ret_pos
 * (unterminated string/comment, bad character, bad number, bad blob, bad parameter). */
int drift_lexer_next(drift_lexer_t *self, drift_tok_t *tok, char *err, size_t errcap, uint32_t *ret_pos);
/* Finds the end of the raw JSON text that starts at byte offset start (a '{' or '['): the matching
 * closing bracket, skipping JSON strings. Returns 0 with *ret_end = the offset just after it and moves
 * the lexer there (the next token follows the JSON), or -1 with a message and *ret_pos (unbalanced
 * brackets, unterminated string). The JSON itself is validated by the caller (common/json.h). */
int drift_lexer_json_span(drift_lexer_t *self, uint32_t start, uint32_t *ret_end, char *err, size_t errcap,
                          uint32_t *ret_pos);
/* 1 if the keyword is reserved: it cannot be an unquoted identifier or alias (non-reserved ones such
 * as KEY, VIEW or TEMP can). */
int drift_kw_reserved(drift_kw_t kw);
/* The keyword's name ("SELECT"). */
const char *drift_kw_name(drift_kw_t kw);
/* The operator's spelling ("<="). */
const char *drift_op_text(drift_tok_op_t op);
/* 1-based character (not byte) position of byte offset pos in src, for error messages. */
uint32_t drift_lexer_charpos(const char *src, size_t len, uint32_t pos);

#endif
