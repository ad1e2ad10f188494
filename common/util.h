/*
 * util.h - small helpers every edix module uses: allocation that aborts,
 * a growable byte buffer, files written atomically, clocks, hex and JSON
 * string escaping.
 *
 * Functions named x* abort the process on out-of-memory instead of failing:
 * they are for sizes that are small and bounded by the program, never for
 * sizes a partner chooses.  Everything else returns 0 or -1 with error text
 * in *err (malloc'd, the caller frees it).
 */
#ifndef EDIX_UTIL_H
#define EDIX_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Set *err (if err is not NULL) to a new formatted string; returns -1 so
 * that "return edix_fail(err, ...)" reads naturally. */
int edix_fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A growable buffer; data is always NUL-terminated for convenience. */
typedef struct {
    char *data;  /* bytes, NUL after len */
    size_t len;  /* bytes used */
    size_t size; /* bytes allocated */
} edix_buf_t;

void edix_buf_init(edix_buf_t *b);
void edix_buf_free(edix_buf_t *b);
void edix_buf_add(edix_buf_t *b, const void *data, size_t len);
void edix_buf_adds(edix_buf_t *b, const char *s);
void edix_buf_addf(edix_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* JSON string with quotes; NULL becomes null */
void edix_buf_json_str(edix_buf_t *b, const char *s);
/* take ownership of the data; the buffer is empty afterwards */
char *edix_buf_take(edix_buf_t *b);

/* Read a whole file, refusing files larger than max bytes. */
int edix_file_read(const char *path, size_t max, char **data_p, size_t *len_p, char **err);
/* Write a file atomically: temp file with mode, fsync, rename, fsync the
 * directory.  With exclusive set, refuse to replace an existing file. */
int edix_file_write(const char *path, const void *data, size_t len, mode_t mode, int exclusive,
                    char **err);
/* fsync the directory that holds path */
int edix_dir_sync(const char *path, char **err);
/* mkdir -p with mode for the last component; ok if it exists */
int edix_mkdir(const char *path, mode_t mode, char **err);
int edix_file_exists(const char *path);

/* Milliseconds since the epoch (wall clock) and a monotonic clock. */
int64_t edix_now_ms(void);
int64_t edix_mono_ms(void);
/* RFC 3339 UTC with milliseconds: 2026-11-23T14:05:01.123Z (buf >= 32) */
void edix_time_format(int64_t ms, char *buf, size_t size);

void edix_hex(const unsigned char *in, size_t len, char *out);  /* out: 2*len+1 */
int edix_unhex(const char *in, unsigned char *out, size_t len); /* exactly 2*len hex digits */

/* The operating-system user running this process, for audit records. */
const char *edix_os_user(void);

/* Home directory: --home if given, else $EDIX_HOME; NULL with *err if none. */
char *edix_home_resolve(const char *opt, char **err);

/* Trim white space in place, returns s. */
char *edix_trim(char *s);

#endif
