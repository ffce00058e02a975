/* tests/unit/test_lagring.c — the writer's flow-control ring (modules/writer/lagring.c): the age of the
 * oldest unindexed commit is exact to the millisecond (its sample is the first commit of its millisecond),
 * 0 when nothing waits, the age of the oldest sample once the commit has left the ring (after many
 * wrap-arounds), and it follows indexed and written seqs at every position of the ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "modules/writer/lagring.h"

#define MS 1000000ull

/* Commit i (1..) at i * 250 us + 7 us: four commits a millisecond, the first of millisecond k >= 1 is 4k
 * (at k ms + 7 us), of millisecond 0 commit 1. */
static uint64_t s_ts(uint64_t seq)
{
    return seq * 250000ull + 7000;
}

/* The first commit of seq's millisecond: the sample that stands for it. */
static uint64_t s_first(uint64_t seq)
{
    return seq < 4 ? 1 : seq / 4 * 4;
}

static void t_empty_and_caught_up(void **state)
{
    (void)state;
    drift_lagring_t *r = drift_lagring_new();
    assert_non_null(r);
    assert_int_equal(drift_lagring_age(r, 0, 10, 5 * MS), 0); /* nothing noted */
    for (uint64_t s = 1; s <= 10; s++)
        drift_lagring_note(r, s, s_ts(s));
    assert_int_equal(drift_lagring_age(r, 10, 10, 100 * MS), 0); /* everything written is indexed */
    assert_int_equal(drift_lagring_age(r, 12, 10, 100 * MS), 0);
    drift_lagring_destroy(&r);
    assert_null(r);
    drift_lagring_destroy(&r); /* accepts NULL */
}

static void t_ages_through_wraparounds(void **state)
{
    (void)state;
    drift_lagring_t *r = drift_lagring_new();
    assert_non_null(r);
    const uint64_t n = 5 * 4 * DRIFT_LAGRING_SLOTS + 3; /* five turns of the ring, a partial millisecond at the end */
    for (uint64_t s = 1; s <= n; s++) {
        drift_lagring_note(r, s, s_ts(s));
        if (s % 997 == 0 || s == n) {
            uint64_t now = s_ts(s) + 3 * MS;
            /* every unindexed commit still in the ring: the age of its millisecond's first commit */
            uint64_t oldest_kept = s > 4 * (uint64_t)DRIFT_LAGRING_SLOTS ? s - 4 * (uint64_t)DRIFT_LAGRING_SLOTS : 1;
            for (uint64_t i = oldest_kept + 3; i < s; i += 13) {
                uint64_t want = i + 1, first = s_first(want);
                assert_int_equal(drift_lagring_age(r, i, s, now), now - s_ts(first));
                assert_true(now - s_ts(want) <= drift_lagring_age(r, i, s, now));
                assert_true(drift_lagring_age(r, i, s, now) - (now - s_ts(want)) < MS);
            }
            assert_int_equal(drift_lagring_age(r, s, s, now), 0);
            if (s > 4 * (uint64_t)DRIFT_LAGRING_SLOTS + 8) {
                /* a commit older than every sample: at least the oldest sample's age */
                uint64_t oldest_sample = s_first(s) - 4 * (uint64_t)(DRIFT_LAGRING_SLOTS - 1);
                assert_int_equal(drift_lagring_age(r, 0, s, now), now - s_ts(oldest_sample));
                assert_int_equal(drift_lagring_age(r, oldest_sample - 3, s, now), now - s_ts(oldest_sample));
            }
            /* indexed only up to what is written: commits noted but not written do not count */
            assert_int_equal(drift_lagring_age(r, s - 1, s - 1, now), 0);
        }
    }
    drift_lagring_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_empty_and_caught_up),
        cmocka_unit_test(t_ages_through_wraparounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
