/*
 * intake_run.c - the intake loop.
 *
 * Requests are taken in batches: everything waiting on the socket (up to
 * batch_max submissions) is checked, the new documents, with those that
 * came while we waited for the write lock, are written in one transaction
 * (group commit), and only after COMMIT do the receipts go out
 * and the validators hear of the work.  A failed commit answers 503 to every
 * submission of the batch: nothing was stored, the partner retries with the
 * same client id.
 */
#include "intake.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTAKE_RIDE_ALONG 16 /* submissions taken in once the lock is held */

typedef struct {
    edix_inmsg_t *in;    /* the request, owned */
    edix_pmsg_t msg;     /* decoded, pointing into in */
    const char *partner; /* the ZAP-proven sender */
    edix_msg_t rec;      /* the message to store (new submissions) */
    int state;           /* S_NEW, S_DUP (answer after commit), S_DONE */
    int dup_of;          /* S_DUP: index of the earlier submission in this batch */
} s_req_t;

enum { S_DONE, S_NEW, S_DUP };

typedef struct {
    edix_service_t *svc;
    edix_sock_t *srv;         /* partner-facing ROUTER */
    edix_sock_t *push;        /* to the validators */
    struct edix_signkey *key; /* signs receipts */
    edix_slice_t ids[EDIX_PROTO_MAX_WORK];
} s_intake_t;

static void
s_reply_error(s_intake_t *ix, s_req_t *r, edix_slice_t ref, int code, const char *text)
{
    edix_pmsg_t out = {.cmd = EDIX_CMD_ERROR, .ref = ref, .code = code};
    out.text.data = text;
    out.text.len = strlen(text);
    edix_slice_t routing = edix_inmsg_routing(r->in);
    edix_sock_send(ix->srv, &routing, &out, 1);
}

static void
s_reply_receipt(s_intake_t *ix, s_req_t *r, const edix_msg_t *m)
{
    edix_pmsg_t out = {.cmd = EDIX_CMD_RECEIPT};
    out.client_id = (edix_slice_t){m->client_id, strlen(m->client_id)};
    out.hub_id = (edix_slice_t){m->id, strlen(m->id)};
    out.statement = (edix_slice_t){m->receipt, strlen(m->receipt)};
    out.signature = (edix_slice_t){m->signature, strlen(m->signature)};
    edix_slice_t routing = edix_inmsg_routing(r->in);
    edix_sock_send(ix->srv, &routing, &out, 1);
}

/* STATUS: a partner sees only messages it sent or received; anything else
 * is answered exactly like an id that does not exist */
static void
s_status(s_intake_t *ix, s_req_t *r)
{
    char *id = edix_slice_dup(r->msg.hub_id), *err = NULL;
    edix_msg_t m;
    int rc = edix_store_msg_get(ix->svc->store, id, &m, &err);
    if (rc == 0 && strcmp(m.sender, r->partner) != 0 &&
        !(m.receiver && strcmp(m.receiver, r->partner) == 0 && strcmp(m.kind, "document") == 0))
        rc = 1;
    if (rc < 0) {
        s_reply_error(ix, r, r->msg.hub_id, EDIX_ERR_TEMPORARY, "the store is busy; ask again");
    } else if (rc == 1) {
        s_reply_error(ix, r, r->msg.hub_id, EDIX_ERR_NOT_FOUND, "no such message");
    } else {
        const char *reasons = m.reasons ? m.reasons : "";
        edix_pmsg_t out = {.cmd = EDIX_CMD_STATE, .hub_id = r->msg.hub_id};
        out.state = (edix_slice_t){m.state, strlen(m.state)};
        out.text = (edix_slice_t){reasons, strlen(reasons)};
        edix_slice_t routing = edix_inmsg_routing(r->in);
        edix_sock_send(ix->srv, &routing, &out, 1);
    }
    if (rc == 0)
        edix_msg_free(&m);
    free(err);
    free(id);
}

