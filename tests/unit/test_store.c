/*
 * test_store.c - unit tests of the durable store (store.c, store_partner.c,
 * store_msg.c) on a temporary file: creation 0600, migration, WAL with
 * synchronous=FULL really in effect, the partner registry (conflicts, key
 * rotation with and without overlap, suspension), messages (idempotent
 * client ids, conditional transitions, listings), deliveries (due, retry,
 * reset, acknowledgement once and only by the receiver), statistics, a
 * rolled-back transaction leaving nothing, a locked store reported as a
 * temporary failure within the busy timeout, and the writers' queue (a
 * private file; a writer waits until the holder gives it back, a dead
 * holder is taken over, a stuck one costs one bounded wait).
 *
 * The store hides its sqlite3 handle, so what it does to the file is
 * observed from outside: PRAGMAs through a second connection, and the
 * fsyncs of the WAL file through a counting VFS that wraps the default one.
 */
#include "store.h"
#include "store_int.h" /* the writers' queue, held from a child */
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY_ACME   "acme-key-1......................0000001"
#define KEY_GLOBEX "globex-key-1....................0000002"

typedef struct {
    char dir[64];        /* the test's temporary directory */
    char *path;          /* the store file */
    edix_store_t *store; /* open on path */
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = xcalloc(1, sizeof *f);
    char *err = NULL;
    snprintf(f->dir, sizeof f->dir, "/tmp/edix-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->path = xasprintf("%s/edix.db", f->dir);
    f->store = edix_store_open(f->path, 1, &err);
    if (!f->store)
        fail_msg("open: got error %s, want a store", err ? err : "?");
    *state = f;
    return 0;
}

/* a child process holding the writers' queue, if a test started one */
static pid_t s_holder;

static int
teardown(void **state)
{
    fixture_t *f = *state;
    if (s_holder > 0) {
        kill(s_holder, SIGKILL);
        waitpid(s_holder, NULL, 0);
        s_holder = 0;
    }
    edix_store_close(&f->store);
    char *cmd = xasprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->path);
    free(f);
    return 0;
}

static void
s_begin(fixture_t *f)
{
    char *err = NULL;
    if (edix_store_begin(f->store, &err) != 0)
        fail_msg("begin: got error %s, want success", err ? err : "?");
}

static void
s_commit(fixture_t *f)
{
    char *err = NULL;
    if (edix_store_commit(f->store, &err) != 0)
        fail_msg("commit: got error %s, want success", err ? err : "?");
}

static void
s_expect_str(const char *what, const char *got, const char *want)
{
    if (got == want)
        return;
    if (!got || !want || strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", what, got ? got : "(null)", want ? want : "(null)");
}

static void
s_expect_int(const char *what, long long got, long long want)
{
    if (got != want)
        fail_msg("%s: got %lld, want %lld", what, got, want);
}

static void
s_expect_err(const char *what, char **err, const char *want)
{
    if (!*err || !strstr(*err, want))
        fail_msg("%s: got error \"%s\", want one saying \"%s\"", what, *err ? *err : "(none)",
                 want);
    free(*err);
    *err = NULL;
}

/* a list of strings as "a b c" (static buffer) */
static const char *
s_join(char **list, size_t n)
{
    static char out[1024];
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? " " : "", list[i]);
    return out;
}

/* run one SQL statement through a second, raw connection; the first
 * column of the first row as text (malloc'd, NULL when none) */
static char *
s_raw(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("raw \"%s\": got error %s, want success", sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = xstrdup((const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        fail_msg("raw \"%s\": got error %s, want success", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static void
s_expect_raw(const char *path, const char *sql, const char *want)
{
    char *got = s_raw(path, sql);
    s_expect_str(sql, got, want);
    free(got);
}

/* ---- a VFS that counts fsyncs of WAL files ------------------------------- */

typedef struct {
    sqlite3_file base;  /* methods: s_shim_io */
    sqlite3_file *real; /* the default VFS's file, right behind this struct */
    int wal;            /* opened as a write-ahead log */
} s_shim_file_t;

static sqlite3_vfs *s_real_vfs;
static sqlite3_vfs s_shim_vfs;
static int s_wal_syncs;
static int s_wal_writes;

#define REAL(file) (((s_shim_file_t *)(file))->real)

static int
s_shim_close(sqlite3_file *file)
{
    return REAL(file)->pMethods->xClose(REAL(file));
}

static int
s_shim_read(sqlite3_file *file, void *buf, int n, sqlite3_int64 off)
{
    return REAL(file)->pMethods->xRead(REAL(file), buf, n, off);
}

static int
s_shim_write(sqlite3_file *file, const void *buf, int n, sqlite3_int64 off)
{
    if (((s_shim_file_t *)file)->wal)
        s_wal_writes++;
    return REAL(file)->pMethods->xWrite(REAL(file), buf, n, off);
}

static int
s_shim_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    return REAL(file)->pMethods->xTruncate(REAL(file), size);
}

static int
s_shim_sync(sqlite3_file *file, int flags)
{
    if (((s_shim_file_t *)file)->wal)
        s_wal_syncs++;
    return REAL(file)->pMethods->xSync(REAL(file), flags);
}

static int
s_shim_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    return REAL(file)->pMethods->xFileSize(REAL(file), size);
}

static int
s_shim_lock(sqlite3_file *file, int lock)
{
    return REAL(file)->pMethods->xLock(REAL(file), lock);
}

static int
s_shim_unlock(sqlite3_file *file, int lock)
{
    return REAL(file)->pMethods->xUnlock(REAL(file), lock);
}

static int
s_shim_check_reserved(sqlite3_file *file, int *out)
{
    return REAL(file)->pMethods->xCheckReservedLock(REAL(file), out);
}

static int
s_shim_file_control(sqlite3_file *file, int op, void *arg)
{
    return REAL(file)->pMethods->xFileControl(REAL(file), op, arg);
}

static int
s_shim_sector_size(sqlite3_file *file)
{
    return REAL(file)->pMethods->xSectorSize(REAL(file));
}

static int
s_shim_device(sqlite3_file *file)
{
    return REAL(file)->pMethods->xDeviceCharacteristics(REAL(file));
}

static int
s_shim_shm_map(sqlite3_file *file, int region, int size, int extend, void volatile **p)
{
    return REAL(file)->pMethods->xShmMap(REAL(file), region, size, extend, p);
}

static int
s_shim_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    return REAL(file)->pMethods->xShmLock(REAL(file), offset, n, flags);
}

static void
s_shim_shm_barrier(sqlite3_file *file)
{
    REAL(file)->pMethods->xShmBarrier(REAL(file));
}

static int
s_shim_shm_unmap(sqlite3_file *file, int del)
{
    return REAL(file)->pMethods->xShmUnmap(REAL(file), del);
}

static int
s_shim_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **p)
{
    return REAL(file)->pMethods->xFetch(REAL(file), off, n, p);
}

static int
s_shim_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    return REAL(file)->pMethods->xUnfetch(REAL(file), off, p);
}

static const sqlite3_io_methods s_shim_io = {
    3,
    s_shim_close,
    s_shim_read,
    s_shim_write,
    s_shim_truncate,
    s_shim_sync,
    s_shim_file_size,
    s_shim_lock,
    s_shim_unlock,
    s_shim_check_reserved,
    s_shim_file_control,
    s_shim_sector_size,
    s_shim_device,
    s_shim_shm_map,
    s_shim_shm_lock,
    s_shim_shm_barrier,
    s_shim_shm_unmap,
    s_shim_fetch,
    s_shim_unfetch,
};

static int
s_shim_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out)
{
    s_shim_file_t *f = (s_shim_file_t *)file;
    (void)vfs;
    f->real = (sqlite3_file *)(f + 1);
    f->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = s_real_vfs->xOpen(s_real_vfs, name, f->real, flags, out);
    /* the real file needs closing whenever it has methods, even on failure */
    f->base.pMethods = f->real->pMethods ? &s_shim_io : NULL;
    return rc;
}

