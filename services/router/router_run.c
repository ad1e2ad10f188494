/*
 * router_run.c - the router loop.
 *
 * Three kinds of work, each from the store:
 *  - route: messages in state "validated" get a delivery row for their
 *    receiver and become "routed" (one transaction per batch);
 *  - dispatch: for every connected receiver with room in its window, the
 *    pending deliveries that are due are sent.  A sent delivery is in
 *    flight until it is acknowledged or its ack timeout passes; then it is
 *    due again after a backoff (ack_timeout_ms doubling per attempt up to
 *    retry_max_ms).  Attempts are written to the store with the next
 *    transaction the router makes anyway (or when it is idle): losing them
 *    in a crash costs nothing but the count;
 *  - acknowledge: ACKs are recorded in one transaction per batch (the next
 *    routing transaction, or their own after ROUTER_ACK_DELAY_MS): delivery
 *    done, message "delivered", audit, and a "delivered" notice for the
 *    sender.  A repeated ACK changes nothing.
 * The write lock is the store's one bottleneck (the intake and the
 * validator wait on it too), so whatever can be is done before taking it:
 * routes read their receivers, acks their messages, and the notices are
 * built and signed; the transaction only writes rows.
 * A receiver is connected from its READY until a send to it fails; a READY
 * on a new connection makes all its pending deliveries due at once.
 * Dispatch looks in the store only for receivers that may have work: new
 * routes for them, acks that freed their window, expired acks, a new
 * connection, or the periodic rescan.
 */
#include "router.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTER_MAX_WINDOW 10000

typedef struct {
    char *id;         /* hub message id */
    int64_t deadline; /* when the ack counts as lost */
} s_flight_t;

typedef struct {
    char *partner; /* partner id (ZAP-proven) */
    char *routing; /* ZeroMQ routing id of its current connection */
    size_t routing_len;
    int connected;      /* a READY seen and no send failed since */
    int window;         /* most unacknowledged deliveries it takes */
    int dirty;          /* may have due deliveries: look in the store */
    s_flight_t *flight; /* in flight, window entries */
    int inflight;
} s_receiver_t;

typedef struct {
    char *id;         /* delivery sent */
    int attempts;     /* attempts so far, this one included */
    int64_t at, next; /* when sent; when due again if not acked */
} s_attempt_t;

typedef struct s_ack {
    char *id;            /* acked hub id */
    const char *partner; /* by whom: the receiver's own string, which stays
                            put when a new receiver grows r->rx */
    /* read and built before the write lock (s_acks_prepare) */
    int prepared;
    int have_msg; /* the message as it was then */
    edix_msg_t msg;
    int have_notice; /* its sender's "delivered" notice, signed */
    edix_prepared_notice_t notice;
} s_ack_t;

/* Acks wait this long for company before a transaction of their own; a
 * routing transaction before then carries them.  One commit (one fsync
 * under the store's one write lock) then records many deliveries: at 1,000
 * documents/s, 5 ms here and a transaction for each burst of acks made the
 * router commit as often as the intake.  Nobody waits on the commit of an
 * ack, so this costs only the "delivered" state up to 20 ms later. */
#define ROUTER_ACK_DELAY_MS 20

typedef struct {
    edix_service_t *svc;
    struct edix_signkey *key;
    edix_sock_t *srv;  /* partner-facing ROUTER */
    edix_sock_t *pull; /* WORK from the validators */
    s_receiver_t *rx;
    size_t nrx;
    int route_due;         /* look for validated messages */
    s_attempt_t *attempts; /* not yet written to the store */
    size_t nattempts, attempts_size;
    struct s_ack *acks; /* acknowledgements waiting for their transaction */
    size_t nacks;
    int64_t acks_since; /* when the oldest of them came (monotonic ms) */
    edix_slice_t ids[EDIX_PROTO_MAX_WORK];
} s_router_t;

static s_receiver_t *
s_receiver(s_router_t *r, const char *partner, int create)
{
    for (size_t i = 0; i < r->nrx; i++)
        if (strcmp(r->rx[i].partner, partner) == 0)
            return &r->rx[i];
    if (!create)
        return NULL;
    r->rx = xrealloc(r->rx, (r->nrx + 1) * sizeof *r->rx);
    s_receiver_t *x = &r->rx[r->nrx++];
    memset(x, 0, sizeof *x);
    x->partner = xstrdup(partner);
    return x;
}

