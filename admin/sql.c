/* admin/sql.c — `driftctl sql`: an interactive SQL shell (libedit), `-e
 * STATEMENT`, `-f FILE`, or statements piped on stdin.
 *
 * Input is split into statements at `;` outside quotes and comments, so a
 * statement may span lines; a final statement without `;` runs at the end of
 * -e/-f input. Backslash commands (\timing, \x, \q, \?) are recognised at the
 * start of a statement. In a file (or piped stdin) the first failing statement
 * stops the run with FILE:LINE and exit code 1; in the interactive shell errors
 * are printed and the shell goes on.
 *
 * Single-threaded; one libdrift connection. */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <editline/readline.h>

#include "admin/driftctl.h"

/* Where a statement is being collected. */
typedef enum { S_NORMAL, S_SQUOTE, S_DQUOTE, S_COMMENT } s_lex_t;

typedef struct {
    drift_conn_t *conn;
    drift_fmt_t fmt;
    bool timing;
    bool interactive;   /* errors do not stop the input */
    bool quit;          /* \q seen */
    const char *source; /* file name for error messages, or NULL */
    /* the statement being collected */
    char *buf;
    size_t len, cap;
    s_lex_t lex;
    long start_line; /* line of the statement's first character */
    int status;      /* exit code so far */
    char *hist_path;
} s_shell_t;

/* Ctrl-C in the shell: jump back to the prompt while readline waits, else
 * ask libdrift to abandon the running statement. */
static sigjmp_buf s_sigint_jmp;
static volatile sig_atomic_t s_sigint_armed;
static volatile sig_atomic_t s_cancel; /* Ctrl-C while a statement runs: libdrift abandons it */

/* Appends one byte to the statement buffer. */
static int s_append(s_shell_t *sh, char ch)
{
    if (sh->len + 2 > sh->cap) {
        size_t cap = sh->cap ? sh->cap * 2 : 256;
        char *p = realloc(sh->buf, cap);
        if (!p)
            return -ENOMEM;
        sh->buf = p;
        sh->cap = cap;
    }
    sh->buf[sh->len++] = ch;
    sh->buf[sh->len] = 0;
    return 0;
}

/* Milliseconds since an arbitrary point (monotonic). */
static double s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Line (within the statement, 0-based) holding 1-based character position pos of sql. */
static long s_line_of_pos(const char *sql, int64_t pos)
{
    long line = 0;
    int64_t chars = 0;
    for (const char *p = sql; *p && chars < pos - 1; p++) {
        if (((unsigned char)*p & 0xc0) != 0x80)
            chars++;
        if (*p == '\n')
            line++;
    }
    return line;
}

/* Prints a failed statement's error, with FILE:LINE when reading a file. */
static void s_print_error(s_shell_t *sh, const char *sql, const drift_result_t *r, long line)
{
    const char *code = r ? drift_result_errcode(r) : drift_conn_errcode(sh->conn);
    const char *msg = r ? drift_result_errmsg(r) : drift_conn_errmsg(sh->conn);
    int64_t pos = r ? drift_result_errpos(r) : 0;
    if (pos > 0)
        line += s_line_of_pos(sql, pos);
    fflush(stdout);
    if (sh->source)
        fprintf(stderr, "%s:%ld: ", sh->source, line);
    fprintf(stderr, "ERROR %s: %s", *code ? code : "?????", msg);
    if (pos > 0)
        fprintf(stderr, " (at character %lld)", (long long)pos);
    fputc('\n', stderr);
}

/* Runs one complete statement (without its `;`); returns its exit code. */
static int s_run(s_shell_t *sh, const char *sql, long line)
{
    drift_result_t *r = NULL;
    s_cancel = 0;
    double t0 = s_ms();
    int rc = drift_exec(sh->conn, sql, NULL, 0, &r);
    double dt = s_ms() - t0;
    int ec = rc == DRIFT_CLIENT_EINTR ? DRIFT_CTL_ESTATEMENT : drift_ctl_exit_code(rc);
    if (rc == 0)
        drift_ctl_print_result(stdout, r, sh->fmt);
    else
        s_print_error(sh, sql, r, line);
    if (sh->timing)
        printf("Time: %.3f ms\n", dt);
    fflush(stdout);
    drift_result_free(&r);
    return ec;
}

