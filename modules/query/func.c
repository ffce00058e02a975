/* modules/query/func.c — being written by helper B (expressions) (see its header). */
typedef int drift_placeholder_func_c_t;