static void
s_flight_clear(s_receiver_t *x)
{
    for (int i = 0; i < x->inflight; i++)
        free(x->flight[i].id);
    x->inflight = 0;
}

static int
s_flight_find(s_receiver_t *x, const char *id)
{
    for (int i = 0; i < x->inflight; i++)
        if (strcmp(x->flight[i].id, id) == 0)
            return i;
    return -1;
}

static void
s_flight_drop(s_receiver_t *x, int i)
{
    free(x->flight[i].id);
    x->flight[i] = x->flight[--x->inflight];
}

static int64_t
s_backoff(const edix_config_t *cfg, int attempts)
{
    int64_t d = cfg->ack_timeout_ms;
    for (int i = 1; i < attempts && d < cfg->retry_max_ms; i++)
        d *= 2;
    return d < cfg->retry_max_ms ? d : cfg->retry_max_ms;
}

/* Inside a transaction: write the attempts made since the last one. */
static int
s_flush_attempts(s_router_t *r, char **err)
{
    for (size_t i = 0; i < r->nattempts; i++)
        if (edix_store_delivery_attempt(r->svc->store, r->attempts[i].id, r->attempts[i].at,
                                        r->attempts[i].next, err) < 0)
            return -1;
    return 0;
}

static void
s_attempts_clear(s_router_t *r)
{
    for (size_t i = 0; i < r->nattempts; i++)
        free(r->attempts[i].id);
    r->nattempts = 0;
}

static int s_acks_write(s_router_t *r, int *fresh, char **err);
static void s_acks_done(s_router_t *r, const int *fresh, int committed);
static void s_acks_prepare(s_router_t *r, int outer);

/* validated -> routed, with a delivery row; 1 when something moved.  The
 * acks waiting for a transaction ride along in the same one: one commit
 * (one fsync under the store's write lock) instead of two. */
static int
s_route(s_router_t *r)
{
    edix_service_t *svc = r->svc;
    char *err = NULL, **ids = NULL, **receivers = NULL;
    size_t n = 0;
    int moved = 0, *fresh = NULL;
    /* what to route, and who gets each (the validator settled that), is
     * read before the write lock */
    if (edix_store_begin_read(svc->store, &err) < 0)
        goto fail;
    if (edix_store_msg_ids(svc->store, "validated", svc->cfg->batch_max, &ids, &n, &err) < 0) {
        edix_store_end_read(svc->store);
        goto fail;
    }
    if (n == 0) {
        edix_store_end_read(svc->store);
        r->route_due = 0;
        goto out;
    }
    receivers = xcalloc(n, sizeof *receivers);
    for (size_t i = 0; i < n; i++) {
        edix_msg_t m;
        if (edix_store_msg_get(svc->store, ids[i], &m, NULL) != 0)
            continue;
        receivers[i] = m.receiver;
        m.receiver = NULL;
        edix_msg_free(&m);
    }
    s_acks_prepare(r, 1);
    edix_store_end_read(svc->store);
    if (edix_store_begin(svc->store, &err) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (!receivers[i])
            continue;
        edix_msg_t m = {.id = ids[i], .state = "routed"};
        char details[160];
        snprintf(details, sizeof details, "receiver=%s", receivers[i]);
        int rc = edix_store_msg_transition(svc->store, &m, "validated", &err);
        if (rc == 0 && (edix_store_delivery_add(svc->store, ids[i], receivers[i], &err) < 0 ||
                        edix_audit_append(svc->store, svc->actor, "message.routed", ids[i], details,
                                          &err) < 0))
            rc = -1;
        if (rc < 0)
            goto rollback;
        if (rc == 1) {
            /* routed meanwhile, or no longer valid to route */
            free(receivers[i]);
            receivers[i] = NULL;
        }
    }
    if (s_flush_attempts(r, &err) < 0)
        goto rollback;
    fresh = xcalloc(r->nacks ? r->nacks : 1, sizeof *fresh);
    if (s_acks_write(r, fresh, &err) < 0)
        goto rollback;
    if (edix_store_commit(svc->store, &err) < 0)
        goto fail;
    s_attempts_clear(r);
    s_acks_done(r, fresh, 1);
    for (size_t i = 0; i < n; i++) {
        if (!receivers[i])
            continue;
        edix_info(ids[i], "event=routed receiver=%s", receivers[i]);
        s_receiver_t *x = s_receiver(r, receivers[i], 0);
        if (x)
            x->dirty = 1;
    }
    moved = 1;
    goto out;
rollback:
    edix_store_rollback(svc->store);
fail:
    edix_warn(NULL, "event=route-failed reason=\"%s\"", err);
    /* acks that rode along are not recorded: as when their own transaction
     * fails, the deliveries go out again (and a bad ack cannot keep
     * blocking the routes) */
    if (fresh)
        s_acks_done(r, fresh, 0);
out:
    if (receivers)
        edix_ids_free(receivers, n);
    edix_ids_free(ids, n);
    free(fresh);
    free(err);
    return moved;
}

