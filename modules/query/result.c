/* modules/query/result.c — see result.h. Rows are packed as they arrive into a
 * buffer; a flush writes the reply map header, then the rows array. */
#include "modules/query/result.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"

struct drift_result {
    drift_sink_t sink; /* first: the engine gets &sink */
    drift_proto_req_t id_only;
    uint32_t chunk_rows;
    size_t chunk_bytes;
    drift_result_emit_fn emit;
    void *arg;
    msgpack_sbuffer cols; /* packed "columns" pair, until sent */
    uint32_t ncols;
    char **types;         /* declared types (NULL = unknown: the first non-NULL value buffered decides) */
    int have_cols, cols_sent;
    msgpack_sbuffer rows;
    msgpack_packer rpk;
    uint32_t nrows;
    msgpack_sbuffer out;
    const drift_session_t *session;
    uint32_t replies;
};

size_t drift_ts_format_us(int64_t ns, char *buf, size_t cap)
{
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(frac / 1000));
    return n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap - 1);
}

void drift_value_pack(msgpack_packer *pk, const drift_value_t *v)
{
    switch (v->type) {
    case DRIFT_VAL_NULL: msgpack_pack_nil(pk); break;
    case DRIFT_VAL_INT: msgpack_pack_int64(pk, v->u.i); break;
    case DRIFT_VAL_REAL: msgpack_pack_double(pk, v->u.r); break;
    case DRIFT_VAL_BOOL:
        if (v->u.b)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        break;
    case DRIFT_VAL_TEXT:
        msgpack_pack_str(pk, v->u.s.n);
        msgpack_pack_str_body(pk, v->u.s.p, v->u.s.n);
        break;
    case DRIFT_VAL_BLOB:
        msgpack_pack_bin(pk, v->u.s.n);
        msgpack_pack_bin_body(pk, v->u.s.p, v->u.s.n);
        break;
    case DRIFT_VAL_JSON: {
        /* JSON travels as MessagePack (map/array/scalar, docs/protocol.md); the text was validated when stored */
        char err[128];
        if (drift_json_to_msgpack(v->u.s.p, v->u.s.n, pk, err, sizeof err, NULL) < 0) {
            msgpack_pack_str(pk, v->u.s.n);
            msgpack_pack_str_body(pk, v->u.s.p, v->u.s.n);
        }
        break;
    }
    case DRIFT_VAL_TIMESTAMP: {
        char buf[64];
        size_t n = drift_ts_format_us(v->u.i, buf, sizeof buf);
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, buf, n);
        break;
    }
    }
}

/* Packs "types": the declared types, an unknown one taken from the first non-NULL value sent with it. */
static void s_pack_types(drift_result_t *self, msgpack_packer *pk)
{
    drift_proto_pack_str(pk, "types");
    msgpack_pack_array(pk, self->ncols);
    for (uint32_t i = 0; i < self->ncols; i++)
        if (self->types[i])
            drift_proto_pack_str(pk, self->types[i]);
        else
            drift_proto_pack_str(pk, "NULL"); /* only NULLs so far, or untyped (docs/protocol.md) */
}

/* Emits one reply with the rows gathered so far. final: the last reply (seq/affected/txn). */
static int s_flush(drift_result_t *self, int final, int64_t affected, uint64_t seq)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(&self->out);
    msgpack_packer_init(&pk, &self->out, msgpack_sbuffer_write);
    int with_cols = self->have_cols && !self->cols_sent;
    uint32_t n = 2 + (with_cols ? 2 : 0) + (self->have_cols ? 1 : 0) + (final ? 2 + (affected >= 0) : 1);
    msgpack_pack_map(&pk, n);
    drift_proto_pack_id(&pk, &self->id_only);
    drift_proto_pack_str(&pk, "ok");
    msgpack_pack_true(&pk);
    if (with_cols) {
        msgpack_sbuffer_write(&self->out, self->cols.data, self->cols.size);
        s_pack_types(self, &pk);
        self->cols_sent = 1;
    }
    if (self->have_cols) {
        drift_proto_pack_str(&pk, "rows");
        msgpack_pack_array(&pk, self->nrows);
        msgpack_sbuffer_write(&self->out, self->rows.data, self->rows.size);
    }
    if (final) {
        drift_proto_pack_str(&pk, "seq");
        msgpack_pack_uint64(&pk, seq);
        if (affected >= 0) {
            drift_proto_pack_str(&pk, "affected");
            msgpack_pack_int64(&pk, affected);
        }
        drift_proto_pack_str(&pk, "txn");
        drift_proto_pack_str(&pk, drift_txn_name(drift_session_txn(self->session)));
    } else {
        drift_proto_pack_str(&pk, "more");
        msgpack_pack_true(&pk);
    }
    msgpack_sbuffer_clear(&self->rows);
    self->nrows = 0;
    self->replies++;
    if (self->emit(self->arg, self->out.data, self->out.size, !final) < 0) {
        if (self->sink.err)
            drift_sqlerr_set(self->sink.err, "08006", 0, "client reply could not be sent");
        return -1;
    }
    return 0;
}

