/*
 * store.c - opening the SQLite store, its schema migrations, transactions,
 * the audit hash chain and the partner registry.
 *
 * Guarantees: the database file is created 0600 and runs in WAL mode with
 * synchronous=FULL, so a committed transaction survives a power cut.  Every
 * write transaction is BEGIN IMMEDIATE: the write lock is taken up front,
 * so two processes never deadlock upgrading read locks.  A busy store is
 * waited for (busy timeout) and then reported as a temporary failure.
 *
 * The audit chain: record n carries hash(n) = SHA-256(hash(n-1) || canon(n))
 * where canon is a length-prefixed encoding of seq, time, actor, event,
 * message id and details.  Changing a record breaks its own hash; removing
 * one breaks the sequence and the next record's link; inserting one breaks
 * the link of the record after it.
 */
#include "store_int.h"
#include "crypto.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STORE_BUSY_TIMEOUT_MS 5000

static const char *s_migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE partners ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('active', 'suspended')),"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE TABLE partner_keys ("
    "  public_key TEXT PRIMARY KEY,"
    "  partner_id TEXT NOT NULL REFERENCES partners(id),"
    "  created_ms INTEGER NOT NULL,"
    "  retire_ms INTEGER);" /* NULL: the current key; else admitted until then */
    "CREATE INDEX partner_keys_partner ON partner_keys(partner_id);"
    "CREATE TABLE partner_identifiers ("
    "  scheme TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  partner_id TEXT NOT NULL REFERENCES partners(id),"
    "  PRIMARY KEY (scheme, value));"
    "CREATE INDEX partner_identifiers_partner ON partner_identifiers(partner_id);"
    "CREATE TABLE partner_doctypes ("
    "  partner_id TEXT NOT NULL REFERENCES partners(id),"
    "  direction TEXT NOT NULL CHECK (direction IN ('send', 'receive')),"
    "  doctype TEXT NOT NULL,"
    "  PRIMARY KEY (partner_id, direction, doctype));"
    "CREATE TABLE messages ("
    "  id TEXT PRIMARY KEY,"                   /* hub message id */
    "  sender TEXT NOT NULL,"                  /* partner id, or 'hub' for notifications */
    "  client_id TEXT,"                        /* the sender's own id for it */
    "  receiver TEXT,"                         /* partner id once resolved */
    "  kind TEXT NOT NULL DEFAULT 'document'," /* document | status */
    "  ref TEXT,"                              /* status: the message it reports on */
    "  doctype TEXT,"
    "  state TEXT NOT NULL," /* accepted validated routed delivered rejected */
    "  size INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  received_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  receipt TEXT," /* the signed statement */
    "  receipt_sig TEXT,"
    "  reasons TEXT,"    /* JSON array when rejected */
    "  doc_number TEXT," /* the document's own ID */
    "  order_ref TEXT,"  /* the order it refers to */
    "  UNIQUE (sender, client_id));"
    "CREATE INDEX messages_state ON messages(state);"
    "CREATE INDEX messages_doc_number ON messages(doc_number);"
    "CREATE INDEX messages_order_ref ON messages(order_ref);"
    "CREATE TABLE bodies ("
    "  id TEXT PRIMARY KEY REFERENCES messages(id),"
    "  body BLOB NOT NULL);"
    "CREATE TABLE deliveries ("
    "  msg_id TEXT PRIMARY KEY REFERENCES messages(id),"
    "  receiver TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_ms INTEGER,"
    "  delivered_ms INTEGER);"
    "CREATE INDEX deliveries_pending ON deliveries(receiver, state, next_ms);"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  at_ms INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  msg_id TEXT,"
    "  details TEXT NOT NULL,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL);"
    "CREATE INDEX audit_msg ON audit(msg_id);",

    /* 2: work queues as partial indexes.  Only messages still on their way
     * and deliveries still pending are in them, so they stay small however
     * many documents the store has carried, and a finished document costs
     * no index maintenance there. */
    "DROP INDEX messages_state;"
    "CREATE INDEX messages_accepted ON messages(received_ms, id) WHERE state = 'accepted';"
    "CREATE INDEX messages_validated ON messages(received_ms, id) WHERE state = 'validated';"
    "DROP INDEX deliveries_pending;"
    "CREATE INDEX deliveries_due ON deliveries(receiver, next_ms) WHERE state = 'pending';",
};

