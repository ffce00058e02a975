/* daemon/options.h — driftdbd's command line, shared by the supervisor and
 * the role processes (a role is exec'd with the supervisor's own arguments
 * plus --role/--slot, so both build the same configuration). */
#ifndef DRIFT_DAEMON_OPTIONS_H
#define DRIFT_DAEMON_OPTIONS_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "common/config.h"

typedef struct drift_opts_s {
    const char *config_path; /* NULL: defaults only */
    const char *data_dir, *listen, *http; /* overrides, NULL when absent */
    const char *role;        /* NULL: supervisor */
    int64_t slot;
    int check_config, version, help;
} drift_opts_t;

/* Parses argv. Returns 0, or -EINVAL after printing a usage error to stderr. */
int drift_opts_parse(drift_opts_t *o, int argc, char **argv);
/* Builds the configuration: defaults, the file, then the flags; validates.
 * On error writes "file:line: message" (or "--flag: message") into err. */
int drift_opts_load_config(const drift_opts_t *o, drift_config_t *cfg, char *err, size_t cap);
void drift_opts_usage(FILE *f);

#endif
