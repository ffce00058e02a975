/* modules/query/plan.c — being written by helper D (executor) (see its header). */
typedef int drift_placeholder_plan_c_t;
