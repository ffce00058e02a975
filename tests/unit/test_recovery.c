/* tests/unit/test_recovery.c — recovery over real segment files: a clean log,
 * every torn-tail shape of the last segment (cut inside the header, inside
 * the body, zero-filled sectors, garbage appended, bad CRC of the final frame,
 * a torn multi-frame batch), and the damage it must refuse (a bit flip in the
 * middle, in a sealed segment, a damaged frame later ones prove durable, a
 * missing segment, a broken chain), with file and offset in the message. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/errors.h"
#include "logfixture.h"
#include "shm/recovery.h"

#define NFRAMES 40

typedef struct {
    fx_log_t fx;
    uint64_t offs[NFRAMES + 1], segs[NFRAMES + 1];
} log_t;

/* NFRAMES frames of 200..~900 bytes in 8 KiB segments (several segments). */
static void s_build(log_t *l)
{
    fx_init(&l->fx, 1 << 13);
    char body[1024];
    for (int i = 1; i <= NFRAMES; i++) {
        size_t len = 200 + (size_t)(i * 53) % 700;
        memset(body, 'a' + i % 26, len);
        l->offs[i] = fx_append(&l->fx, body, len);
        l->segs[i] = l->fx.seg_id;
    }
    fx_close(&l->fx);
}

static int s_count(const drift_frame_t *f, uint64_t seg, uint64_t off, void *arg)
{
    (void)seg;
    (void)off;
    uint64_t *n = arg;
    assert_int_equal(f->seq, *n + 1);
    (*n)++;
    return 0;
}

static void t_clean(void **state)
{
    (void)state;
    log_t l;
    s_build(&l);
    drift_recovery_t rec;
    uint64_t n = 0;
    assert_int_equal(drift_recovery_run(l.fx.dir, 1, s_count, &n, &rec), 0);
    assert_int_equal(n, NFRAMES);
    assert_int_equal(rec.frames, NFRAMES);
    assert_int_equal(rec.last_seq, NFRAMES);
    assert_true(rec.segments >= 3);
    assert_int_equal(rec.active_id, l.segs[NFRAMES]);
    assert_int_equal(rec.dropped_bytes, 0);
    assert_memory_equal(rec.last_hash, l.fx.hash, DRIFT_HASH_LEN);
    assert_int_equal(rec.active_end, l.fx.off);
    fx_done(&l.fx);
}

static void t_empty_dir(void **state)
{
    (void)state;
    fx_log_t fx;
    fx_init(&fx, 1 << 14);
    drift_recovery_t rec;
    assert_int_equal(drift_recovery_run(fx.dir, 1, NULL, NULL, &rec), 0);
    assert_int_equal(rec.last_seq, 0);
    assert_int_equal(rec.active_id, 0);
    fx_done(&fx);
}

/* Applies a torn-tail shape to the last frame and checks it is cut, then the log is clean. */
static void s_torn(int shape)
{
    log_t l;
    s_build(&l);
    uint64_t id = l.segs[NFRAMES], off = l.offs[NFRAMES];
    uint8_t zeros[600] = {0}, junk[100];
    memset(junk, 0xEE, sizeof junk);
    uint64_t expect_last = NFRAMES - 1;
    switch (shape) {
    case 0: /* cut inside the header: the write stopped after 40 bytes */
        fx_poke(&l.fx, id, off + 40, zeros, sizeof zeros);
        break;
    case 1: /* cut inside the body */ fx_poke(&l.fx, id, off + 150, zeros, sizeof zeros); break;
    case 2: /* a zero-filled 512-byte sector in the middle of the frame */
        fx_poke(&l.fx, id, (off + 511) & ~511ull, zeros, 512 > sizeof zeros ? sizeof zeros : 512);
        break;
    case 3: /* garbage appended after the last good frame */
        fx_poke(&l.fx, id, l.fx.off, junk, sizeof junk);
        expect_last = NFRAMES;
        break;
    case 4: /* bad CRC of the final frame */ fx_flip(&l.fx, id, off + 4); break;
    case 5: /* the final frame's length field garbled */ fx_poke(&l.fx, id, off, junk, 4); break;
    }
    drift_recovery_t rec;
    uint64_t n = 0;
    assert_int_equal(drift_recovery_run(l.fx.dir, 0, s_count, &n, &rec), 0); /* dry run: reports, changes nothing */
    assert_true(rec.dropped_bytes > 0);
    n = 0;
    assert_int_equal(drift_recovery_run(l.fx.dir, 1, s_count, &n, &rec), 0);
    assert_int_equal(rec.last_seq, expect_last);
    assert_int_equal(n, expect_last);
    assert_true(rec.dropped_bytes > 0);
    assert_int_equal(rec.dropped_off, expect_last == NFRAMES ? l.fx.off : off);
    /* Cut for good: a second recovery finds a clean log ending at the same place. */
    assert_int_equal(drift_recovery_run(l.fx.dir, 1, NULL, NULL, &rec), 0);
    assert_int_equal(rec.dropped_bytes, 0);
    assert_int_equal(rec.last_seq, expect_last);
    fx_done(&l.fx);
}

