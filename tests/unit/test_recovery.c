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


/* ---------------------------------------------------------------- seal records */

static const drift_recovery_opts_t s_fast = {.repair = 1, .trust_seals = 1, .write_seals = 1};

/* A log whose sealed segments all have seal records (written by a first full start). */
static void s_build_sealed(log_t *l, drift_recovery_t *rec)
{
    s_build(l);
    uint64_t n = 0;
    assert_int_equal(drift_recovery_run_opts(l->fx.dir, &s_fast, s_count, &n, rec), 0);
    assert_int_equal(n, NFRAMES);
    assert_int_equal(rec->seg_by_seal, 0); /* none yet: everything verified in full ... */
    assert_int_equal(rec->bytes_hashed, rec->bytes_scanned);
    assert_int_equal(rec->seals_written, rec->segments - 1); /* ... and the records written */
    assert_int_equal(rec->seals_rejected, 0);
}

/* The second start re-hashes only the last segment; the result is the same as a full scan. */
static void t_seal_skips_hash(void **state)
{
    (void)state;
    log_t l;
    drift_recovery_t rec;
    s_build_sealed(&l, &rec);
    uint64_t n = 0;
    assert_int_equal(drift_recovery_run_opts(l.fx.dir, &s_fast, s_count, &n, &rec), 0);
    assert_int_equal(n, NFRAMES);
    assert_true(rec.segments >= 3);
    assert_int_equal(rec.seg_by_seal, rec.segments - 1);
    /* the last segment, and the last frame of each sealed one (against its record's chain head) */
    assert_true(rec.bytes_hashed > rec.active_end && rec.bytes_hashed < rec.active_end + (rec.segments - 1) * 1000);
    assert_int_equal(rec.seals_written, 0);
    assert_int_equal(rec.last_seq, NFRAMES);
    assert_memory_equal(rec.last_hash, l.fx.hash, DRIFT_HASH_LEN);
    assert_int_equal(rec.active_end, l.fx.off);
    /* Offline verification (drift_recovery_run) ignores seal records: every byte is hashed. */
    assert_int_equal(drift_recovery_run(l.fx.dir, 0, NULL, NULL, &rec), 0);
    assert_int_equal(rec.seg_by_seal, 0);
    assert_int_equal(rec.bytes_hashed, rec.bytes_scanned);
    fx_done(&l.fx);
}

/* Damages the seal record of segment id in one of several ways. */
static void s_damage_seal(log_t *l, uint64_t id, int how)
{
    drift_seal_t s;
    char path[512];
    drift_seal_path(path, sizeof path, l->fx.dir, id);
    assert_int_equal(drift_seal_read(l->fx.dir, id, &s), 0);
    switch (how) {
    case 0: { /* a flipped bit: bad checksum */
        int fd = open(path, O_RDWR);
        uint8_t b;
        assert_int_equal(pread(fd, &b, 1, 40), 1);
        b ^= 1;
        assert_int_equal(pwrite(fd, &b, 1, 40), 1);
        close(fd);
        return;
    }
    case 1: /* truncated (a torn write) */ assert_int_equal(truncate(path, 100), 0); return;
    case 2: /* empty (a rename made durable before the data) */ assert_int_equal(truncate(path, 0), 0); return;
    case 3: /* a valid record with a wrong chain head */ s.chain_head[5] ^= 1; break;
    case 4: /* stale: an earlier incarnation of this segment id (another created_ns / header) */
        s.created_ns += 1;
        s.header_crc ^= 0x1234;
        break;
    case 5: /* stale content: the frames' CRCs differ */ s.crc_digest[0] ^= 1; break;
    case 6: /* ends one frame early (the next header's first_seq does not continue it) */
        s.last_seq--;
        s.frames--;
        break;
    case 7: /* describes the segment as longer than it is */ s.end_off += 8; break;
    }
    assert_int_equal(drift_seal_write(l->fx.dir, &s, 0), 0);
}

