/* daemon/options.c — see options.h. */
#include "daemon/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/util.h"

void drift_opts_usage(FILE *f)
{
    fprintf(f, "usage: driftdbd [-c|--config FILE] [--data-dir DIR] [--listen ENDPOINT] [--http ADDR:PORT]\n"
               "                [--check-config] [--version]\n");
}

int drift_opts_parse(drift_opts_t *o, int argc, char **argv)
{
    enum { O_DATA = 1000, O_LISTEN, O_HTTP, O_CHECK, O_VERSION, O_ROLE, O_SLOT };
    static const struct option lo[] = {
        {"config", required_argument, NULL, 'c'}, {"data-dir", required_argument, NULL, O_DATA},
        {"listen", required_argument, NULL, O_LISTEN}, {"http", required_argument, NULL, O_HTTP},
        {"check-config", no_argument, NULL, O_CHECK}, {"version", no_argument, NULL, O_VERSION},
        {"role", required_argument, NULL, O_ROLE}, {"slot", required_argument, NULL, O_SLOT},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->slot = -1;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:h", lo, NULL)) != -1) {
        switch (c) {
        case 'c': o->config_path = optarg; break;
        case O_DATA: o->data_dir = optarg; break;
        case O_LISTEN: o->listen = optarg; break;
        case O_HTTP: o->http = optarg; break;
        case O_CHECK: o->check_config = 1; break;
        case O_VERSION: o->version = 1; break;
        case O_ROLE: o->role = optarg; break;
        case O_SLOT:
            if (drift_parse_i64(optarg, &o->slot) < 0 || o->slot < 0) {
                fprintf(stderr, "driftdbd: --slot: '%s' is not a slot number\n", optarg);
                return -EINVAL;
            }
            break;
        case 'h': o->help = 1; break;
        case ':':
            fprintf(stderr, "driftdbd: option %s needs a value\n", argv[optind - 1]);
            drift_opts_usage(stderr);
            return -EINVAL;
        default:
            fprintf(stderr, "driftdbd: unknown option %s\n", argv[optind - 1]);
            drift_opts_usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "driftdbd: unexpected argument '%s'\n", argv[optind]);
        drift_opts_usage(stderr);
        return -EINVAL;
    }
    return 0;
}

int drift_opts_load_config(const drift_opts_t *o, drift_config_t *cfg, char *err, size_t cap)
{
    drift_config_defaults(cfg);
    int rc;
    if (o->config_path && (rc = drift_config_load(cfg, o->config_path, err, cap)) < 0)
        return rc;
    const struct {
        const char *flag, *key, *val;
    } ov[] = {{"--data-dir", "data_dir", o->data_dir}, {"--listen", "listen", o->listen}, {"--http", "http", o->http}};
    for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
        if (!ov[i].val)
            continue;
        char msg[256];
        if ((rc = drift_config_set(cfg, ov[i].key, ov[i].val, msg, sizeof msg)) < 0) {
            snprintf(err, cap, "%s: %s", ov[i].flag, msg);
            return rc;
        }
    }
    char msg[256];
    if ((rc = drift_config_validate(cfg, msg, sizeof msg)) < 0) {
        snprintf(err, cap, "%s: %s", o->config_path ? o->config_path : "configuration", msg);
        return rc;
    }
    return 0;
}
