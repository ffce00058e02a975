/* shm/stats.c — planner statistics records in the LMDB catalog: see stats.h.
 * Stateless; every call works in the caller's LMDB transaction. */
#include "shm/stats.h"

#include <errno.h>
#include <msgpack.h>
#include <string.h>

/* Big-endian store of a 32-bit key part. */
static void s_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Big-endian store of a 64-bit key part. */
static void s_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Big-endian load of a 64-bit key part. */
static uint64_t s_rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int drift_stats_record_table(const void *rec, size_t len, uint32_t *ret_table)
{
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    int rc = -1;
    if (!rec || !len || !msgpack_zone_init(&z, 2048))
        return -1;
    if (msgpack_unpack(rec, len, &off, &z, &o) != MSGPACK_UNPACK_SUCCESS || off != len ||
        o.type != MSGPACK_OBJECT_MAP)
        goto out;
    int is_stats = 0;
    int64_t table = -1;
    for (uint32_t i = 0; i < o.via.map.size; i++) {
        const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR)
            continue;
        if (k->via.str.size == 3 && memcmp(k->via.str.ptr, "ddl", 3) == 0)
            is_stats = v->type == MSGPACK_OBJECT_STR && v->via.str.size == 5 && memcmp(v->via.str.ptr, "stats", 5) == 0;
        else if (k->via.str.size == 5 && memcmp(k->via.str.ptr, "table", 5) == 0 &&
                 v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 > 0 && v->via.u64 <= UINT32_MAX)
            table = (int64_t)v->via.u64;
    }
    if (is_stats && table > 0) {
        *ret_table = (uint32_t)table;
        rc = 0;
    }
out:
    msgpack_zone_destroy(&z);
    return rc;
}

int drift_stats_store(MDB_txn *txn, MDB_dbi db, uint64_t seq, const void *rec, size_t len)
{
    uint32_t table;
    if (drift_stats_record_table(rec, len, &table) < 0)
        return -1;
    uint8_t kb[13];
    kb[0] = DRIFT_STATS_CAT;
    s_be32(kb + 1, table);
    s_be64(kb + 5, ~seq);
    MDB_val k = {sizeof kb, kb}, v = {len, (void *)rec};
    return mdb_put(txn, db, &k, &v, 0);
}

int drift_stats_lookup(MDB_txn *txn, MDB_dbi db, uint32_t table, uint64_t as_of, const uint8_t **ret,
                       size_t *ret_len, uint64_t *ret_seq)
{
    MDB_cursor *c = NULL;
    int rc = mdb_cursor_open(txn, db, &c);
    if (rc)
        return -rc;
    uint8_t kb[13];
    kb[0] = DRIFT_STATS_CAT;
    s_be32(kb + 1, table);
    s_be64(kb + 5, ~as_of);
    MDB_val k = {sizeof kb, kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) {
        rc = 0;
    } else if (rc) {
        rc = -rc;
    } else if (k.mv_size == 13 && memcmp(k.mv_data, kb, 5) == 0) {
        *ret = v.mv_data;
        *ret_len = v.mv_size;
        if (ret_seq)
            *ret_seq = ~s_rd64((const uint8_t *)k.mv_data + 5);
        rc = 1;
    } else {
        rc = 0;
    }
    mdb_cursor_close(c);
    return rc;
}