#define S_SCHEMA_VERSION ((int)(sizeof s_migrations / sizeof s_migrations[0]))

int
store_fail(edix_store_t *self, int rc, char **err, const char *what)
{
    self->last_rc = rc;
    const char *msg = self->db ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return edix_fail(err, "%s: the store %s is busy (locked by another process)", what,
                         self->path);
    return edix_fail(err, "%s: %s", what, msg);
}

int
edix_store_temporary(const edix_store_t *self)
{
    switch (self->last_rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
        return 1;
    default:
        return 0;
    }
}

sqlite3_stmt *
store_stmt(edix_store_t *self, const char *sql, char **err)
{
    int free_slot = -1;
    for (int i = 0; i < STORE_STMT_CACHE; i++) {
        if (self->cache[i].sql == sql) {
            sqlite3_stmt *st = self->cache[i].stmt;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
        if (!self->cache[i].sql && free_slot < 0)
            free_slot = i;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        store_fail(self, rc, err, "cannot prepare a statement");
        return NULL;
    }
    if (free_slot >= 0) {
        self->cache[free_slot].sql = sql;
        self->cache[free_slot].stmt = st;
    }
    /* with a full cache the statement leaks until close; the cache is sized
     * for every static statement in the program, so this does not happen */
    return st;
}

int
store_step_done(edix_store_t *self, sqlite3_stmt *st, char **err, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_fail(self, rc, err, what);
    return 0;
}

int
store_ids(edix_store_t *self, sqlite3_stmt *st, char ***ids_p, size_t *count_p, char **err)
{
    char **ids = NULL;
    size_t n = 0;
    int rc;
    *ids_p = NULL;
    *count_p = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ids = xrealloc(ids, (n + 1) * sizeof *ids);
        ids[n++] = store_col_text(st, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        edix_ids_free(ids, n);
        return store_fail(self, rc, err, "cannot read the store");
    }
    *ids_p = ids;
    *count_p = n;
    return 0;
}

void
store_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

char *
store_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? xstrdup((const char *)s) : NULL;
}

/* Waiting for another process's write lock.  SQLite's own busy timeout
 * sleeps in steps of up to 100 ms, far longer than the few milliseconds a
 * batch of ours holds the lock: three services writing would spend most of
 * their time asleep.  This waits in short steps (50 us doubling to 1 ms)
 * and gives up after STORE_BUSY_TIMEOUT_MS, which then is a temporary
 * failure the caller reports. */
