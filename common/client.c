/*
 * client.c - the partner client library (include/edix/edix.h): submit
 * documents and verify their receipts, ask for states, receive documents
 * into a directory.  docs/protocol.md is the wire contract.
 *
 * What it guarantees:
 *  - Retries never duplicate: a submission is only ever resent with the
 *    same client id, and the hub answers a repeat with the original receipt.
 *  - A receipt reaches the caller only once its signature verified with the
 *    bundle's hub_sign_public and it names the bytes sent (size, SHA-256),
 *    the client id and the hub id it arrived with, and this partner.
 *  - A delivered document is acknowledged only after it is durably on disk
 *    (edix_file_write: temp file, fsync, link, fsync of the directory), and
 *    a document signed by the hub only after that signature verified.
 *
 * How resending works: ZeroMQ reconnects by itself and keeps what was
 * queued, so a request is resent only when no answer came within a second
 * (backing off to 5 s).  When nothing at all came back on the intake
 * connection for that long, the connection is presumed dead (hub restarted,
 * network gone) and replaced before resending, so copies of a large
 * document do not pile up in a queue while the hub is away.
 *
 * On failure: -1 with a one-line reason in *err (malloc'd) and, where there
 * is one, the hub's ERROR code in *code (0 for local problems and
 * timeouts).  A refused CURVE handshake fails at once instead of waiting.
 */
#include "edix/edix.h"
#include "config.h"
#include "crypto.h"
#include "net.h"
#include "proto.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define C_RESEND_FIRST    1000               /* ms before the first resend */
#define C_RESEND_MAX      5000               /* resend backoff cap */
#define C_TIMEOUT_DEF     30000              /* when the caller gives none */
#define C_WINDOW          64                 /* submissions in flight at once */
#define C_WINDOW_BYTES    ((size_t)32 << 20) /* bytes in flight at once */
#define C_INTAKE_MAX      ((size_t)2 << 20)  /* largest intake answer: STATE with reasons */
#define C_DELIVER_MAX     ((size_t)1 << 30)  /* largest document (the hub's cap is lower) */
#define C_READY_WINDOW    64                 /* deliveries we take unacknowledged */
#define C_READY_EVERY     2000               /* ms between READYs while idle */
#define C_IDLE_MS         1500               /* receive without follow: quiet this long, done */
#define C_POLL_SLICE      200                /* ms per poll, so flags and refusals are seen */
#define C_HUB_DEFAULT_MAX ((size_t)10 << 20) /* the hub's default max_document_size */
#define C_RECENT          1024               /* hub ids remembered as already counted */

static const char s_refused[] =
    "the hub refused this partner's key (unknown, retired or suspended partner)";

struct edix_client {
    edix_bundle_t *bundle;                 /* keys and endpoints */
    edix_net_t *net;                       /* the ZeroMQ context */
    edix_sock_t *intake;                   /* DEALER to the intake, made on first use */
    int64_t intake_rx_ms;                  /* last answer on it (or its creation) */
    size_t max_doc;                        /* the hub's max_document_size, 0 unknown */
    edix_slice_t ids[EDIX_PROTO_MAX_WORK]; /* decoder storage, needed only for WORK */
};

/* ---- small helpers ---------------------------------------------------- */

