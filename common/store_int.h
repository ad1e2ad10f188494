/*
 * store_int.h - private to the store module (store*.c): the handle and the
 * statement cache.  Nothing outside common/store*.c includes this.
 */
#ifndef EDIX_STORE_INT_H
#define EDIX_STORE_INT_H

#include "store.h"

#include <pthread.h>
#include <sqlite3.h>

#define STORE_STMT_CACHE 64

struct edix_store {
    sqlite3 *db;             /* the connection */
    char *path;              /* file name, for messages */
    int last_rc;             /* SQLite result of the last failure */
    int in_tx;               /* inside BEGIN IMMEDIATE */
    int64_t busy_since;      /* monotonic ms when the current wait for a lock began */
    struct store_ckpt *ckpt; /* the background checkpointer, or NULL */
    struct store_turn *turn; /* the writers' queue, set up by the first begin */
    int turn_tried;          /* ... or tried to be */
    int turn_held;           /* this transaction holds it */
    struct {
        const char *sql;    /* key: the (static) SQL text */
        sqlite3_stmt *stmt; /* prepared once, reset after each use */
    } cache[STORE_STMT_CACHE];
};

/* A cached statement for static SQL text, reset and with bindings cleared. */
sqlite3_stmt *store_stmt(edix_store_t *self, const char *sql, char **err);
/* Step a statement that returns no rows and reset it; -1 with the reason
 * (what failed, and SQLite's message) otherwise. */
int store_step_done(edix_store_t *self, sqlite3_stmt *st, char **err, const char *what);
/* Step a statement whose first column is an id; every row's id, malloc'd.
 * 0, or -1 with the reason. */
int store_ids(edix_store_t *self, sqlite3_stmt *st, char ***ids_p, size_t *count_p, char **err);
/* Record a failure: reason with SQLite's message; returns -1. */
int store_fail(edix_store_t *self, int rc, char **err, const char *what);
/* bind helpers: NULL text binds SQL NULL */
void store_bind_text(sqlite3_stmt *st, int i, const char *s);
/* a column as a new string, or NULL */
char *store_col_text(sqlite3_stmt *st, int i);
/* The name of the VFS that writes WAL frames in one call per commit
 * (store_vfs.c), registered on first use; NULL for SQLite's default. */
const char *store_vfs_name(void);

/* The writers' queue (store_turn.c): a mutex shared by every process that
 * writes the store at db_path, or NULL where it cannot be set up.  lock is
 * 1 when taken (and must then be unlocked by the same thread), 0 when the
 * writer goes on without it; both take NULL. */
struct store_turn;
struct store_turn *store_turn_open(const char *db_path);
int store_turn_lock(struct store_turn *t);
void store_turn_unlock(struct store_turn *t);
void store_turn_close(struct store_turn **t_p);

#endif
