/*
 * store_partner.c - the partner registry: partners, their CURVE keys, their
 * identifiers (scheme:value) and the document types they may send and
 * receive.  Part of the store module; callers hold a transaction for writes.
 */
#include "store_int.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void
edix_partner_free(edix_partner_t *p)
{
    if (!p)
        return;
    free(p->id);
    free(p->name);
    free(p->state);
    free(p->curve_public);
    for (size_t i = 0; i < p->id_count; i++)
        free(p->ids[i]);
    free(p->ids);
    for (size_t i = 0; i < p->send_count; i++)
        free(p->send[i]);
    free(p->send);
    for (size_t i = 0; i < p->receive_count; i++)
        free(p->receive[i]);
    free(p->receive);
    memset(p, 0, sizeof *p);
}

void
edix_partners_free(edix_partner_t *p, size_t count)
{
    for (size_t i = 0; i < count; i++)
        edix_partner_free(&p[i]);
    free(p);
}

/* split "scheme:value" at the first colon */
static int
s_split_identifier(const char *sv, char **scheme, char **value)
{
    const char *colon = strchr(sv, ':');
    if (!colon || !colon[1])
        return -1;
    *scheme = xstrndup(sv, (size_t)(colon - sv));
    *value = xstrdup(colon + 1);
    return 0;
}

int
edix_store_partner_add(edix_store_t *self, const edix_partner_t *p, char **err)
{
    sqlite3_stmt *st;
    char *owner = NULL;
    int found;

    /* check everything first so the refusal names the real conflict */
    edix_partner_t existing;
    found = edix_store_partner_get(self, p->id, &existing, err);
    if (found < 0)
        return -1;
    if (found == 0) {
        edix_partner_free(&existing);
        return edix_fail(err, "partner '%s' exists already", p->id);
    }
    for (size_t i = 0; i < p->id_count; i++) {
        int rc = edix_store_partner_by_identifier(self, p->ids[i], &owner, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            edix_fail(err, "identifier %s belongs to partner '%s' already", p->ids[i], owner);
            free(owner);
            return -1;
        }
    }

    static const char ins_partner[] = "INSERT INTO partners (id, name, state, created_ms,"
                                      " updated_ms) VALUES (?, ?, 'active', ?, ?)";
    static const char ins_key[] =
        "INSERT INTO partner_keys (public_key, partner_id, created_ms) VALUES (?, ?, ?)";
    static const char ins_ident[] =
        "INSERT INTO partner_identifiers (scheme, value, partner_id) VALUES (?, ?, ?)";
    static const char ins_type[] =
        "INSERT OR IGNORE INTO partner_doctypes (partner_id, direction, doctype) VALUES (?, ?, ?)";
    int64_t now = edix_now_ms();

    if (!(st = store_stmt(self, ins_partner, err)))
        return -1;
    store_bind_text(st, 1, p->id);
    store_bind_text(st, 2, p->name);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    if (store_step_done(self, st, err, "cannot add the partner") < 0)
        return -1;

    if (!(st = store_stmt(self, ins_key, err)))
        return -1;
    store_bind_text(st, 1, p->curve_public);
    store_bind_text(st, 2, p->id);
    sqlite3_bind_int64(st, 3, now);
    if (store_step_done(self, st, err, "cannot register the partner's key") < 0)
        return -1;

    for (size_t i = 0; i < p->id_count; i++) {
        char *scheme, *value;
        if (s_split_identifier(p->ids[i], &scheme, &value) < 0)
            return edix_fail(err, "identifier '%s' is not SCHEME:VALUE", p->ids[i]);
        if (!(st = store_stmt(self, ins_ident, err))) {
            free(scheme);
            free(value);
            return -1;
        }
        store_bind_text(st, 1, scheme);
        store_bind_text(st, 2, value);
        store_bind_text(st, 3, p->id);
        free(scheme);
        free(value);
        if (store_step_done(self, st, err, "cannot register an identifier") < 0)
            return -1;
    }
    for (int dir = 0; dir < 2; dir++) {
        char **types = dir ? p->receive : p->send;
        size_t n = dir ? p->receive_count : p->send_count;
        for (size_t i = 0; i < n; i++) {
            if (!(st = store_stmt(self, ins_type, err)))
                return -1;
            store_bind_text(st, 1, p->id);
            store_bind_text(st, 2, dir ? EDIX_DIR_RECEIVE : EDIX_DIR_SEND);
            store_bind_text(st, 3, types[i]);
            if (store_step_done(self, st, err, "cannot register a document type") < 0)
                return -1;
        }
    }
    return 0;
}

