/* modules/query/txn.c — being written by helper C (storage) (see its header). */
typedef int drift_placeholder_txn_c_t;