/* Build the record and signed receipt of a new submission. */
static int
s_prepare(s_intake_t *ix, s_req_t *r, char **err)
{
    edix_msg_t *m = &r->rec;
    char id[25], sha[EDIX_SHA256_HEX], at[40], sig[EDIX_SIG_HEX];
    edix_message_id(id);
    edix_sha256_hex(r->msg.body.data, r->msg.body.len, sha);
    m->received_ms = edix_now_ms();
    edix_time_format(m->received_ms, at, sizeof at);
    m->id = xstrdup(id);
    m->sender = xstrdup(r->partner);
    m->client_id = edix_slice_dup(r->msg.client_id);
    m->kind = xstrdup("document");
    m->state = xstrdup("accepted");
    m->size = (int64_t)r->msg.body.len;
    m->sha256 = xstrdup(sha);
    m->receipt = xasprintf("edix-receipt/1\nhub-id: %s\nclient-id: %s\nsender: %s\nsize: %zu\n"
                           "sha256: %s\nreceived: %s\n",
                           id, m->client_id, m->sender, r->msg.body.len, sha, at);
    if (edix_signkey_sign(ix->key, m->receipt, strlen(m->receipt), sig, err) < 0)
        return -1;
    m->signature = xstrdup(sig);
    return 0;
}

/* First pass over one request: answer what can be answered now, mark new
 * submissions for the transaction. */
static void
s_triage(s_intake_t *ix, s_req_t *reqs, size_t i)
{
    s_req_t *r = &reqs[i];
    size_t nframes;
    const edix_slice_t *frames = edix_inmsg_frames(r->in, &nframes);
    char why[128], *err = NULL;
    edix_slice_t none = {"", 0};
    r->state = S_DONE;
    r->partner = edix_inmsg_user(r->in);
    if (!r->partner) {
        s_reply_error(ix, r, none, EDIX_ERR_FORBIDDEN, "not authenticated");
        return;
    }
    if (edix_proto_decode(frames, nframes, &r->msg, ix->ids, why, sizeof why) < 0) {
        edix_info(NULL, "event=bad-request sender=%s reason=\"%s\"", r->partner, why);
        s_reply_error(ix, r, none, EDIX_ERR_BAD_REQUEST, why);
        return;
    }
    switch (r->msg.cmd) {
    case EDIX_CMD_PING: {
        edix_pmsg_t out = {.cmd = EDIX_CMD_PONG};
        edix_slice_t routing = edix_inmsg_routing(r->in);
        edix_sock_send(ix->srv, &routing, &out, 1);
        return;
    }
    case EDIX_CMD_STATUS:
        s_status(ix, r);
        return;
    case EDIX_CMD_SUBMIT:
        break;
    default:
        s_reply_error(ix, r, none, EDIX_ERR_BAD_REQUEST, "the intake takes SUBMIT, STATUS, PING");
        return;
    }

    /* a partner suspended, or a key retired, since the connection was made
     * is refused on its next message */
    int active = edix_service_admitted(ix->svc, r->partner, edix_inmsg_key(r->in));
    if (active <= 0) {
        if (active < 0)
            s_reply_error(ix, r, r->msg.client_id, EDIX_ERR_TEMPORARY,
                          "the store is busy; resubmit with the same client id");
        else
            s_reply_error(ix, r, r->msg.client_id, EDIX_ERR_FORBIDDEN,
                          "partner is suspended or its key was retired");
        return;
    }
    if (r->msg.body.len > ix->svc->cfg->max_document_size) {
        snprintf(why, sizeof why, "document is %zu bytes, over the limit of %zu", r->msg.body.len,
                 ix->svc->cfg->max_document_size);
        edix_info(NULL, "event=too-large sender=%s bytes=%zu", r->partner, r->msg.body.len);
        s_reply_error(ix, r, r->msg.client_id, EDIX_ERR_TOO_LARGE, why);
        return;
    }
    /* the same client id earlier in this batch: answer once that commits */
    for (size_t j = 0; j < i; j++) {
        s_req_t *o = &reqs[j];
        if (o->state == S_NEW && strcmp(o->partner, r->partner) == 0 &&
            o->msg.client_id.len == r->msg.client_id.len &&
            memcmp(o->msg.client_id.data, r->msg.client_id.data, o->msg.client_id.len) == 0) {
            r->state = S_DUP;
            r->dup_of = (int)j;
            return;
        }
    }
    char *client_id = edix_slice_dup(r->msg.client_id);
    edix_msg_t old;
    int rc = edix_store_msg_by_client(ix->svc->store, r->partner, client_id, &old, &err);
    free(client_id);
    if (rc < 0) {
        s_reply_error(ix, r, r->msg.client_id, EDIX_ERR_TEMPORARY,
                      "the store is busy; resubmit with the same client id");
    } else if (rc == 0) {
        char sha[EDIX_SHA256_HEX];
        edix_sha256_hex(r->msg.body.data, r->msg.body.len, sha);
        if (strcmp(sha, old.sha256) == 0) {
            edix_info(old.id, "event=resubmitted sender=%s", r->partner);
            s_reply_receipt(ix, r, &old);
        } else {
            snprintf(why, sizeof why, "client id was used for a different document (%s)", old.id);
            s_reply_error(ix, r, r->msg.client_id, EDIX_ERR_CONFLICT, why);
        }
        edix_msg_free(&old);
    } else if (s_prepare(ix, r, &err) < 0) {
        edix_error(NULL, "event=receipt-failed reason=\"%s\"", err);
        s_reply_error(ix, r, r->msg.client_id, EDIX_ERR_TEMPORARY, "cannot sign a receipt");
    } else {
        r->state = S_NEW;
    }
    free(err);
}