/* make the counting VFS the default, before any store is opened: the
 * store's own VFS (store_vfs.c) wraps the default it finds then */
static int
s_shim_register(void)
{
    s_real_vfs = sqlite3_vfs_find(NULL);
    if (!s_real_vfs)
        return -1;
    s_shim_vfs = *s_real_vfs;
    s_shim_vfs.zName = "edix-test-count-syncs";
    s_shim_vfs.szOsFile = (int)sizeof(s_shim_file_t) + s_real_vfs->szOsFile;
    s_shim_vfs.pNext = NULL;
    s_shim_vfs.xOpen = s_shim_open;
    return sqlite3_vfs_register(&s_shim_vfs, 1) == SQLITE_OK ? 0 : -1;
}

/* ---- open and migrate ------------------------------------------------------ */

static mode_t
s_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        fail_msg("stat %s: got an error, want the file", path);
    return st.st_mode & 07777;
}

static void
test_open_creates(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;
    char *path = xasprintf("%s/new.db", f->dir);

    mode_t old = umask(0); /* 0600 must not depend on the umask */
    edix_store_t *s = edix_store_open(path, 1, &err);
    umask(old);
    if (!s)
        fail_msg("open: got error %s, want a store", err ? err : "?");
    if (s_mode(path) != 0600)
        fail_msg("store mode: got %04o, want 0600", (unsigned)s_mode(path));

    /* what the store did to the file, seen from a second connection */
    s_expect_raw(path, "PRAGMA journal_mode", "wal");
    s_expect_raw(path, "PRAGMA user_version", "2");
    s_expect_raw(path,
                 "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master"
                 " WHERE type = 'table' ORDER BY name)",
                 "audit bodies deliveries messages partner_doctypes partner_identifiers"
                 " partner_keys partners");
    /* the WAL and shared-memory files take the store's mode */
    char *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);
    if (edix_file_exists(wal) && s_mode(wal) != 0600)
        fail_msg("%s mode: got %04o, want 0600", wal, (unsigned)s_mode(wal));
    if (edix_file_exists(shm) && s_mode(shm) != 0600)
        fail_msg("%s mode: got %04o, want 0600", shm, (unsigned)s_mode(shm));
    assert_int_equal(edix_store_integrity(s, &err), 0);
    edix_store_close(&s);
    assert_null(s);
    edix_store_close(&s); /* idempotent */

    /* reopening an existing store: no second migration, nothing lost */
    s = edix_store_open(path, 0, &err);
    assert_non_null(s);
    edix_store_close(&s);
    s = edix_store_open(path, 1, &err);
    assert_non_null(s);
    edix_store_close(&s);
    s_expect_raw(path, "PRAGMA user_version", "2");
    assert_null(err);

    free(wal);
    free(shm);
    free(path);
}

static void
test_open_refusals(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;

    char *none = xasprintf("%s/none.db", f->dir);
    assert_null(edix_store_open(none, 0, &err));
    s_expect_err("missing, create 0", &err, "no store at");
    assert_false(edix_file_exists(none));

    char *nodir = xasprintf("%s/no/such/dir.db", f->dir);
    assert_null(edix_store_open(nodir, 1, &err));
    s_expect_err("missing directory", &err, "cannot create the store");

    char *junk = xasprintf("%s/junk.db", f->dir);
    char text[4096];
    memset(text, 'J', sizeof text);
    assert_int_equal(edix_file_write(junk, text, sizeof text, 0600, 1, &err), 0);
    assert_null(edix_store_open(junk, 0, &err));
    assert_non_null(err);
    free(err);
    err = NULL;

    /* a store from a newer edix is left alone */
    edix_store_close(&f->store);
    free(s_raw(f->path, "PRAGMA user_version = 99"));
    assert_null(edix_store_open(f->path, 0, &err));
    s_expect_err("newer schema", &err, "schema version 99, newer than this edix (2)");
    s_expect_raw(f->path, "PRAGMA user_version", "99");

    free(none);
    free(nodir);
    free(junk);
}

/* synchronous=FULL: every commit fsyncs the WAL.  (synchronous is a
 * per-connection setting, so a second connection cannot show it; with
 * NORMAL a WAL commit is not synced at all, which the control shows.) */
static void
test_synchronous_full(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;
    char *path = xasprintf("%s/sync.db", f->dir);

    edix_store_t *s = edix_store_open(path, 1, &err);
    assert_non_null(s);
    for (int i = 0; i < 3; i++) {
        s_wal_syncs = 0;
        assert_int_equal(edix_store_begin(s, &err), 0);
        assert_int_equal(edix_audit_append(s, "tester", "sync.test", NULL, NULL, &err), 0);
        assert_int_equal(edix_store_commit(s, &err), 0);
        if (s_wal_syncs < 1)
            fail_msg("commit %d: got %d fsyncs of the WAL, want at least 1 (synchronous=FULL)", i,
                     s_wal_syncs);
    }

    /* control: the same write through a connection with synchronous=NORMAL */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL), 0);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE scratch (x)", NULL, NULL, NULL), 0);
    s_wal_syncs = 0;
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO scratch VALUES (1); COMMIT",
                                  NULL, NULL, NULL),
                     0);
    int normal_syncs = s_wal_syncs;
    sqlite3_close(db);
    edix_store_close(&s);
    if (normal_syncs != 0)
        fail_msg("control: got %d WAL fsyncs with synchronous=NORMAL, want 0 (the counting "
                 "VFS cannot tell FULL from NORMAL)",
                 normal_syncs);
    free(path);
}

/* ---- partners ----------------------------------------------------------- */

static char *s_acme_ids[] = {"vat:DE123456789", "gln:0088000000001"};
static char *s_acme_send[] = {"Order", "Invoice", "Order"};
static char *s_acme_receive[] = {"OrderResponse"};
static char *s_globex_ids[] = {":GLOBEX"};
static char *s_globex_send[] = {"*"};

static const edix_partner_t s_acme = {
    .id = "acme",
    .name = "ACME Corp",
    .curve_public = KEY_ACME,
    .ids = s_acme_ids,
    .id_count = 2,
    .send = s_acme_send,
    .send_count = 3,
    .receive = s_acme_receive,
    .receive_count = 1,
};

static const edix_partner_t s_globex = {
    .id = "globex",
    .name = "Globex",
    .curve_public = KEY_GLOBEX,
    .ids = s_globex_ids,
    .id_count = 1,
    .send = s_globex_send,
    .send_count = 1,
};

static void
s_add(fixture_t *f, const edix_partner_t *p)
{
    char *err = NULL;
    s_begin(f);
    if (edix_store_partner_add(f->store, p, &err) != 0)
        fail_msg("add %s: got error %s, want success", p->id, err ? err : "?");
    s_commit(f);
}

/* the partner that holds key now, or "-" for none */
static void
s_expect_key_owner(fixture_t *f, const char *key, const char *want)
{
    char *id = NULL, *err = NULL;
    int rc = edix_store_partner_by_key(f->store, key, &id, &err);
    if (rc < 0)
        fail_msg("by_key %s: got error %s", key, err ? err : "?");
    const char *got = rc == 0 ? id : "-";
    if (strcmp(got, want) != 0)
        fail_msg("by_key %s: got %s (rc %d), want %s", key, got, rc, want);
    if (rc == 1 && id)
        fail_msg("by_key %s: got an id with rc 1, want NULL", key);
    free(id);
}