static void
s_attempt_add(s_router_t *r, const char *id, int attempts, int64_t now)
{
    if (r->nattempts == r->attempts_size) {
        r->attempts_size = r->attempts_size ? r->attempts_size * 2 : 256;
        r->attempts = xrealloc(r->attempts, r->attempts_size * sizeof *r->attempts);
    }
    r->attempts[r->nattempts++] = (s_attempt_t){
        .id = xstrdup(id),
        .attempts = attempts,
        .at = now,
        .next = now + s_backoff(r->svc->cfg, attempts),
    };
}

/* send what is due to one receiver */
static void
s_dispatch_one(s_router_t *r, s_receiver_t *x, int64_t now)
{
    edix_service_t *svc = r->svc;
    char *err = NULL, **ids = NULL;
    size_t n = 0;
    int room = x->window - x->inflight;
    if (!x->connected || !x->dirty || room <= 0)
        return;
    /* ask for more than the room: some due ones may be in flight already */
    if (edix_store_delivery_due(svc->store, x->partner, now, room + x->inflight, &ids, &n, &err) <
        0)
        goto out;
    size_t sent = 0;
    for (size_t i = 0; i < n && x->inflight < x->window; i++) {
        if (s_flight_find(x, ids[i]) >= 0)
            continue;
        edix_outgoing_t o;
        if (edix_store_delivery_load(svc->store, ids[i], &o, &err) != 0)
            continue;
        int from_hub = strcmp(o.kind, "status") == 0;
        const char *sig = from_hub && o.signature ? o.signature : "";
        edix_pmsg_t out = {.cmd = EDIX_CMD_DELIVER};
        out.hub_id = (edix_slice_t){ids[i], strlen(ids[i])};
        out.sender = (edix_slice_t){o.sender, strlen(o.sender)};
        out.doctype = (edix_slice_t){o.doctype, strlen(o.doctype)};
        out.body = (edix_slice_t){o.body, o.len};
        out.signature = (edix_slice_t){sig, strlen(sig)};
        edix_slice_t routing = {x->routing, x->routing_len};
        int rc = edix_sock_send(r->srv, &routing, &out, 1);
        int saved = errno, attempts = o.attempts + 1;
        edix_outgoing_free(&o);
        if (rc < 0) {
            edix_info(NULL, "event=receiver-gone partner=%s reason=\"%s\"", x->partner,
                      strerror(saved));
            x->connected = 0;
            s_flight_clear(x);
            break;
        }
        x->flight[x->inflight].id = xstrdup(ids[i]);
        x->flight[x->inflight].deadline = now + svc->cfg->ack_timeout_ms;
        x->inflight++;
        s_attempt_add(r, ids[i], attempts, now);
        edix_debug(ids[i], "event=sent receiver=%s attempt=%d", x->partner, attempts);
        sent++;
    }
    /* all that was due went out (or the window is full and an ack will
     * set dirty again) */
    if (x->inflight < x->window)
        x->dirty = 0;
out:
    if (err)
        edix_warn(NULL, "event=dispatch-failed partner=%s reason=\"%s\"", x->partner, err);
    edix_ids_free(ids, n);
    free(err);
}

