/* ipc/chan.c — see chan.h. Single-threaded: every object belongs to the thread (and libevent loop) that made it.
 * Sends use sendmsg(MSG_NOSIGNAL), so a peer that went away is an -EPIPE, never a SIGPIPE. */
#include "ipc/chan.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"

#define READ_CHUNK (64u << 10)

/* ---------------------------------------------------------------- codec */

static uint32_t s_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void s_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void drift_chan_rbuf_init(drift_chan_rbuf_t *rb, size_t max)
{
    memset(rb, 0, sizeof *rb);
    rb->max = max;
}

void drift_chan_rbuf_free(drift_chan_rbuf_t *rb)
{
    free(rb->buf);
    rb->buf = NULL;
    rb->off = rb->len = rb->cap = 0;
}

int drift_chan_rbuf_partial(const drift_chan_rbuf_t *rb)
{
    return rb->len > rb->off;
}

ssize_t drift_chan_rbuf_read(drift_chan_rbuf_t *rb, int fd)
{
    size_t avail = rb->len - rb->off;
    if (avail == 0) {
        rb->off = rb->len = 0;
        if (rb->cap > (4u << 20)) { /* do not keep a big message's buffer forever */
            free(rb->buf);
            rb->buf = NULL;
            rb->cap = 0;
        }
    }
    /* Room for the rest of the message being assembled (when its header is in and within bounds) plus a chunk. */
    size_t want = READ_CHUNK;
    if (avail >= 4) {
        uint64_t total = 4 + (uint64_t)s_be32(rb->buf + rb->off);
        if (total <= 4 + (uint64_t)rb->max && total > avail)
            want = (size_t)(total - avail) + READ_CHUNK;
    }
    if (rb->cap - rb->len < want) {
        if (rb->off > 0) { /* compact first */
            memmove(rb->buf, rb->buf + rb->off, avail);
            rb->off = 0;
            rb->len = avail;
        }
        if (rb->cap - rb->len < want) {
            size_t ncap = rb->cap ? rb->cap : READ_CHUNK;
            while (ncap - rb->len < want)
                ncap *= 2;
            uint8_t *nb = realloc(rb->buf, ncap);
            if (!nb)
                return -ENOMEM;
            rb->buf = nb;
            rb->cap = ncap;
        }
    }
    for (;;) {
        ssize_t n = read(fd, rb->buf + rb->len, rb->cap - rb->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        rb->len += (size_t)n;
        return n;
    }
}

int drift_chan_rbuf_next(drift_chan_rbuf_t *rb, drift_chan_msg_t *m)
{
    size_t avail = rb->len - rb->off;
    if (avail < 4)
        return 0;
    const uint8_t *p = rb->buf + rb->off;
    uint32_t total = s_be32(p);
    if (total > rb->max)
        return DRIFT_ETOOBIG;
    if (total < 4)
        return DRIFT_EPROTO;
    if (avail - 4 < total)
        return 0;
    const uint8_t *q = p + 4, *end = p + 4 + total;
    m->nparts = 0;
    while (q < end) {
        if (m->nparts == DRIFT_CHAN_MAX_PARTS || end - q < 4)
            return DRIFT_EPROTO;
        uint32_t n = s_be32(q);
        q += 4;
        if (n > (size_t)(end - q))
            return DRIFT_EPROTO;
        m->part[m->nparts] = q;
        m->len[m->nparts++] = n;
        q += n;
    }
    rb->off += 4 + (size_t)total;
    return 1;
}

int drift_chan_frame(const struct iovec *iov, int n, size_t max, uint8_t *hdr, struct iovec *out, size_t *ret_total)
{
    if (n < 1 || n > DRIFT_CHAN_MAX_PARTS)
        return DRIFT_EPROTO;
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += 4 + (uint64_t)iov[i].iov_len;
    if (total > max || total > UINT32_MAX)
        return DRIFT_ETOOBIG;
    s_put32(hdr, (uint32_t)total);
    int k = 0;
    for (int i = 0; i < n; i++) {
        s_put32(hdr + 4 + 4 * i, (uint32_t)iov[i].iov_len);
        if (i == 0)
            out[k++] = (struct iovec){hdr, 8};
        else
            out[k++] = (struct iovec){hdr + 4 + 4 * i, 4};
        out[k++] = iov[i];
    }
    *ret_total = 4 + (size_t)total;
    return k;
}

/* sendmsg of iovecs without SIGPIPE. */
static ssize_t s_sendv(int fd, struct iovec *iov, int n)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    for (;;) {
        ssize_t r = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

/* Advances an iovec array past done bytes; returns the new start index. */
static int s_iov_advance(struct iovec *iov, int n, size_t done)
{
    int i = 0;
    while (i < n && done >= iov[i].iov_len) {
        done -= iov[i].iov_len;
        i++;
    }
    if (i < n) {
        iov[i].iov_base = (uint8_t *)iov[i].iov_base + done;
        iov[i].iov_len -= done;
    }
    return i;
}

static int64_t s_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- blocking helpers */

int drift_chan_connect(const char *path, int nonblock)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return -errno;
    while (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int drift_chan_write_msg(int fd, const struct iovec *iov, int n, size_t max, int timeout_ms)
{
    uint8_t hdr[4 + 4 * DRIFT_CHAN_MAX_PARTS];
    struct iovec out[2 * DRIFT_CHAN_MAX_PARTS];
    size_t total;
    int k = drift_chan_frame(iov, n, max, hdr, out, &total);
    if (k < 0)
        return k;
    int64_t deadline = timeout_ms < 0 ? -1 : s_ms_now() + timeout_ms;
    int at = 0;
    while (total > 0) {
        ssize_t w = s_sendv(fd, out + at, k - at);
        if (w >= 0) {
            total -= (size_t)w;
            at += s_iov_advance(out + at, k - at, (size_t)w);
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int left = -1;
        if (deadline >= 0) {
            int64_t l = deadline - s_ms_now();
            if (l <= 0)
                return -ETIMEDOUT;
            left = (int)l;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, left) < 0 && errno != EINTR)
            return -errno;
    }
    return 0;
}

/* ---------------------------------------------------------------- output buffer */

size_t drift_chan_wbuf_pending(const drift_chan_wbuf_t *wb)
{
    return wb->len - wb->off;
}

int drift_chan_wbuf_queue(drift_chan_wbuf_t *wb, const struct iovec *out, int k, size_t skip, size_t total)
{
    size_t need = wb->len + (total - skip);
    if (need > wb->cap && wb->off > 0) { /* first reuse the written front */
        memmove(wb->buf, wb->buf + wb->off, wb->len - wb->off);
        wb->len -= wb->off;
        wb->off = 0;
        need = wb->len + (total - skip);
    }
    if (need > wb->cap) {
        size_t ncap = wb->cap ? wb->cap : 4096;
        while (ncap < need)
            ncap *= 2;
        uint8_t *nb = realloc(wb->buf, ncap);
        if (!nb)
            return -ENOMEM;
        wb->buf = nb;
        wb->cap = ncap;
    }
    for (int i = 0; i < k; i++) {
        size_t l = out[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(wb->buf + wb->len, (const uint8_t *)out[i].iov_base + skip, l - skip);
        wb->len += l - skip;
        skip = 0;
    }
    return 0;
}

int drift_chan_wbuf_flush(drift_chan_wbuf_t *wb, int fd)
{
    while (wb->off < wb->len) {
        struct iovec v = {wb->buf + wb->off, wb->len - wb->off};
        ssize_t w = s_sendv(fd, &v, 1);
        if (w < 0)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        wb->off += (size_t)w;
    }
    wb->off = wb->len = 0;
    if (wb->cap > (4u << 20)) { /* do not keep a burst's (or an outage's) buffer forever */
        free(wb->buf);
        wb->buf = NULL;
        wb->cap = 0;
    }
    return 0;
}

void drift_chan_wbuf_clear(drift_chan_wbuf_t *wb)
{
    wb->off = wb->len = 0;
}

void drift_chan_wbuf_free(drift_chan_wbuf_t *wb)
{
    free(wb->buf);
    memset(wb, 0, sizeof *wb);
}

/* ---------------------------------------------------------------- event-driven connection */

struct drift_chan {
    struct event_base *base;
    int fd;
    struct event *rev, *wev, *cev;
    drift_chan_rbuf_t rb;
    drift_chan_wbuf_t ob;
    size_t out_max;
    size_t max;
    drift_chan_msg_fn on_msg;
    drift_chan_close_fn on_close;
    void *arg;
    uint64_t id;
    int peer_pid;
    int busy;   /* inside one of our callbacks */
    int dead;   /* destroy was asked while busy: freed when the callback unwinds */
    int closed; /* on_close was called (or is scheduled: err set) */
    int cerr;
};

static uint64_t s_next_id; /* per process; only the owning thread creates channels */

static void s_free(drift_chan_t *ch)
{
    if (ch->rev)
        event_free(ch->rev);
    if (ch->wev)
        event_free(ch->wev);
    if (ch->cev)
        event_free(ch->cev);
    if (ch->fd >= 0)
        close(ch->fd);
    drift_chan_rbuf_free(&ch->rb);
    drift_chan_wbuf_free(&ch->ob);
    free(ch);
}

/* Ends the connection and tells the owner (once). Only from the loop (our callbacks). */
static void s_close_now(drift_chan_t *ch, int err)
{
    if (ch->dead)
        return;
    event_del(ch->rev);
    event_del(ch->wev);
    event_del(ch->cev);
    if (ch->closed == 2)
        return;
    ch->closed = 2;
    if (ch->fd >= 0)
        shutdown(ch->fd, SHUT_RDWR);
    ch->on_close(ch, err, ch->arg);
}

/* Ends the connection from outside a callback (a failed send): the owner hears it on the next loop turn. */
static void s_close_later(drift_chan_t *ch, int err)
{
    if (ch->closed)
        return;
    ch->closed = 1;
    ch->cerr = err;
    event_del(ch->rev);
    event_del(ch->wev);
    event_active(ch->cev, 0, 0);
}

static void s_unbusy(drift_chan_t *ch)
{
    if (--ch->busy == 0 && ch->dead)
        s_free(ch);
}

static void s_on_read(evutil_socket_t fd, short what, void *arg)
{
    drift_chan_t *ch = arg;
    (void)fd;
    (void)what;
    ch->busy++;
    ssize_t n = drift_chan_rbuf_read(&ch->rb, ch->fd);
    if (n == -EAGAIN)
        goto out;
    if (n <= 0) {
        s_close_now(ch, n < 0 ? (int)n : drift_chan_rbuf_partial(&ch->rb) ? DRIFT_ETRUNCATED : 0);
        goto out;
    }
    while (!ch->dead && !ch->closed) {
        drift_chan_msg_t m;
        int rc = drift_chan_rbuf_next(&ch->rb, &m);
        if (rc == 0)
            break;
        if (rc < 0) {
            s_close_now(ch, rc);
            break;
        }
        ch->on_msg(ch, &m, ch->arg);
    }
out:
    s_unbusy(ch);
}

static void s_on_write(evutil_socket_t fd, short what, void *arg)
{
    drift_chan_t *ch = arg;
    (void)fd;
    (void)what;
    ch->busy++;
    int rc = drift_chan_wbuf_flush(&ch->ob, ch->fd);
    if (rc == 0)
        event_del(ch->wev);
    else if (rc != -EAGAIN)
        s_close_now(ch, rc);
    s_unbusy(ch);
}

static void s_on_closed(evutil_socket_t fd, short what, void *arg)
{
    drift_chan_t *ch = arg;
    (void)fd;
    (void)what;
    ch->busy++;
    s_close_now(ch, ch->cerr);
    s_unbusy(ch);
}

drift_chan_t *drift_chan_new(struct event_base *base, int fd, size_t max, size_t out_max, drift_chan_msg_fn on_msg,
                             drift_chan_close_fn on_close, void *arg)
{
    drift_chan_t *ch = calloc(1, sizeof *ch);
    if (!ch) {
        close(fd);
        return NULL;
    }
    ch->base = base;
    ch->fd = fd;
    ch->max = max;
    ch->out_max = out_max ? out_max : DRIFT_CHAN_OUT_MAX;
    ch->on_msg = on_msg;
    ch->on_close = on_close;
    ch->arg = arg;
    ch->id = ++s_next_id;
    ch->peer_pid = -1;
    drift_chan_rbuf_init(&ch->rb, max);
    struct ucred uc;
    socklen_t ul = sizeof uc;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0)
        ch->peer_pid = uc.pid;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        goto fail;
    ch->rev = event_new(base, fd, EV_READ | EV_PERSIST, s_on_read, ch);
    ch->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, s_on_write, ch);
    ch->cev = event_new(base, -1, 0, s_on_closed, ch);
    if (!ch->rev || !ch->wev || !ch->cev || event_add(ch->rev, NULL) < 0)
        goto fail;
    return ch;
fail : {
    int e = errno ? errno : ENOMEM;
    s_free(ch);
    errno = e;
    return NULL;
}
}

void drift_chan_destroy(drift_chan_t **self_p)
{
    drift_chan_t *ch = *self_p;
    if (!ch)
        return;
    *self_p = NULL;
    if (ch->dead)
        return;
    if (ch->busy) { /* inside our own callback: finish there */
        ch->dead = 1;
        event_del(ch->rev);
        event_del(ch->wev);
        event_del(ch->cev);
        return;
    }
    s_free(ch);
}

/* Appends bytes of the framed message (from byte skip on) to the output buffer and waits for EV_WRITE. */
static int s_queue(drift_chan_t *ch, const struct iovec *out, int k, size_t skip, size_t total)
{
    int rc = drift_chan_wbuf_queue(&ch->ob, out, k, skip, total);
    if (rc == 0)
        event_add(ch->wev, NULL);
    return rc;
}

int drift_chan_sendv(drift_chan_t *ch, const struct iovec *iov, int n)
{
    if (ch->closed || ch->dead)
        return -EPIPE;
    uint8_t hdr[4 + 4 * DRIFT_CHAN_MAX_PARTS];
    struct iovec out[2 * DRIFT_CHAN_MAX_PARTS];
    size_t total;
    int k = drift_chan_frame(iov, n, UINT32_MAX, hdr, out, &total); /* the receiver enforces its own max */
    if (k < 0)
        return k;
    if (drift_chan_wbuf_pending(&ch->ob)) { /* keep order: behind what waits */
        if (drift_chan_wbuf_pending(&ch->ob) + total > ch->out_max)
            return -ENOBUFS;
        return s_queue(ch, out, k, 0, total);
    }
    struct iovec tmp[2 * DRIFT_CHAN_MAX_PARTS];
    memcpy(tmp, out, sizeof(struct iovec) * (size_t)k);
    ssize_t w = s_sendv(ch->fd, tmp, k);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            s_close_later(ch, -errno);
            return -EPIPE;
        }
        w = 0;
    }
    if ((size_t)w == total)
        return 0;
    /* Partly written: the rest must follow whatever the bound says, or the stream would break. */
    return s_queue(ch, out, k, (size_t)w, total);
}