static void
test_partner_add_get(void **state)
{
    fixture_t *f = *state;
    edix_partner_t p, *list = NULL;
    size_t n = 0;
    char *err = NULL;
    int64_t before = edix_now_ms();

    s_add(f, &s_acme);
    s_add(f, &s_globex);
    assert_int_equal(edix_store_partner_get(f->store, "acme", &p, &err), 0);
    s_expect_str("id", p.id, "acme");
    s_expect_str("name", p.name, "ACME Corp");
    s_expect_str("state", p.state, "active");
    s_expect_str("curve_public", p.curve_public, KEY_ACME);
    if (p.created_ms < before || p.created_ms > edix_now_ms())
        fail_msg("created_ms: got %lld, want now", (long long)p.created_ms);
    s_expect_int("key_created_ms", p.key_created_ms, p.created_ms);
    s_expect_str("ids", s_join(p.ids, p.id_count), "gln:0088000000001 vat:DE123456789");
    /* sorted, and the repeated Order stored once */
    s_expect_str("send", s_join(p.send, p.send_count), "Invoice Order");
    s_expect_str("receive", s_join(p.receive, p.receive_count), "OrderResponse");
    edix_partner_free(&p);
    assert_null(p.id);

    assert_int_equal(edix_store_partner_get(f->store, "globex", &p, &err), 0);
    s_expect_str("globex ids", s_join(p.ids, p.id_count), ":GLOBEX");
    s_expect_str("globex send", s_join(p.send, p.send_count), "*");
    s_expect_int("globex receive_count", (long long)p.receive_count, 0);
    edix_partner_free(&p);

    memset(&p, 0xff, sizeof p);
    assert_int_equal(edix_store_partner_get(f->store, "nosuch", &p, &err), 1);
    assert_null(p.id); /* cleared, safe to free */
    edix_partner_free(&p);

    assert_int_equal(edix_store_partner_list(f->store, &list, &n, &err), 0);
    s_expect_int("list count", (long long)n, 2);
    s_expect_str("list[0]", list[0].id, "acme");
    s_expect_str("list[1]", list[1].id, "globex");
    s_expect_str("list[0] key", list[0].curve_public, KEY_ACME);
    s_expect_int("list[0] ids", (long long)list[0].id_count, 2);
    edix_partners_free(list, n);
    assert_null(err);
}

static void
test_partner_conflicts(void **state)
{
    fixture_t *f = *state;
    static char *ids_taken[] = {"duns:1", "gln:0088000000001"};
    static char *ids_fresh[] = {"duns:2"};
    static char *ids_bad[] = {"nocolon"};
    static char *ids_empty_value[] = {"gln:"};
    static char *ids_twice[] = {"duns:3", "duns:3"};
    static const struct {
        const char *name;
        edix_partner_t p;
        const char *why; /* in the error */
    } cases[] = {
        {"duplicate id",
         {.id = "acme",
          .name = "Other",
          .curve_public = "fresh-key-1",
          .ids = ids_fresh,
          .id_count = 1},
         "partner 'acme' exists already"},
        {"identifier of another partner",
         {.id = "initech",
          .name = "Initech",
          .curve_public = "fresh-key-2",
          .ids = ids_taken,
          .id_count = 2},
         "identifier gln:0088000000001 belongs to partner 'acme' already"},
        {"key of another partner",
         {.id = "initech",
          .name = "Initech",
          .curve_public = KEY_ACME,
          .ids = ids_fresh,
          .id_count = 1},
         "key"},
        {"identifier without scheme separator",
         {.id = "initech",
          .name = "Initech",
          .curve_public = "fresh-key-3",
          .ids = ids_bad,
          .id_count = 1},
         "identifier 'nocolon' is not SCHEME:VALUE"},
        {"identifier without value",
         {.id = "initech",
          .name = "Initech",
          .curve_public = "fresh-key-4",
          .ids = ids_empty_value,
          .id_count = 1},
         "identifier 'gln:' is not SCHEME:VALUE"},
        {"identifier twice",
         {.id = "initech",
          .name = "Initech",
          .curve_public = "fresh-key-5",
          .ids = ids_twice,
          .id_count = 2},
         "identifier"},
    };

    s_add(f, &s_acme);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        s_begin(f);
        int rc = edix_store_partner_add(f->store, &cases[i].p, &err);
        edix_store_rollback(f->store);
        if (rc != -1)
            fail_msg("%s: got %d, want -1", cases[i].name, rc);
        s_expect_err(cases[i].name, &err, cases[i].why);
        if (strchr(cases[i].why, '\n'))
            fail_msg("%s: got a multi-line reason, want one line", cases[i].name);
        /* after the rollback nothing of the refused partner is left */
        edix_partner_t *list = NULL;
        size_t n = 0;
        assert_int_equal(edix_store_partner_list(f->store, &list, &n, &err), 0);
        if (n != 1)
            fail_msg("%s: got %zu partners after rollback, want 1", cases[i].name, n);
        s_expect_str(cases[i].name, list[0].id, "acme");
        s_expect_str(cases[i].name, list[0].name, "ACME Corp");
        s_expect_int(cases[i].name, (long long)list[0].id_count, 2);
        edix_partners_free(list, n);
        s_expect_key_owner(f, cases[i].p.curve_public,
                           strcmp(cases[i].p.curve_public, KEY_ACME) == 0 ? "acme" : "-");
    }
    /* the failures were permanent ones: the constraint would fail again */
    assert_false(edix_store_temporary(f->store));
}

static void
test_partner_state(void **state)
{
    fixture_t *f = *state;
    edix_partner_t p;
    char *err = NULL;

    s_add(f, &s_acme);
    s_expect_int("active", edix_store_partner_active(f->store, "acme", &err), 1);
    s_expect_key_owner(f, KEY_ACME, "acme");

    s_begin(f);
    s_expect_int("suspend", edix_store_partner_set_state(f->store, "acme", "suspended", &err), 0);
    s_commit(f);
    assert_int_equal(edix_store_partner_get(f->store, "acme", &p, &err), 0);
    s_expect_str("state", p.state, "suspended");
    edix_partner_free(&p);
    s_expect_int("active when suspended", edix_store_partner_active(f->store, "acme", &err), 0);
    s_expect_key_owner(f, KEY_ACME, "-"); /* refused on its next connection */

    s_begin(f);
    s_expect_int("reactivate", edix_store_partner_set_state(f->store, "acme", "active", &err), 0);
    s_expect_int("unknown partner",
                 edix_store_partner_set_state(f->store, "nosuch", "suspended", &err), 1);
    s_expect_int("bad state", edix_store_partner_set_state(f->store, "acme", "deleted", &err), -1);
    s_expect_err("bad state", &err, "CHECK");
    assert_false(edix_store_temporary(f->store));
    s_commit(f);
    s_expect_key_owner(f, KEY_ACME, "acme");
    s_expect_int("active again", edix_store_partner_active(f->store, "acme", &err), 1);
    s_expect_int("active of unknown", edix_store_partner_active(f->store, "nosuch", &err), 0);
}

static void
s_rekey(fixture_t *f, const char *id, const char *key, int64_t overlap_until, int want)
{
    char *err = NULL;
    s_begin(f);
    int rc = edix_store_partner_rekey(f->store, id, key, overlap_until, &err);
    if (rc != want)
        fail_msg("rekey %s to %s: got %d (%s), want %d", id, key, rc, err ? err : "no error", want);
    if (rc == 0)
        s_commit(f);
    else
        edix_store_rollback(f->store);
    free(err);
}