/* acks that never came: the delivery is due again after its backoff */
static void
s_expire(s_receiver_t *x, int64_t now)
{
    for (int i = 0; i < x->inflight;) {
        if (x->flight[i].deadline <= now) {
            edix_info(x->flight[i].id, "event=ack-timeout receiver=%s", x->partner);
            s_flight_drop(x, i);
            x->dirty = 1;
        } else {
            i++;
        }
    }
}

/* the "delivered" notice for document m's sender */
static edix_notice_t
s_delivered(const edix_msg_t *m, const char *receiver)
{
    return (edix_notice_t){
        .partner = m->sender,
        .ref_id = m->id,
        .client_id = m->client_id,
        .doc_number = m->doc_number,
        .doctype = m->doctype,
        .delivered = 1,
        .receiver = receiver,
    };
}

/* Before the write lock: read the acked messages and build and sign the
 * "delivered" notices their senders get, so that the transaction only
 * writes rows.  What a message is does not change once it is routed; its
 * state may, which the transaction checks.  Anything that fails here is
 * done in the transaction instead.  outer: the caller has a read
 * transaction open. */
static void
s_acks_prepare(s_router_t *r, int outer)
{
    int reading = 0;
    for (size_t i = 0; i < r->nacks; i++) {
        s_ack_t *a = &r->acks[i];
        if (a->prepared)
            continue;
        a->prepared = 1;
        if (!outer && !reading && edix_store_begin_read(r->svc->store, NULL) < 0)
            break;
        reading = 1;
        if (edix_store_msg_get(r->svc->store, a->id, &a->msg, NULL) != 0)
            continue;
        a->have_msg = 1;
        if (strcmp(a->msg.kind, "document") != 0)
            continue;
        edix_notice_t notice = s_delivered(&a->msg, a->partner);
        a->have_notice = edix_service_notice_prepare(r->key, &notice, &a->notice, NULL) == 0;
    }
    if (reading && !outer)
        edix_store_end_read(r->svc->store);
}

/* Inside a transaction: record the waiting acks (delivery done, message
 * "delivered", audit, and the sender's "delivered" notice); fresh[i] is set
 * for each ack that changed something.  A repeat, or an ack for a delivery
 * that is not theirs, changes nothing. */
static int
s_acks_write(s_router_t *r, int *fresh, char **err)
{
    edix_service_t *svc = r->svc;
    for (size_t i = 0; i < r->nacks; i++) {
        s_ack_t *a = &r->acks[i];
        int rc = edix_store_delivery_done(svc->store, a->id, a->partner, err);
        if (rc < 0)
            return -1;
        if (rc == 1)
            continue;
        edix_msg_t m;
        if (a->have_msg) {
            m = a->msg;
            a->have_msg = 0;
        } else if (edix_store_msg_get(svc->store, a->id, &m, err) != 0) {
            return -1;
        }
        char *from = m.state;
        m.state = xstrdup("delivered");
        rc = edix_store_msg_transition(svc->store, &m, from, err);
        if (rc == 1) {
            /* its state changed since it was read: from the one it has */
            free(from);
            edix_msg_free(&m);
            if (edix_store_msg_get(svc->store, a->id, &m, err) != 0)
                return -1;
            from = m.state;
            m.state = xstrdup("delivered");
            rc = edix_store_msg_transition(svc->store, &m, from, err);
        }
        free(from);
        char details[160];
        snprintf(details, sizeof details, "receiver=%s", a->partner);
        if (rc < 0 || edix_audit_append(svc->store, svc->actor, "message.delivered", m.id, details,
                                        err) < 0) {
            edix_msg_free(&m);
            return -1;
        }
        if (strcmp(m.kind, "document") == 0) {
            if (a->have_notice) {
                rc = edix_service_notice_store(svc, &a->notice, err);
            } else {
                edix_notice_t notice = s_delivered(&m, a->partner);
                rc = edix_service_notify(svc, r->key, &notice, err);
            }
            if (rc < 0) {
                edix_msg_free(&m);
                return -1;
            }
            s_receiver_t *sx = s_receiver(r, m.sender, 0);
            if (sx)
                sx->dirty = 1;
        }
        edix_msg_free(&m);
        fresh[i] = 1;
    }
    return 0;
}

