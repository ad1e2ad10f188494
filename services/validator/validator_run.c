/*
 * validator_run.c - the validator loop.
 *
 * Work comes from the store: messages in state "accepted", oldest first, a
 * batch at a time.  WORK notices from the intake only wake us early; a
 * timer (rescan_ms) and start-up find whatever a lost notice did not
 * announce.  The checks run outside any transaction; then one transaction
 * writes every verdict of the batch, its audit records and the rejection
 * notices (group commit), and only after COMMIT does the router hear.
 * A verdict is written only if the message is still "accepted", so two
 * validators never both decide one document.
 */
#include "validator.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *id; /* hub message id */
    edix_msg_t msg; /* the stored message, with the verdict's fields set */
    char *body;     /* the document, until checked */
    size_t len;
    edix_verdict_t *v; /* the verdict */
    int skip;          /* gone or already decided */
} s_item_t;

typedef struct {
    edix_service_t *svc;
    edix_doc_checker_t *checker;
    struct edix_signkey *key;
    edix_sock_t *pull; /* WORK from the intake */
    edix_sock_t *push; /* WORK to the router */
    edix_slice_t ids[EDIX_PROTO_MAX_WORK];
} s_validator_t;

/* The checks hold no snapshot: a reader open across them would keep a
 * checkpoint from restarting the WAL, and through it every writer waiting.
 * So a round reads its messages and bodies in one short read transaction,
 * checks them with no store open, and reads the registry in a second one. */
#define VALIDATOR_ROUND_BYTES (16u << 20) /* bodies held by one round, at most */

static int
s_load(s_validator_t *vx, s_item_t *it, char **err)
{
    edix_service_t *svc = vx->svc;
    int rc = edix_store_msg_get(svc->store, it->id, &it->msg, err);
    if (rc == 0)
        rc = edix_store_msg_body(svc->store, it->id, &it->body, &it->len, err);
    if (rc == 1)
        it->skip = 1;
    return rc < 0 ? -1 : 0;
}

static int
s_check(s_validator_t *vx, s_item_t *it, char **err)
{
    int rc = edix_doc_check(vx->checker, it->body, it->len, vx->svc->cfg->max_document_size, &it->v,
                            err);
    free(it->body);
    it->body = NULL;
    return rc < 0 ? -1 : 0;
}

/* inside the second read transaction: the partners, and the verdict's fields */
static int
s_resolve(s_validator_t *vx, s_item_t *it, char **err)
{
    const char *doctype = edix_verdict_doctype(it->v);
    char *receiver = NULL;
    /* partner checks need a known type; a parse or type failure already
     * says everything that matters */
    if (*doctype && validator_partners(vx->svc->store, it->msg.sender, it->v, &receiver, err) < 0)
        return -1;
    int valid = edix_verdict_valid(it->v);
    free(it->msg.state);
    it->msg.state = xstrdup(valid ? "validated" : "rejected");
    it->msg.receiver = receiver;
    it->msg.doctype = *doctype ? xstrdup(doctype) : NULL;
    if (edix_verdict_document_id(it->v))
        it->msg.doc_number = xstrdup(edix_verdict_document_id(it->v));
    if (edix_verdict_order_ref(it->v))
        it->msg.order_ref = xstrdup(edix_verdict_order_ref(it->v));
    if (!valid)
        it->msg.reasons = edix_verdict_errors_json(it->v);
    return 0;
}