/* Help of the backslash commands. */
static void s_help(void)
{
    printf("Statements end with ';' and may span lines.\n"
           "  \\timing   toggle printing the time each statement took\n"
           "  \\x        toggle expanded display (one line per column)\n"
           "  \\q        quit\n"
           "  \\?        this help\n");
}

/* Runs a backslash command (the trimmed line); returns an exit code. */
static int s_backslash(s_shell_t *sh, const char *cmd, long line)
{
    char word[32] = {0};
    sscanf(cmd, "%31s", word);
    if (strcmp(word, "\\q") == 0) {
        sh->quit = true;
    } else if (strcmp(word, "\\timing") == 0) {
        sh->timing = !sh->timing;
        printf("Timing is %s.\n", sh->timing ? "on" : "off");
    } else if (strcmp(word, "\\x") == 0) {
        if (sh->fmt == DRIFT_FMT_TABLE || sh->fmt == DRIFT_FMT_EXPANDED) {
            sh->fmt = sh->fmt == DRIFT_FMT_TABLE ? DRIFT_FMT_EXPANDED : DRIFT_FMT_TABLE;
            printf("Expanded display is %s.\n", sh->fmt == DRIFT_FMT_EXPANDED ? "on" : "off");
        }
    } else if (strcmp(word, "\\?") == 0 || strcmp(word, "\\h") == 0) {
        s_help();
    } else {
        fflush(stdout);
        if (sh->source)
            fprintf(stderr, "%s:%ld: ", sh->source, line);
        fprintf(stderr, "invalid command %s; try \\? for help\n", word);
        return DRIFT_CTL_ESTATEMENT;
    }
    fflush(stdout);
    return DRIFT_CTL_OK;
}

/* Runs the collected statement (if it has more than blanks) and resets the buffer. */
static int s_flush(s_shell_t *sh)
{
    int ec = DRIFT_CTL_OK;
    size_t n = sh->len;
    while (n > 0 &&
           (sh->buf[n - 1] == ' ' || sh->buf[n - 1] == '\t' || sh->buf[n - 1] == '\n' || sh->buf[n - 1] == '\r'))
        n--;
    if (n > 0) {
        sh->buf[n] = 0;
        if (sh->hist_path) {
            /* One history entry per statement, lines joined with spaces, with
             * its `;` so that recalling it runs it again. */
            char *h = NULL;
            if (asprintf(&h, "%s;", sh->buf) >= 0) {
                for (char *p = h; *p; p++)
                    if (*p == '\n' || *p == '\r')
                        *p = ' ';
                add_history(h);
                write_history(sh->hist_path);
                free(h);
            }
        }
        ec = s_run(sh, sh->buf, sh->start_line);
    }
    sh->len = 0;
    if (sh->buf)
        sh->buf[0] = 0;
    return ec;
}

/* Feeds one input line (without its newline). Runs each statement completed
 * by a `;`; returns the first non-zero exit code (and stops there). */
static int s_feed(s_shell_t *sh, const char *line, long lineno)
{
    /* A backslash command at the start of a statement takes the whole line. */
    if (sh->len == 0 && sh->lex == S_NORMAL) {
        const char *p = line + strspn(line, " \t");
        if (*p == '\\') {
            if (sh->hist_path) {
                add_history(p);
                write_history(sh->hist_path);
            }
            return s_backslash(sh, p, lineno);
        }
    }
    for (const char *p = line; *p; p++) {
        char ch = *p;
        switch (sh->lex) {
        case S_SQUOTE:
        case S_DQUOTE:
            if ((sh->lex == S_SQUOTE && ch == '\'') || (sh->lex == S_DQUOTE && ch == '"'))
                sh->lex = S_NORMAL;
            break;
        case S_COMMENT:
            if (ch == '*' && p[1] == '/') {
                sh->lex = S_NORMAL;
                p++;
            }
            continue; /* comments are not sent */
        case S_NORMAL:
            if (ch == '-' && p[1] == '-')
                goto eol; /* comment to the end of the line */
            if (ch == '/' && p[1] == '*') {
                sh->lex = S_COMMENT;
                p++;
                continue;
            }
            if (ch == ';') {
                int ec = s_flush(sh);
                if (ec && !sh->interactive)
                    return ec;
                if (ec)
                    sh->status = ec;
                continue;
            }
            if (ch == '\'')
                sh->lex = S_SQUOTE;
            else if (ch == '"')
                sh->lex = S_DQUOTE;
            break;
        }
        if (sh->len == 0) {
            if (ch == ' ' || ch == '\t' || ch == '\r')
                continue; /* statements start at their first visible character */
            sh->start_line = lineno;
        }
        if (s_append(sh, ch) < 0) {
            fprintf(stderr, "driftctl: out of memory\n");
            return DRIFT_CTL_ESTATEMENT;
        }
    }
eol:
    if (sh->len > 0 && s_append(sh, '\n') < 0)
        return DRIFT_CTL_ESTATEMENT;
    return DRIFT_CTL_OK;
}

