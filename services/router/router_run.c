/*
 * router_run.c - the router loop.
 *
 * Three kinds of work, each from the store:
 *  - route: messages in state "validated" get a delivery row for their
 *    receiver and become "routed" (one transaction per batch);
 *  - dispatch: for every connected receiver, pending deliveries that are due
 *    are sent, up to the receiver's window; each attempt is recorded and
 *    the delivery is due again after ack_timeout_ms, doubling per attempt up
 *    to retry_max_ms;
 *  - acknowledge: ACKs are recorded in one transaction per batch: delivery
 *    done, message "delivered", audit, and a "delivered" notice for the
 *    sender.  A repeated ACK changes nothing.
 * A receiver is connected from its READY until a send to it fails; a READY
 * from a new connection makes all its pending deliveries due at once.
 */
#include "router.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTER_MAX_INFLIGHT 10000

typedef struct {
    char *partner; /* partner id (ZAP-proven) */
    char *routing; /* ZeroMQ routing id of its current connection */
    size_t routing_len;
    int connected;      /* a READY seen and no send failed since */
    int window;         /* most unacknowledged deliveries it takes */
    int inflight;       /* sent and neither acked nor timed out */
    int64_t *deadlines; /* per in-flight slot: when it counts as lost */
    char **inflight_ids;
} s_receiver_t;