int drift_chan_send(drift_chan_t *ch, const void *data, size_t len)
{
    struct iovec v = {(void *)data, len};
    return drift_chan_sendv(ch, &v, 1);
}

uint64_t drift_chan_id(const drift_chan_t *ch)
{
    return ch->id;
}

size_t drift_chan_pending(const drift_chan_t *ch)
{
    return drift_chan_wbuf_pending(&ch->ob);
}

int drift_chan_peer_pid(const drift_chan_t *ch)
{
    return ch->peer_pid;
}

/* ---------------------------------------------------------------- listener */

struct drift_chan_listener {
    int fd;
    struct event *ev;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    ino_t ino;
    dev_t dev;
    drift_chan_accept_fn fn;
    void *arg;
};

static void s_on_accept(evutil_socket_t fd, short what, void *arg)
{
    drift_chan_listener_t *l = arg;
    (void)what;
    for (int i = 0; i < 64; i++) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                DLOG_DEBUG("accept on %s: %s", l->path, strerror(errno));
            return;
        }
        l->fn(c, l->arg);
    }
}

drift_chan_listener_t *drift_chan_listen(struct event_base *base, const char *path, drift_chan_accept_fn fn,
                                         void *arg)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    drift_chan_listener_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->fd = -1;
    strcpy(l->path, path);
    strcpy(sa.sun_path, path);
    l->fn = fn;
    l->arg = arg;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* left by a previous instance (the roles are single by their locks) */
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0600) < 0 ||
        listen(l->fd, 128) < 0 || stat(path, &st) < 0)
        goto fail;
    l->ino = st.st_ino;
    l->dev = st.st_dev;
    l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, s_on_accept, l);
    if (!l->ev || event_add(l->ev, NULL) < 0)
        goto fail;
    return l;