static void t_torn_in_header(void **s)
{
    (void)s;
    s_torn(0);
}
static void t_torn_in_body(void **s)
{
    (void)s;
    s_torn(1);
}
static void t_torn_zero_sector(void **s)
{
    (void)s;
    s_torn(2);
}
static void t_torn_garbage_appended(void **s)
{
    (void)s;
    s_torn(3);
}
static void t_torn_bad_final_crc(void **s)
{
    (void)s;
    s_torn(4);
}
static void t_torn_bad_final_len(void **s)
{
    (void)s;
    s_torn(5);
}

/* A whole unsynced batch (3 frames written together, none durable) with its first frame torn
 * and the later two intact: all three are cut. */
static void t_torn_batch(void **state)
{
    (void)state;
    log_t l;
    s_build(&l);
    l.fx.fd = -1;
    char path[400];
    drift_seg_path(path, sizeof path, l.fx.dir, l.fx.seg_id);
    l.fx.fd = open(path, O_RDWR);
    l.fx.batch = 1;
    uint64_t first = fx_append(&l.fx, "batch-frame-one", 15);
    fx_append(&l.fx, "batch-frame-two", 15);
    fx_append(&l.fx, "batch-frame-three", 17);
    fx_close(&l.fx);
    assert_int_equal(l.fx.seg_id, l.segs[NFRAMES]); /* same segment */
    fx_flip(&l.fx, l.fx.seg_id, first + 90);
    drift_recovery_t rec;
    assert_int_equal(drift_recovery_run(l.fx.dir, 1, NULL, NULL, &rec), 0);
    assert_int_equal(rec.last_seq, NFRAMES);
    assert_int_equal(rec.dropped_off, first);
    assert_true(rec.dropped_bytes >= 3 * 96);
    fx_done(&l.fx);
}

/* Expects recovery to refuse, naming the file and the offset. */
static void s_refused(log_t *l, uint64_t id, uint64_t off)
{
    drift_recovery_t rec;
    int rc = drift_recovery_run(l->fx.dir, 1, NULL, NULL, &rec);
    assert_true(rc == DRIFT_ECORRUPT || rc == DRIFT_ECHAIN);
    char name[64], at[64];
    snprintf(name, sizeof name, "%020llu.seg", (unsigned long long)id);
    snprintf(at, sizeof at, "offset %llu", (unsigned long long)off);
    if (!strstr(rec.err, name) || !strstr(rec.err, at))
        fail_msg("message '%s' lacks '%s' or '%s'", rec.err, name, at);
}

