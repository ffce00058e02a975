/* tests/unit/test_control.c — the shared control block: create/attach, bad
 * magic, wrong format version, corrupt sizes, slot claiming and reuse after
 * a crash, sharing across fork. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/errors.h"
#include "shm/control.h"

static char s_dir[] = "/tmp/drift-ctl-XXXXXX";
static char s_path[256];

static int setup(void **state)
{
    assert_non_null(mkdtemp(s_dir));
    snprintf(s_path, sizeof s_path, "%s/control", s_dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void t_create_attach(void **state)
{
    drift_ctl_t *a = drift_ctl_create(s_path, 8);
    assert_non_null(a);
    drift_ctl_header_t *h = drift_ctl_header(a);
    assert_int_equal(h->magic, DRIFT_CTL_MAGIC);
    assert_int_equal(h->version, DRIFT_CTL_VERSION);
    assert_int_equal(h->nslots, 8);
    assert_int_equal(atomic_load(&h->supervisor_pid), getpid());
    atomic_store(&h->commit_seq, 1234);

    drift_ctl_t *b = NULL;
    assert_int_equal(drift_ctl_attach(s_path, &b), 0);
    assert_non_null(b);
    assert_int_equal(atomic_load(&drift_ctl_header(b)->commit_seq), 1234); /* same memory */
    atomic_store(&drift_ctl_slot(b, 3)->heartbeat_mono_ns, 99);
    assert_int_equal(atomic_load(&drift_ctl_slot(a, 3)->heartbeat_mono_ns), 99);
    assert_null(drift_ctl_slot(b, 8));
    assert_int_equal(drift_ctl_nslots(b), 8);
    drift_ctl_detach(&b);
    assert_null(b);
    drift_ctl_detach(&b); /* accepts NULL */
    drift_ctl_detach(&a);
}

/* Writes raw bytes at offset into the control file. */
static void s_poke(off_t off, const void *p, size_t n)
{
    int fd = open(s_path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, p, n, off), (ssize_t)n);
    close(fd);
}

static void t_bad_magic(void **state)
{
    drift_ctl_t *a = drift_ctl_create(s_path, 4);
    assert_non_null(a);
    drift_ctl_detach(&a);
    uint64_t junk = 0x0123456789abcdefull;
    s_poke(offsetof(drift_ctl_header_t, magic), &junk, sizeof junk);
    drift_ctl_t *b = NULL;
    assert_int_equal(drift_ctl_attach(s_path, &b), DRIFT_EBADMAGIC);
    assert_null(b);
}

static void t_wrong_version(void **state)
{
    drift_ctl_t *a = drift_ctl_create(s_path, 4);
    assert_non_null(a);
    drift_ctl_detach(&a);
    uint32_t v = DRIFT_CTL_VERSION + 1;
    s_poke(offsetof(drift_ctl_header_t, version), &v, sizeof v);
    drift_ctl_t *b = NULL;
    assert_int_equal(drift_ctl_attach(s_path, &b), DRIFT_EVERSION);
}

static void t_bad_sizes(void **state)
{
    drift_ctl_t *a = drift_ctl_create(s_path, 4);
    assert_non_null(a);
    drift_ctl_detach(&a);
    uint32_t n = 1000;
    s_poke(offsetof(drift_ctl_header_t, nslots), &n, sizeof n);
    drift_ctl_t *b = NULL;
    assert_int_equal(drift_ctl_attach(s_path, &b), DRIFT_ECORRUPT);
    /* A short file is not a control block. */
    assert_int_equal(truncate(s_path, 10), 0);
    assert_int_equal(drift_ctl_attach(s_path, &b), DRIFT_EBADMAGIC);
    assert_int_equal(drift_ctl_attach("/nonexistent/control", &b), -ENOENT);
}

