/* ipc/msg.c — see msg.h. The walker is iterative with a fixed stack (no
 * recursion, no allocation), so hostile nesting cannot exhaust anything. */
#include "ipc/msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

struct drift_msg {
    msgpack_zone zone;
    msgpack_object root;
};

drift_msg_limits_t drift_msg_limits(size_t max_size)
{
    drift_msg_limits_t l = {
        .max_size = max_size, .max_depth = DRIFT_MSG_MAX_DEPTH, .max_elems = DRIFT_MSG_DEFAULT_ELEMS};
    return l;
}

/* Reads a big-endian unsigned integer of n bytes. */
static uint64_t s_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

#define FAIL(code, ...)                                                                                                \
    do {                                                                                                               \
        if (err && errcap)                                                                                             \
            snprintf(err, errcap, __VA_ARGS__);                                                                        \
        return code;                                                                                                   \
    } while (0)

/* Walks exactly one object at p[0..len): on success sets *ret_used to its size. */
static int s_walk(const uint8_t *p, size_t len, const drift_msg_limits_t *lim, drift_msg_stats_t *st, size_t *ret_used,
                  char *err, size_t errcap)
{
    uint64_t stack[DRIFT_MSG_MAX_DEPTH];
    uint32_t sp = 0;
    size_t pos = 0;
    uint32_t max_depth =
        lim && lim->max_depth && lim->max_depth < DRIFT_MSG_MAX_DEPTH ? lim->max_depth : DRIFT_MSG_MAX_DEPTH;
    size_t max_elems = lim && lim->max_elems ? lim->max_elems : DRIFT_MSG_DEFAULT_ELEMS;

    for (;;) {
        if (pos >= len)
            FAIL(DRIFT_ETRUNCATED, "message ends at byte %zu where a value was expected", pos);
        if (++st->elems > max_elems)
            FAIL(DRIFT_ETOOBIG, "more than %zu values in the message", max_elems);
        const size_t at = pos;
        const uint8_t b = p[pos];
        size_t hdr = 1;     /* header bytes */
        uint64_t data = 0;  /* payload bytes that follow the header */
        uint64_t items = 0; /* for containers: objects that follow */
        int container = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool */
        } else if ((b & 0xe0) == 0xa0) {
            data = b & 0x1f;
        } else if ((b & 0xf0) == 0x90) {
            items = b & 0x0f;
            container = 1;
        } else if ((b & 0xf0) == 0x80) {
            items = 2 * (uint64_t)(b & 0x0f);
            container = 1;
        } else {
            int lenbytes = 0;
            switch (b) {
            case 0xcc:
            case 0xd0: data = 1; break;
            case 0xcd:
            case 0xd1: data = 2; break;
            case 0xca:
            case 0xce:
            case 0xd2: data = 4; break;
            case 0xcb:
            case 0xcf:
            case 0xd3: data = 8; break;
            case 0xd9:
            case 0xc4: lenbytes = 1; break;
            case 0xda:
            case 0xc5: lenbytes = 2; break;
            case 0xdb:
            case 0xc6: lenbytes = 4; break;
            case 0xdc:
                lenbytes = 2;
                container = 1;
                break;
            case 0xdd:
                lenbytes = 4;
                container = 1;
                break;
            case 0xde:
                lenbytes = 2;
                container = 2;
                break;
            case 0xdf:
                lenbytes = 4;
                container = 2;
                break;
            case 0xd4:
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
            case 0xc7:
            case 0xc8:
            case 0xc9: FAIL(DRIFT_EPROTO, "MessagePack ext type (0x%02x) at byte %zu is not accepted", b, at);
            default: FAIL(DRIFT_EPROTO, "invalid MessagePack byte 0x%02x at byte %zu", b, at);
            }
            if (lenbytes) {
                if ((size_t)lenbytes > len - pos - 1)
                    FAIL(DRIFT_ETRUNCATED, "length field at byte %zu runs past the end", at);
                uint64_t n = s_be(p + pos + 1, lenbytes);
                hdr += (size_t)lenbytes;
                if (container == 2)
                    items = 2 * n;
                else if (container)
                    items = n;
                else
                    data = n;
            }
        }
        if (hdr > len - pos || data > len - pos - hdr)
            FAIL(DRIFT_ETRUNCATED, "value at byte %zu declares %llu bytes but %zu remain", at,
                 (unsigned long long)(hdr + data), len - pos);
        pos += hdr + (size_t)data;
        if (container && items > 0) {
            /* Each item needs at least one byte: reject impossible counts before looping. */
            if (items > len - pos)
                FAIL(DRIFT_ETRUNCATED, "container at byte %zu declares %llu items but %zu bytes remain", at,
                     (unsigned long long)items, len - pos);
            if (items > max_elems - st->elems)
                FAIL(DRIFT_ETOOBIG, "container at byte %zu declares %llu items (limit %zu values)", at,
                     (unsigned long long)items, max_elems);
            if (sp + 1 > max_depth)
                FAIL(DRIFT_ETOOBIG, "nesting deeper than %u at byte %zu", max_depth, at);
            st->containers++;
            stack[sp++] = items;
            if (sp > st->depth)
                st->depth = sp;
            continue;
        }
        if (container) {
            /* msgpack-c checks its stack before it looks at the count, so an empty container
             * needs a free level as much as a full one (found by the fuzzer). */
            if (sp + 1 > max_depth)
                FAIL(DRIFT_ETOOBIG, "nesting deeper than %u at byte %zu", max_depth, at);
            st->containers++;
            if (sp + 1 > st->depth)
                st->depth = sp + 1;
        } else if (st->depth == 0) {
            st->depth = 1;
        }
        /* One object finished: count it against the enclosing containers. */
        while (sp > 0) {
            if (--stack[sp - 1] > 0)
                break;
            sp--;
        }
        if (sp == 0) {
            *ret_used = pos;
            return 0;
        }
    }
}