static int
s_write(s_validator_t *vx, s_item_t *it, char **err)
{
    edix_service_t *svc = vx->svc;
    int rc = edix_store_msg_transition(svc->store, &it->msg, "accepted", err);
    if (rc != 0) {
        it->skip = rc == 1;
        return rc < 0 ? -1 : 0;
    }
    int valid = strcmp(it->msg.state, "validated") == 0;
    edix_buf_t d;
    edix_buf_init(&d);
    edix_buf_addf(&d, "doctype=%s", it->msg.doctype ? it->msg.doctype : "-");
    if (valid) {
        edix_buf_addf(&d, " receiver=%s", it->msg.receiver);
    } else {
        edix_buf_adds(&d, " reasons=");
        size_t n = edix_verdict_issue_count(it->v), shown = 0;
        for (size_t i = 0; i < n && shown < 20; i++)
            if (edix_verdict_issue_severity(it->v, i) == EDIX_SEV_ERROR)
                edix_buf_addf(&d, "%s%s", shown++ ? "," : "", edix_verdict_issue_rule(it->v, i));
    }
    rc = edix_audit_append(svc->store, svc->actor, valid ? "message.validated" : "message.rejected",
                           it->msg.id, d.data, err);
    edix_buf_free(&d);
    if (rc < 0 || valid)
        return rc;

    /* the sender hears why, in a signed ApplicationResponse */
    size_t n = edix_verdict_issue_count(it->v), k = 0;
    edix_notice_reason_t *reasons = xcalloc(n ? n : 1, sizeof *reasons);
    for (size_t i = 0; i < n; i++) {
        if (edix_verdict_issue_severity(it->v, i) != EDIX_SEV_ERROR)
            continue;
        reasons[k].rule = edix_verdict_issue_rule(it->v, i);
        reasons[k].message = edix_verdict_issue_message(it->v, i);
        reasons[k].path = edix_verdict_issue_path(it->v, i);
        k++;
    }
    edix_notice_t notice = {
        .partner = it->msg.sender,
        .ref_id = it->msg.id,
        .client_id = it->msg.client_id,
        .doc_number = it->msg.doc_number,
        .doctype = it->msg.doctype,
        .delivered = 0,
        .reasons = reasons,
        .reason_count = k,
    };
    rc = edix_service_notify(svc, vx->key, &notice, err);
    free(reasons);
    return rc;
}

/* One batch; returns how many messages it took (0: nothing to do), -1 on a
 * store failure (retried on the next round). */
static int
s_round(s_validator_t *vx)
{
    edix_service_t *svc = vx->svc;
    char *err = NULL, **ids = NULL;
    size_t n = 0;
    int result = -1;
    size_t take = 0; /* the messages this round works on */
    s_item_t *items = NULL;
    if (edix_store_msg_ids(svc->store, "accepted", svc->cfg->batch_max, &ids, &n, &err) < 0)
        goto out;
    if (n == 0) {
        result = 0;
        goto out;
    }
    items = xcalloc(n, sizeof *items);
    /* 1: messages and bodies, one snapshot; a round holds at most
     * VALIDATOR_ROUND_BYTES of documents, the rest wait for the next */
    if (edix_store_begin_read(svc->store, &err) < 0)
        goto out;
    size_t held = 0;
    for (; take < n && (take == 0 || held < VALIDATOR_ROUND_BYTES); take++) {
        items[take].id = ids[take];
        if (s_load(vx, &items[take], &err) < 0) {
            edix_store_end_read(svc->store);
            goto out;
        }
        held += items[take].len;
    }
    edix_store_end_read(svc->store);
    /* 2: the checks, no store open */
    for (size_t i = 0; i < take; i++)
        if (!items[i].skip && s_check(vx, &items[i], &err) < 0)
            goto out;
    /* 3: the registry, one snapshot */
    if (edix_store_begin_read(svc->store, &err) < 0)
        goto out;
    for (size_t i = 0; i < take; i++) {
        if (!items[i].skip && s_resolve(vx, &items[i], &err) < 0) {
            edix_store_end_read(svc->store);
            goto out;
        }
    }
    edix_store_end_read(svc->store);
    if (edix_store_begin(svc->store, &err) < 0)
        goto out;
    for (size_t i = 0; i < take; i++) {
        if (!items[i].skip && s_write(vx, &items[i], &err) < 0) {
            edix_store_rollback(svc->store);
            goto out;
        }
    }
    if (edix_store_commit(svc->store, &err) < 0)
        goto out;

    size_t nw = 0;
    for (size_t i = 0; i < take; i++) {
        s_item_t *it = &items[i];
        if (it->skip)
            continue;
        if (strcmp(it->msg.state, "validated") == 0) {
            edix_info(it->msg.id, "event=validated doctype=%s sender=%s receiver=%s",
                      it->msg.doctype, it->msg.sender, it->msg.receiver);
            vx->ids[nw++] = (edix_slice_t){it->msg.id, strlen(it->msg.id)};
        } else {
            edix_info(it->msg.id, "event=rejected doctype=%s sender=%s errors=%zu",
                      it->msg.doctype ? it->msg.doctype : "-", it->msg.sender,
                      edix_verdict_issue_count(it->v));
        }
    }
    /* the router also wants to hear of rejection notices to deliver */
    edix_pmsg_t work = {.cmd = EDIX_CMD_WORK, .ids = vx->ids, .id_count = nw};
    if (nw == 0) {
        static const char any[] = "notice";
        vx->ids[0] = (edix_slice_t){any, sizeof any - 1};
        work.id_count = 1;
    }
    edix_sock_send(vx->push, NULL, &work, 1);
    result = (int)take;
out:
    if (result < 0)
        edix_warn(NULL, "event=round-failed temporary=%d reason=\"%s\"",
                  edix_store_temporary(svc->store), err);
    for (size_t i = 0; items && i < n; i++) {
        edix_msg_free(&items[i].msg);
        free(items[i].body);
        edix_verdict_destroy(&items[i].v);
    }
    free(items);
    edix_ids_free(ids, n);
    free(err);
    return result;
}

