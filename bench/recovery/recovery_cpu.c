/* bench/recovery/recovery_cpu.c — CPU time of the log verification alone (no daemon, no key
 * map): drift_recovery_run_opts over a log directory, read-only, alternating "full" (every CRC
 * and the whole BLAKE2b chain: what a start did before seal records, and what offline
 * verification does) and "seal" (sealed segments with a matching seal record: CRC only). CPU
 * time (user + sys of the process: helper threads included) is much less sensitive to other
 * load on the machine than the wall time. Single-threaded apart from recovery's helpers.
 *
 *   cc -O2 -D_GNU_SOURCE -I/work/main -I/tmp/rel-recovery bench/recovery/recovery_cpu.c \
 *      /tmp/rel-recovery/.libs/libdriftcore.a -lsodium -lpthread -o /tmp/recovery_cpu
 *   /tmp/recovery_cpu DATA/log 3
 *
 * The log must already have its seal records (start a build with seal records on it once).
 *
 * A third mode, "walk" (session 7, 10 M versions): "seal" plus what the writer's start does on the calling
 * thread for every frame, the op-key walk (drift_commit_body_keys over each frame body, the ops counted, no key
 * map); "thread" is the calling thread's own CPU (RUSAGE_THREAD): the part no helper thread can take. */
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

/* The walk's per-op callback: counts the ops. */
static int s_count_op(const drift_commit_op_t *op, void *arg)
{
    (void)op;
    (*(uint64_t *)arg)++;
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

int main(int argc, char **argv)
{
    static const char *const names[] = {"full", "seal", "walk"};
    if (argc < 2) {
        fprintf(stderr, "usage: %s LOG_DIR [ROUNDS [MODES]]   (MODES: a comma list of full,seal,walk; default all)\n",
                argv[0]);
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    const char *modes = argc > 3 ? argv[3] : "full,seal,walk";
    drift_recovery_t *rec = calloc(1, sizeof *rec);
    if (!rec)
        return 1;
    for (int r = 0; r < rounds; r++) {
        for (int m = 0; m < 3; m++) {
            if (!strstr(modes, names[m]))
                continue;
            drift_recovery_opts_t o = {.repair = 0, .trust_seals = m > 0};
            uint64_t ops = 0;
            double c0 = s_cpu_ms(), th0 = s_cpu_ms_of(RUSAGE_THREAD);
            uint64_t t0 = drift_now_mono_ns();
            int rc = drift_recovery_run_opts(argv[1], &o, m == 2 ? s_walk_frame : NULL, &ops, rec);
            double wall = (drift_now_mono_ns() - t0) / 1e6, cpu = s_cpu_ms() - c0;
            double th = s_cpu_ms_of(RUSAGE_THREAD) - th0;
            printf("%-4s rc=%d frames=%" PRIu64 " ops=%" PRIu64 " MB=%.1f hashed_MB=%.1f by_seal=%" PRIu64 "/%" PRIu64
                   " cpu=%.0f ms (thread %.0f ms) wall=%.0f ms\n",
                   names[m], rc, rec->frames, ops, rec->bytes_scanned / 1e6, rec->bytes_hashed / 1e6,
                   rec->seg_by_seal, rec->segments ? rec->segments - 1 : 0, cpu, th, wall);
            fflush(stdout);
        }
    }
    free(rec);
    return 0;
}
