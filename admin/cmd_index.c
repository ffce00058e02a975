/* admin/cmd_index.c — `driftctl reindex` and `driftctl verify --indexes`
 * (docs/indexes.md, "Rebuild and verify").
 *
 * Both work on the data directory's files, not through the daemon: the index
 * is derived from the log, so they read the log with shm/logreader.h and
 * build LMDB environments with shm/index.h.
 *   reindex          offline (refuses while the daemon holds <data_dir>/LOCK):
 *                    builds <data_dir>/index.rebuild from the whole log, then
 *                    swaps it in place of <data_dir>/index.
 *   verify --indexes works online too: builds a fresh index in a temporary
 *                    directory up to the seq the live index has applied and
 *                    compares every sub-database entry by entry.
 * Single-threaded; a progress bar on stderr when it is a terminal. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin/driftctl.h"
#include "common/errors.h"
#include "common/util.h"
#include "shm/index.h"

typedef struct {
    int tty;
    uint64_t t0;
    uint64_t last_draw;
} progress_t;

/* Draws "[#####.....]  45%  seq N/M  R/s" on stderr (terminals only, at most 10 times a second). */
static int s_progress(uint64_t seq, uint64_t last, void *arg)
{
    progress_t *p = arg;
    uint64_t now = drift_now_mono_ns();
    if (!p->tty || (now - p->last_draw < 100000000ull && seq < last))
        return 0;
    p->last_draw = now;
    int width = 40, done = last ? (int)((double)seq / (double)last * width) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < done ? '#' : '.';
    bar[width] = 0;
    double secs = (double)(now - p->t0) / 1e9;
    fprintf(stderr, "\r[%s] %3d%%  seq %" PRIu64 "/%" PRIu64 "  %.0f commits/s ", bar,
            last ? (int)(100.0 * (double)seq / (double)last) : 100, seq, last, secs > 0 ? (double)seq / secs : 0.0);
    fflush(stderr);
    return 0;
}

