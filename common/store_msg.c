/*
 * store_msg.c - messages, their bodies and their deliveries.  Part of the
 * store module.  Writes happen inside the caller's transaction; state
 * changes are conditional on the state the caller expects, so two workers
 * racing for one message cannot both move it.
 */
#include "store_int.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define S_MSG_COLUMNS                                                                              \
    "id, sender, client_id, receiver, kind, ref, doctype, state, size, sha256, received_ms,"       \
    " updated_ms, receipt, receipt_sig, reasons, doc_number, order_ref"

void
edix_msg_free(edix_msg_t *m)
{
    if (!m)
        return;
    free(m->id);
    free(m->sender);
    free(m->client_id);
    free(m->receiver);
    free(m->kind);
    free(m->ref);
    free(m->doctype);
    free(m->state);
    free(m->sha256);
    free(m->receipt);
    free(m->signature);
    free(m->reasons);
    free(m->doc_number);
    free(m->order_ref);
    memset(m, 0, sizeof *m);
}

void
edix_msgs_free(edix_msg_t *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        edix_msg_free(&list[i]);
    free(list);
}

void
edix_ids_free(char **ids, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(ids[i]);
    free(ids);
}

static void
s_read_msg(sqlite3_stmt *st, edix_msg_t *m)
{
    m->id = store_col_text(st, 0);
    m->sender = store_col_text(st, 1);
    m->client_id = store_col_text(st, 2);
    m->receiver = store_col_text(st, 3);
    m->kind = store_col_text(st, 4);
    m->ref = store_col_text(st, 5);
    m->doctype = store_col_text(st, 6);
    m->state = store_col_text(st, 7);
    m->size = sqlite3_column_int64(st, 8);
    m->sha256 = store_col_text(st, 9);
    m->received_ms = sqlite3_column_int64(st, 10);
    m->updated_ms = sqlite3_column_int64(st, 11);
    m->receipt = store_col_text(st, 12);
    m->signature = store_col_text(st, 13);
    m->reasons = store_col_text(st, 14);
    m->doc_number = store_col_text(st, 15);
    m->order_ref = store_col_text(st, 16);
}

int
edix_store_msg_insert(edix_store_t *self, const edix_msg_t *m, const void *body, size_t len,
                      char **err)
{
    static const char ins[] = "INSERT INTO messages (" S_MSG_COLUMNS ") VALUES"
                              " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    static const char ins_body[] = "INSERT INTO bodies (id, body) VALUES (?, ?)";
    sqlite3_stmt *st = store_stmt(self, ins, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, m->id);
    store_bind_text(st, 2, m->sender);
    store_bind_text(st, 3, m->client_id);
    store_bind_text(st, 4, m->receiver);
    store_bind_text(st, 5, m->kind ? m->kind : "document");
    store_bind_text(st, 6, m->ref);
    store_bind_text(st, 7, m->doctype);
    store_bind_text(st, 8, m->state);
    sqlite3_bind_int64(st, 9, m->size);
    store_bind_text(st, 10, m->sha256);
    sqlite3_bind_int64(st, 11, m->received_ms);
    sqlite3_bind_int64(st, 12, m->updated_ms ? m->updated_ms : m->received_ms);
    store_bind_text(st, 13, m->receipt);
    store_bind_text(st, 14, m->signature);
    store_bind_text(st, 15, m->reasons);
    store_bind_text(st, 16, m->doc_number);
    store_bind_text(st, 17, m->order_ref);
    if (store_step_done(self, st, err, "cannot store the message") < 0)
        return -1;
    if (!(st = store_stmt(self, ins_body, err)))
        return -1;
    store_bind_text(st, 1, m->id);
    /* static: the body outlives the statement step; SQLite copies it into
     * the page anyway, so no extra copy here */
    sqlite3_bind_blob64(st, 2, body, len, SQLITE_STATIC);
    return store_step_done(self, st, err, "cannot store the document");
}

