/* tests/unit/test_zwatch.c — ipc/zwatch: a ZeroMQ socket in a libevent loop. Every queued message is
 * delivered, in order, and the watcher yields to the loop's timers while messages keep coming: after its
 * message budget, and after its time slice when the callbacks do real work (regression: the indexer ran a
 * 50 ms batch per call, 512 calls per wakeup, and its heartbeat timer starved for seconds). Real ZeroMQ
 * PUSH/PULL sockets over inproc, a real libevent loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <time.h>
#include <zmq.h>

#include "ipc/zwatch.h"

typedef struct {
    void *ctx, *push, *pull;
    struct event_base *base;
    drift_zwatch_t *zw;
    int received, expected_next, out_of_order;
    long work_us;        /* each callback busy for this long */
    int at_timer;        /* messages received when the timer fired (-1: not yet) */
    int stop_after;      /* break the loop once this many arrived */
} fx_t;

static void s_busy_us(long us)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

static void s_on_msg(void *zsock, void *arg)
{
    fx_t *f = arg;
    int v;
    if (zmq_recv(zsock, &v, sizeof v, ZMQ_DONTWAIT) != (int)sizeof v)
        return;
    if (v != f->expected_next)
        f->out_of_order++;
    f->expected_next = v + 1;
    f->received++;
    if (f->work_us)
        s_busy_us(f->work_us);
    if (f->stop_after && f->received >= f->stop_after)
        event_base_loopbreak(f->base);
}

static void s_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fx_t *f = arg;
    f->at_timer = f->received;
}

static void s_setup(fx_t *f, int n)
{
    memset(f, 0, sizeof *f);
    f->at_timer = -1;
    f->ctx = zmq_ctx_new();
    f->push = zmq_socket(f->ctx, ZMQ_PUSH);
    f->pull = zmq_socket(f->ctx, ZMQ_PULL);
    assert_non_null(f->push);
    assert_non_null(f->pull);
    int hwm = 0;
    zmq_setsockopt(f->push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(f->pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    assert_int_equal(zmq_bind(f->pull, "inproc://zwatch-test"), 0);
    assert_int_equal(zmq_connect(f->push, "inproc://zwatch-test"), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(zmq_send(f->push, &i, sizeof i, 0), (int)sizeof i);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->zw = drift_zwatch_new(f->base, f->pull, s_on_msg, f);
    assert_non_null(f->zw);
}

static void s_teardown(fx_t *f)
{
    drift_zwatch_destroy(&f->zw);
    assert_null(f->zw);
    event_base_free(f->base);
    zmq_close(f->push);
    zmq_close(f->pull);
    zmq_ctx_term(f->ctx);
}

/* Runs the loop with a timer due after us µs until stop_after messages arrived. */
static void s_run(fx_t *f, long us)
{
    struct event *t = evtimer_new(f->base, s_on_timer, f);
    struct timeval tv = {0, us};
    evtimer_add(t, &tv);
    assert_int_equal(event_base_dispatch(f->base), 0);
    event_free(t);
}

/* Fast callbacks: all 2000 messages, in order; a timer already due ran before the watcher had delivered
 * them all (it yields after 512 per wakeup). */
static void test_delivers_all_in_order_and_yields_after_its_budget(void **state)
{
    (void)state;
    fx_t f;
    s_setup(&f, 2000);
    f.stop_after = 2000;
    s_run(&f, 0);
    assert_int_equal(f.received, 2000);
    assert_int_equal(f.out_of_order, 0);
    assert_true(f.at_timer >= 1);
    assert_true(f.at_timer <= 512);
    s_teardown(&f);
}

/* Slow callbacks (2 ms each, 100 messages queued): the watcher gives the loop back after its time slice,
 * so the 1 ms timer runs after a few messages, not after all of them (before the slice: after 100, 200 ms
 * of callbacks in one wakeup). */
static void test_slow_callbacks_yield_to_timers(void **state)
{
    (void)state;
    fx_t f;
    s_setup(&f, 100);
    f.work_us = 2000;
    f.stop_after = 100;
    s_run(&f, 1000);
    assert_int_equal(f.received, 100);
    assert_int_equal(f.out_of_order, 0);
    assert_true(f.at_timer >= 1);
    assert_true(f.at_timer <= 10);
    s_teardown(&f);
}

/* A callback that takes longer than the whole slice still gets one message per wakeup (progress); the
 * timer runs after one or two of them (the socket's own wakeup may come first in the next pass). */
static void test_one_message_per_wakeup_at_least(void **state)
{
    (void)state;
    fx_t f;
    s_setup(&f, 5);
    f.work_us = 8000;
    f.stop_after = 5;
    s_run(&f, 1000);
    assert_int_equal(f.received, 5);
    assert_true(f.at_timer >= 1);
    assert_true(f.at_timer <= 2);
    s_teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivers_all_in_order_and_yields_after_its_budget),
        cmocka_unit_test(test_slow_callbacks_yield_to_timers),
        cmocka_unit_test(test_one_message_per_wakeup_at_least),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
