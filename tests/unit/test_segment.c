/* tests/unit/test_segment.c — segment header, names, preallocation, install,
 * scan, rotation, and the reader API (iterate from a seq across segments,
 * fetch by location, never past the committed length). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/errors.h"
#include "logfixture.h"
#include "shm/control.h"
#include "shm/logreader.h"

static void t_header_round_trip(void **state)
{
    (void)state;
    drift_seg_header_t h = {.segment_id = 42,
                            .first_seq = 42,
                            .epoch = 7,
                            .created_ns = 123456789,
                            .file_size = 1 << 20,
                            .flags = DRIFT_SEG_F_LZ4,
                            .key_id = 3};
    memset(h.prev_hash, 0x5a, DRIFT_HASH_LEN);
    uint8_t b[DRIFT_SEG_HDR_SIZE];
    drift_seg_header_encode(&h, b);
    assert_memory_equal(b, "DRFTSEG1", 8);
    drift_seg_header_t g;
    assert_int_equal(drift_seg_header_decode(b, sizeof b, &g), 0);
    assert_memory_equal(&g, &h, sizeof h);
    assert_int_equal(drift_seg_header_decode(b, 100, &g), DRIFT_ETRUNCATED);
    b[20] ^= 1;
    assert_int_equal(drift_seg_header_decode(b, sizeof b, &g), DRIFT_ECORRUPT);
    b[20] ^= 1;
    b[0] = 'X';
    assert_int_equal(drift_seg_header_decode(b, sizeof b, &g), DRIFT_EBADMAGIC);
    b[0] = 'D';
    b[8] = 9;
    assert_int_equal(drift_seg_header_decode(b, sizeof b, &g), DRIFT_EVERSION);
}

static void t_names(void **state)
{
    (void)state;
    char p[128];
    assert_int_equal(drift_seg_path(p, sizeof p, "/d/log", 1), 0);
    assert_string_equal(p, "/d/log/00000000000000000001.seg");
    uint64_t id;
    assert_int_equal(drift_seg_parse_name("00000000000000000123.seg", &id), 0);
    assert_int_equal(id, 123);
    assert_int_equal(drift_seg_parse_name("0000000000000000123.seg", &id), -EINVAL);
    assert_int_equal(drift_seg_parse_name("0000000000000000012x.seg", &id), -EINVAL);
    assert_int_equal(drift_seg_parse_name("99999999999999999999.seg", &id), -EINVAL); /* > UINT64_MAX */
    assert_int_equal(drift_seg_parse_name("00000000000000000001.tmp", &id), -EINVAL);
    assert_int_equal(drift_seg_path(p, 10, "/d/log", 1), -ENAMETOOLONG);
}

