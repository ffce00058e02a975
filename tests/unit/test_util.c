/* tests/unit/test_util.c — unit parsing (sizes, durations, integers) and paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/errors.h"
#include "common/util.h"

static void t_sizes(void **state)
{
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {{"0", 0},           {"512", 512},          {"4KB", 4096},         {"4 kb", 4096}, {"64MB", 64ull << 20},
              {"64MiB", 64ull << 20}, {"1G", 1ull << 30}, {"2TB", 2ull << 40}, {" 7B ", 7}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 1;
        assert_int_equal(drift_parse_size(ok[i].s, &v), 0);
        assert_int_equal(v, ok[i].v);
    }
    const char *bad[] = {"", "MB", "-1", "1.5MB", "12 parsecs", "1MBB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        assert_int_equal(drift_parse_size(bad[i], &v), -EINVAL);
    }
    uint64_t v;
    assert_int_equal(drift_parse_size("99999999999TB", &v), -ERANGE);
}

static void t_durations(void **state)
{
    uint64_t v;
    assert_int_equal(drift_parse_duration("200ms", &v), 0);
    assert_int_equal(v, 200000000ull);
    assert_int_equal(drift_parse_duration("5s", &v), 0);
    assert_int_equal(v, 5000000000ull);
    assert_int_equal(drift_parse_duration("2m", &v), 0);
    assert_int_equal(v, 120000000000ull);
    assert_int_equal(drift_parse_duration("1h", &v), 0);
    assert_int_equal(v, 3600000000000ull);
    assert_int_equal(drift_parse_duration("250us", &v), 0);
    assert_int_equal(v, 250000ull);
    assert_int_equal(drift_parse_duration("40", &v), 0); /* bare number = ms */
    assert_int_equal(v, 40000000ull);
    assert_int_equal(drift_parse_duration("5 fortnights", &v), -EINVAL);
    assert_int_equal(drift_parse_duration("s", &v), -EINVAL);
}

static void t_i64(void **state)
{
    int64_t v;
    assert_int_equal(drift_parse_i64("-42", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(drift_parse_i64("42x", &v), -EINVAL);
    assert_int_equal(drift_parse_i64("", &v), -EINVAL);
    assert_int_equal(drift_parse_i64("99999999999999999999", &v), -ERANGE);
}

static void t_mkdir_p(void **state)
{
    char dir[] = "/tmp/drift-util-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[256];
    snprintf(p, sizeof p, "%s/a/b/c", dir);
    assert_int_equal(drift_mkdir_p(p), 0);
    assert_int_equal(drift_mkdir_p(p), 0); /* idempotent */
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(drift_fsync_dir(p), 0);
    char buf[8];
    assert_int_equal(drift_path_join(buf, sizeof buf, "/long/dir", "name"), -ENAMETOOLONG);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void t_strerror(void **state)
{
    assert_string_equal(drift_strerror(DRIFT_EBADMAGIC), "bad magic number");
    assert_string_equal(drift_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(drift_strerror(-99999), "unknown error");
}

static void t_clocks(void **state)
{
    uint64_t a = drift_now_mono_ns(), b = drift_now_mono_ns();
    assert_true(b >= a);
    assert_true(drift_now_real_ns() > 1700000000ull * 1000000000ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_sizes),    cmocka_unit_test(t_durations), cmocka_unit_test(t_i64),
        cmocka_unit_test(t_mkdir_p),  cmocka_unit_test(t_strerror),  cmocka_unit_test(t_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
