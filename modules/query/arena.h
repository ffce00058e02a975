/* modules/query/arena.h — a bump allocator for one statement's (or one AST's)
 * short-lived memory: values, decoded rows, temporary strings. Everything is
 * freed at once by drift_arena_free/reset. Allocations are 16-byte aligned and
 * zeroed. Single-threaded. */
#ifndef DRIFT_QUERY_ARENA_H
#define DRIFT_QUERY_ARENA_H

#include <stddef.h>

typedef struct drift_arena_block drift_arena_block_t;

typedef struct {
    drift_arena_block_t *blocks;
    size_t total; /* bytes handed out since the last reset */
} drift_arena_t;

/* n zeroed bytes, or NULL when out of memory. */
void *drift_arena_alloc(drift_arena_t *a, size_t n);
/* A NUL-terminated copy of p[0..n). */
char *drift_arena_strndup(drift_arena_t *a, const char *p, size_t n);
/* A copy of p[0..n) (n may be 0: returns a valid pointer). */
void *drift_arena_memdup(drift_arena_t *a, const void *p, size_t n);
/* printf into the arena. */
char *drift_arena_printf(drift_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees every block but the first (kept for reuse); the arena stays usable. */
void drift_arena_reset(drift_arena_t *a);
/* Frees everything; the arena is empty and usable again. */
void drift_arena_free(drift_arena_t *a);

#endif