typedef struct {
    edix_service_t *svc;
    struct edix_signkey *key;
    edix_sock_t *srv;  /* partner-facing ROUTER */
    edix_sock_t *pull; /* WORK from the validators */
    s_receiver_t *rx;
    size_t nrx;
    int route_due; /* look for validated messages */
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
s_inflight_clear(s_receiver_t *x)
{
    for (int i = 0; i < x->inflight; i++)
        free(x->inflight_ids[i]);
    x->inflight = 0;
}

static void
s_inflight_remove(s_receiver_t *x, const char *id)
{
    for (int i = 0; i < x->inflight; i++) {
        if (strcmp(x->inflight_ids[i], id) != 0)
            continue;
        free(x->inflight_ids[i]);
        x->inflight--;
        x->inflight_ids[i] = x->inflight_ids[x->inflight];
        x->deadlines[i] = x->deadlines[x->inflight];
        return;
    }
}

static int
s_inflight_has(s_receiver_t *x, const char *id)
{
    for (int i = 0; i < x->inflight; i++)
        if (strcmp(x->inflight_ids[i], id) == 0)
            return 1;
    return 0;
}

/* validated -> routed, with a delivery row; 1 when something moved */
static int
s_route(s_router_t *r)
{
    edix_service_t *svc = r->svc;
    char *err = NULL, **ids = NULL;
    size_t n = 0;
    int moved = 0;
    if (edix_store_msg_ids(svc->store, "validated", svc->cfg->batch_max, &ids, &n, &err) < 0)
        goto fail;
    if (n == 0) {
        r->route_due = 0;
        goto out;
    }
    if (edix_store_begin(svc->store, &err) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        edix_msg_t m;
        int rc = edix_store_msg_get(svc->store, ids[i], &m, &err);
        if (rc < 0)
            goto rollback;
        if (rc == 1)
            continue;
        free(m.state);
        m.state = xstrdup("routed");
        char details[160];
        snprintf(details, sizeof details, "receiver=%s", m.receiver ? m.receiver : "-");
        rc = m.receiver ? edix_store_msg_transition(svc->store, &m, "validated", &err) : 1;
        if (rc == 0 &&
            (edix_store_delivery_add(svc->store, m.id, m.receiver, &err) < 0 ||
             edix_audit_append(svc->store, svc->actor, "message.routed", m.id, details, &err) < 0))
            rc = -1;
        edix_msg_free(&m);
        if (rc < 0)
            goto rollback;
    }
    if (edix_store_commit(svc->store, &err) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        edix_info(ids[i], "event=routed");
    moved = 1;
    goto out;
rollback:
    edix_store_rollback(svc->store);
fail:
    edix_warn(NULL, "event=route-failed reason=\"%s\"", err);
out:
    edix_ids_free(ids, n);
    free(err);
    return moved;
}

static int64_t
s_backoff(const edix_config_t *cfg, int attempts)
{
    int64_t d = cfg->ack_timeout_ms;
    for (int i = 1; i < attempts && d < cfg->retry_max_ms; i++)
        d *= 2;
    return d < cfg->retry_max_ms ? d : cfg->retry_max_ms;
}

/* send what is due to one receiver */
static void
s_dispatch_one(s_router_t *r, s_receiver_t *x, int64_t now)
{
    edix_service_t *svc = r->svc;
    char *err = NULL, **ids = NULL;
    size_t n = 0, sent = 0;
    int room = x->window - x->inflight;
    if (!x->connected || room <= 0)
        return;
    /* ask for a few more than the room: some due ones may be in flight */
    if (edix_store_delivery_due(svc->store, x->partner, now, room + x->inflight, &ids, &n, &err) <
        0)
        goto out;
    char **sent_ids = xcalloc(n ? n : 1, sizeof *sent_ids);
    for (size_t i = 0; i < n && x->inflight < x->window; i++) {
        if (s_inflight_has(x, ids[i]))
            continue;
        edix_msg_t m;
        char *body = NULL;
        size_t len = 0;
        if (edix_store_msg_get(svc->store, ids[i], &m, &err) != 0)
            continue;
        if (edix_store_msg_body(svc->store, ids[i], &body, &len, &err) != 0) {
            edix_msg_free(&m);
            continue;
        }
        int from_hub = strcmp(m.kind, "status") == 0;
        const char *sig = from_hub && m.signature ? m.signature : "";
        edix_pmsg_t out = {.cmd = EDIX_CMD_DELIVER};
        out.hub_id = (edix_slice_t){m.id, strlen(m.id)};
        out.sender = (edix_slice_t){m.sender, strlen(m.sender)};
        out.doctype = (edix_slice_t){m.doctype, strlen(m.doctype)};
        out.body = (edix_slice_t){body, len};
        out.signature = (edix_slice_t){sig, strlen(sig)};
        edix_slice_t routing = {x->routing, x->routing_len};
        int rc = edix_sock_send(r->srv, &routing, &out, 1);
        int saved = errno;
        free(body);
        edix_msg_free(&m);
        if (rc < 0) {
            edix_info(NULL, "event=receiver-gone partner=%s reason=\"%s\"", x->partner,
                      strerror(saved));
            x->connected = 0;
            s_inflight_clear(x);
            break;
        }
        x->inflight_ids[x->inflight] = xstrdup(ids[i]);
        x->deadlines[x->inflight] = now + svc->cfg->ack_timeout_ms;
        x->inflight++;
        sent_ids[sent++] = ids[i];
    }
    if (sent) {
        /* record the attempts; the next one is due after the backoff */
        if (edix_store_begin(svc->store, &err) == 0) {
            int ok = 1;
            for (size_t i = 0; i < sent && ok; i++) {
                edix_delivery_t d;
                int attempts = 1;
                if (edix_store_delivery_get(svc->store, sent_ids[i], &d, NULL) == 0) {
                    attempts = d.attempts + 1;
                    edix_delivery_free(&d);
                }
                ok = edix_store_delivery_attempt(svc->store, sent_ids[i], now,
                                                 now + s_backoff(svc->cfg, attempts), &err) == 0;
            }
            if (!ok || edix_store_commit(svc->store, &err) < 0)
                edix_store_rollback(svc->store);
        }
        for (size_t i = 0; i < sent; i++)
            edix_debug(sent_ids[i], "event=sent receiver=%s", x->partner);
    }
    free(sent_ids);
out:
    if (err)
        edix_warn(NULL, "event=dispatch-failed partner=%s reason=\"%s\"", x->partner, err);
    edix_ids_free(ids, n);
    free(err);
}

static void
s_expire(s_receiver_t *x, int64_t now)
{
    for (int i = 0; i < x->inflight;) {
        if (x->deadlines[i] <= now) {
            edix_info(x->inflight_ids[i], "event=ack-timeout receiver=%s", x->partner);
            s_inflight_remove(x, x->inflight_ids[i]);
        } else {
            i++;
        }
    }
}

typedef struct {
    char *id;        /* acked hub id */
    s_receiver_t *x; /* by whom */
} s_ack_t;

static void
s_record_acks(s_router_t *r, s_ack_t *acks, size_t n)
{
    edix_service_t *svc = r->svc;
    char *err = NULL;
    int *fresh = xcalloc(n ? n : 1, sizeof *fresh);
    if (edix_store_begin(svc->store, &err) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        int rc = edix_store_delivery_done(svc->store, acks[i].id, acks[i].x->partner, &err);
        if (rc < 0)
            goto rollback;
        if (rc == 1)
            continue; /* a repeat, or not theirs to ack */
        edix_msg_t m;
        if (edix_store_msg_get(svc->store, acks[i].id, &m, &err) != 0)
            goto rollback;
        const char *from = m.state;
        m.state = xstrdup("delivered");
        rc = edix_store_msg_transition(svc->store, &m, from, &err);
        free((char *)from);
        char details[160];
        snprintf(details, sizeof details, "receiver=%s", acks[i].x->partner);
        if (rc < 0 || edix_audit_append(svc->store, svc->actor, "message.delivered", m.id, details,
                                        &err) < 0) {
            edix_msg_free(&m);
            goto rollback;
        }
        if (strcmp(m.kind, "document") == 0) {
            edix_notice_t notice = {
                .partner = m.sender,
                .ref_id = m.id,
                .client_id = m.client_id,
                .doc_number = m.doc_number,
                .doctype = m.doctype,
                .delivered = 1,
                .receiver = acks[i].x->partner,
            };
            if (edix_service_notify(svc, r->key, &notice, &err) < 0) {
                edix_msg_free(&m);
                goto rollback;
            }
        }
        edix_msg_free(&m);
        fresh[i] = 1;
    }
    if (edix_store_commit(svc->store, &err) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (fresh[i])
            edix_info(acks[i].id, "event=delivered receiver=%s", acks[i].x->partner);
    goto out;
rollback:
    edix_store_rollback(svc->store);
fail:
    /* not recorded: the delivery stays pending and goes out again; the
     * receiver acks the repeat and we record it then */
    edix_warn(NULL, "event=ack-failed acks=%zu reason=\"%s\"", n, err);
out:
    free(fresh);
    free(err);
}

static void
s_on_ready(s_router_t *r, s_receiver_t *x, edix_slice_t routing, int window)
{
    int fresh = !x->connected || x->routing_len != routing.len ||
                memcmp(x->routing, routing.data, routing.len) != 0;
    x->window = window;
    if (!x->deadlines) {
        x->deadlines = xcalloc(ROUTER_MAX_INFLIGHT, sizeof *x->deadlines);
        x->inflight_ids = xcalloc(ROUTER_MAX_INFLIGHT, sizeof *x->inflight_ids);
    }
    if (!fresh)
        return;
    free(x->routing);
    x->routing = xstrndup(routing.data, routing.len);
    x->routing_len = routing.len;
    x->connected = 1;
    s_inflight_clear(x);
    /* a new connection: whatever was in flight may be lost; offer it all now */
    char *err = NULL;
    if (edix_store_begin(r->svc->store, &err) == 0) {
        if (edix_store_delivery_reset(r->svc->store, x->partner, &err) < 0 ||
            edix_store_commit(r->svc->store, &err) < 0)
            edix_store_rollback(r->svc->store);
    }
    if (err)
        edix_warn(NULL, "event=reset-failed partner=%s reason=\"%s\"", x->partner, err);
    free(err);
    edix_info(NULL, "event=receiver-ready partner=%s window=%d", x->partner, window);
}

static void
s_error(s_router_t *r, edix_slice_t routing, int code, const char *text)
{
    edix_pmsg_t out = {.cmd = EDIX_CMD_ERROR, .code = code};
    out.text = (edix_slice_t){text, strlen(text)};
    edix_sock_send(r->srv, &routing, &out, 1);
}

static void
s_receive(s_router_t *r)
{
    size_t max = (size_t)r->svc->cfg->batch_max, nacks = 0;
    s_ack_t *acks = xcalloc(max, sizeof *acks);
    edix_inmsg_t *in;
    while (nacks < max && edix_sock_recv(r->srv, &in) == 0) {
        const char *partner = edix_inmsg_user(in);
        edix_slice_t routing = edix_inmsg_routing(in);
        size_t nf;
        const edix_slice_t *frames = edix_inmsg_frames(in, &nf);
        edix_pmsg_t msg;
        char why[128];
        if (!partner) {
            s_error(r, routing, EDIX_ERR_FORBIDDEN, "not authenticated");
        } else if (edix_proto_decode(frames, nf, &msg, r->ids, why, sizeof why) < 0) {
            s_error(r, routing, EDIX_ERR_BAD_REQUEST, why);
        } else if (edix_store_partner_active(r->svc->store, partner, NULL) != 1) {
            s_error(r, routing, EDIX_ERR_FORBIDDEN, "partner is suspended");
            s_receiver_t *x = s_receiver(r, partner, 0);
            if (x) {
                x->connected = 0;
                s_inflight_clear(x);
            }
        } else if (msg.cmd == EDIX_CMD_READY) {
            s_on_ready(r, s_receiver(r, partner, 1), routing, msg.window);
        } else if (msg.cmd == EDIX_CMD_ACK) {
            s_receiver_t *x = s_receiver(r, partner, 1);
            acks[nacks].id = edix_slice_dup(msg.hub_id);
            acks[nacks].x = x;
            s_inflight_remove(x, acks[nacks].id);
            nacks++;
        } else if (msg.cmd == EDIX_CMD_PING) {
            edix_pmsg_t out = {.cmd = EDIX_CMD_PONG};
            edix_sock_send(r->srv, &routing, &out, 1);
        } else {
            s_error(r, routing, EDIX_ERR_BAD_REQUEST,
                    "the delivery endpoint takes READY, ACK, PING");
        }
        edix_inmsg_destroy(&in);
    }
    if (nacks)
        s_record_acks(r, acks, nacks);
    for (size_t i = 0; i < nacks; i++)
        free(acks[i].id);
    free(acks);
}

/* how long to sleep: until the earliest in-flight deadline or pending due time */
static int
s_wait_ms(s_router_t *r, int64_t now)
{
    int64_t wait = r->svc->cfg->rescan_ms;
    for (size_t i = 0; i < r->nrx; i++) {
        s_receiver_t *x = &r->rx[i];
        if (!x->connected)
            continue;
        for (int j = 0; j < x->inflight; j++)
            if (x->deadlines[j] - now < wait)
                wait = x->deadlines[j] - now;
        int64_t next;
        if (x->inflight < x->window &&
            edix_store_delivery_next(r->svc->store, x->partner, &next, NULL) == 0 &&
            next - now < wait)
            wait = next - now;
    }
    return wait < 0 ? 0 : (int)wait;
}

int
router_run(edix_service_t *svc)
{
    char *err = NULL;
    int rc = 1;
    s_router_t r = {.svc = svc, .route_due = 1};
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

    int64_t last_scan = 0;
    edix_sock_t *socks[3] = {zap, r.srv, r.pull};
    while (!edix_service_stop) {
        int64_t now = edix_now_ms();
        if (now - last_scan >= svc->cfg->rescan_ms) {
            r.route_due = 1;
            last_scan = now;
        }
        while (r.route_due && s_route(&r))
            ;
        for (size_t i = 0; i < r.nrx; i++) {
            s_expire(&r.rx[i], now);
            s_dispatch_one(&r, &r.rx[i], now);
        }
        int ready[3];
        int wait = s_wait_ms(&r, edix_now_ms());
        if (edix_poll(socks, 3, wait, ready) < 0) {
            if (errno == EINTR)
                continue;
            edix_fail(&err, "poll failed: %s", strerror(errno));
            goto out;
        }
        if (ready[0])
            edix_zap_serve(zap);
        if (ready[1])
            s_receive(&r);
        if (ready[2]) {
            edix_inmsg_t *in;
            while (edix_sock_recv(r.pull, &in) == 0)
                edix_inmsg_destroy(&in);
            r.route_due = 1;
        }
    }
    rc = 0;
out:
    if (rc) {
        edix_error(NULL, "event=fatal reason=\"%s\"", err);
        fprintf(stderr, "edix-router: %s\n", err);
    }
    for (size_t i = 0; i < r.nrx; i++) {
        s_inflight_clear(&r.rx[i]);
        free(r.rx[i].partner);
        free(r.rx[i].routing);
        free(r.rx[i].deadlines);
        free(r.rx[i].inflight_ids);
    }
    free(r.rx);
    edix_sock_destroy(&r.srv);
    edix_sock_destroy(&r.pull);
    edix_sock_destroy(&zap);
    edix_signkey_destroy((edix_signkey_t **)&r.key);
    free(err);
    return rc;
}
