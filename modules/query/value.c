/* modules/query/value.c — being written by helper B (expressions) (see its header). */
typedef int drift_placeholder_value_c_t;
