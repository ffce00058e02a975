/* modules/query/table.c — being written by helper C (storage) (see its header). */
typedef int drift_placeholder_table_c_t;
