/*
 * partner_send.c - edix-partner send: submit files, print one line per
 * document in the order given, optionally wait for the final state.
 *
 * Each document's client id defaults to "sha256-" and the first 32 hex
 * digits of its SHA-256: the same bytes always get the same client id, so
 * running the same send again (after a crash, a timeout, in a cron job)
 * returns the original receipts instead of new documents.
 *
 * Files are read and submitted in batches (pipelined by the library), so
 * memory stays bounded however many documents are named.  A refusal of a
 * document by the hub (4xx other than 403) is a rejection: "FILE rejected:
 * reason" on stderr, exit 2.  Anything else that fails (unreadable file,
 * timeout, hub busy, key refused) is operational: exit 1, which wins over 2
 * because running the command again is the remedy.
 */
#include "partner.h"
#include "crypto.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEND_BATCH_DOCS  256
#define SEND_BATCH_BYTES ((size_t)64 << 20)
#define SEND_MAX_FILE    ((size_t)1 << 30)
#define SEND_POLL_FIRST  20  /* ms: first state poll with --wait */
#define SEND_POLL_MAX    500 /* ms: poll backoff cap */

enum { DOC_PENDING, DOC_ACCEPTED, DOC_FAILED, DOC_REJECTED };

typedef struct {
    const char *file; /* as named on the command line */
    char *data;       /* its bytes while being submitted */
    size_t len;
    char client_id[EDIX_SHA256_HEX + 8]; /* "sha256-" + 32 hex, or --client-id */
    char hub_id[129];                    /* the hub's message id once accepted */
    int result;                          /* DOC_* */
    char *state;                         /* with --wait: the last state seen */
    char *reasons;                       /* with --wait: the reasons JSON when rejected */
    int final;                           /* ready to print */
} s_doc_t;

typedef struct {
    const partner_opts_t *o;
    s_doc_t *docs;
    size_t n;
    size_t printed;          /* documents printed so far, in order */
    edix_submission_t *subs; /* the batch in flight */
    size_t *map;             /* batch index -> document index */
    int failed;              /* an error not tied to one document's outcome */
} s_send_t;

/* print every document that is final, in the order given, up to the first
 * that is not */
static void
s_flush(s_send_t *st)
{
    while (st->printed < st->n && st->docs[st->printed].final) {
        s_doc_t *d = &st->docs[st->printed++];
        if (!d->hub_id[0])
            continue; /* refused at intake or unreadable: said on stderr */
        if (!st->o->wait) {
            printf("%s accepted\n", d->hub_id);
        } else if (d->state) {
            printf("%s %s\n", d->hub_id, d->state);
            if (strcmp(d->state, "rejected") == 0)
                partner_print_reasons(stdout, d->reasons);
        }
        fflush(stdout);
    }
}

/* DIR/MSGID.receipt, written atomically; a repeat writes the same bytes */
static int
s_keep_receipt(const char *dir, const edix_receipt_t *r)
{
    char *err = NULL, *text = edix_receipt_text(r), *path = NULL;
    int rc = -1;
    if (!text) {
        edix_fail(&err, "the receipt for %s cannot be kept as a file", r->hub_id);
        goto out;
    }
    path = xasprintf("%s/%s.receipt", dir, r->hub_id);
    rc = edix_file_write(path, text, strlen(text), 0644, 0, &err);
out:
    if (rc < 0)
        partner_error("%s", err);
    free(err);
    free(path);
    free(text);
    return rc;
}

static void
s_submitted(void *arg, size_t index)
{
    s_send_t *st = arg;
    edix_submission_t *s = &st->subs[index];
    s_doc_t *d = &st->docs[st->map[index]];
    if (s->status == 1) {
        d->result = DOC_ACCEPTED;
        snprintf(d->hub_id, sizeof d->hub_id, "%s", s->receipt.hub_id);
        d->final = !st->o->wait;
        if (st->o->receipts && s_keep_receipt(st->o->receipts, &s->receipt) < 0)
            st->failed = 1;
    } else if (s->code >= 400 && s->code < 500 && s->code != 403) {
        /* the hub looked at this document and said no */
        d->result = DOC_REJECTED;
        d->final = 1;
        fprintf(stderr, "%s rejected: %s\n", d->file, s->err);
    } else {
        d->result = DOC_FAILED;
        d->final = 1;
        partner_error("%s: %s", d->file, s->err);
    }
    s_flush(st);
}

/* read one file and name it; 0 ready to submit, -1 already final */
static int
s_load(s_send_t *st, s_doc_t *d)
{
    char *err = NULL;
    d->final = 1;
    if (edix_file_read(d->file, SEND_MAX_FILE, &d->data, &d->len, &err) < 0) {
        d->result = DOC_FAILED;
        partner_error("%s", err);
        free(err);
        return -1;
    }
    if (d->len == 0) {
        d->result = DOC_REJECTED;
        fprintf(stderr, "%s rejected: empty document\n", d->file);
        return -1;
    }
    if (st->o->client_id) {
        snprintf(d->client_id, sizeof d->client_id, "%s", st->o->client_id);
    } else {
        char hex[EDIX_SHA256_HEX];
        edix_sha256_hex(d->data, d->len, hex);
        snprintf(d->client_id, sizeof d->client_id, "sha256-%.32s", hex);
    }
    d->final = 0;
    return 0;
}

