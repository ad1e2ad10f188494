/*
 * store_ops.c - what administrators do to messages after the fact: offer
 * one to its receiver again (resend) and drop the bodies of old finished
 * ones (retention).  Part of the store module.
 *
 * Guarantees: both run inside the caller's transaction, so the change and
 * the caller's audit record commit together.  A resend touches only a
 * message that has a delivery (it was routed) and still has its body; the
 * router then delivers it as any pending delivery, and records the new
 * acknowledgement.  A purge deletes bodies only: the message rows with
 * their size and SHA-256, the receipts and the audit chain stay, so the
 * chain still verifies and a kept receipt still proves what was received.
 */
#include "store_int.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int
edix_store_msg_has_body(edix_store_t *self, const char *id, char **err)
{
    static const char sel[] = "SELECT 1 FROM bodies WHERE id = ?";
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return store_fail(self, rc, err, "cannot read a document");
}

int
edix_store_msg_resend(edix_store_t *self, const char *id, char **receiver_p, char **was_p,
                      char **err)
{
    static const char requeue[] = "UPDATE deliveries SET state = 'pending', next_ms = 0,"
                                  " delivered_ms = NULL WHERE msg_id = ?";
    static const char back[] = "UPDATE messages SET state = 'routed', updated_ms = ?"
                               " WHERE id = ? AND state IN ('routed', 'delivered')";
    edix_msg_t m;
    edix_delivery_t d;
    int has_d = 0, rc;
    *receiver_p = NULL;
    *was_p = NULL;
    if ((rc = edix_store_msg_get(self, id, &m, err)) != 0) {
        if (rc == 1)
            edix_fail(err, "no message '%s' (see edix-admin message list)", id);
        return rc;
    }
    if (strcmp(m.state, "rejected") == 0) {
        edix_fail(err,
                  "message %s was rejected and never routed: nothing to resend (the "
                  "sender corrects it and sends it again)",
                  id);
        goto refused;
    }
    if (strcmp(m.state, "routed") != 0 && strcmp(m.state, "delivered") != 0) {
        edix_fail(err, "message %s is %s: it has not been routed yet, nothing to resend", id,
                  m.state);
        goto refused;
    }
    if ((rc = edix_store_delivery_get(self, id, &d, err)) < 0)
        goto out;
    has_d = rc == 0;
    if (!has_d) {
        edix_fail(err, "message %s has no delivery: nothing to resend", id);
        goto refused;
    }
    if ((rc = edix_store_msg_has_body(self, id, err)) < 0)
        goto out;
    if (rc == 0) {
        edix_fail(err, "the body of message %s was purged (retention): it cannot be sent again",
                  id);
        goto refused;
    }
    sqlite3_stmt *st = store_stmt(self, requeue, err);
    if (!st) {
        rc = -1;
        goto out;
    }
    store_bind_text(st, 1, id);
    if ((rc = store_step_done(self, st, err, "cannot queue the delivery again")) < 0)
        goto out;
    if (!(st = store_stmt(self, back, err))) {
        rc = -1;
        goto out;
    }
    sqlite3_bind_int64(st, 1, edix_now_ms());
    store_bind_text(st, 2, id);
    if ((rc = store_step_done(self, st, err, "cannot change the message's state")) < 0)
        goto out;
    *receiver_p = xstrdup(d.receiver);
    *was_p = xstrdup(m.state);
    rc = 0;
    goto out;
refused:
    rc = 1;
out:
    if (has_d)
        edix_delivery_free(&d);
    edix_msg_free(&m);
    return rc;
}

int
edix_store_msg_notices(edix_store_t *self, const char *ref, edix_msg_t **list_p, size_t *count_p,
                       char **err)
{
    static const char sel[] = "SELECT id FROM messages WHERE ref = ? AND kind = 'status'"
                              " ORDER BY received_ms, id";
    *list_p = NULL;
    *count_p = 0;
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, ref);
    char **ids;
    size_t n;
    int rc;
    if (store_ids(self, st, &ids, &n, err) < 0)
        return -1;
    edix_msg_t *list = xcalloc(n ? n : 1, sizeof *list);
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        rc = edix_store_msg_get(self, ids[i], &list[got], err);
        if (rc < 0) {
            edix_msgs_free(list, got);
            edix_ids_free(ids, n);
            return -1;
        }
        if (rc == 0)
            got++;
    }
    edix_ids_free(ids, n);
    *list_p = list;
    *count_p = got;
    return 0;
}

int
edix_store_purge_bodies(edix_store_t *self, int64_t cutoff_ms, int dry_run, int64_t *count_p,
                        int64_t *bytes_p, char **err)
{
    /* final, old enough, and nothing left to deliver (a resent message is
     * routed again, so it is not final) */
#define S_PURGEABLE                                                                                \
    " FROM messages m JOIN bodies b ON b.id = m.id"                                                \
    " WHERE m.state IN ('delivered', 'rejected') AND m.updated_ms < ?1"                            \
    " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.state = 'pending')"
    static const char count[] = "SELECT count(*), coalesce(sum(length(b.body)), 0)" S_PURGEABLE;
    static const char del[] = "DELETE FROM bodies WHERE id IN (SELECT m.id" S_PURGEABLE ")";
#undef S_PURGEABLE
    *count_p = 0;
    *bytes_p = 0;
    sqlite3_stmt *st = store_stmt(self, count, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, cutoff_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *count_p = sqlite3_column_int64(st, 0);
        *bytes_p = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return store_fail(self, rc, err, "cannot count what to purge");
    if (dry_run || *count_p == 0)
        return 0;
    if (!(st = store_stmt(self, del, err)))
        return -1;
    sqlite3_bind_int64(st, 1, cutoff_ms);
    if (store_step_done(self, st, err, "cannot purge document bodies") < 0)
        return -1;
    /* the count and the delete ran in one transaction: they agree */
    *count_p = sqlite3_changes64(self->db);
    return 0;
}