static int
s_get_one(edix_store_t *self, const char *sql, const char *a, const char *b, edix_msg_t *out,
          char **err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = store_stmt(self, sql, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, a);
    if (b)
        store_bind_text(st, 2, b);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s_read_msg(st, out);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return 1;
    return store_fail(self, rc, err, "cannot read a message");
}

int
edix_store_msg_get(edix_store_t *self, const char *id, edix_msg_t *out, char **err)
{
    static const char sel[] = "SELECT " S_MSG_COLUMNS " FROM messages WHERE id = ?";
    return s_get_one(self, sel, id, NULL, out, err);
}

int
edix_store_msg_by_client(edix_store_t *self, const char *sender, const char *client_id,
                         edix_msg_t *out, char **err)
{
    static const char sel[] =
        "SELECT " S_MSG_COLUMNS " FROM messages WHERE sender = ? AND client_id = ?";
    return s_get_one(self, sel, sender, client_id, out, err);
}

int
edix_store_msg_body(edix_store_t *self, const char *id, char **body_p, size_t *len_p, char **err)
{
    static const char sel[] = "SELECT body FROM bodies WHERE id = ?";
    *body_p = NULL;
    *len_p = 0;
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const void *data = sqlite3_column_blob(st, 0);
        *body_p = xmalloc(n + 1);
        if (n)
            memcpy(*body_p, data, n);
        (*body_p)[n] = '\0';
        *len_p = n;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return 1;
    return store_fail(self, rc, err, "cannot read a document");
}

int
edix_store_msg_ids(edix_store_t *self, const char *state, int limit, char ***ids_p, size_t *count_p,
                   char **err)
{
    /* the queues' states are written out so the planner can use the
     * partial indexes messages_accepted and
     * messages_validated; other states scan */
    static const char sel_accepted[] = "SELECT id FROM messages WHERE state = 'accepted'"
                                       " ORDER BY received_ms, id LIMIT ?2";
    static const char sel_validated[] = "SELECT id FROM messages WHERE state = 'validated'"
                                        " ORDER BY received_ms, id LIMIT ?2";
    static const char sel_other[] =
        "SELECT id FROM messages WHERE state = ?1 ORDER BY received_ms, id LIMIT ?2";
    const char *sel = strcmp(state, "accepted") == 0    ? sel_accepted
                      : strcmp(state, "validated") == 0 ? sel_validated
                                                        : sel_other;
    *ids_p = NULL;
    *count_p = 0;
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    if (sel == sel_other)
        store_bind_text(st, 1, state);
    sqlite3_bind_int(st, 2, limit);
    return store_ids(self, st, ids_p, count_p, err);
}

int
edix_store_msg_transition(edix_store_t *self, const edix_msg_t *m, const char *from_state,
                          char **err)
{
    static const char upd[] =
        "UPDATE messages SET state = ?, updated_ms = ?, receiver = coalesce(?, receiver),"
        " doctype = coalesce(?, doctype), reasons = coalesce(?, reasons),"
        " doc_number = coalesce(?, doc_number), order_ref = coalesce(?, order_ref)"
        " WHERE id = ? AND state = ?";
    sqlite3_stmt *st = store_stmt(self, upd, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, m->state);
    sqlite3_bind_int64(st, 2, edix_now_ms());
    store_bind_text(st, 3, m->receiver);
    store_bind_text(st, 4, m->doctype);
    store_bind_text(st, 5, m->reasons);
    store_bind_text(st, 6, m->doc_number);
    store_bind_text(st, 7, m->order_ref);
    store_bind_text(st, 8, m->id);
    store_bind_text(st, 9, from_state);
    if (store_step_done(self, st, err, "cannot change the message's state") < 0)
        return -1;
    return sqlite3_changes(self->db) ? 0 : 1;
}