static int
s_strings(edix_store_t *self, const char *sql, const char *a, const char *b, char ***out, size_t *n,
          char **err)
{
    sqlite3_stmt *st = store_stmt(self, sql, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, a);
    if (b)
        store_bind_text(st, 2, b);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = xrealloc(*out, (*n + 1) * sizeof **out);
        (*out)[(*n)++] = store_col_text(st, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_fail(self, rc, err, "cannot read the partner registry");
    return 0;
}

int
edix_store_partner_get(edix_store_t *self, const char *id, edix_partner_t *out, char **err)
{
    static const char sel[] =
        "SELECT p.id, p.name, p.state, p.created_ms, k.public_key, k.created_ms"
        " FROM partners p LEFT JOIN partner_keys k ON k.partner_id = p.id AND k.retire_ms IS NULL"
        " WHERE p.id = ?";
    static const char sel_ids[] = "SELECT CASE WHEN scheme = '' THEN ':' || value ELSE"
                                  " scheme || ':' || value END FROM partner_identifiers"
                                  " WHERE partner_id = ? ORDER BY scheme, value";
    static const char sel_types[] = "SELECT doctype FROM partner_doctypes WHERE partner_id = ?"
                                    " AND direction = ? ORDER BY doctype";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return 1;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return store_fail(self, rc, err, "cannot read the partner registry");
    }
    out->id = store_col_text(st, 0);
    out->name = store_col_text(st, 1);
    out->state = store_col_text(st, 2);
    out->created_ms = sqlite3_column_int64(st, 3);
    out->curve_public = store_col_text(st, 4);
    out->key_created_ms = sqlite3_column_int64(st, 5);
    sqlite3_reset(st);
    if (s_strings(self, sel_ids, id, NULL, &out->ids, &out->id_count, err) < 0 ||
        s_strings(self, sel_types, id, EDIX_DIR_SEND, &out->send, &out->send_count, err) < 0 ||
        s_strings(self, sel_types, id, EDIX_DIR_RECEIVE, &out->receive, &out->receive_count, err) <
            0) {
        edix_partner_free(out);
        return -1;
    }
    return 0;
}

int
edix_store_partner_list(edix_store_t *self, edix_partner_t **list_p, size_t *count_p, char **err)
{
    static const char sel[] = "SELECT id FROM partners ORDER BY id";
    char **ids = NULL;
    size_t n = 0;
    *list_p = NULL;
    *count_p = 0;
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ids = xrealloc(ids, (n + 1) * sizeof *ids);
        ids[n++] = store_col_text(st, 0);
    }
    sqlite3_reset(st);
    int result = 0;
    edix_partner_t *list = xcalloc(n, sizeof *list);
    if (rc != SQLITE_DONE)
        result = store_fail(self, rc, err, "cannot read the partner registry");
    for (size_t i = 0; i < n && result == 0; i++)
        if (edix_store_partner_get(self, ids[i], &list[i], err) != 0)
            result = -1;
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    if (result < 0) {
        edix_partners_free(list, n);
        return -1;
    }
    *list_p = list;
    *count_p = n;
    return 0;
}

