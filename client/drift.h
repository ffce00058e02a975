/* drift.h — libdrift, the C client library of DriftDB.
 *
 * A client talks to driftdbd over one ZeroMQ DEALER socket with MessagePack
 * messages (the protocol is docs/protocol.md). libdrift needs nothing but
 * libzmq and msgpack-c; link with `pkg-config --cflags --libs drift`.
 *
 * Concurrency: a drift_conn_t is NOT thread-safe. Use one handle per thread (or
 * guard it with your own mutex). Distinct handles are independent: each owns
 * its ZeroMQ context and socket. Results are plain memory owned by the caller
 * and may be read from any thread once received.
 *
 * Errors: every function that can fail returns int: 0 on success, a negative
 * DRIFT_CLIENT_E* code otherwise. When the server answered with an error, the
 * return is DRIFT_CLIENT_ESERVER and the SQLSTATE code and message are in the
 * result (drift_result_errcode/errmsg) and in the connection
 * (drift_conn_errcode/errmsg). Client-side failures also get a SQLSTATE in the
 * connection: "08001" (could not connect), "08006" (timeout or lost
 * connection), "08P01" (malformed reply), "22023" (bad argument).
 *
 * Ownership: a returned `const char *` is borrowed (valid while its owner
 * lives); a returned `char *` is the caller's to free(). */
#ifndef DRIFT_CLIENT_DRIFT_H
#define DRIFT_CLIENT_DRIFT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DRIFT_CLIENT_VERSION "0.1.0"
#define DRIFT_DEFAULT_ENDPOINT "tcp://127.0.0.1:7433"

/* Return codes (0 = ok). */
enum {
    DRIFT_CLIENT_OK = 0,
    DRIFT_CLIENT_ESERVER = -2000,    /* the server answered with an error (see the SQLSTATE) */
    DRIFT_CLIENT_ETIMEOUT = -2001,   /* no reply within the request timeout */
    DRIFT_CLIENT_ECONNECT = -2002,   /* the server did not answer the connect ping */
    DRIFT_CLIENT_EPROTO = -2003,     /* malformed or unexpected reply */
    DRIFT_CLIENT_EINVAL = -2004,     /* bad argument (NULL, out of range, wrong type) */
    DRIFT_CLIENT_ENOMEM = -2005,     /* out of memory */
    DRIFT_CLIENT_EZMQ = -2006,       /* a ZeroMQ call failed (see drift_conn_errmsg) */
    DRIFT_CLIENT_EUNKNOWNID = -2007, /* drift_recv for an id that is not in flight */
    DRIFT_CLIENT_ENOTSUP = -2008,    /* option not supported by this build (e.g. CURVE keys) */
    DRIFT_CLIENT_EINTR = -2009,      /* interrupted by the caller's flag (see drift_conn_set_interrupt) */
};

/* Value types of parameters and result cells (protocol "Values"). */
typedef enum {
    DRIFT_TYPE_NULL = 0,
    DRIFT_TYPE_INT,    /* INTEGER: int64 */
    DRIFT_TYPE_DOUBLE, /* REAL: float64 */
    DRIFT_TYPE_TEXT,   /* TEXT (and TIMESTAMP, sent as RFC 3339 text) */
    DRIFT_TYPE_BLOB,   /* BLOB: bytes */
    DRIFT_TYPE_BOOL,   /* BOOLEAN */
    DRIFT_TYPE_JSON,   /* JSON map or array (read it with drift_result_json) */
} drift_type_t;

/* A parameter value. The library copies nothing until the request is sent, so
 * pointed-to text/bytes must stay valid for the duration of drift_send/exec. */
typedef struct drift_value {
    drift_type_t type;
    union {
        int64_t i;
        double d;
        bool b;
        struct {
            const char *ptr;
            size_t len;
        } s; /* TEXT, BLOB */
    } u;
} drift_value_t;

/* Parameter constructors. */
drift_value_t drift_null(void);
drift_value_t drift_int(int64_t v);
drift_value_t drift_double(double v);
drift_value_t drift_bool(bool v);
/* NUL-terminated text (NULL gives a NULL value). */
drift_value_t drift_text(const char *s);
drift_value_t drift_textn(const char *s, size_t len);
drift_value_t drift_blob(const void *p, size_t len);
/* A JSON value (map or array) given as one encoded MessagePack value, e.g. built
 * with msgpack-c's packer; checked, then sent as it is. */
drift_value_t drift_json_msgpack(const void *mp, size_t len);