static void
test_partner_rekey(void **state)
{
    fixture_t *f = *state;
    edix_partner_t p;
    char *err = NULL;

    s_add(f, &s_acme);
    s_add(f, &s_globex);

    /* overlap in the future: old and new key both admitted */
    s_rekey(f, "acme", "acme-key-2", edix_now_ms() + 600000, 0);
    s_expect_key_owner(f, KEY_ACME, "acme");
    s_expect_key_owner(f, "acme-key-2", "acme");
    assert_int_equal(edix_store_partner_get(f->store, "acme", &p, &err), 0);
    s_expect_str("current key", p.curve_public, "acme-key-2");
    edix_partner_free(&p);

    /* overlap in the past: every older key refused at once */
    s_rekey(f, "acme", "acme-key-3", edix_now_ms() - 1000, 0);
    s_expect_key_owner(f, KEY_ACME, "-");
    s_expect_key_owner(f, "acme-key-2", "-");
    s_expect_key_owner(f, "acme-key-3", "acme");

    /* no overlap */
    s_rekey(f, "acme", "acme-key-4", 0, 0);
    s_expect_key_owner(f, "acme-key-3", "-");
    s_expect_key_owner(f, "acme-key-4", "acme");

    /* a later overlap does not bring retired keys back */
    s_rekey(f, "acme", "acme-key-5", edix_now_ms() + 600000, 0);
    s_expect_key_owner(f, "acme-key-3", "-");
    s_expect_key_owner(f, KEY_ACME, "-");
    s_expect_key_owner(f, "acme-key-4", "acme");
    s_expect_key_owner(f, "acme-key-5", "acme");
    assert_int_equal(edix_store_partner_get(f->store, "acme", &p, &err), 0);
    s_expect_str("current key after rotations", p.curve_public, "acme-key-5");
    edix_partner_free(&p);

    /* suspension refuses the overlap key too */
    s_begin(f);
    assert_int_equal(edix_store_partner_set_state(f->store, "acme", "suspended", &err), 0);
    s_commit(f);
    s_expect_key_owner(f, "acme-key-4", "-");
    s_expect_key_owner(f, "acme-key-5", "-");

    /* refusals change nothing */
    s_rekey(f, "acme", KEY_GLOBEX, 0, -1);     /* another partner's key */
    s_rekey(f, "nosuch", "orphan-key", 0, -1); /* no such partner */
    s_rekey(f, "globex", "acme-key-2", 0, -1); /* a retired key of another partner */
    s_expect_key_owner(f, KEY_GLOBEX, "globex");
    s_expect_key_owner(f, "orphan-key", "-");
    s_expect_key_owner(f, "nosuch-key", "-");
}

static void
test_partner_lookups(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *ident;
        const char *want; /* "-" none */
    } idents[] = {
        {"gln:0088000000001", "acme"},
        {"vat:DE123456789", "acme"},
        {":GLOBEX", "globex"},
        {"gln:0088000000002", "-"},
        {"GLN:0088000000001", "-"}, /* schemes are case-sensitive */
        {"vat:de123456789", "-"},
        {"GLOBEX", "-"},
        {"gln:", "-"},
        {"", "-"},
    };
    static const struct {
        const char *id, *direction, *doctype;
        int want;
    } may[] = {
        {"acme", EDIX_DIR_SEND, "Order", 1},
        {"acme", EDIX_DIR_SEND, "Invoice", 1},
        {"acme", EDIX_DIR_SEND, "OrderResponse", 0},
        {"acme", EDIX_DIR_RECEIVE, "OrderResponse", 1},
        {"acme", EDIX_DIR_RECEIVE, "Order", 0},
        {"globex", EDIX_DIR_SEND, "CreditNote", 1}, /* "*" */
        {"globex", EDIX_DIR_SEND, "*", 1},
        {"globex", EDIX_DIR_RECEIVE, "Order", 0},
        {"nosuch", EDIX_DIR_SEND, "Order", 0},
        {"acme", "sideways", "Order", 0},
    };

    s_add(f, &s_acme);
    s_add(f, &s_globex);
    for (size_t i = 0; i < sizeof idents / sizeof idents[0]; i++) {
        char *id = NULL, *err = NULL;
        int rc = edix_store_partner_by_identifier(f->store, idents[i].ident, &id, &err);
        const char *got = rc == 0 ? id : rc == 1 ? "-" : "error";
        if (strcmp(got, idents[i].want) != 0)
            fail_msg("by_identifier \"%s\": got %s, want %s", idents[i].ident, got, idents[i].want);
        free(id);
    }
    for (size_t i = 0; i < sizeof may / sizeof may[0]; i++) {
        char *err = NULL;
        int rc =
            edix_store_partner_may(f->store, may[i].id, may[i].direction, may[i].doctype, &err);
        if (rc != may[i].want)
            fail_msg("may(%s, %s, %s): got %d, want %d", may[i].id, may[i].direction,
                     may[i].doctype, rc, may[i].want);
    }
}

/* ---- messages -------------------------------------------------------------- */

static edix_msg_t
s_msg(const char *id, const char *sender, const char *client_id, const char *state,
      int64_t received_ms)
{
    edix_msg_t m = {
        .id = (char *)id,
        .sender = (char *)sender,
        .client_id = (char *)client_id,
        .state = (char *)state,
        .size = 8,
        .sha256 = "6ab3c1cf6de1e4b2cbc64c8a1d8f1e1e2a2c2b2f2e2d2c2b2a292827262524ff",
        .received_ms = received_ms,
    };
    return m;
}

static void
s_insert(fixture_t *f, const edix_msg_t *m, const char *body)
{
    char *err = NULL;
    s_begin(f);
    if (edix_store_msg_insert(f->store, m, body, strlen(body), &err) != 0)
        fail_msg("insert %s: got error %s, want success", m->id, err ? err : "?");
    s_commit(f);
}

static void
s_transition(fixture_t *f, const edix_msg_t *m, const char *from, int want)
{
    char *err = NULL;
    s_begin(f);
    int rc = edix_store_msg_transition(f->store, m, from, &err);
    if (rc != want)
        fail_msg("transition %s %s -> %s: got %d (%s), want %d", m->id, from, m->state, rc,
                 err ? err : "no error", want);
    s_commit(f);
}

/* The background checkpointer takes over from SQLite's checkpoint-on-commit:
 * if it did not checkpoint, or never made the WAL start over, the WAL would
 * grow by every page written (here about 73 MB); it must stay within twice
 * its restart size (32 MB) and a transaction, and everything written must
 * read back. */
static void
test_background_checkpoint(void **state)
{
    fixture_t *f = *state;
    char *err = NULL, id[32], client[32];
    enum { N = 4000, BODY = 12 * 1024 };
    char *body = xmalloc(BODY + 1);
    for (int i = 0; i < BODY; i++)
        body[i] = (char)('a' + i % 26);
    body[BODY] = '\0';
    if (edix_store_checkpoint_in_background(f->store, &err) != 0)
        fail_msg("checkpoint_in_background: got error %s, want success", err ? err : "?");
    char *wal = xasprintf("%s-wal", f->path);
    off_t most = 0;
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "m%05d", i);
        snprintf(client, sizeof client, "PO-%d", i);
        edix_msg_t m = s_msg(id, "acme", client, "accepted", 1000 + i);
        s_insert(f, &m, body);
        struct stat st;
        if (stat(wal, &st) == 0 && st.st_size > most)
            most = st.st_size;
    }
    if (most > 36L * 1024 * 1024)
        fail_msg("the WAL grew to %lld bytes for %d documents, want under 36 MB", (long long)most,
                 N);
    char *got = NULL;
    size_t len = 0;
    assert_int_equal(edix_store_msg_body(f->store, "m00000", &got, &len, &err), 0);
    assert_int_equal(len, BODY);
    free(got);
    assert_int_equal(edix_store_msg_body(f->store, "m03999", &got, &len, &err), 0);
    assert_int_equal(len, BODY);
    free(got);
    assert_int_equal(edix_store_integrity(f->store, &err), 0);
    free(wal);
    free(body);
}

