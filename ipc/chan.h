/* ipc/chan.h — message channels over connected AF_UNIX SOCK_STREAM sockets:
 * the internal request/reply links (gateway <-> query workers, query workers
 * -> writer) without ZeroMQ.
 *
 * Why: a libzmq DEALER/ROUTER round trip runs through an I/O thread on each
 * side (3 thread wake-ups per hop); a stream socket read by the role's own
 * libevent loop costs one (docs/architecture.md, "Internal links").
 *
 * Framing (big-endian lengths):
 *   message := total:u32 part+          total = the bytes that follow (all parts with their headers)
 *   part    := len:u32 bytes[len]
 * A message has 1..DRIFT_CHAN_MAX_PARTS parts; total <= the channel's max
 * (the caller's max_message_size plus room for the part headers and small
 * envelope parts). A length that breaks these rules is malformed: the
 * connection is closed (DRIFT_EPROTO / DRIFT_ETOOBIG); EOF inside a message is
 * DRIFT_ETRUNCATED. A message is delivered whole or not at all; one read may
 * yield several.
 *
 * Three layers, all single-threaded (the owner's thread):
 *  - the codec (drift_chan_rbuf_*, drift_chan_encode_hdr): no I/O policy, used by everything below
 *    and by blocking clients (ipc/commit.c's unix transport);
 *  - drift_chan_t: a non-blocking connection in a libevent loop. Sending tries writev() at once and
 *    buffers the rest (EV_WRITE until drained; bounded: beyond out_max the send fails with -ENOBUFS and
 *    nothing of that message is queued). Receiving reads what is there and calls on_msg per complete
 *    message; on EOF, an error or a malformed length it calls on_close once. The owner may destroy the
 *    channel inside either callback;
 *  - the listener (bind under <data_dir>/run/, mode 0600, a stale file unlinked; accepted fds handed to
 *    the owner) and the dialer (connects, and reconnects with back-off when asked to).
 * Libraries log at debug only; the roles decide what to log. */
#ifndef DRIFT_IPC_CHAN_H
#define DRIFT_IPC_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct event_base;

#define DRIFT_CHAN_MAX_PARTS 4
#define DRIFT_CHAN_SLACK 1024           /* added to a max_message_size: part headers and envelope parts */
#define DRIFT_CHAN_OUT_MAX (256u << 20) /* default bound of a connection's output buffer */

/* One received message; parts borrow from the channel's buffer until the callback returns. */
typedef struct {
    int nparts;
    const uint8_t *part[DRIFT_CHAN_MAX_PARTS];
    size_t len[DRIFT_CHAN_MAX_PARTS];
} drift_chan_msg_t;

/* ---- codec ---- */

/* An input buffer that yields complete messages. */
typedef struct {
    uint8_t *buf;
    size_t off, len, cap; /* unread bytes are buf[off .. len) */
    size_t max;           /* the largest accepted total */
} drift_chan_rbuf_t;

/* Initialises an empty buffer that accepts messages of total <= max. */
void drift_chan_rbuf_init(drift_chan_rbuf_t *rb, size_t max);
/* Frees the buffer. */
void drift_chan_rbuf_free(drift_chan_rbuf_t *rb);
/* One read(2) from fd into rb (at most up to the end of the message being assembled plus 64 KiB). Returns the
 * bytes read (> 0), 0 on EOF, -EAGAIN, -ENOMEM or -errno. */
ssize_t drift_chan_rbuf_read(drift_chan_rbuf_t *rb, int fd);
/* Takes the next complete message from rb: 1 (m filled; valid until the next drift_chan_rbuf_read), 0 when
 * incomplete,
 * DRIFT_EPROTO (bad part lengths / count) or DRIFT_ETOOBIG (total > max). */
int drift_chan_rbuf_next(drift_chan_rbuf_t *rb, drift_chan_msg_t *m);
/* 1 when rb holds the start of a message that is not complete (EOF now would truncate it). */
int drift_chan_rbuf_partial(const drift_chan_rbuf_t *rb);
/* Frames a message (parts iov[0..n)): encodes the headers into hdr (which must hold 4 + 4 * n bytes) and fills
 * out (2 * n entries) with the iovecs to write, in order; the framed size in *ret_total. Returns the count of
 * iovecs, or DRIFT_ETOOBIG (total > max) / DRIFT_EPROTO (n out of 1..DRIFT_CHAN_MAX_PARTS). */
int drift_chan_frame(const struct iovec *iov, int n, size_t max, uint8_t *hdr, struct iovec *out, size_t *ret_total);

/* An output buffer: framed bytes the socket did not take yet (whole messages, or the rest of one). */
typedef struct {
    uint8_t *buf;
    size_t off, len, cap; /* unwritten bytes are buf[off .. len) */
} drift_chan_wbuf_t;

/* Bytes waiting in wb. */
size_t drift_chan_wbuf_pending(const drift_chan_wbuf_t *wb);
/* Appends the framed bytes out[0..k) (as drift_chan_frame gives them, total bytes in all) from byte skip on.
 * Returns 0 or -ENOMEM (nothing appended). */
