/* modules/query/ddl.c — being written by helper C (storage) (see its header). */
typedef int drift_placeholder_ddl_c_t;