static void
test_msg_insert_get(void **state)
{
    fixture_t *f = *state;
    static const char body[] = "<Order>\0binary\xff</Order>";
    edix_msg_t got;
    char *err = NULL;

    edix_msg_t m = s_msg("m1", "acme", "PO-1", "accepted", 1000);
    m.receipt = "edix-receipt-1\nhub_id=m1\n";
    m.signature = "ab01";
    s_begin(f);
    assert_int_equal(edix_store_msg_insert(f->store, &m, body, sizeof body, &err), 0);
    s_commit(f);

    assert_int_equal(edix_store_msg_get(f->store, "m1", &got, &err), 0);
    s_expect_str("id", got.id, "m1");
    s_expect_str("sender", got.sender, "acme");
    s_expect_str("client_id", got.client_id, "PO-1");
    s_expect_str("receiver", got.receiver, NULL);
    s_expect_str("kind", got.kind, "document"); /* the default */
    s_expect_str("ref", got.ref, NULL);
    s_expect_str("doctype", got.doctype, NULL);
    s_expect_str("state", got.state, "accepted");
    s_expect_int("size", got.size, 8);
    s_expect_str("sha256", got.sha256, m.sha256);
    s_expect_int("received_ms", got.received_ms, 1000);
    s_expect_int("updated_ms", got.updated_ms, 1000); /* defaults to received */
    s_expect_str("receipt", got.receipt, m.receipt);
    s_expect_str("signature", got.signature, "ab01");
    s_expect_str("reasons", got.reasons, NULL);
    edix_msg_free(&got);
    assert_null(got.id);

    /* the resubmission look-up */
    assert_int_equal(edix_store_msg_by_client(f->store, "acme", "PO-1", &got, &err), 0);
    s_expect_str("by_client", got.id, "m1");
    edix_msg_free(&got);
    assert_int_equal(edix_store_msg_by_client(f->store, "globex", "PO-1", &got, &err), 1);
    assert_int_equal(edix_store_msg_by_client(f->store, "acme", "PO-2", &got, &err), 1);
    assert_int_equal(edix_store_msg_get(f->store, "m2", &got, &err), 1);
    assert_null(got.id);

    /* the body, byte for byte (NUL and all) */
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(edix_store_msg_body(f->store, "m1", &data, &len, &err), 0);
    s_expect_int("body length", (long long)len, (long long)sizeof body);
    assert_memory_equal(data, body, sizeof body);
    assert_int_equal(data[len], '\0');
    free(data);
    assert_int_equal(edix_store_msg_body(f->store, "m2", &data, &len, &err), 1);
    assert_null(data);
    assert_int_equal(len, 0);

    /* the same client id from the same sender: refused, permanently */
    edix_msg_t dup = s_msg("m2", "acme", "PO-1", "accepted", 2000);
    s_begin(f);
    assert_int_equal(edix_store_msg_insert(f->store, &dup, "x", 1, &err), -1);
    edix_store_rollback(f->store);
    s_expect_err("same client id", &err, "UNIQUE");
    assert_false(edix_store_temporary(f->store));
    assert_int_equal(edix_store_msg_get(f->store, "m2", &got, &err), 1);
    /* the same hub id */
    dup = s_msg("m1", "globex", "PO-9", "accepted", 2000);
    s_begin(f);
    assert_int_equal(edix_store_msg_insert(f->store, &dup, "x", 1, &err), -1);
    edix_store_rollback(f->store);
    s_expect_err("same hub id", &err, "UNIQUE");

    /* the same client id from another sender is another document */
    edix_msg_t other = s_msg("m3", "globex", "PO-1", "accepted", 3000);
    s_insert(f, &other, "<x/>");
    /* notifications have no client id: many of them do not collide */
    edix_msg_t n1 = s_msg("n1", "hub", NULL, "routed", 4000);
    n1.kind = "status";
    n1.ref = "m1";
    n1.receiver = "acme";
    edix_msg_t n2 = n1;
    n2.id = "n2";
    s_insert(f, &n1, "<ApplicationResponse/>");
    s_insert(f, &n2, "<ApplicationResponse/>");
    assert_int_equal(edix_store_msg_get(f->store, "n2", &got, &err), 0);
    s_expect_str("notification kind", got.kind, "status");
    s_expect_str("notification ref", got.ref, "m1");
    s_expect_str("notification client_id", got.client_id, NULL);
    edix_msg_free(&got);
}

static void
test_msg_ids_transition(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *id;
        int64_t received_ms;
    } msgs[] = {{"m1", 1000}, {"m2", 3000}, {"m3", 2000}, {"m4", 4000}, {"m0", 2000}};
    char **ids = NULL;
    size_t n = 0;
    char *err = NULL;
    edix_msg_t got;

    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "PO-%zu", i);
        edix_msg_t m = s_msg(msgs[i].id, "acme", cid, "accepted", msgs[i].received_ms);
        s_insert(f, &m, "<Order/>");
    }
    /* oldest first; equal times by id */
    assert_int_equal(edix_store_msg_ids(f->store, "accepted", 10, &ids, &n, &err), 0);
    s_expect_str("accepted", s_join(ids, n), "m1 m0 m3 m2 m4");
    edix_ids_free(ids, n);
    assert_int_equal(edix_store_msg_ids(f->store, "accepted", 2, &ids, &n, &err), 0);
    s_expect_str("accepted, limit 2", s_join(ids, n), "m1 m0");
    edix_ids_free(ids, n);
    assert_int_equal(edix_store_msg_ids(f->store, "validated", 10, &ids, &n, &err), 0);
    s_expect_int("validated", (long long)n, 0);
    edix_ids_free(ids, n);

    int64_t before = edix_now_ms();
    edix_msg_t v = {.id = "m3", .state = "validated", .doctype = "Order", .doc_number = "4711"};
    s_transition(f, &v, "accepted", 0);
    /* a second worker with the same idea finds it moved */
    s_transition(f, &v, "accepted", 1);
    edix_msg_t nosuch = {.id = "m9", .state = "validated"};
    s_transition(f, &nosuch, "accepted", 1);

    assert_int_equal(edix_store_msg_get(f->store, "m3", &got, &err), 0);
    s_expect_str("state", got.state, "validated");
    s_expect_str("doctype", got.doctype, "Order");
    s_expect_str("doc_number", got.doc_number, "4711");
    if (got.updated_ms < before)
        fail_msg("updated_ms: got %lld, want >= %lld", (long long)got.updated_ms,
                 (long long)before);
    s_expect_int("received_ms unchanged", got.received_ms, 2000);
    edix_msg_free(&got);

    /* NULL fields keep what is there */
    edix_msg_t r = {.id = "m3", .state = "routed", .receiver = "globex", .order_ref = "PO-77"};
    s_transition(f, &r, "validated", 0);
    assert_int_equal(edix_store_msg_get(f->store, "m3", &got, &err), 0);
    s_expect_str("state", got.state, "routed");
    s_expect_str("receiver", got.receiver, "globex");
    s_expect_str("doctype kept", got.doctype, "Order");
    s_expect_str("doc_number kept", got.doc_number, "4711");
    s_expect_str("order_ref", got.order_ref, "PO-77");
    edix_msg_free(&got);

    edix_msg_t rej = {.id = "m1", .state = "rejected", .reasons = "[{\"rule\":\"XSD\"}]"};
    s_transition(f, &rej, "accepted", 0);
    assert_int_equal(edix_store_msg_get(f->store, "m1", &got, &err), 0);
    s_expect_str("reasons", got.reasons, "[{\"rule\":\"XSD\"}]");
    edix_msg_free(&got);
    s_transition(f, &rej, "validated", 1);

    assert_int_equal(edix_store_msg_ids(f->store, "accepted", 10, &ids, &n, &err), 0);
    s_expect_str("accepted after", s_join(ids, n), "m0 m2 m4");
    edix_ids_free(ids, n);
    assert_int_equal(edix_store_msg_ids(f->store, "routed", 10, &ids, &n, &err), 0);
    s_expect_str("routed", s_join(ids, n), "m3");
    edix_ids_free(ids, n);
}

