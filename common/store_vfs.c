/*
 * store_vfs.c - the store's write-ahead log, written in one call per commit
 *
 * SQLite writes each WAL frame with two pwrite() calls, its 24-byte header
 * and its page.  A commit of 35 frames is 70 system calls made while the
 * commit holds the store's one write lock, and on the machines edix runs on
 * a system call costs microseconds.  This VFS wraps the default one and,
 * for WAL files only, gathers consecutive writes in a buffer that goes to
 * the file in one pwrite() before anything that needs it there: a sync, a
 * read, the file's size, a truncation, closing, or the frame that commits
 * a transaction.  So no reader in another process, and no fsync, ever sees
 * the file without the frames SQLite believes it has written.  Every other
 * file (the database itself, its shared-memory index) is the default VFS's
 * own, untouched.
 */
#include "store_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define S_VFS_NAME "edix-wal"
/* below 128 KiB: the unix VFS writes at most 0x1ffff bytes in one call */
#define S_BUF_SIZE  (120 * 1024)
#define S_FRAME_HDR 24 /* a WAL frame header, before each page */

typedef struct {
    sqlite3_file base;  /* our methods */
    sqlite3_file *real; /* the default VFS's file, after this struct */
    unsigned char *buf; /* gathered writes, NULL until the first */
    int len;            /* bytes in buf */
    sqlite3_int64 off;  /* where buf[0] goes in the file */
    int commit_next;    /* the last header was a commit frame's */
} s_wal_file;

static sqlite3_vfs s_vfs;
static sqlite3_vfs *s_real;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static int s_registered = SQLITE_ERROR;

static int
s_flush(s_wal_file *f)
{
    if (f->len == 0)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, f->len, f->off);
    f->len = 0;
    return rc;
}

static int
s_close(sqlite3_file *file)
{
    s_wal_file *f = (s_wal_file *)file;
    int rc = s_flush(f);
    int rc2 = f->real->pMethods->xClose(f->real);
    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int
s_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
    s_wal_file *f = (s_wal_file *)file;
    int rc = s_flush(f);
    if (rc != SQLITE_OK)
        return rc;
    return f->real->pMethods->xRead(f->real, out, amt, off);
}

static int
s_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    s_wal_file *f = (s_wal_file *)file;
    int rc;

    if (f->len > 0 && (off != f->off + f->len || f->len + amt > S_BUF_SIZE)) {
        if ((rc = s_flush(f)) != SQLITE_OK)
            return rc;
    }
    if (amt > S_BUF_SIZE)
        return f->real->pMethods->xWrite(f->real, data, amt, off);
    if (!f->buf && !(f->buf = malloc(S_BUF_SIZE)))
        return f->real->pMethods->xWrite(f->real, data, amt, off);
    if (f->len == 0)
        f->off = off;
    memcpy(f->buf + f->len, data, (size_t)amt);
    f->len += amt;

    /* a frame header whose "database size after commit" is not zero ends a
     * transaction: once its page is here, the lot goes to the file, so the
     * commit is there even where no sync follows it */
    if (amt == S_FRAME_HDR) {
        const unsigned char *h = data;
        f->commit_next = (h[4] | h[5] | h[6] | h[7]) != 0;
        return SQLITE_OK;
    }
    if (f->commit_next) {
        f->commit_next = 0;
        return s_flush(f);
    }
    return SQLITE_OK;
}

static int
s_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    s_wal_file *f = (s_wal_file *)file;
    int rc = s_flush(f);
    if (rc != SQLITE_OK)
        return rc;
    return f->real->pMethods->xTruncate(f->real, size);
}

static int
s_sync(sqlite3_file *file, int flags)
{
    s_wal_file *f = (s_wal_file *)file;
    int rc = s_flush(f);
    if (rc != SQLITE_OK)
        return rc;
    return f->real->pMethods->xSync(f->real, flags);
}

static int
s_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    s_wal_file *f = (s_wal_file *)file;
    int rc = s_flush(f);
    if (rc != SQLITE_OK)
        return rc;
    return f->real->pMethods->xFileSize(f->real, size);
}

static int
s_lock(sqlite3_file *file, int level)
{
    s_wal_file *f = (s_wal_file *)file;
    return f->real->pMethods->xLock(f->real, level);
}

static int
s_unlock(sqlite3_file *file, int level)
{
    s_wal_file *f = (s_wal_file *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}

static int
s_check_reserved(sqlite3_file *file, int *out)
{
    s_wal_file *f = (s_wal_file *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int
s_file_control(sqlite3_file *file, int op, void *arg)
{
    s_wal_file *f = (s_wal_file *)file;
    int rc = s_flush(f);
    if (rc != SQLITE_OK)
        return rc;
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int
s_sector_size(sqlite3_file *file)
{
    s_wal_file *f = (s_wal_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int
s_device_characteristics(sqlite3_file *file)
{
    s_wal_file *f = (s_wal_file *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* version 1: SQLite asks a WAL file for none of the shared-memory or
 * memory-mapping methods, which belong to the database file */
static const sqlite3_io_methods s_wal_methods = {
    1,
    s_close,
    s_read,
    s_write,
    s_truncate,
    s_sync,
    s_file_size,
    s_lock,
    s_unlock,
    s_check_reserved,
    s_file_control,
    s_sector_size,
    s_device_characteristics,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
};

static int
s_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return s_real->xOpen(s_real, name, file, flags, out_flags);

    s_wal_file *f = (s_wal_file *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    int rc = s_real->xOpen(s_real, name, f->real, flags, out_flags);
    /* no methods: SQLite calls no xClose on a file that did not open */
    f->base.pMethods = rc == SQLITE_OK && f->real->pMethods ? &s_wal_methods : NULL;
    return rc;
}

static void
s_register(void)
{
    s_real = sqlite3_vfs_find(NULL);
    if (!s_real)
        return;
    s_vfs = *s_real;
    s_vfs.zName = S_VFS_NAME;
    s_vfs.pNext = NULL; /* pAppData stays: the default VFS's methods read it */
    /* a file is either the default VFS's own, opened in place, or ours
     * with the default's after it */
    int wrapped = (int)sizeof(s_wal_file) + s_real->szOsFile;
    s_vfs.szOsFile = wrapped > s_real->szOsFile ? wrapped : s_real->szOsFile;
    s_vfs.xOpen = s_open;
    s_registered = sqlite3_vfs_register(&s_vfs, 0);
}

const char *
store_vfs_name(void)
{
    pthread_once(&s_once, s_register);
    return s_registered == SQLITE_OK ? S_VFS_NAME : NULL;
}