int
edix_store_msg_list(edix_store_t *self, const char *partner, const char *state,
                    const char *business_id, int limit, edix_msg_t **list_p, size_t *count_p,
                    char **err)
{
    static const char sel[] =
        "SELECT " S_MSG_COLUMNS " FROM messages WHERE (?1 IS NULL OR sender = ?1 OR receiver = ?1)"
        " AND (?2 IS NULL OR state = ?2)"
        " AND (?3 IS NULL OR doc_number = ?3 OR order_ref = ?3 OR client_id = ?3)"
        " ORDER BY received_ms DESC, id DESC LIMIT ?4";
    *list_p = NULL;
    *count_p = 0;
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, partner);
    store_bind_text(st, 2, state);
    store_bind_text(st, 3, business_id);
    sqlite3_bind_int(st, 4, limit > 0 ? limit : -1);
    edix_msg_t *list = NULL;
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        list = xrealloc(list, (n + 1) * sizeof *list);
        memset(&list[n], 0, sizeof list[n]);
        s_read_msg(st, &list[n++]);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        edix_msgs_free(list, n);
        return store_fail(self, rc, err, "cannot list messages");
    }
    *list_p = list;
    *count_p = n;
    return 0;
}

/* ---- deliveries ---------------------------------------------------------- */

int
edix_store_delivery_add(edix_store_t *self, const char *msg_id, const char *receiver, char **err)
{
    static const char ins[] = "INSERT OR IGNORE INTO deliveries (msg_id, receiver, state,"
                              " attempts, next_ms) VALUES (?, ?, 'pending', 0, 0)";
    sqlite3_stmt *st = store_stmt(self, ins, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, msg_id);
    store_bind_text(st, 2, receiver);
    return store_step_done(self, st, err, "cannot queue the delivery");
}

int
edix_store_delivery_due(edix_store_t *self, const char *receiver, int64_t now, int limit,
                        char ***ids_p, size_t *count_p, char **err)
{
    static const char sel[] = "SELECT msg_id FROM deliveries WHERE receiver = ? AND"
                              " state = 'pending' AND next_ms <= ? ORDER BY next_ms LIMIT ?";
    *ids_p = NULL;
    *count_p = 0;
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, receiver);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int(st, 3, limit);
    return store_ids(self, st, ids_p, count_p, err);
}

int
edix_store_delivery_attempt(edix_store_t *self, const char *msg_id, int64_t now, int64_t next_ms,
                            char **err)
{
    static const char upd[] = "UPDATE deliveries SET attempts = attempts + 1, last_ms = ?,"
                              " next_ms = ? WHERE msg_id = ? AND state = 'pending'";
    sqlite3_stmt *st = store_stmt(self, upd, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, next_ms);
    store_bind_text(st, 3, msg_id);
    return store_step_done(self, st, err, "cannot record the delivery attempt");
}

int
edix_store_delivery_reset(edix_store_t *self, const char *receiver, char **err)
{
    static const char upd[] = "UPDATE deliveries SET next_ms = 0 WHERE receiver = ? AND"
                              " state = 'pending' AND next_ms > 0";
    sqlite3_stmt *st = store_stmt(self, upd, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, receiver);
    return store_step_done(self, st, err, "cannot reschedule deliveries");
}

int
edix_store_delivery_done(edix_store_t *self, const char *msg_id, const char *receiver, char **err)
{
    static const char upd[] = "UPDATE deliveries SET state = 'delivered', delivered_ms = ?"
                              " WHERE msg_id = ? AND receiver = ? AND state = 'pending'";
    sqlite3_stmt *st = store_stmt(self, upd, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, edix_now_ms());
    store_bind_text(st, 2, msg_id);
    store_bind_text(st, 3, receiver);
    if (store_step_done(self, st, err, "cannot record the delivery") < 0)
        return -1;
    return sqlite3_changes(self->db) ? 0 : 1;
}

int
edix_store_delivery_load(edix_store_t *self, const char *msg_id, edix_outgoing_t *out, char **err)
{
    static const char sel[] =
        "SELECT m.sender, m.doctype, m.kind, m.receipt_sig, b.body, d.attempts"
        " FROM deliveries d JOIN messages m ON m.id = d.msg_id JOIN bodies b ON b.id = d.msg_id"
        " WHERE d.msg_id = ? AND d.state = 'pending'";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, msg_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->sender = store_col_text(st, 0);
        out->doctype = store_col_text(st, 1);
        out->kind = store_col_text(st, 2);
        out->signature = store_col_text(st, 3);
        out->len = (size_t)sqlite3_column_bytes(st, 4);
        out->body = xmalloc(out->len + 1);
        if (out->len)
            memcpy(out->body, sqlite3_column_blob(st, 4), out->len);
        out->body[out->len] = '\0';
        out->attempts = sqlite3_column_int(st, 5);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return 1;
    return store_fail(self, rc, err, "cannot read a delivery");
}

