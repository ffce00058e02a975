/* modules/writer/keymap.c — see keymap.h. FNV-1a over (kind, table, key);
 * open addressing with linear probing over (hash, entry) slots, doubled at
 * load factor 1/2; entries come from an arena (stable addresses, never freed
 * one by one). With 2.25 M keys rebuilt from the whole log at start, the
 * chained version with one calloc per entry was 35 % of the recovery's CPU
 * (docs/benchmarks.md, Recovery); since session 6 the writer seeds the map
 * from the LMDB index instead (writer.c, "key map"), so it mostly holds the
 * keys written after the index's applied seq. */
#include "modules/writer/keymap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* One slot of the table: the entry's hash beside its pointer, so a probe compares hashes without touching
 * entries (a miss costs one cache line of the slot array, not one per chained entry). e == NULL: empty. */
typedef struct {
    uint64_t hash;
    drift_kentry_t *e;
} s_slot_t;

/* Entries come from blocks of ARENA_BLOCK bytes (or one bigger block for a bigger entry), each starting with a
 * header (the previous block, its own size), freed together by destroy. An entry the writer's sweep removes goes
 * on a free list of its size (up to FREE_CLASSES * 8 bytes) and is handed out again before the arena grows. */
#define ARENA_BLOCK (4u << 20)
#define FREE_CLASSES 128
typedef struct {
    uint8_t *prev;
    size_t cap;
} s_blkhdr_t;
/* Slot arrays and arena blocks are mmap'd with MADV_HUGEPAGE: the rebuild at start touches them at random, and
 * with 4 KiB pages every probe was also a TLB miss (a nested page walk in a VM). */
#define HUGE_PAGE (2u << 20)

struct drift_keymap {
    s_slot_t *slots;
    size_t nslots; /* power of two; grows at load factor 1/2 */
    size_t count;
    size_t rows; /* of count: row keys */
    size_t bytes;
    uint8_t *blk; /* current arena block (its first word links the previous one) */
    size_t blk_used, blk_cap;
    drift_kentry_t *freel[FREE_CLASSES]; /* swept entries by size / 8, linked through their first word */
};

/* Hash of a key. */
static uint64_t s_hash(uint8_t kind, uint32_t table, const uint8_t *key, uint32_t klen)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = (h ^ kind) * 0x100000001b3ull;
    for (int i = 0; i < 4; i++)
        h = (h ^ ((table >> (8 * i)) & 0xff)) * 0x100000001b3ull;
    for (uint32_t i = 0; i < klen; i++)
        h = (h ^ key[i]) * 0x100000001b3ull;
    /* FNV's low bits are weak for keys that differ in their last bytes only (sequential integer keys: the
     * common case); linear probing indexes by the low bits, so finish with a 64-bit mixer (murmur3's fmix64) */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/* n zeroed bytes of anonymous memory (rounded up to whole huge pages), huge pages asked for. NULL on ENOMEM. */
static void *s_map(size_t n)
{
    n = (n + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, n, MADV_HUGEPAGE); /* a hint: without THP it is plain memory */
    return p;
}

/* Frees what s_map(n) returned. */
static void s_unmap(void *p, size_t n)
{
    if (p)
        munmap(p, (n + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1));
}

drift_keymap_t *drift_keymap_new(void)
{
    drift_keymap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->nslots = 1024;
    self->slots = s_map(self->nslots * sizeof *self->slots);
    if (!self->slots) {
        free(self);
        errno = ENOMEM;
        return NULL;
    }
    return self;
}

void drift_keymap_destroy(drift_keymap_t **self_p)
{
    drift_keymap_t *self = *self_p;
    if (!self)
        return;
    while (self->blk) {
        s_blkhdr_t h;
        memcpy(&h, self->blk, sizeof h);
        s_unmap(self->blk, h.cap);
        self->blk = h.prev;
    }
    s_unmap(self->slots, self->nslots * sizeof *self->slots);
    free(self);
    *self_p = NULL;
}

/* n zeroed, 8-aligned bytes from the arena, or NULL. */
static void *s_alloc(drift_keymap_t *self, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (n / 8 < FREE_CLASSES && self->freel[n / 8]) {
        drift_kentry_t *e = self->freel[n / 8];
        memcpy(&self->freel[n / 8], e, sizeof(void *));
        memset(e, 0, n);
        return e;
    }
    const size_t head = sizeof(s_blkhdr_t);
    if (!self->blk || self->blk_used + n > self->blk_cap) {
        size_t cap = n + head > ARENA_BLOCK ? n + head : ARENA_BLOCK;
        uint8_t *b = s_map(cap);
        if (!b)
            return NULL;
        s_blkhdr_t h = {self->blk, cap};
        memcpy(b, &h, sizeof h);
        self->blk = b;
        self->blk_used = head;
        self->blk_cap = cap;
        self->bytes += cap;
    }
    void *p = self->blk + self->blk_used;
    self->blk_used += n;
    return p;
}

/* Doubles the slot array (keeps the old one on ENOMEM: lookups stay correct, only slower). */
static void s_grow(drift_keymap_t *self)
{
    size_t n = self->nslots * 2;
    s_slot_t *t = s_map(n * sizeof *t);
    if (!t)
        return;
    for (size_t i = 0; i < self->nslots; i++) {
        if (!self->slots[i].e)
            continue;
        size_t j = self->slots[i].hash & (n - 1);
        while (t[j].e)
            j = (j + 1) & (n - 1);
        t[j] = self->slots[i];
    }
    s_unmap(self->slots, self->nslots * sizeof *self->slots);
    self->slots = t;
    self->nslots = n;
}