static int s_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes a directory tree (missing is fine). */
static void s_rm_rf(const char *path)
{
    nftw(path, s_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Parses --data-dir/-D and --map-size; the rest is left to the caller (flags: *ret_indexes for --indexes). */
static int s_args(int argc, char **argv, const char *usage, const char **ret_dir, uint64_t *ret_map, int *ret_indexes)
{
    enum { OPT_MAP = 1000, OPT_INDEXES };
    static const struct option opts[] = {{"data-dir", required_argument, NULL, 'D'},
                                         {"map-size", required_argument, NULL, OPT_MAP},
                                         {"indexes", no_argument, NULL, OPT_INDEXES},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *env = getenv("DRIFT_DATA_DIR");
    *ret_dir = env && *env ? env : "./data";
    *ret_map = 0;
    int c;
    while ((c = getopt_long(argc, argv, "D:h", opts, NULL)) != -1) {
        switch (c) {
        case 'D': *ret_dir = optarg; break;
        case OPT_MAP:
            if (drift_parse_size(optarg, ret_map) < 0 || *ret_map < (1u << 20)) {
                fprintf(stderr, "driftctl %s: --map-size: not a size of at least 1MB: '%s'\n", argv[0], optarg);
                return DRIFT_CTL_EUSAGE;
            }
            break;
        case OPT_INDEXES:
            if (!ret_indexes)
                goto usage;
            *ret_indexes = 1;
            break;
        case 'h': printf("Usage: driftctl %s %s\n", argv[0], usage); return -1;
        default: goto usage;
        }
    }
    if (optind < argc)
        goto usage;
    return 0;
usage:
    fprintf(stderr, "Usage: driftctl %s %s\n", argv[0], usage);
    return DRIFT_CTL_EUSAGE;
}

/* 1 when some process holds an flock on path (the daemon's LOCK), 0 when not, <0 on error. */
static int s_locked(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    int held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

int drift_ctl_reindex(drift_ctl_t *ctl, int argc, char **argv)
{
    (void)ctl;
    const char *dir;
    uint64_t map;
    int rc = s_args(argc, argv, "[-D DATA_DIR] [--map-size SIZE]", &dir, &map, NULL);
    if (rc)
        return rc < 0 ? DRIFT_CTL_OK : rc;
    char lock[PATH_MAX], logd[PATH_MAX], idx[PATH_MAX], tmp[PATH_MAX], old[PATH_MAX], err[512];
    snprintf(lock, sizeof lock, "%s/LOCK", dir);
    snprintf(logd, sizeof logd, "%s/log", dir);
    snprintf(idx, sizeof idx, "%s/index", dir);
    snprintf(tmp, sizeof tmp, "%s/index.rebuild", dir);
    snprintf(old, sizeof old, "%s/index.old", dir);
    struct stat st;
    if (stat(logd, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "driftctl reindex: %s: no log directory (is %s a DriftDB data directory?)\n", logd, dir);
        return DRIFT_CTL_EUSAGE;
    }
    char wlock[PATH_MAX + 8];
    snprintf(wlock, sizeof wlock, "%s/LOCK", logd);
    if ((rc = s_locked(lock)) != 0 || (rc = s_locked(wlock)) != 0) {
        fprintf(stderr, "driftctl reindex: %s\n",
                rc > 0 ? "the daemon is running on this data directory: stop it first (reindex runs offline)"
                       : drift_strerror(rc));
        return DRIFT_CTL_ESTATEMENT;
    }
    s_rm_rf(tmp);
    progress_t p = {.tty = isatty(2), .t0 = drift_now_mono_ns()};
    rc = drift_index_rebuild(tmp, logd, 0, map, s_progress, &p, err, sizeof err);
    if (p.tty)
        fputc('\n', stderr);
    if (rc < 0) {
        fprintf(stderr, "driftctl reindex: %s\n", err);
        s_rm_rf(tmp);
        return DRIFT_CTL_ESTATEMENT;
    }
    s_rm_rf(old);
    if ((rename(idx, old) < 0 && errno != ENOENT) || rename(tmp, idx) < 0) {
        fprintf(stderr, "driftctl reindex: cannot move %s into place: %s\n", tmp, strerror(errno));
        return DRIFT_CTL_ESTATEMENT;
    }
    drift_fsync_dir(dir);
    s_rm_rf(old);
    drift_index_t *ix;
    drift_index_opts_t ro = {.readonly = 1};
    uint64_t seq = 0;
    if (drift_index_open(idx, NULL, NULL, &ro, &ix) == 0) {
        drift_index_applied(ix, &seq, NULL);
        drift_index_close(&ix);
    }
    printf("reindexed %s: %" PRIu64 " commits in %.2f s\n", idx, seq, (double)(drift_now_mono_ns() - p.t0) / 1e9);
    return DRIFT_CTL_OK;
}

typedef struct {
    long shown;
} diffs_t;

static void s_diff(const char *db, const char *what, void *arg)
{
    diffs_t *d = arg;
    if (d->shown++ < 20)
        printf("  %s: %s\n", db, what);
}

int drift_ctl_verify(drift_ctl_t *ctl, int argc, char **argv)
{
    (void)ctl;
    const char *dir;
    uint64_t map;
    int indexes = 0;
    int rc = s_args(argc, argv, "--indexes [-D DATA_DIR]", &dir, &map, &indexes);
    if (rc)
        return rc < 0 ? DRIFT_CTL_OK : rc;
    if (!indexes) {
        fprintf(stderr, "driftctl verify: say what to verify: --indexes (the only check built so far)\n");
        return DRIFT_CTL_EUSAGE;
    }
    char logd[PATH_MAX], idx[PATH_MAX], tmp[PATH_MAX], err[512];
    snprintf(logd, sizeof logd, "%s/log", dir);
    snprintf(idx, sizeof idx, "%s/index", dir);
    snprintf(tmp, sizeof tmp, "%s/index.verify.XXXXXX", dir);
    drift_index_t *live = NULL, *fresh = NULL;
    drift_index_opts_t ro = {.readonly = 1};
    if ((rc = drift_index_open(idx, logd, NULL, &ro, &live)) < 0) {
        fprintf(stderr, "driftctl verify: %s: %s\n", idx, drift_strerror(rc));
        return DRIFT_CTL_ESTATEMENT;
    }
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "driftctl verify: %s: %s\n", tmp, strerror(errno));
        drift_index_close(&live);
        return DRIFT_CTL_ESTATEMENT;
    }
    progress_t p = {.tty = isatty(2), .t0 = drift_now_mono_ns()};
    long diffs = -EAGAIN;
    uint64_t seq = 0;
    diffs_t d = {0};
    /* The live index may move on while we build: catch the fresh one up and compare again. */
    for (int attempt = 0; attempt < 20 && diffs == -EAGAIN; attempt++) {
        drift_index_applied(live, &seq, NULL);
        if (seq == 0) {
            diffs = 0;
            break;
        }
        rc = drift_index_build(tmp, logd, seq, map, s_progress, &p, err, sizeof err);
        if (rc < 0 && rc != -ERANGE) {
            fprintf(stderr, "%sdriftctl verify: rebuilding: %s\n", p.tty ? "\n" : "", err);
            diffs = rc;
            break;
        }
        drift_index_close(&fresh);
        if ((rc = drift_index_open(tmp, logd, NULL, &ro, &fresh)) < 0) {
            diffs = rc;
            break;
        }
        d.shown = 0;
        diffs = drift_index_compare(live, fresh, s_diff, &d);
        if (diffs == -EAGAIN && rc == 0) {
            /* live went past what we built: build further; if the fresh one is ahead (-ERANGE) start over */
            uint64_t fs;
            drift_index_applied(fresh, &fs, NULL);
            drift_index_applied(live, &seq, NULL);
            if (fs > seq) {
                drift_index_close(&fresh);
                s_rm_rf(tmp);
                mkdir(tmp, 0700);
            }
        }
    }
    if (p.tty)
        fputc('\n', stderr);
    drift_index_close(&fresh);
    drift_index_close(&live);
    s_rm_rf(tmp);
    if (diffs < 0) {
        fprintf(stderr, "driftctl verify: %s\n", drift_strerror((int)diffs));
        return DRIFT_CTL_ESTATEMENT;
    }
    if (diffs > 20)
        printf("  ... and %ld more\n", diffs - 20);
    printf("indexes %s: %ld difference%s from a rebuild of the log up to seq %" PRIu64 "\n", diffs ? "DIFFER" : "ok",
           diffs, diffs == 1 ? "" : "s", seq);
    return diffs ? DRIFT_CTL_ESTATEMENT : DRIFT_CTL_OK;
}