/* ids of a listing, in order (static buffer) */
static const char *
s_list_ids(fixture_t *f, const char *partner, const char *state, const char *business, int limit)
{
    static char out[256];
    edix_msg_t *list = NULL;
    size_t n = 0, len = 0;
    char *err = NULL;
    if (edix_store_msg_list(f->store, partner, state, business, limit, &list, &n, &err) != 0)
        fail_msg("list: got error %s, want success", err ? err : "?");
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? " " : "", list[i].id);
    edix_msgs_free(list, n);
    return out;
}

static void
test_msg_list(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *id, *sender, *client_id, *receiver, *state, *doc_number, *order_ref;
        int64_t at;
    } msgs[] = {
        {"m1", "acme", "PO-1", "globex", "delivered", "4711", NULL, 1000},
        {"m2", "globex", "OR-1", "acme", "routed", "R-1", "4711", 2000},
        {"m3", "acme", "4711", NULL, "rejected", NULL, NULL, 3000},
        {"m4", "initech", "X-1", "globex", "accepted", "9", NULL, 4000},
    };
    static const struct {
        const char *partner, *state, *business;
        int limit;
        const char *want;
    } cases[] = {
        {NULL, NULL, NULL, 0, "m4 m3 m2 m1"}, /* newest first */
        {NULL, NULL, NULL, 2, "m4 m3"},
        {"acme", NULL, NULL, 0, "m3 m2 m1"}, /* as sender or receiver */
        {"globex", NULL, NULL, 0, "m4 m2 m1"},
        {"initech", NULL, NULL, 0, "m4"},
        {"nobody", NULL, NULL, 0, ""},
        {NULL, "routed", NULL, 0, "m2"},
        {"acme", "delivered", NULL, 0, "m1"},
        {"initech", "delivered", NULL, 0, ""},
        {NULL, NULL, "4711", 0, "m3 m2 m1"}, /* doc number, order ref, client id */
        {"globex", NULL, "4711", 0, "m2 m1"},
        {NULL, NULL, "4711", 1, "m3"},
        {NULL, NULL, "R-1", 0, "m2"},
        {NULL, NULL, "471", 0, ""},
    };

    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        edix_msg_t m =
            s_msg(msgs[i].id, msgs[i].sender, msgs[i].client_id, msgs[i].state, msgs[i].at);
        m.receiver = (char *)msgs[i].receiver;
        m.doc_number = (char *)msgs[i].doc_number;
        m.order_ref = (char *)msgs[i].order_ref;
        s_insert(f, &m, "<x/>");
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got =
            s_list_ids(f, cases[i].partner, cases[i].state, cases[i].business, cases[i].limit);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg(
                "list(partner %s, state %s, business %s, limit %d): got \"%s\", want \"%s\"",
                cases[i].partner ? cases[i].partner : "-", cases[i].state ? cases[i].state : "-",
                cases[i].business ? cases[i].business : "-", cases[i].limit, got, cases[i].want);
    }
}

/* ---- deliveries ----------------------------------------------------------- */

static const char *
s_due(fixture_t *f, const char *receiver, int64_t now, int limit)
{
    static char out[256];
    char **ids = NULL, *err = NULL;
    size_t n = 0;
    if (edix_store_delivery_due(f->store, receiver, now, limit, &ids, &n, &err) != 0)
        fail_msg("due: got error %s, want success", err ? err : "?");
    snprintf(out, sizeof out, "%s", s_join(ids, n));
    edix_ids_free(ids, n);
    return out;
}

static void
s_expect_due(fixture_t *f, const char *what, const char *receiver, int64_t now, int limit,
             const char *want)
{
    s_expect_str(what, s_due(f, receiver, now, limit), want);
}

static void
s_expect_next(fixture_t *f, const char *what, const char *receiver, int want_rc, int64_t want)
{
    int64_t next = -1;
    char *err = NULL;
    int rc = edix_store_delivery_next(f->store, receiver, &next, &err);
    if (rc != want_rc || (rc == 0 && next != want))
        fail_msg("%s: got rc %d next %lld, want rc %d next %lld", what, rc, (long long)next,
                 want_rc, (long long)want);
}

static void
s_expect_delivery(fixture_t *f, const char *id, const char *state, int attempts, int64_t next,
                  int64_t last)
{
    edix_delivery_t d;
    char *err = NULL;
    if (edix_store_delivery_get(f->store, id, &d, &err) != 0)
        fail_msg("delivery %s: got none, want one", id);
    char what[64];
    snprintf(what, sizeof what, "delivery %s state", id);
    s_expect_str(what, d.state, state);
    snprintf(what, sizeof what, "delivery %s attempts", id);
    s_expect_int(what, d.attempts, attempts);
    snprintf(what, sizeof what, "delivery %s next_ms", id);
    s_expect_int(what, d.next_ms, next);
    snprintf(what, sizeof what, "delivery %s last_ms", id);
    s_expect_int(what, d.last_ms, last);
    edix_delivery_free(&d);
}

static void
test_deliveries(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;
    static const char *ids[] = {"m1", "m2", "m3"};
    static const char *receivers[] = {"globex", "globex", "initech"};
    const int64_t now = 1000000;

    for (size_t i = 0; i < 3; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "PO-%zu", i);
        edix_msg_t m = s_msg(ids[i], "acme", cid, "routed", 1000 + (int64_t)i);
        s_insert(f, &m, "<Order/>");
    }
    s_begin(f);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(edix_store_delivery_add(f->store, ids[i], receivers[i], &err), 0);
    /* queued twice: still one delivery */
    assert_int_equal(edix_store_delivery_add(f->store, "m1", "globex", &err), 0);
    s_commit(f);

    edix_delivery_t d;
    assert_int_equal(edix_store_delivery_get(f->store, "m1", &d, &err), 0);
    s_expect_str("receiver", d.receiver, "globex");
    s_expect_int("delivered_ms", d.delivered_ms, 0);
    edix_delivery_free(&d);
    s_expect_delivery(f, "m1", "pending", 0, 0, 0);
    assert_int_equal(edix_store_delivery_get(f->store, "m9", &d, &err), 1);
    assert_null(d.msg_id);

    s_expect_due(f, "due", "globex", now, 10, "m1 m2");
    s_expect_due(f, "due, limit 1", "globex", now, 1, "m1");
    s_expect_due(f, "due initech", "initech", now, 10, "m3");
    s_expect_due(f, "due nobody", "nobody", now, 10, "");
    s_expect_next(f, "next", "globex", 0, 0);

    /* an attempt: due again at next_ms, not before */
    s_begin(f);
    assert_int_equal(edix_store_delivery_attempt(f->store, "m1", now, now + 5000, &err), 0);
    s_commit(f);
    s_expect_delivery(f, "m1", "pending", 1, now + 5000, now);
    s_expect_due(f, "due after attempt", "globex", now, 10, "m2");
    s_expect_due(f, "due just before", "globex", now + 4999, 10, "m2");
    s_expect_due(f, "due at next_ms", "globex", now + 5000, 10, "m2 m1");
    s_expect_next(f, "next with one due now", "globex", 0, 0);
    s_begin(f);
    assert_int_equal(edix_store_delivery_attempt(f->store, "m2", now, now + 3000, &err), 0);
    assert_int_equal(edix_store_delivery_attempt(f->store, "m2", now + 3000, now + 9000, &err), 0);
    s_commit(f);
    s_expect_delivery(f, "m2", "pending", 2, now + 9000, now + 3000);
    s_expect_next(f, "next after attempts", "globex", 0, now + 5000);
    s_expect_due(f, "due ordered by next_ms", "globex", now + 9000, 10, "m1 m2");

    /* the receiver reconnects: everything due now, attempts kept */
    s_begin(f);
    assert_int_equal(edix_store_delivery_reset(f->store, "globex", &err), 0);
    s_commit(f);
    s_expect_due(f, "due after reset", "globex", now, 10, "m1 m2");
    s_expect_next(f, "next after reset", "globex", 0, 0);
    s_expect_delivery(f, "m1", "pending", 1, 0, now);
    s_expect_delivery(f, "m2", "pending", 2, 0, now + 3000);
    s_expect_delivery(f, "m3", "pending", 0, 0, 0); /* other receivers untouched */

    /* acknowledgements: only by the receiver, only once */
    int64_t before = edix_now_ms();
    s_begin(f);
    s_expect_int("ack by another partner",
                 edix_store_delivery_done(f->store, "m1", "initech", &err), 1);
    s_expect_int("ack", edix_store_delivery_done(f->store, "m1", "globex", &err), 0);
    s_expect_int("repeat ack", edix_store_delivery_done(f->store, "m1", "globex", &err), 1);
    s_expect_int("ack of unknown", edix_store_delivery_done(f->store, "m9", "globex", &err), 1);
    /* attempts after delivery change nothing */
    assert_int_equal(edix_store_delivery_attempt(f->store, "m1", now, now + 1, &err), 0);
    s_commit(f);
    assert_int_equal(edix_store_delivery_get(f->store, "m1", &d, &err), 0);
    s_expect_str("state", d.state, "delivered");
    s_expect_int("attempts", d.attempts, 1);
    if (d.delivered_ms < before || d.delivered_ms > edix_now_ms())
        fail_msg("delivered_ms: got %lld, want now", (long long)d.delivered_ms);
    edix_delivery_free(&d);
    s_expect_due(f, "due after ack", "globex", now + 100000, 10, "m2");

    s_begin(f);
    s_expect_int("ack m2", edix_store_delivery_done(f->store, "m2", "globex", &err), 0);
    s_commit(f);
    s_expect_next(f, "next when all delivered", "globex", 1, 0);
    s_expect_next(f, "next of nobody", "nobody", 1, 0);
    s_expect_due(f, "due when all delivered", "globex", now + 100000, 10, "");
}

