/* daemon/roles.c — see roles.h. The start order is the dependency order:
 * the writer owns the log, the indexer follows it, query workers read both,
 * the gateway routes to query workers; the compactor and the replicator come
 * last. Stop runs in reverse so no role loses what it depends on while it drains. */
#include "daemon/roles.h"

#include <string.h>

#include "modules/compactor/compactor.h"
#include "modules/gateway/gateway.h"
#include "modules/indexer/indexer.h"
#include "modules/query/query.h"
#include "modules/replicator/replicator.h"
#include "modules/writer/writer.h"

static const drift_role_desc_t s_roles[] = {
    {"writer", DRIFT_ROLE_WRITER, drift_writer_main, 0, 1},
    {"indexer", DRIFT_ROLE_INDEXER, drift_indexer_main, 1, 1},
    {"query", DRIFT_ROLE_QUERY, drift_query_main, 2, 1},
    {"gateway", DRIFT_ROLE_GATEWAY, drift_gateway_main, 3, 1},
    {"compactor", DRIFT_ROLE_COMPACTOR, drift_compactor_main, 4, 0},
    {"replicator", DRIFT_ROLE_REPLICATOR, drift_replicator_main, 5, 1},
};

const drift_role_desc_t *drift_roles_table(size_t *ret_n)
{
    *ret_n = sizeof s_roles / sizeof s_roles[0];
    return s_roles;
}

const drift_role_desc_t *drift_roles_find(const char *name)
{
    for (size_t i = 0; i < sizeof s_roles / sizeof s_roles[0]; i++)
        if (strcmp(s_roles[i].name, name) == 0)
            return &s_roles[i];
    return NULL;
}

const drift_role_desc_t *drift_roles_by_kind(drift_role_kind_t kind)
{
    for (size_t i = 0; i < sizeof s_roles / sizeof s_roles[0]; i++)
        if (s_roles[i].kind == kind)
            return &s_roles[i];
    return NULL;
}
