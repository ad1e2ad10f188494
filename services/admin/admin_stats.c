/*
 * admin_stats.c - "edix-admin stats": traffic per partner and document
 * type (sent, received, rejected, pending, age of the oldest pending) as a
 * table, as JSON, or in the Prometheus text format for node_exporter's
 * textfile collector.
 *
 * With --output FILE the result is written atomically (temp file, fsync,
 * rename), so a collector never reads half a file; run it from a timer.
 */
#include "admin.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a Prometheus label value: backslash, double quote and newline escaped */
static void
s_prom_label(edix_buf_t *b, const char *name, const char *value)
{
    edix_buf_addf(b, "%s=\"", name);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            edix_buf_addf(b, "\\%c", *p);
        else if (*p == '\n')
            edix_buf_adds(b, "\\n");
        else
            edix_buf_add(b, p, 1);
    }
    edix_buf_add(b, "\"", 1);
}

enum { S_SENT, S_RECEIVED, S_REJECTED, S_PENDING, S_OLDEST };

static const struct {
    const char *name;
    const char *type;
    const char *help;
} s_metrics[] = {
    {"edix_documents_sent_total", "counter", "Documents the partner submitted to the hub."},
    {"edix_documents_received_total", "counter",
     "Documents delivered to the partner and acknowledged by it."},
    {"edix_documents_rejected_total", "counter", "Documents of the partner the hub rejected."},
    {"edix_documents_pending", "gauge",
     "Documents of the partner accepted but not yet delivered or rejected."},
    {"edix_oldest_pending_age_seconds", "gauge",
     "Age of the partner's oldest pending document, 0 when none is pending."},
};

static void
s_prometheus(edix_buf_t *b, const edix_stat_t *rows, size_t n, int64_t now)
{
    for (size_t k = 0; k < sizeof s_metrics / sizeof s_metrics[0]; k++) {
        edix_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", s_metrics[k].name, s_metrics[k].help,
                      s_metrics[k].name, s_metrics[k].type);
        for (size_t i = 0; i < n; i++) {
            const edix_stat_t *r = &rows[i];
            edix_buf_addf(b, "%s{", s_metrics[k].name);
            s_prom_label(b, "partner", r->partner);
            edix_buf_add(b, ",", 1);
            s_prom_label(b, "doctype", r->doctype);
            edix_buf_adds(b, "} ");
            switch (k) {
            case S_SENT:
                edix_buf_addf(b, "%lld\n", (long long)r->sent);
                break;
            case S_RECEIVED:
                edix_buf_addf(b, "%lld\n", (long long)r->received);
                break;
            case S_REJECTED:
                edix_buf_addf(b, "%lld\n", (long long)r->rejected);
                break;
            case S_PENDING:
                edix_buf_addf(b, "%lld\n", (long long)r->pending);
                break;
            default:
                edix_buf_addf(b, "%.3f\n",
                              r->pending && r->oldest_pending_ms
                                  ? (double)(now - r->oldest_pending_ms) / 1000.0
                                  : 0.0);
            }
        }
    }
}

static void
s_json(edix_buf_t *b, const edix_stat_t *rows, size_t n, int64_t now)
{
    edix_buf_add(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        const edix_stat_t *r = &rows[i];
        double age = r->oldest_pending_ms ? (double)(now - r->oldest_pending_ms) / 1000.0 : 0;
        edix_buf_adds(b, i ? ",{\"partner\":" : "{\"partner\":");
        edix_buf_json_str(b, r->partner);
        edix_buf_adds(b, ",\"doctype\":");
        edix_buf_json_str(b, r->doctype);
        edix_buf_addf(b,
                      ",\"sent\":%lld,\"received\":%lld,\"rejected\":%lld,\"pending\":%lld,"
                      "\"oldest_pending_s\":%.1f}",
                      (long long)r->sent, (long long)r->received, (long long)r->rejected,
                      (long long)r->pending, age);
    }
    edix_buf_adds(b, "]\n");
}

static void
s_table(edix_buf_t *b, const edix_stat_t *rows, size_t n, int64_t now)
{
    edix_buf_addf(b, "%-20s %-20s %8s %8s %8s %8s %s\n", "PARTNER", "DOCTYPE", "SENT", "RECEIVED",
                  "REJECTED", "PENDING", "OLDEST-PENDING");
    for (size_t i = 0; i < n; i++) {
        const edix_stat_t *r = &rows[i];
        char oldest[32] = "-";
        if (r->pending && r->oldest_pending_ms)
            snprintf(oldest, sizeof oldest, "%.0fs", (double)(now - r->oldest_pending_ms) / 1000.0);
        edix_buf_addf(b, "%-20s %-20s %8lld %8lld %8lld %8lld %s\n", r->partner, r->doctype,
                      (long long)r->sent, (long long)r->received, (long long)r->rejected,
                      (long long)r->pending, oldest);
    }
}

int
admin_stats(admin_opts_t *o)
{
    char *err = NULL;
    edix_config_t *cfg;
    edix_store_t *store;
    edix_stat_t *rows;
    size_t n;
    if (o->nargs)
        return admin_error("stats takes no arguments");
    if (o->json && o->prometheus)
        return admin_error("stats: --json or --prometheus, not both");
    if (admin_open(o, &cfg, &store))
        return 1;
    int rc = edix_store_stats(store, &rows, &n, &err);
    edix_store_close(&store);
    edix_config_destroy(&cfg);
    if (rc < 0) {
        admin_error("%s", err);
        free(err);
        return 1;
    }
    int64_t now = edix_now_ms();
    edix_buf_t b;
    edix_buf_init(&b);
    if (o->prometheus)
        s_prometheus(&b, rows, n, now);
    else if (o->json)
        s_json(&b, rows, n, now);
    else
        s_table(&b, rows, n, now);
    edix_stats_free(rows, n);
    rc = 0;
    if (o->output) {
        /* 0644: the collector runs as another user; these are counts only */
        if (edix_file_write(o->output, b.data, b.len, 0644, 0, &err) < 0)
            rc = admin_error("%s", err);
    } else {
        fputs(b.data, stdout);
    }
    edix_buf_free(&b);
    free(err);
    return rc;
}
