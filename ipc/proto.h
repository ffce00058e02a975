/* ipc/proto.h — the client protocol (docs/protocol.md): request fields, reply
 * building, SQLSTATE codes, and the internal gateway <-> query worker header.
 *
 * Requests are parsed from an object decoded by ipc/msg.h (strings stay
 * borrowed from the message buffer). Replies are packed into a caller-owned
 * msgpack_sbuffer. No globals; any thread. */
#ifndef DRIFT_IPC_PROTO_H
#define DRIFT_IPC_PROTO_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define DRIFT_PROTO_VERSION 1
#define DRIFT_PROTO_TRACEPARENT_MAX 128
#define DRIFT_PROTO_CHUNK_ROWS_DEFAULT 1000u
#define DRIFT_PROTO_CHUNK_ROWS_MAX 100000u
#define DRIFT_PROTO_CHUNK_BYTES (1u << 20)

/* SQLSTATE codes used by the server (docs/protocol.md has the table). */
#define DRIFT_SQLSTATE_PROTOCOL "08P01"
#define DRIFT_SQLSTATE_CONN_FAILURE "08006"
#define DRIFT_SQLSTATE_CANCELED "57014"
#define DRIFT_SQLSTATE_CANNOT_CONNECT "57P03"
#define DRIFT_SQLSTATE_BUSY "53300"
#define DRIFT_SQLSTATE_RATE_LIMITED "53400"
#define DRIFT_SQLSTATE_SYNTAX "42601"
#define DRIFT_SQLSTATE_UNDEF_FUNCTION "42883"
#define DRIFT_SQLSTATE_BAD_VALUE "22P02"
#define DRIFT_SQLSTATE_INVALID_PARAM "22023"
#define DRIFT_SQLSTATE_OUT_OF_RANGE "22003"
#define DRIFT_SQLSTATE_DIV_ZERO "22012"
#define DRIFT_SQLSTATE_WRONG_PARAMS "07001"
#define DRIFT_SQLSTATE_FAILED_TXN "25P02"
#define DRIFT_SQLSTATE_NOT_SUPPORTED "0A000"
#define DRIFT_SQLSTATE_INTERNAL "XX000"

typedef enum {
    DRIFT_OP_UNKNOWN = 0,
    DRIFT_OP_PING = 1,
    DRIFT_OP_QUERY = 2,
} drift_proto_op_t;

/* A parsed request; every pointer borrows from the decoded message. */
typedef struct {
    int has_id;
    msgpack_object id; /* a POSITIVE_INTEGER or NEGATIVE_INTEGER object, echoed as is */
    drift_proto_op_t op;
    const char *sql;
    size_t sql_len;
    const msgpack_object *params; /* an ARRAY or NULL */
    const char *traceparent;      /* NULL when absent */
    size_t traceparent_len;
    uint32_t chunk_rows;
    int has_as_of;
    int64_t as_of_seq;      /* when as_of is an int */
    const char *as_of_time; /* when as_of is a str */
    size_t as_of_time_len;
} drift_proto_req_t;

/* Parses a decoded request map. Returns 0, or DRIFT_EPROTO with a message in err
 * (req->has_id tells whether an id could still be read for the error reply). */
int drift_proto_parse(const msgpack_object *root, drift_proto_req_t *req, char *err, size_t errcap);

/* Name of an op ("ping"), for logs. */
const char *drift_proto_op_name(drift_proto_op_t op);

/* Packs a str. */
void drift_proto_pack_str(msgpack_packer *pk, const char *s);
/* Packs the "id" key and the request's id (nil when the request had none). */
void drift_proto_pack_id(msgpack_packer *pk, const drift_proto_req_t *req);

/* Packs a whole error reply {id, ok:false, error:{code, message[, position][, retry_after_ms]}[, txn]}
 * into sb (appended). position <= 0 and retry_after_ms < 0 are left out; txn may be NULL. */
void drift_proto_error(msgpack_sbuffer *sb, const drift_proto_req_t *req, const char *code, const char *message,
                       int64_t position, int64_t retry_after_ms, const char *txn);
/* Same with a printf-style message. */
void drift_proto_errorf(msgpack_sbuffer *sb, const drift_proto_req_t *req, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- internal gateway <-> query worker messages (docs/protocol.md, "Internal") ---- */

enum {
    DRIFT_WIRE_HELLO = 1,
    DRIFT_WIRE_PING = 2,
    DRIFT_WIRE_PONG = 3,
    DRIFT_WIRE_REQ = 4,
    DRIFT_WIRE_REP = 5,
    DRIFT_WIRE_END = 6,
    DRIFT_WIRE_BYE = 7,
};
#define DRIFT_WIRE_F_MORE 0x01u
#define DRIFT_WIRE_F_TXN_OPEN 0x02u
#define DRIFT_WIRE_F_ERROR 0x04u
#define DRIFT_WIRE_F_ONE_REPLY 0x08u /* REQ: the client is a REQ socket, send the result as one reply */
#define DRIFT_WIRE_HDR_SIZE 24u

typedef struct {
    uint8_t type;
    uint8_t flags;
    uint32_t aux;
    uint64_t token;
    uint64_t session;
} drift_wire_hdr_t;

/* Encodes h into out[DRIFT_WIRE_HDR_SIZE] (little-endian). */
void drift_wire_encode(const drift_wire_hdr_t *h, uint8_t out[DRIFT_WIRE_HDR_SIZE]);
/* Decodes a header frame; returns 0 or DRIFT_EPROTO when len is wrong or the type unknown. */
int drift_wire_decode(const void *buf, size_t len, drift_wire_hdr_t *ret);

#endif
