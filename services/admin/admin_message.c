/*
 * admin_message.c - "edix-admin message list|show|find" and "stats":
 * tracking documents through the hub.  show gives the whole trail of one
 * document: its record, its delivery and every audit record that names it,
 * and the status notifications sent about it.
 */
#include "admin.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_states[] = {"accepted", "validated", "routed", "delivered", "rejected", NULL};

static void
s_msg_json(edix_buf_t *b, const edix_msg_t *m)
{
    char at[40], upd[40];
    edix_time_format(m->received_ms, at, sizeof at);
    edix_time_format(m->updated_ms, upd, sizeof upd);
    edix_buf_adds(b, "{\"id\":");
    edix_buf_json_str(b, m->id);
    edix_buf_adds(b, ",\"kind\":");
    edix_buf_json_str(b, m->kind);
    edix_buf_adds(b, ",\"sender\":");
    edix_buf_json_str(b, m->sender);
    edix_buf_adds(b, ",\"receiver\":");
    edix_buf_json_str(b, m->receiver);
    edix_buf_adds(b, ",\"client_id\":");
    edix_buf_json_str(b, m->client_id);
    edix_buf_adds(b, ",\"doctype\":");
    edix_buf_json_str(b, m->doctype);
    edix_buf_adds(b, ",\"state\":");
    edix_buf_json_str(b, m->state);
    edix_buf_adds(b, ",\"document_id\":");
    edix_buf_json_str(b, m->doc_number);
    edix_buf_adds(b, ",\"order_ref\":");
    edix_buf_json_str(b, m->order_ref);
    edix_buf_adds(b, ",\"ref\":");
    edix_buf_json_str(b, m->ref);
    edix_buf_addf(b, ",\"size\":%lld,\"sha256\":", (long long)m->size);
    edix_buf_json_str(b, m->sha256);
    edix_buf_adds(b, ",\"received\":");
    edix_buf_json_str(b, at);
    edix_buf_adds(b, ",\"updated\":");
    edix_buf_json_str(b, upd);
    edix_buf_addf(b, ",\"reasons\":%s}", m->reasons && *m->reasons ? m->reasons : "[]");
}

static int
s_list(admin_opts_t *o, edix_store_t *store, const char *business_id)
{
    char *err = NULL;
    edix_msg_t *list;
    size_t n;
    if (o->state) {
        int ok = 0;
        for (const char **s = s_states; *s; s++)
            ok |= strcmp(*s, o->state) == 0;
        if (!ok)
            return admin_error("--state %s: use accepted, validated, routed, delivered or "
                               "rejected",
                               o->state);
    }
    if (edix_store_msg_list(store, o->partner, o->state, business_id, o->limit ? o->limit : 1000,
                            &list, &n, &err) < 0) {
        admin_error("%s", err);
        free(err);
        return 1;
    }
    if (o->json) {
        edix_buf_t b;
        edix_buf_init(&b);
        edix_buf_add(&b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                edix_buf_add(&b, ",", 1);
            s_msg_json(&b, &list[i]);
        }
        edix_buf_add(&b, "]", 1);
        puts(b.data);
        edix_buf_free(&b);
    } else {
        if (n)
            printf("%-24s %-24s %-10s %-14s %-14s %-20s %s\n", "MSGID", "RECEIVED", "STATE",
                   "SENDER", "RECEIVER", "DOCTYPE", "DOCUMENT-ID");
        for (size_t i = 0; i < n; i++) {
            char at[40];
            edix_time_format(list[i].received_ms, at, sizeof at);
            printf("%-24s %-24s %-10s %-14s %-14s %-20s %s\n", list[i].id, at, list[i].state,
                   list[i].sender, list[i].receiver ? list[i].receiver : "-",
                   list[i].doctype ? list[i].doctype : "-",
                   list[i].doc_number ? list[i].doc_number : "-");
        }
        if (!n && business_id)
            printf("no message with document or order id '%s'\n", business_id);
    }
    edix_msgs_free(list, n);
    return 0;
}