static void t_bitflip_middle_refused(void **state)
{
    (void)state;
    log_t l;
    s_build(&l);
    /* A frame in the last segment that is not the final one: the next frame's sync_seq proves it
     * was durable, so this is damage, not a torn write. */
    int victim = NFRAMES - 2;
    assert_int_equal(l.segs[victim], l.segs[NFRAMES]);
    fx_flip(&l.fx, l.segs[victim], l.offs[victim] + 120);
    s_refused(&l, l.segs[victim], l.offs[victim]);
    /* And nothing was cut by the refused attempt: the bytes after the damage are still there. */
    drift_recovery_t rec;
    fx_flip(&l.fx, l.segs[victim], l.offs[victim] + 120);
    assert_int_equal(drift_recovery_run(l.fx.dir, 1, NULL, NULL, &rec), 0);
    assert_int_equal(rec.last_seq, NFRAMES);
    fx_done(&l.fx);
}

static void t_bitflip_sealed_refused(void **state)
{
    (void)state;
    log_t l;
    s_build(&l);
    fx_flip(&l.fx, l.segs[3], l.offs[3] + 99);
    s_refused(&l, l.segs[3], l.offs[3]);
    fx_done(&l.fx);
}

static void t_sealed_garbage_refused(void **state)
{
    (void)state;
    log_t l;
    s_build(&l);
    /* Garbage after the last frame of a sealed segment. */
    drift_recovery_t rec;
    assert_int_equal(drift_recovery_run(l.fx.dir, 0, NULL, NULL, &rec), 0);
    uint8_t junk[8];
    memset(junk, 0x77, sizeof junk);
    fx_poke(&l.fx, l.segs[1], (1 << 13) - 8, junk, 8);
    int rc = drift_recovery_run(l.fx.dir, 1, NULL, NULL, &rec);
    assert_int_equal(rc, DRIFT_ECORRUPT);
    assert_non_null(strstr(rec.err, "sealed segment"));
    fx_done(&l.fx);
}

static void t_missing_segment_refused(void **state)
{
    (void)state;
    log_t l;
    s_build(&l);
    char path[400];
    drift_seg_path(path, sizeof path, l.fx.dir, l.segs[NFRAMES / 2]);
    assert_int_equal(unlink(path), 0);
    drift_recovery_t rec;
    assert_int_equal(drift_recovery_run(l.fx.dir, 1, NULL, NULL, &rec), DRIFT_ECHAIN);
    assert_non_null(strstr(rec.err, "missing"));
    fx_done(&l.fx);
}

/* A frame with a valid CRC whose prev_hash does not link (e.g. spliced from another log). */
static void t_broken_chain_refused(void **state)
{
    (void)state;
    log_t l;
    s_build(&l);
    uint64_t id = l.segs[NFRAMES], off = l.offs[NFRAMES];
    char path[400];
    drift_seg_path(path, sizeof path, l.fx.dir, id);
    int fd = open(path, O_RDWR);
    uint8_t buf[1024];
    assert_true(pread(fd, buf, sizeof buf, (off_t)off) > 0);
    buf[56] ^= 1; /* prev_hash */
    drift_le_put32(buf + 4, drift_frame_crc(buf, drift_le_get32(buf)));
    assert_true(pwrite(fd, buf, sizeof buf, (off_t)off) > 0);
    close(fd);
    drift_recovery_t rec;
    assert_int_equal(drift_recovery_run(l.fx.dir, 1, NULL, NULL, &rec), DRIFT_ECHAIN);
    assert_non_null(strstr(rec.err, "prev_hash"));
    fx_done(&l.fx);
}

/* Timestamps must strictly increase along the chain; a frame going back in time is refused. */
static void t_timestamp_monotonic(void **state)
{
    (void)state;
    log_t l;
    s_build(&l);
    char path[400];
    drift_seg_path(path, sizeof path, l.fx.dir, l.fx.seg_id);
    l.fx.fd = open(path, O_RDWR);
    l.fx.ts -= 5; /* the clock stepped back and the writer did not correct it */
    fx_append(&l.fx, "late", 4);
    fx_append(&l.fx, "later", 5); /* makes the bad frame provably durable */
    fx_close(&l.fx);
    drift_recovery_t rec;
    assert_int_equal(drift_recovery_run(l.fx.dir, 1, NULL, NULL, &rec), DRIFT_ECHAIN);
    assert_non_null(strstr(rec.err, "timestamp"));
    fx_done(&l.fx);
}

