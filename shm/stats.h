/* shm/stats.h — planner statistics in the LMDB index (docs/indexes.md, "Statistics").
 *
 * ANALYZE (modules/query/stats.c) commits a DDL-kind op on table 0 whose row is
 * {"ddl": "stats", "table": T, "rows": N, "cols": [...], "idx": [...]}. The
 * indexer's DDL apply stores the row verbatim in the catalog sub-database under
 * 'S' | be32 T | be64 ~seq, so the statistics as of seq N are the first entry at
 * or after 'S' | T | ~N: the latest ANALYZE at or before N. A rebuild from the
 * log (driftctl reindex / verify --indexes) reproduces the same entries.
 *
 * The functions work inside a caller's LMDB transaction: the indexer's write
 * transaction (single writer) or a reader's snapshot (any number of workers). */
#ifndef DRIFT_SHM_STATS_H
#define DRIFT_SHM_STATS_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/index.h"

#define DRIFT_STATS_CAT 'S' /* catalog key prefix */

/* The table id of a stats record (a msgpack map with "table"); 0 or -1 when it is not one. */
int drift_stats_record_table(const void *rec, size_t len, uint32_t *ret_table);
/* Stores the stats record rec (committed at seq) in db. Returns 0, -1 when rec is not a stats record, or
 * an LMDB error code (> 0). */
int drift_stats_store(MDB_txn *txn, MDB_dbi db, uint64_t seq, const void *rec, size_t len);
/* The stats record of table as of seq as_of: 1 with it in *ret / *ret_len (valid while txn lives) and its
 * commit seq in *ret_seq (may be NULL), 0 when there is none, or an LMDB error code negated. */
int drift_stats_lookup(MDB_txn *txn, MDB_dbi db, uint32_t table, uint64_t as_of, const uint8_t **ret,
                       size_t *ret_len, uint64_t *ret_seq);
/* The same through a reader snapshot of the index (implemented in shm/index.c, which owns the environment). */
int drift_index_stats_get(drift_index_rd_t *rd, uint32_t table, uint64_t as_of, const uint8_t **ret, size_t *ret_len,
                          uint64_t *ret_seq);

#endif
