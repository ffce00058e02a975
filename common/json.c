/* common/json.c — being written by helper A (parser) (see its header). */
typedef int drift_placeholder_json_c_t;
