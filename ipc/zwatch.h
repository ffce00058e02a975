/* ipc/zwatch.h — a ZeroMQ socket inside a libevent loop.
 *
 * ZMQ_FD is edge-triggered and also fires for writability: the watcher calls
 * on_readable once per pending message while ZMQ_EVENTS reports POLLIN (the
 * callback receives exactly one message with ZMQ_DONTWAIT), at most 512 times
 * and for at most 5 ms of callbacks per wakeup (at least once), then yields to
 * the loop and continues on the next turn, after timers and other I/O.
 * Any code that sends on the socket outside the callback must call
 * drift_zwatch_kick() afterwards, because a send can consume the edge.
 * One watcher per socket; same thread as the socket. */
#ifndef DRIFT_IPC_ZWATCH_H
#define DRIFT_IPC_ZWATCH_H

struct event_base;
typedef struct drift_zwatch drift_zwatch_t;
typedef void (*drift_zwatch_fn)(void *zsock, void *arg);

/* Watches zsock; calls fn(zsock, arg) for each readable message. Returns NULL + errno. */
drift_zwatch_t *drift_zwatch_new(struct event_base *base, void *zsock, drift_zwatch_fn fn, void *arg);
/* Stops watching (does not close the socket); NULLs *self_p; accepts NULL. */
void drift_zwatch_destroy(drift_zwatch_t **self_p);
/* Re-checks the socket on the next loop turn (call after sending outside the callback). */
void drift_zwatch_kick(drift_zwatch_t *self);

#endif
