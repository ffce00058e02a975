/* tests/unit/test_keymap.c — the writer's key map (modules/writer/keymap.c): every key inserted is
 * found again with its own entry through many doublings of the slot table, entry addresses stay
 * the same while the table grows (the writer keeps entry pointers in its undo list), keys that
 * differ only in table, kind, length or one byte are distinct (including keys whose hashes
 * collide in the low bits, which share probe runs), absent keys are not found, and the counts
 * (all entries, row keys) and byte figures add up. drift_keymap_sweep (the writer's forgetting),
 * run in slices, removes exactly the row entries its callback drops (never a table record): the
 * others stay findable at their address through the backward shifts of their probe runs, and the
 * freed memory is reused, zeroed, by new keys of the same sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "modules/writer/keymap.h"

#define N 200000

/* Key i: a varying length (1..24 bytes) so that equal hashes of different lengths are tested too. */
static uint32_t s_key(uint32_t i, uint8_t *buf)
{
    uint32_t len = 1 + i % 24;
    for (uint32_t j = 0; j < len; j++)
        buf[j] = (uint8_t)((i * 2654435761u) >> (j % 4 * 8)) ^ (uint8_t)j;
    memcpy(buf, &i, len < 4 ? len : 4);
    return len;
}

static void t_insert_find_grow(void **state)
{
    (void)state;
    drift_keymap_t *m = drift_keymap_new();
    assert_non_null(m);
    static drift_kentry_t *seen[N];
    uint8_t k[32];
    for (uint32_t i = 0; i < N; i++) {
        uint32_t len = s_key(i, k);
        int created = -1;
        drift_kentry_t *e = drift_keymap_get(m, i % 7, k, len, &created);
        assert_non_null(e);
        if (!created) { /* a shorter key of an earlier i may coincide: then it is that same entry */
            assert_int_equal(e->klen, len);
            assert_memory_equal(e->key, k, len);
        } else {
            assert_int_equal(e->seq, 0);
            assert_int_equal(e->live, 0);
            e->seq = i + 1;
            e->live = (uint8_t)(i & 1);
        }
        seen[i] = e;
    }
    size_t count = drift_keymap_count(m);
    assert_true(count > N / 2 && count <= N);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t len = s_key(i, k);
        /* the writer's prefetch hint (slot, or the entry it points to) changes nothing, for present and absent
         * keys alike (the count is checked after the loop) */
        drift_keymap_prefetch(m, i % 7, k, len, (int)(i & 1));
        drift_keymap_prefetch(m, i % 7 + 100, k, len, (int)(i & 1));
        drift_kentry_t *e = drift_keymap_find(m, i % 7, k, len);
        assert_ptr_equal(e, seen[i]); /* same address after every doubling */
        assert_int_equal(e->table, i % 7);
        int created = -1;
        assert_ptr_equal(drift_keymap_get(m, i % 7, k, len, &created), e);
        assert_int_equal(created, 0);
        /* the same bytes under another table, or one byte changed: absent */
        assert_null(drift_keymap_find(m, i % 7 + 100, k, len));
        k[len - 1] ^= 0x80;
        drift_kentry_t *other = drift_keymap_find(m, i % 7, k, len);
        assert_true(other == NULL || (other != e && other->key[len - 1] == k[len - 1]));
    }
    assert_int_equal(drift_keymap_count(m), count);
    assert_true(drift_keymap_bytes(m) >= count * sizeof(drift_kentry_t));
    drift_keymap_destroy(&m);
    assert_null(m);
    drift_keymap_destroy(&m); /* accepts NULL */
}

static void t_tables_and_rows_are_distinct(void **state)
{
    (void)state;
    drift_keymap_t *m = drift_keymap_new();
    assert_non_null(m);
    assert_null(drift_keymap_table(m, 5, 0));
    drift_kentry_t *t = drift_keymap_table(m, 5, 1);
    assert_non_null(t);
    assert_int_equal(t->kind, 1);
    assert_ptr_equal(drift_keymap_table(m, 5, 0), t);
    /* a row key of table 5 with an empty-looking key is not the table record */
    uint8_t z = 0;
    int created = 0;
    drift_kentry_t *r = drift_keymap_get(m, 5, &z, 1, &created);
    assert_non_null(r);
    assert_int_equal(created, 1);
    assert_ptr_not_equal(r, t);
    assert_int_equal(r->kind, 0);
    assert_null(drift_keymap_find(m, 6, &z, 1));
    assert_int_equal(drift_keymap_count(m), 2);
    assert_int_equal(drift_keymap_rows(m), 1); /* the writer skips row lookups at start while this is 0 */
    drift_keymap_table(m, 7, 1);
    assert_int_equal(drift_keymap_rows(m), 1);
    /* a key longer than an arena block still gets an entry */
    static uint8_t big[(1u << 20) + 100];
    memset(big, 0xab, sizeof big);
    drift_kentry_t *b = drift_keymap_get(m, 5, big, sizeof big, &created);
    assert_non_null(b);
    assert_int_equal(created, 1);
    assert_ptr_equal(drift_keymap_find(m, 5, big, sizeof big), b);
    assert_ptr_equal(drift_keymap_find(m, 5, &z, 1), r);
    assert_int_equal(drift_keymap_count(m), 4);
    assert_int_equal(drift_keymap_rows(m), 2);
    drift_keymap_destroy(&m);
}

