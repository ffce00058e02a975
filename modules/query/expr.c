/* modules/query/expr.c — being written by helper B (expressions) (see its header). */
typedef int drift_placeholder_expr_c_t;