/* Connection options. Initialise with drift_options_init() before setting
 * fields: new fields are only ever appended and `size` tells the library which
 * fields the caller knows about (ABI growth slot). */
typedef struct drift_options {
    size_t size;             /* sizeof(drift_options_t), set by drift_options_init */
    const char *endpoint;    /* default DRIFT_DEFAULT_ENDPOINT */
    int connect_timeout_ms;  /* ping at connect; default 5000; 0 = do not ping (lazy connect) */
    int request_timeout_ms;  /* per request; default 30000; -1 = wait forever */
    size_t max_message_size; /* largest reply accepted (ZMQ_MAXMSGSIZE); default 64 MiB */
    /* CURVE encryption (reserved: not served yet; setting any of them makes
     * drift_connect fail with DRIFT_CLIENT_ENOTSUP until the server has CURVE).
     * Z85 text, 40 characters each. */
    const char *curve_server_key;
    const char *curve_public_key;
    const char *curve_secret_key;
    int chunk_rows; /* rows per reply message asked of the server; 0 = server default */
} drift_options_t;

typedef struct drift_conn drift_conn_t;
typedef struct drift_result drift_result_t;

/* Fills *opts with the defaults. */
void drift_options_init(drift_options_t *opts);

/* Opens a connection (opts may be NULL for the defaults). Unless
 * connect_timeout_ms is 0 it sends a `ping` and waits for the reply, so that an
 * unreachable daemon is reported here (DRIFT_CLIENT_ECONNECT). On failure
 * *ret_conn is still set when memory allowed (read drift_conn_errmsg, then
 * drift_close it); it is NULL only on DRIFT_CLIENT_ENOMEM/EINVAL. */
int drift_connect(const drift_options_t *opts, drift_conn_t **ret_conn);
/* Closes the connection (in-flight requests are abandoned); NULLs *conn_p; accepts NULL. */
void drift_close(drift_conn_t **conn_p);

/* SQLSTATE of the last failed call on this connection ("" after a success); borrowed. */
const char *drift_conn_errcode(const drift_conn_t *conn);
/* Message of the last failed call ("" after a success); borrowed. */
const char *drift_conn_errmsg(const drift_conn_t *conn);
/* The `server` string of the last ping reply ("" if none); borrowed. */
const char *drift_conn_server(const drift_conn_t *conn);
/* Static description of a libdrift return code. */
const char *drift_strerror_client(int rc);

/* Session-wide time travel: every following query is sent with the protocol
 * field `as_of` — a commit seq when the text is all digits ("42" or "@seq:42"),
 * else an RFC 3339 timestamp string. NULL or "" clears it. The server checks
 * it (22023 when malformed or in the future). */
int drift_conn_set_as_of(drift_conn_t *conn, const char *as_of);
/* Changes the per-request timeout (ms, -1 = forever) for the following calls. */
int drift_conn_set_timeout(drift_conn_t *conn, int request_timeout_ms);
/* Makes waits interruptible: when a signal handler sets *flag to non-zero, a
 * waiting drift_exec/drift_recv/drift_send abandons its request (a late reply
 * is dropped; the statement may still complete on the server) and returns
 * DRIFT_CLIENT_EINTR (SQLSTATE 57014). The caller resets *flag. NULL disables. */
void drift_conn_set_interrupt(drift_conn_t *conn, volatile sig_atomic_t *flag);
/* W3C traceparent sent with every following request (NULL clears it). */
int drift_conn_set_traceparent(drift_conn_t *conn, const char *traceparent);

/* Sends `ping`; on success *ret_seq (may be NULL) is the server's commit seq. */
int drift_ping(drift_conn_t *conn, int64_t *ret_seq);

/* Runs one statement with positional parameters $1..$n and waits for the whole
 * result (chunks with `more` are assembled). *ret_result is set whenever the
 * server answered (also on DRIFT_CLIENT_ESERVER: it holds the error), else
 * NULL. Free it with drift_result_free. */
int drift_exec(drift_conn_t *conn, const char *sql, const drift_value_t *params, size_t nparams,
               drift_result_t **ret_result);

/* Pipelining: sends a statement without waiting; *ret_id identifies it. Several
 * requests may be in flight; replies are matched by id in any order. */
int drift_send(drift_conn_t *conn, const char *sql, const drift_value_t *params, size_t nparams, uint64_t *ret_id);
/* Sends a `ping` without waiting (its result has seq and no rows). */
int drift_send_ping(drift_conn_t *conn, uint64_t *ret_id);
/* Waits (up to the request timeout) for the complete result of request id;
 * replies to other ids that arrive meanwhile are kept for their own drift_recv.
 * Same result/return convention as drift_exec. */
