/* common/roles.h — the role kinds the supervisor runs. The numeric values are
 * stored in the shared control block: append only, never renumber. */
#ifndef DRIFT_COMMON_ROLES_H
#define DRIFT_COMMON_ROLES_H

typedef enum {
    DRIFT_ROLE_NONE = 0,
    DRIFT_ROLE_GATEWAY = 1,
    DRIFT_ROLE_QUERY = 2,
    DRIFT_ROLE_WRITER = 3,
    DRIFT_ROLE_INDEXER = 4,
    DRIFT_ROLE_COMPACTOR = 5,
    DRIFT_ROLE_REPLICATOR = 6,
    DRIFT_ROLE__COUNT
} drift_role_kind_t;

#define DRIFT_ROLE_BIT(k) (1u << (k))
#define DRIFT_ROLE_ALL 0x7eu

/* Role name ("writer") for a kind, or "?" for an unknown one. */
static inline const char *drift_role_name(int kind)
{
    static const char *const names[] = {"none", "gateway", "query", "writer", "indexer", "compactor", "replicator"};
    return kind >= 0 && kind < DRIFT_ROLE__COUNT ? names[kind] : "?";
}

#endif
