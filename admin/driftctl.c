/* admin/driftctl.c — driftctl's entry point: global options and the command
 * table. Later issues add rows (status, ...).
 *
 * Single-threaded; every command reaches driftdbd through libdrift. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "admin/driftctl.h"
#include "common/git_rev.h"
#include "config.h"

static int s_cmd_ping(drift_ctl_t *ctl, int argc, char **argv);
static int s_cmd_help(drift_ctl_t *ctl, int argc, char **argv);

/* The command table: one row per command, in help order. */
static const drift_ctl_cmd_t s_commands[] = {
    {"sql", drift_ctl_sql, "[-e STATEMENT | -f FILE] [--json|--csv] [-x] [--as-of SEQ|TIME]",
     "run SQL: an interactive shell, one statement, or a file"},
    {"ingest", drift_ctl_ingest, "TABLE FILE.jsonl [--batch N] [--sql|--doc] [--skip N]",
     "load JSON lines into a table in batched transactions (progress bar on a terminal)"},
    {"demo", drift_ctl_demo, "[--rows N]",
     "a guided tour: orders table, 10 000 orders, time travel, history, SHOW DRIFT, EXPLAIN, DriftQL"},
    {"ping", s_cmd_ping, "", "check that the daemon answers (prints its version and commit seq)"},
    {"reindex", drift_ctl_reindex, "[-D DATA_DIR] [--map-size SIZE]",
     "rebuild every index from the log (offline; progress bar on a terminal)"},
    {"verify", drift_ctl_verify, "--indexes [-D DATA_DIR]", "compare the indexes with a fresh rebuild from the log"},
    {"help", s_cmd_help, "", "show this help"},
    {NULL, NULL, NULL, NULL},
};

/* Prints the usage text. */
static void s_usage(FILE *f)
{
    fprintf(f,
            "Usage: driftctl [-H ENDPOINT] [--timeout MS] [--connect-timeout MS] COMMAND [ARGS]\n\n"
            "Options:\n"
            "  -H, --host ENDPOINT      daemon endpoint (default $DRIFT_ENDPOINT or %s)\n"
            "      --timeout MS         per-request timeout (default 30000)\n"
            "      --connect-timeout MS how long to wait for the daemon (default 3000)\n"
            "  -h, --help               this help;  -V, --version  print the version\n\n"
            "Commands:\n",
            DRIFT_DEFAULT_ENDPOINT);
    for (const drift_ctl_cmd_t *c = s_commands; c->name; c++)
        fprintf(f, "  %-6s %s\n         %s\n", c->name, c->args, c->summary);
    fprintf(f, "\nExit codes: 0 ok, 1 statement error, 2 usage, 3 daemon unreachable.\n");
}

bool drift_ctl_parse_ms(const char *s, int *ret_ms)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 86400000)
        return false;
    *ret_ms = (int)v;
    return true;
}

int drift_ctl_exit_code(int rc)
{
    switch (rc) {
    case 0: return DRIFT_CTL_OK;
    case DRIFT_CLIENT_ESERVER: return DRIFT_CTL_ESTATEMENT;
    case DRIFT_CLIENT_EINVAL: return DRIFT_CTL_EUSAGE;
    case DRIFT_CLIENT_ENOMEM: return DRIFT_CTL_ESTATEMENT;
    default: return DRIFT_CTL_EUNREACHABLE; /* timeout, lost connection, protocol trouble */
    }
}