fail : {
    int e = errno ? errno : ENOMEM;
    if (l->ev)
        event_free(l->ev);
    if (l->fd >= 0)
        close(l->fd);
    free(l);
    errno = e;
    return NULL;
}
}

void drift_chan_listener_destroy(drift_chan_listener_t **self_p)
{
    drift_chan_listener_t *l = *self_p;
    if (!l)
        return;
    event_free(l->ev);
    close(l->fd);
    struct stat st;
    if (stat(l->path, &st) == 0 && st.st_ino == l->ino && st.st_dev == l->dev)
        unlink(l->path); /* still ours (not a successor's) */
    free(l);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- dialer */

struct drift_chan_dialer {
    struct event *ev;
    char *path;
    int min_ms, max_ms, cur_ms;
    drift_chan_dial_fn fn;
    void *arg;
};

static void s_dial_in(drift_chan_dialer_t *d, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(d->ev, &tv);
}

static void s_on_dial(evutil_socket_t fd, short what, void *arg)
{
    drift_chan_dialer_t *d = arg;
    (void)fd;
    (void)what;
    int c = drift_chan_connect(d->path, 1);
    if (c < 0) {
        s_dial_in(d, d->cur_ms);
        d->cur_ms = d->cur_ms * 2 > d->max_ms ? d->max_ms : d->cur_ms * 2;
        return;
    }
    d->cur_ms = d->min_ms;
    d->fn(c, d->arg);
}

drift_chan_dialer_t *drift_chan_dialer_new(struct event_base *base, const char *path, int min_ms, int max_ms,
                                           drift_chan_dial_fn fn, void *arg)
{
    drift_chan_dialer_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->path = strdup(path);
    d->min_ms = d->cur_ms = min_ms > 0 ? min_ms : 1;
    d->max_ms = max_ms > d->min_ms ? max_ms : d->min_ms;
    d->fn = fn;
    d->arg = arg;
    d->ev = evtimer_new(base, s_on_dial, d);
    if (!d->path || !d->ev) {
        drift_chan_dialer_destroy(&d);
        errno = ENOMEM;
        return NULL;
    }
    return d;
}

void drift_chan_dialer_start(drift_chan_dialer_t *d, int now)
{
    if (now) {
        s_dial_in(d, 0);
        return;
    }
    s_dial_in(d, d->cur_ms);
    d->cur_ms = d->cur_ms * 2 > d->max_ms ? d->max_ms : d->cur_ms * 2;
}

void drift_chan_dialer_destroy(drift_chan_dialer_t **self_p)
{
    drift_chan_dialer_t *d = *self_p;
    if (!d)
        return;
    if (d->ev)
        event_free(d->ev);
    free(d->path);
    free(d);
    *self_p = NULL;
}