int
edix_store_partner_set_state(edix_store_t *self, const char *id, const char *state, char **err)
{
    static const char upd[] = "UPDATE partners SET state = ?, updated_ms = ? WHERE id = ?";
    sqlite3_stmt *st = store_stmt(self, upd, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, state);
    sqlite3_bind_int64(st, 2, edix_now_ms());
    store_bind_text(st, 3, id);
    if (store_step_done(self, st, err, "cannot change the partner") < 0)
        return -1;
    return sqlite3_changes(self->db) ? 0 : 1;
}

int
edix_store_partner_rekey(edix_store_t *self, const char *id, const char *curve_public,
                         int64_t overlap_until_ms, char **err)
{
    static const char retire[] = "UPDATE partner_keys SET retire_ms = ?"
                                 " WHERE partner_id = ? AND (retire_ms IS NULL OR retire_ms > ?)";
    static const char ins_key[] =
        "INSERT INTO partner_keys (public_key, partner_id, created_ms) VALUES (?, ?, ?)";
    int64_t now = edix_now_ms();
    sqlite3_stmt *st = store_stmt(self, retire, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, overlap_until_ms > now ? overlap_until_ms : now);
    store_bind_text(st, 2, id);
    sqlite3_bind_int64(st, 3, now);
    if (store_step_done(self, st, err, "cannot retire the old key") < 0)
        return -1;
    if (!(st = store_stmt(self, ins_key, err)))
        return -1;
    store_bind_text(st, 1, curve_public);
    store_bind_text(st, 2, id);
    sqlite3_bind_int64(st, 3, now);
    return store_step_done(self, st, err, "cannot register the new key");
}

int
edix_store_partner_by_key(edix_store_t *self, const char *curve_public, char **id_p, char **err)
{
    static const char sel[] =
        "SELECT p.id FROM partner_keys k JOIN partners p ON p.id = k.partner_id"
        " WHERE k.public_key = ? AND p.state = 'active' AND (k.retire_ms IS NULL OR k.retire_ms > "
        "?)";
    *id_p = NULL;
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, curve_public);
    sqlite3_bind_int64(st, 2, edix_now_ms());
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id_p = store_col_text(st, 0);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return 1;
    return store_fail(self, rc, err, "cannot read the partner registry");
}

int
edix_store_partner_active(edix_store_t *self, const char *id, char **err)
{
    static const char sel[] = "SELECT state = 'active' FROM partners WHERE id = ?";
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, id);
    int rc = sqlite3_step(st), active = 0;
    if (rc == SQLITE_ROW)
        active = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_fail(self, rc, err, "cannot read the partner registry");
    return active;
}

int
edix_store_partner_by_identifier(edix_store_t *self, const char *scheme_value, char **id_p,
                                 char **err)
{
    static const char sel[] =
        "SELECT partner_id FROM partner_identifiers WHERE scheme = ? AND value = ?";
    *id_p = NULL;
    char *scheme, *value;
    if (s_split_identifier(scheme_value, &scheme, &value) < 0)
        return 1;
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st) {
        free(scheme);
        free(value);
        return -1;
    }
    store_bind_text(st, 1, scheme);
    store_bind_text(st, 2, value);
    free(scheme);
    free(value);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id_p = store_col_text(st, 0);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return 1;
    return store_fail(self, rc, err, "cannot read the partner registry");
}

int
edix_store_partner_may(edix_store_t *self, const char *id, const char *direction,
                       const char *doctype, char **err)
{
    static const char sel[] = "SELECT 1 FROM partner_doctypes WHERE partner_id = ?"
                              " AND direction = ? AND doctype IN (?, '*')";
    sqlite3_stmt *st = store_stmt(self, sel, err);
    if (!st)
        return -1;
    store_bind_text(st, 1, id);
    store_bind_text(st, 2, direction);
    store_bind_text(st, 3, doctype);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return store_fail(self, rc, err, "cannot read the partner registry");
}
