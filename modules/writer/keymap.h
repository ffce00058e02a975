/* modules/writer/keymap.h — the writer's in-memory state of every key ever
 * written: (table, encoded primary key) -> (seq of its last write, live?),
 * plus per table the seq of its last write and of its last DDL. Used for the
 * uniqueness check (23505) and conflict detection (40001).
 *
 * The writer fills it at start from the log after the LMDB index's applied
 * seq and answers misses from the index (writer.c, "key map"; the whole log
 * when the index cannot be used), so it is exact after a restart.
 * Open addressing; an entry keeps its address until drift_keymap_sweep
 * removes it (its memory is then reused for another key); single-threaded
 * (the writer's event loop thread only). */
#ifndef DRIFT_WRITER_KEYMAP_H
#define DRIFT_WRITER_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct drift_kentry {
    uint64_t hash;
    uint64_t seq;  /* last write (rows) / last write to the table (tables); 0 = never */
    uint64_t seq2; /* tables: last DDL */
    uint32_t table;
    uint32_t klen;
    uint8_t kind; /* 0 row key, 1 table */
    uint8_t live;
    uint8_t pinned; /* rows: a write of this key the index may not hold as the log says; never forgotten */
    uint8_t key[];
} drift_kentry_t;

typedef struct drift_keymap drift_keymap_t;

/* Returns NULL + errno. */
drift_keymap_t *drift_keymap_new(void);
/* Frees every entry; NULLs *self_p; accepts NULL. */
void drift_keymap_destroy(drift_keymap_t **self_p);
/* The entry for a row key, or NULL. */
drift_kentry_t *drift_keymap_find(drift_keymap_t *self, uint32_t table, const uint8_t *key, uint32_t klen);
/* The entry for a row key, created (seq 0, not live) when absent; *ret_created tells. NULL on ENOMEM. */
drift_kentry_t *drift_keymap_get(drift_keymap_t *self, uint32_t table, const uint8_t *key, uint32_t klen,
                                 int *ret_created);
/* Asks the CPU for the cache line a lookup of the row key will read first (its slot), or with deep, the entry
 * that slot points to when it is the key's (the slot is then expected in the cache: prefetched earlier). A
 * hint only: nothing changes. The writer calls it a few ops ahead of the checks of a commit's ops, so that
 * their cache misses overlap (each was the writer's largest cost with many keys). */
void drift_keymap_prefetch(const drift_keymap_t *self, uint32_t table, const uint8_t *key, uint32_t klen, int deep);
/* The same for a table record. */
drift_kentry_t *drift_keymap_table(drift_keymap_t *self, uint32_t table, int create);
/* Visits the slots from *cursor on, at most max of them, and removes each row entry drop() accepts (table records
 * are never offered); *cursor moves past what was visited. Returns 1 when the visit reached the end of the slot
 * table (the pass is complete; start the next at 0), else 0. Removing entries moves others back within their probe
 * runs, and a growth between calls rehashes the table, so a pass may offer an entry twice or miss one: a sweep is
 * a best effort, never a wrong answer. Pointers to removed entries must not be kept. */
int drift_keymap_sweep(drift_keymap_t *self, size_t *cursor, size_t max,
                       int (*drop)(const drift_kentry_t *e, void *arg), void *arg);
/* Entries held (rows + tables). */
size_t drift_keymap_count(const drift_keymap_t *self);
/* Of those, row keys. */
size_t drift_keymap_rows(const drift_keymap_t *self);
/* Approximate bytes used. */
size_t drift_keymap_bytes(const drift_keymap_t *self);

#endif