static void
s_ack_free(s_ack_t *a)
{
    free(a->id);
    if (a->have_msg)
        edix_msg_free(&a->msg);
    if (a->have_notice)
        edix_service_notice_free(&a->notice);
    memset(a, 0, sizeof *a);
}

/* After the transaction that carried the acks, committed or not: their
 * deliveries leave the window.  Not recorded (a failed commit), a delivery
 * stays pending and goes out again; the receiver acks the repeat and it is
 * recorded then. */
static void
s_acks_done(s_router_t *r, const int *fresh, int committed)
{
    for (size_t i = 0; i < r->nacks; i++) {
        s_ack_t *a = &r->acks[i];
        if (committed && fresh[i])
            edix_info(a->id, "event=delivered receiver=%s", a->partner);
        s_receiver_t *x = s_receiver(r, a->partner, 0);
        int k = x ? s_flight_find(x, a->id) : -1;
        if (k >= 0)
            s_flight_drop(x, k);
        if (x)
            x->dirty = 1;
        s_ack_free(a);
    }
    r->nacks = 0;
}

static void
s_on_ready(s_router_t *r, s_receiver_t *x, edix_slice_t routing, int window)
{
    int fresh = !x->connected || x->routing_len != routing.len ||
                memcmp(x->routing, routing.data, routing.len) != 0;
    if (!x->flight)
        x->flight = xcalloc(ROUTER_MAX_WINDOW, sizeof *x->flight);
    x->window = window;
    x->dirty = 1;
    if (!fresh)
        return;
    free(x->routing);
    x->routing = xstrndup(routing.data, routing.len);
    x->routing_len = routing.len;
    x->connected = 1;
    s_flight_clear(x);
    /* a new connection: whatever was in flight may be lost; offer it all now */
    char *err = NULL;
    if (edix_store_begin(r->svc->store, &err) == 0) {
        if (s_flush_attempts(r, &err) < 0 ||
            edix_store_delivery_reset(r->svc->store, x->partner, &err) < 0 ||
            edix_store_commit(r->svc->store, &err) < 0)
            edix_store_rollback(r->svc->store);
        else
            s_attempts_clear(r);
    }
    if (err)
        edix_warn(NULL, "event=reset-failed partner=%s reason=\"%s\"", x->partner, err);
    free(err);
    edix_info(NULL, "event=receiver-ready partner=%s window=%d", x->partner, window);
}

static void
s_error(s_router_t *r, edix_slice_t routing, edix_slice_t ref, int code, const char *text)
{
    edix_pmsg_t out = {.cmd = EDIX_CMD_ERROR, .code = code, .ref = ref};
    out.text = (edix_slice_t){text, strlen(text)};
    edix_sock_send(r->srv, &routing, &out, 1);
}

/* the waiting acks, in a transaction of their own (nothing to route) */
static void
s_flush_acks(s_router_t *r)
{
    char *err = NULL;
    if (!r->nacks)
        return;
    int *fresh = xcalloc(r->nacks, sizeof *fresh), committed = 0;
    s_acks_prepare(r, 0);
    if (edix_store_begin(r->svc->store, &err) == 0) {
        /* attempts first: an ack below marks the same delivery done */
        if (s_flush_attempts(r, &err) == 0 && s_acks_write(r, fresh, &err) == 0 &&
            edix_store_commit(r->svc->store, &err) == 0) {
            committed = 1;
            s_attempts_clear(r);
        } else {
            edix_store_rollback(r->svc->store);
        }
    }
    if (!committed)
        edix_warn(NULL, "event=ack-failed acks=%zu reason=\"%s\"", r->nacks, err);
    s_acks_done(r, fresh, committed);
    free(fresh);
    free(err);
}

