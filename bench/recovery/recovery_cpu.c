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
 * The log must already have its seal records (start a build with seal records on it once). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "common/util.h"
#include "shm/recovery.h"

/* CPU milliseconds (user + sys) of the process so far. */
static double s_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s LOG_DIR [ROUNDS]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    drift_recovery_t *rec = calloc(1, sizeof *rec);
    if (!rec)
        return 1;
    for (int r = 0; r < rounds; r++) {
        for (int trust = 0; trust <= 1; trust++) {
            drift_recovery_opts_t o = {.repair = 0, .trust_seals = trust};
            double c0 = s_cpu_ms();
            uint64_t t0 = drift_now_mono_ns();
            int rc = drift_recovery_run_opts(argv[1], &o, NULL, NULL, rec);
            double wall = (drift_now_mono_ns() - t0) / 1e6, cpu = s_cpu_ms() - c0;
            printf("%-4s rc=%d frames=%" PRIu64 " MB=%.1f hashed_MB=%.1f by_seal=%" PRIu64 "/%" PRIu64
                   " cpu=%.0f ms wall=%.0f ms\n",
                   trust ? "seal" : "full", rc, rec->frames, rec->bytes_scanned / 1e6, rec->bytes_hashed / 1e6,
                   rec->seg_by_seal, rec->segments ? rec->segments - 1 : 0, cpu, wall);
            fflush(stdout);
        }
    }
    free(rec);
    return 0;
}