/* Drops the row entries with an odd seq (and counts the calls). */
static int s_drop_odd(const drift_kentry_t *e, void *arg)
{
    ++*(size_t *)arg;
    return e->seq % 2 == 1;
}

static uint32_t s_fkey(uint32_t i, uint8_t *k)
{
    memset(k, (int)(i % 251), 48);
    memcpy(k, &i, sizeof i);
    return 8 + i % 33;
}

static void t_sweep(void **state)
{
    (void)state;
    enum { F = 150000 }; /* 48-byte entries + 8..40-byte keys: several 4 MiB arena blocks, long probe runs */
    drift_keymap_t *m = drift_keymap_new();
    assert_non_null(m);
    static drift_kentry_t *ent[F];
    uint8_t k[48];
    for (uint32_t i = 0; i < F; i++) {
        uint32_t len = s_fkey(i, k);
        drift_kentry_t *e = ent[i] = drift_keymap_get(m, 1 + i % 3, k, len, NULL);
        assert_non_null(e);
        e->seq = i;
        e->live = (uint8_t)(i % 5 != 0);
        e->pinned = (uint8_t)(i % 7 == 0);
    }
    for (uint32_t t = 1; t <= 3; t++)
        drift_keymap_table(m, t, 1)->seq = 1; /* odd, but table records are never offered */
    size_t offered = 0, cursor = 0, calls = 0;
    while (!drift_keymap_sweep(m, &cursor, 1000, s_drop_odd, &offered)) /* a pass in slices, as the writer does */
        calls++;
    assert_true(calls > 10);
    assert_true(offered >= F);
    assert_int_equal(drift_keymap_rows(m), F / 2);
    assert_int_equal(drift_keymap_count(m), F / 2 + 3);
    for (uint32_t i = 0; i < F; i++) { /* what stays is found where it was, with its fields; the rest is gone */
        uint32_t len = s_fkey(i, k);
        drift_kentry_t *e = drift_keymap_find(m, 1 + i % 3, k, len);
        if (i % 2) {
            assert_null(e);
            continue;
        }
        assert_ptr_equal(e, ent[i]);
        assert_int_equal(e->seq, i);
        assert_int_equal(e->live, i % 5 != 0);
        assert_int_equal(e->pinned, i % 7 == 0);
    }
    for (uint32_t t = 1; t <= 3; t++)
        assert_non_null(drift_keymap_table(m, t, 0));
    /* the forgotten entries' memory is handed out again: as many new keys of the same sizes take no more */
    size_t bytes = drift_keymap_bytes(m);
    for (uint32_t i = F; i < F + F / 2; i++) {
        uint32_t len = s_fkey(i, k);
        int created = 0;
        drift_kentry_t *e = drift_keymap_get(m, 1 + i % 3, k, len, &created);
        assert_non_null(e);
        assert_int_equal(created, 1);
        assert_int_equal(e->seq, 0); /* reused memory comes back zeroed */
        assert_int_equal(e->pinned, 0);
        e->seq = i;
    }
    assert_int_equal(drift_keymap_bytes(m), bytes);
    for (uint32_t i = 0; i < F + F / 2; i++) {
        uint32_t len = s_fkey(i, k);
        drift_kentry_t *e = drift_keymap_find(m, 1 + i % 3, k, len);
        if (i < F && i % 2)
            assert_null(e);
        else {
            assert_non_null(e);
            assert_int_equal(e->seq, i);
        }
    }
    drift_keymap_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_insert_find_grow),
        cmocka_unit_test(t_tables_and_rows_are_distinct),
        cmocka_unit_test(t_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