static void
s_receive(s_router_t *r)
{
    size_t max = (size_t)r->svc->cfg->batch_max;
    edix_inmsg_t *in;
    edix_slice_t none = {"", 0};
    /* whether a connection's key is still admitted is looked up once per
     * call, not once per ACK; the keys are copied: the metadata strings die
     * with their message */
    enum { KNOWN_MAX = 8 };
    char known[KNOWN_MAX][EDIX_Z85_KEY];
    int known_active[KNOWN_MAX], nknown = 0;
    while (edix_sock_recv(r->srv, &in) == 0) {
        const char *partner = edix_inmsg_user(in);
        const char *key = edix_inmsg_key(in);
        edix_slice_t routing = edix_inmsg_routing(in);
        size_t nf;
        const edix_slice_t *frames = edix_inmsg_frames(in, &nf);
        edix_pmsg_t msg;
        char why[128];
        int active = -1;
        /* (the second bound is nknown's own; gcc -O3 cannot see it) */
        for (int k = 0; key && k < nknown && k < KNOWN_MAX; k++)
            if (strcmp(known[k], key) == 0)
                active = known_active[k];
        if (partner && active < 0) {
            active = edix_service_admitted(r->svc, partner, key) == 1;
            if (key && nknown < KNOWN_MAX && strlen(key) < EDIX_Z85_KEY) {
                strcpy(known[nknown], key);
                known_active[nknown++] = active;
            }
        }
        if (!partner) {
            s_error(r, routing, none, EDIX_ERR_FORBIDDEN, "not authenticated");
        } else if (edix_proto_decode(frames, nf, &msg, r->ids, why, sizeof why) < 0) {
            s_error(r, routing, none, EDIX_ERR_BAD_REQUEST, why);
        } else if (!active) {
            s_error(r, routing, msg.hub_id, EDIX_ERR_FORBIDDEN,
                    "partner is suspended or its key was retired");
            s_receiver_t *x = s_receiver(r, partner, 0);
            if (x) {
                x->connected = 0;
                s_flight_clear(x);
            }
        } else if (msg.cmd == EDIX_CMD_READY) {
            s_on_ready(r, s_receiver(r, partner, 1), routing, msg.window);
        } else if (msg.cmd == EDIX_CMD_ACK) {
            s_receiver_t *x = s_receiver(r, partner, 1);
            if (r->nacks == 0)
                r->acks_since = edix_mono_ms();
            /* the delivery stays in flight until its ack is committed, so
             * it is not offered again meanwhile */
            r->acks[r->nacks].id = edix_slice_dup(msg.hub_id);
            r->acks[r->nacks].partner = x->partner;
            r->nacks++;
        } else if (msg.cmd == EDIX_CMD_PING) {
            edix_pmsg_t out = {.cmd = EDIX_CMD_PONG};
            edix_sock_send(r->srv, &routing, &out, 1);
        } else {
            s_error(r, routing, none, EDIX_ERR_BAD_REQUEST,
                    "the delivery endpoint takes READY, ACK, PING");
        }
        edix_inmsg_destroy(&in);
        if (r->nacks == max) {
            /* a suspension committed meanwhile is seen from here on */
            s_flush_acks(r);
            nknown = 0;
        }
    }
}

/* how long to sleep: until the earliest ack deadline or the rescan */
static int
s_wait_ms(s_router_t *r, int64_t now, int64_t next_scan)
{
    int64_t wait = next_scan - now;
    for (size_t i = 0; i < r->nrx; i++) {
        s_receiver_t *x = &r->rx[i];
        if (x->connected && x->dirty && x->inflight < x->window)
            return 0;
        for (int j = 0; j < x->inflight; j++)
            if (x->flight[j].deadline - now < wait)
                wait = x->flight[j].deadline - now;
    }
    if (r->route_due)
        return 0;
    return wait < 0 ? 0 : (int)wait;
}

/* idle: write the attempts nothing else carried to the store */
static void
s_idle_flush(s_router_t *r)
{
    char *err = NULL;
    if (!r->nattempts)
        return;
    if (edix_store_begin(r->svc->store, &err) == 0) {
        if (s_flush_attempts(r, &err) < 0 || edix_store_commit(r->svc->store, &err) < 0)
            edix_store_rollback(r->svc->store);
        else
            s_attempts_clear(r);
    }
    if (err)
        edix_warn(NULL, "event=attempts-failed reason=\"%s\"", err);
    free(err);
}

