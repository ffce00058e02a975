/* modules/query/exec.c — being written by helper D (executor) (see its header). */
typedef int drift_placeholder_exec_c_t;
