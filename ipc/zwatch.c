/* ipc/zwatch.c — see zwatch.h. Pattern after flux-core's zwatcher: drain
 * until ZMQ_EVENTS has no POLLIN, since ZMQ_FD only signals edges. */
#include "ipc/zwatch.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <zmq.h>

#include "common/util.h"

#define ZWATCH_BUDGET 512
/* ...and at most this much time in callbacks per wakeup: a callback that does real work (tens of ms)
 * must not hold the loop for 512 of them while messages keep coming (timers, heartbeats starve) */
#define ZWATCH_SLICE_NS 5000000ull

struct drift_zwatch {
    void *zsock;
    drift_zwatch_fn fn;
    void *arg;
    struct event *ev;
    struct event *later; /* zero-timeout timer: continues after the loop ran timers and I/O */
};

static void s_on_fd(evutil_socket_t fd, short what, void *arg)
{
    drift_zwatch_t *self = arg;
    uint64_t t0 = drift_now_mono_ns();
    for (int i = 0; i < ZWATCH_BUDGET && (i == 0 || drift_now_mono_ns() - t0 < ZWATCH_SLICE_NS); i++) {
        int events = 0;
        size_t len = sizeof events;
        if (zmq_getsockopt(self->zsock, ZMQ_EVENTS, &events, &len) < 0)
            return;
        if (!(events & ZMQ_POLLIN))
            return;
        self->fn(self->zsock, self->arg);
    }
    /* Budget (messages or time) spent with messages still pending: continue on the next loop turn. Not with
     * event_active(): libevent 2.1 runs events activated during the active-queue pass in the
     * same pass, so a busy socket would starve every timer (heartbeats) for as long as the
     * flood lasts. A zero timeout is only looked at after the next poll. */
    static const struct timeval zero = {0, 0};
    event_add(self->later, &zero);
}

drift_zwatch_t *drift_zwatch_new(struct event_base *base, void *zsock, drift_zwatch_fn fn, void *arg)
{
    int fd;
    size_t len = sizeof fd;
    if (zmq_getsockopt(zsock, ZMQ_FD, &fd, &len) < 0)
        return NULL;
    drift_zwatch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->zsock = zsock;
    self->fn = fn;
    self->arg = arg;
    self->ev = event_new(base, fd, EV_READ | EV_PERSIST, s_on_fd, self);
    self->later = evtimer_new(base, s_on_fd, self);
    if (!self->ev || !self->later || event_add(self->ev, NULL) < 0) {
        if (self->ev)
            event_free(self->ev);
        if (self->later)
            event_free(self->later);
        free(self);
        errno = ENOMEM;
        return NULL;
    }
    /* Messages may already be queued (the edge happened before we watched). */
    event_active(self->ev, EV_READ, 0);
    return self;
}

void drift_zwatch_destroy(drift_zwatch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    event_free((*self_p)->ev);
    event_free((*self_p)->later);
    free(*self_p);
    *self_p = NULL;
}

void drift_zwatch_kick(drift_zwatch_t *self)
{
    /* Through the zero timer too: two sockets kicking each other with event_active() would
     * keep the loop in one active-queue pass (see s_on_fd). */
    static const struct timeval zero = {0, 0};
    if (self)
        event_add(self->later, &zero);
}
