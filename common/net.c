/*
 * net.c - the ZeroMQ layer: sockets, multipart send and receive, poll, the
 * ZAP handler and, for partner clients, a monitor that turns a refused
 * CURVE handshake into a clear "not admitted" instead of a silent hang.
 */
#include "net.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define NET_MAX_FRAMES  (EDIX_PROTO_MAX_WORK + 2)
#define NET_HEARTBEAT   2000 /* ms between heartbeats on partner links */
#define NET_ZAP_ENFORCE 93   /* ZMQ_ZAP_ENFORCE_DOMAIN (draft API): fail closed */

struct edix_net {
    void *ctx; /* the ZeroMQ context: ZAP works only within one */
};

struct edix_sock {
    void *zs;         /* the ZeroMQ socket */
    int type;         /* ZMQ_ROUTER, ZMQ_DEALER, ZMQ_PUSH, ZMQ_PULL, ZMQ_REP */
    void *monitor;    /* PAIR receiving handshake events (clients), or NULL */
    int refused;      /* the server refused our handshake (ZAP said no) */
    edix_zap_fn *zap; /* ZAP decision, for the ZAP socket */
    void *zap_arg;
};

#define NET_INLINE_FRAMES 8 /* most messages have fewer frames: no second allocation */

struct edix_inmsg {
    zmq_msg_t *parts; /* the frames as received (inline, or grown for WORK) */
    size_t nparts;
    size_t size;          /* parts allocated */
    edix_slice_t *frames; /* payload frames (routing id skipped) */
    size_t nframes;
    int too_many; /* more than NET_MAX_FRAMES: the rest were dropped */
    zmq_msg_t inline_parts[NET_INLINE_FRAMES];
    edix_slice_t inline_frames[NET_INLINE_FRAMES];
    edix_slice_t routing; /* ROUTER: the peer */
    char *user;           /* ZAP User-Id */
    size_t bytes;
};