/* Finds or creates (linear probing). */
static drift_kentry_t *s_lookup(drift_keymap_t *self, uint8_t kind, uint32_t table, const uint8_t *key, uint32_t klen,
                                int create, int *ret_created)
{
    uint64_t h = s_hash(kind, table, key, klen);
    size_t mask = self->nslots - 1, i = h & mask;
    for (; self->slots[i].e; i = (i + 1) & mask) {
        drift_kentry_t *e = self->slots[i].e;
        if (self->slots[i].hash == h && e->table == table && e->kind == kind && e->klen == klen &&
            (klen == 0 || memcmp(e->key, key, klen) == 0)) {
            if (ret_created)
                *ret_created = 0;
            return e;
        }
    }
    if (!create)
        return NULL;
    if (self->count + 1 > self->nslots / 2) { /* keep probes short; on ENOMEM the table stays below full */
        s_grow(self);
        if (self->count + 1 >= self->nslots)
            return NULL;
        mask = self->nslots - 1;
        for (i = h & mask; self->slots[i].e; i = (i + 1) & mask)
            ;
    }
    drift_kentry_t *e = s_alloc(self, sizeof *e + klen);
    if (!e)
        return NULL;
    e->hash = h;
    e->table = table;
    e->kind = kind;
    e->klen = klen;
    if (klen)
        memcpy(e->key, key, klen);
    self->slots[i] = (s_slot_t){h, e};
    self->count++;
    self->rows += kind == 0;
    if (ret_created)
        *ret_created = 1;
    return e;
}

drift_kentry_t *drift_keymap_find(drift_keymap_t *self, uint32_t table, const uint8_t *key, uint32_t klen)
{
    return s_lookup(self, 0, table, key, klen, 0, NULL);
}

drift_kentry_t *drift_keymap_get(drift_keymap_t *self, uint32_t table, const uint8_t *key, uint32_t klen,
                                 int *ret_created)
{
    return s_lookup(self, 0, table, key, klen, 1, ret_created);
}

void drift_keymap_prefetch(const drift_keymap_t *self, uint32_t table, const uint8_t *key, uint32_t klen, int deep)
{
    uint64_t h = s_hash(0, table, key, klen);
    const s_slot_t *s = &self->slots[h & (self->nslots - 1)];
    if (!deep)
        __builtin_prefetch(s);
    else if (s->e && s->hash == h)
        __builtin_prefetch(s->e);
}

drift_kentry_t *drift_keymap_table(drift_keymap_t *self, uint32_t table, int create)
{
    return s_lookup(self, 1, table, NULL, 0, create, NULL);
}

/* Bytes an entry with a klen-byte key takes in the arena (what s_alloc gives it). */
static size_t s_entry_size(uint32_t klen)
{
    return (sizeof(drift_kentry_t) + klen + 7) & ~(size_t)7;
}

/* Removes the entry of slot i (backward-shift deletion: the entries after it in its probe run that may move closer
 * to their home slot do, so no probe run is broken and no tombstone is left) and puts its memory on the free list of
 * its size. */
static void s_delete(drift_keymap_t *self, size_t i)
{
    drift_kentry_t *e = self->slots[i].e;
    size_t mask = self->nslots - 1;
    for (size_t j = (i + 1) & mask; self->slots[j].e; j = (j + 1) & mask) {
        size_t home = self->slots[j].hash & mask;
        /* the entry at j stays when its home lies cyclically in (i, j] */
        if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
            continue;
        self->slots[i] = self->slots[j];
        i = j;
    }
    self->slots[i] = (s_slot_t){0, NULL};
    self->count--;
    self->rows -= e->kind == 0;
    size_t n = s_entry_size(e->klen), c = n / 8;
    if (c < FREE_CLASSES) { /* bigger ones stay in their block until destroy */
        memcpy(e, &self->freel[c], sizeof(void *));
        self->freel[c] = e;
    }
}

int drift_keymap_sweep(drift_keymap_t *self, size_t *cursor, size_t max,
                       int (*drop)(const drift_kentry_t *e, void *arg), void *arg)
{
    enum { AHEAD = 16 };
    size_t i = *cursor, end = i + max < self->nslots ? i + max : self->nslots;
    for (size_t k = i; k < i + AHEAD && k < end; k++)
        __builtin_prefetch(self->slots[k].e);
    while (i < end) {
        if (i + AHEAD < end)
            __builtin_prefetch(self->slots[i + AHEAD].e);
        const drift_kentry_t *e = self->slots[i].e;
        if (e && e->kind == 0 && drop(e, arg)) {
            s_delete(self, i); /* another entry may have moved into slot i: look at it again */
            continue;
        }
        i++;
    }
    *cursor = i;
    return i >= self->nslots;
}

size_t drift_keymap_count(const drift_keymap_t *self)
{
    return self->count;
}

size_t drift_keymap_rows(const drift_keymap_t *self)
{
    return self->rows;
}

size_t drift_keymap_bytes(const drift_keymap_t *self)
{
    return self->bytes + self->nslots * sizeof *self->slots;
}
