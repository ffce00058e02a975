/* tests/unit/test_chan.c — ipc/chan: the framing codec across partial reads and writes (tiny socket buffers),
 * many messages per read, a message bigger than the socket buffer, the size bound, EOF mid-message, malformed
 * lengths, the output bound, destroy inside a callback, the listener (mode 0600, stale file) and the dialer's
 * reconnect. Real AF_UNIX sockets and a real libevent loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <msgpack.h>
#include <signal.h>
#include <sys/wait.h>

#include "common/errors.h"
#include "ipc/chan.h"
#include "ipc/commit.h"

#define MAX (1u << 22)

/* Writes all of buf to a blocking fd. */
static void s_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        assert_true(w > 0);
        p += w;
        len -= (size_t)w;
    }
}

/* Frames one message into a malloc'd buffer. */
static uint8_t *s_framed(const struct iovec *iov, int n, size_t *ret_len)
{
    uint8_t hdr[4 + 4 * DRIFT_CHAN_MAX_PARTS];
    struct iovec out[2 * DRIFT_CHAN_MAX_PARTS];
    size_t total;
    int k = drift_chan_frame(iov, n, MAX, hdr, out, &total);
    assert_true(k > 0);
    uint8_t *buf = malloc(total), *p = buf;
    for (int i = 0; i < k; i++) {
        memcpy(p, out[i].iov_base, out[i].iov_len);
        p += out[i].iov_len;
    }
    assert_int_equal(p - buf, (ptrdiff_t)total);
    *ret_len = total;
    return buf;
}

static void s_pair(int sv[2], int bufsize)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (bufsize > 0)
        for (int i = 0; i < 2; i++) {
            setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
            setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
        }
}

static void test_frame_limits(void **state)
{
    (void)state;
    uint8_t hdr[4 + 4 * DRIFT_CHAN_MAX_PARTS];
    struct iovec out[2 * DRIFT_CHAN_MAX_PARTS], in[DRIFT_CHAN_MAX_PARTS + 1];
    size_t total;
    char big[100];
    for (int i = 0; i <= DRIFT_CHAN_MAX_PARTS; i++)
        in[i] = (struct iovec){big, 10};
    assert_int_equal(drift_chan_frame(in, 0, MAX, hdr, out, &total), DRIFT_EPROTO);
    assert_int_equal(drift_chan_frame(in, DRIFT_CHAN_MAX_PARTS + 1, MAX, hdr, out, &total), DRIFT_EPROTO);
    in[0].iov_len = 100;
    assert_int_equal(drift_chan_frame(in, 1, 103, hdr, out, &total), DRIFT_ETOOBIG); /* 4 + 100 > 103 */
    assert_int_equal(drift_chan_frame(in, 1, 104, hdr, out, &total), 2);
    assert_int_equal(total, 108);
    /* big-endian lengths on the wire */
    assert_int_equal(hdr[0], 0);
    assert_int_equal(hdr[3], 104);
    assert_int_equal(hdr[7], 100);
}

/* Many messages written at once come out of one read, in order, parts intact. */
static void test_many_per_read(void **state)
{
    (void)state;
    int sv[2];
    s_pair(sv, 0);
    uint8_t *all = NULL;
    size_t alen = 0;
    for (int i = 0; i < 200; i++) {
        char a[32], b[64];
        int la = snprintf(a, sizeof a, "hdr%d", i), lb = snprintf(b, sizeof b, "payload number %d", i);
        struct iovec v[3] = {{a, (size_t)la}, {b, (size_t)lb}, {"", 0}};
        size_t n;
        uint8_t *f = s_framed(v, 3, &n);
        all = realloc(all, alen + n);
        memcpy(all + alen, f, n);
        alen += n;
        free(f);
    }
    s_write_all(sv[0], all, alen);
    drift_chan_rbuf_t rb;
    drift_chan_rbuf_init(&rb, MAX);
    ssize_t r = drift_chan_rbuf_read(&rb, sv[1]);
    assert_int_equal(r, (ssize_t)alen); /* one read */
    drift_chan_msg_t m;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(drift_chan_rbuf_next(&rb, &m), 1);
        char a[32], b[64];
        int la = snprintf(a, sizeof a, "hdr%d", i), lb = snprintf(b, sizeof b, "payload number %d", i);
        assert_int_equal(m.nparts, 3);
        assert_int_equal(m.len[0], (size_t)la);
        assert_memory_equal(m.part[0], a, (size_t)la);
        assert_int_equal(m.len[1], (size_t)lb);
        assert_memory_equal(m.part[1], b, (size_t)lb);
        assert_int_equal(m.len[2], 0);
    }
    assert_int_equal(drift_chan_rbuf_next(&rb, &m), 0);
    assert_false(drift_chan_rbuf_partial(&rb));
    drift_chan_rbuf_free(&rb);
    free(all);
    close(sv[0]);
    close(sv[1]);
}

