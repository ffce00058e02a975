/* shm/control.c — see control.h. */
#include "shm/control.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"

_Static_assert(sizeof(drift_ctl_slot_t) % 8 == 0, "slot must be 8-byte aligned");
_Static_assert(sizeof(drift_ctl_header_t) % 64 == 0 || 1, "header size");

struct drift_ctl {
    void *map;
    size_t size;
    drift_ctl_header_t *hdr;
};

static size_t s_total(uint32_t nslots)
{
    size_t hdr = (sizeof(drift_ctl_header_t) + 63) & ~(size_t)63;
    return hdr + (size_t)nslots * sizeof(drift_ctl_slot_t);
}

drift_ctl_t *drift_ctl_create(const char *path, uint32_t nslots)
{
    if (nslots == 0 || nslots > DRIFT_CTL_MAX_SLOTS) {
        errno = EINVAL;
        return NULL;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    size_t size = s_total(nslots);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return NULL;
    /* posix_fallocate so that a full tmpfs is an error now, never a SIGBUS later. */
    int e = posix_fallocate(fd, 0, (off_t)size);
    if (e) {
        close(fd);
        unlink(tmp);
        errno = e;
        return NULL;
    }
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    e = errno;
    close(fd);
    if (map == MAP_FAILED) {
        unlink(tmp);
        errno = e;
        return NULL;
    }
    memset(map, 0, size);
    drift_ctl_header_t *h = map;
    h->version = DRIFT_CTL_VERSION;
    h->header_size = (uint32_t)((sizeof(drift_ctl_header_t) + 63) & ~(size_t)63);
    h->slot_size = sizeof(drift_ctl_slot_t);
    h->nslots = nslots;
    h->slots_offset = h->header_size;
    h->total_size = size;
    atomic_store(&h->supervisor_pid, (int32_t)getpid());
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&h->created_real_ns, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
    atomic_thread_fence(memory_order_release);
    h->magic = DRIFT_CTL_MAGIC; /* last: a reader that sees the magic sees a complete header */
    if (rename(tmp, path) < 0) {
        e = errno;
        munmap(map, size);
        unlink(tmp);
        errno = e;
        return NULL;
    }
    drift_ctl_t *self = calloc(1, sizeof *self);
    if (!self) {
        munmap(map, size);
        errno = ENOMEM;
        return NULL;
    }
    self->map = map;
    self->size = size;
    self->hdr = h;
    return self;
}

int drift_ctl_attach(const char *path, drift_ctl_t **ret_ctl)
{
    int rc = 0;
    void *map = MAP_FAILED;
    size_t size = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if ((size_t)st.st_size < sizeof(drift_ctl_header_t)) {
        rc = DRIFT_EBADMAGIC;
        goto out;
    }
    drift_ctl_header_t h;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
        rc = -EIO;
        goto out;
    }
    if (h.magic != DRIFT_CTL_MAGIC) {
        rc = DRIFT_EBADMAGIC;
        goto out;
    }
    if (h.version != DRIFT_CTL_VERSION) {
        rc = DRIFT_EVERSION;
        goto out;
    }
    if (h.slot_size != sizeof(drift_ctl_slot_t) || h.nslots == 0 || h.nslots > DRIFT_CTL_MAX_SLOTS ||
        h.total_size != s_total(h.nslots) || (uint64_t)st.st_size < h.total_size ||
        h.slots_offset != h.header_size) {
        rc = DRIFT_ECORRUPT;
        goto out;
    }
    size = h.total_size;
    map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        rc = -errno;
        goto out;
    }
    drift_ctl_t *self = calloc(1, sizeof *self);
    if (!self) {
        rc = -ENOMEM;
        goto out;
    }
    self->map = map;
    self->size = size;
    self->hdr = map;
    map = MAP_FAILED;
    *ret_ctl = self;
out:
    if (map != MAP_FAILED)
        munmap(map, size);
    close(fd);
    return rc;
}

void drift_ctl_detach(drift_ctl_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    munmap((*self_p)->map, (*self_p)->size);
    free(*self_p);
    *self_p = NULL;
}

drift_ctl_header_t *drift_ctl_header(drift_ctl_t *self) { return self->hdr; }

uint32_t drift_ctl_nslots(const drift_ctl_t *self) { return self->hdr->nslots; }

drift_ctl_slot_t *drift_ctl_slot(drift_ctl_t *self, uint32_t i)
{
    if (i >= self->hdr->nslots)
        return NULL;
    return (drift_ctl_slot_t *)((char *)self->map + self->hdr->slots_offset) + i;
}

int drift_ctl_claim_slot(drift_ctl_t *self, uint32_t role, uint32_t instance)
{
    uint32_t n = self->hdr->nslots;
    for (uint32_t i = 0; i < n; i++) {
        drift_ctl_slot_t *s = drift_ctl_slot(self, i);
        if (atomic_load(&s->state) != DRIFT_SLOT_FREE && atomic_load(&s->role) == role &&
            atomic_load(&s->instance) == instance)
            return (int)i;
    }
    for (uint32_t i = 0; i < n; i++) {
        drift_ctl_slot_t *s = drift_ctl_slot(self, i);
        if (atomic_load(&s->state) != DRIFT_SLOT_FREE)
            continue;
        memset((void *)s, 0, sizeof *s);
        atomic_store(&s->role, role);
        atomic_store(&s->instance, instance);
        atomic_store(&s->state, DRIFT_SLOT_EXITED);
        return (int)i;
    }
    /* A slot left by a process that no longer exists (crash of an earlier owner). */
    for (uint32_t i = 0; i < n; i++) {
        drift_ctl_slot_t *s = drift_ctl_slot(self, i);
        pid_t pid = atomic_load(&s->pid);
        if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH) {
            memset((void *)s, 0, sizeof *s);
            atomic_store(&s->role, role);
            atomic_store(&s->instance, instance);
            atomic_store(&s->state, DRIFT_SLOT_EXITED);
            return (int)i;
        }
    }
    return DRIFT_EFULL;
}

void drift_ctl_slot_observe_us(drift_ctl_slot_t *slot, uint64_t us)
{
    unsigned b = 0;
    uint64_t v = us;
    while (v > 1 && b < DRIFT_CTL_HIST_BUCKETS - 1) {
        v >>= 1;
        b++;
    }
    atomic_fetch_add_explicit(&slot->latency_us_hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&slot->latency_us_sum, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&slot->counters[DRIFT_CTR_REQUESTS], 1, memory_order_relaxed);
}
