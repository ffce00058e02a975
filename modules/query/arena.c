/* modules/query/arena.c — see arena.h. Blocks of at least 8 KiB, newest
 * first; a request larger than a block gets a block of its own. */
#include "modules/query/arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct drift_arena_block {
    drift_arena_block_t *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define BLOCK_MIN 8192u

void *drift_arena_alloc(drift_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    drift_arena_block_t *b = a->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
        if (b && cap == BLOCK_MIN && b->cap >= BLOCK_MIN && b->cap < (1u << 20))
            cap = b->cap * 2 > n ? b->cap * 2 : n; /* grow geometrically up to 1 MiB blocks */
        drift_arena_block_t *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->used = 0;
        nb->cap = cap;
        nb->next = a->blocks;
        a->blocks = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

char *drift_arena_strndup(drift_arena_t *a, const char *p, size_t n)
{
    char *s = drift_arena_alloc(a, n + 1);
    if (s && n)
        memcpy(s, p, n);
    return s;
}

void *drift_arena_memdup(drift_arena_t *a, const void *p, size_t n)
{
    void *s = drift_arena_alloc(a, n ? n : 1);
    if (s && n)
        memcpy(s, p, n);
    return s;
}

char *drift_arena_printf(drift_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = drift_arena_alloc(a, (size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void drift_arena_reset(drift_arena_t *a)
{
    drift_arena_block_t *keep = NULL;
    for (drift_arena_block_t *b = a->blocks; b;) {
        drift_arena_block_t *next = b->next;
        if (!next) {
            keep = b; /* the oldest (first) block */
            keep->used = 0;
        } else {
            free(b);
        }
        b = next;
    }
    a->blocks = keep;
    a->total = 0;
}

void drift_arena_free(drift_arena_t *a)
{
    for (drift_arena_block_t *b = a->blocks; b;) {
        drift_arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->blocks = NULL;
    a->total = 0;
}
