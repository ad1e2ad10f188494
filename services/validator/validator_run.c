/*
 * validator_run.c - the validator loop.
 *
 * Work comes from the store: messages in state "accepted", oldest first, a
 * batch at a time.  WORK notices from the intake only wake us early; a
 * timer (rescan_ms) and start-up find whatever a lost notice did not
 * announce.  The checks run outside any transaction, on the main thread;
 * a writer thread then writes every verdict checked since its last commit,
 * their audit records and the rejection notices, in one transaction (group
 * commit), and only after COMMIT does the router hear.  While it waits for
 * the store's write lock and for its commit, the next batch is checked.
 * A verdict is written only if the message is still "accepted", so two
 * validators never both decide one document.
 */
#include "validator.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
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

struct s_batch;

typedef struct {
    edix_service_t *svc;
    edix_doc_checker_t *checker;
    struct edix_signkey *key;
    edix_store_t *rstore; /* the checks' connection: reads only */
    edix_sock_t *pull;    /* WORK from the intake */
    /* the writer's: svc->store, the push socket and ids */
    edix_sock_t *push; /* WORK to the router */
    edix_slice_t ids[EDIX_PROTO_MAX_WORK];
    pthread_t writer;
    /* under mu: what goes from the checks to the writer */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct s_batch *queued;  /* checked, not yet taken */
    struct s_batch *writing; /* in the writer's transaction */
    size_t in_flight;        /* messages in both */
    int failed;              /* the writer's last transaction failed */
    int wstop;               /* the writer ends once nothing is queued */
} s_validator_t;

/* The checks hold no snapshot: a reader open across them would keep a
 * checkpoint from restarting the WAL, and through it every writer waiting.
 * So a round reads its messages and bodies in one short read transaction,
 * checks them with no store open, and reads the registry in a second one. */
#define VALIDATOR_ROUND_BYTES (16u << 20) /* bodies held by one round, at most */

/* The checks of one batch run while the writer commits the one before: its
 * wait for the store's write lock and its fsync leave the checks' cycle.
 * The checks wait once this many batches' worth are queued or in the
 * writer's transaction. */
#define VALIDATOR_QUEUE_MAX 2

/* a round (pick, check, or write) that did not happen; it is tried again */
static void
s_round_failed(edix_store_t *store, const char *err)
{
    edix_warn(NULL, "event=round-failed temporary=%d reason=\"%s\"", edix_store_temporary(store),
              err);
}

