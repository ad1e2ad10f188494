/*
 * partner_reasons.c - print a rejection's reasons for people.
 *
 * The hub sends them as a JSON array of objects with string members
 * "rule", "message" and "path".  This is a small, tolerant parser for
 * exactly that shape: other members are skipped, a member that is null,
 * a number or a boolean counts as its text.  Anything else (nested
 * structures, broken JSON) is printed raw rather than guessed at, so no
 * reason is ever hidden.  Control characters become spaces: one reason,
 * one line.
 */
#include "partner.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *rule;    /* e.g. BR-CO-10, XSD */
    char *message; /* what is wrong */
    char *path;    /* where, may be empty */
} s_reason_t;

typedef struct {
    const char *p; /* next character */
} s_json_t;

static void
s_ws(s_json_t *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

static int
s_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void
s_utf8(edix_buf_t *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    }
    edix_buf_add(b, u, n);
}

/* a JSON string into a new C string; NULL if malformed */
static char *
s_string(s_json_t *j)
{
    edix_buf_t b;
    edix_buf_init(&b);
    if (*j->p != '"')
        goto bad;
    j->p++;
    while (*j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c == '\0' || c < 0x20)
            goto bad;
        if (c != '\\') {
            edix_buf_add(&b, j->p++, 1);
            continue;
        }
        j->p++;
        const char *esc = strchr("\"\\/bfnrt", *j->p);
        if (*j->p && esc) {
            static const char out[] = "\"\\/\b\f\n\r\t";
            edix_buf_add(&b, &out[esc - "\"\\/bfnrt"], 1);
            j->p++;
            continue;
        }
        unsigned cp, lo;
        if (*j->p != 'u' || s_hex4(j->p + 1, &cp) < 0)
            goto bad;
        j->p += 5;
        if (cp >= 0xd800 && cp < 0xdc00 && j->p[0] == '\\' && j->p[1] == 'u' &&
            s_hex4(j->p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            j->p += 6;
        } else if (cp >= 0xd800 && cp < 0xe000) {
            cp = 0xfffd; /* a lone surrogate: show that something was there */
        }
        s_utf8(&b, cp);
    }
    j->p++;
    return edix_buf_take(&b);
bad:
    edix_buf_free(&b);
    return NULL;
}

/* a member value: a string, or the text of null/true/false/a number */
static char *
s_value(s_json_t *j)
{
    if (*j->p == '"')
        return s_string(j);
    const char *start = j->p;
    while (*j->p && strchr("+-.0123456789eEnulltruefalse", *j->p))
        j->p++;
    if (j->p == start)
        return NULL;
    if ((size_t)(j->p - start) == 4 && strncmp(start, "null", 4) == 0)
        return xstrdup("");
    return xstrndup(start, (size_t)(j->p - start));
}

static void
s_reasons_free(s_reason_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].rule);
        free(r[i].message);
        free(r[i].path);
    }
    free(r);
}

/* 0 with the reasons, -1 when the text is not the shape we know */
static int
s_parse(const char *json, s_reason_t **out, size_t *count)
{
    s_json_t j = {json};
    s_reason_t *r = NULL;
    size_t n = 0;
    *out = NULL;
    *count = 0;
    s_ws(&j);
    if (*j.p++ != '[')
        goto bad;
    s_ws(&j);
    if (*j.p == ']')
        goto done;
    for (;;) {
        s_ws(&j);
        if (*j.p++ != '{')
            goto bad;
        r = xrealloc(r, (n + 1) * sizeof *r);
        s_reason_t *one = &r[n++];
        memset(one, 0, sizeof *one);
        s_ws(&j);
        while (*j.p != '}') {
            char *key = s_string(&j);
            if (!key)
                goto bad;
            s_ws(&j);
            char *val = NULL;
            if (*j.p == ':') {
                j.p++;
                s_ws(&j);
                val = s_value(&j);
            }
            char **slot = strcmp(key, "rule") == 0      ? &one->rule
                          : strcmp(key, "message") == 0 ? &one->message
                          : strcmp(key, "path") == 0    ? &one->path
                                                        : NULL;
            free(key);
            if (!val)
                goto bad;
            if (slot) {
                free(*slot);
                *slot = val;
            } else {
                free(val);
            }
            s_ws(&j);
            if (*j.p == ',') {
                j.p++;
                s_ws(&j);
            } else if (*j.p != '}') {
                goto bad;
            }
        }
        j.p++;
        s_ws(&j);
        if (*j.p == ']')
            break;
        if (*j.p++ != ',')
            goto bad;
    }
done:
    j.p++;
    s_ws(&j);
    if (*j.p)
        goto bad;
    *out = r;
    *count = n;
    return 0;
bad:
    s_reasons_free(r, n);
    return -1;
}

/* one reason, one line: control characters become spaces */
static char *
s_line(char *s)
{
    for (char *p = s; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return s;
}

void
partner_print_reasons(FILE *out, const char *json)
{
    s_reason_t *r;
    size_t n;
    if (!json || !*json)
        return;
    if (s_parse(json, &r, &n) < 0) {
        char *raw = s_line(xstrdup(json));
        fprintf(out, "  %s\n", raw);
        free(raw);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        s_line(r[i].rule);
        s_line(r[i].message);
        s_line(r[i].path);
        const char *rule = r[i].rule && *r[i].rule ? r[i].rule : "-";
        const char *msg = r[i].message ? r[i].message : "";
        if (r[i].path && *r[i].path)
            fprintf(out, "  %s: %s (%s)\n", rule, msg, r[i].path);
        else
            fprintf(out, "  %s: %s\n", rule, msg);
    }
    s_reasons_free(r, n);
}
