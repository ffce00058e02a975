/* modules/gateway/fastread.h — reads answered by the gateway itself (config gateway_fast_reads).
 *
 * A point read crossing client -> gateway -> worker -> gateway -> client costs two ZeroMQ hops; the gateway
 * can answer a short read-only statement in one, with its own engine instance (its own read-only LMDB
 * reader on <data_dir>/index). The gateway decides which requests may come here (a query of a session with
 * no state and nothing in flight at a worker); this module decides the rest with the engine
 * (drift_engine_execute_bounded: a single-table SELECT whose plan is a key or index equality lookup), runs
 * it without waiting, and hands the replies, byte for byte what a worker would send, to the caller.
 *
 * Read-your-writes without waiting: the floor is the highest `seq` of every write reply the gateway has
 * forwarded (and, at start, the last commit of the previous gateway's time); a fast read runs only when the
 * index snapshot has applied it, so no client can miss a write it was told about, whichever connection it
 * used. Eligibility verdicts are cached per statement text and dropped when a forwarded reply may have
 * changed the catalog (`affected: 0`: DDL, ANALYZE). Single-threaded, in the gateway's loop. */
#ifndef DRIFT_GATEWAY_FASTREAD_H
#define DRIFT_GATEWAY_FASTREAD_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/role.h"
#include "ipc/proto.h"

typedef struct drift_fastread drift_fastread_t;

/* Sends one reply message to the client. */
typedef void (*drift_fastread_send_fn)(void *arg, const void *data, size_t len);

/* A fast-read engine for the gateway role r (index opened on first use). NULL on out of memory. */
drift_fastread_t *drift_fastread_new(drift_role_t *r);
/* Frees; NULLs *self_p; accepts NULL. */
void drift_fastread_destroy(drift_fastread_t **self_p);
/* Tries to answer the query req (one_reply: a REQ client, no chunks). Returns 1 when it was answered (the
 * replies went to send), 0 when the request must go to a worker (nothing was sent). */
int drift_fastread_try(drift_fastread_t *self, const drift_proto_req_t *req, int one_reply, drift_fastread_send_fn send,
                       void *arg);
/* A worker's final reply (no MORE) forwarded to a client: a write's `seq` raises the floor, `affected: 0`
 * (DDL, ANALYZE, or a write that changed nothing) drops the cached verdicts. */
void drift_fastread_note_reply(drift_fastread_t *self, const void *data, size_t len);

#endif
