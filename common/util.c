/*
 * util.c - allocation, buffers, atomic files, clocks, hex, JSON escaping.
 *
 * The atomic write follows the classic sequence: write a temp file in the
 * same directory, fsync it, rename it over the target, fsync the directory.
 * A crash leaves either the old file or the new one, never half of one.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <ctype.h>

static void
s_oom(void)
{
    static const char msg[] = "edix: out of memory\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    abort();
}

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        s_oom();
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        s_oom();
    return p;
}

void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        s_oom();
    return q;
}

char *
xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        s_oom();
    char *p = xmalloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}

int
edix_fail(char **err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        free(*err);
        *err = xvasprintf(fmt, ap);
        va_end(ap);
    }
    return -1;
}

void
edix_buf_init(edix_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->size = 0;
}

void
edix_buf_free(edix_buf_t *b)
{
    free(b->data);
    edix_buf_init(b);
}

static void
s_buf_grow(edix_buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->size)
        return;
    size_t size = b->size ? b->size : 256;
    while (size < b->len + extra + 1)
        size *= 2;
    b->data = xrealloc(b->data, size);
    b->size = size;
}

void
edix_buf_add(edix_buf_t *b, const void *data, size_t len)
{
    s_buf_grow(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void
edix_buf_adds(edix_buf_t *b, const char *s)
{
    edix_buf_add(b, s, strlen(s));
}

void
edix_buf_addf(edix_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    edix_buf_adds(b, s);
    free(s);
}

void
edix_buf_json_str(edix_buf_t *b, const char *s)
{
    if (!s) {
        edix_buf_adds(b, "null");
        return;
    }
    edix_buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            edix_buf_adds(b, "\\\"");
            break;
        case '\\':
            edix_buf_adds(b, "\\\\");
            break;
        case '\n':
            edix_buf_adds(b, "\\n");
            break;
        case '\r':
            edix_buf_adds(b, "\\r");
            break;
        case '\t':
            edix_buf_adds(b, "\\t");
            break;
        default:
            if (*p < 0x20)
                edix_buf_addf(b, "\\u%04x", *p);
            else
                edix_buf_add(b, p, 1);
        }
    }
    edix_buf_add(b, "\"", 1);
}

char *
edix_buf_take(edix_buf_t *b)
{
    if (!b->data)
        return xstrdup("");
    char *p = b->data;
    edix_buf_init(b);
    return p;
}

int
edix_file_read(const char *path, size_t max, char **data_p, size_t *len_p, char **err)
{
    int rc = -1;
    char *data = NULL;
    *data_p = NULL;
    *len_p = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return edix_fail(err, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        edix_fail(err, "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        edix_fail(err, "%s is not a regular file", path);
        goto out;
    }
    if ((size_t)st.st_size > max) {
        edix_fail(err, "%s is %lld bytes, more than the limit of %zu", path, (long long)st.st_size,
                  max);
        goto out;
    }
    size_t size = (size_t)st.st_size, len = 0;
    data = xmalloc(size + 1);
    while (len < size) {
        ssize_t n = read(fd, data + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            edix_fail(err, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    data[len] = '\0';
    *data_p = data;
    *len_p = len;
    data = NULL;
    rc = 0;
out:
    free(data);
    close(fd);
    return rc;
}

int
edix_dir_sync(const char *path, char **err)
{
    char *copy = xstrdup(path);
    int rc = 0;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        rc = edix_fail(err, "cannot sync the directory of %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

int
edix_file_write(const char *path, const void *data, size_t len, mode_t mode, int exclusive,
                char **err)
{
    int rc = -1;
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        edix_fail(err, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (fchmod(fd, mode) < 0) {
        edix_fail(err, "cannot set the mode of %s: %s", tmp, strerror(errno));
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            edix_fail(err, "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) < 0) {
        edix_fail(err, "cannot sync %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (exclusive) {
        /* link() fails if the target exists: no window where it is replaced */
        if (link(tmp, path) < 0) {
            if (errno == EEXIST)
                edix_fail(err, "%s exists already; not replacing it", path);
            else
                edix_fail(err, "cannot create %s: %s", path, strerror(errno));
            goto out;
        }
        unlink(tmp);
    } else if (rename(tmp, path) < 0) {
        edix_fail(err, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto out;
    }
    rc = edix_dir_sync(path, err);
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
    }
    free(tmp);
    return rc;
}

int
edix_mkdir(const char *path, mode_t mode, char **err)
{
    char *copy = xstrdup(path);
    int rc = 0;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
            rc = edix_fail(err, "cannot create directory %s: %s", copy, strerror(errno));
            goto out;
        }
        *p = '/';
    }
    if (mkdir(copy, mode) < 0) {
        struct stat st;
        if (errno != EEXIST || stat(copy, &st) < 0 || !S_ISDIR(st.st_mode))
            rc = edix_fail(err, "cannot create directory %s: %s", copy, strerror(errno));
    }
out:
    free(copy);
    return rc;
}

int
edix_file_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int64_t
edix_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
edix_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
edix_time_format(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void
edix_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int
s_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
edix_unhex(const char *in, unsigned char *out, size_t len)
{
    if (strlen(in) != 2 * len)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int hi = s_hexval((unsigned char)in[2 * i]), lo = s_hexval((unsigned char)in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

const char *
edix_os_user(void)
{
    static char name[64];
    if (!name[0]) {
        struct passwd *pw = getpwuid(geteuid());
        if (pw && pw->pw_name)
            snprintf(name, sizeof name, "%s", pw->pw_name);
        else
            snprintf(name, sizeof name, "uid:%ld", (long)geteuid());
    }
    return name;
}

char *
edix_home_resolve(const char *opt, char **err)
{
    const char *home = opt && *opt ? opt : getenv("EDIX_HOME");
    if (!home || !*home) {
        edix_fail(err, "no home: give --home DIR or set EDIX_HOME");
        return NULL;
    }
    return xstrdup(home);
}

char *
edix_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}