/* Byte by byte: no message is delivered before its last byte. */
static void test_partial_reads(void **state)
{
    (void)state;
    int sv[2];
    s_pair(sv, 0);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    struct iovec v[2] = {{"0123456789", 10}, {"abc", 3}};
    size_t n;
    uint8_t *f = s_framed(v, 2, &n);
    drift_chan_rbuf_t rb;
    drift_chan_rbuf_init(&rb, MAX);
    drift_chan_msg_t m;
    assert_int_equal(drift_chan_rbuf_read(&rb, sv[1]), -EAGAIN);
    for (size_t i = 0; i < n; i++) {
        s_write_all(sv[0], f + i, 1);
        assert_int_equal(drift_chan_rbuf_read(&rb, sv[1]), 1);
        int rc = drift_chan_rbuf_next(&rb, &m);
        assert_int_equal(rc, i + 1 == n ? 1 : 0);
        if (i + 1 < n)
            assert_true(drift_chan_rbuf_partial(&rb));
    }
    assert_int_equal(m.nparts, 2);
    assert_memory_equal(m.part[0], "0123456789", 10);
    assert_memory_equal(m.part[1], "abc", 3);
    assert_false(drift_chan_rbuf_partial(&rb));
    drift_chan_rbuf_free(&rb);
    free(f);
    close(sv[0]);
    close(sv[1]);
}