static void
s_batch(s_intake_t *ix, s_req_t *reqs, size_t *n_p)
{
    char *err = NULL;
    size_t fresh = 0, n = *n_p, max = (size_t)ix->svc->cfg->batch_max;
    /* the look-ups of the whole batch share one read snapshot */
    int reading = edix_store_begin_read(ix->svc->store, NULL) == 0;
    for (size_t i = 0; i < n; i++) {
        s_triage(ix, reqs, i);
        fresh += reqs[i].state == S_NEW;
    }
    if (reading)
        edix_store_end_read(ix->svc->store);
    if (fresh == 0)
        goto out;

    int committed = 0;
    edix_store_t *store = ix->svc->store;
    if (edix_store_begin(store, &err) == 0) {
        /* what came while we waited for the write lock rides along in this
         * commit, rather than waiting for the lock once more; only a few:
         * each is checked and its receipt signed while we hold the lock,
         * which under a backlog would keep the validator and router out */
        size_t ride = n + INTAKE_RIDE_ALONG < max ? n + INTAKE_RIDE_ALONG : max;
        while (n < ride && edix_sock_recv(ix->srv, &reqs[n].in) == 0) {
            s_triage(ix, reqs, n);
            fresh += reqs[n].state == S_NEW;
            *n_p = ++n;
        }
        int ok = 1;
        for (size_t i = 0; i < n && ok; i++) {
            s_req_t *r = &reqs[i];
            if (r->state != S_NEW)
                continue;
            char details[512];
            snprintf(details, sizeof details, "sender=%s client_id=%s size=%lld sha256=%s",
                     r->rec.sender, r->rec.client_id, (long long)r->rec.size, r->rec.sha256);
            ok = edix_store_msg_insert(store, &r->rec, r->msg.body.data, r->msg.body.len, &err) ==
                     0 &&
                 edix_audit_append(store, ix->svc->actor, "message.accepted", r->rec.id, details,
                                   &err) == 0;
        }
        if (ok && edix_store_commit(store, &err) == 0)
            committed = 1;
        else
            edix_store_rollback(store);
    }
    if (!committed)
        edix_warn(NULL, "event=commit-failed documents=%zu temporary=%d reason=\"%s\"", fresh,
                  edix_store_temporary(store), err);

    /* only now, after COMMIT: answer, then tell the validators */
    size_t nids = 0;
    for (size_t i = 0; i < n; i++) {
        s_req_t *r = &reqs[i];
        s_req_t *orig = r->state == S_DUP ? &reqs[r->dup_of] : r;
        if (r->state == S_DONE)
            continue;
        if (!committed) {
            s_reply_error(ix, r, r->msg.client_id, EDIX_ERR_TEMPORARY,
                          "the hub cannot store documents right now; resubmit with the same "
                          "client id");
            continue;
        }
        char sha[EDIX_SHA256_HEX];
        if (r->state == S_DUP) {
            edix_sha256_hex(r->msg.body.data, r->msg.body.len, sha);
            if (strcmp(sha, orig->rec.sha256) != 0) {
                s_reply_error(ix, r, r->msg.client_id, EDIX_ERR_CONFLICT,
                              "client id was used for a different document");
                continue;
            }
        } else {
            edix_info(r->rec.id, "event=accepted sender=%s client_id=%s bytes=%lld", r->rec.sender,
                      r->rec.client_id, (long long)r->rec.size);
            ix->ids[nids++] = (edix_slice_t){r->rec.id, strlen(r->rec.id)};
        }
        s_reply_receipt(ix, r, &orig->rec);
    }
    if (nids) {
        edix_pmsg_t work = {.cmd = EDIX_CMD_WORK, .ids = ix->ids, .id_count = nids};
        /* a hint: if no validator listens now, it finds the work at start-up */
        edix_sock_send(ix->push, NULL, &work, 1);
    }
out:
    free(err);
}