int
validator_run(edix_service_t *svc)
{
    char *err = NULL;
    int rc = 1;
    s_validator_t vx = {.svc = svc};
    int64_t t0 = edix_mono_ms();
    if (!svc->cfg->schema_dir) {
        edix_fail(&err, "schema_dir is not set in %s/edix.conf", svc->cfg->home);
        goto out;
    }
    if (!(vx.checker = edix_doc_checker_new(svc->cfg->schema_dir, svc->cfg->catalogue, &err)) ||
        !(vx.key = edix_service_signkey(svc, &err)) ||
        !(vx.pull = edix_sock_pull(svc->net, svc->cfg->validator_endpoint, 0, &err)) ||
        !(vx.push = edix_sock_push(svc->net, svc->cfg->router_endpoint, 0, &err)))
        goto out;
    edix_info(NULL, "event=ready schemas_ms=%lld types=%zu", (long long)(edix_mono_ms() - t0),
              edix_doc_type_count(vx.checker));

    int backoff = 0;
    while (!edix_service_stop) {
        int took = s_round(&vx);
        if (took > 0) {
            backoff = 0;
            continue; /* more may be waiting */
        }
        /* nothing to do, or the store is busy: wait for a notice or the timer */
        int wait = svc->cfg->rescan_ms;
        if (took < 0)
            wait = backoff = backoff ? (backoff * 2 > 5000 ? 5000 : backoff * 2) : 50;
        int ready[1];
        edix_sock_t *socks[1] = {vx.pull};
        if (edix_poll(socks, 1, wait, ready) < 0 && errno != EINTR) {
            edix_fail(&err, "poll failed: %s", strerror(errno));
            goto out;
        }
        edix_inmsg_t *in;
        while (edix_sock_recv(vx.pull, &in) == 0)
            edix_inmsg_destroy(&in); /* a hint only: the store says what to do */
    }
    rc = 0;
out:
    if (rc) {
        edix_error(NULL, "event=fatal reason=\"%s\"", err);
        fprintf(stderr, "edix-validator: %s\n", err);
    }
    edix_sock_destroy(&vx.pull);
    edix_sock_destroy(&vx.push);
    edix_signkey_destroy((edix_signkey_t **)&vx.key);
    edix_doc_checker_destroy(&vx.checker);
    free(err);
    return rc;
}