/* A damaged, torn, empty or stale seal record: that segment is verified in full, no error, no
 * loss, and its record is rewritten (the next start is fast again). */
static void t_seal_damaged_falls_back(void **state)
{
    (void)state;
    for (int how = 0; how <= 7; how++) {
        log_t l;
        drift_recovery_t rec;
        s_build_sealed(&l, &rec);
        uint64_t nseg = rec.segments;
        uint64_t id = l.segs[NFRAMES / 2];
        assert_true(id != l.segs[NFRAMES]);
        s_damage_seal(&l, id, how);
        uint64_t n = 0;
        assert_int_equal(drift_recovery_run_opts(l.fx.dir, &s_fast, s_count, &n, &rec), 0);
        assert_int_equal(n, NFRAMES);
        assert_int_equal(rec.last_seq, NFRAMES);
        assert_memory_equal(rec.last_hash, l.fx.hash, DRIFT_HASH_LEN);
        assert_int_equal(rec.dropped_bytes, 0);
        if (rec.seg_by_seal != nseg - 2 || rec.seals_rejected != 1 || rec.seals_written != 1)
            fail_msg("damage %d: %llu by seal, %llu rejected, %llu written", how,
                     (unsigned long long)rec.seg_by_seal, (unsigned long long)rec.seals_rejected,
                     (unsigned long long)rec.seals_written);
        assert_true(rec.bytes_hashed > rec.active_end);
        n = 0;
        assert_int_equal(drift_recovery_run_opts(l.fx.dir, &s_fast, s_count, &n, &rec), 0);
        assert_int_equal(n, NFRAMES);
        assert_int_equal(rec.seg_by_seal, nseg - 1);
        assert_int_equal(rec.seals_rejected, 0);
        fx_done(&l.fx);
    }
}

/* Damage inside a sealed segment that has a valid seal record is still found, with exactly the
 * message of a full verification (file and offset): a bit flip (CRC), and a frame whose prev_hash
 * was changed and its CRC recomputed (only the hash chain — or the seal's CRC digest — sees it). */
static void t_seal_damage_still_found(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        log_t l;
        drift_recovery_t rec;
        s_build_sealed(&l, &rec);
        int k = NFRAMES / 2;
        assert_true(l.segs[k] != l.segs[NFRAMES]);
        if (kind == 0) {
            fx_flip(&l.fx, l.segs[k], l.offs[k] + 120);
        } else {
            char path[512];
            drift_seg_path(path, sizeof path, l.fx.dir, l.segs[k]);
            int fd = open(path, O_RDWR);
            uint8_t buf[1200];
            assert_int_equal(pread(fd, buf, sizeof buf, (off_t)l.offs[k]), (ssize_t)sizeof buf);
            uint32_t len = drift_le_get32(buf);
            buf[60] ^= 1; /* inside prev_hash */
            drift_le_put32(buf + 4, drift_frame_crc(buf, len));
            assert_int_equal(pwrite(fd, buf, len, (off_t)l.offs[k]), (ssize_t)len);
            close(fd);
        }
        drift_recovery_t full;
        int want = drift_recovery_run(l.fx.dir, 0, NULL, NULL, &full);
        assert_int_equal(want, kind == 0 ? DRIFT_ECORRUPT : DRIFT_ECHAIN);
        uint64_t n = 0;
        assert_int_equal(drift_recovery_run_opts(l.fx.dir, &s_fast, s_count, &n, &rec), want);
        assert_int_equal(n, (uint64_t)k - 1);
        assert_string_equal(rec.err, full.err);
        char name[64], at[64];
        snprintf(name, sizeof name, "%020llu.seg", (unsigned long long)l.segs[k]);
        snprintf(at, sizeof at, "offset %llu", (unsigned long long)l.offs[k]);
        if (!strstr(rec.err, name) || !strstr(rec.err, at))
            fail_msg("message '%s' lacks '%s' or '%s'", rec.err, name, at);
        fx_done(&l.fx);
    }
}