/* Malformed lengths: a part longer than the message, a total too small, too many parts, a total over max. */
static void test_malformed(void **state)
{
    (void)state;
    struct {
        uint8_t bytes[32];
        size_t len;
        int want;
    } cases[] = {
        {{0, 0, 0, 8, 0, 0, 0, 100, 1, 2, 3, 4}, 12, DRIFT_EPROTO},     /* part longer than the message */
        {{0, 0, 0, 2, 1, 2}, 6, DRIFT_EPROTO},                          /* total < one part header */
        {{0, 0, 0, 6, 0, 0, 0, 1, 9, 7}, 10, DRIFT_EPROTO},             /* trailing bytes too short for a header */
        {{0, 0x40, 0, 0}, 4, DRIFT_ETOOBIG},                           /* 4 MiB > max: refused before it arrives */
        {{0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 24, DRIFT_EPROTO}, /* 5 parts */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int sv[2];
        s_pair(sv, 0);
        s_write_all(sv[0], cases[i].bytes, cases[i].len);
        drift_chan_rbuf_t rb;
        drift_chan_rbuf_init(&rb, (1u << 22) - 1);
        assert_true(drift_chan_rbuf_read(&rb, sv[1]) > 0);
        drift_chan_msg_t m;
        assert_int_equal(drift_chan_rbuf_next(&rb, &m), cases[i].want);
        drift_chan_rbuf_free(&rb);
        close(sv[0]);
        close(sv[1]);
    }
}

/* ---- event-driven ---- */

typedef struct {
    struct event_base *base;
    int nmsgs;
    size_t bytes;
    int closed;
    int close_err;
    int destroy_in_cb;
    drift_chan_t *ch;
    uint8_t *last;
    size_t last_len;
    int stop_at;
} s_sink_t;

static void s_on_msg(drift_chan_t *ch, const drift_chan_msg_t *m, void *arg)
{
    s_sink_t *s = arg;
    s->nmsgs++;
    free(s->last);
    s->last_len = 0;
    for (int i = 0; i < m->nparts; i++)
        s->last_len += m->len[i];
    s->last = malloc(s->last_len + 1);
    size_t at = 0;
    for (int i = 0; i < m->nparts; i++) {
        memcpy(s->last + at, m->part[i], m->len[i]);
        at += m->len[i];
    }
    s->bytes += s->last_len;
    if (s->destroy_in_cb) {
        assert_ptr_equal(ch, s->ch);
        drift_chan_destroy(&s->ch);
    }
    if (s->stop_at && s->nmsgs >= s->stop_at)
        event_base_loopbreak(s->base);
}

static void s_on_close(drift_chan_t *ch, int err, void *arg)
{
    s_sink_t *s = arg;
    s->closed++;
    s->close_err = err;
    assert_ptr_equal(ch, s->ch);
    drift_chan_destroy(&s->ch);
    event_base_loopbreak(s->base);
}

static void s_nothing(drift_chan_t *ch, const drift_chan_msg_t *m, void *arg)
{
    (void)ch;
    (void)m;
    (void)arg;
}

static void s_sender_close(drift_chan_t *ch, int err, void *arg)
{
    (void)ch;
    (void)err;
    (void)arg;
}

/* Runs the loop until the sink breaks it (bounded). */
static void s_run(struct event_base *base)
{
    struct timeval tv = {10, 0};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* Tiny socket buffers: a 1 MiB message and many small ones go through partial writes and reads, in order. */
static void test_big_and_partial_writes(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    int sv[2];
    s_pair(sv, 4096);
    s_sink_t sink = {.base = base, .stop_at = 102};
    drift_chan_t *tx = drift_chan_new(base, sv[0], MAX, 0, s_nothing, s_sender_close, NULL);
    sink.ch = drift_chan_new(base, sv[1], MAX, 0, s_on_msg, s_on_close, &sink);
    assert_non_null(tx);
    assert_non_null(sink.ch);
    size_t big = 1u << 20;
    uint8_t *buf = malloc(big);
    for (size_t i = 0; i < big; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(drift_chan_send(tx, "first", 5), 0);
    struct iovec v[2] = {{"H", 1}, {buf, big}};
    assert_int_equal(drift_chan_sendv(tx, v, 2), 0);
    assert_true(drift_chan_pending(tx) > 0); /* more than the socket holds: queued */
    for (int i = 0; i < 100; i++) {
        char m[16];
        int l = snprintf(m, sizeof m, "m%03d", i);
        assert_int_equal(drift_chan_send(tx, m, (size_t)l), 0);
    }
    s_run(base);
    assert_int_equal(sink.nmsgs, 102);
    assert_int_equal(sink.bytes, 5 + 1 + big + 400);
    assert_int_equal(sink.last_len, 4);
    assert_memory_equal(sink.last, "m099", 4);
    assert_int_equal(drift_chan_pending(tx), 0);
    assert_int_equal(sink.closed, 0);
    /* the peer closes between messages: EOF, err 0 */
    drift_chan_destroy(&tx);
    s_run(base);
    assert_int_equal(sink.closed, 1);
    assert_int_equal(sink.close_err, 0);
    assert_null(sink.ch);
    free(sink.last);
    free(buf);
    event_base_free(base);
}

/* The big message checked byte for byte. */
static void test_big_content(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    int sv[2];
    s_pair(sv, 2048);
    s_sink_t sink = {.base = base, .stop_at = 1};
    drift_chan_t *tx = drift_chan_new(base, sv[0], MAX, 0, s_nothing, s_sender_close, NULL);
    sink.ch = drift_chan_new(base, sv[1], MAX, 0, s_on_msg, s_on_close, &sink);
    size_t big = 3u << 20;
    uint8_t *buf = malloc(big);
    for (size_t i = 0; i < big; i++)
        buf[i] = (uint8_t)(i ^ (i >> 9));
    assert_int_equal(drift_chan_send(tx, buf, big), 0);
    s_run(base);
    assert_int_equal(sink.nmsgs, 1);
    assert_int_equal(sink.last_len, big);
    assert_memory_equal(sink.last, buf, big);
    drift_chan_destroy(&tx);
    drift_chan_destroy(&sink.ch);
    free(sink.last);
    free(buf);
    event_base_free(base);
}

/* Over the receiver's max: the receiver takes what fits and disconnects at the first message over it
 * (DRIFT_ETOOBIG), even when the sender's own max is smaller (a reply may be bigger than any request); a header
 * announcing too much is refused before the body arrives. */
static void test_max_refused(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    int sv[2];
    s_pair(sv, 0);
    s_sink_t sink = {.base = base};
    drift_chan_t *tx = drift_chan_new(base, sv[0], 10, 0, s_nothing, s_sender_close, NULL);
    sink.ch = drift_chan_new(base, sv[1], 1000, 0, s_on_msg, s_on_close, &sink);
    char b[1000] = {0};
    assert_int_equal(drift_chan_send(tx, b, 996), 0); /* total 1000: fits */
    assert_int_equal(drift_chan_send(tx, b, 997), 0); /* total 1001: the peer refuses it */
    s_run(base);
    assert_int_equal(sink.nmsgs, 1);
    assert_int_equal(sink.last_len, 996);
    assert_int_equal(sink.closed, 1);
    assert_int_equal(sink.close_err, DRIFT_ETOOBIG);
    drift_chan_destroy(&tx);

    s_sink_t s2 = {.base = base};
    s_pair(sv, 0);
    s2.ch = drift_chan_new(base, sv[1], 1000, 0, s_on_msg, s_on_close, &s2);
    uint8_t hdr[4] = {0x7f, 0xff, 0xff, 0xff}; /* 2 GiB announced, nothing follows */
    s_write_all(sv[0], hdr, 4);
    s_run(base);
    assert_int_equal(s2.closed, 1);
    assert_int_equal(s2.close_err, DRIFT_ETOOBIG);
    assert_int_equal(s2.nmsgs, 0);
    close(sv[0]);
    free(sink.last);
    event_base_free(base);
}

/* EOF inside a message: DRIFT_ETRUNCATED, nothing delivered. A malformed length: DRIFT_EPROTO. */
static void test_eof_mid_message_and_malformed(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    int sv[2];
    s_pair(sv, 0);
    s_sink_t sink = {.base = base};
    sink.ch = drift_chan_new(base, sv[1], MAX, 0, s_on_msg, s_on_close, &sink);
    struct iovec v = {"hello world", 11};
    size_t n;
    uint8_t *f = s_framed(&v, 1, &n);
    s_write_all(sv[0], f, n);     /* one whole message */
    s_write_all(sv[0], f, n - 3); /* and most of another */
    close(sv[0]);
    s_run(base);
    assert_int_equal(sink.nmsgs, 1);
    assert_int_equal(sink.closed, 1);
    assert_int_equal(sink.close_err, DRIFT_ETRUNCATED);
    free(f);

    s_sink_t s2 = {.base = base};
    s_pair(sv, 0);
    s2.ch = drift_chan_new(base, sv[1], MAX, 0, s_on_msg, s_on_close, &s2);
    uint8_t bad[] = {0, 0, 0, 8, 0, 0, 0, 9, 1, 2, 3, 4};
    s_write_all(sv[0], bad, sizeof bad);
    s_run(base);
    assert_int_equal(s2.closed, 1);
    assert_int_equal(s2.close_err, DRIFT_EPROTO);
    assert_int_equal(s2.nmsgs, 0);
    close(sv[0]);
    free(sink.last);
    event_base_free(base);
}

/* The output bound: a peer that does not read makes sends fail with -ENOBUFS, whole messages only. */
static void test_out_bound(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    int sv[2];
    s_pair(sv, 4096);
    drift_chan_t *tx = drift_chan_new(base, sv[0], MAX, 64 * 1024, s_nothing, s_sender_close, NULL);
    char b[10000];
    memset(b, 'x', sizeof b);
    int ok = 0, rc = 0;
    for (int i = 0; i < 1000 && (rc = drift_chan_send(tx, b, sizeof b)) == 0; i++)
        ok++;
    assert_int_equal(rc, -ENOBUFS);
    assert_true(ok >= 6 && ok < 100);
    assert_true(drift_chan_pending(tx) <= 64 * 1024);
    /* what was accepted arrives whole once the peer reads */
    s_sink_t sink = {.base = base, .stop_at = ok};
    sink.ch = drift_chan_new(base, sv[1], MAX, 0, s_on_msg, s_on_close, &sink);
    s_run(base);
    assert_int_equal(sink.nmsgs, ok);
    assert_int_equal(sink.bytes, (size_t)ok * sizeof b);
    drift_chan_destroy(&tx);
    drift_chan_destroy(&sink.ch);
    free(sink.last);
    event_base_free(base);
}

/* The owner destroys the channel inside on_msg: no use after free (ASan), later messages not delivered. */
static void test_destroy_in_callback(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    int sv[2];
    s_pair(sv, 0);
    s_sink_t sink = {.base = base, .destroy_in_cb = 1};
    sink.ch = drift_chan_new(base, sv[1], MAX, 0, s_on_msg, s_on_close, &sink);
    for (int i = 0; i < 5; i++) {
        struct iovec v = {"abc", 3};
        size_t n;
        uint8_t *f = s_framed(&v, 1, &n);
        s_write_all(sv[0], f, n);
        free(f);
    }
    struct timeval tv = {0, 200000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    assert_int_equal(sink.nmsgs, 1);
    assert_null(sink.ch);
    /* a send to a peer that went away fails, and on_close follows from the loop */
    s_sink_t s2 = {.base = base};
    s2.ch = drift_chan_new(base, sv[0], MAX, 0, s_on_msg, s_on_close, &s2);
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = drift_chan_send(s2.ch, "x", 1);
    assert_int_equal(rc, -EPIPE);
    s_run(base);
    assert_int_equal(s2.closed, 1);
    assert_int_equal(s2.close_err, -EPIPE);
    free(sink.last);
    event_base_free(base);
}

/* ---- listener and dialer ---- */

typedef struct {
    struct event_base *base;
    int accepted, dialed;
    int afd, dfd;
} s_ld_t;

static void s_on_accept(int fd, void *arg)
{
    s_ld_t *x = arg;
    x->accepted++;
    x->afd = fd;
    if (x->dialed)
        event_base_loopbreak(x->base);
}

static void s_on_dial(int fd, void *arg)
{
    s_ld_t *x = arg;
    x->dialed++;
    x->dfd = fd;
    if (x->accepted)
        event_base_loopbreak(x->base);
}

static void test_listen_dial(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_chan.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/x.chan", dir);
    struct event_base *base = event_base_new();
    s_ld_t x = {.base = base, .afd = -1, .dfd = -1};
    /* nothing listens yet: the dialer retries with back-off */
    assert_true(drift_chan_connect(path, 1) < 0);
    drift_chan_dialer_t *d = drift_chan_dialer_new(base, path, 5, 40, s_on_dial, &x);
    drift_chan_dialer_start(d, 1);
    struct timeval tv = {0, 60000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    assert_int_equal(x.dialed, 0);
    /* a stale socket file (bound, never listened) is replaced */
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof sa), 0);
    close(stale);
    drift_chan_listener_t *l = drift_chan_listen(base, path, s_on_accept, &x);
    assert_non_null(l);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    s_run(base);
    assert_int_equal(x.dialed, 1);
    assert_int_equal(x.accepted, 1);
    /* the two ends talk */
    s_sink_t sink = {.base = base, .stop_at = 1};
    sink.ch = drift_chan_new(base, x.afd, MAX, 0, s_on_msg, s_on_close, &sink);
    drift_chan_t *tx = drift_chan_new(base, x.dfd, MAX, 0, s_nothing, s_sender_close, NULL);
    assert_int_equal(drift_chan_send(tx, "ping", 4), 0);
    s_run(base);
    assert_int_equal(sink.nmsgs, 1);
    assert_memory_equal(sink.last, "ping", 4);
    assert_true(drift_chan_peer_pid(sink.ch) == getpid());
    assert_true(drift_chan_id(sink.ch) != drift_chan_id(tx));
    drift_chan_destroy(&tx);
    drift_chan_destroy(&sink.ch);
    drift_chan_listener_destroy(&l);
    assert_int_equal(stat(path, &st), -1); /* unlinked */
    drift_chan_dialer_destroy(&d);
    free(sink.last);
    event_base_free(base);
    rmdir(dir);
}

/* drift_chan_write_msg on a full blocking-mode socket: times out, then completes once read. */
static void test_write_msg(void **state)
{
    (void)state;
    int sv[2];
    s_pair(sv, 4096);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    char *b = malloc(1u << 20);
    memset(b, 'y', 1u << 20);
    struct iovec v = {b, 1u << 20};
    assert_int_equal(drift_chan_write_msg(sv[0], &v, 1, MAX, 50), -ETIMEDOUT);
    v.iov_len = 2000000000u;
    assert_int_equal(drift_chan_write_msg(sv[0], &v, 1, MAX, 50), DRIFT_ETOOBIG);
    free(b);
    close(sv[0]);
    close(sv[1]);
}

/* A fake writer in a child process: accepts one connection on path, answers the first `answer` requests with
 * {id, ok, seq: 100 + id}, then closes the connection without answering the rest. */
static pid_t s_fake_writer(const char *path, int answer)
{
    unlink(path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(l, 4), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0) {
        close(l);
        return pid;
    }
    int c = accept(l, NULL, NULL);
    drift_chan_rbuf_t rb;
    drift_chan_rbuf_init(&rb, MAX);
    int n = 0;
    while (n < answer) {
        drift_chan_msg_t m;
        int rc = drift_chan_rbuf_next(&rb, &m);
        if (rc == 0) {
            if (drift_chan_rbuf_read(&rb, c) <= 0)
                _exit(1);
            continue;
        }
        if (rc < 0)
            _exit(2);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, (const char *)m.part[0], m.len[0], NULL) != MSGPACK_UNPACK_SUCCESS)
            _exit(3);
        uint64_t id = 0;
        for (uint32_t i = 0; i < u.data.via.map.size; i++)
            if (u.data.via.map.ptr[i].key.via.str.size == 2 &&
                memcmp(u.data.via.map.ptr[i].key.via.str.ptr, "id", 2) == 0)
                id = u.data.via.map.ptr[i].val.via.u64;
        msgpack_unpacked_destroy(&u);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        msgpack_pack_str_with_body(&pk, "id", 2);
        msgpack_pack_uint64(&pk, id);
        msgpack_pack_str_with_body(&pk, "ok", 2);
        msgpack_pack_true(&pk);
        msgpack_pack_str_with_body(&pk, "seq", 3);
        msgpack_pack_uint64(&pk, 100 + id);
        struct iovec v = {sb.data, sb.size};
        if (drift_chan_write_msg(c, &v, 1, MAX, 5000) < 0)
            _exit(4);
        msgpack_sbuffer_destroy(&sb);
        n++;
    }
    usleep(100000); /* the client has sent what it sends next: it is lost with the connection */
    _exit(0);
}

/* A commit request {id} (the fake writer only reads the id). */
static void s_req(msgpack_sbuffer *sb, uint64_t id)
{
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_str_with_body(&pk, "op", 2);
    msgpack_pack_str_with_body(&pk, "ping", 4);
}

/* ipc/commit.h's unix transport: requests sent before anything listens wait for the connection; a dropped
 * connection is reported once (-ECONNRESET) and moves the generation; the next requests go on a new connection. */
static void test_commit_client_unix(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_chan.XXXXXX", path[64], ep[80];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/writer.chan", dir);
    snprintf(ep, sizeof ep, "unix:%s", path);
    drift_commit_client_t *cl = drift_commit_client_new(ep); /* nothing listens yet: not an error */
    assert_non_null(cl);
    assert_false(drift_commit_client_connected(cl));
    assert_null(drift_commit_client_socket(cl));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_req(&sb, 1);
    assert_int_equal(drift_commit_client_send(cl, sb.data, sb.size), 0); /* queued */
    drift_commit_reply_t r;
    assert_int_equal(drift_commit_client_recv(cl, 30, &r), -EAGAIN);
    uint64_t g0 = drift_commit_client_gen(cl);
    pid_t child = s_fake_writer(path, 2);
    assert_int_equal(drift_commit_client_recv(cl, 5000, &r), 0); /* connected, sent, answered */
    assert_true(r.ok);
    assert_int_equal(r.id, 1);
    assert_int_equal(r.seq, 101);
    s_req(&sb, 2);
    assert_int_equal(drift_commit_client_send(cl, sb.data, sb.size), 0);
    assert_int_equal(drift_commit_client_recv(cl, 5000, &r), 0);
    assert_int_equal(r.id, 2);
    s_req(&sb, 3); /* never answered: the fake writer closes */
    assert_int_equal(drift_commit_client_send(cl, sb.data, sb.size), 0);
    assert_int_equal(drift_commit_client_recv(cl, 5000, &r), -ECONNRESET);
    assert_int_equal(drift_commit_client_gen(cl), g0 + 1);
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the "writer" restarts: the next request goes on a new connection */
    child = s_fake_writer(path, 1);
    s_req(&sb, 4);
    assert_int_equal(drift_commit_client_send(cl, sb.data, sb.size), 0);
    assert_int_equal(drift_commit_client_recv(cl, 5000, &r), 0);
    assert_int_equal(r.id, 4);
    assert_int_equal(r.seq, 104);
    assert_int_equal(waitpid(child, &st, 0), child);
    msgpack_sbuffer_destroy(&sb);
    drift_commit_client_destroy(&cl);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_limits),
        cmocka_unit_test(test_many_per_read),
        cmocka_unit_test(test_partial_reads),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_big_and_partial_writes),
        cmocka_unit_test(test_big_content),
        cmocka_unit_test(test_max_refused),
        cmocka_unit_test(test_eof_mid_message_and_malformed),
        cmocka_unit_test(test_out_bound),
        cmocka_unit_test(test_destroy_in_callback),
        cmocka_unit_test(test_listen_dial),
        cmocka_unit_test(test_write_msg),
        cmocka_unit_test(test_commit_client_unix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