int
router_run(edix_service_t *svc)
{
    char *err = NULL;
    int rc = 1;
    s_router_t r = {.svc = svc, .route_due = 1};
    r.acks = xcalloc((size_t)svc->cfg->batch_max, sizeof *r.acks);
    edix_hub_keys_t keys;
    edix_sock_t *zap = NULL;
    if (edix_hub_keys_load(svc->cfg->home, 1, &keys, &err) < 0 ||
        !(r.key = edix_service_signkey(svc, &err)))
        goto out;
    if (!(zap = edix_zap_new(svc->net, edix_service_zap_decide, svc, &err)) ||
        !(r.pull = edix_sock_pull(svc->net, svc->cfg->router_endpoint, 1, &err)) ||
        !(r.srv = edix_sock_server(svc->net, svc->cfg->delivery_endpoint, keys.curve_secret,
                                   svc->cfg->max_document_size, &err)))
        goto out;
    explicit_bzero(keys.curve_secret, sizeof keys.curve_secret);
    edix_info(NULL, "event=listening endpoint=%s", svc->cfg->delivery_endpoint);

    int64_t next_scan = 0;
    edix_sock_t *socks[3] = {zap, r.srv, r.pull};
    while (!edix_service_stop) {
        int64_t now = edix_now_ms();
        if (now >= next_scan) {
            /* the periodic look: lost WORK hints, retries that came due */
            r.route_due = 1;
            for (size_t i = 0; i < r.nrx; i++)
                r.rx[i].dirty = 1;
            next_scan = now + svc->cfg->rescan_ms;
        }
        if (r.route_due)
            s_route(&r);
        int reading = 0;
        for (size_t i = 0; i < r.nrx; i++) {
            s_expire(&r.rx[i], now);
            if (!reading && r.rx[i].connected && r.rx[i].dirty)
                reading = edix_store_begin_read(svc->store, NULL) == 0;
            s_dispatch_one(&r, &r.rx[i], now);
        }
        if (reading)
            edix_store_end_read(svc->store);
        int ready[3];
        int wait = s_wait_ms(&r, edix_now_ms(), next_scan);
        if (r.nacks) {
            /* the acks' transaction is due then, if nothing carries them before */
            int64_t left = r.acks_since + ROUTER_ACK_DELAY_MS - edix_mono_ms();
            if (left < wait)
                wait = left < 0 ? 0 : (int)left;
        }
        int n = edix_poll(socks, 3, wait, ready);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            edix_fail(&err, "poll failed: %s", strerror(errno));
            goto out;
        }
        if (n == 0) {
            s_flush_acks(&r);
            s_idle_flush(&r);
            continue;
        }
        if (ready[0])
            edix_zap_serve(zap);
        if (ready[1])
            s_receive(&r);
        if (r.nacks && edix_mono_ms() - r.acks_since >= ROUTER_ACK_DELAY_MS)
            s_flush_acks(&r);
        if (ready[2]) {
            edix_inmsg_t *in;
            while (edix_sock_recv(r.pull, &in) == 0)
                edix_inmsg_destroy(&in);
            r.route_due = 1;
        }
    }
    s_flush_acks(&r);
    s_idle_flush(&r);
    rc = 0;
out:
    if (rc) {
        edix_error(NULL, "event=fatal reason=\"%s\"", err);
        fprintf(stderr, "edix-router: %s\n", err);
    }
    for (size_t i = 0; i < r.nrx; i++) {
        s_flight_clear(&r.rx[i]);
        free(r.rx[i].partner);
        free(r.rx[i].routing);
        free(r.rx[i].flight);
    }
    free(r.rx);
    s_attempts_clear(&r);
    free(r.attempts);
    for (size_t i = 0; i < r.nacks; i++)
        s_ack_free(&r.acks[i]);
    free(r.acks);
    edix_sock_destroy(&r.srv);
    edix_sock_destroy(&r.pull);
    edix_sock_destroy(&zap);
    edix_signkey_destroy((edix_signkey_t **)&r.key);
    free(err);
    return rc;
}