void
edix_outgoing_free(edix_outgoing_t *o)
{
    if (!o)
        return;
    free(o->sender);
    free(o->doctype);
    free(o->kind);
    free(o->signature);
    free(o->body);
    memset(o, 0, sizeof *o);
}

void
edix_delivery_free(edix_delivery_t *d)
{
    if (!d)
        return;
    free(d->msg_id);
    free(d->receiver);
    free(d->state);
    memset(d, 0, sizeof *d);
}

int
edix_store_delivery_get(edix_store_t *self, const char *msg_id, edix_delivery_t *out, char **err)
{
    static const char sel[] = "SELECT msg_id, receiver, state, attempts, next_ms, last_ms,"
                              " delivered_ms FROM deliveries WHERE msg_id = ?";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, msg_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->msg_id = store_col_text(st, 0);
        out->receiver = store_col_text(st, 1);
        out->state = store_col_text(st, 2);
        out->attempts = sqlite3_column_int(st, 3);
        out->next_ms = sqlite3_column_int64(st, 4);
        out->last_ms = sqlite3_column_int64(st, 5);
        out->delivered_ms = sqlite3_column_int64(st, 6);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return 1;
    return store_fail(self, rc, err, "cannot read a delivery");
}

int
edix_store_delivery_next(edix_store_t *self, const char *receiver, int64_t *next_ms, char **err)
{
    static const char sel[] =
        "SELECT min(next_ms) FROM deliveries WHERE receiver = ? AND state = 'pending'";
    *next_ms = 0;
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, receiver);
    int rc = sqlite3_step(st), none = 1;
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *next_ms = sqlite3_column_int64(st, 0);
        none = 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return store_fail(self, rc, err, "cannot read the queue");
    return none;
}

/* ---- statistics ----------------------------------------------------------- */

int
edix_store_stats(edix_store_t *self, edix_stat_t **rows_p, size_t *count_p, char **err)
{
    static const char sel[] =
        "SELECT partner, doctype, sum(sent), sum(recv), sum(rej), sum(pend), min(oldest) FROM ("
        " SELECT sender AS partner, coalesce(doctype, '-') AS doctype, 1 AS sent, 0 AS recv,"
        "  state = 'rejected' AS rej, state IN ('accepted', 'validated', 'routed') AS pend,"
        "  CASE WHEN state IN ('accepted', 'validated', 'routed') THEN received_ms END AS oldest"
        "  FROM messages WHERE kind = 'document'"
        " UNION ALL"
        " SELECT receiver, doctype, 0, 1, 0, 0, NULL FROM messages"
        "  WHERE kind = 'document' AND state = 'delivered')"
        " GROUP BY partner, doctype ORDER BY partner, doctype";
    *rows_p = NULL;
    *count_p = 0;
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    edix_stat_t *rows = NULL;
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows = xrealloc(rows, (n + 1) * sizeof *rows);
        edix_stat_t *r = &rows[n++];
        r->partner = store_col_text(st, 0);
        r->doctype = store_col_text(st, 1);
        r->sent = sqlite3_column_int64(st, 2);
        r->received = sqlite3_column_int64(st, 3);
        r->rejected = sqlite3_column_int64(st, 4);
        r->pending = sqlite3_column_int64(st, 5);
        r->oldest_pending_ms = sqlite3_column_int64(st, 6);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        edix_stats_free(rows, n);
        return store_fail(self, rc, err, "cannot compute statistics");
    }
    *rows_p = rows;
    *count_p = n;
    return 0;
}

void
edix_stats_free(edix_stat_t *rows, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(rows[i].partner);
        free(rows[i].doctype);
    }
    free(rows);
}
