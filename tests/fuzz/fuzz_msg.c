/* tests/fuzz/fuzz_msg.c — libFuzzer target for the bounded validator and decoder
 * (ipc/msg) and the request parser (ipc/proto). Invariants checked beyond "no
 * crash, no leak": a message the validator accepts must decode, and peek_id
 * must never read past the buffer (ASan sees that). Built and run by run-fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/msg.h"
#include "ipc/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy into an exact-size heap buffer so ASan catches any over-read. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    int64_t id;
    (void)drift_msg_peek_id(buf, size, &id, NULL);
    drift_msg_stats_t st;
    int vrc = drift_msg_validate(buf, size, &lim, &st, NULL, 0);
    drift_msg_t *m = NULL;
    char err[256];
    int drc = drift_msg_decode(buf, size, &lim, &m, err, sizeof err);
    if ((vrc == 0) != (drc == 0))
        abort(); /* validator and decoder disagree */
    if (m) {
        drift_proto_req_t req;
        if (drift_proto_parse(drift_msg_root(m), &req, err, sizeof err) == 0 && req.sql && req.sql_len > size)
            abort();
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        drift_proto_error(&sb, &req, DRIFT_SQLSTATE_PROTOCOL, err, 0, -1, NULL);
        msgpack_sbuffer_destroy(&sb);
        drift_msg_destroy(&m);
    }
    free(buf);
    return 0;
}