/* Submit documents [first, end) that loaded; returns how many got a receipt. */
static size_t
s_batch(edix_client_t *c, s_send_t *st, size_t first, size_t end)
{
    size_t k = 0, accepted = 0;
    for (size_t i = first; i < end; i++) {
        s_doc_t *d = &st->docs[i];
        if (d->result != DOC_PENDING || d->final)
            continue;
        st->subs[k] = (edix_submission_t){.client_id = d->client_id, .doc = d->data, .len = d->len};
        st->map[k++] = i;
    }
    if (k > 0)
        edix_client_submit_many(c, st->subs, k, st->o->timeout_ms, s_submitted, st, NULL);
    for (size_t j = 0; j < k; j++) {
        accepted += st->subs[j].status == 1;
        edix_submission_clear(&st->subs[j]);
    }
    for (size_t i = first; i < end; i++) {
        free(st->docs[i].data);
        st->docs[i].data = NULL;
    }
    return accepted;
}

static void
s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* --wait: poll each accepted document's state until it is delivered or
 * rejected, starting at 20 ms and backing off to 500 ms. */
static void
s_wait(edix_client_t *c, s_send_t *st)
{
    int timeout = st->o->timeout_ms > 0 ? st->o->timeout_ms : 30000;
    int64_t deadline = edix_mono_ms() + timeout;
    int delay = SEND_POLL_FIRST;
    for (;;) {
        size_t pending = 0;
        for (size_t i = 0; i < st->n; i++)
            pending += !st->docs[i].final;
        int64_t left = deadline - edix_mono_ms();
        if (pending == 0 || left <= 0)
            break;
        s_sleep_ms(delay < left ? delay : (int)left);
        delay = delay * 2 > SEND_POLL_MAX ? SEND_POLL_MAX : delay * 2;
        for (size_t i = 0; i < st->n; i++) {
            s_doc_t *d = &st->docs[i];
            left = deadline - edix_mono_ms();
            if (d->final || left <= 0)
                continue;
            char *state = NULL, *reasons = NULL, *err = NULL;
            if (edix_client_status(c, d->hub_id, (int)left, &state, &reasons, NULL, &err) < 0) {
                d->result = DOC_FAILED;
                d->final = 1;
                partner_error("%s: %s", d->hub_id, err);
                free(err);
            } else {
                free(d->state);
                free(d->reasons);
                d->state = state;
                d->reasons = reasons;
                d->final = strcmp(state, "delivered") == 0 || strcmp(state, "rejected") == 0;
                if (d->final && strcmp(state, "rejected") == 0)
                    d->result = DOC_REJECTED;
            }
        }
        s_flush(st);
    }
    for (size_t i = 0; i < st->n; i++) {
        s_doc_t *d = &st->docs[i];
        if (d->final)
            continue;
        /* still on its way: say where it got to, and that we stopped waiting */
        d->final = 1;
        d->result = DOC_FAILED;
        if (!d->state)
            d->state = xstrdup("accepted");
        partner_error("%s: not delivered within %g s (still %s)", d->hub_id, timeout / 1000.0,
                      d->state);
    }
    s_flush(st);
}

int
partner_send(edix_client_t *c, const partner_opts_t *o)
{
    if (o->nargs == 0)
        return partner_error("send needs at least one document (see edix-partner --help)");
    if (o->client_id && o->nargs != 1)
        return partner_error("--client-id names one submission: give exactly one document");
    if (o->client_id && (strlen(o->client_id) == 0 || strlen(o->client_id) > 128 ||
                         strpbrk(o->client_id, " \t\r\n")))
        return partner_error("--client-id takes 1 to 128 printable characters without spaces");
    char *err = NULL;
    if (o->receipts && edix_mkdir(o->receipts, 0755, &err) < 0) {
        partner_error("%s", err);
        free(err);
        return 1;
    }
    s_send_t st = {.o = o, .n = (size_t)o->nargs};
    st.docs = xcalloc(st.n, sizeof *st.docs);
    st.subs = xcalloc(SEND_BATCH_DOCS, sizeof *st.subs);
    st.map = xcalloc(SEND_BATCH_DOCS, sizeof *st.map);
    for (size_t i = 0; i < st.n; i++)
        st.docs[i].file = o->args[i];
    size_t first = 0;
    while (first < st.n) {
        size_t end = first, count = 0, bytes = 0;
        while (end < st.n && count < SEND_BATCH_DOCS && bytes < SEND_BATCH_BYTES) {
            if (s_load(&st, &st.docs[end]) == 0) {
                count++;
                bytes += st.docs[end].len;
            }
            end++;
        }
        s_flush(&st);
        size_t accepted = s_batch(c, &st, first, end);
        if (count > 0 && accepted == 0 && end < st.n) {
            /* nothing got through (hub down, key refused): the rest would
             * only fail the same way, one timeout after the other */
            partner_error("%zu more documents not sent", st.n - end);
            for (size_t i = end; i < st.n; i++) {
                st.docs[i].result = DOC_FAILED;
                st.docs[i].final = 1;
            }
            end = st.n;
        }
        first = end;
    }
    if (o->wait)
        s_wait(c, &st);
    s_flush(&st);
    int failed = st.failed, rejected = 0;
    for (size_t i = 0; i < st.n; i++) {
        failed |= st.docs[i].result == DOC_FAILED;
        rejected |= st.docs[i].result == DOC_REJECTED;
        free(st.docs[i].state);
        free(st.docs[i].reasons);
    }
    free(st.map);
    free(st.subs);
    free(st.docs);
    return failed ? 1 : rejected ? 2 : 0;
}