static int
s_busy(void *arg, int count)
{
    edix_store_t *self = arg;
    int64_t now = edix_mono_ms();
    if (count == 0)
        self->busy_since = now;
    if (now - self->busy_since >= STORE_BUSY_TIMEOUT_MS)
        return 0;
    int us = count < 5 ? 50 << count : 1000;
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

static int
s_exec(edix_store_t *self, const char *sql, char **err, const char *what)
{
    int rc = sqlite3_exec(self->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_fail(self, rc, err, what);
    return 0;
}

static int
s_pragma_int(edix_store_t *self, const char *sql, int *out, char **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(self->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return store_fail(self, rc, err, "cannot read the store's settings");
    }
    *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static int
s_check(edix_store_t *self, const char *pragma, char **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(self->db, pragma, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(self, rc, err, "cannot check the store");
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return store_fail(self, rc, err, "cannot check the store");
    }
    const char *res = (const char *)sqlite3_column_text(st, 0);
    int ok = res && strcmp(res, "ok") == 0;
    if (!ok)
        edix_fail(err, "the store %s is damaged: %s", self->path, res ? res : "?");
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

int
edix_store_integrity(edix_store_t *self, char **err)
{
    return s_check(self, "PRAGMA integrity_check", err);
}

static int
s_migrate(edix_store_t *self, char **err)
{
    int version = 0;
    if (s_pragma_int(self, "PRAGMA user_version", &version, err) < 0)
        return -1;
    if (version > S_SCHEMA_VERSION)
        return edix_fail(err, "the store %s has schema version %d, newer than this edix (%d)",
                         self->path, version, S_SCHEMA_VERSION);
    if (version == S_SCHEMA_VERSION)
        return 0;
    if (edix_store_begin(self, err) < 0)
        return -1;
    /* another process may have migrated while we waited for the lock */
    if (s_pragma_int(self, "PRAGMA user_version", &version, err) < 0)
        goto fail;
    for (; version < S_SCHEMA_VERSION; version++) {
        if (s_exec(self, s_migrations[version], err, "cannot migrate the store") < 0)
            goto fail;
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version + 1);
        if (s_exec(self, sql, err, "cannot migrate the store") < 0)
            goto fail;
    }
    return edix_store_commit(self, err);
fail:
    edix_store_rollback(self);
    return -1;
}

edix_store_t *
edix_store_open(const char *path, int create, char **err)
{
    edix_store_t *self = xcalloc(1, sizeof *self);
    self->path = xstrdup(path);
    if (!create && access(path, F_OK) < 0) {
        edix_fail(err, "no store at %s: %s", path, strerror(errno));
        goto fail;
    }
    if (create) {
        /* create the file 0600 ourselves: SQLite would use the umask */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            edix_fail(err, "cannot create the store %s: %s", path, strerror(errno));
            goto fail;
        }
        close(fd);
    }
    int rc = sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                             store_vfs_name());
    if (rc != SQLITE_OK) {
        store_fail(self, rc, err, "cannot open the store");
        goto fail;
    }
    sqlite3_extended_result_codes(self->db, 1);
    sqlite3_busy_handler(self->db, s_busy, self);
    if (s_exec(self, "PRAGMA journal_mode = WAL", err, "cannot set WAL mode") < 0 ||
        s_exec(self, "PRAGMA synchronous = FULL", err, "cannot set synchronous") < 0 ||
        /* 8 MB of page cache: the hot indexes stay in memory, RSS stays small */
        s_exec(self, "PRAGMA cache_size = -8192", err, "cannot set the cache size") < 0 ||
        s_exec(self, "PRAGMA foreign_keys = ON", err, "cannot enable foreign keys") < 0)
        goto fail;
    if (s_check(self, "PRAGMA quick_check", err) < 0)
        goto fail;
    if (s_migrate(self, err) < 0)
        goto fail;
    return self;
fail:
    edix_store_close(&self);
    return NULL;
}

/* ---- background checkpoints -------------------------------------- */

/* A checkpoint copies the WAL's pages back into the database file and syncs
 * it.  Left to SQLite, it runs inside the COMMIT that grew the WAL past 1000
 * pages, so a receipt or a hand-over waits for megabytes of writes; and
 * under steady load from three processes the WAL never starts over, because
 * some commit always lands between a checkpoint's end and the next writer:
 * measured, it grew by 40 MB/s at 1,000 documents/s, without bound.
 *
 * Here a commit only wakes a thread of the same process, which has its own
 * connection.  It checkpoints PASSIVE (no lock waited for, no writer
 * blocked) each time STORE_CKPT_PAGES more pages are in the WAL than it last
 * saw copied, which copies nearly all of the WAL while everyone keeps
 * writing.  (Counting from the WAL's start instead woke it after every
 * commit once the WAL was past that size: 4,238 checkpoint calls, most with
 * an fsync, in one edix-bench run, where 627 do.)  Once the WAL holds
 * STORE_CKPT_RESTART_PAGES it follows with a RESTART: that holds the write
 * lock, copies the few pages written since, and makes the next writer start
 * the WAL from its beginning.
 * It waits at most STORE_CKPT_WAIT_MS for the lock and for readers (our
 * readers keep their snapshots short); if that is not enough it gives up and
 * tries again at the next checkpoint.  Should the WAL still reach twice the
 * restart size, the committing connection restarts it itself, waiting as
 * long as that takes: a WAL that grows without bound is the worse outcome.  Another process's
 * checkpoint in progress is SQLITE_BUSY: it does the same work, nothing to retry. */
#define STORE_CKPT_PAGES         1000
#define STORE_CKPT_RESTART_PAGES 4000
#define STORE_CKPT_WAIT_MS       10

struct store_ckpt {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sqlite3 *db;    /* the thread's own connection */
    int due;        /* the WAL has grown: checkpoint */
    int backfilled; /* WAL frames in the database file, as last seen */
    int seen;       /* WAL frames when the checkpoint was asked for */
    int stop;
    int64_t waiting; /* monotonic ms when its wait began */
};

/* RESTART waits for the write lock and for readers in steps of 100 us:
 * SQLite's own busy timeout sleeps 1, 2, then 5 ms, and under a steady
 * stream of commits kept missing the gaps between them. */
static int
s_ckpt_busy(void *arg, int count)
{
    struct store_ckpt *c = arg;
    int64_t now = edix_mono_ms();
    if (count == 0)
        c->waiting = now;
    if (now - c->waiting >= STORE_CKPT_WAIT_MS)
        return 0;
    struct timespec ts = {0, 100 * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

static int
s_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct store_ckpt *c = arg;
    if (pages >= 2 * STORE_CKPT_RESTART_PAGES) {
        /* the thread's RESTART kept missing the gaps between commits: this
         * connection does it now, waiting as long as it must */
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        return SQLITE_OK;
    }
    if (pages >= STORE_CKPT_PAGES) {
        pthread_mutex_lock(&c->mu);
        if (pages < c->backfilled)
            c->backfilled = 0; /* the WAL has started over */
        if (!c->due && pages - c->backfilled >= STORE_CKPT_PAGES) {
            c->due = 1;
            c->seen = pages;
            pthread_cond_signal(&c->cv);
        }
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

static void *
s_checkpointer(void *arg)
{
    struct store_ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->due && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop)
            break;
        c->due = 0;
        c->backfilled = c->seen; /* while it runs, commits need not ask again */
        pthread_mutex_unlock(&c->mu);
        int wal = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, &wal, &copied);
        if (rc == SQLITE_OK && wal >= STORE_CKPT_RESTART_PAGES &&
            sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_RESTART, NULL, NULL) ==
                SQLITE_OK)
            copied = 0;
        pthread_mutex_lock(&c->mu);
        /* busy: another process's checkpoint is copying what this one saw */
        c->backfilled = rc == SQLITE_OK ? copied : c->seen;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int
edix_store_checkpoint_in_background(edix_store_t *self, char **err)
{
    if (self->ckpt)
        return 0;
    struct store_ckpt *c = xcalloc(1, sizeof *c);
    int rc = sqlite3_open_v2(self->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                             store_vfs_name());
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_handler(c->db, s_ckpt_busy, c);
    if (rc != SQLITE_OK) {
        edix_fail(err, "cannot open the store %s for checkpoints: %s", self->path,
                  c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close_v2(c->db);
        free(c);
        return -1;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if ((rc = pthread_create(&c->thread, NULL, s_checkpointer, c)) != 0) {
        edix_fail(err, "cannot start the checkpoint thread: %s", strerror(rc));
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        sqlite3_close_v2(c->db);
        free(c);
        return -1;
    }
    /* this replaces SQLite's own checkpoint-on-commit for this connection */
    sqlite3_wal_hook(self->db, s_wal_hook, c);
    self->ckpt = c;
    return 0;
}

static void
s_checkpoint_stop(edix_store_t *self)
{
    struct store_ckpt *c = self->ckpt;
    if (!c)
        return;
    /* back to SQLite's own: closing may still commit */
    sqlite3_wal_autocheckpoint(self->db, STORE_CKPT_PAGES);
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    sqlite3_close_v2(c->db);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    self->ckpt = NULL;
}

static void
s_turn_release(edix_store_t *self)
{
    if (self->turn_held)
        store_turn_unlock(self->turn);
    self->turn_held = 0;
}

void
edix_store_close(edix_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    edix_store_t *self = *self_p;
    s_checkpoint_stop(self);
    for (int i = 0; i < STORE_STMT_CACHE; i++)
        sqlite3_finalize(self->cache[i].stmt);
    sqlite3_close_v2(self->db);
    s_turn_release(self);
    store_turn_close(&self->turn);
    free(self->path);
    free(self);
    *self_p = NULL;
}

int
edix_store_begin(edix_store_t *self, char **err)
{
    /* wait in the writers' queue (store_turn.c), then for SQLite's lock */
    if (!self->turn_tried) {
        self->turn = store_turn_open(self->path);
        self->turn_tried = 1;
    }
    if (self->turn && !store_turn_lock(self->turn))
        /* kept waiting STORE_TURN_WAIT_MS: its holder is stuck or lost it;
         * this connection goes on without the queue */
        store_turn_close(&self->turn);
    self->turn_held = self->turn != NULL;
    if (s_exec(self, "BEGIN IMMEDIATE", err, "cannot start a transaction") < 0) {
        s_turn_release(self);
        return -1;
    }
    self->in_tx = 1;
    return 0;
}

int
edix_store_begin_read(edix_store_t *self, char **err)
{
    return s_exec(self, "BEGIN DEFERRED", err, "cannot start a read transaction");
}

void
edix_store_end_read(edix_store_t *self)
{
    if (sqlite3_get_autocommit(self->db) == 0)
        sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL);
}

int
edix_store_commit(edix_store_t *self, char **err)
{
    if (s_exec(self, "COMMIT", err, "cannot commit") < 0) {
        edix_store_rollback(self);
        return -1;
    }
    s_turn_release(self);
    self->in_tx = 0;
    return 0;
}

void
edix_store_rollback(edix_store_t *self)
{
    if (sqlite3_get_autocommit(self->db) == 0)
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
    s_turn_release(self);
    self->in_tx = 0;
}

/* ---- audit chain --------------------------------------------------- */

static void
s_canon_field(edix_buf_t *b, const char *s)
{
    if (!s)
        s = "";
    edix_buf_addf(b, "%zu:", strlen(s));
    edix_buf_adds(b, s);
    edix_buf_add(b, ",", 1);
}

/* hash = SHA-256 over prev_hash (hex text) and the canonical record */
static void
s_audit_hash(int64_t seq, int64_t at_ms, const char *actor, const char *event, const char *msgid,
             const char *details, const char *prev_hash, char out[EDIX_SHA256_HEX])
{
    edix_buf_t b;
    edix_buf_init(&b);
    edix_buf_adds(&b, "edix-audit-1\n");
    char num[32];
    s_canon_field(&b, prev_hash);
    snprintf(num, sizeof num, "%lld", (long long)seq);
    s_canon_field(&b, num);
    snprintf(num, sizeof num, "%lld", (long long)at_ms);
    s_canon_field(&b, num);
    s_canon_field(&b, actor);
    s_canon_field(&b, event);
    s_canon_field(&b, msgid);
    s_canon_field(&b, details);
    edix_sha256_hex(b.data, b.len, out);
    edix_buf_free(&b);
}

static const char s_genesis[] = "0000000000000000000000000000000000000000000000000000000000000000";

int
edix_audit_append(edix_store_t *self, const char *actor, const char *event, const char *msgid,
                  const char *details, char **err)
{
    static const char last_sql[] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
    static const char ins_sql[] = "INSERT INTO audit (seq, at_ms, actor, event, msg_id, details,"
                                  " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *st = store_stmt(self, last_sql, err);
    if (!st)
        return -1;
    int64_t seq = 1;
    char prev[EDIX_SHA256_HEX];
    snprintf(prev, sizeof prev, "%s", s_genesis);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        seq = sqlite3_column_int64(st, 0) + 1;
        const char *h = (const char *)sqlite3_column_text(st, 1);
        snprintf(prev, sizeof prev, "%s", h ? h : "");
    } else if (rc != SQLITE_DONE) {
        sqlite3_reset(st);
        return store_fail(self, rc, err, "cannot read the audit chain");
    }
    sqlite3_reset(st);
    int64_t now = edix_now_ms();
    if (!details)
        details = "";
    char hash[EDIX_SHA256_HEX];
    s_audit_hash(seq, now, actor, event, msgid, details, prev, hash);
    st = store_stmt(self, ins_sql, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, now);
    store_bind_text(st, 3, actor);
    store_bind_text(st, 4, event);
    store_bind_text(st, 5, msgid);
    store_bind_text(st, 6, details);
    store_bind_text(st, 7, prev);
    store_bind_text(st, 8, hash);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_fail(self, rc, err, "cannot append to the audit chain");
    return 0;
}

int
edix_audit_verify(edix_store_t *self, int64_t *count, int64_t *bad_seq, char **err)
{
    *count = 0;
    *bad_seq = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(self->db,
                                "SELECT seq, at_ms, actor, event, msg_id, details, prev_hash, hash"
                                " FROM audit ORDER BY seq",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(self, rc, err, "cannot read the audit chain");
    char prev[EDIX_SHA256_HEX];
    snprintf(prev, sizeof prev, "%s", s_genesis);
    int64_t expect = 1;
    int result = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        const char *actor = (const char *)sqlite3_column_text(st, 2);
        const char *event = (const char *)sqlite3_column_text(st, 3);
        const char *msgid = (const char *)sqlite3_column_text(st, 4);
        const char *details = (const char *)sqlite3_column_text(st, 5);
        const char *prev_hash = (const char *)sqlite3_column_text(st, 6);
        const char *hash = (const char *)sqlite3_column_text(st, 7);
        char want[EDIX_SHA256_HEX];
        if (seq != expect) {
            *bad_seq = seq;
            edix_fail(err, "record %lld: expected sequence %lld here; record%s removed",
                      (long long)seq, (long long)expect, seq > expect + 1 ? "s were" : " was");
            result = 1;
            break;
        }
        if (!prev_hash || strcmp(prev_hash, prev) != 0) {
            *bad_seq = seq;
            edix_fail(err,
                      "record %lld: does not link to record %lld (a record was inserted, "
                      "removed or changed before it)",
                      (long long)seq, (long long)seq - 1);
            result = 1;
            break;
        }
        s_audit_hash(seq, sqlite3_column_int64(st, 1), actor, event, msgid, details, prev_hash,
                     want);
        if (!hash || strcmp(hash, want) != 0) {
            *bad_seq = seq;
            edix_fail(err, "record %lld: its content does not match its hash (changed)",
                      (long long)seq);
            result = 1;
            break;
        }
        snprintf(prev, sizeof prev, "%s", hash);
        expect++;
        (*count)++;
    }
    if (result == 0 && rc != SQLITE_DONE)
        result = store_fail(self, rc, err, "cannot read the audit chain");
    sqlite3_finalize(st);
    return result;
}

int
edix_audit_list(edix_store_t *self, const char *msgid, int limit, edix_audit_rec_t **recs_p,
                size_t *count_p, char **err)
{
    *recs_p = NULL;
    *count_p = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(self->db,
                                "SELECT seq, at_ms, actor, event, msg_id, details, hash FROM audit"
                                " WHERE (?1 IS NULL OR msg_id = ?1) ORDER BY seq LIMIT ?2",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(self, rc, err, "cannot read the audit chain");
    store_bind_text(st, 1, msgid);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
    edix_audit_rec_t *recs = NULL;
    size_t n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        recs = xrealloc(recs, (n + 1) * sizeof *recs);
        edix_audit_rec_t *r = &recs[n++];
        r->seq = sqlite3_column_int64(st, 0);
        r->at_ms = sqlite3_column_int64(st, 1);
        r->actor = store_col_text(st, 2);
        r->event = store_col_text(st, 3);
        r->msgid = store_col_text(st, 4);
        r->details = store_col_text(st, 5);
        r->hash = store_col_text(st, 6);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        edix_audit_recs_free(recs, n);
        return store_fail(self, rc, err, "cannot read the audit chain");
    }
    *recs_p = recs;
    *count_p = n;
    return 0;
}

void
edix_audit_recs_free(edix_audit_rec_t *recs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(recs[i].actor);
        free(recs[i].event);
        free(recs[i].msgid);
        free(recs[i].details);
        free(recs[i].hash);
    }
    free(recs);
}
