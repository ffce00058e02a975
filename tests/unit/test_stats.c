/* tests/unit/test_stats.c — planner statistics (modules/query/stats.h): the
 * distinct counter (exact, then HyperLogLog), histograms and most common
 * values built from known data, the selectivity estimates derived from them,
 * and the stored record (pack / parse round trip). The expected figures are
 * worked out from the data in each test. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/query/stats.h"
#include "shm/stats.h"

static drift_arena_t s_ar;

static int s_teardown(void **state)
{
    (void)state;
    drift_arena_free(&s_ar);
    return 0;
}

/* Exact counting below the bound: duplicates do not count. */
static void test_ndv_exact(void **state)
{
    (void)state;
    drift_ndv_t *d = malloc(sizeof *d);
    assert_non_null(d);
    drift_ndv_init(d, 5000);
    for (int round = 0; round < 3; round++)
        for (int64_t i = 0; i < 1000; i++) {
            drift_value_t v = drift_val_int(i);
            assert_int_equal(drift_ndv_add(d, drift_stats_hash(&v, 0)), 0);
        }
    assert_true(drift_ndv_estimate(d) == 1000.0);
    drift_ndv_free(d);
    free(d);
}

/* Beyond the bound the HyperLogLog estimate is within 5% (4096 registers: ~1.6% standard error). */
static void test_ndv_hll(void **state)
{
    (void)state;
    drift_ndv_t *d = malloc(sizeof *d);
    assert_non_null(d);
    drift_ndv_init(d, 1000);
    for (int64_t i = 0; i < 200000; i++) {
        drift_value_t v = drift_val_int(i * 7 + 3);
        assert_int_equal(drift_ndv_add(d, drift_stats_hash(&v, 0)), 0);
        if (i % 2 == 0) /* duplicates change nothing */
            assert_int_equal(drift_ndv_add(d, drift_stats_hash(&v, 0)), 0);
    }
    assert_true(d->overflow);
    double e = drift_ndv_estimate(d);
    assert_true(fabs(e - 200000) / 200000 < 0.05);
    drift_ndv_free(d);
    free(d);
}

/* Integers 1..1000, each once: 32 equal buckets, no MCVs; = is 1/1000, ranges are proportional. */
static void test_uniform(void **state)
{
    (void)state;
    drift_value_t *v = drift_arena_alloc(&s_ar, 1000 * sizeof *v);
    for (int i = 0; i < 1000; i++)
        v[i] = drift_val_int(1000 - i); /* unsorted: the builder sorts */
    drift_colstats_t c;
    memset(&c, 0, sizeof c);
    c.present = 1;
    c.nd = 1000;
    c.has_minmax = 1;
    c.min = drift_val_int(1);
    c.max = drift_val_int(1000);
    assert_int_equal(drift_stats_col_build(&s_ar, v, 1000, 1000, 32, &c), 0);
    assert_int_equal(c.nhist, 33);
    assert_int_equal(c.nmcv, 0);
    assert_int_equal(c.hist[0].u.i, 1);
    assert_int_equal(c.hist[32].u.i, 1000);
    for (uint32_t j = 1; j < c.nhist; j++)
        assert_true(c.hist[j].u.i > c.hist[j - 1].u.i);
    drift_value_t x = drift_val_int(5);
    assert_true(fabs(drift_stats_sel_eq(&c, &x) - 0.001) < 1e-9);
    assert_true(fabs(drift_stats_sel_eq(&c, NULL) - 0.001) < 1e-9);
    drift_value_t out = drift_val_int(5000);
    assert_true(drift_stats_sel_eq(&c, &out) == 0);
    drift_value_t lo = drift_val_int(250);
    double s = drift_stats_sel_range(&c, NULL, 0, 0, &lo, 0, 0); /* x < 250 */
    assert_true(fabs(s - 0.249) < 0.01);
    drift_value_t a = drift_val_int(100), b = drift_val_int(199);
    s = drift_stats_sel_range(&c, &a, 1, 0, &b, 1, 0); /* BETWEEN 100 AND 199 */
    assert_true(fabs(s - 0.1) < 0.01);
    s = drift_stats_sel_range(&c, &a, 0, 0, NULL, 0, 0); /* x > 100 */
    assert_true(fabs(s - 0.9) < 0.01);
    s = drift_stats_sel_range(&c, &out, 0, 0, NULL, 0, 0); /* beyond max */
    assert_true(s == 0);
    /* a bound known only at run time: the default fraction */
    s = drift_stats_sel_range(&c, NULL, 0, 1, NULL, 0, 0);
    assert_true(fabs(s - 1.0 / 3) < 1e-9);
    assert_true(drift_stats_frac_below(&c, &x) < 0.01);
    drift_value_t r = drift_val_real(500.5);
    assert_true(fabs(drift_stats_frac_below(&c, &r) - 0.5) < 0.01);
}

