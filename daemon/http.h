/* daemon/http.h — the supervisor's HTTP endpoint (libevent evhttp):
 * /health/live, /health/ready, /metrics (Prometheus text 0.0.4). Everything
 * it reports is read from the supervisor's role table and the control block. */
#ifndef DRIFT_DAEMON_HTTP_H
#define DRIFT_DAEMON_HTTP_H

struct event_base;
typedef struct drift_super drift_super_t;
typedef struct drift_http drift_http_t;

/* Binds addr ("HOST:PORT") on base. Returns NULL + errno. */
drift_http_t *drift_http_new(struct event_base *base, const char *addr, drift_super_t *sup);
void drift_http_destroy(drift_http_t **self_p);

#endif
