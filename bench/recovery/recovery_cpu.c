/* bench/recovery/recovery_cpu.c — CPU time of the log verification alone (no daemon, no key
 * map): drift_recovery_run_opts over a log directory, read-only, alternating "full" (every CRC
 * and the whole BLAKE2b chain: what a start did before seal records, and what offline
 * verification does) and "seal" (sealed segments with a matching seal record: CRC only). CPU
 * time (user + sys of the process: helper threads included) is much less sensitive to other
 * load on the machine than the wall time. Single-threaded apart from recovery's helpers.
 *
 *   cc -O2 -D_GNU_SOURCE -I/work/main -I/tmp/rel-recovery bench/recovery/recovery_cpu.c \
 *      /tmp/rel-recovery/.libs/libdriftcore.a -lsodium -lmsgpackc -levent -lzmq -lpthread -o /tmp/recovery_cpu
 *   /tmp/recovery_cpu DATA/log 3
 *
 * The log must already have its seal records (start a build with seal records on it once).
 *
 * A third mode, "walk" (session 7, 10 M versions): "seal" plus what the writer's start does on the calling
 * thread for every frame, the op-key walk (drift_commit_body_keys over each frame body, the ops counted, no key
 * map); "thread" is the calling thread's own CPU (RUSAGE_THREAD): the part no helper thread can take. A
 * fourth, "fast": the same walk by a prototype fast path for the writer's own op layout (s_fast_frame; other
 * frames go to drift_commit_body_keys, counted as slow_frames); both print the op count and a checksum of
 * what the callback saw, which must be equal.
 *
 *   /tmp/recovery_cpu DATA/log 3 seal,walk,fast */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/util.h"
#include "ipc/commit.h"
#include "shm/recovery.h"

/* CPU milliseconds (user + sys) of the process (RUSAGE_SELF) or of the calling thread (RUSAGE_THREAD) so far. */
static double s_cpu_ms_of(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}
static double s_cpu_ms(void)
{
    return s_cpu_ms_of(RUSAGE_SELF);
}

/* What a walk saw: the ops, and a checksum of (op, table, key length, first key byte, row length) so that
 * the two walkers can be compared. */
typedef struct {
    uint64_t ops, sum;
    uint64_t slow; /* frames the fast walk handed to drift_commit_body_keys */
} walk_t;

/* The walk's per-op callback: counts the ops and folds them into the checksum. */
static int s_count_op(const drift_commit_op_t *op, void *arg)
{
    walk_t *w = arg;
    w->ops++;
    uint64_t x = (uint64_t)op->op << 56 ^ (uint64_t)op->table << 24 ^ (uint64_t)op->key_len << 8 ^
                 (op->key_len ? op->key[0] : 0) ^ (uint64_t)op->row_mp_len << 32;
    w->sum = (w->sum ^ x) * 0x100000001b3ull;
    return 0;
}

/* The walk's per-frame callback: the op-key walk the writer's start does for every frame. */
static int s_walk_frame(const drift_frame_t *f, uint64_t seg, uint64_t off, void *arg)
{
    char err[256];
    (void)seg;
    (void)off;
    return drift_commit_body_keys(f->body, f->body_len, s_count_op, arg, err, sizeof err) ? -1 : 0;
}

/* Skips one scalar MessagePack value at p (< end); the next position, or NULL when it is not a scalar this
 * fast path knows (containers, ext) or runs past end. */
static const uint8_t *s_fast_scalar(const uint8_t *p, const uint8_t *end)
{
    uint8_t t = *p;
    size_t n;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
        n = 1;
    else if ((t & 0xe0) == 0xa0)
        n = 1 + (t & 0x1f);
    else if (t == 0xcc || t == 0xd0)
        n = 2;
    else if (t == 0xcd || t == 0xd1)
        n = 3;
    else if (t == 0xca || t == 0xce || t == 0xd2)
        n = 5;
    else if (t == 0xcb || t == 0xcf || t == 0xd3)
        n = 9;
    else if ((t == 0xd9 || t == 0xc4) && end - p >= 2)
        n = 2 + (size_t)p[1];
    else if ((t == 0xda || t == 0xc5) && end - p >= 3)
        n = 3 + ((size_t)p[1] << 8 | p[2]);
    else
        return NULL;
    return (size_t)(end - p) >= n ? p + n : NULL;
}

/* A prototype of a cheaper op-key walk (fix 3 in docs/benchmarks.md, Recovery, Session 7): the layout the
 * writer packs (drift_commit_pack_op_delta: fixmap of 4 or 5, fixstr keys op, table, key, row[, delta], bin8
 * key, fixarray row of scalars) is read by fixed byte patterns; any other op sends the whole frame to
 * drift_commit_body_keys. Same callback and checksum as s_walk_frame. */