edix_net_t *
edix_net_new(char **err)
{
    void *ctx = zmq_ctx_new();
    if (!ctx) {
        edix_fail(err, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        return NULL;
    }
    edix_net_t *self = xcalloc(1, sizeof *self);
    self->ctx = ctx;
    return self;
}

void
edix_net_destroy(edix_net_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zmq_ctx_term((*self_p)->ctx);
    free(*self_p);
    *self_p = NULL;
}

static edix_sock_t *
s_new(edix_net_t *net, int type, char **err)
{
    void *zs = zmq_socket(net->ctx, type);
    if (!zs) {
        edix_fail(err, "cannot create a socket: %s", zmq_strerror(errno));
        return NULL;
    }
    int zero = 0;
    zmq_setsockopt(zs, ZMQ_LINGER, &zero, sizeof zero);
    edix_sock_t *self = xcalloc(1, sizeof *self);
    self->zs = zs;
    self->type = type;
    return self;
}

static int
s_opt_int(edix_sock_t *s, int opt, int value, char **err, const char *what)
{
    if (zmq_setsockopt(s->zs, opt, &value, sizeof value) < 0)
        return edix_fail(err, "cannot set %s: %s", what, zmq_strerror(errno));
    return 0;
}

static int
s_heartbeat(edix_sock_t *s, char **err)
{
    if (s_opt_int(s, ZMQ_HEARTBEAT_IVL, NET_HEARTBEAT, err, "heartbeat") < 0 ||
        s_opt_int(s, ZMQ_HEARTBEAT_TIMEOUT, NET_HEARTBEAT * 3, err, "heartbeat") < 0 ||
        s_opt_int(s, ZMQ_HEARTBEAT_TTL, NET_HEARTBEAT * 3, err, "heartbeat") < 0)
        return -1;
    return 0;
}

edix_sock_t *
edix_sock_server(edix_net_t *net, const char *endpoint, const char *secret_z85, size_t max_size,
                 char **err)
{
    edix_sock_t *s = s_new(net, ZMQ_ROUTER, err);
    if (!s)
        return NULL;
    int one = 1;
    /* room for the frames around the document; the intake enforces the
     * exact cap itself and answers 413 */
    int64_t maxmsg = (int64_t)max_size + 4096;
    /* the enforce option exists only in draft builds; where it is missing,
     * binding the handler before the server socket keeps us closed */
    zmq_setsockopt(s->zs, NET_ZAP_ENFORCE, &one, sizeof one);
    if (s_opt_int(s, ZMQ_CURVE_SERVER, 1, err, "CURVE server") < 0 ||
        zmq_setsockopt(s->zs, ZMQ_CURVE_SECRETKEY, secret_z85, 41) < 0 ||
        zmq_setsockopt(s->zs, ZMQ_ZAP_DOMAIN, "edix", 4) < 0 ||
        s_opt_int(s, ZMQ_ROUTER_MANDATORY, 1, err, "router mandatory") < 0 ||
        zmq_setsockopt(s->zs, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0 ||
        s_opt_int(s, ZMQ_SNDHWM, 100000, err, "send high-water mark") < 0 ||
        s_opt_int(s, ZMQ_RCVHWM, 100000, err, "receive high-water mark") < 0 ||
        s_heartbeat(s, err) < 0) {
        if (err && !*err)
            edix_fail(err, "cannot set up the CURVE server: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_bind(s->zs, endpoint) < 0) {
        edix_fail(err, "cannot bind %s: %s", endpoint, zmq_strerror(errno));
        goto fail;
    }
    return s;
fail:
    edix_sock_destroy(&s);
    return NULL;
}

edix_sock_t *
edix_sock_client(edix_net_t *net, const char *endpoint, const char *server_public,
                 const char *public_z85, const char *secret_z85, size_t max_size, char **err)
{
    edix_sock_t *s = s_new(net, ZMQ_DEALER, err);
    if (!s)
        return NULL;
    char monitor_ep[64];
    snprintf(monitor_ep, sizeof monitor_ep, "inproc://edix-monitor-%p", (void *)s);
    int64_t maxmsg = (int64_t)max_size + 4096;
    if (zmq_setsockopt(s->zs, ZMQ_CURVE_SERVERKEY, server_public, 41) < 0 ||
        zmq_setsockopt(s->zs, ZMQ_CURVE_PUBLICKEY, public_z85, 41) < 0 ||
        zmq_setsockopt(s->zs, ZMQ_CURVE_SECRETKEY, secret_z85, 41) < 0 ||
        zmq_setsockopt(s->zs, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0 ||
        s_opt_int(s, ZMQ_SNDHWM, 100000, err, "send high-water mark") < 0 ||
        s_opt_int(s, ZMQ_RCVHWM, 100000, err, "receive high-water mark") < 0 ||
        s_heartbeat(s, err) < 0) {
        if (err && !*err)
            edix_fail(err, "cannot set up the CURVE client: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_socket_monitor(s->zs, monitor_ep,
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) < 0 ||
        !(s->monitor = zmq_socket(net->ctx, ZMQ_PAIR)) || zmq_connect(s->monitor, monitor_ep) < 0) {
        edix_fail(err, "cannot monitor the connection: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_connect(s->zs, endpoint) < 0) {
        edix_fail(err, "cannot connect to %s: %s", endpoint, zmq_strerror(errno));
        goto fail;
    }
    return s;
fail:
    edix_sock_destroy(&s);
    return NULL;
}

static edix_sock_t *
s_pipe(edix_net_t *net, int type, const char *endpoint, int bind, char **err)
{
    edix_sock_t *s = s_new(net, type, err);
    if (!s)
        return NULL;
    /* work notices are hints: never block on them, drop when full */
    s_opt_int(s, ZMQ_SNDHWM, 10000, NULL, "");
    int rc = bind ? zmq_bind(s->zs, endpoint) : zmq_connect(s->zs, endpoint);
    if (rc < 0) {
        edix_fail(err, "cannot %s %s: %s", bind ? "bind" : "connect to", endpoint,
                  zmq_strerror(errno));
        edix_sock_destroy(&s);
    }
    return s;
}

edix_sock_t *
edix_sock_push(edix_net_t *net, const char *endpoint, int bind, char **err)
{
    return s_pipe(net, ZMQ_PUSH, endpoint, bind, err);
}

edix_sock_t *
edix_sock_pull(edix_net_t *net, const char *endpoint, int bind, char **err)
{
    return s_pipe(net, ZMQ_PULL, endpoint, bind, err);
}

void
edix_sock_destroy(edix_sock_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    edix_sock_t *self = *self_p;
    if (self->monitor) {
        zmq_socket_monitor(self->zs, NULL, 0);
        zmq_close(self->monitor);
    }
    zmq_close(self->zs);
    free(self);
    *self_p = NULL;
}

int
edix_sock_send(edix_sock_t *self, const edix_slice_t *routing, const edix_pmsg_t *msg, int dontwait)
{
    edix_frameset_t fs = {0};
    edix_proto_encode(msg, &fs);
    int flags = dontwait ? ZMQ_DONTWAIT : 0;
    int rc = 0;
    if (routing && zmq_send(self->zs, routing->data, routing->len, flags | ZMQ_SNDMORE) < 0)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < fs.count; i++) {
        int more = i + 1 < fs.count ? ZMQ_SNDMORE : 0;
        if (zmq_send(self->zs, fs.frames[i].data, fs.frames[i].len, flags | more) < 0)
            rc = -1;
    }
    int saved = errno;
    edix_frameset_free(&fs);
    errno = saved;
    return rc;
}

int
edix_sock_recv(edix_sock_t *self, edix_inmsg_t **msg_p)
{
    *msg_p = NULL;
    edix_inmsg_t *m = xmalloc(sizeof *m);
    m->parts = m->inline_parts;
    m->frames = m->inline_frames;
    m->size = NET_INLINE_FRAMES;
    m->nparts = m->nframes = m->bytes = 0;
    m->too_many = 0;
    m->user = NULL;
    m->routing = (edix_slice_t){NULL, 0};
    int more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, self->zs, m->nparts == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int saved = errno;
            zmq_msg_close(&part);
            edix_inmsg_destroy(&m);
            if (saved == EAGAIN)
                return 1;
            errno = saved;
            return -1;
        }
        more = zmq_msg_more(&part);
        if (m->nparts == NET_MAX_FRAMES) {
            /* a peer sending more frames than any command has: drop the
             * rest, and let the decoder refuse the message */
            zmq_msg_close(&part);
            m->too_many = 1;
            continue;
        }
        if (m->nparts == m->size) {
            size_t size = m->size * 4 > NET_MAX_FRAMES ? NET_MAX_FRAMES : m->size * 4;
            zmq_msg_t *parts = xmalloc(size * sizeof *parts);
            /* zmq_msg_t may be moved with zmq_msg_move only */
            for (size_t i = 0; i < m->nparts; i++) {
                zmq_msg_init(&parts[i]);
                zmq_msg_move(&parts[i], &m->parts[i]);
            }
            if (m->parts != m->inline_parts)
                free(m->parts);
            m->parts = parts;
            m->size = size;
        }
        zmq_msg_init(&m->parts[m->nparts]);
        zmq_msg_move(&m->parts[m->nparts], &part);
        zmq_msg_close(&part);
        m->nparts++;
    }
    if (m->nparts > NET_INLINE_FRAMES)
        m->frames = xmalloc(m->nparts * sizeof *m->frames);
    size_t first = 0;
    if (self->type == ZMQ_ROUTER) {
        m->routing.data = zmq_msg_data(&m->parts[0]);
        m->routing.len = zmq_msg_size(&m->parts[0]);
        first = 1;
    }
    for (size_t i = first; i < m->nparts; i++) {
        m->frames[m->nframes].data = zmq_msg_data(&m->parts[i]);
        m->frames[m->nframes].len = zmq_msg_size(&m->parts[i]);
        m->bytes += zmq_msg_size(&m->parts[i]);
        m->nframes++;
    }
    /* an over-long message is handed on with no frames: the decoder
     * refuses it ("empty message") and the sender gets ERROR 400 */
    if (m->too_many)
        m->nframes = 0;
    const char *user = zmq_msg_gets(&m->parts[m->nparts - 1], "User-Id");
    if (user)
        m->user = xstrdup(user);
    *msg_p = m;
    return 0;
}

edix_slice_t
edix_inmsg_routing(const edix_inmsg_t *m)
{
    return m->routing;
}

const char *
edix_inmsg_key(const edix_inmsg_t *m)
{
    if (!m->nparts)
        return NULL;
    return zmq_msg_gets((zmq_msg_t *)&m->parts[m->nparts - 1], EDIX_ZAP_KEY_PROPERTY);
}

const char *
edix_inmsg_user(const edix_inmsg_t *m)
{
    return m->user;
}

const edix_slice_t *
edix_inmsg_frames(const edix_inmsg_t *m, size_t *count)
{
    *count = m->nframes;
    return m->frames;
}

size_t
edix_inmsg_bytes(const edix_inmsg_t *m)
{
    return m->bytes;
}

void
edix_inmsg_destroy(edix_inmsg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    edix_inmsg_t *m = *self_p;
    for (size_t i = 0; i < m->nparts; i++)
        zmq_msg_close(&m->parts[i]);
    if (m->parts != m->inline_parts)
        free(m->parts);
    if (m->frames != m->inline_frames)
        free(m->frames);
    free(m->user);
    free(m);
    *self_p = NULL;
}

/* read handshake events; remember a refusal */
static void
s_drain_monitor(edix_sock_t *s)
{
    for (;;) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, s->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        if (zmq_msg_size(&ev) >= 6) {
            uint16_t event;
            memcpy(&event, zmq_msg_data(&ev), 2);
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
                s->refused = 1;
            else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                s->refused = 0;
        }
        int more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        if (more) {
            /* second frame: the endpoint */
            zmq_msg_init(&ev);
            zmq_msg_recv(&ev, s->monitor, 0);
            zmq_msg_close(&ev);
        }
    }
}

int
edix_sock_refused(edix_sock_t *self)
{
    if (self->monitor)
        s_drain_monitor(self);
    return self->refused;
}

int
edix_poll(edix_sock_t **socks, size_t n, int timeout_ms, int *ready)
{
    zmq_pollitem_t items[16];
    size_t map[16], count = 0;
    if (n > 8)
        n = 8;
    for (size_t i = 0; i < n; i++) {
        ready[i] = 0;
        items[count] = (zmq_pollitem_t){.socket = socks[i]->zs, .events = ZMQ_POLLIN};
        map[count++] = i;
        if (socks[i]->monitor) {
            items[count] = (zmq_pollitem_t){.socket = socks[i]->monitor, .events = ZMQ_POLLIN};
            map[count++] = i;
        }
    }
    int rc = zmq_poll(items, (int)count, timeout_ms);
    if (rc <= 0)
        return rc;
    int nready = 0;
    for (size_t j = 0; j < count; j++) {
        if (!(items[j].revents & ZMQ_POLLIN))
            continue;
        if (items[j].socket == socks[map[j]]->monitor)
            s_drain_monitor(socks[map[j]]);
        if (!ready[map[j]])
            nready++;
        ready[map[j]] = 1;
    }
    return nready;
}

/* ---- ZAP ---------------------------------------------------------------- */

edix_sock_t *
edix_zap_new(edix_net_t *net, edix_zap_fn *decide, void *arg, char **err)
{
    edix_sock_t *s = s_new(net, ZMQ_REP, err);
    if (!s)
        return NULL;
    if (zmq_bind(s->zs, "inproc://zeromq.zap.01") < 0) {
        edix_fail(err, "cannot start the ZAP handler: %s", zmq_strerror(errno));
        edix_sock_destroy(&s);
        return NULL;
    }
    s->zap = decide;
    s->zap_arg = arg;
    return s;
}

void
edix_zap_serve(edix_sock_t *zap)
{
    for (;;) {
        edix_inmsg_t *req;
        if (edix_sock_recv(zap, &req) != 0)
            return;
        /* version, request id, domain, address, identity, mechanism, credentials... */
        const edix_slice_t *f = req->frames;
        const char *status = "400", *text = "not admitted";
        char *user = NULL;
        char z85[41] = "";
        /* metadata: the proven key, so services can check on every
         * message that it is still admitted (suspension, rekey overlap);
         * ZMTP property form: name length (1 byte), name, value length
         * (4 bytes, network order), value */
        unsigned char meta[1 + sizeof EDIX_ZAP_KEY_PROPERTY - 1 + 4 + 40];
        size_t meta_len = 0;
        if (req->nframes >= 7 && edix_slice_eq(f[0], "1.0") && edix_slice_eq(f[5], "CURVE") &&
            f[6].len == 32) {
            if (zmq_z85_encode(z85, (const uint8_t *)f[6].data, 32) &&
                zap->zap(zap->zap_arg, z85, &user) == 0) {
                status = "200";
                text = "OK";
                size_t nl = sizeof EDIX_ZAP_KEY_PROPERTY - 1;
                meta[0] = (unsigned char)nl;
                memcpy(meta + 1, EDIX_ZAP_KEY_PROPERTY, nl);
                meta[1 + nl] = meta[2 + nl] = meta[3 + nl] = 0;
                meta[4 + nl] = 40;
                memcpy(meta + 5 + nl, z85, 40);
                meta_len = 5 + nl + 40;
            }
        }
        edix_slice_t reqid = req->nframes >= 2 ? f[1] : (edix_slice_t){"", 0};
        int ok = zmq_send(zap->zs, "1.0", 3, ZMQ_SNDMORE) >= 0 &&
                 zmq_send(zap->zs, reqid.data, reqid.len, ZMQ_SNDMORE) >= 0 &&
                 zmq_send(zap->zs, status, 3, ZMQ_SNDMORE) >= 0 &&
                 zmq_send(zap->zs, text, strlen(text), ZMQ_SNDMORE) >= 0 &&
                 zmq_send(zap->zs, user ? user : "", user ? strlen(user) : 0, ZMQ_SNDMORE) >= 0 &&
                 zmq_send(zap->zs, meta, meta_len, 0) >= 0;
        (void)ok;
        free(user);
        edix_inmsg_destroy(&req);
    }
}