/* End of -e/-f input: runs a last statement that had no `;`. */
static int s_finish(s_shell_t *sh)
{
    if (sh->lex == S_SQUOTE || sh->lex == S_DQUOTE) {
        if (sh->source)
            fprintf(stderr, "%s:%ld: ", sh->source, sh->start_line);
        fprintf(stderr, "ERROR 42601: unterminated quoted string at end of input\n");
        return DRIFT_CTL_ESTATEMENT;
    }
    return s_flush(sh);
}

/* Runs every statement of a stream (a file or piped stdin). */
static int s_run_stream(s_shell_t *sh, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int ec = DRIFT_CTL_OK;
    while (!sh->quit && (n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        ec = s_feed(sh, line, lineno);
        if (ec)
            goto out;
    }
    if (!sh->quit)
        ec = s_finish(sh);
out:
    free(line);
    return ec;
}

/* Runs the -e text (may hold several statements, the last `;` is optional). */
static int s_run_string(s_shell_t *sh, const char *text)
{
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    if (!in) {
        fprintf(stderr, "driftctl: %s\n", strerror(errno));
        return DRIFT_CTL_ESTATEMENT;
    }
    int ec = s_run_stream(sh, in);
    fclose(in);
    return ec;
}

/* SIGINT while readline waits: jump back to the prompt (psql does the same);
 * libedit has already put the terminal back in cooked mode. */
static void s_on_sigint(int sig)
{
    if (s_sigint_armed) {
        s_sigint_armed = 0;
        siglongjmp(s_sigint_jmp, 1);
    }
    s_cancel = 1;
}

/* readline() that returns NULL with *ret_interrupted set on Ctrl-C (NULL alone at EOF). */
static char *s_readline(const char *prompt, bool *ret_interrupted)
{
    if (sigsetjmp(s_sigint_jmp, 1)) {
        *ret_interrupted = true;
        return NULL;
    }
    s_sigint_armed = 1;
    char *line = readline(prompt);
    s_sigint_armed = 0;
    return line;
}

/* The interactive shell on a terminal: libedit with a history file. */
static int s_interactive(s_shell_t *sh)
{
    const char *hp = getenv("DRIFTCTL_HISTORY");
    if (hp && *hp) {
        sh->hist_path = strdup(hp);
    } else if (getenv("HOME")) {
        if (asprintf(&sh->hist_path, "%s/.driftctl_history", getenv("HOME")) < 0)
            sh->hist_path = NULL;
    }
    rl_readline_name = "driftctl";
    using_history();
    stifle_history(1000);
    if (sh->hist_path)
        read_history(sh->hist_path);
    printf("driftctl sql — connected to %s (%s). Type \\? for help, \\q to quit.\n",
           drift_conn_server(sh->conn)[0] ? drift_conn_server(sh->conn) : "driftdb", "end statements with ;");
    fflush(stdout);
    /* Ctrl-C drops the statement being typed, or abandons the running one
     * (client side: it may still complete on the server), instead of ending the shell. */
    struct sigaction sa = {.sa_handler = s_on_sigint}, old_sa;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);
    drift_conn_set_interrupt(sh->conn, &s_cancel);
    long lineno = 0;
    while (!sh->quit) {
        const char *prompt = sh->lex == S_SQUOTE ? "drift'> " : sh->len ? "drift-> " : "drift=> ";
        bool interrupted = false;
        char *line = s_readline(prompt, &interrupted);
        if (interrupted) {
            sh->len = 0;
            sh->lex = S_NORMAL;
            if (sh->buf)
                sh->buf[0] = 0;
            fputs("^C\n", stdout);
            fflush(stdout);
            continue;
        }
        if (!line) {
            putchar('\n');
            break;
        }
        s_feed(sh, line, ++lineno);
        free(line);
    }
    drift_conn_set_interrupt(sh->conn, NULL);
    sigaction(SIGINT, &old_sa, NULL);
    free(sh->hist_path);
    sh->hist_path = NULL;
    return DRIFT_CTL_OK;
}

