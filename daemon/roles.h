/* daemon/roles.h — the table of roles driftdbd can run: name, kind, entry
 * point, start order and whether the daemon is ready without it. */
#ifndef DRIFT_DAEMON_ROLES_H
#define DRIFT_DAEMON_ROLES_H

#include "common/roles.h"
#include "daemon/role.h"

typedef struct {
    const char *name;
    drift_role_kind_t kind;
    drift_role_main_fn main;
    int order;     /* start order; stop runs in reverse */
    int essential; /* the daemon is ready only when every essential role is */
} drift_role_desc_t;

/* The role table (borrowed) and its length. */
const drift_role_desc_t *drift_roles_table(size_t *ret_n);
/* The role named `name`, or NULL. */
const drift_role_desc_t *drift_roles_find(const char *name);
/* The role of a kind, or NULL. */
const drift_role_desc_t *drift_roles_by_kind(drift_role_kind_t kind);

#endif