int drift_recv(drift_conn_t *conn, uint64_t id, drift_result_t **ret_result);
/* Number of requests sent and not yet received. */
size_t drift_inflight(const drift_conn_t *conn);

/* Transactions: send BEGIN / COMMIT / ROLLBACK as SQL. */
int drift_begin(drift_conn_t *conn);
int drift_commit(drift_conn_t *conn);
int drift_rollback(drift_conn_t *conn);

/* Frees a result; NULLs *result_p; accepts NULL. */
void drift_result_free(drift_result_t **result_p);
/* True when the server answered ok. */
bool drift_result_ok(const drift_result_t *r);
/* SQLSTATE of an error result ("" when ok); borrowed. */
const char *drift_result_errcode(const drift_result_t *r);
/* Message of an error result ("" when ok); borrowed. */
const char *drift_result_errmsg(const drift_result_t *r);
/* Request id the result answers. */
uint64_t drift_result_id(const drift_result_t *r);
/* Number of result columns (0 for statements without a result set). */
size_t drift_result_ncolumns(const drift_result_t *r);
/* Name of column col (NULL when out of range); borrowed. */
const char *drift_result_column_name(const drift_result_t *r, size_t col);
/* Declared type of column col ("INTEGER", "TEXT", ...; "NULL" when unknown);
 * NULL when the server sent no types or col is out of range; borrowed. */
const char *drift_result_column_type(const drift_result_t *r, size_t col);
/* Transaction state after the request ("idle", "open", "failed", "aborted"; "" if not sent); borrowed. */
const char *drift_result_txn(const drift_result_t *r);
/* 1-based character position of an error in the SQL, 0 when not given. */
int64_t drift_result_errpos(const drift_result_t *r);
/* Suggested retry delay of a 53300/53400 error in ms, 0 when not given. */
int64_t drift_result_retry_after_ms(const drift_result_t *r);
/* Number of rows (all chunks together). */
size_t drift_result_nrows(const drift_result_t *r);
/* True when the reply had `affected`; then *ret_n (may be NULL) is its value. */
bool drift_result_affected(const drift_result_t *r, int64_t *ret_n);
/* True when the reply had `seq`; then *ret_seq (may be NULL) is its value. */
bool drift_result_seq(const drift_result_t *r, int64_t *ret_seq);
/* Number of reply messages (chunks) the result was assembled from. */
size_t drift_result_nchunks(const drift_result_t *r);

/* Type of a cell (DRIFT_TYPE_NULL also when out of range). */
drift_type_t drift_result_type(const drift_result_t *r, size_t row, size_t col);
/* True when the cell is NULL (or out of range). */
bool drift_result_is_null(const drift_result_t *r, size_t row, size_t col);
/* Typed accessors: 0 and *ret_v on success, DRIFT_CLIENT_EINVAL when out of
 * range, NULL, or of another type. get_int64 accepts a REAL with an integral
 * value; get_double accepts an INTEGER. */
int drift_result_get_int64(const drift_result_t *r, size_t row, size_t col, int64_t *ret_v);
int drift_result_get_double(const drift_result_t *r, size_t row, size_t col, double *ret_v);
int drift_result_get_bool(const drift_result_t *r, size_t row, size_t col, bool *ret_v);
/* TEXT cell: borrowed pointer (not NUL-terminated: use *ret_len) and its length. */
int drift_result_get_text(const drift_result_t *r, size_t row, size_t col, const char **ret_s, size_t *ret_len);
/* BLOB cell: borrowed pointer and length. */
int drift_result_get_blob(const drift_result_t *r, size_t row, size_t col, const void **ret_p, size_t *ret_len);
/* Any cell as JSON text (NULL → "null", BLOB → base64 string, text quoted);
 * the caller frees the NUL-terminated string. NULL + errno on failure. */
char *drift_result_json(const drift_result_t *r, size_t row, size_t col);
/* Any cell as display text: text as is, numbers in decimal (REAL with %.17g),
 * bool as true/false, blob as \x followed by hex, JSON as JSON text. Returns
 * NULL for a NULL cell (errno 0) or on failure (errno set). Caller frees. */
char *drift_result_text(const drift_result_t *r, size_t row, size_t col);

#ifdef __cplusplus
}
#endif

#endif
