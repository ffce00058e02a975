/* tests/crash/logcheck.c — verifies a log directory offline and lists its
 * frames, for the crash test and by hand:
 *
 *   logcheck <data_dir>/log         -> one line per frame, then a summary
 *     F <seq> <ts_ns> <nops> <op>:<table>:<key hex> ...
 *     END ok frames=<n> segments=<n> last_seq=<s> torn_tail_bytes=<b> ms=<t>
 *   exit 0 when every segment and frame verifies (CRC, seq, ts, epoch, hash
 *   chain; a torn tail of the last segment is reported, not repaired),
 *   3 with "END damaged <message>" otherwise, 2 on usage errors.
 * Read-only (drift_recovery_run without repair). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "ipc/commit.h"
#include "shm/recovery.h"

/* Prints one op of a frame. */
static int s_op(const drift_commit_op_t *op, void *arg)
{
    FILE *out = arg;
    fprintf(out, " %s:%u:", drift_commit_op_name(op->op), op->table);
    for (uint32_t i = 0; i < op->key_len; i++)
        fprintf(out, "%02x", op->key[i]);
    if (!op->key_len)
        fputc('-', out);
    return 0;
}

/* Counts ops (first pass) so the line can carry the count before them. */
static int s_count(const drift_commit_op_t *op, void *arg)
{
    (void)op;
    (*(uint64_t *)arg)++;
    return 0;
}

static int s_frame(const drift_frame_t *f, uint64_t seg, uint64_t off, void *arg)
{
    FILE *out = arg;
    char err[256];
    uint64_t n = 0;
    if (drift_commit_body_foreach(f->body, f->body_len, s_count, &n, err, sizeof err) < 0) {
        fprintf(out, "END damaged segment %020" PRIu64 ".seg offset %" PRIu64 ": body of frame %" PRIu64 ": %s\n", seg,
                off, f->seq, err);
        return DRIFT_ECORRUPT;
    }
    fprintf(out, "F %" PRIu64 " %" PRIu64 " %" PRIu64, f->seq, f->ts_ns, n);
    drift_commit_body_foreach(f->body, f->body_len, s_op, out, err, sizeof err);
    fputc('\n', out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: logcheck <log directory>\n");
        return 2;
    }
    static drift_recovery_t rec;
    int rc = drift_recovery_run(argv[1], 0, s_frame, stdout, &rec);
    if (rc == DRIFT_ECORRUPT && !rec.err[0])
        return 3; /* the callback printed why */
    if (rc != 0) {
        printf("END damaged %s\n", rec.err[0] ? rec.err : drift_strerror(rc));
        return 3;
    }
    printf("END ok frames=%" PRIu64 " segments=%" PRIu64 " last_seq=%" PRIu64 " torn_tail_bytes=%" PRIu64 " ms=%.1f\n",
           rec.frames, rec.segments, rec.last_seq, rec.dropped_bytes, rec.elapsed_ns / 1e6);
    return 0;
}
