/* admin/format.c — driftctl's result printers: aligned table, expanded
 * records (\x), JSON lines and CSV.
 *
 * Single-threaded, no state: each call prints one result. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "admin/driftctl.h"

/* Display width of UTF-8 text: code points (continuation bytes do not count). */
static size_t s_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* A cell as one line of display text (caller frees): NULL shows as "NULL",
 * newlines and tabs are escaped so that rows stay on one line. */
static char *s_cell_text(const drift_result_t *r, size_t row, size_t col)
{
    char *t = drift_result_text(r, row, col);
    if (!t)
        return strdup(drift_result_is_null(r, row, col) ? "NULL" : "?");
    size_t extra = 0;
    for (const char *p = t; *p; p++)
        extra += (*p == '\n' || *p == '\r' || *p == '\t');
    if (!extra)
        return t;
    char *o = malloc(strlen(t) + extra + 1), *q = o;
    if (!o)
        return t;
    for (const char *p = t; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            *q++ = '\\';
            *q++ = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
        } else {
            *q++ = *p;
        }
    }
    *q = 0;
    free(t);
    return o;
}

/* Prints s padded to width w, left or right aligned. */
static void s_pad(FILE *out, const char *s, size_t w, bool right)
{
    size_t sw = s_width(s);
    if (right)
        for (size_t i = sw; i < w; i++)
            fputc(' ', out);
    fputs(s, out);
    if (!right)
        for (size_t i = sw; i < w; i++)
            fputc(' ', out);
}

/* The footer of a statement without a result set. */
static void s_print_status(FILE *out, const drift_result_t *r)
{
    int64_t n, seq;
    fputs("OK", out);
    if (drift_result_affected(r, &n))
        fprintf(out, ", %" PRId64 " row%s affected", n, n == 1 ? "" : "s");
    if (drift_result_seq(r, &seq) && drift_result_affected(r, NULL))
        fprintf(out, " (seq %" PRId64 ")", seq);
    fputc('\n', out);
}

/* Aligned table, psql style. */
static void s_print_table(FILE *out, const drift_result_t *r)
{
    size_t nc = drift_result_ncolumns(r), nr = drift_result_nrows(r);
    char **cells = calloc(nc * nr + 1, sizeof *cells);
    size_t *w = calloc(nc + 1, sizeof *w);
    bool *right = calloc(nc + 1, sizeof *right);
    if (!cells || !w || !right) {
        fputs("driftctl: out of memory\n", stderr);
        goto out;
    }
    for (size_t c = 0; c < nc; c++) {
        w[c] = s_width(drift_result_column_name(r, c));
        right[c] = nr > 0;
    }
    for (size_t i = 0; i < nr; i++)
        for (size_t c = 0; c < nc; c++) {
            char *t = s_cell_text(r, i, c);
            cells[i * nc + c] = t;
            size_t tw = t ? s_width(t) : 0;
            if (tw > w[c])
                w[c] = tw;
            drift_type_t ty = drift_result_type(r, i, c);
            if (ty != DRIFT_TYPE_INT && ty != DRIFT_TYPE_DOUBLE && ty != DRIFT_TYPE_NULL)
                right[c] = false;
        }
    for (size_t c = 0; c < nc; c++) {
        fputs(c ? " | " : " ", out);
        s_pad(out, drift_result_column_name(r, c), w[c], false);
    }
    fputs(" \n", out);
    for (size_t c = 0; c < nc; c++) {
        fputs(c ? "-+-" : "-", out);
        for (size_t k = 0; k < w[c]; k++)
            fputc('-', out);
    }
    fputs("-\n", out);
    for (size_t i = 0; i < nr; i++) {
        for (size_t c = 0; c < nc; c++) {
            fputs(c ? " | " : " ", out);
            s_pad(out, cells[i * nc + c] ? cells[i * nc + c] : "", w[c], right[c]);
        }
        fputs(" \n", out);
    }
    fprintf(out, "(%zu row%s)\n", nr, nr == 1 ? "" : "s");
out:
    if (cells)
        for (size_t i = 0; i < nc * nr; i++)
            free(cells[i]);
    free(cells);
    free(w);
    free(right);
}

