/* ipc/zwatch.c — see zwatch.h. Pattern after flux-core's zwatcher: drain
 * until ZMQ_EVENTS has no POLLIN, since ZMQ_FD only signals edges. */
#include "ipc/zwatch.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <zmq.h>

#define ZWATCH_BUDGET 512

struct drift_zwatch {
    void *zsock;
    drift_zwatch_fn fn;
    void *arg;
    struct event *ev;
};

static void s_on_fd(evutil_socket_t fd, short what, void *arg)
{
    drift_zwatch_t *self = arg;
    for (int i = 0; i < ZWATCH_BUDGET; i++) {
        int events = 0;
        size_t len = sizeof events;
        if (zmq_getsockopt(self->zsock, ZMQ_EVENTS, &events, &len) < 0)
            return;
        if (!(events & ZMQ_POLLIN))
            return;
        self->fn(self->zsock, self->arg);
    }
    /* Budget spent with messages still pending: continue on the next loop turn. */
    event_active(self->ev, EV_READ, 0);
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
    if (!self->ev || event_add(self->ev, NULL) < 0) {
        if (self->ev)
            event_free(self->ev);
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
    free(*self_p);
    *self_p = NULL;
}

void drift_zwatch_kick(drift_zwatch_t *self)
{
    if (self)
        event_active(self->ev, EV_READ, 0);
}
