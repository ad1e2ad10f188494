/*
 * admin_message.c - "edix-admin message list|show|find|resend": tracking
 * documents through the hub.  show gives the whole trail of one document:
 * its record, whether its body is still stored, its delivery and attempts,
 * the signed receipt, the status notifications sent about it and every
 * audit record that names it.  resend offers a routed or delivered message
 * to its receiver again, audited.
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

static void
s_delivery_json(edix_buf_t *b, const edix_delivery_t *d)
{
    char last[40] = "", done[40] = "";
    if (d->last_ms)
        edix_time_format(d->last_ms, last, sizeof last);
    if (d->delivered_ms)
        edix_time_format(d->delivered_ms, done, sizeof done);
    edix_buf_adds(b, "{\"receiver\":");
    edix_buf_json_str(b, d->receiver);
    edix_buf_adds(b, ",\"state\":");
    edix_buf_json_str(b, d->state);
    edix_buf_addf(b, ",\"attempts\":%d,\"last_attempt\":", d->attempts);
    edix_buf_json_str(b, d->last_ms ? last : NULL);
    edix_buf_adds(b, ",\"delivered\":");
    edix_buf_json_str(b, d->delivered_ms ? done : NULL);
    edix_buf_add(b, "}", 1);
}

static void
s_show_json(edix_buf_t *b, const edix_msg_t *m, const edix_delivery_t *d, int has_body,
            const edix_audit_rec_t *recs, size_t nrec, const edix_msg_t *notices, size_t nn)
{
    s_msg_json(b, m);
    b->len--; /* reopen the object */
    edix_buf_addf(b, ",\"body\":\"%s\",\"delivery\":", has_body ? "stored" : "purged");
    if (d)
        s_delivery_json(b, d);
    else
        edix_buf_adds(b, "null");
    edix_buf_adds(b, ",\"receipt\":");
    edix_buf_json_str(b, m->receipt);
    edix_buf_adds(b, ",\"notices\":[");
    for (size_t i = 0; i < nn; i++) {
        char at[40];
        edix_time_format(notices[i].received_ms, at, sizeof at);
        edix_buf_adds(b, i ? ",{\"id\":" : "{\"id\":");
        edix_buf_json_str(b, notices[i].id);
        edix_buf_adds(b, ",\"to\":");
        edix_buf_json_str(b, notices[i].receiver);
        edix_buf_adds(b, ",\"state\":");
        edix_buf_json_str(b, notices[i].state);
        edix_buf_addf(b, ",\"time\":\"%s\"}", at);
    }
    edix_buf_adds(b, "],\"trail\":[");
    for (size_t i = 0; i < nrec; i++) {
        char at[40];
        edix_time_format(recs[i].at_ms, at, sizeof at);
        edix_buf_addf(b, "%s{\"seq\":%lld,\"time\":\"%s\",\"actor\":", i ? "," : "",
                      (long long)recs[i].seq, at);
        edix_buf_json_str(b, recs[i].actor);
        edix_buf_adds(b, ",\"event\":");
        edix_buf_json_str(b, recs[i].event);
        edix_buf_adds(b, ",\"details\":");
        edix_buf_json_str(b, recs[i].details);
        edix_buf_add(b, "}", 1);
    }
    edix_buf_adds(b, "]}\n");
}

