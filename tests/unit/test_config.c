/* tests/unit/test_config.c — the configuration parser: good files, every kind
 * of bad line with its file:line, units, include, last-wins, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/errors.h"

static char s_dir[] = "/tmp/drift-cfg-XXXXXX";

static const char *s_write(const char *name, const char *text)
{
    static char path[4][512];
    static int k;
    char *p = path[k++ & 3];
    snprintf(p, 512, "%s/%s", s_dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static int setup(void **state)
{
    assert_non_null(mkdtemp(s_dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void t_defaults(void **state)
{
    drift_config_t c;
    drift_config_defaults(&c);
    assert_string_equal(c.data_dir, "./data");
    assert_string_equal(c.listen, "tcp://127.0.0.1:7433");
    assert_string_equal(c.http, "127.0.0.1:7434");
    assert_int_equal(c.segment_size, 64ull << 20);
    assert_int_equal(c.durability, DRIFT_DURABILITY_SYNC);
    assert_int_equal(c.sync_interval_ns, 200000000ull);
    char err[256];
    assert_int_equal(drift_config_validate(&c, err, sizeof err), 0);
}

static void t_good_file(void **state)
{
    const char *p = s_write("good.conf", "# comment\n"
                                         "\n"
                                         "data_dir = /var/lib/driftdb   # trailing comment\n"
                                         "  listen=\"tcp://0.0.0.0:9000\"\n"
                                         "segment_size = 1 GB\n"
                                         "sync_interval = 5s\n"
                                         "heartbeat_interval = 150ms\n"
                                         "durability = async\n"
                                         "query_workers = 3\n"
                                         "log_level = debug\n"
                                         "http = \"\"\n");
    drift_config_t c;
    drift_config_defaults(&c);
    char err[512] = "";
    assert_int_equal(drift_config_load(&c, p, err, sizeof err), 0);
    assert_string_equal(c.data_dir, "/var/lib/driftdb");
    assert_string_equal(c.listen, "tcp://0.0.0.0:9000");
    assert_int_equal(c.segment_size, 1ull << 30);
    assert_int_equal(c.sync_interval_ns, 5000000000ull);
    assert_int_equal(c.heartbeat_interval_ns, 150000000ull);
    assert_int_equal(c.durability, DRIFT_DURABILITY_ASYNC);
    assert_int_equal(c.query_workers, 3);
    assert_int_equal(drift_config_log_level(&c), 7);
    assert_string_equal(c.http, "");
    assert_int_equal(drift_config_query_workers(&c), 3);
}

/* Each bad line must fail with "file:LINE: message" naming what is wrong. */
static void t_bad_lines(void **state)
{
    static const struct {
        const char *text;
        int line;
        const char *needle;
    } cases[] = {
        {"listen = x\nno equals sign here\n", 2, "expected 'key = value'"},
        {"# c\n\nbogus_key = 1\n", 3, "unknown key 'bogus_key'"},
        {"segment_size = 12 parsecs\n", 1, "not a valid size"},
        {"segment_size = -5MB\n", 1, "not a valid size"},
        {"segment_size = 1KB\n", 1, "out of range"},
        {"sync_interval = soon\n", 1, "not a valid duration"},
        {"query_workers = many\n", 1, "not an integer"},
        {"query_workers = 1000\n", 1, "out of range"},
        {"durability = maybe\n", 1, "not one of: sync, async"},
        {"x = 1\n= 5\n", 1, "unknown key 'x'"},
        {"listen = tcp://a\n = 5\n", 2, "missing key"},
        {"listen = \"tcp://a\n", 1, "quote"},
        {"listen = \"a\" b\n", 1, "quote"},
        {"include\n", 1, "include needs a file name"},
        {"include does-not-exist.conf\n", 1, "cannot open"},
        {"segment_size = 99999999999999999999999TB\n", 1, "segment_size"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = s_write("bad.conf", cases[i].text);
        drift_config_t c;
        drift_config_defaults(&c);
        char err[512] = "", want[600];
        int rc = drift_config_load(&c, p, err, sizeof err);
        if (rc == 0 || !strstr(err, cases[i].needle))
            fail_msg("case %zu: rc=%d err='%s', wanted '%s'", i, rc, err, cases[i].needle);
        snprintf(want, sizeof want, "%s:%d: ", p, cases[i].line);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("case %zu: err '%s' does not start with '%s'", i, err, want);
    }
}

static void t_include_and_last_wins(void **state)
{
    s_write("inc.conf", "segment_size = 2MB\nquery_workers = 5\n");
    const char *p = s_write("main.conf", "segment_size = 1MB\ninclude inc.conf\nquery_workers = 7\n");
    drift_config_t c;
    drift_config_defaults(&c);
    char err[512] = "";
    assert_int_equal(drift_config_load(&c, p, err, sizeof err), 0);
    assert_int_equal(c.segment_size, 2ull << 20); /* from the include, after the first line */
    assert_int_equal(c.query_workers, 7);        /* the main file's later line wins */
}

static void t_include_error_location(void **state)
{
    const char *inc = s_write("badinc.conf", "\n\nsync_interval = never\n");
    const char *p = s_write("main2.conf", "include badinc.conf\n");
    drift_config_t c;
    drift_config_defaults(&c);
    char err[512] = "", want[600];
    assert_int_equal(drift_config_load(&c, p, err, sizeof err), DRIFT_ECONFIG);
    snprintf(want, sizeof want, "%s:3: ", inc);
    assert_true(strncmp(err, want, strlen(want)) == 0);
}

static void t_include_loop(void **state)
{
    const char *p = s_write("loop.conf", "include loop.conf\n");
    drift_config_t c;
    drift_config_defaults(&c);
    char err[512] = "";
    assert_int_equal(drift_config_load(&c, p, err, sizeof err), DRIFT_ECONFIG);
    assert_non_null(strstr(err, "include nesting"));
}

static void t_missing_file(void **state)
{
    drift_config_t c;
    drift_config_defaults(&c);
    char err[512] = "";
    assert_true(drift_config_load(&c, "/nonexistent/driftdb.conf", err, sizeof err) < 0);
    assert_non_null(strstr(err, "/nonexistent/driftdb.conf: cannot open"));
}

static void t_validate(void **state)
{
    drift_config_t c;
    char err[256];
    drift_config_defaults(&c);
    c.heartbeat_timeout_ns = c.heartbeat_interval_ns;
    assert_int_equal(drift_config_validate(&c, err, sizeof err), DRIFT_ECONFIG);
    assert_non_null(strstr(err, "heartbeat_timeout"));
    drift_config_defaults(&c);
    assert_int_equal(drift_config_set(&c, "replication_mode", "primary", err, sizeof err), 0);
    assert_int_equal(drift_config_validate(&c, err, sizeof err), DRIFT_ECONFIG);
    assert_non_null(strstr(err, "replication_endpoint"));
    drift_config_defaults(&c);
    assert_int_equal(drift_config_set(&c, "log_target", "journal", err, sizeof err), 0);
    assert_int_equal(drift_config_validate(&c, err, sizeof err), DRIFT_ECONFIG);
    drift_config_defaults(&c);
    assert_int_equal(drift_config_set(&c, "http", "nocolon", err, sizeof err), 0);
    assert_int_equal(drift_config_validate(&c, err, sizeof err), DRIFT_ECONFIG);
}

/* Every key's default parses, formats, and re-parses to the same value. */
static void t_format_roundtrip(void **state)
{
    size_t n;
    const drift_cfg_key_t *k = drift_config_keys(&n);
    assert_true(n >= 15);
    drift_config_t a, b;
    drift_config_defaults(&a);
    drift_config_defaults(&b);
    for (size_t i = 0; i < n; i++) {
        char buf[512], err[256];
        assert_non_null(k[i].help);
        drift_config_format(&a, &k[i], buf, sizeof buf);
        assert_int_equal(drift_config_set(&b, k[i].name, buf, err, sizeof err), 0);
    }
    assert_memory_equal(&a, &b, offsetof(drift_config_t, source));
}

/* etc/driftdb.conf, the shipped default file, must hold every key with its default. */
static void t_shipped_file(void **state)
{
    const char *src = getenv("DRIFT_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/etc/driftdb.conf", src ? src : ".");
    drift_config_t a, b;
    drift_config_defaults(&a);
    drift_config_defaults(&b);
    char err[512] = "";
    if (drift_config_load(&b, path, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_memory_equal(&a, &b, offsetof(drift_config_t, source));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[65536];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = 0;
    fclose(f);
    size_t n;
    const drift_cfg_key_t *k = drift_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char want[128];
        snprintf(want, sizeof want, "\n%s = ", k[i].name);
        if (!strstr(text, want))
            fail_msg("etc/driftdb.conf lacks key %s", k[i].name);
    }
}

/* docs/operations.md must name every key. */
static void t_documented(void **state)
{
    const char *src = getenv("DRIFT_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/operations.md", src ? src : ".");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[1 << 17];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = 0;
    fclose(f);
    size_t n;
    const drift_cfg_key_t *k = drift_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char want[128];
        snprintf(want, sizeof want, "| `%s` |", k[i].name);
        if (!strstr(text, want))
            fail_msg("docs/operations.md does not document key %s", k[i].name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_defaults),       cmocka_unit_test(t_good_file),
        cmocka_unit_test(t_bad_lines),      cmocka_unit_test(t_include_and_last_wins),
        cmocka_unit_test(t_include_error_location), cmocka_unit_test(t_include_loop),
        cmocka_unit_test(t_missing_file),   cmocka_unit_test(t_validate),
        cmocka_unit_test(t_format_roundtrip), cmocka_unit_test(t_shipped_file),
        cmocka_unit_test(t_documented),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