int drift_msg_validate(const void *buf, size_t len, const drift_msg_limits_t *lim, drift_msg_stats_t *ret_stats,
                       char *err, size_t errcap)
{
    drift_msg_stats_t st = {0};
    size_t used = 0;
    if (!buf || len == 0)
        FAIL(DRIFT_EPROTO, "empty message");
    if (lim && lim->max_size && len > lim->max_size)
        FAIL(DRIFT_ETOOBIG, "message of %zu bytes exceeds the limit of %zu", len, lim->max_size);
    int rc = s_walk(buf, len, lim, &st, &used, err, errcap);
    if (rc < 0)
        return rc;
    if (used != len)
        FAIL(DRIFT_EPROTO, "%zu trailing bytes after the message (at byte %zu)", len - used, used);
    if (ret_stats)
        *ret_stats = st;
    return 0;
}

int drift_msg_skip(const void *buf, size_t len, size_t *ret_used)
{
    drift_msg_stats_t st = {0};
    if (!buf || len == 0)
        return DRIFT_ETRUNCATED;
    return s_walk(buf, len, NULL, &st, ret_used, NULL, 0);
}

int drift_msg_peek_id(const void *buf, size_t len, int64_t *ret_id, int *ret_unsigned)
{
    const uint8_t *p = buf;
    if (!p || len == 0)
        return 0;
    uint64_t pairs;
    size_t pos;
    if ((p[0] & 0xf0) == 0x80) {
        pairs = p[0] & 0x0f;
        pos = 1;
    } else if (p[0] == 0xde && len >= 3) {
        pairs = s_be(p + 1, 2);
        pos = 3;
    } else if (p[0] == 0xdf && len >= 5) {
        pairs = s_be(p + 1, 4);
        pos = 5;
    } else {
        return 0;
    }
    drift_msg_limits_t lim = drift_msg_limits(0);
    /* Bounded: at most 64 pairs are looked at, each walk is bounded by the validator's limits. */
    for (uint64_t i = 0; i < pairs && i < 64 && pos < len; i++) {
        const uint8_t *k = p + pos;
        int is_id = (len - pos >= 3 && k[0] == 0xa2 && k[1] == 'i' && k[2] == 'd') ||
                    (len - pos >= 4 && k[0] == 0xd9 && k[1] == 2 && k[2] == 'i' && k[3] == 'd');
        drift_msg_stats_t st = {0};
        size_t used = 0;
        if (s_walk(k, len - pos, &lim, &st, &used, NULL, 0) < 0)
            return 0;
        pos += used;
        if (pos >= len)
            return 0;
        const uint8_t *v = p + pos;
        size_t rem = len - pos;
        if (is_id) {
            uint8_t b = v[0];
            int us = 0;
            int64_t id;
            if (b <= 0x7f) {
                id = b;
                us = 1;
            } else if (b >= 0xe0) {
                id = (int8_t)b;
            } else if (b == 0xcc && rem >= 2) {
                id = v[1];
                us = 1;
            } else if (b == 0xcd && rem >= 3) {
                id = (int64_t)s_be(v + 1, 2);
                us = 1;
            } else if (b == 0xce && rem >= 5) {
                id = (int64_t)s_be(v + 1, 4);
                us = 1;
            } else if (b == 0xcf && rem >= 9) {
                id = (int64_t)s_be(v + 1, 8);
                us = 1;
            } else if (b == 0xd0 && rem >= 2) {
                id = (int8_t)v[1];
            } else if (b == 0xd1 && rem >= 3) {
                id = (int16_t)s_be(v + 1, 2);
            } else if (b == 0xd2 && rem >= 5) {
                id = (int32_t)s_be(v + 1, 4);
            } else if (b == 0xd3 && rem >= 9) {
                id = (int64_t)s_be(v + 1, 8);
            } else {
                return 0;
            }
            *ret_id = id;
            if (ret_unsigned)
                *ret_unsigned = us;
            return 1;
        }
        st = (drift_msg_stats_t){0};
        if (s_walk(v, rem, &lim, &st, &used, NULL, 0) < 0)
            return 0;
        pos += used;
    }
    return 0;
}