/* Expanded display: one block per row, one line per column (\x). */
static void s_print_expanded(FILE *out, const drift_result_t *r)
{
    size_t nc = drift_result_ncolumns(r), nr = drift_result_nrows(r), nw = 0;
    for (size_t c = 0; c < nc; c++) {
        size_t cw = s_width(drift_result_column_name(r, c));
        if (cw > nw)
            nw = cw;
    }
    for (size_t i = 0; i < nr; i++) {
        fprintf(out, "-[ RECORD %zu ]-\n", i + 1);
        for (size_t c = 0; c < nc; c++) {
            char *t = s_cell_text(r, i, c);
            s_pad(out, drift_result_column_name(r, c), nw, false);
            fprintf(out, " | %s\n", t ? t : "");
            free(t);
        }
    }
    if (nr == 0)
        fputs("(0 rows)\n", out);
}

/* Prints a JSON string literal. */
static void s_json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", out);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

/* One JSON object per statement, on one line. */
static void s_print_json(FILE *out, const drift_result_t *r)
{
    size_t nc = drift_result_ncolumns(r), nr = drift_result_nrows(r);
    int64_t n;
    bool first = true;
    fputc('{', out);
    if (nc) {
        fputs("\"columns\":[", out);
        for (size_t c = 0; c < nc; c++) {
            if (c)
                fputc(',', out);
            s_json_str(out, drift_result_column_name(r, c));
        }
        fputs("],\"rows\":[", out);
        for (size_t i = 0; i < nr; i++) {
            fputs(i ? ",[" : "[", out);
            for (size_t c = 0; c < nc; c++) {
                char *j = drift_result_json(r, i, c);
                fprintf(out, "%s%s", c ? "," : "", j ? j : "null");
                free(j);
            }
            fputc(']', out);
        }
        fputc(']', out);
        first = false;
    }
    if (drift_result_affected(r, &n)) {
        fprintf(out, "%s\"affected\":%" PRId64, first ? "" : ",", n);
        first = false;
    }
    if (drift_result_seq(r, &n))
        fprintf(out, "%s\"seq\":%" PRId64, first ? "" : ",", n);
    fputs("}\n", out);
}

/* Prints one CSV field (RFC 4180): quoted when it holds a separator, quote or line break. */
static void s_csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n") && *s && s[0] != ' ' && s[strlen(s) - 1] != ' ') {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* CSV with a header line; NULL is an empty unquoted field, "" is "". */
static void s_print_csv(FILE *out, const drift_result_t *r)
{
    size_t nc = drift_result_ncolumns(r), nr = drift_result_nrows(r);
    if (!nc)
        return;
    for (size_t c = 0; c < nc; c++) {
        if (c)
            fputc(',', out);
        s_csv_field(out, drift_result_column_name(r, c));
    }
    fputs("\r\n", out);
    for (size_t i = 0; i < nr; i++) {
        for (size_t c = 0; c < nc; c++) {
            if (c)
                fputc(',', out);
            if (drift_result_is_null(r, i, c))
                continue;
            char *t = drift_result_text(r, i, c);
            s_csv_field(out, t ? t : "");
            free(t);
        }
        fputs("\r\n", out);
    }
}

void drift_ctl_print_result(FILE *out, const drift_result_t *r, drift_fmt_t fmt)
{
    switch (fmt) {
    case DRIFT_FMT_JSON: s_print_json(out, r); break;
    case DRIFT_FMT_CSV: s_print_csv(out, r); break;
    case DRIFT_FMT_EXPANDED:
        if (drift_result_ncolumns(r))
            s_print_expanded(out, r);
        else
            s_print_status(out, r);
        break;
    default:
        if (drift_result_ncolumns(r))
            s_print_table(out, r);
        else
            s_print_status(out, r);
        break;
    }
}
