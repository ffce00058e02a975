/* modules/query/agg.c — being written by helper B (expressions) (see its header). */
typedef int drift_placeholder_agg_c_t;
