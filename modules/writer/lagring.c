/* modules/writer/lagring.c — see lagring.h. */
#include "modules/writer/lagring.h"

#include <stdlib.h>

#define MASK (DRIFT_LAGRING_SLOTS - 1)

struct drift_lagring {
    uint64_t n; /* samples ever noted: the newest is at (n - 1) & MASK */
    struct {
        uint64_t seq, ts;
    } s[DRIFT_LAGRING_SLOTS];
};

drift_lagring_t *drift_lagring_new(void)
{
    return calloc(1, sizeof(drift_lagring_t));
}

void drift_lagring_destroy(drift_lagring_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

void drift_lagring_note(drift_lagring_t *self, uint64_t seq, uint64_t ts)
{
    if (self->n && self->s[(self->n - 1) & MASK].ts / 1000000 == ts / 1000000)
        return;
    self->s[self->n & MASK].seq = seq;
    self->s[self->n & MASK].ts = ts;
    self->n++;
}

uint64_t drift_lagring_age(const drift_lagring_t *self, uint64_t indexed, uint64_t written, uint64_t now)
{
    if (!self->n || indexed >= written)
        return 0;
    uint64_t lo = self->n > DRIFT_LAGRING_SLOTS ? self->n - DRIFT_LAGRING_SLOTS : 0, hi = self->n, want = indexed + 1;
    if (self->s[lo & MASK].seq <= want)
        while (hi - lo > 1) { /* the last sample with seq <= want is in [lo, hi) */
            uint64_t mid = lo + (hi - lo) / 2;
            if (self->s[mid & MASK].seq <= want)
                lo = mid;
            else
                hi = mid;
        }
    uint64_t ts = self->s[lo & MASK].ts;
    return now > ts ? now - ts : 0;
}
