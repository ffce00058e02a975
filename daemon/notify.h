/* daemon/notify.h — sd_notify(3) without libsystemd: one datagram to
 * $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). A no-op
 * when the variable is unset, so driftdbd runs the same without systemd. */
#ifndef DRIFT_DAEMON_NOTIFY_H
#define DRIFT_DAEMON_NOTIFY_H

#include <stdint.h>

/* Sends state (e.g. "READY=1\nSTATUS=serving"). Returns 0 (also when not under systemd) or -errno. */
int drift_notify(const char *state);
/* printf-style drift_notify. */
int drift_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Watchdog interval from $WATCHDOG_USEC (in ns) if it is meant for this process, else 0. */
uint64_t drift_notify_watchdog_ns(void);

#endif