int drift_chan_wbuf_queue(drift_chan_wbuf_t *wb, const struct iovec *out, int k, size_t skip, size_t total);
/* Writes what waits to fd without blocking: 0 when all is written (a drained buffer beyond 4 MiB is freed),
 * -EAGAIN when the socket is full, -errno when the connection broke. */
int drift_chan_wbuf_flush(drift_chan_wbuf_t *wb, int fd);
/* Forgets what waits (the connection is gone) and keeps the memory. */
void drift_chan_wbuf_clear(drift_chan_wbuf_t *wb);
/* Frees the buffer. */
void drift_chan_wbuf_free(drift_chan_wbuf_t *wb);

/* ---- blocking helpers (tools, tests, ipc/commit.c) ---- */

/* Connects a new socket to path (non-blocking when nonblock). Returns the fd or -errno (-ENOENT / -ECONNREFUSED
 * when nothing listens). */
int drift_chan_connect(const char *path, int nonblock);
/* Writes one whole message to a (blocking or non-blocking) fd, polling while the socket is full, up to
 * timeout_ms (-1 forever). Returns 0, -ETIMEDOUT, DRIFT_ETOOBIG or -errno. */
int drift_chan_write_msg(int fd, const struct iovec *iov, int n, size_t max, int timeout_ms);

/* ---- event-driven connection ---- */

typedef struct drift_chan drift_chan_t;
/* A complete message arrived. */
typedef void (*drift_chan_msg_fn)(drift_chan_t *ch, const drift_chan_msg_t *m, void *arg);
/* The connection ended: err 0 (EOF between messages), DRIFT_ETRUNCATED, DRIFT_EPROTO, DRIFT_ETOOBIG or -errno.
 * Called once; the channel sends and receives nothing afterwards (the owner destroys it). */
typedef void (*drift_chan_close_fn)(drift_chan_t *ch, int err, void *arg);

/* Wraps a connected fd (owned from now on, made non-blocking) in base; max bounds a received message's total
 * (what is sent is bounded by the peer's max, not this one: a reply may be bigger than any request), out_max
 * (0 = DRIFT_CHAN_OUT_MAX) the output buffer. Returns NULL + errno (the fd is closed then too). */
drift_chan_t *drift_chan_new(struct event_base *base, int fd, size_t max, size_t out_max, drift_chan_msg_fn on_msg,
                             drift_chan_close_fn on_close, void *arg);
/* Closes the connection and frees; NULLs *self_p; accepts NULL; safe inside the channel's own callbacks. */
void drift_chan_destroy(drift_chan_t **self_p);
/* Sends one message made of parts iov[0..n). Returns 0 (written or queued), -ENOBUFS (the output buffer is at its
 * bound: nothing queued), DRIFT_ETOOBIG (over 4 GiB), -EPIPE (the connection is closed or broken: on_close follows from the
 * loop) or -ENOMEM. */
int drift_chan_sendv(drift_chan_t *self, const struct iovec *iov, int n);
/* The same for a one-part message. */
int drift_chan_send(drift_chan_t *self, const void *data, size_t len);
/* A number unique within the process for this connection (never reused). */
uint64_t drift_chan_id(const drift_chan_t *self);
/* Bytes waiting in the output buffer. */
size_t drift_chan_pending(const drift_chan_t *self);
/* The peer's pid (SO_PEERCRED), or -1. */
int drift_chan_peer_pid(const drift_chan_t *self);

/* ---- listener ---- */

typedef struct drift_chan_listener drift_chan_listener_t;
/* A connection was accepted: fd is the caller's (wrap it with drift_chan_new or close it). */
typedef void (*drift_chan_accept_fn)(int fd, void *arg);
/* Binds path (a stale socket file is unlinked first; mode 0600) and accepts in base. Returns NULL + errno. */
drift_chan_listener_t *drift_chan_listen(struct event_base *base, const char *path, drift_chan_accept_fn fn,
                                         void *arg);
/* Stops listening and unlinks the path; NULLs *self_p; accepts NULL. */
void drift_chan_listener_destroy(drift_chan_listener_t **self_p);

/* ---- dialer: connect and reconnect with back-off ---- */

typedef struct drift_chan_dialer drift_chan_dialer_t;
/* Connected: fd is the caller's. */
typedef void (*drift_chan_dial_fn)(int fd, void *arg);
/* A dialer for path; it tries when started, then every min_ms doubling up to max_ms until a connect succeeds. */
drift_chan_dialer_t *drift_chan_dialer_new(struct event_base *base, const char *path, int min_ms, int max_ms,
                                           drift_chan_dial_fn fn, void *arg);
/* (Re)starts dialing: at once when now, else after the current back-off (which then doubles). */
void drift_chan_dialer_start(drift_chan_dialer_t *self, int now);
/* Frees; NULLs *self_p; accepts NULL. */
void drift_chan_dialer_destroy(drift_chan_dialer_t **self_p);

#endif
