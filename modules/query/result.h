/* modules/query/result.h — a drift_sink_t that packs protocol replies
 * (docs/protocol.md) and streams them in chunks: a reply is emitted every
 * chunk_rows rows or about chunk_bytes of encoded rows, with `more: true`;
 * the last reply carries `seq`, `affected` and `txn`. Used by the query worker;
 * the emit callback sends one reply message. Single-threaded. */
#ifndef DRIFT_QUERY_RESULT_H
#define DRIFT_QUERY_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "ipc/proto.h"
#include "modules/query/engine.h"

/* Sends one packed reply (data borrowed for the call); more = 1 when replies follow.
 * Returns 0 or -1 (the statement is then aborted). */
typedef int (*drift_result_emit_fn)(void *arg, const void *data, size_t len, int more);

typedef struct drift_result drift_result_t;

/* A result for the request (its id is copied). chunk_rows 0 = one reply however large.
 * Returns NULL + errno. */
drift_result_t *drift_result_new(const drift_proto_req_t *req, uint32_t chunk_rows, size_t chunk_bytes,
                                 drift_result_emit_fn emit, void *arg);
/* Frees; NULLs *self_p; accepts NULL. */
void drift_result_destroy(drift_result_t **self_p);
/* The sink to hand to drift_engine_execute (borrowed). */
drift_sink_t *drift_result_sink(drift_result_t *self);
/* The session whose transaction state (`txn`) the last reply reports, read when it is packed. */
void drift_result_set_session(drift_result_t *self, const drift_session_t *session);
/* Emits the error reply that ends the result (after any chunks already sent). */
int drift_result_fail(drift_result_t *self, const drift_sqlerr_t *err);
/* Replies emitted so far. */
uint32_t drift_result_replies(const drift_result_t *self);
/* RFC 3339 with exactly microseconds, UTC ("2026-01-02T03:04:05.123456Z"), as replies carry TIMESTAMPs. */
size_t drift_ts_format_us(int64_t ns, char *buf, size_t cap);
/* Packs one value. */
void drift_value_pack(msgpack_packer *pk, const drift_value_t *v);
/* The statement input of a protocol query request (borrows what req borrows). */
drift_stmt_input_t drift_result_input(const drift_proto_req_t *req);

#endif
