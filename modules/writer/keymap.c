/* modules/writer/keymap.c — see keymap.h. FNV-1a over (kind, table, key);
 * the bucket array doubles at load factor 1. */
#include "modules/writer/keymap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct drift_keymap {
    drift_kentry_t **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    size_t bytes;
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
    return h ^ (h >> 29);
}

drift_keymap_t *drift_keymap_new(void)
{
    drift_keymap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->nbuckets = 1024;
    self->buckets = calloc(self->nbuckets, sizeof *self->buckets);
    if (!self->buckets) {
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
    for (size_t i = 0; i < self->nbuckets; i++) {
        drift_kentry_t *e = self->buckets[i];
        while (e) {
            drift_kentry_t *n = e->next;
            free(e);
            e = n;
        }
    }
    free(self->buckets);
    free(self);
    *self_p = NULL;
}

/* Doubles the bucket array (keeps the old one on ENOMEM: lookups stay correct, only slower). */
static void s_grow(drift_keymap_t *self)
{
    size_t n = self->nbuckets * 2;
    drift_kentry_t **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < self->nbuckets; i++) {
        drift_kentry_t *e = self->buckets[i];
        while (e) {
            drift_kentry_t *next = e->next;
            size_t j = e->hash & (n - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(self->buckets);
    self->bytes += (n - self->nbuckets) * sizeof *b;
    self->buckets = b;
    self->nbuckets = n;
}

/* Finds or creates. */
static drift_kentry_t *s_lookup(drift_keymap_t *self, uint8_t kind, uint32_t table, const uint8_t *key, uint32_t klen,
                                int create, int *ret_created)
{
    uint64_t h = s_hash(kind, table, key, klen);
    size_t i = h & (self->nbuckets - 1);
    for (drift_kentry_t *e = self->buckets[i]; e; e = e->next)
        if (e->hash == h && e->table == table && e->kind == kind && e->klen == klen &&
            (klen == 0 || memcmp(e->key, key, klen) == 0)) {
            if (ret_created)
                *ret_created = 0;
            return e;
        }
    if (!create)
        return NULL;
    drift_kentry_t *e = calloc(1, sizeof *e + klen);
    if (!e)
        return NULL;
    e->hash = h;
    e->table = table;
    e->kind = kind;
    e->klen = klen;
    if (klen)
        memcpy(e->key, key, klen);
    e->next = self->buckets[i];
    self->buckets[i] = e;
    self->count++;
    self->bytes += sizeof *e + klen + 16;
    if (ret_created)
        *ret_created = 1;
    if (self->count > self->nbuckets)
        s_grow(self);
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

drift_kentry_t *drift_keymap_table(drift_keymap_t *self, uint32_t table, int create)
{
    return s_lookup(self, 1, table, NULL, 0, create, NULL);
}

size_t drift_keymap_count(const drift_keymap_t *self)
{
    return self->count;
}

size_t drift_keymap_bytes(const drift_keymap_t *self)
{
    return self->bytes + self->nbuckets * sizeof *self->buckets;
}