/* ids on the wire: 1-128 printable ASCII characters without spaces */
static int
s_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > EDIX_PROTO_MAX_ID)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* the first digits characters of s are hex digits */
static int
s_hexn(const char *s, size_t digits)
{
    for (size_t i = 0; i < digits; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

static int
s_hex_ok(const char *s, size_t digits)
{
    return s && strlen(s) == digits && s_hexn(s, digits);
}

static edix_slice_t
s_slice(const char *s)
{
    return (edix_slice_t){s, strlen(s)};
}

static int64_t
s_min(int64_t a, int64_t b)
{
    return (int)(a < b ? a : b);
}

/* The next well-formed message waiting on sock: 0 got one (fields valid
 * until *in is destroyed), 1 nothing waiting, -1 socket error.  A
 * malformed message from the hub has no one to answer it: skip it. */
static int
s_next(edix_client_t *self, edix_sock_t *sock, edix_inmsg_t **in, edix_pmsg_t *msg)
{
    for (;;) {
        edix_inmsg_destroy(in);
        int rc = edix_sock_recv(sock, in);
        if (rc < 0 && (errno == EINTR || errno == EAGAIN))
            return 1;
        if (rc != 0)
            return rc;
        size_t count;
        const edix_slice_t *frames = edix_inmsg_frames(*in, &count);
        char why[128];
        if (edix_proto_decode(frames, count, msg, self->ids, why, sizeof why) == 0)
            return 0;
    }
}

/* ---- the client ------------------------------------------------------- */

edix_client_t *
edix_client_new(const char *bundle_path, char **err)
{
    edix_client_t *self = NULL;
    edix_kv_t *kv = NULL;
    edix_bundle_t *bundle = edix_bundle_load(bundle_path, err);
    if (!bundle)
        goto out;
    if (!s_hex_ok(bundle->hub_sign_public, 64)) {
        edix_fail(err, "%s: hub_sign_public is not 64 hex digits", bundle_path);
        goto out;
    }
    if (!s_id_ok(bundle->partner)) {
        edix_fail(err, "%s: the partner id is not a valid id", bundle_path);
        goto out;
    }
    /* optional: the hub's size cap.  ZeroMQ on the hub drops a connection
     * that carries a message far over it, so without knowing the cap a
     * client could only time out; with it, we refuse locally with 413. */
    kv = edix_kv_load(bundle_path, err);
    if (!kv)
        goto out;
    const char *max = edix_kv_get(kv, "max_document_size");
    unsigned long long max_doc = 0;
    if (max) {
        char *end;
        errno = 0;
        max_doc = strtoull(max, &end, 10);
        if (errno || end == max || *end || max_doc == 0) {
            edix_fail(err, "%s: max_document_size is not a positive number", bundle_path);
            goto out;
        }
    }
    edix_net_t *net = edix_net_new(err);
    if (!net)
        goto out;
    self = xcalloc(1, sizeof *self);
    self->bundle = bundle;
    self->net = net;
    self->max_doc = (size_t)max_doc;
    bundle = NULL;
out:
    edix_kv_destroy(&kv);
    edix_bundle_destroy(&bundle);
    return self;
}

void
edix_client_destroy(edix_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    edix_client_t *self = *self_p;
    /* sockets before the context: terminating it waits for them */
    edix_sock_destroy(&self->intake);
    edix_net_destroy(&self->net);
    edix_bundle_destroy(&self->bundle);
    free(self);
    *self_p = NULL;
}

const char *
edix_client_partner(const edix_client_t *self)
{
    return self->bundle->partner;
}

static edix_sock_t *
s_connect(edix_client_t *self, const char *endpoint, size_t max, char **err)
{
    const edix_bundle_t *b = self->bundle;
    return edix_sock_client(self->net, endpoint, b->hub_curve_public, b->curve_public,
                            b->curve_secret, max, err);
}

/* the intake connection, made on first use */
static int
s_intake(edix_client_t *self, char **err)
{
    if (self->intake)
        return 0;
    self->intake = s_connect(self, self->bundle->intake_endpoint, C_INTAKE_MAX, err);
    if (!self->intake)
        return -1;
    self->intake_rx_ms = edix_mono_ms();
    return 0;
}

/* Replace a connection that has gone quiet.  The new socket is made before
 * the old one goes, so the two never share an address (net.c names the
 * monitor endpoint after it).  Whatever was queued on the old one is
 * dropped on purpose: the caller resends what is still unanswered. */
static int
s_intake_renew(edix_client_t *self, char **err)
{
    edix_sock_t *fresh = s_connect(self, self->bundle->intake_endpoint, C_INTAKE_MAX, err);
    if (!fresh)
        return -1;
    edix_sock_destroy(&self->intake);
    self->intake = fresh;
    self->intake_rx_ms = edix_mono_ms();
    return 0;
}

/* wait up to ms for the intake; 0 input or timeout, -1 refused or broken */
static int
s_intake_wait(edix_client_t *self, int ms, char **err)
{
    int ready = 0;
    if (ms < 0)
        ms = 0;
    if (edix_poll(&self->intake, 1, ms, &ready) < 0 && errno != EINTR)
        return edix_fail(err, "cannot wait for the hub: %s", strerror(errno));
    if (edix_sock_refused(self->intake))
        return edix_fail(err, "%s", s_refused);
    return 0;
}

/* ---- receipts ---------------------------------------------------------- */

/* Find "key: value" lines after the first.  Returns how many there are;
 * *val and *vlen describe the first (value trimmed of blanks). */
static int
s_stmt_find(const char *stmt, const char *key, const char **val, size_t *vlen)
{
    size_t klen = strlen(key);
    int found = 0;
    const char *line = strchr(stmt, '\n');
    while (line) {
        line++;
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (len > klen && memcmp(line, key, klen) == 0 && line[klen] == ':') {
            const char *v = line + klen + 1;
            size_t n = len - klen - 1;
            while (n > 0 && (*v == ' ' || *v == '\t'))
                v++, n--;
            while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
            if (found++ == 0) {
                *val = v;
                *vlen = n;
            }
        }
        line = end;
    }
    return found;
}

char *
edix_receipt_field(const char *statement, const char *key)
{
    const char *v = NULL;
    size_t n = 0;
    if (!statement || !key || s_stmt_find(statement, key, &v, &n) == 0)
        return NULL;
    return xstrndup(v, n);
}

/* exactly one "key: value" line; its value in *val and *vlen */
static int
s_stmt_one(const char *stmt, const char *key, const char **val, size_t *vlen, char **err)
{
    int n = s_stmt_find(stmt, key, val, vlen);
    if (n == 0)
        return edix_fail(err, "the receipt statement has no '%s' line", key);
    if (n > 1)
        return edix_fail(err, "the receipt statement has %d '%s' lines", n, key);
    return 0;
}

static int
s_stmt_is(const char *stmt, const char *key, const char *want, char **err)
{
    const char *v;
    size_t n;
    if (s_stmt_one(stmt, key, &v, &n, err) < 0)
        return -1;
    if (n != strlen(want) || memcmp(v, want, n) != 0)
        return edix_fail(err, "the receipt statement names %s '%.*s', not '%s'", key, (int)n, v,
                         want);
    return 0;
}

/* edix_receipt_verify; with verify 0 the signature is taken as verified
 * already (one Ed25519 verification is some 50 us) */
static int
s_receipt_check(const char *hub_sign_public_hex, const char *statement, const char *signature_hex,
                const void *doc, size_t len, int verify, char **err)
{
    static const char magic[] = "edix-receipt/1";
    const char *v;
    size_t n;
    if (!s_hex_ok(hub_sign_public_hex, 64))
        return edix_fail(err, "the hub's key is not 64 hex digits");
    if (!s_hex_ok(signature_hex, 128))
        return edix_fail(err, "the receipt signature is not 128 hex digits");
    if (!statement || strncmp(statement, magic, sizeof magic - 1) != 0 ||
        (statement[sizeof magic - 1] != '\n' &&
         strncmp(statement + sizeof magic - 1, "\r\n", 2) != 0))
        return edix_fail(err, "not an edix receipt statement (first line is not %s)", magic);
    if (verify &&
        edix_sign_verify(hub_sign_public_hex, statement, strlen(statement), signature_hex) < 0)
        return edix_fail(err, "the receipt signature does not verify with the hub's key");
    if (s_stmt_one(statement, "hub-id", &v, &n, err) < 0 ||
        s_stmt_one(statement, "client-id", &v, &n, err) < 0 ||
        s_stmt_one(statement, "sha256", &v, &n, err) < 0 ||
        s_stmt_one(statement, "size", &v, &n, err) < 0)
        return -1;
    if (!doc)
        return 0;
    /* size: plain decimal digits, compared without overflow */
    unsigned long long size = 0;
    int size_ok = n > 0 && n <= 19;
    for (size_t i = 0; size_ok && i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            size_ok = 0;
        else
            size = size * 10 + (unsigned long long)(v[i] - '0');
    }
    if (!size_ok)
        return edix_fail(err, "the receipt's size '%.*s' is not a number", (int)n, v);
    if (size != (unsigned long long)len)
        return edix_fail(err, "the receipt says %llu bytes, the document has %zu", size, len);
    char hex[EDIX_SHA256_HEX];
    edix_sha256_hex(doc, len, hex);
    s_stmt_one(statement, "sha256", &v, &n, err);
    if (n != 64 || strncasecmp(v, hex, 64) != 0)
        return edix_fail(err, "the receipt's sha256 does not match the document");
    return 0;
}

int
edix_receipt_verify(const char *hub_sign_public_hex, const char *statement,
                    const char *signature_hex, const void *doc, size_t len, char **err)
{
    return s_receipt_check(hub_sign_public_hex, statement, signature_hex, doc, len, 1, err);
}

char *
edix_receipt_text(const edix_receipt_t *r)
{
    if (!r || !r->statement)
        return NULL;
    size_t n = strlen(r->statement);
    /* the hub ends its statements with a newline; one that does not could
     * not be split off again exactly, so it is not written in this form */
    if (n == 0 || r->statement[n - 1] != '\n')
        return NULL;
    return xasprintf("%ssignature: %s\n", r->statement, r->signature);
}

int
edix_receipt_split(const char *text, char **statement_p, char signature[129], char **err)
{
    static const char key[] = "signature: ";
    *statement_p = NULL;
    signature[0] = '\0';
    if (!text)
        return edix_fail(err, "no receipt");
    size_t n = strlen(text);
    /* the last line, without its newline */
    size_t end = n > 0 && text[n - 1] == '\n' ? n - 1 : n;
    size_t start = end;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    size_t len = end - start;
    if (start == 0 || len != sizeof key - 1 + 128 ||
        strncmp(text + start, key, sizeof key - 1) != 0 ||
        !s_hexn(text + start + sizeof key - 1, 128))
        return edix_fail(err, "not a receipt file (the last line is not 'signature: ' and 128 "
                              "hex digits)");
    memcpy(signature, text + start + sizeof key - 1, 128);
    signature[128] = '\0';
    *statement_p = xstrndup(text, start);
    return 0;
}

const char *
edix_client_hub_sign_public(const edix_client_t *self)
{
    return self->bundle->hub_sign_public;
}

void
edix_receipt_clear(edix_receipt_t *r)
{
    if (!r)
        return;
    free(r->statement);
    memset(r, 0, sizeof *r);
}

void
edix_submission_clear(edix_submission_t *s)
{
    if (!s)
        return;
    edix_receipt_clear(&s->receipt);
    free(s->err);
    s->err = NULL;
    s->status = 0;
    s->code = 0;
}

/* Check a RECEIPT against what we sent; on success fill r.  On failure
 * *code is 409 when the hub validly signed a receipt for our client id but
 * other bytes, else 0. */
static int
s_receipt_take(edix_client_t *self, const edix_submission_t *sub, const edix_pmsg_t *msg,
               edix_receipt_t *r, int *code, char **err)
{
    int rc = -1, conflict = 0;
    char *hub_id = edix_slice_dup(msg->hub_id);
    char *stmt = edix_slice_dup(msg->statement);
    char *sig = edix_slice_dup(msg->signature);
    char *why = NULL;
    const char *pub = self->bundle->hub_sign_public, *v;
    size_t n;
    *code = 0;
    if (edix_receipt_verify(pub, stmt, sig, NULL, 0, &why) < 0 ||
        s_stmt_is(stmt, "hub-id", hub_id, &why) < 0 ||
        s_stmt_is(stmt, "client-id", sub->client_id, &why) < 0)
        goto out;
    /* older hubs might leave sender out; when present it must be us */
    if (s_stmt_find(stmt, "sender", &v, &n) > 0 &&
        s_stmt_is(stmt, "sender", self->bundle->partner, &why) < 0)
        goto out;
    if (s_receipt_check(pub, stmt, sig, sub->doc, sub->len, 0, &why) < 0) {
        /* genuinely the hub's, for our client id, but for other bytes: a
         * late answer to an earlier submission of this id with another
         * document.  The hub holds the id for that one: a conflict. */
        conflict = 1;
        *code = EDIX_ERR_CONFLICT;
        goto out;
    }
    memset(r, 0, sizeof *r);
    snprintf(r->hub_id, sizeof r->hub_id, "%s", hub_id);
    snprintf(r->client_id, sizeof r->client_id, "%s", sub->client_id);
    snprintf(r->signature, sizeof r->signature, "%s", sig);
    r->statement = stmt;
    stmt = NULL;
    rc = 0;
out:
    if (rc < 0 && conflict)
        edix_fail(err, "client id was used for a different document (%s)", hub_id);
    else if (rc < 0)
        edix_fail(err, "the hub's receipt for %s is not valid: %s", sub->client_id, why);
    free(why);
    free(sig);
    free(stmt);
    free(hub_id);
    return rc;
}

/* ---- submitting --------------------------------------------------------- */

typedef struct {
    int64_t first_ms; /* first sent */
    int64_t next_ms;  /* resend at */
    int interval;     /* current resend interval */
    char *busy;       /* the hub's last 503 reason, for the timeout message */
} s_track_t;

typedef struct {
    edix_client_t *self;
    edix_submission_t *subs;
    s_track_t *t;
    size_t fl[C_WINDOW]; /* indexes in flight */
    size_t nfl;
    size_t bytes; /* in flight */
    size_t left;  /* not finished */
    edix_submitted_fn *cb;
    void *arg;
    int timeout_ms;
} s_batch_t;

static int
s_send_submit(edix_client_t *self, const edix_submission_t *s)
{
    edix_pmsg_t m = {
        .cmd = EDIX_CMD_SUBMIT, .client_id = s_slice(s->client_id), .body = {s->doc, s->len}};
    /* a DEALER queues while disconnected; a full queue just means resend later */
    return edix_sock_send(self->intake, NULL, &m, 1);
}

static void
s_backoff(s_track_t *t, int64_t now)
{
    t->interval = t->interval * 2 > C_RESEND_MAX ? C_RESEND_MAX : t->interval * 2;
    t->next_ms = now + t->interval;
}

/* finish submission i: status 1, or -1 with code and a reason (taken) */
static void
s_finish(s_batch_t *b, size_t i, int status, int code, char *why)
{
    edix_submission_t *s = &b->subs[i];
    s->status = status;
    s->code = code;
    s->err = why;
    for (size_t k = 0; k < b->nfl; k++)
        if (b->fl[k] == i) {
            b->fl[k] = b->fl[--b->nfl];
            b->bytes -= s->len;
            break;
        }
    free(b->t[i].busy);
    b->t[i].busy = NULL;
    b->left--;
    if (b->cb)
        b->cb(b->arg, i);
}

/* the submission in flight that an answer refers to, or -1 */
static long
s_find(const s_batch_t *b, edix_slice_t key)
{
    for (size_t k = 0; k < b->nfl; k++)
        if (edix_slice_eq(key, b->subs[b->fl[k]].client_id))
            return (long)b->fl[k];
    /* an ERROR that could not name what it answers: only unambiguous with one */
    if (key.len == 0 && b->nfl == 1)
        return (long)b->fl[0];
    return -1;
}

static void
s_answer(s_batch_t *b, const edix_pmsg_t *msg, int64_t now)
{
    if (msg->cmd == EDIX_CMD_RECEIPT) {
        long i = s_find(b, msg->client_id);
        if (i < 0)
            return; /* the answer to a resend of something already done */
        edix_submission_t *s = &b->subs[i];
        char *why = NULL;
        int code = 0;
        if (s_receipt_take(b->self, s, msg, &s->receipt, &code, &why) == 0)
            s_finish(b, (size_t)i, 1, 0, NULL);
        else
            s_finish(b, (size_t)i, -1, code, why);
    } else if (msg->cmd == EDIX_CMD_ERROR) {
        long i = s_find(b, msg->ref);
        if (i < 0)
            return;
        if (msg->code == EDIX_ERR_TEMPORARY) {
            /* the hub is busy: same client id again later, until the timeout */
            s_track_t *t = &b->t[i];
            free(t->busy);
            t->busy = edix_slice_dup(msg->text);
            s_backoff(t, now);
            return;
        }
        char *text = edix_slice_dup(msg->text);
        if (!*text) {
            free(text);
            text = xstrdup("refused");
        }
        s_finish(b, (size_t)i, -1, msg->code, text);
    }
}

/* fail everything unfinished with the same reason */
static void
s_fail_rest(s_batch_t *b, size_t n, const char *why)
{
    for (size_t i = 0; i < n; i++)
        if (b->subs[i].status == 0)
            s_finish(b, i, -1, 0, xstrdup(why));
}

/* Resend what is due; time out what is too old.  Replaces a quiet
 * connection first (see the file comment). */
static int
s_resend(s_batch_t *b, int64_t now, char **err)
{
    edix_client_t *self = b->self;
    int due = 0;
    for (size_t k = 0; k < b->nfl;) {
        size_t i = b->fl[k];
        s_track_t *t = &b->t[i];
        if (now - t->first_ms >= b->timeout_ms) {
            /* a document over the hub's cap never gets an answer: ZeroMQ on
             * the hub drops the connection; say so when that is likely */
            const char *hint = !self->max_doc && b->subs[i].len > C_HUB_DEFAULT_MAX
                                   ? " (is the document larger than the hub's size limit?)"
                                   : "";
            char *why =
                t->busy ? xasprintf("the hub is busy (%s); gave up after %g s", t->busy,
                                    b->timeout_ms / 1000.0)
                        : xasprintf("no answer from the hub at %s within %g s%s",
                                    self->bundle->intake_endpoint, b->timeout_ms / 1000.0, hint);
            int code = t->busy ? EDIX_ERR_TEMPORARY : 0;
            s_finish(b, i, -1, code, why); /* moves the last entry to k */
            continue;
        }
        if (t->next_ms <= now)
            due++;
        k++;
    }
    if (due == 0)
        return 0;
    int renew = now - self->intake_rx_ms >= C_RESEND_FIRST;
    if (renew && s_intake_renew(self, err) < 0)
        return -1;
    for (size_t k = 0; k < b->nfl; k++) {
        s_track_t *t = &b->t[b->fl[k]];
        if (t->next_ms <= now) {
            s_send_submit(self, &b->subs[b->fl[k]]);
            s_backoff(t, now);
        } else if (renew) {
            /* the old connection took its copy with it */
            s_send_submit(self, &b->subs[b->fl[k]]);
        }
    }
    return 0;
}

int
edix_client_submit_many(edix_client_t *self, edix_submission_t *subs, size_t n, int timeout_ms,
                        edix_submitted_fn *cb, void *arg, char **err)
{
    int rc = -1;
    char *why = NULL;
    edix_inmsg_t *in = NULL;
    s_batch_t b = {.self = self, .subs = subs, .left = n, .cb = cb, .arg = arg};
    b.timeout_ms = timeout_ms > 0 ? timeout_ms : C_TIMEOUT_DEF;
    b.t = xcalloc(n ? n : 1, sizeof *b.t);
    for (size_t i = 0; i < n; i++) {
        memset(&subs[i].receipt, 0, sizeof subs[i].receipt);
        subs[i].status = 0;
        subs[i].code = 0;
        subs[i].err = NULL;
    }
    /* what the hub would refuse anyway is refused here, without a round trip */
    for (size_t i = 0; i < n; i++) {
        if (!s_id_ok(subs[i].client_id))
            s_finish(&b, i, -1, 0,
                     xstrdup("a client id is 1 to 128 printable characters without spaces"));
        else if (!subs[i].doc || subs[i].len == 0)
            s_finish(&b, i, -1, 0, xstrdup("empty document"));
        else if (self->max_doc && subs[i].len > self->max_doc)
            s_finish(&b, i, -1, EDIX_ERR_TOO_LARGE,
                     xasprintf("document is %zu bytes, more than the hub's limit of %zu",
                               subs[i].len, self->max_doc));
    }
    if (b.left > 0 && s_intake(self, &why) < 0) {
        s_fail_rest(&b, n, why);
        goto out;
    }
    size_t next = 0;
    while (b.left > 0) {
        int64_t now = edix_mono_ms();
        /* keep the window full; one document always goes, whatever its size */
        while (next < n && b.nfl < C_WINDOW &&
               (b.nfl == 0 || b.bytes + subs[next].len <= C_WINDOW_BYTES)) {
            size_t i = next++;
            if (subs[i].status != 0)
                continue;
            s_send_submit(self, &subs[i]);
            b.t[i] = (s_track_t){
                .first_ms = now, .next_ms = now + C_RESEND_FIRST, .interval = C_RESEND_FIRST};
            b.fl[b.nfl++] = i;
            b.bytes += subs[i].len;
        }
        if (s_resend(&b, now, &why) < 0) {
            s_fail_rest(&b, n, why);
            break;
        }
        if (b.left == 0)
            break;
        int64_t wake = now + C_POLL_SLICE;
        for (size_t k = 0; k < b.nfl; k++) {
            const s_track_t *t = &b.t[b.fl[k]];
            wake = s_min(wake, s_min(t->next_ms, t->first_ms + b.timeout_ms));
        }
        if (s_intake_wait(self, (int)(wake - now), &why) < 0) {
            s_fail_rest(&b, n, why);
            break;
        }
        edix_pmsg_t msg;
        int got;
        while ((got = s_next(self, self->intake, &in, &msg)) == 0) {
            now = edix_mono_ms();
            self->intake_rx_ms = now;
            s_answer(&b, &msg, now);
        }
        if (got < 0) {
            free(why);
            why = xasprintf("cannot receive from the hub: %s", strerror(errno));
            s_fail_rest(&b, n, why);
            break;
        }
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (subs[i].status != 1) {
            edix_fail(err, "%s: %s", subs[i].client_id, subs[i].err ? subs[i].err : "failed");
            rc = -1;
        }
out:
    if (rc < 0 && n > 0 && err && !*err)
        edix_fail(err, "%s", why ? why : "submission failed");
    edix_inmsg_destroy(&in);
    for (size_t i = 0; i < n; i++)
        free(b.t[i].busy);
    free(b.t);
    free(why);
    return rc;
}

int
edix_client_submit(edix_client_t *self, const char *client_id, const void *doc, size_t len,
                   int timeout_ms, edix_receipt_t *out, int *code, char **err)
{
    edix_submission_t s = {.client_id = client_id, .doc = doc, .len = len};
    memset(out, 0, sizeof *out);
    if (code)
        *code = 0;
    edix_client_submit_many(self, &s, 1, timeout_ms, NULL, NULL, NULL);
    if (s.status == 1) {
        *out = s.receipt;
        return 0;
    }
    if (code)
        *code = s.code;
    if (err) {
        *err = s.err;
        s.err = NULL;
    }
    edix_submission_clear(&s);
    return -1;
}

/* ---- status ------------------------------------------------------------- */

int
edix_client_status(edix_client_t *self, const char *hub_id, int timeout_ms, char **state_p,
                   char **reasons_json_p, int *code, char **err)
{
    int rc = -1, the_code = 0;
    char *busy = NULL;
    edix_inmsg_t *in = NULL;
    *state_p = NULL;
    *reasons_json_p = NULL;
    if (code)
        *code = 0;
    if (!s_id_ok(hub_id)) {
        edix_fail(err, "'%s' is not a message id", hub_id ? hub_id : "");
        goto out;
    }
    if (s_intake(self, err) < 0)
        goto out;
    if (timeout_ms <= 0)
        timeout_ms = C_TIMEOUT_DEF;
    edix_pmsg_t req = {.cmd = EDIX_CMD_STATUS, .hub_id = s_slice(hub_id)};
    int64_t start = edix_mono_ms();
    s_track_t t = {
        .first_ms = start, .next_ms = start + C_RESEND_FIRST, .interval = C_RESEND_FIRST};
    edix_sock_send(self->intake, NULL, &req, 1);
    for (;;) {
        int64_t now = edix_mono_ms();
        if (now - start >= timeout_ms) {
            if (busy) {
                the_code = EDIX_ERR_TEMPORARY;
                edix_fail(err, "the hub is busy (%s); gave up after %g s", busy,
                          timeout_ms / 1000.0);
            } else {
                edix_fail(err, "no answer from the hub at %s within %g s",
                          self->bundle->intake_endpoint, timeout_ms / 1000.0);
            }
            goto out;
        }
        if (t.next_ms <= now) {
            if (now - self->intake_rx_ms >= C_RESEND_FIRST && s_intake_renew(self, err) < 0)
                goto out;
            edix_sock_send(self->intake, NULL, &req, 1);
            s_backoff(&t, now);
        }
        int64_t wake = s_min(now + C_POLL_SLICE, s_min(t.next_ms, start + timeout_ms));
        if (s_intake_wait(self, (int)(wake - now), err) < 0)
            goto out;
        edix_pmsg_t msg;
        int got;
        while ((got = s_next(self, self->intake, &in, &msg)) == 0) {
            self->intake_rx_ms = edix_mono_ms();
            if (msg.cmd == EDIX_CMD_STATE && edix_slice_eq(msg.hub_id, hub_id)) {
                *state_p = edix_slice_dup(msg.state);
                *reasons_json_p = edix_slice_dup(msg.text);
                rc = 0;
                goto out;
            }
            if (msg.cmd != EDIX_CMD_ERROR || !(edix_slice_eq(msg.ref, hub_id) || msg.ref.len == 0))
                continue; /* a late answer to something else */
            if (msg.code == EDIX_ERR_TEMPORARY) {
                free(busy);
                busy = edix_slice_dup(msg.text);
                s_backoff(&t, self->intake_rx_ms);
                continue;
            }
            char *text = edix_slice_dup(msg.text);
            the_code = msg.code;
            edix_fail(err, "%s", *text ? text : "refused");
            free(text);
            goto out;
        }
        if (got < 0) {
            edix_fail(err, "cannot receive from the hub: %s", strerror(errno));
            goto out;
        }
    }
out:
    if (code)
        *code = the_code;
    edix_inmsg_destroy(&in);
    free(busy);
    return rc;
}

/* ---- receiving ---------------------------------------------------------- */

typedef struct {
    edix_client_t *self;
    edix_sock_t *sock;
    const char *dir;
    char (*recent)[EDIX_PROTO_MAX_ID + 1]; /* ring of hub ids counted by this call */
    size_t nrecent;
    size_t count; /* documents acknowledged */
    edix_receive_fn *cb;
    void *arg;
} s_recv_t;

/* Hub ids become file names: refuse anything that could leave dir or hide. */
static int
s_name_ok(edix_slice_t id)
{
    if (id.len == 0 || id.data[0] == '.')
        return 0;
    for (size_t i = 0; i < id.len; i++) {
        char c = id.data[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* 1 when path holds exactly body, 0 when it holds something else, -1 error */
static int
s_same_file(const char *path, edix_slice_t body, char **err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return edix_fail(err, "cannot stat %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size != body.len)
        return 0;
    char *data = NULL;
    size_t len = 0;
    if (edix_file_read(path, body.len, &data, &len, err) < 0)
        return -1;
    int same = len == body.len && memcmp(data, body.data, len) == 0;
    free(data);
    return same;
}

static int
s_recent(s_recv_t *r, const char *id)
{
    size_t n = r->nrecent < C_RECENT ? r->nrecent : C_RECENT;
    for (size_t i = 0; i < n; i++)
        if (strcmp(r->recent[i], id) == 0)
            return 1;
    snprintf(r->recent[r->nrecent % C_RECENT], EDIX_PROTO_MAX_ID + 1, "%s", id);
    r->nrecent++;
    return 0;
}

/* One DELIVER: check, store durably, acknowledge. */
static int
s_deliver(s_recv_t *r, const edix_pmsg_t *msg, char **err)
{
    int rc = -1;
    char *id = edix_slice_dup(msg->hub_id);
    char *sender = edix_slice_dup(msg->sender);
    char *doctype = edix_slice_dup(msg->doctype);
    char *sig = edix_slice_dup(msg->signature);
    char *path = NULL;
    if (!s_name_ok(msg->hub_id)) {
        edix_fail(err, "the hub sent a message id unfit for a file name: %s", id);
        goto out;
    }
    if (strcmp(sender, "hub") == 0 && edix_sign_verify(r->self->bundle->hub_sign_public,
                                                       msg->body.data, msg->body.len, sig) < 0) {
        /* not acknowledged: a forged or mis-keyed notice must not pass as the hub's */
        edix_fail(err,
                  "%s: the hub's signature on this %s does not verify with hub_sign_public; "
                  "not acknowledged",
                  id, doctype);
        goto out;
    }
    path = xasprintf("%s/%s.xml", r->dir, id);
    if (edix_file_exists(path)) {
        /* written before, acknowledgement lost: the same bytes are done */
        int same = s_same_file(path, msg->body, err);
        if (same < 0)
            goto out;
        if (!same) {
            edix_fail(err, "%s exists with different content; not replacing it", path);
            goto out;
        }
    } else if (edix_file_write(path, msg->body.data, msg->body.len, 0640, 1, err) < 0) {
        goto out;
    }
    edix_pmsg_t ack = {.cmd = EDIX_CMD_ACK, .hub_id = msg->hub_id};
    /* a lost ACK is harmless: the hub sends again and we acknowledge again */
    edix_sock_send(r->sock, NULL, &ack, 1);
    if (!s_recent(r, id)) {
        r->count++;
        if (r->cb)
            r->cb(r->arg, id, sender, doctype, path);
    }
    rc = 0;
out:
    free(path);
    free(sig);
    free(doctype);
    free(sender);
    free(id);
    return rc;
}

int
edix_client_receive(edix_client_t *self, const char *dir, int follow, int timeout_ms,
                    volatile int *stop, edix_receive_fn *cb, void *arg, size_t *count, char **err)
{
    int rc = -1;
    edix_inmsg_t *in = NULL;
    s_recv_t r = {.self = self, .dir = dir, .cb = cb, .arg = arg};
    if (count)
        *count = 0;
    if (!dir || !*dir) {
        edix_fail(err, "no directory to receive into");
        goto out;
    }
    if (edix_mkdir(dir, 0750, err) < 0)
        goto out;
    r.recent = xcalloc(C_RECENT, sizeof *r.recent);
    /* a connection per call: once we stop reading, the hub must see us gone
     * and keep what is pending rather than push it into a dead queue */
    r.sock = s_connect(self, self->bundle->delivery_endpoint, C_DELIVER_MAX, err);
    if (!r.sock)
        goto out;
    /* heard: when the hub first answered (PONG, DELIVER, anything); until
     * then "nothing arrived" means nothing about pending documents */
    if (!follow && timeout_ms <= 0)
        timeout_ms = C_TIMEOUT_DEF;
    int64_t start = edix_mono_ms(), last = 0, heard = 0, ready_at = start;
    for (;;) {
        int64_t now = edix_mono_ms();
        if (stop && *stop)
            break;
        if (timeout_ms > 0 && now - start >= timeout_ms) {
            if (!heard && !follow) {
                edix_fail(err, "no answer from the hub at %s within %g s",
                          self->bundle->delivery_endpoint, timeout_ms / 1000.0);
                goto out;
            }
            break;
        }
        if (!follow && heard && now - last >= C_IDLE_MS)
            break;
        if (edix_sock_refused(r.sock)) {
            edix_fail(err, "%s", s_refused);
            goto out;
        }
        if (now >= ready_at) {
            /* no reconnect is visible through ZeroMQ, so while idle we keep
             * saying READY; the hub takes repeats as the same offer.  The
             * PING tells us the hub is there even when nothing is pending. */
            edix_pmsg_t ready = {.cmd = EDIX_CMD_READY, .window = C_READY_WINDOW};
            edix_pmsg_t ping = {.cmd = EDIX_CMD_PING};
            edix_sock_send(r.sock, NULL, &ready, 1);
            if (!heard)
                edix_sock_send(r.sock, NULL, &ping, 1);
            ready_at = now + C_READY_EVERY;
        }
        int64_t wake = s_min(now + C_POLL_SLICE, ready_at);
        if (!follow && heard)
            wake = s_min(wake, last + C_IDLE_MS);
        if (timeout_ms > 0)
            wake = s_min(wake, start + timeout_ms);
        int ready = 0;
        if (edix_poll(&r.sock, 1, wake > now ? (int)(wake - now) : 0, &ready) < 0 &&
            errno != EINTR) {
            edix_fail(err, "cannot wait for the hub: %s", strerror(errno));
            goto out;
        }
        edix_pmsg_t msg;
        int got;
        while ((got = s_next(self, r.sock, &in, &msg)) == 0) {
            now = edix_mono_ms();
            if (!heard)
                heard = last = now;
            if (msg.cmd == EDIX_CMD_ERROR) {
                /* 403: suspended since we connected; anything else is a bug
                 * on one side or the other, and guessing on would hide it */
                char *text = edix_slice_dup(msg.text);
                edix_fail(err, "the hub answered %d: %s", msg.code, text);
                free(text);
                goto out;
            }
            if (msg.cmd != EDIX_CMD_DELIVER)
                continue;
            if (s_deliver(&r, &msg, err) < 0)
                goto out;
            last = edix_mono_ms();
            ready_at = last + C_READY_EVERY;
            if (stop && *stop)
                break;
        }
        if (got < 0) {
            edix_fail(err, "cannot receive from the hub: %s", strerror(errno));
            goto out;
        }
    }
    rc = 0;
out:
    if (count)
        *count = r.count;
    edix_inmsg_destroy(&in);
    edix_sock_destroy(&r.sock);
    free(r.recent);
    return rc;
}