static int s_columns(drift_sink_t *sink, uint32_t n, const char *const *names, const char *const *types)
{
    drift_result_t *self = (drift_result_t *)sink;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &self->cols, msgpack_sbuffer_write);
    drift_proto_pack_str(&pk, "columns");
    msgpack_pack_array(&pk, n);
    for (uint32_t i = 0; i < n; i++)
        drift_proto_pack_str(&pk, names[i]);
    self->types = calloc(n ? n : 1, sizeof *self->types);
    if (!self->types) {
        drift_sqlerr_set(sink->err, "53200", 0, "out of memory");
        return -1;
    }
    self->ncols = n;
    for (uint32_t i = 0; i < n; i++)
        if (types && types[i] && strcmp(types[i], "NULL") != 0 && !(self->types[i] = strdup(types[i]))) {
            drift_sqlerr_set(sink->err, "53200", 0, "out of memory");
            return -1;
        }
    self->have_cols = 1;
    return 0;
}

static int s_row(drift_sink_t *sink, const drift_value_t *vals, uint32_t n)
{
    drift_result_t *self = (drift_result_t *)sink;
    msgpack_pack_array(&self->rpk, n);
    for (uint32_t i = 0; i < n; i++) {
        drift_value_pack(&self->rpk, &vals[i]);
        if (!self->cols_sent && i < self->ncols && !self->types[i] && vals[i].type != DRIFT_VAL_NULL)
            self->types[i] = strdup(drift_val_type_name(vals[i].type)); /* NULL on ENOMEM: stays unknown */
    }
    self->nrows++;
    if ((self->chunk_rows && self->nrows >= self->chunk_rows) ||
        (self->chunk_bytes && self->rows.size >= self->chunk_bytes))
        return s_flush(self, 0, 0, 0);
    return 0;
}

static int s_done(drift_sink_t *sink, int64_t affected, uint64_t seq)
{
    return s_flush((drift_result_t *)sink, 1, affected, seq);
}

drift_result_t *drift_result_new(const drift_proto_req_t *req, uint32_t chunk_rows, size_t chunk_bytes,
                                 drift_result_emit_fn emit, void *arg)
{
    drift_result_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sink.columns = s_columns;
    self->sink.row = s_row;
    self->sink.done = s_done;
    self->id_only.has_id = req->has_id;
    self->id_only.id = req->id;
    self->chunk_rows = chunk_rows;
    self->chunk_bytes = chunk_bytes;
    self->emit = emit;
    self->arg = arg;
    msgpack_sbuffer_init(&self->cols);
    msgpack_sbuffer_init(&self->rows);
    msgpack_sbuffer_init(&self->out);
    msgpack_packer_init(&self->rpk, &self->rows, msgpack_sbuffer_write);
    return self;
}

void drift_result_destroy(drift_result_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    drift_result_t *self = *self_p;
    for (uint32_t i = 0; i < self->ncols; i++)
        free(self->types[i]);
    free(self->types);
    msgpack_sbuffer_destroy(&self->cols);
    msgpack_sbuffer_destroy(&self->rows);
    msgpack_sbuffer_destroy(&self->out);
    free(self);
    *self_p = NULL;
}

drift_sink_t *drift_result_sink(drift_result_t *self)
{
    return &self->sink;
}

void drift_result_set_session(drift_result_t *self, const drift_session_t *session)
{
    self->session = session;
}

int drift_result_fail(drift_result_t *self, const drift_sqlerr_t *err)
{
    msgpack_sbuffer_clear(&self->out);
    drift_proto_error(&self->out, &self->id_only, err->code, err->message, err->position, -1,
                      drift_txn_name(drift_session_txn(self->session)));
    self->replies++;
    return self->emit(self->arg, self->out.data, self->out.size, 0);
}

uint32_t drift_result_replies(const drift_result_t *self)
{
    return self->replies;
}

drift_stmt_input_t drift_result_input(const drift_proto_req_t *req)
{
    return (drift_stmt_input_t){.sql = req->sql,
                                .sql_len = req->sql_len,
                                .params = req->params,
                                .has_as_of = req->has_as_of,
                                .as_of_seq = req->as_of_seq,
                                .as_of_time = req->as_of_time,
                                .as_of_time_len = req->as_of_time_len};
}
