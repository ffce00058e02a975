/* admin/driftctl.h — driftctl, DriftDB's control tool: the command table and
 * what commands share (global options, exit codes, result printing).
 *
 * driftctl is single-threaded; it talks to driftdbd only through libdrift.
 * To add a command: write `int drift_ctl_<name>(drift_ctl_t *ctl, int argc,
 * char **argv)` in admin/<name>.c and add a row to s_commands[] in
 * admin/driftctl.c. */
#ifndef DRIFT_ADMIN_DRIFTCTL_H
#define DRIFT_ADMIN_DRIFTCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client/drift.h"

/* Exit codes of every command. */
enum {
    DRIFT_CTL_OK = 0,          /* success */
    DRIFT_CTL_ESTATEMENT = 1,  /* a statement or command failed on the server */
    DRIFT_CTL_EUSAGE = 2,      /* bad command line */
    DRIFT_CTL_EUNREACHABLE = 3 /* the daemon could not be reached (or stopped answering) */
};

/* Global options, parsed before the command (commands may override them). */
typedef struct drift_ctl {
    const char *endpoint;   /* -H, default DRIFT_DEFAULT_ENDPOINT or $DRIFT_ENDPOINT */
    int connect_timeout_ms; /* --connect-timeout */
    int timeout_ms;         /* --timeout (per request) */
} drift_ctl_t;

/* A row of the command table (Knot's knotc style). */
typedef struct drift_ctl_cmd {
    const char *name;
    int (*run)(drift_ctl_t *ctl, int argc, char **argv); /* argv[0] is the command name */
    const char *args;                                    /* usage after the name */
    const char *summary;
} drift_ctl_cmd_t;

/* Opens a connection with the global options; prints the failure and returns
 * the exit code (DRIFT_CTL_EUNREACHABLE or DRIFT_CTL_EUSAGE) when it fails. */
int drift_ctl_connect(const drift_ctl_t *ctl, drift_conn_t **ret_conn);
/* Maps a libdrift return code to a driftctl exit code. */
int drift_ctl_exit_code(int rc);
/* Parses a non-negative integer option; false on garbage. */
bool drift_ctl_parse_ms(const char *s, int *ret_ms);

/* Output formats of query results. */
typedef enum { DRIFT_FMT_TABLE, DRIFT_FMT_EXPANDED, DRIFT_FMT_JSON, DRIFT_FMT_CSV } drift_fmt_t;

/* Prints a successful result in the given format. */
void drift_ctl_print_result(FILE *out, const drift_result_t *r, drift_fmt_t fmt);

/* Commands. */
int drift_ctl_sql(drift_ctl_t *ctl, int argc, char **argv);
/* admin/cmd_index.c: work on <data_dir> files (-D, default $DRIFT_DATA_DIR or ./data). */
int drift_ctl_reindex(drift_ctl_t *ctl, int argc, char **argv);
int drift_ctl_verify(drift_ctl_t *ctl, int argc, char **argv);
/* admin/cmd_ingest.c: JSON lines into a table in batched transactions. */
int drift_ctl_ingest(drift_ctl_t *ctl, int argc, char **argv);
/* admin/cmd_demo.c: the guided tour on a fresh daemon. */
int drift_ctl_demo(drift_ctl_t *ctl, int argc, char **argv);

/* Table kinds of `driftctl ingest`. */
enum { DRIFT_INGEST_AUTO = 0, DRIFT_INGEST_SQL, DRIFT_INGEST_DOC };

typedef struct {
    size_t batch;  /* rows per transaction (0 = 1000) */
    int mode;      /* DRIFT_INGEST_*; AUTO detects it from the table's columns */
    bool progress; /* draw a progress bar on stderr */
    long skip;     /* lines to skip first */
} drift_ingest_opts_t;

typedef struct {
    uint64_t rows;     /* rows committed */
    uint64_t txns;     /* transactions committed */
    long last_line;    /* last line of the last committed batch */
    long bad_line;     /* the malformed line that stopped the run, or 0 */
    int64_t last_seq;  /* commit seq of the last batch, -1 when none */
    double seconds;    /* wall time of the run */
    char errcode[6];   /* SQLSTATE of a refused batch, "" otherwise */
} drift_ingest_stats_t;

/* Ingests the JSON lines of path ("-" = stdin) into table over conn; errors
 * are printed on stderr; returns a driftctl exit code, *st filled either way. */
int drift_ctl_ingest_run(drift_conn_t *conn, const char *table, const char *path, const drift_ingest_opts_t *opts,
                         drift_ingest_stats_t *st);
/* Prints `ingested N rows in M transactions, X rows/s, last seq S`. */
void drift_ctl_ingest_summary(FILE *f, const drift_ingest_stats_t *st);

#endif