/* Usage of `driftctl sql`. */
static void s_usage(FILE *f)
{
    fprintf(f, "Usage: driftctl [-H ENDPOINT] sql [-H ENDPOINT] [-e STATEMENT | -f FILE] [--json | --csv] [-x]\n"
               "                [--timing] [--as-of @seq:N|TIMESTAMP]\n"
               "  -e STATEMENT   run the statement(s) and exit\n"
               "  -f FILE        run the statements of FILE ('-' = stdin); stop at the first error\n"
               "  --json         one JSON object per statement: {\"columns\",\"rows\",\"affected\",\"seq\"}\n"
               "  --csv          CSV with a header line (NULL is an empty field)\n"
               "  -x             expanded display; --timing  print each statement's time\n"
               "  --as-of X      run every read AS OF commit seq N (@seq:N or N) or an RFC 3339 time\n"
               "Without -e/-f: an interactive shell on a terminal (history in $DRIFTCTL_HISTORY or\n"
               "~/.driftctl_history), else the statements read from stdin.\n");
}

int drift_ctl_sql(drift_ctl_t *ctl, int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_CSV, OPT_TIMING, OPT_AS_OF };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},    {"execute", required_argument, NULL, 'e'},
        {"file", required_argument, NULL, 'f'},    {"json", no_argument, NULL, OPT_JSON},
        {"csv", no_argument, NULL, OPT_CSV},       {"expanded", no_argument, NULL, 'x'},
        {"timing", no_argument, NULL, OPT_TIMING}, {"as-of", required_argument, NULL, OPT_AS_OF},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    s_shell_t sh = {.fmt = DRIFT_FMT_TABLE};
    const char *exec = NULL, *file = NULL, *as_of = NULL;
    int opt, ec;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "H:e:f:xh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'H': ctl->endpoint = optarg; break;
        case 'e': exec = optarg; break;
        case 'f': file = optarg; break;
        case 'x': sh.fmt = DRIFT_FMT_EXPANDED; break;
        case OPT_JSON: sh.fmt = DRIFT_FMT_JSON; break;
        case OPT_CSV: sh.fmt = DRIFT_FMT_CSV; break;
        case OPT_TIMING: sh.timing = true; break;
        case OPT_AS_OF: as_of = optarg; break;
        case 'h': s_usage(stdout); return DRIFT_CTL_OK;
        default: s_usage(stderr); return DRIFT_CTL_EUSAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "driftctl sql: unexpected argument '%s'\n", argv[optind]);
        s_usage(stderr);
        return DRIFT_CTL_EUSAGE;
    }
    if (exec && file) {
        fprintf(stderr, "driftctl sql: -e and -f cannot be combined\n");
        return DRIFT_CTL_EUSAGE;
    }
    FILE *in = NULL;
    if (file) {
        in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
        if (!in) {
            fprintf(stderr, "driftctl sql: cannot open %s: %s\n", file, strerror(errno));
            return DRIFT_CTL_EUSAGE;
        }
    }
    ec = drift_ctl_connect(ctl, &sh.conn);
    if (ec)
        goto out;
    if (as_of && drift_conn_set_as_of(sh.conn, as_of) < 0) {
        fprintf(stderr, "driftctl sql: --as-of: %s\n", drift_conn_errmsg(sh.conn));
        ec = DRIFT_CTL_EUSAGE;
        goto out;
    }
    if (exec) {
        ec = s_run_string(&sh, exec);
    } else if (file) {
        sh.source = strcmp(file, "-") == 0 ? "<stdin>" : file;
        ec = s_run_stream(&sh, in);
    } else if (isatty(STDIN_FILENO)) {
        sh.interactive = true;
        ec = s_interactive(&sh);
    } else {
        sh.source = "<stdin>";
        ec = s_run_stream(&sh, stdin);
    }
out:
    if (in && in != stdin)
        fclose(in);
    drift_close(&sh.conn);
    free(sh.buf);
    return ec;
}