static int
s_load(s_validator_t *vx, s_item_t *it, char **err)
{
    int rc = edix_store_msg_get(vx->rstore, it->id, &it->msg, err);
    if (rc == 0)
        rc = edix_store_msg_body(vx->rstore, it->id, &it->body, &it->len, err);
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
    if (*doctype && validator_partners(vx->rstore, it->msg.sender, it->v, &receiver, err) < 0)
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

/* A checked batch on its way to the writer. */
typedef struct s_batch {
    s_item_t *items;
    char **ids;  /* as read from the store; items[i].id points here */
    size_t n;    /* ids read */
    size_t take; /* items worked on */
    struct s_batch *next;
} s_batch_t;

static void
s_batch_free(s_batch_t *b)
{
    for (size_t i = 0; b->items && i < b->n; i++) {
        edix_msg_free(&b->items[i].msg);
        free(b->items[i].body);
        edix_verdict_destroy(&b->items[i].v);
    }
    free(b->items);
    edix_ids_free(b->ids, b->n);
    free(b);
}

static int
s_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The accepted messages not already on their way to the writer, oldest
 * first.  The mutex is held from before the query until after the filter:
 * the writer drops a batch from flight only after its commit, so an id
 * read as "accepted" is either still in flight here or decided already
 * (and then its transition is skipped, not written twice).  The ids in
 * flight are sorted once per pick: under a backlog there are hundreds. */
static int
s_pick(s_validator_t *vx, char ***ids_p, size_t *n_p, char **err)
{
    int limit = vx->svc->cfg->batch_max;
    pthread_mutex_lock(&vx->mu);
    const char **fly = xcalloc(vx->in_flight ? vx->in_flight : 1, sizeof *fly);
    size_t nfly = 0;
    const s_batch_t *lists[2] = {vx->queued, vx->writing};
    for (int l = 0; l < 2; l++)
        for (const s_batch_t *b = lists[l]; b; b = b->next)
            for (size_t i = 0; i < b->take && nfly < vx->in_flight; i++)
                fly[nfly++] = b->items[i].id;
    qsort(fly, nfly, sizeof *fly, s_strcmp_p);
    int rc = edix_store_msg_ids(vx->rstore, "accepted", limit + (int)nfly, ids_p, n_p, err);
    size_t kept = 0;
    for (size_t i = 0; rc == 0 && i < *n_p; i++) {
        const char *id = (*ids_p)[i];
        if (kept < (size_t)limit && !bsearch(&id, fly, nfly, sizeof *fly, s_strcmp_p))
            (*ids_p)[kept++] = (*ids_p)[i];
        else
            free((*ids_p)[i]);
    }
    if (rc == 0)
        *n_p = kept;
    pthread_mutex_unlock(&vx->mu);
    free(fly);
    return rc;
}

/* One batch checked and handed to the writer; returns how many messages
 * it took (0: nothing to do), -1 on a store failure here or in the
 * writer's last transaction (retried on a later round). */
static int
s_round(s_validator_t *vx)
{
    edix_store_t *store = vx->rstore;
    char *err = NULL;
    int result = -1;
    s_batch_t *b = xcalloc(1, sizeof *b);
    pthread_mutex_lock(&vx->mu);
    int failed = vx->failed;
    vx->failed = 0;
    pthread_mutex_unlock(&vx->mu);
    if (failed)
        goto out; /* the writer said why */
    if (s_pick(vx, &b->ids, &b->n, &err) < 0)
        goto out;
    if (b->n == 0) {
        result = 0;
        goto out;
    }
    b->items = xcalloc(b->n, sizeof *b->items);
    /* 1: messages and bodies, one snapshot; a round holds at most
     * VALIDATOR_ROUND_BYTES of documents, the rest wait for the next */
    if (edix_store_begin_read(store, &err) < 0)
        goto out;
    size_t held = 0;
    for (; b->take < b->n && (b->take == 0 || held < VALIDATOR_ROUND_BYTES); b->take++) {
        s_item_t *it = &b->items[b->take];
        it->id = b->ids[b->take];
        if (s_load(vx, it, &err) < 0) {
            edix_store_end_read(store);
            goto out;
        }
        held += it->len;
    }
    edix_store_end_read(store);
    /* 2: the checks, no store open */
    for (size_t i = 0; i < b->take; i++)
        if (!b->items[i].skip && s_check(vx, &b->items[i], &err) < 0)
            goto out;
    /* 3: the registry, one snapshot */
    if (edix_store_begin_read(store, &err) < 0)
        goto out;
    for (size_t i = 0; i < b->take; i++) {
        if (!b->items[i].skip && s_resolve(vx, &b->items[i], &err) < 0) {
            edix_store_end_read(store);
            goto out;
        }
    }
    edix_store_end_read(store);
    /* 4: to the writer, which takes everything queued into one
     * transaction; while it holds VALIDATOR_QUEUE_MAX waiting, we wait */
    pthread_mutex_lock(&vx->mu);
    while (vx->in_flight >= (size_t)vx->svc->cfg->batch_max * VALIDATOR_QUEUE_MAX && !vx->wstop)
        pthread_cond_wait(&vx->cv, &vx->mu);
    s_batch_t **tail = &vx->queued;
    while (*tail)
        tail = &(*tail)->next;
    *tail = b;
    vx->in_flight += b->take;
    result = (int)b->take;
    b = NULL; /* the writer's now: it may be freed once we unlock */
    pthread_cond_broadcast(&vx->cv);
    pthread_mutex_unlock(&vx->mu);
out:
    if (result < 0 && err)
        s_round_failed(store, err);
    if (b)
        s_batch_free(b);
    free(err);
    return result;
}

/* In the writer, inside the transaction it began: the verdicts of the
 * batches taken, their audit records and the rejection notices (group
 * commit); only after COMMIT does the router hear.  -1 when the store
 * failed (logged). */
static int
s_write_batches(s_validator_t *vx, s_batch_t *batches)
{
    edix_service_t *svc = vx->svc;
    char *err = NULL;
    int rc = -1;
    for (s_batch_t *b = batches; b; b = b->next) {
        for (size_t i = 0; i < b->take; i++) {
            if (!b->items[i].skip && s_write(vx, &b->items[i], &err) < 0) {
                edix_store_rollback(svc->store);
                goto out;
            }
        }
    }
    if (edix_store_commit(svc->store, &err) < 0)
        goto out;
    rc = 0;

    size_t nw = 0;
    for (s_batch_t *b = batches; b; b = b->next) {
        for (size_t i = 0; i < b->take; i++) {
            s_item_t *it = &b->items[i];
            if (it->skip)
                continue;
            if (strcmp(it->msg.state, "validated") == 0) {
                edix_info(it->msg.id, "event=validated doctype=%s sender=%s receiver=%s",
                          it->msg.doctype, it->msg.sender, it->msg.receiver);
                if (nw < EDIX_PROTO_MAX_WORK)
                    vx->ids[nw++] = (edix_slice_t){it->msg.id, strlen(it->msg.id)};
            } else {
                edix_info(it->msg.id, "event=rejected doctype=%s sender=%s errors=%zu",
                          it->msg.doctype ? it->msg.doctype : "-", it->msg.sender,
                          edix_verdict_issue_count(it->v));
            }
        }
    }
    /* the router also wants to hear of rejection notices to deliver; it
     * looks in the store for its work, so a hint naming some is enough */
    edix_pmsg_t work = {.cmd = EDIX_CMD_WORK, .ids = vx->ids, .id_count = nw};
    if (nw == 0) {
        static const char any[] = "notice";
        vx->ids[0] = (edix_slice_t){any, sizeof any - 1};
        work.id_count = 1;
    }
    edix_sock_send(vx->push, NULL, &work, 1);
out:
    if (rc < 0)
        s_round_failed(svc->store, err);
    free(err);
    return rc;
}

/* The writer thread: the service's own store connection (and its
 * checkpoints) and the push socket are its alone.  It writes whatever is
 * queued, and what is queued when asked to stop. */
static void *
s_writer(void *arg)
{
    s_validator_t *vx = arg;
    pthread_mutex_lock(&vx->mu);
    for (;;) {
        while (!vx->queued && !vx->wstop)
            pthread_cond_wait(&vx->cv, &vx->mu);
        if (!vx->queued)
            break;
        pthread_mutex_unlock(&vx->mu);
        /* the lock first, then the batches: what the checks queue while we
         * wait for it rides along in the same commit */
        char *err = NULL;
        int begun = edix_store_begin(vx->svc->store, &err) == 0;
        pthread_mutex_lock(&vx->mu);
        vx->writing = vx->queued;
        vx->queued = NULL;
        pthread_mutex_unlock(&vx->mu);
        int rc = begun ? s_write_batches(vx, vx->writing) : -1;
        if (!begun)
            s_round_failed(vx->svc->store, err);
        free(err);
        pthread_mutex_lock(&vx->mu);
        /* decided, or not written and still "accepted": either way the
         * next pick may see them again */
        while (vx->writing) {
            s_batch_t *b = vx->writing;
            vx->writing = b->next;
            vx->in_flight -= b->take;
            s_batch_free(b);
        }
        if (rc < 0)
            vx->failed = 1;
        pthread_cond_broadcast(&vx->cv);
    }
    pthread_mutex_unlock(&vx->mu);
    return NULL;
}

int
validator_run(edix_service_t *svc)
{
    char *err = NULL;
    int rc = 1;
    s_validator_t vx = {.svc = svc};
    int writer = 0;
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
    if (!(vx.rstore = edix_store_open(svc->cfg->store_path, 0, &err)))
        goto out;
    pthread_mutex_init(&vx.mu, NULL);
    pthread_cond_init(&vx.cv, NULL);
    if ((errno = pthread_create(&vx.writer, NULL, s_writer, &vx)) != 0) {
        edix_fail(&err, "cannot start the writer thread: %s", strerror(errno));
        goto out;
    }
    writer = 1;
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
    if (writer) {
        /* what is checked is written before we go */
        pthread_mutex_lock(&vx.mu);
        vx.wstop = 1;
        pthread_cond_broadcast(&vx.cv);
        pthread_mutex_unlock(&vx.mu);
        pthread_join(vx.writer, NULL);
    }
    if (vx.rstore) {
        pthread_mutex_destroy(&vx.mu);
        pthread_cond_destroy(&vx.cv);
    }
    if (rc) {
        edix_error(NULL, "event=fatal reason=\"%s\"", err);
        fprintf(stderr, "edix-validator: %s\n", err);
    }
    edix_store_close(&vx.rstore);
    edix_sock_destroy(&vx.pull);
    edix_sock_destroy(&vx.push);
    edix_signkey_destroy((edix_signkey_t **)&vx.key);
    edix_doc_checker_destroy(&vx.checker);
    free(err);
    return rc;
}
