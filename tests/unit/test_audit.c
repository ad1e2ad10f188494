/*
 * test_audit.c - unit tests of the audit hash chain (store.c): records
 * appended in a transaction verify intact and list back in order; a record
 * changed, removed or inserted behind the store's back - through a raw
 * SQLite connection, as an intruder with the file would - is reported at
 * the right sequence number; a rolled-back transaction takes its audit
 * records with it.
 */
#include "store.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64]; /* the test's temporary directory */
    char *path;   /* the store file */
    edix_store_t *store;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = xcalloc(1, sizeof *f);
    char *err = NULL;
    snprintf(f->dir, sizeof f->dir, "/tmp/edix-test-audit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->path = xasprintf("%s/edix.db", f->dir);
    f->store = edix_store_open(f->path, 1, &err);
    if (!f->store)
        fail_msg("open: got error %s, want a store", err ? err : "?");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    edix_store_close(&f->store);
    char *cmd = xasprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->path);
    free(f);
    return 0;
}

/* n records in one transaction: event "e<k>", every other one with a msgid */
static void
s_append(fixture_t *f, int first, int n)
{
    char *err = NULL;
    if (edix_store_begin(f->store, &err) != 0)
        fail_msg("begin: got error %s, want success", err ? err : "?");
    for (int k = first; k < first + n; k++) {
        char event[32], msgid[32], details[64];
        snprintf(event, sizeof event, "e%d", k);
        snprintf(msgid, sizeof msgid, "m%d", k);
        snprintf(details, sizeof details, "k=%d note=\"a=b, c\"", k);
        if (edix_audit_append(f->store, "tester", event, k % 2 ? msgid : NULL,
                              k % 3 ? details : NULL, &err) != 0)
            fail_msg("append %d: got error %s, want success", k, err ? err : "?");
    }
    if (edix_store_commit(f->store, &err) != 0)
        fail_msg("commit: got error %s, want success", err ? err : "?");
}

/* verify; want_rc 0 with want_count, or 1 with want_bad */
static void
s_expect_verify(fixture_t *f, const char *what, int want_rc, int64_t want_count, int64_t want_bad,
                const char *want_err)
{
    int64_t count = -1, bad = -1;
    char *err = NULL;
    int rc = edix_audit_verify(f->store, &count, &bad, &err);
    if (rc != want_rc)
        fail_msg("%s: got rc %d (%s), want %d", what, rc, err ? err : "no error", want_rc);
    if (rc == 0 && count != want_count)
        fail_msg("%s: got count %lld, want %lld", what, (long long)count, (long long)want_count);
    if (rc == 0 && (bad != 0 || err))
        fail_msg("%s: got bad_seq %lld, err %s, want 0 and none", what, (long long)bad,
                 err ? err : "none");
    if (rc == 1 && bad != want_bad)
        fail_msg("%s: got bad_seq %lld (%s), want %lld", what, (long long)bad, err ? err : "?",
                 (long long)want_bad);
    if (rc == 1 && want_err && (!err || !strstr(err, want_err)))
        fail_msg("%s: got error \"%s\", want one saying \"%s\"", what, err ? err : "(none)",
                 want_err);
    free(err);
}

/* run SQL through a second, raw connection: the tamperer */
static void
s_raw(fixture_t *f, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("raw \"%s\": got error %s, want success", sql, msg ? msg : "?");
    sqlite3_close(db);
}

static void
test_append_verify(void **state)
{
    fixture_t *f = *state;
    s_expect_verify(f, "empty chain", 0, 0, 0, NULL);
    s_append(f, 1, 5);
    s_expect_verify(f, "5 records", 0, 5, 0, NULL);
    s_append(f, 6, 3);
    s_expect_verify(f, "8 records in two transactions", 0, 8, 0, NULL);

    /* the chain carries over a close and reopen */
    char *err = NULL;
    edix_store_close(&f->store);
    f->store = edix_store_open(f->path, 0, &err);
    assert_non_null(f->store);
    s_append(f, 9, 2);
    s_expect_verify(f, "after reopen", 0, 10, 0, NULL);
}

