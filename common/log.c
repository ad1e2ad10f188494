/*
 * log.c - key=value log lines to stderr (journald takes them from there).
 * One write(2) per line so lines of concurrent processes do not interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_service[32] = "edix";
static int s_min_level = EDIX_LOG_INFO;
static const char *s_names[] = {"debug", "info", "warn", "error"};

void
edix_log_init(const char *service, int min_level)
{
    snprintf(s_service, sizeof s_service, "%s", service);
    s_min_level = min_level;
    /* debug, info, warn or error; anything else leaves the default */
    const char *env = getenv("EDIX_LOG_LEVEL");
    for (int i = EDIX_LOG_DEBUG; env && i <= EDIX_LOG_ERROR; i++)
        if (strcmp(env, s_names[i]) == 0)
            s_min_level = i;
}

void
edix_log(int level, const char *msgid, const char *fmt, ...)
{
    if (level < s_min_level)
        return;
    char line[2048];
    int n = snprintf(line, sizeof line, "msg=%s level=%s svc=%s ", msgid && *msgid ? msgid : "-",
                     s_names[level], s_service);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line - 1)
        n = sizeof line - 2;
    /* a log line is one line: fold anything a caller passed through */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
}

void
edix_log_fatal(const char *event, const char *reason)
{
    /* a value is quoted: keep the quote balanced whatever the reason says */
    char clean[512];
    size_t n = 0;
    for (const char *p = reason ? reason : "?"; *p && n < sizeof clean - 1; p++)
        clean[n++] = *p == '"' ? '\'' : *p;
    clean[n] = '\0';
    edix_log(EDIX_LOG_ERROR, NULL, "event=%s reason=\"%s\"", event, clean);
    if (isatty(2))
        dprintf(2, "edix-%s: %s\n", s_service, reason ? reason : "?");
}