/* 900 rows of 1, 100 distinct others (2..101), 100 NULLs: 1 is a most common value (900/1100), the
 * others share the rest: (1 - 100/1100 - 900/1100) / 100 each. */
static void test_skewed(void **state)
{
    (void)state;
    drift_value_t *v = drift_arena_alloc(&s_ar, 1000 * sizeof *v);
    size_t n = 0;
    for (int i = 0; i < 900; i++)
        v[n++] = drift_val_int(1);
    for (int i = 2; i <= 101; i++)
        v[n++] = drift_val_int(i);
    drift_colstats_t c;
    memset(&c, 0, sizeof c);
    c.present = 1;
    c.nd = 101;
    c.nullfrac = 100.0 / 1100;
    c.has_minmax = 1;
    c.min = drift_val_int(1);
    c.max = drift_val_int(101);
    assert_int_equal(drift_stats_col_build(&s_ar, v, n, 1100, 32, &c), 0);
    assert_int_equal(c.nmcv, 1);
    assert_int_equal(c.mcv[0].u.i, 1);
    assert_true(fabs(c.mcvf[0] - 900.0 / 1100) < 1e-9);
    drift_value_t one = drift_val_int(1), rare = drift_val_int(50);
    assert_true(fabs(drift_stats_sel_eq(&c, &one) - 900.0 / 1100) < 1e-9);
    assert_true(fabs(drift_stats_sel_eq(&c, &rare) - (100.0 / 1100) / 100) < 1e-9);
    assert_true(fabs(drift_stats_sel_null(&c, 0) - 100.0 / 1100) < 1e-9);
    assert_true(fabs(drift_stats_sel_null(&c, 1) - 1000.0 / 1100) < 1e-9);
    /* IS NOT NULL AND x > 1: the non-MCV part */
    double s = drift_stats_sel_range(&c, &one, 0, 0, NULL, 0, 0);
    assert_true(s > 0.05 && s < 0.15);
}

/* Text: 26 letters x 10 rows each; half the values sort before 'n'. */
static void test_text(void **state)
{
    (void)state;
    drift_value_t *v = drift_arena_alloc(&s_ar, 260 * sizeof *v);
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < 260; i++)
        v[i] = drift_val_text(&letters[i % 26], 1);
    drift_colstats_t c;
    memset(&c, 0, sizeof c);
    c.present = 1;
    c.nd = 26;
    assert_int_equal(drift_stats_col_build(&s_ar, v, 260, 260, 32, &c), 0);
    assert_int_equal(c.nhist, 33);
    drift_value_t nn = drift_val_text("n", 1);
    assert_true(fabs(drift_stats_frac_below(&c, &nn) - 0.5) < 0.05);
    assert_true(fabs(drift_stats_sel_eq(&c, &nn) - 1.0 / 26) < 1e-9);
    /* no MCVs: every value is equally common */
    assert_int_equal(c.nmcv, 0);
}

/* The stored record: pack, then parse against a table whose columns are matched by id (a column the
 * table no longer has is ignored, a new one has no statistics). */
