/* modules/writer/chan_in.c — see chan_in.h. Connections are few (one per query worker): a plain list. */
#include "modules/writer/chan_in.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "ipc/chan.h"

#define CHAN_IN_MAX (256u << 20)

typedef struct s_conn {
    struct s_conn *prev, *next;
    drift_wchan_t *owner;
    drift_chan_t *ch;
    uint64_t id;
} s_conn_t;

struct drift_wchan {
    struct event_base *base;
    drift_chan_listener_t *l;
    size_t max;
    drift_wchan_fn fn;
    void *arg;
    s_conn_t *conns;
    size_t nconns;
};

/* Writes the envelope of connection id. */
static void s_env(uint8_t env[DRIFT_WCHAN_ENV_LEN], uint64_t id)
{
    env[0] = env[1] = 0xff;
    for (int i = 0; i < 8; i++)
        env[2 + i] = (uint8_t)(id >> (8 * i));
}

int drift_wchan_is_env(const uint8_t *env, size_t env_len)
{
    return env_len == DRIFT_WCHAN_ENV_LEN && env[0] == 0xff && env[1] == 0xff;
}

static void s_conn_free(drift_wchan_t *w, s_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    drift_chan_destroy(&c->ch);
    free(c);
}

static void s_on_msg(drift_chan_t *ch, const drift_chan_msg_t *m, void *arg)
{
    s_conn_t *c = arg;
    drift_wchan_t *w = c->owner;
    (void)ch;
    if (m->nparts != 1) { /* not a request of ours: nothing to answer to */
        DLOG_DEBUG("writer.chan: a message of %d parts dropped", m->nparts);
        return;
    }
    uint8_t env[DRIFT_WCHAN_ENV_LEN];
    s_env(env, c->id);
    w->fn(w->arg, env, sizeof env, m->part[0], m->len[0]);
}

static void s_on_close(drift_chan_t *ch, int err, void *arg)
{
    s_conn_t *c = arg;
    (void)ch;
    if (err)
        DLOG_DEBUG("writer.chan: connection %" PRIu64 " closed: %s", c->id, drift_strerror(err));
    s_conn_free(c->owner, c);
}

static void s_on_accept(int fd, void *arg)
{
    drift_wchan_t *w = arg;
    s_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->owner = w;
    c->ch = drift_chan_new(w->base, fd, w->max, 0, s_on_msg, s_on_close, c);
    if (!c->ch) {
        free(c);
        return;
    }
    c->id = drift_chan_id(c->ch);
    c->next = w->conns;
    if (c->next)
        c->next->prev = c;
    w->conns = c;
    w->nconns++;
}

drift_wchan_t *drift_wchan_new(struct event_base *base, const char *path, size_t max, drift_wchan_fn fn, void *arg)
{
    drift_wchan_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->base = base;
    /* Accept more than max_message_size on the stream: the writer's decoder then refuses an oversized request
     * with an error reply to that commit alone, where closing the connection would fail every commit in flight. */
    w->max = (max > CHAN_IN_MAX ? max : CHAN_IN_MAX) + DRIFT_CHAN_SLACK;
    w->fn = fn;
    w->arg = arg;
    w->l = drift_chan_listen(base, path, s_on_accept, w);
    if (!w->l) {
        int e = errno;
        free(w);
        errno = e;
        return NULL;
    }
    return w;
}

void drift_wchan_destroy(drift_wchan_t **self_p)
{
    drift_wchan_t *w = *self_p;
    if (!w)
        return;
    while (w->conns)
        s_conn_free(w, w->conns);
    drift_chan_listener_destroy(&w->l);
    free(w);
    *self_p = NULL;
}

int drift_wchan_reply(drift_wchan_t *w, const uint8_t *env, size_t env_len, const void *data, size_t len)
{
    if (!w || !drift_wchan_is_env(env, env_len))
        return -EINVAL;
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id |= (uint64_t)env[2 + i] << (8 * i);
    for (s_conn_t *c = w->conns; c; c = c->next)
        if (c->id == id)
            return drift_chan_send(c->ch, data, len);
    return -ENOTCONN;
}

size_t drift_wchan_nconns(const drift_wchan_t *w)
{
    return w ? w->nconns : 0;
}