static int
s_show(admin_opts_t *o, edix_store_t *store)
{
    char *err = NULL;
    if (o->nargs != 1)
        return admin_error("usage: message show MSGID [--json]");
    edix_msg_t m;
    int rc = edix_store_msg_get(store, o->args[0], &m, &err);
    if (rc == 1)
        return admin_error("no message '%s' (see edix-admin message list)", o->args[0]);
    if (rc < 0) {
        admin_error("%s", err);
        free(err);
        return 1;
    }
    edix_delivery_t d;
    int has_d = edix_store_delivery_get(store, m.id, &d, NULL) == 0;
    edix_audit_rec_t *recs = NULL;
    size_t nrec = 0;
    edix_audit_list(store, m.id, 0, &recs, &nrec, NULL);
    edix_buf_t b;
    edix_buf_init(&b);
    if (o->json) {
        s_msg_json(&b, &m);
        b.len--; /* reopen the object */
        edix_buf_adds(&b, ",\"delivery\":");
        if (has_d) {
            edix_buf_adds(&b, "{\"receiver\":");
            edix_buf_json_str(&b, d.receiver);
            edix_buf_adds(&b, ",\"state\":");
            edix_buf_json_str(&b, d.state);
            edix_buf_addf(&b, ",\"attempts\":%d}", d.attempts);
        } else {
            edix_buf_adds(&b, "null");
        }
        edix_buf_adds(&b, ",\"receipt\":");
        edix_buf_json_str(&b, m.receipt);
        edix_buf_adds(&b, ",\"trail\":[");
        for (size_t i = 0; i < nrec; i++) {
            char at[40];
            edix_time_format(recs[i].at_ms, at, sizeof at);
            edix_buf_addf(&b, "%s{\"seq\":%lld,\"time\":\"%s\",\"actor\":", i ? "," : "",
                          (long long)recs[i].seq, at);
            edix_buf_json_str(&b, recs[i].actor);
            edix_buf_adds(&b, ",\"event\":");
            edix_buf_json_str(&b, recs[i].event);
            edix_buf_adds(&b, ",\"details\":");
            edix_buf_json_str(&b, recs[i].details);
            edix_buf_add(&b, "}", 1);
        }
        edix_buf_adds(&b, "]}\n");
    } else {
        char at[40];
        edix_time_format(m.received_ms, at, sizeof at);
        edix_buf_addf(&b, "message     %s (%s)\nstate       %s\nsender      %s\nreceiver    %s\n",
                      m.id, m.kind, m.state, m.sender, m.receiver ? m.receiver : "-");
        edix_buf_addf(&b, "doctype     %s\ndocument id %s\norder ref   %s\nclient id   %s\n",
                      m.doctype ? m.doctype : "-", m.doc_number ? m.doc_number : "-",
                      m.order_ref ? m.order_ref : "-", m.client_id ? m.client_id : "-");
        edix_buf_addf(&b, "received    %s (%lld bytes, sha256 %s)\n", at, (long long)m.size,
                      m.sha256);
        if (has_d)
            edix_buf_addf(&b, "delivery    %s to %s after %d attempt%s\n", d.state, d.receiver,
                          d.attempts, d.attempts == 1 ? "" : "s");
        if (m.reasons && *m.reasons)
            edix_buf_addf(&b, "reasons     %s\n", m.reasons);
        edix_buf_adds(&b, "trail:\n");
        for (size_t i = 0; i < nrec; i++) {
            edix_time_format(recs[i].at_ms, at, sizeof at);
            edix_buf_addf(&b, "  %s %-18s %-15s %s\n", at, recs[i].event, recs[i].actor,
                          recs[i].details);
        }
    }
    fputs(b.data, stdout);
    edix_buf_free(&b);
    edix_audit_recs_free(recs, nrec);
    if (has_d)
        edix_delivery_free(&d);
    edix_msg_free(&m);
    return 0;
}

int
admin_message(admin_opts_t *o, const char *verb)
{
    if (strcmp(verb, "list") != 0 && strcmp(verb, "show") != 0 && strcmp(verb, "find") != 0)
        return admin_error("unknown command 'message %s' (list, show, find)", verb);
    if (strcmp(verb, "find") == 0 && o->nargs != 1)
        return admin_error("usage: message find BUSINESS-ID [--json]");
    if (strcmp(verb, "list") == 0 && o->nargs)
        return admin_error("message list takes no arguments");
    edix_config_t *cfg;
    edix_store_t *store;
    if (admin_open(o, &cfg, &store))
        return 1;
    int rc;
    if (strcmp(verb, "list") == 0)
        rc = s_list(o, store, NULL);
    else if (strcmp(verb, "find") == 0)
        rc = s_list(o, store, o->args[0]);
    else
        rc = s_show(o, store);
    edix_store_close(&store);
    edix_config_destroy(&cfg);
    return rc;
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
    if (o->json)
        edix_buf_add(&b, "[", 1);
    else
        edix_buf_addf(&b, "%-20s %-20s %8s %8s %8s %8s %s\n", "PARTNER", "DOCTYPE", "SENT",
                      "RECEIVED", "REJECTED", "PENDING", "OLDEST-PENDING");
    for (size_t i = 0; i < n; i++) {
        edix_stat_t *r = &rows[i];
        double age = r->oldest_pending_ms ? (double)(now - r->oldest_pending_ms) / 1000.0 : 0;
        if (o->json) {
            edix_buf_adds(&b, i ? ",{\"partner\":" : "{\"partner\":");
            edix_buf_json_str(&b, r->partner);
            edix_buf_adds(&b, ",\"doctype\":");
            edix_buf_json_str(&b, r->doctype);
            edix_buf_addf(&b,
                          ",\"sent\":%lld,\"received\":%lld,\"rejected\":%lld,\"pending\":%lld,"
                          "\"oldest_pending_s\":%.1f}",
                          (long long)r->sent, (long long)r->received, (long long)r->rejected,
                          (long long)r->pending, age);
        } else {
            char oldest[32] = "-";
            if (r->pending)
                snprintf(oldest, sizeof oldest, "%.0fs", age);
            edix_buf_addf(&b, "%-20s %-20s %8lld %8lld %8lld %8lld %s\n", r->partner, r->doctype,
                          (long long)r->sent, (long long)r->received, (long long)r->rejected,
                          (long long)r->pending, oldest);
        }
    }
    if (o->json)
        edix_buf_adds(&b, "]\n");
    fputs(b.data, stdout);
    edix_buf_free(&b);
    edix_stats_free(rows, n);
    return 0;
}