static void t_create_replaces(void **state)
{
    drift_ctl_t *a = drift_ctl_create(s_path, 4);
    atomic_store(&drift_ctl_header(a)->commit_seq, 7);
    drift_ctl_t *b = drift_ctl_create(s_path, 4); /* new supervisor: a fresh block, atomically */
    assert_non_null(b);
    assert_int_equal(atomic_load(&drift_ctl_header(b)->commit_seq), 0);
    assert_int_equal(atomic_load(&drift_ctl_header(a)->commit_seq), 7); /* the old mapping is untouched */
    drift_ctl_detach(&a);
    drift_ctl_detach(&b);
    assert_int_equal(drift_ctl_create(s_path, 0) == NULL && errno == EINVAL, 1);
}

static void t_claim_and_reuse(void **state)
{
    drift_ctl_t *a = drift_ctl_create(s_path, 3);
    assert_non_null(a);
    int s0 = drift_ctl_claim_slot(a, 3, 0);
    int s1 = drift_ctl_claim_slot(a, 2, 0);
    int s2 = drift_ctl_claim_slot(a, 2, 1);
    assert_int_equal(s0, 0);
    assert_int_equal(s1, 1);
    assert_int_equal(s2, 2);
    assert_int_equal(drift_ctl_claim_slot(a, 3, 0), 0); /* the same role keeps its slot */
    assert_int_equal(drift_ctl_claim_slot(a, 4, 0), DRIFT_EFULL);

    /* Slot 1's owner crashed: a dead pid frees the slot for a new role. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    atomic_store(&drift_ctl_slot(a, 1)->pid, pid);
    atomic_store(&drift_ctl_slot(a, 1)->heartbeat_mono_ns, 5);
    /* Slots 0 and 2 belong to live processes (us). */
    atomic_store(&drift_ctl_slot(a, 0)->pid, getpid());
    atomic_store(&drift_ctl_slot(a, 2)->pid, getpid());
    int s = drift_ctl_claim_slot(a, 4, 0);
    assert_int_equal(s, 1);
    drift_ctl_slot_t *slot = drift_ctl_slot(a, 1);
    assert_int_equal(atomic_load(&slot->role), 4);
    assert_int_equal(atomic_load(&slot->pid), 0);
    assert_int_equal(atomic_load(&slot->heartbeat_mono_ns), 0); /* reset, nothing stale */
    drift_ctl_detach(&a);
}

static void t_shared_across_fork(void **state)
{
    drift_ctl_t *a = drift_ctl_create(s_path, 2);
    assert_non_null(a);
    pid_t pid = fork();
    if (pid == 0) {
        drift_ctl_t *c = NULL;
        if (drift_ctl_attach(s_path, &c) != 0)
            _exit(1);
        for (int i = 0; i < 1000; i++)
            atomic_fetch_add(&drift_ctl_header(c)->indexed_seq, 1);
        drift_ctl_slot_observe_us(drift_ctl_slot(c, 0), 300);
        drift_ctl_detach(&c);
        _exit(0);
    }
    for (int i = 0; i < 1000; i++)
        atomic_fetch_add(&drift_ctl_header(a)->indexed_seq, 1);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(atomic_load(&drift_ctl_header(a)->indexed_seq), 2000);
    drift_ctl_slot_t *slot = drift_ctl_slot(a, 0);
    assert_int_equal(atomic_load(&slot->counters[DRIFT_CTR_REQUESTS]), 1);
    assert_int_equal(atomic_load(&slot->latency_us_hist[8]), 1); /* 300 us is in [256, 512) */
    assert_int_equal(atomic_load(&slot->latency_us_sum), 300);
    drift_ctl_detach(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_create_attach),  cmocka_unit_test(t_bad_magic),
        cmocka_unit_test(t_wrong_version),  cmocka_unit_test(t_bad_sizes),
        cmocka_unit_test(t_create_replaces), cmocka_unit_test(t_claim_and_reuse),
        cmocka_unit_test(t_shared_across_fork),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