int drift_msg_decode(const void *buf, size_t len, const drift_msg_limits_t *lim, drift_msg_t **ret_msg, char *err,
                     size_t errcap)
{
    drift_msg_stats_t st;
    int rc = drift_msg_validate(buf, len, lim, &st, err, errcap);
    if (rc < 0)
        return rc;
    drift_msg_t *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    /* msgpack_unpack allocates one msgpack_object per array item and one kv pair per map
     * entry (both counted in elems), plus alignment per container: this bounds the zone. */
    size_t bound = st.elems * sizeof(msgpack_object) + st.containers * 16 + 256;
    if (!msgpack_zone_init(&m->zone, bound)) {
        free(m);
        return -ENOMEM;
    }
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack(buf, len, &off, &m->zone, &m->root);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
        msgpack_zone_destroy(&m->zone);
        free(m);
        if (err && errcap)
            snprintf(err, errcap, "MessagePack decode failed (%d) after validation", (int)ur);
        return DRIFT_EPROTO;
    }
    *ret_msg = m;
    return 0;
}

const msgpack_object *drift_msg_root(const drift_msg_t *self)
{
    return &self->root;
}

void drift_msg_destroy(drift_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    msgpack_zone_destroy(&(*self_p)->zone);
    free(*self_p);
    *self_p = NULL;
}

const msgpack_object *drift_msg_map_get(const msgpack_object *obj, const char *key)
{
    if (!obj || obj->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object *k = &obj->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl && memcmp(k->via.str.ptr, key, kl) == 0)
            return &obj->via.map.ptr[i].val;
    }
    return NULL;
}

int drift_msg_container(const uint8_t **pp, const uint8_t *end, int is_map, uint32_t *ret_n)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return -1;
    uint8_t b = *p++;
    uint8_t fix = is_map ? 0x80 : 0x90, b16 = is_map ? 0xde : 0xdc, b32 = is_map ? 0xdf : 0xdd;
    if ((b & 0xf0) == fix)
        *ret_n = b & 0x0f;
    else if (b == b16 && end - p >= 2) {
        *ret_n = (uint32_t)p[0] << 8 | p[1];
        p += 2;
    } else if (b == b32 && end - p >= 4) {
        *ret_n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        p += 4;
    } else
        return -1;
    *pp = p;
    return 0;
}