int
intake_run(edix_service_t *svc)
{
    char *err = NULL;
    int rc = 1;
    s_intake_t ix = {.svc = svc};
    edix_hub_keys_t keys;
    edix_sock_t *zap = NULL;
    s_req_t *reqs = xcalloc((size_t)svc->cfg->batch_max, sizeof *reqs);

    if (edix_hub_keys_load(svc->cfg->home, 1, &keys, &err) < 0 ||
        !(ix.key = edix_service_signkey(svc, &err)))
        goto out;
    /* the ZAP handler first: no partner-facing bind without it */
    if (!(zap = edix_zap_new(svc->net, edix_service_zap_decide, svc, &err)) ||
        !(ix.push = edix_sock_push(svc->net, svc->cfg->validator_endpoint, 1, &err)) ||
        !(ix.srv = edix_sock_server(svc->net, svc->cfg->intake_endpoint, keys.curve_secret,
                                    svc->cfg->max_document_size, &err)))
        goto out;
    explicit_bzero(keys.curve_secret, sizeof keys.curve_secret);
    edix_info(NULL, "event=listening endpoint=%s", svc->cfg->intake_endpoint);

    edix_sock_t *socks[2] = {zap, ix.srv};
    while (!edix_service_stop) {
        int ready[2];
        if (edix_poll(socks, 2, 1000, ready) < 0) {
            if (errno == EINTR)
                continue;
            edix_fail(&err, "poll failed: %s", strerror(errno));
            goto out;
        }
        if (ready[0])
            edix_zap_serve(zap);
        if (!ready[1])
            continue;
        size_t n = 0;
        while (n < (size_t)svc->cfg->batch_max && edix_sock_recv(ix.srv, &reqs[n].in) == 0)
            n++;
        s_batch(&ix, reqs, &n);
        for (size_t i = 0; i < n; i++) {
            edix_inmsg_destroy(&reqs[i].in);
            edix_msg_free(&reqs[i].rec);
            memset(&reqs[i], 0, sizeof reqs[i]);
        }
    }
    rc = 0;
out:
    if (rc)
        edix_error(NULL, "event=fatal reason=\"%s\"", err);
    edix_sock_destroy(&ix.srv);
    edix_sock_destroy(&ix.push);
    edix_sock_destroy(&zap);
    edix_signkey_destroy((edix_signkey_t **)&ix.key);
    free(reqs);
    free(err);
    return rc;
}
