/* ipc/commit.h — the commit protocol between query workers (and later the
 * replicator and compactor) and the writer (docs/storage.md, "Commit protocol").
 *
 * Transport: either a DEALER connected to ipc://<data_dir>/run/writer.sock
 * (ROUTER in the writer: tools, benchmarks, tests), or — what the query
 * workers use — an AF_UNIX stream connection to <data_dir>/run/writer.chan
 * (endpoint "unix:<path>", framing of ipc/chan.h, one part per message).
 * One MessagePack map per message, any number in flight, replies matched by
 * "id". On the unix transport a dropped connection is seen at once: the client
 * reports it once (-ECONNRESET from recv/try_recv: every request sent on that
 * connection — drift_commit_client_gen() tells which — will never be answered)
 * and reconnects (with back-off); requests sent while disconnected wait in the
 * client and go out once connected. Request:
 *   {"id": uint, "op": "commit" | "ping",
 *    "snapshot": uint, "isolation": "read committed" | "repeatable read" | "serializable",
 *    "ops": [{"op": "insert"|"update"|"patch"|"delete"|"ddl", "table": uint32, "key": bin, "row": any,
 *             "delta": [base_seq, pos, "add"|"set", value, pos, "add"|"set", value, ...]}, ...],
 *    "reads": [{"table": uint32, "key": bin} | {"table": uint32}, ...],     (serializable only)
 *    "session": uint}                                                        (optional)
 * Reply: {"id", "ok": true, "seq", "ts"} or {"id", "ok": false, "error": {"code", "message"}}.
 * The same op array (normalized: exactly those keys, "row" omitted for delete)
 * is the body of the log frame.
 *
 * "session" (optional, not in the frame) names the client session a commit
 * comes from when one connection carries many (a query worker's link): the
 * writer's group commit learns each session's commit rhythm from it
 * (docs/storage.md, "Group commit"). Without it the connection is the session.
 *
 * "delta" (optional, update ops only) makes the op re-evaluable under READ
 * COMMITTED (docs/architecture.md, "Commit path"): "row" was computed from the
 * version of the key committed at base_seq; when a later commit changed the
 * key, the writer may recompute the row from the latest version instead of
 * answering 40001, by applying to array element pos either "add" (value: an
 * integer or float added with the SQL + rules) or "set" (value: stored as it
 * is). The delta never reaches the log: the frame holds the full row the
 * writer decided on.
 *
 * Parsing works on a message already checked by ipc/msg.h's bounded
 * validator. The client helper is a plain blocking DEALER for tools, tests and
 * benchmarks. No globals; one client per thread. */
#ifndef DRIFT_IPC_COMMIT_H
#define DRIFT_IPC_COMMIT_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

/* SQLSTATE codes the writer answers with. */
#define DRIFT_SQLSTATE_UNIQUE "23505"
#define DRIFT_SQLSTATE_SERIALIZATION "40001"
#define DRIFT_SQLSTATE_DISK_FULL "53100"
#define DRIFT_SQLSTATE_PROTO "08P01"
#define DRIFT_SQLSTATE_NO_DATA "02000"
#define DRIFT_SQLSTATE_TOO_BIG "54000"
#define DRIFT_SQLSTATE_READ_ONLY "25006"

typedef enum {
    DRIFT_ISO_READ_COMMITTED = 0,
    DRIFT_ISO_REPEATABLE_READ = 1,
    DRIFT_ISO_SERIALIZABLE = 2,
} drift_iso_t;

typedef enum {
    DRIFT_COP_INSERT = 1,
    DRIFT_COP_UPDATE = 2,
    DRIFT_COP_PATCH = 3,
    DRIFT_COP_DELETE = 4,
    DRIFT_COP_DDL = 5,
} drift_cop_t;

/* One operation; key and row borrow from the decoded message. */
typedef struct {
    drift_cop_t op;
    uint32_t table;
    const uint8_t *key;
    uint32_t key_len;
    const msgpack_object *row; /* NULL when absent */
    const msgpack_object *delta; /* the "delta" array (validated shape), NULL when absent */
    const uint8_t *row_mp; /* drift_commit_body_keys only: the row's MessagePack bytes (NULL when absent) */
    uint32_t row_mp_len;
} drift_commit_op_t;

/* One read-set entry: a key, or a whole table (predicate reads). */
typedef struct {
    uint32_t table;
    int whole_table;
    const uint8_t *key;
    uint32_t key_len;
} drift_commit_read_t;

typedef enum { DRIFT_CREQ_COMMIT = 0, DRIFT_CREQ_PING = 1 } drift_creq_kind_t;

/* A parsed request. ops/reads are malloc'd (drift_commit_req_clear frees them); the rest borrows. */
typedef struct {
    int has_id;
    msgpack_object id;
    drift_creq_kind_t kind;
    uint64_t snapshot;
    drift_iso_t iso;
    drift_commit_op_t *ops;
    size_t nops;
    drift_commit_read_t *reads;
    size_t nreads;
    int has_session; /* the optional "session" field was present */
    uint64_t session;
} drift_commit_req_t;

/* Parses a decoded request map. Returns 0, DRIFT_EPROTO (message in err) or -ENOMEM. */
int drift_commit_parse(const msgpack_object *root, drift_commit_req_t *req, char *err, size_t errcap);
/* Frees what parse allocated; the struct may be reused. */
void drift_commit_req_clear(drift_commit_req_t *req);

/* Name of an op ("insert"). */
const char *drift_commit_op_name(drift_cop_t op);