static void
test_list(void **state)
{
    fixture_t *f = *state;
    edix_audit_rec_t *recs = NULL;
    size_t n = 0;
    char *err = NULL;
    int64_t before = edix_now_ms();

    s_append(f, 1, 6);
    assert_int_equal(edix_audit_list(f->store, NULL, 0, &recs, &n, &err), 0);
    if (n != 6)
        fail_msg("list all: got %zu records, want 6", n);
    for (size_t i = 0; i < n; i++) {
        char event[24];
        snprintf(event, sizeof event, "e%d", (int)i + 1);
        if (recs[i].seq != (int64_t)i + 1)
            fail_msg("record %zu: got seq %lld, want %zu", i, (long long)recs[i].seq, i + 1);
        if (strcmp(recs[i].event, event) != 0)
            fail_msg("record %zu: got event %s, want %s", i, recs[i].event, event);
        assert_string_equal(recs[i].actor, "tester");
        if (strlen(recs[i].hash) != 64)
            fail_msg("record %zu: got hash \"%s\", want 64 hex digits", i, recs[i].hash);
        if (recs[i].at_ms < before || recs[i].at_ms > edix_now_ms())
            fail_msg("record %zu: got at_ms %lld, want now", i, (long long)recs[i].at_ms);
        if (i > 0 && strcmp(recs[i].hash, recs[i - 1].hash) == 0)
            fail_msg("records %zu and %zu: got the same hash, want different", i - 1, i);
    }
    /* NULL details are stored as "", NULL msgid stays NULL */
    assert_string_equal(recs[2].details, "");
    assert_null(recs[1].msgid);
    assert_string_equal(recs[0].msgid, "m1");
    assert_string_equal(recs[0].details, "k=1 note=\"a=b, c\"");
    edix_audit_recs_free(recs, n);

    assert_int_equal(edix_audit_list(f->store, "m3", 0, &recs, &n, &err), 0);
    if (n != 1 || recs[0].seq != 3)
        fail_msg("list m3: got %zu records (first seq %lld), want 1 (seq 3)", n,
                 n ? (long long)recs[0].seq : 0LL);
    edix_audit_recs_free(recs, n);
    assert_int_equal(edix_audit_list(f->store, NULL, 2, &recs, &n, &err), 0);
    if (n != 2 || recs[1].seq != 2)
        fail_msg("list limit 2: got %zu records, want the first 2", n);
    edix_audit_recs_free(recs, n);
    assert_int_equal(edix_audit_list(f->store, "nosuch", 0, &recs, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(recs);
}

static void
test_tamper(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *name;
        const char *sql;
        int64_t bad;
        const char *why;
    } cases[] = {
        {"details changed", "UPDATE audit SET details = 'k=3 forged' WHERE seq = 3", 3,
         "does not match its hash"},
        {"actor changed", "UPDATE audit SET actor = 'root' WHERE seq = 1", 1,
         "does not match its hash"},
        {"time changed", "UPDATE audit SET at_ms = at_ms + 1 WHERE seq = 5", 5,
         "does not match its hash"},
        {"msgid removed", "UPDATE audit SET msg_id = NULL WHERE seq = 5", 5,
         "does not match its hash"},
        {"last record changed", "UPDATE audit SET event = 'x' WHERE seq = 6", 6,
         "does not match its hash"},
        {"content and hash recomputed badly",
         "UPDATE audit SET details = 'x', hash = prev_hash WHERE seq = 2", 2,
         "does not match its hash"},
        {"middle record deleted", "DELETE FROM audit WHERE seq = 3", 4, "expected sequence 3"},
        {"two deleted", "DELETE FROM audit WHERE seq IN (2, 3)", 4, "records were removed"},
        {"first deleted", "DELETE FROM audit WHERE seq = 1", 2, "expected sequence 1"},
        {"deleted and renumbered",
         "DELETE FROM audit WHERE seq = 3; UPDATE audit SET seq = seq - 1 WHERE seq > 3", 3,
         "does not link"},
        {"copy inserted at the end",
         "INSERT INTO audit (seq, at_ms, actor, event, msg_id, details, prev_hash, hash)"
         " SELECT 7, at_ms, actor, event, msg_id, details, prev_hash, hash FROM audit"
         " WHERE seq = 2",
         7, "does not link"},
        {"copy of the last inserted at the end",
         "INSERT INTO audit (seq, at_ms, actor, event, msg_id, details, prev_hash, hash)"
         " SELECT 7, at_ms, actor, event, msg_id, details, prev_hash, hash FROM audit"
         " WHERE seq = 6",
         7, "does not link"},
        {"links swapped",
         "UPDATE audit SET prev_hash = (SELECT prev_hash FROM audit WHERE seq = 2) WHERE seq = 4",
         4, "does not link"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_raw(f, "DELETE FROM audit");
        s_append(f, 1, 6);
        s_expect_verify(f, cases[i].name, 0, 6, 0, NULL);
        s_raw(f, cases[i].sql);
        s_expect_verify(f, cases[i].name, 1, 0, cases[i].bad, cases[i].why);
    }
}

static void
test_rollback_drops_record(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;

    s_append(f, 1, 2);
    assert_int_equal(edix_store_begin(f->store, &err), 0);
    assert_int_equal(edix_audit_append(f->store, "tester", "doomed", "m9", "x=1", &err), 0);
    assert_int_equal(edix_audit_append(f->store, "tester", "doomed", "m9", "x=2", &err), 0);
    edix_store_rollback(f->store);
    s_expect_verify(f, "after rollback", 0, 2, 0, NULL);

    edix_audit_rec_t *recs = NULL;
    size_t n = 0;
    assert_int_equal(edix_audit_list(f->store, "m9", 0, &recs, &n, &err), 0);
    if (n != 0)
        fail_msg("records of the rolled-back transaction: got %zu, want 0", n);
    /* and the chain goes on from where the commit left it */
    s_append(f, 3, 1);
    s_expect_verify(f, "append after rollback", 0, 3, 0, NULL);
    assert_int_equal(edix_audit_list(f->store, NULL, 0, &recs, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(recs[2].event, "e3");
    assert_int_equal(recs[2].seq, 3);
    edix_audit_recs_free(recs, n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_drops_record, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
