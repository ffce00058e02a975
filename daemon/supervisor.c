#include "daemon/supervisor.h"
int drift_super_main(const drift_opts_t *o, const drift_config_t *cfg, int argc, char **argv) { return 0; }
