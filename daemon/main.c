/* daemon/main.c — driftdbd's entry point: the supervisor, or one role when
 * started with --role=NAME by the supervisor. */
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "common/git_rev.h"
#include "config.h"
#include "daemon/options.h"
#include "daemon/role.h"
#include "daemon/supervisor.h"

int main(int argc, char **argv)
{
    drift_opts_t o;
    if (drift_opts_parse(&o, argc, argv) < 0)
        return DRIFT_EXIT_FATAL;
    if (o.help) {
        drift_opts_usage(stdout);
        return 0;
    }
    if (o.version) {
        printf("driftdbd %s (%s)\n", PACKAGE_VERSION, DRIFT_GIT_REV);
        return 0;
    }
    drift_config_t cfg;
    char err[1024];
    if (drift_opts_load_config(&o, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "driftdbd: %s\n", err);
        if (o.check_config)
            return 1;
        return DRIFT_EXIT_FATAL;
    }
    if (o.check_config) {
        printf("%s: configuration is valid\n", o.config_path ? o.config_path : "defaults");
        return 0;
    }
    drift_log_set_level(drift_config_log_level(&cfg));
    if (drift_log_set_target(cfg.log_target) < 0) {
        fprintf(stderr, "driftdbd: cannot open log target %s\n", cfg.log_target);
        return DRIFT_EXIT_FATAL;
    }
    if (o.role)
        return drift_role_main(&o, &cfg);
    drift_log_set_tag("driftdbd");
    return drift_super_main(&o, &cfg, argc, argv);
}
