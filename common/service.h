/*
 * service.h - the skeleton every edix service runs in, in the manner of
 * Postfix's single_server_main: parse --home/--help, load the config, open
 * the store and the ZeroMQ context, install signal flags, call the
 * service's loop, and tear down in reverse order.
 */
#ifndef EDIX_SERVICE_H
#define EDIX_SERVICE_H

#include "config.h"
#include "crypto.h"
#include "net.h"
#include "notice.h"
#include "store.h"

#include <signal.h>

typedef struct {
    const char *name;    /* intake, validator, router */
    edix_config_t *cfg;  /* the hub's configuration */
    edix_store_t *store; /* the store, open */
    edix_net_t *net;     /* the ZeroMQ context */
    const char *actor;   /* for audit records: "edix-<name>" */
} edix_service_t;

/* Set by SIGTERM and SIGINT; loops test it. */
extern volatile sig_atomic_t edix_service_stop;

/* run returns the exit code. */
int edix_service_main(int argc, char **argv, const char *name, const char *summary,
                      int (*run)(edix_service_t *svc));

/* The hub's signing key from HOME/keys/hub-sign.pem. */
struct edix_signkey *edix_service_signkey(edix_service_t *svc, char **err);

/* The ZAP decision of the partner-facing services: admit the current (or
 * overlapping) key of an active partner; arg is the edix_service_t.
 * Refusals are logged and audited (connection.refused). */
int edix_service_zap_decide(void *arg, const char *client_public_z85, char **user_id);
/* Is the connection a message came on still admitted?  The key it proved
 * must still belong to the active partner it was admitted as: a partner
 * suspended, or a key retired (rekey, end of overlap), since the handshake
 * is refused on its next message.  1 admitted, 0 not, -1 store error. */
int edix_service_admitted(edix_service_t *svc, const char *partner, const char *key);

/* Inside a transaction: build the notification n (n->notice_id is filled
 * in), sign it, store it as a status message for n->partner and queue its
 * delivery.  Audited as notice.queued. */
int edix_service_notify(edix_service_t *svc, struct edix_signkey *key, edix_notice_t *n,
                        char **err);

/* The same in two steps, so that the building and signing happen before
 * the store's write lock is taken and only the rows are written under it:
 * prepare (anywhere), then store (inside a transaction), then free. */
typedef struct {
    char id[25];
    char *xml;
    size_t len;
    char sha[EDIX_SHA256_HEX];
    char sig[EDIX_SIG_HEX];
    char *partner; /* who gets it */
    char *ref;     /* the message it reports on */
    int delivered;
    int64_t at_ms;
} edix_prepared_notice_t;

int edix_service_notice_prepare(struct edix_signkey *key, edix_notice_t *n,
                                edix_prepared_notice_t *p, char **err);
int edix_service_notice_store(edix_service_t *svc, const edix_prepared_notice_t *p, char **err);
void edix_service_notice_free(edix_prepared_notice_t *p);

#endif
