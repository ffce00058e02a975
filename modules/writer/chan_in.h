/* modules/writer/chan_in.h — the writer's stream listener for commit requests
 * (<data_dir>/run/writer.chan, ipc/chan.h framing, one part per message): what
 * the query workers use instead of the ZeroMQ ROUTER on run/writer.sock (which
 * stays for tools, benchmarks and tests). Each request is handed to the
 * writer's commit handling with an "envelope" naming the connection it came
 * from; the reply goes back on that connection (dropped, like a vanished
 * ZeroMQ peer, when the connection has closed meanwhile).
 * Single-threaded: the writer's event-loop thread. */
#ifndef DRIFT_WRITER_CHAN_IN_H
#define DRIFT_WRITER_CHAN_IN_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct drift_wchan drift_wchan_t;

/* The envelope of a request from a stream connection: a marker no ZeroMQ routing part can have (a part length of
 * 0xffff: ZeroMQ routing ids are at most 255 bytes) and the connection's id. */
#define DRIFT_WCHAN_ENV_LEN 10

/* One request: env/env_len identify its connection (copy them to reply later); data is valid during the call. */
typedef void (*drift_wchan_fn)(void *arg, const uint8_t *env, size_t env_len, const uint8_t *data, size_t len);

/* Listens on path (mode 0600; a stale file replaced). max is max_message_size: the stream takes messages up to
 * max(max, 256 MiB) so that an oversized request reaches the decoder and gets an error reply of its own rather
 * than a closed connection (which would fail every commit in flight on it). Returns NULL + errno. */
drift_wchan_t *drift_wchan_new(struct event_base *base, const char *path, size_t max, drift_wchan_fn fn, void *arg);
/* Closes every connection and the listener; NULLs *self_p; accepts NULL. */
void drift_wchan_destroy(drift_wchan_t **self_p);
/* 1 when env is a stream envelope (reply with drift_wchan_reply), 0 for ZeroMQ routing parts. */
int drift_wchan_is_env(const uint8_t *env, size_t env_len);
/* Sends a reply to the connection env names. Returns 0, -ENOTCONN (that connection is gone: dropped) or -errno. */
int drift_wchan_reply(drift_wchan_t *self, const uint8_t *env, size_t env_len, const void *data, size_t len);
/* Connections open now. */
size_t drift_wchan_nconns(const drift_wchan_t *self);

#endif