static void
s_show_text(edix_buf_t *b, const edix_msg_t *m, const edix_delivery_t *d, int has_body,
            const edix_audit_rec_t *recs, size_t nrec, const edix_msg_t *notices, size_t nn)
{
    char at[40];
    edix_time_format(m->received_ms, at, sizeof at);
    edix_buf_addf(b, "message     %s (%s)\nstate       %s\nsender      %s\nreceiver    %s\n", m->id,
                  m->kind, m->state, m->sender, m->receiver ? m->receiver : "-");
    edix_buf_addf(b, "doctype     %s\ndocument id %s\norder ref   %s\nclient id   %s\n",
                  m->doctype ? m->doctype : "-", m->doc_number ? m->doc_number : "-",
                  m->order_ref ? m->order_ref : "-", m->client_id ? m->client_id : "-");
    edix_buf_addf(b, "received    %s (%lld bytes, sha256 %s)\n", at, (long long)m->size, m->sha256);
    edix_buf_addf(b, "body        %s\n",
                  has_body ? "stored" : "purged (retention; size and sha256 are kept)");
    if (d) {
        edix_buf_addf(b, "delivery    %s to %s after %d attempt%s", d->state, d->receiver,
                      d->attempts, d->attempts == 1 ? "" : "s");
        if (d->last_ms) {
            edix_time_format(d->last_ms, at, sizeof at);
            edix_buf_addf(b, ", last %s", at);
        }
        if (d->delivered_ms) {
            edix_time_format(d->delivered_ms, at, sizeof at);
            edix_buf_addf(b, ", acknowledged %s", at);
        }
        edix_buf_add(b, "\n", 1);
    }
    if (m->reasons && *m->reasons)
        edix_buf_addf(b, "reasons     %s\n", m->reasons);
    for (size_t i = 0; i < nn; i++) {
        edix_time_format(notices[i].received_ms, at, sizeof at);
        edix_buf_addf(b, "%s %s to %s, %s (%s)\n", i ? "           " : "notices    ", notices[i].id,
                      notices[i].receiver ? notices[i].receiver : "-", notices[i].state, at);
    }
    if (m->receipt && *m->receipt) {
        /* the signed statement the sender holds, indented */
        edix_buf_adds(b, "receipt:\n");
        for (const char *p = m->receipt; *p;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            edix_buf_addf(b, "  %.*s\n", (int)n, p);
            p += n + (nl ? 1 : 0);
        }
    }
    edix_buf_adds(b, "trail:\n");
    for (size_t i = 0; i < nrec; i++) {
        edix_time_format(recs[i].at_ms, at, sizeof at);
        edix_buf_addf(b, "  %s %-18s %-15s %s\n", at, recs[i].event, recs[i].actor,
                      recs[i].details);
    }
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
    edix_audit_rec_t *recs = NULL;
    edix_msg_t *notices = NULL;
    size_t nrec = 0, nn = 0;
    int has_body = 0;
    /* d is zeroed by the look-up even when there is none: always freed */
    int drc = edix_store_delivery_get(store, m.id, &d, &err), has_d = drc == 0;
    rc = 1;
    if (drc < 0 || (has_body = edix_store_msg_has_body(store, m.id, &err)) < 0 ||
        edix_audit_list(store, m.id, 0, &recs, &nrec, &err) < 0 ||
        edix_store_msg_notices(store, m.id, &notices, &nn, &err) < 0) {
        admin_error("%s", err);
        goto out;
    }
    edix_buf_t b;
    edix_buf_init(&b);
    if (o->json)
        s_show_json(&b, &m, has_d ? &d : NULL, has_body, recs, nrec, notices, nn);
    else
        s_show_text(&b, &m, has_d ? &d : NULL, has_body, recs, nrec, notices, nn);
    fputs(b.data, stdout);
    edix_buf_free(&b);
    rc = 0;
out:
    free(err);
    edix_msgs_free(notices, nn);
    edix_audit_recs_free(recs, nrec);
    edix_delivery_free(&d);
    edix_msg_free(&m);
    return rc;
}

/* Offer a routed or delivered message to its receiver again.  The store
 * change and its audit record commit together; the router picks the
 * pending delivery up at its next scan. */
static int
s_resend(admin_opts_t *o, edix_store_t *store)
{
    char *err = NULL, *receiver = NULL, *was = NULL;
    if (o->nargs != 1)
        return admin_error("usage: message resend MSGID");
    const char *id = o->args[0];
    int rc = edix_store_begin(store, &err);
    if (rc == 0) {
        rc = edix_store_msg_resend(store, id, &receiver, &was, &err);
        if (rc == 0) {
            char *details = xasprintf("receiver=%s previous_state=%s", receiver, was);
            if (edix_audit_append(store, edix_os_user(), "message.resend", id, details, &err) < 0 ||
                edix_store_commit(store, &err) < 0)
                rc = -1;
            free(details);
        }
        if (rc != 0)
            edix_store_rollback(store);
    }
    if (rc == 0) {
        printf("message %s queued again for %s (was %s)\n", id, receiver, was);
        if (edix_store_partner_active(store, receiver, NULL) == 0)
            printf("note: partner %s is suspended; the delivery waits until it is resumed\n",
                   receiver);
    } else {
        admin_error("%s", err);
    }
    free(err);
    free(receiver);
    free(was);
    return rc == 0 ? 0 : 1;
}

int
admin_message(admin_opts_t *o, const char *verb)
{
    if (strcmp(verb, "list") != 0 && strcmp(verb, "show") != 0 && strcmp(verb, "find") != 0 &&
        strcmp(verb, "resend") != 0)
        return admin_error("unknown command 'message %s' (list, show, find, resend)", verb);
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
    else if (strcmp(verb, "resend") == 0)
        rc = s_resend(o, store);
    else
        rc = s_show(o, store);
    edix_store_close(&store);
    edix_config_destroy(&cfg);
    return rc;
}