/* The writer's path: drift_recovery_seal right after a rotation; then the start trusts it.
 * It refuses to seal a segment that does not end where the next one starts. */
static void t_seal_written_at_rotation(void **state)
{
    (void)state;
    log_t l;
    s_build(&l);
    uint64_t *ids;
    size_t n;
    assert_int_equal(drift_seg_list(l.fx.dir, &ids, &n), 0);
    assert_true(n >= 3);
    for (size_t i = 0; i + 1 < n; i++) {
        char path[512];
        drift_seg_t *next;
        drift_seg_path(path, sizeof path, l.fx.dir, ids[i + 1]);
        assert_int_equal(drift_seg_open(path, &next), 0);
        const drift_seg_header_t *nh = drift_seg_header(next);
        assert_int_equal(drift_recovery_seal(l.fx.dir, ids[i], nh->prev_hash, nh->first_seq + 1), DRIFT_ECORRUPT);
        uint8_t wrong[DRIFT_HASH_LEN];
        memcpy(wrong, nh->prev_hash, DRIFT_HASH_LEN);
        wrong[0] ^= 1; /* a chain head that is not the hash of the segment's last frame */
        assert_int_equal(drift_recovery_seal(l.fx.dir, ids[i], wrong, nh->first_seq), DRIFT_ECORRUPT);
        assert_int_equal(drift_recovery_seal(l.fx.dir, ids[i], nh->prev_hash, nh->first_seq), 0);
        drift_seg_close(&next);
    }
    drift_recovery_t rec;
    uint64_t cnt = 0;
    assert_int_equal(drift_recovery_run_opts(l.fx.dir, &s_fast, s_count, &cnt, &rec), 0);
    assert_int_equal(cnt, NFRAMES);
    assert_int_equal(rec.seg_by_seal, n - 1);
    assert_int_equal(rec.seals_written, 0);
    assert_memory_equal(rec.last_hash, l.fx.hash, DRIFT_HASH_LEN);
    free(ids);
    fx_done(&l.fx);
}

/* Seal record encoding: round trip, every byte covered by the checksum, bad magic/version. */
static void t_seal_format(void **state)
{
    (void)state;
    drift_seal_t s = {.segment_id = 7, .first_seq = 7, .last_seq = 99, .frames = 93, .end_off = 4096,
                      .file_size = 8192, .created_ns = 123, .header_crc = 0xdeadbeef, .last_ts = 5, .last_epoch = 2};
    memset(s.chain_head, 0xAB, DRIFT_HASH_LEN);
    memset(s.crc_digest, 0xCD, DRIFT_HASH_LEN);
    uint8_t b[DRIFT_SEAL_SIZE];
    drift_seal_encode(&s, b);
    drift_seal_t d;
    assert_int_equal(drift_seal_decode(b, sizeof b, &d), 0);
    assert_memory_equal(&d, &s, sizeof s);
    assert_memory_equal(b, "DRFTSEAL", 8);
    assert_int_equal(drift_le_get64(b + 32), 99);
    assert_int_equal(drift_le_get32(b + 72), 0xdeadbeef);
    assert_int_equal(b[96], 0xAB);
    assert_int_equal(b[128], 0xCD);
    assert_int_equal(drift_seal_decode(b, sizeof b - 1, &d), DRIFT_ETRUNCATED);
    for (size_t i = 16; i < DRIFT_SEAL_SIZE; i++) {
        b[i] ^= 0x40;
        assert_int_equal(drift_seal_decode(b, sizeof b, &d), DRIFT_ECORRUPT);
        b[i] ^= 0x40;
    }
    b[0] = 'X';
    assert_int_equal(drift_seal_decode(b, sizeof b, &d), DRIFT_EBADMAGIC);
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
        cmocka_unit_test(t_seal_skips_hash),
        cmocka_unit_test(t_seal_damaged_falls_back),
        cmocka_unit_test(t_seal_damage_still_found),
        cmocka_unit_test(t_seal_written_at_rotation),
        cmocka_unit_test(t_seal_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