/* Sealed segments are verified by helper threads, each from its own header; the link to the
 * previous segment's last timestamp is checked in order: a sealed segment whose first frame
 * goes back in time is refused at its offset 128 (and the frames before it were delivered). The
 * timestamps: 5 frames at 1001..1005, then the clock back by 3: the next frame is at 1003. */
static void t_timestamp_back_at_sealed_boundary(void **state)
{
    (void)state;
    fx_log_t fx;
    fx_init(&fx, 1 << 13);
    char body[1024];
    memset(body, 'x', sizeof body);
    for (int i = 0; i < 5; i++)
        fx_append(&fx, body, 900);
    fx_new_segment(&fx);
    uint64_t bad_seg = fx.seg_id;
    fx.ts -= 3; /* the first frame of this segment is not after the last one of the previous */
    fx_append(&fx, body, 900);
    fx_append(&fx, body, 900);
    fx_new_segment(&fx); /* makes bad_seg sealed */
    fx_append(&fx, body, 300);
    fx_close(&fx);
    drift_recovery_t rec;
    uint64_t n = 0;
    assert_int_equal(drift_recovery_run(fx.dir, 1, s_count, &n, &rec), DRIFT_ECHAIN);
    assert_int_equal(n, 5);
    char name[64];
    snprintf(name, sizeof name, "%020llu.seg: offset 128:", (unsigned long long)bad_seg);
    if (!strstr(rec.err, name) || !strstr(rec.err, "timestamp 1003 not after 1005"))
        fail_msg("message '%s' lacks '%s' or the timestamps", rec.err, name);
    fx_done(&fx);
}

/* Many sealed segments, two of them damaged: the verdict names the first one in log order,
 * whichever helper thread finished first, and the callback saw exactly the frames before it. */
static void t_first_damage_in_order(void **state)
{
    (void)state;
    for (int round = 0; round < 4; round++) {
        log_t l;
        s_build(&l);
        int first = 8 + round, second = 30 - round;
        assert_true(l.segs[second] != l.segs[first] && l.segs[second] != l.segs[NFRAMES]);
        fx_flip(&l.fx, l.segs[second], l.offs[second] + 100);
        fx_flip(&l.fx, l.segs[first], l.offs[first] + 100);
        drift_recovery_t rec;
        uint64_t n = 0;
        assert_int_equal(drift_recovery_run(l.fx.dir, 1, s_count, &n, &rec), DRIFT_ECORRUPT);
        assert_int_equal(n, (uint64_t)first - 1);
        char name[64], at[64];
        snprintf(name, sizeof name, "%020llu.seg", (unsigned long long)l.segs[first]);
        snprintf(at, sizeof at, "offset %llu", (unsigned long long)l.offs[first]);
        if (!strstr(rec.err, name) || !strstr(rec.err, at))
            fail_msg("message '%s' lacks '%s' or '%s'", rec.err, name, at);
        fx_done(&l.fx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_clean),
        cmocka_unit_test(t_empty_dir),
        cmocka_unit_test(t_torn_in_header),
        cmocka_unit_test(t_torn_in_body),
        cmocka_unit_test(t_torn_zero_sector),
        cmocka_unit_test(t_torn_garbage_appended),
        cmocka_unit_test(t_torn_bad_final_crc),
        cmocka_unit_test(t_torn_bad_final_len),
        cmocka_unit_test(t_torn_batch),
        cmocka_unit_test(t_bitflip_middle_refused),
        cmocka_unit_test(t_bitflip_sealed_refused),
        cmocka_unit_test(t_sealed_garbage_refused),
        cmocka_unit_test(t_missing_segment_refused),
        cmocka_unit_test(t_broken_chain_refused),
        cmocka_unit_test(t_timestamp_monotonic),
        cmocka_unit_test(t_timestamp_back_at_sealed_boundary),
        cmocka_unit_test(t_first_damage_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