/* a delivery for a message that does not exist is refused */
static void
test_delivery_needs_message(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;
    s_begin(f);
    assert_int_equal(edix_store_delivery_add(f->store, "ghost", "globex", &err), -1);
    edix_store_rollback(f->store);
    s_expect_err("ghost delivery", &err, "FOREIGN KEY");
}

/* ---- statistics -------------------------------------------------------------- */

static void
test_stats(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *id, *sender, *receiver, *doctype, *state, *kind;
        int64_t at;
    } msgs[] = {
        {"m1", "acme", "globex", "Order", "delivered", NULL, 100},
        {"m2", "acme", NULL, "Order", "rejected", NULL, 200},
        {"m3", "acme", NULL, "Invoice", "accepted", NULL, 1000},
        {"m4", "acme", NULL, "Invoice", "validated", NULL, 900},
        {"m5", "acme", NULL, NULL, "accepted", NULL, 500},
        {"m6", "globex", "acme", "OrderResponse", "routed", NULL, 2000},
        {"m7", "acme", NULL, NULL, "rejected", NULL, 50},
        {"n1", "hub", "acme", "ApplicationResponse", "delivered", "status", 3000},
    };
    static const edix_stat_t want[] = {
        {"acme", "-", 2, 0, 1, 1, 500},
        {"acme", "Invoice", 2, 0, 0, 2, 900},
        {"acme", "Order", 2, 0, 1, 0, 0},
        {"globex", "Order", 0, 1, 0, 0, 0},
        {"globex", "OrderResponse", 1, 0, 0, 1, 2000},
    };
    edix_stat_t *rows = NULL;
    size_t n = 0;
    char *err = NULL;

    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        edix_msg_t m = s_msg(msgs[i].id, msgs[i].sender, msgs[i].id, msgs[i].state, msgs[i].at);
        m.receiver = (char *)msgs[i].receiver;
        m.doctype = (char *)msgs[i].doctype;
        m.kind = (char *)msgs[i].kind;
        s_insert(f, &m, "<x/>");
    }
    assert_int_equal(edix_store_stats(f->store, &rows, &n, &err), 0);
    if (n != sizeof want / sizeof want[0]) {
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "row %zu: %s %s\n", i, rows[i].partner, rows[i].doctype);
        fail_msg("stats: got %zu rows, want %zu", n, sizeof want / sizeof want[0]);
    }
    for (size_t i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "row %zu", i);
        s_expect_str(what, rows[i].partner, want[i].partner);
        s_expect_str(what, rows[i].doctype, want[i].doctype);
        if (rows[i].sent != want[i].sent || rows[i].received != want[i].received ||
            rows[i].rejected != want[i].rejected || rows[i].pending != want[i].pending ||
            rows[i].oldest_pending_ms != want[i].oldest_pending_ms)
            fail_msg("%s %s/%s: got sent %lld received %lld rejected %lld pending %lld oldest "
                     "%lld, want %lld %lld %lld %lld %lld",
                     what, rows[i].partner, rows[i].doctype, (long long)rows[i].sent,
                     (long long)rows[i].received, (long long)rows[i].rejected,
                     (long long)rows[i].pending, (long long)rows[i].oldest_pending_ms,
                     (long long)want[i].sent, (long long)want[i].received,
                     (long long)want[i].rejected, (long long)want[i].pending,
                     (long long)want[i].oldest_pending_ms);
    }
    edix_stats_free(rows, n);

    /* an empty store has no rows */
    edix_store_close(&f->store);
    char *path = xasprintf("%s/empty.db", f->dir);
    f->store = edix_store_open(path, 1, &err);
    assert_non_null(f->store);
    assert_int_equal(edix_store_stats(f->store, &rows, &n, &err), 0);
    assert_int_equal(n, 0);
    edix_stats_free(rows, n);
    free(path);
}

/* ---- transactions --------------------------------------------------------------- */

static void
test_rollback_leaves_nothing(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;
    int64_t count, bad;
    edix_partner_t p;
    edix_msg_t m;
    edix_delivery_t d;

    s_begin(f);
    assert_int_equal(edix_store_partner_add(f->store, &s_acme, &err), 0);
    edix_msg_t msg = s_msg("m1", "acme", "PO-1", "accepted", 1000);
    assert_int_equal(edix_store_msg_insert(f->store, &msg, "<Order/>", 8, &err), 0);
    assert_int_equal(edix_store_delivery_add(f->store, "m1", "globex", &err), 0);
    assert_int_equal(edix_audit_append(f->store, "tester", "message.accepted", "m1", "", &err), 0);
    /* visible inside the transaction */
    assert_int_equal(edix_store_msg_get(f->store, "m1", &m, &err), 0);
    edix_msg_free(&m);
    edix_store_rollback(f->store);

    assert_int_equal(edix_store_partner_get(f->store, "acme", &p, &err), 1);
    assert_int_equal(edix_store_msg_get(f->store, "m1", &m, &err), 1);
    char *body = NULL;
    size_t len;
    assert_int_equal(edix_store_msg_body(f->store, "m1", &body, &len, &err), 1);
    assert_int_equal(edix_store_delivery_get(f->store, "m1", &d, &err), 1);
    s_expect_key_owner(f, KEY_ACME, "-");
    assert_int_equal(edix_audit_verify(f->store, &count, &bad, &err), 0);
    s_expect_int("audit records", count, 0);
    /* the same file, seen from outside */
    s_expect_raw(f->path,
                 "SELECT (SELECT count(*) FROM partners) + (SELECT count(*) FROM partner_keys) +"
                 " (SELECT count(*) FROM partner_identifiers) + (SELECT count(*) FROM messages) +"
                 " (SELECT count(*) FROM bodies) + (SELECT count(*) FROM deliveries) +"
                 " (SELECT count(*) FROM audit)",
                 "0");

    /* a rollback outside a transaction is harmless, and the store goes on */
    edix_store_rollback(f->store);
    s_add(f, &s_acme);
    s_expect_key_owner(f, KEY_ACME, "acme");
}