static void test_record(void **state)
{
    (void)state;
    drift_tcol_t cols[2];
    memset(cols, 0, sizeof cols);
    cols[0].id = 1;
    cols[0].name = "id";
    cols[0].type = DRIFT_COL_INTEGER;
    cols[1].id = 2;
    cols[1].name = "s";
    cols[1].type = DRIFT_COL_TEXT;
    drift_table_t t;
    memset(&t, 0, sizeof t);
    t.id = 7;
    t.ncols = 2;
    t.cols = cols;
    drift_stats_t s;
    memset(&s, 0, sizeof s);
    drift_colstats_t cs[2];
    memset(cs, 0, sizeof cs);
    s.rows = 1100;
    s.ncols = 2;
    s.cols = cs;
    drift_value_t *v = drift_arena_alloc(&s_ar, 40 * sizeof *v);
    for (int i = 0; i < 40; i++)
        v[i] = drift_val_int(i < 30 ? 5 : i);
    cs[0].present = 1;
    cs[0].id = 1;
    cs[0].nd = 11;
    cs[0].nullfrac = 0.25;
    cs[0].has_minmax = 1;
    cs[0].min = drift_val_int(5);
    cs[0].max = drift_val_int(39);
    assert_int_equal(drift_stats_col_build(&s_ar, v, 40, 40, 8, &cs[0]), 0);
    cs[1].present = 1;
    cs[1].id = 2;
    cs[1].nd = 0;
    cs[1].nullfrac = 1;
    drift_idxstats_t ix = {.id = 3, .nprefix = 2, .nd = {11, 40}};
    s.nidx = 1;
    s.idx = &ix;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    drift_stats_pack(&t, &s, &sb);
    uint32_t table = 0;
    assert_int_equal(drift_stats_record_table(sb.data, sb.size, &table), 0);
    assert_int_equal(table, 7);
    /* reopened after ALTER TABLE: column 2 dropped, column 3 added */
    drift_tcol_t cols2[2];
    memcpy(cols2, cols, sizeof cols2);
    cols2[1].id = 3;
    t.cols = cols2;
    drift_stats_t *p = NULL;
    assert_int_equal(drift_stats_parse(&s_ar, &t, sb.data, sb.size, &p), 0);
    msgpack_sbuffer_destroy(&sb);
    assert_true(p->rows == 1100);
    assert_true(p->cols[0].present);
    assert_false(p->cols[1].present);
    assert_true(p->cols[0].nd == 11 && p->cols[0].nullfrac == 0.25);
    assert_int_equal(p->cols[0].nhist, cs[0].nhist);
    for (uint32_t j = 0; j < p->cols[0].nhist; j++)
        assert_int_equal(p->cols[0].hist[j].u.i, cs[0].hist[j].u.i);
    assert_int_equal(p->cols[0].nmcv, 1);
    assert_int_equal(p->cols[0].mcv[0].u.i, 5);
    assert_true(fabs(p->cols[0].mcvf[0] - 30.0 / 40) < 1e-12);
    assert_int_equal(p->cols[0].min.u.i, 5);
    assert_int_equal(p->cols[0].max.u.i, 39);
    assert_int_equal(p->nidx, 1);
    assert_int_equal(p->idx[0].id, 3);
    assert_true(p->idx[0].nd[1] == 40);
    /* not a stats record / garbage */
    static const uint8_t junk[] = {0x81, 0xa3, 'd', 'd', 'l', 0xa4, 'd', 'r', 'o', 'p'};
    assert_int_equal(drift_stats_record_table(junk, sizeof junk, &table), -1);
    assert_int_equal(drift_stats_parse(&s_ar, &t, "\xc1", 1, &p), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ndv_exact, s_teardown), cmocka_unit_test_teardown(test_ndv_hll, s_teardown),
        cmocka_unit_test_teardown(test_uniform, s_teardown),   cmocka_unit_test_teardown(test_skewed, s_teardown),
        cmocka_unit_test_teardown(test_text, s_teardown),      cmocka_unit_test_teardown(test_record, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
