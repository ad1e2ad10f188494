/*
 * net.h - ZeroMQ sockets for edix, behind one module: the only place that
 * holds a void *socket.  Services and the client library see edix_sock_t,
 * send edix_pmsg_t and receive edix_inmsg_t.
 *
 * Partner-facing server sockets are ROUTERs with CURVE; edix_zap_* is the
 * ZAP handler that must be bound (edix_zap_new) before any of them, in the
 * same edix_net_t, so a CURVE handshake is never admitted without asking
 * the registry: no handler, no service.
 */
#ifndef EDIX_NET_H
#define EDIX_NET_H

#include "proto.h"

#include <stddef.h>

typedef struct edix_net edix_net_t;
typedef struct edix_sock edix_sock_t;

edix_net_t *edix_net_new(char **err);
void edix_net_destroy(edix_net_t **self_p);

/* A partner-facing ROUTER bound at endpoint, CURVE server with the hub's
 * secret key; messages larger than max_size are refused by ZeroMQ itself. */
edix_sock_t *edix_sock_server(edix_net_t *net, const char *endpoint, const char *secret_z85,
                              size_t max_size, char **err);
/* A partner's DEALER connected to endpoint, CURVE client. */
edix_sock_t *edix_sock_client(edix_net_t *net, const char *endpoint, const char *server_public,
                              const char *public_z85, const char *secret_z85, size_t max_size,
                              char **err);
/* Internal pipeline sockets: PUSH or PULL, bound or connected. */
edix_sock_t *edix_sock_push(edix_net_t *net, const char *endpoint, int bind, char **err);
edix_sock_t *edix_sock_pull(edix_net_t *net, const char *endpoint, int bind, char **err);
void edix_sock_destroy(edix_sock_t **self_p);

/* 1 when the server refused our CURVE handshake (key not admitted) */
int edix_sock_refused(edix_sock_t *self);

/* Send msg; with a ROUTER, routing is the peer's routing id.  dontwait: fail
 * with -1 (errno EAGAIN or EHOSTUNREACH) instead of blocking. */
int edix_sock_send(edix_sock_t *self, const edix_slice_t *routing, const edix_pmsg_t *msg,
                   int dontwait);

/* A received multipart message: frames stay valid until destroyed. */
typedef struct edix_inmsg edix_inmsg_t;
/* Receive one message without blocking: 0 got one, 1 nothing waiting, -1 error. */
int edix_sock_recv(edix_sock_t *self, edix_inmsg_t **msg_p);
edix_slice_t edix_inmsg_routing(const edix_inmsg_t *m); /* ROUTER peer id; empty otherwise */
const char *edix_inmsg_user(const edix_inmsg_t *m);     /* ZAP User-Id, or NULL */
/* the CURVE public key (Z85) the handshake proved, from the ZAP handler's
 * metadata; NULL on sockets without ZAP */
#define EDIX_ZAP_KEY_PROPERTY "X-Edix-Key"
const char *edix_inmsg_key(const edix_inmsg_t *m);
const edix_slice_t *edix_inmsg_frames(const edix_inmsg_t *m, size_t *count);
size_t edix_inmsg_bytes(const edix_inmsg_t *m); /* total payload */
void edix_inmsg_destroy(edix_inmsg_t **self_p);

/* Wait until one of socks has input or timeout_ms passes (-1: forever).
 * ready[i] set to 1 for readable sockets.  Returns the count ready, 0 on
 * timeout, -1 on error (EINTR: a signal arrived). */
int edix_poll(edix_sock_t **socks, size_t n, int timeout_ms, int *ready);

/* ---- ZAP -------------------------------------------------------------- */

/* decide: 0 admit with *user_id (malloc'd partner id), 1 refuse */
typedef int(edix_zap_fn)(void *arg, const char *client_public_z85, char **user_id);
edix_sock_t *edix_zap_new(edix_net_t *net, edix_zap_fn *decide, void *arg, char **err);
/* answer every waiting ZAP request */
void edix_zap_serve(edix_sock_t *zap);

#endif
