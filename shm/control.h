/* shm/control.h — the shared control block, <data_dir>/run/control.
 *
 * Created by the supervisor (after it holds the data directory lock) and
 * mmap'd MAP_SHARED by every role. Fixed layout: magic + format version,
 * offsets never pointers, fixed-width integers, C11 atomics for every field
 * that changes after creation. Each role process owns one slot (assigned by
 * the supervisor, passed as --slot=N) and is the only writer of its slot's
 * state/heartbeat/counters; the supervisor writes role/pid/generation/restarts.
 * Database-wide positions have one writer each: commit_* by the writer,
 * indexed_seq by the indexer, snapshot/retention by the compactor. */
#ifndef DRIFT_SHM_CONTROL_H
#define DRIFT_SHM_CONTROL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DRIFT_CTL_MAGIC 0x304c544354464944ull /* "DIFTCTL0" little-endian */
#define DRIFT_CTL_VERSION 2u /* 2: 18 counters a slot, indexed_ops */
#define DRIFT_CTL_MAX_SLOTS 64u
#define DRIFT_CTL_COUNTERS 18u
#define DRIFT_CTL_HIST_BUCKETS 32u

typedef enum {
    DRIFT_SLOT_FREE = 0,     /* unused */
    DRIFT_SLOT_STARTING = 1, /* forked, not yet ready */
    DRIFT_SLOT_READY = 2,    /* serving */
    DRIFT_SLOT_STOPPING = 3, /* got SIGTERM, draining */
    DRIFT_SLOT_EXITED = 4,   /* reaped by the supervisor */
} drift_slot_state_t;

/* Generic per-slot counters; roles may use the role-specific ones as documented in docs/operations.md. */
enum {
    DRIFT_CTR_REQUESTS = 0, /* requests handled (all roles that serve requests) */
    DRIFT_CTR_ERRORS = 1,   /* requests answered with an error */
    DRIFT_CTR_BYTES_IN = 2,
    DRIFT_CTR_BYTES_OUT = 3,
    /* 4..6 unused; 7: the gateway's forwarded queries (its role-specific 8..15 are all taken) */
    DRIFT_CTR_ROLE0 = 8, /* first role-specific counter */
};

/* One role process. 8-byte aligned fields only. */
typedef struct {
    _Atomic uint32_t role;       /* drift_role_kind_t */
    _Atomic uint32_t instance;   /* index among roles of that kind (query.0, query.1, ...) */
    _Atomic int32_t pid;         /* 0 when none */
    _Atomic uint32_t state;      /* drift_slot_state_t */
    _Atomic uint64_t generation; /* incremented by the supervisor at each spawn into this slot */
    _Atomic uint64_t restarts;   /* spawns after the first */
    _Atomic uint64_t started_real_ns;
    _Atomic uint64_t ready_mono_ns;
    _Atomic uint64_t heartbeat_mono_ns;
    _Atomic uint64_t counters[DRIFT_CTL_COUNTERS];
    /* request latency histogram, bucket i counts latencies in [2^i, 2^(i+1)) microseconds */
    _Atomic uint64_t latency_us_hist[DRIFT_CTL_HIST_BUCKETS];
    _Atomic uint64_t latency_us_sum;
    uint64_t reserved[6];
} drift_ctl_slot_t;

/* The block header. slots start at slots_offset. */
typedef struct {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint32_t slot_size;
    uint32_t nslots;
    uint64_t slots_offset;
    uint64_t total_size;
    _Atomic int32_t supervisor_pid;
    uint32_t pad0;
    _Atomic uint64_t created_real_ns;
    _Atomic uint64_t supervisor_heartbeat_mono_ns;
    _Atomic uint64_t config_generation; /* incremented on each applied reload */

    /* database positions (written by one role each, see above) */
    _Atomic uint64_t epoch;
    _Atomic uint64_t commit_seq;        /* last durable commit */
    _Atomic uint64_t commit_ts_ns;      /* its commit timestamp */
    _Atomic uint64_t active_segment_id; /* first seq of the active segment */
    _Atomic uint64_t committed_len;     /* bytes of the active segment readers may read */
    _Atomic uint64_t written_seq;       /* async durability: last seq written but maybe not yet synced */
    _Atomic uint64_t indexed_seq;
    _Atomic uint64_t indexed_ts_ns;
    _Atomic uint64_t snapshot_seq;
    _Atomic uint64_t retention_horizon_seq;
    _Atomic uint64_t replica_seq; /* highest seq acknowledged by replicas */
    _Atomic uint64_t writer_state; /* 0 ok, else a DRIFT_WSTATE_* reason writes are refused */
    _Atomic uint64_t indexed_ops;  /* ops the indexer has applied since it started (the writer's flow control) */
    uint64_t reserved[31];
} drift_ctl_header_t;

typedef struct drift_ctl drift_ctl_t;

/* Creates (replacing any old file atomically) and maps the control block at path. Returns NULL + errno. */
drift_ctl_t *drift_ctl_create(const char *path, uint32_t nslots);
/* Maps an existing control block; checks magic, version and sizes.
 * Returns 0, -errno, DRIFT_EBADMAGIC or DRIFT_EVERSION (*ret_ctl untouched on error). */
int drift_ctl_attach(const char *path, drift_ctl_t **ret_ctl);
/* Unmaps and frees; NULLs *self_p; accepts NULL. */
void drift_ctl_detach(drift_ctl_t **self_p);

/* The header (borrowed). */
drift_ctl_header_t *drift_ctl_header(drift_ctl_t *self);
/* Slot i or NULL when out of range (borrowed). */
drift_ctl_slot_t *drift_ctl_slot(drift_ctl_t *self, uint32_t i);
uint32_t drift_ctl_nslots(const drift_ctl_t *self);

/* Supervisor: finds a slot for (role, instance): the one it had before, else a free one,
 * else one whose recorded pid no longer exists (left by a crash). Returns the index or DRIFT_EFULL. */
int drift_ctl_claim_slot(drift_ctl_t *self, uint32_t role, uint32_t instance);

/* Role: records a request latency in its slot (requests counter, histogram, sum). */
void drift_ctl_slot_observe_us(drift_ctl_slot_t *slot, uint64_t us);

#endif