/* a store whose write lock another process holds: begin fails within the
 * busy timeout (5 s), as a temporary failure; reads still work (WAL) */
static void
test_busy_is_temporary(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;
    sqlite3 *db = NULL;
    edix_partner_t p;

    s_add(f, &s_acme);
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    alarm(60); /* should the store wait forever, end the test rather than hang */
    int64_t t0 = edix_mono_ms();
    int rc = edix_store_begin(f->store, &err);
    int64_t waited = edix_mono_ms() - t0;
    alarm(0);
    if (rc != -1)
        fail_msg("begin while locked: got %d, want -1", rc);
    if (waited > 10000)
        fail_msg("begin while locked: got a wait of %lld ms, want the 5 s busy timeout",
                 (long long)waited);
    if (waited < 1000)
        fail_msg("begin while locked: got a wait of %lld ms, want it to wait for the lock",
                 (long long)waited);
    assert_true(edix_store_temporary(f->store));
    s_expect_err("locked", &err, "busy");

    /* readers are not blocked by a writer */
    assert_int_equal(edix_store_partner_get(f->store, "acme", &p, &err), 0);
    edix_partner_free(&p);

    /* the lock goes: the store works again */
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    s_add(f, &s_globex);
    s_expect_key_owner(f, KEY_GLOBEX, "globex");
}

/* The store's VFS gathers a commit's WAL frames into a few writes, and
 * what it gathered is in the file, for another connection, once the
 * commit returns. */
static void
test_wal_writes_gathered(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;
    size_t big = 200 * 1024; /* about 50 frames, more than one buffer */
    char *body = xmalloc(big);
    for (size_t i = 0; i < big; i++)
        body[i] = (char)(i * 7 + i / 4096);

    edix_msg_t m = s_msg("m-big", "acme", "PO-BIG", "accepted", 1000);
    s_wal_writes = s_wal_syncs = 0;
    s_begin(f);
    assert_int_equal(edix_store_msg_insert(f->store, &m, body, big, &err), 0);
    assert_int_equal(edix_audit_append(f->store, "tester", "big", "m-big", NULL, &err), 0);
    s_commit(f);
    /* SQLite alone: two writes per frame, over 100 here */
    if (s_wal_writes < 1 || s_wal_writes > 6)
        fail_msg("a 200 kB commit: got %d WAL writes, want 1 to 6", s_wal_writes);
    if (s_wal_syncs < 1)
        fail_msg("a 200 kB commit: got %d WAL fsyncs, want at least 1", s_wal_syncs);

    edix_store_t *other = edix_store_open(f->path, 0, &err);
    assert_non_null(other);
    char *got = NULL;
    size_t len = 0;
    assert_int_equal(edix_store_msg_body(other, "m-big", &got, &len, &err), 0);
    s_expect_int("body length", (int64_t)len, (int64_t)big);
    if (memcmp(got, body, big) != 0)
        fail_msg("the body read by another connection differs from the one written");
    free(got);
    edix_store_close(&other);
    free(body);
}

/* ---- the writers' queue (store_turn.c) --------------------------------
 * The other holder is a child process using the queue directly, so the
 * store's SQLite lock stays free: whatever the store waits for is the
 * queue.  Times are CLOCK_MONOTONIC, which both processes share. */

/* begin and commit a transaction; how long begin waited, in ms */
static int64_t
s_write(fixture_t *f)
{
    int64_t t0 = edix_mono_ms();
    s_begin(f);
    int64_t waited = edix_mono_ms() - t0;
    s_commit(f);
    return waited;
}

typedef enum { HOLD_FOR, HOLD_AND_DIE, HOLD_FOREVER } hold_t;

/* A child takes the queue and says so on the pipe; then, by how:
 * gives it back after ms (writing the time it does so first), exits
 * holding it, or holds it until killed.  Returns the read end. */
static int
s_child_holds(fixture_t *f, hold_t how, int ms)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    s_holder = fork();
    assert_true(s_holder >= 0);
    if (s_holder == 0) {
        close(p[0]);
        struct store_turn *t = store_turn_open(f->path);
        if (!t || !store_turn_lock(t))
            _exit(1);
        char ok = 'L';
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        if (how == HOLD_AND_DIE)
            _exit(0);
        if (how == HOLD_FOREVER)
            for (;;)
                pause();
        int64_t until = edix_mono_ms() + ms;
        while (edix_mono_ms() < until)
            ; /* a writer busy for ms */
        int64_t released = edix_mono_ms();
        if (write(p[1], &released, sizeof released) != sizeof released)
            _exit(1);
        store_turn_unlock(t);
        _exit(0);
    }
    close(p[1]);
    char ok = 0;
    if (read(p[0], &ok, 1) != 1 || ok != 'L')
        fail_msg("child: could not take the queue");
    return p[0];
}

/* the queue's file sits next to the store, private like it */
static void
test_queue_file_private(void **state)
{
    fixture_t *f = *state;
    s_write(f);
    char *q = xasprintf("%s-writers", f->path);
    struct stat st;
    if (stat(q, &st) != 0)
        fail_msg("%s: got no file after a write, want the queue's file", q);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(q);
}

/* a writer waits until the queue's holder gives it back, and no longer */
static void
test_writer_waits_in_queue(void **state)
{
    fixture_t *f = *state;
    s_write(f); /* the queue is set up */
    int fd = s_child_holds(f, HOLD_FOR, 300);
    int64_t waited = s_write(f);
    int64_t got = edix_mono_ms(), released = 0;
    if (read(fd, &released, sizeof released) != sizeof released)
        fail_msg("child: got no release time");
    close(fd);
    if (got < released)
        fail_msg("begin returned %lld ms before the holder gave the queue back, want after",
                 (long long)(released - got));
    if (waited > 2000)
        fail_msg("begin waited %lld ms for a holder of 300 ms, want it woken when it is free",
                 (long long)waited);
}

/* a holder that died holding the queue: the next writer takes it over at
 * once, and the queue goes on working */
static void
test_dead_holder_taken_over(void **state)
{
    fixture_t *f = *state;
    s_write(f);
    int fd = s_child_holds(f, HOLD_AND_DIE, 0);
    close(fd);
    waitpid(s_holder, NULL, 0);
    s_holder = 0;
    int64_t waited = s_write(f);
    if (waited > 1000)
        fail_msg("begin after the holder died: got a wait of %lld ms, want none",
                 (long long)waited);
    fd = s_child_holds(f, HOLD_FOR, 200);
    s_write(f);
    int64_t got = edix_mono_ms(), released = 0;
    if (read(fd, &released, sizeof released) != sizeof released)
        fail_msg("child: got no release time");
    close(fd);
    if (got < released)
        fail_msg("after a takeover the queue is not waited for");
}

/* a holder that never gives the queue back: one bounded wait (5 s), then
 * this connection writes without the queue */
static void
test_stuck_holder_bounded(void **state)
{
    fixture_t *f = *state;
    s_write(f);
    int fd = s_child_holds(f, HOLD_FOREVER, 0);
    alarm(60); /* should the store wait forever, end the test rather than hang */
    int64_t first = s_write(f);
    int64_t second = s_write(f);
    alarm(0);
    close(fd);
    if (first < 4000 || first > 10000)
        fail_msg("begin behind a stuck holder: got a wait of %lld ms, want about 5 s",
                 (long long)first);
    if (second > 1000)
        fail_msg("the next begin: got a wait of %lld ms, want none (queue given up)",
                 (long long)second);
}

int
main(void)
{
    if (s_shim_register() < 0) {
        fprintf(stderr, "cannot register the counting VFS\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_synchronous_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_writes_gathered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partner_add_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partner_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partner_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partner_rekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partner_lookups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msg_insert_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msg_ids_transition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msg_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliveries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_needs_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_is_temporary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_file_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_waits_in_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_holder_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stuck_holder_bounded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