static int s_fast_frame(const drift_frame_t *f, uint64_t seg, uint64_t off, void *arg)
{
    const uint8_t *p = f->body, *end = p + f->body_len;
    uint64_t nops;
    walk_t save = *(walk_t *)arg;
    if (p < end && (*p & 0xf0) == 0x90)
        nops = *p++ & 0x0f;
    else if (end - p >= 3 && *p == 0xdc)
        nops = (uint64_t)p[1] << 8 | p[2], p += 3;
    else if (end - p >= 5 && *p == 0xdd)
        nops = (uint64_t)p[1] << 24 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 8 | p[4], p += 5;
    else
        goto slow;
    for (uint64_t i = 0; i < nops; i++) {
        drift_commit_op_t op = {0};
        if (end - p < 16 || p[0] != 0x84 || p[1] != 0xa2 || p[2] != 'o' || p[3] != 'p')
            goto slow;
        uint8_t ol = p[4];
        p += 5;
        if ((ol & 0xe0) != 0xa0 || end - p < (ol & 0x1f) + 7)
            goto slow;
        ol &= 0x1f;
        if (ol == 6 && !memcmp(p, "update", 6))
            op.op = DRIFT_COP_UPDATE;
        else if (ol == 6 && !memcmp(p, "insert", 6))
            op.op = DRIFT_COP_INSERT;
        else
            goto slow;
        p += ol;
        if (memcmp(p, "\xa5table", 6))
            goto slow;
        p += 6;
        if (*p <= 0x7f)
            op.table = *p++;
        else if (*p == 0xcc && end - p >= 2)
            op.table = p[1], p += 2;
        else
            goto slow;
        if (end - p < 6 || memcmp(p, "\xa3key\xc4", 5) || end - p < 6 + p[5])
            goto slow;
        op.key_len = p[5];
        op.key = p + 6;
        p += 6 + op.key_len;
        if (end - p < 5 || memcmp(p, "\xa3row", 4) || (p[4] & 0xf0) != 0x90)
            goto slow;
        p += 4;
        op.row_mp = p;
        int nv = *p++ & 0x0f;
        for (int v = 0; v < nv; v++)
            if (p >= end || !(p = s_fast_scalar(p, end)))
                goto slow;
        op.row_mp_len = (uint32_t)(p - op.row_mp);
        s_count_op(&op, arg);
    }
    if (p == end)
        return 0;
slow:
    save.slow++;
    *(walk_t *)arg = save;
    return s_walk_frame(f, seg, off, arg);
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"full", "seal", "walk", "fast"};
    if (argc < 2) {
        fprintf(stderr, "usage: %s LOG_DIR [ROUNDS [MODES]]   (MODES: a comma list of full,seal,walk,fast; default all)\n",
                argv[0]);
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    const char *modes = argc > 3 ? argv[3] : "full,seal,walk,fast";
    drift_recovery_t *rec = calloc(1, sizeof *rec);
    if (!rec)
        return 1;
    for (int r = 0; r < rounds; r++) {
        for (int m = 0; m < 4; m++) {
            if (!strstr(modes, names[m]))
                continue;
            drift_recovery_opts_t o = {.repair = 0, .trust_seals = m > 0};
            walk_t ops = {0, 0, 0};
            double c0 = s_cpu_ms(), th0 = s_cpu_ms_of(RUSAGE_THREAD);
            uint64_t t0 = drift_now_mono_ns();
            int rc = drift_recovery_run_opts(argv[1], &o, m == 2 ? s_walk_frame : m == 3 ? s_fast_frame : NULL, &ops, rec);
            double wall = (drift_now_mono_ns() - t0) / 1e6, cpu = s_cpu_ms() - c0;
            double th = s_cpu_ms_of(RUSAGE_THREAD) - th0;
            printf("%-4s rc=%d frames=%" PRIu64 " ops=%" PRIu64 " sum=%016" PRIx64 " slow_frames=%" PRIu64 " MB=%.1f hashed_MB=%.1f by_seal=%" PRIu64 "/%" PRIu64
                   " cpu=%.0f ms (thread %.0f ms) wall=%.0f ms\n",
                   names[m], rc, rec->frames, ops.ops, ops.sum, ops.slow, rec->bytes_scanned / 1e6, rec->bytes_hashed / 1e6,
                   rec->seg_by_seal, rec->segments ? rec->segments - 1 : 0, cpu, th, wall);
            fflush(stdout);
        }
    }
    free(rec);
    return 0;
}