int drift_ctl_connect(const drift_ctl_t *ctl, drift_conn_t **ret_conn)
{
    drift_options_t o;
    drift_options_init(&o);
    o.endpoint = ctl->endpoint;
    o.connect_timeout_ms = ctl->connect_timeout_ms > 0 ? ctl->connect_timeout_ms : 1;
    o.request_timeout_ms = ctl->timeout_ms;
    drift_conn_t *c = NULL;
    int rc = drift_connect(&o, &c);
    if (rc == 0) {
        *ret_conn = c;
        return DRIFT_CTL_OK;
    }
    fprintf(stderr, "driftctl: %s\n", c ? drift_conn_errmsg(c) : drift_strerror_client(rc));
    drift_close(&c);
    *ret_conn = NULL;
    /* A malformed endpoint or option is a usage error; no answer (or a daemon
     * that cannot serve, e.g. 57P03) means unreachable. */
    if (rc == DRIFT_CLIENT_EZMQ || rc == DRIFT_CLIENT_EINVAL || rc == DRIFT_CLIENT_ENOTSUP)
        return DRIFT_CTL_EUSAGE;
    return DRIFT_CTL_EUNREACHABLE;
}

/* `driftctl ping`: one ping, prints server version and commit seq. */
static int s_cmd_ping(drift_ctl_t *ctl, int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "driftctl ping: unexpected argument '%s'\n", argv[1]);
        return DRIFT_CTL_EUSAGE;
    }
    drift_conn_t *c = NULL;
    int ec = drift_ctl_connect(ctl, &c);
    if (ec)
        return ec;
    int64_t seq = 0;
    int rc = drift_ping(c, &seq);
    if (rc == 0)
        printf("%s at %s: commit seq %lld\n", drift_conn_server(c), ctl->endpoint, (long long)seq);
    else
        fprintf(stderr, "driftctl: ping: %s\n", drift_conn_errmsg(c));
    drift_close(&c);
    return drift_ctl_exit_code(rc);
}

/* `driftctl help`. */
static int s_cmd_help(drift_ctl_t *ctl, int argc, char **argv)
{
    s_usage(stdout);
    return DRIFT_CTL_OK;
}

int main(int argc, char **argv)
{
    drift_ctl_t ctl = {
        .endpoint =
            getenv("DRIFT_ENDPOINT") && *getenv("DRIFT_ENDPOINT") ? getenv("DRIFT_ENDPOINT") : DRIFT_DEFAULT_ENDPOINT,
        .connect_timeout_ms = 3000,
        .timeout_ms = 30000,
    };
    enum { OPT_TIMEOUT = 256, OPT_CONNECT_TIMEOUT };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    /* '+': stop at the command name; the command parses the rest. */
    while ((opt = getopt_long(argc, argv, "+H:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'H': ctl.endpoint = optarg; break;
        case OPT_TIMEOUT:
            if (!drift_ctl_parse_ms(optarg, &ctl.timeout_ms)) {
                fprintf(stderr, "driftctl: --timeout: not a number of milliseconds: '%s'\n", optarg);
                return DRIFT_CTL_EUSAGE;
            }
            break;
        case OPT_CONNECT_TIMEOUT:
            if (!drift_ctl_parse_ms(optarg, &ctl.connect_timeout_ms)) {
                fprintf(stderr, "driftctl: --connect-timeout: not a number of milliseconds: '%s'\n", optarg);
                return DRIFT_CTL_EUSAGE;
            }
            break;
        case 'h': s_usage(stdout); return DRIFT_CTL_OK;
        case 'V':
            printf("driftctl %s (%s), libdrift %s\n", PACKAGE_VERSION, DRIFT_GIT_REV, DRIFT_CLIENT_VERSION);
            return 0;
        default: s_usage(stderr); return DRIFT_CTL_EUSAGE;
        }
    }
    if (optind >= argc) {
        s_usage(stderr);
        return DRIFT_CTL_EUSAGE;
    }
    const char *name = argv[optind];
    for (const drift_ctl_cmd_t *c = s_commands; c->name; c++) {
        if (strcmp(c->name, name) == 0) {
            int cargc = argc - optind;
            char **cargv = argv + optind;
            optind = 1; /* the command runs getopt again on its own argv */
            return c->run(&ctl, cargc, cargv);
        }
    }
    fprintf(stderr, "driftctl: unknown command '%s' (try driftctl help)\n", name);
    return DRIFT_CTL_EUSAGE;
}