/* Packs the frame body (the normalized op array) of req. */
void drift_commit_pack_body(msgpack_packer *pk, const drift_commit_req_t *req);
/* Called for each operation of a frame body; non-zero stops and is returned. */
typedef int (*drift_commit_op_fn)(const drift_commit_op_t *op, void *arg);
/* Validates and decodes a frame body, calling fn per op. Returns 0, fn's value, or DRIFT_EPROTO /
 * DRIFT_ETOOBIG / DRIFT_ETRUNCATED (message in err). */
int drift_commit_body_foreach(const void *body, size_t len, drift_commit_op_fn fn, void *arg, char *err, size_t errcap);

/* The same, faster, for the writer's key map: a bounded, allocation-free walk that reports op, table
 * and key of each op and skips the rows without decoding them (op->row is NULL; op->row_mp/row_mp_len
 * give the row's raw bytes). */
int drift_commit_body_keys(const void *body, size_t len, drift_commit_op_fn fn, void *arg, char *err, size_t errcap);

/* Replies (appended to sb). */
void drift_commit_pack_ok(msgpack_sbuffer *sb, const drift_commit_req_t *req, uint64_t seq, uint64_t ts_ns);
void drift_commit_pack_error(msgpack_sbuffer *sb, const drift_commit_req_t *req, const char *code, const char *message);

/* ---- building requests (clients) ---- */

/* Packs the start of a commit request: a map with id, op, snapshot, isolation, then the "ops" key and
 * an array header of nops; the caller then packs nops ops with drift_commit_pack_op(), then, when
 * nreads > 0, the reads with drift_commit_pack_read() (after drift_commit_pack_reads_header()). */
void drift_commit_pack_request(msgpack_packer *pk, uint64_t id, uint64_t snapshot, drift_iso_t iso, size_t nops,
                               size_t nreads);
/* The same with the optional "session" field (0 = omitted: exactly drift_commit_pack_request). */
void drift_commit_pack_request_session(msgpack_packer *pk, uint64_t id, uint64_t snapshot, drift_iso_t iso,
                                       size_t nops, size_t nreads, uint64_t session);
/* Packs one op; row_mp is an already-encoded MessagePack value (or NULL for none). */
void drift_commit_pack_op(msgpack_packer *pk, drift_cop_t op, uint32_t table, const void *key, size_t key_len,
                          const void *row_mp, size_t row_len);
/* The same with a "delta" (an already-encoded array, see above; NULL = none, like drift_commit_pack_op). */
void drift_commit_pack_op_delta(msgpack_packer *pk, drift_cop_t op, uint32_t table, const void *key, size_t key_len,
                                const void *row_mp, size_t row_len, const void *delta_mp, size_t delta_len);
void drift_commit_pack_reads_header(msgpack_packer *pk, size_t nreads);
/* Packs one read-set entry; key NULL = the whole table. */
void drift_commit_pack_read(msgpack_packer *pk, uint32_t table, const void *key, size_t key_len);

/* A reply as a client sees it. */
typedef struct {
    uint64_t id;
    int ok;
    uint64_t seq;
    uint64_t ts_ns;
    char code[8];
    char message[256];
} drift_commit_reply_t;

/* Parses a reply message. Returns 0 or DRIFT_EPROTO. */
int drift_commit_reply_parse(const void *buf, size_t len, drift_commit_reply_t *ret);

typedef struct drift_commit_client drift_commit_client_t;
/* A client of endpoint: "unix:<path>" (stream transport), else a DEALER with its own ZeroMQ context. Not being
 * able to connect yet is not an error (like zmq_connect). Returns NULL + errno. */
drift_commit_client_t *drift_commit_client_new(const char *endpoint);
/* Closes; NULLs *self_p; accepts NULL. */
void drift_commit_client_destroy(drift_commit_client_t **self_p);
/* Sends one request (len bytes): written, or queued in the client (unix transport). Returns 0 or -errno
 * (-ENOBUFS: the queue is at its bound). */
int drift_commit_client_send(drift_commit_client_t *self, const void *buf, size_t len);
/* Waits up to timeout_ms (-1 forever) for one reply. Returns 0, -EAGAIN on timeout, DRIFT_EPROTO, -ECONNRESET
 * (unix: the connection dropped; requests in flight are lost) or -errno. */
int drift_commit_client_recv(drift_commit_client_t *self, int timeout_ms, drift_commit_reply_t *ret);

/* Receives one reply without waiting. Returns 0, -EAGAIN when none is queued, DRIFT_EPROTO or -errno. */
int drift_commit_client_try_recv(drift_commit_client_t *self, drift_commit_reply_t *ret);
/* The client's ZeroMQ socket, to watch it in an event loop (ipc/zwatch.h); send/receive through the client. NULL
 * on the unix transport. */
void *drift_commit_client_socket(drift_commit_client_t *self);
/* Unix transport: the client watches its connection in base itself (reading, writing what is queued,
 * reconnecting with back-off) and calls fn(arg) whenever replies may be ready or the connection dropped; fn then
 * calls drift_commit_client_try_recv until -EAGAIN. Returns 0, or -ENOTSUP on the ZeroMQ transport. */
struct event_base;
int drift_commit_client_watch(drift_commit_client_t *self, struct event_base *base, void (*fn)(void *arg), void *arg);
/* Unix transport: how many connections dropped so far. A request sent while this was G is lost (never answered)
 * once -ECONNRESET was reported and the count moved past G; one sent after that goes on the next connection.
 * Always 0 for ZeroMQ. */
uint64_t drift_commit_client_gen(const drift_commit_client_t *self);
/* 1 when the unix transport is connected now (0 otherwise, and always for ZeroMQ). */
int drift_commit_client_connected(const drift_commit_client_t *self);

#endif