static void t_prealloc_install(void **state)
{
    (void)state;
    fx_log_t fx;
    fx_init(&fx, 1 << 16);
    char spare[400];
    snprintf(spare, sizeof spare, "%s/spare", fx.dir);
    assert_int_equal(drift_seg_prealloc(spare, 1 << 16), 0);
    assert_int_equal(drift_seg_prealloc(spare, 1 << 16), -EEXIST);
    struct stat st;
    assert_int_equal(stat(spare, &st), 0);
    assert_int_equal(st.st_size, 1 << 16);
    assert_true(st.st_blocks * 512 >= (1 << 16)); /* really written, not a hole */
    drift_seg_header_t h = {.segment_id = 1, .first_seq = 1, .epoch = 1, .file_size = 1 << 16};
    int fd = -1;
    assert_int_equal(drift_seg_install(fx.dir, spare, &h, &fd), 0);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(stat(spare, &st), -1);
    /* Installing over an existing segment is refused (RENAME_NOREPLACE). */
    assert_int_equal(drift_seg_prealloc(spare, 1 << 16), 0);
    assert_int_equal(drift_seg_install(fx.dir, spare, &h, &fd), -EEXIST);
    /* A spare of the wrong size is refused. */
    h.file_size = 1 << 17;
    h.segment_id = h.first_seq = 5;
    assert_int_equal(drift_seg_install(fx.dir, spare, &h, &fd), -EINVAL);
    uint64_t *ids;
    size_t n;
    assert_int_equal(drift_seg_list(fx.dir, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    free(ids);
    fx_done(&fx);
}

/* Many frames over several small segments: rotation, list order, scan, reader iteration. */
static void t_rotation_and_reader(void **state)
{
    (void)state;
    fx_log_t fx;
    fx_init(&fx, 1 << 16);
    char body[1000];
    uint64_t offs[301], segs[301];
    for (int i = 1; i <= 300; i++) {
        int len = 10 + (i * 37) % 900;
        memset(body, i & 0xff, (size_t)len);
        offs[i] = fx_append(&fx, body, (size_t)len);
        segs[i] = fx.seg_id;
    }
    fx_close(&fx);
    uint64_t *ids;
    size_t n;
    assert_int_equal(drift_seg_list(fx.dir, &ids, &n), 0);
    assert_true(n >= 3);
    for (size_t i = 1; i < n; i++)
        assert_true(ids[i] > ids[i - 1]);
    /* Each segment scans clean and links to the one before. */
    uint8_t hash[DRIFT_HASH_LEN] = {0};
    uint64_t expect = 1, ts = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        char path[400];
        drift_seg_t *seg;
        drift_seg_path(path, sizeof path, fx.dir, ids[i]);
        assert_int_equal(drift_seg_open(path, &seg), 0);
        assert_int_equal(drift_seg_header(seg)->first_seq, expect);
        assert_memory_equal(drift_seg_header(seg)->prev_hash, hash, DRIFT_HASH_LEN);
        drift_seg_scan_t sc;
        assert_int_equal(drift_seg_scan(drift_seg_data(seg), drift_seg_size(seg), drift_seg_header(seg), hash, expect,
                                        ts, 0, NULL, NULL, &sc),
                         0);
        assert_int_equal(sc.stopped, 0);
        assert_true(sc.frames > 0);
        memcpy(hash, sc.last_hash, DRIFT_HASH_LEN);
        expect = sc.last_seq + 1;
        ts = sc.last_ts;
        total += sc.frames;
        drift_seg_close(&seg);
    }
    assert_int_equal(total, 300);
    free(ids);

    /* Offline reader: every frame in order, from any seq. */
    drift_logr_t *r;
    assert_int_equal(drift_logr_open(fx.dir, NULL, &r), 0);
    drift_frame_t f;
    drift_logr_pos_t pos;
    for (uint64_t s = 1; s <= 300; s++) {
        assert_int_equal(drift_logr_next(r, &f, &pos), 1);
        assert_int_equal(f.seq, s);
        assert_int_equal(pos.segment_id, segs[s]);
        assert_int_equal(pos.offset, offs[s]);
        assert_int_equal(f.body[0], (uint8_t)(s & 0xff));
    }
    assert_int_equal(drift_logr_next(r, &f, &pos), 0);
    assert_int_equal(drift_logr_seek(r, 137), 0);
    assert_int_equal(drift_logr_next(r, &f, &pos), 1);
    assert_int_equal(f.seq, 137);
    drift_logr_pos_t at = {segs[250], offs[250]};
    assert_int_equal(drift_logr_fetch(r, at, &f), 0);
    assert_int_equal(f.seq, 250);
    at.offset += 8; /* not a frame start */
    assert_true(drift_logr_fetch(r, at, &f) < 0);
    at.segment_id = 999999;
    assert_int_equal(drift_logr_fetch(r, at, &f), DRIFT_ENOTFOUND);
    drift_logr_close(&r);

    /* With a control block: nothing past committed_len of the active segment, sealed ones whole,
     * later segments invisible. */
    drift_ctl_header_t *hdr = calloc(1, sizeof *hdr);
    atomic_store(&hdr->active_segment_id, segs[200]);
    atomic_store(&hdr->committed_len, offs[200]); /* frames of segs[200] before seq 200 */
    atomic_store(&hdr->written_seq, 199);
    assert_int_equal(drift_logr_open(fx.dir, hdr, &r), 0);
    uint64_t last = 0;
    int rc;
    while ((rc = drift_logr_next(r, &f, NULL)) == 1)
        last = f.seq;
    assert_int_equal(rc, 0);
    assert_int_equal(last, 199);
    at.segment_id = segs[200];
    at.offset = offs[200];
    assert_int_equal(drift_logr_fetch(r, at, &f), DRIFT_ENOTFOUND);
    /* The writer publishes more: the same reader continues where it stopped. */
    atomic_store(&hdr->active_segment_id, segs[300]);
    atomic_store(&hdr->committed_len, offs[300]);
    while ((rc = drift_logr_next(r, &f, NULL)) == 1)
        assert_int_equal(f.seq, ++last);
    assert_int_equal(rc, 0);
    assert_int_equal(last, 299);
    assert_int_equal(drift_logr_fetch(r, at, &f), 0);
    drift_logr_close(&r);
    free(hdr);

    /* A corrupt frame is reported by the reader with its location, never returned. */
    fx_flip(&fx, segs[10], offs[10] + 100);
    assert_int_equal(drift_logr_open(fx.dir, NULL, &r), 0);
    for (int i = 1; i < 10; i++)
        assert_int_equal(drift_logr_next(r, &f, NULL), 1);
    assert_int_equal(drift_logr_next(r, &f, NULL), DRIFT_ECORRUPT);
    assert_non_null(strstr(drift_logr_error(r), "offset"));
    drift_logr_close(&r);
    fx_done(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_header_round_trip),
        cmocka_unit_test(t_names),
        cmocka_unit_test(t_prealloc_install),
        cmocka_unit_test(t_rotation_and_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
