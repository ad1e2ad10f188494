/*
 * service.c - start-up and shut-down shared by edix-intake, edix-validator
 * and edix-router.  A service that cannot start (no home, bad config, a
 * damaged store, an endpoint in use) says why in one line and exits 1;
 * edix-hub restarts it with backoff.
 */
#include "service.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t edix_service_stop;

static void
s_on_signal(int sig)
{
    (void)sig;
    edix_service_stop = 1;
}

struct edix_signkey *
edix_service_signkey(edix_service_t *svc, char **err)
{
    char *path = xasprintf("%s/keys/hub-sign.pem", svc->cfg->home);
    edix_signkey_t *key = edix_signkey_load(path, err);
    free(path);
    return key;
}

int
edix_service_main(int argc, char **argv, const char *name, const char *summary,
                  int (*run)(edix_service_t *svc))
{
    const char *home_opt = NULL;
    char *err = NULL, *home = NULL, actor[32];
    int rc = 1;
    edix_service_t svc = {.name = name};
    snprintf(actor, sizeof actor, "edix-%s", name);
    svc.actor = actor;
    edix_log_init(name, EDIX_LOG_INFO);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: edix-%s [--home DIR]\n\n%s\n\n"
                   "--home DIR   the hub's home (default $EDIX_HOME)\n"
                   "Runs in the foreground and logs to stderr; stops cleanly on SIGTERM.\n"
                   "Logs from EDIX_LOG_LEVEL up: debug, info (the default), warn or error.\n",
                   name, summary);
            return 0;
        }
        if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
            home_opt = argv[++i];
        } else if (strcmp(argv[i], "--foreground") == 0) {
            /* services always run in the foreground; accepted for symmetry */
        } else {
            fprintf(stderr, "edix-%s: unknown argument %s (see --help)\n", name, argv[i]);
            return 1;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!(home = edix_home_resolve(home_opt, &err)) || !(svc.cfg = edix_config_load(home, &err)) ||
        !(svc.store = edix_store_open(svc.cfg->store_path, 0, &err)) ||
        edix_store_checkpoint_in_background(svc.store, &err) < 0 ||
        !(svc.net = edix_net_new(&err))) {
        edix_log_fatal("start-failed", err);
        goto out;
    }
    edix_info(NULL, "event=start home=%s", home);
    rc = run(&svc);
    edix_info(NULL, "event=stop status=%d", rc);
out:
    /* sockets are closed by run; the context last */
    edix_net_destroy(&svc.net);
    edix_store_close(&svc.store);
    edix_config_destroy(&svc.cfg);
    free(home);
    free(err);
    return rc;
}

/* Refused handshakes are audited, at most once a minute per key, so a
 * client retrying in a loop cannot flood the audit chain. */
static int
s_zap_should_audit(const char *key)
{
    static struct {
        char key[41];
        int64_t at;
    } seen[64];
    int64_t now = edix_mono_ms();
    size_t oldest = 0;
    for (size_t i = 0; i < 64; i++) {
        if (strcmp(seen[i].key, key) == 0) {
            if (now - seen[i].at < 60000)
                return 0;
            seen[i].at = now;
            return 1;
        }
        if (seen[i].at < seen[oldest].at)
            oldest = i;
    }
    snprintf(seen[oldest].key, sizeof seen[oldest].key, "%s", key);
    seen[oldest].at = now;
    return 1;
}

int
edix_service_zap_decide(void *arg, const char *client_public_z85, char **user_id)
{
    edix_service_t *svc = arg;
    char *err = NULL;
    int rc = edix_store_partner_by_key(svc->store, client_public_z85, user_id, &err);
    if (rc < 0) {
        /* fail closed: a registry we cannot read admits nobody */
        edix_warn(NULL, "event=zap-error reason=\"%s\"", err);
        free(err);
        return 1;
    }
    if (rc == 0)
        return 0;
    edix_info(NULL, "event=refused-key key=%s", client_public_z85);
    if (!s_zap_should_audit(client_public_z85))
        return 1;
    char details[160];
    snprintf(details, sizeof details, "service=%s key=%s reason=unknown, retired or suspended",
             svc->name, client_public_z85);
    if (edix_store_begin(svc->store, &err) == 0) {
        if (edix_audit_append(svc->store, svc->actor, "connection.refused", NULL, details, &err) <
                0 ||
            edix_store_commit(svc->store, &err) < 0)
            edix_store_rollback(svc->store);
    }
    if (err)
        edix_warn(NULL, "event=audit-failed reason=\"%s\"", err);
    free(err);
    return 1;
}

int
edix_service_notice_prepare(struct edix_signkey *key, edix_notice_t *n, edix_prepared_notice_t *p,
                            char **err)
{
    memset(p, 0, sizeof *p);
    edix_message_id(p->id);
    n->notice_id = p->id;
    if (!n->at_ms)
        n->at_ms = edix_now_ms();
    p->xml = edix_notice_build(n);
    n->notice_id = NULL;
    p->len = strlen(p->xml);
    if (edix_signkey_sign(key, p->xml, p->len, p->sig, err) < 0) {
        edix_service_notice_free(p);
        return -1;
    }
    edix_sha256_hex(p->xml, p->len, p->sha);
    p->partner = xstrdup(n->partner);
    p->ref = xstrdup(n->ref_id);
    p->delivered = n->delivered;
    p->at_ms = n->at_ms;
    return 0;
}

int
edix_service_notice_store(edix_service_t *svc, const edix_prepared_notice_t *p, char **err)
{
    edix_msg_t m = {
        .id = (char *)p->id,
        .sender = "hub",
        .receiver = p->partner,
        .kind = "status",
        .ref = p->ref,
        .doctype = "ApplicationResponse",
        .state = "routed",
        .size = (int64_t)p->len,
        .sha256 = (char *)p->sha,
        .received_ms = p->at_ms,
        .signature = (char *)p->sig,
    };
    char details[256];
    snprintf(details, sizeof details, "ref=%s to=%s outcome=%s", p->ref, p->partner,
             p->delivered ? "delivered" : "rejected");
    if (edix_store_msg_insert(svc->store, &m, p->xml, p->len, err) < 0 ||
        edix_store_delivery_add(svc->store, p->id, p->partner, err) < 0 ||
        edix_audit_append(svc->store, svc->actor, "notice.queued", p->id, details, err) < 0)
        return -1;
    return 0;
}

void
edix_service_notice_free(edix_prepared_notice_t *p)
{
    free(p->xml);
    free(p->partner);
    free(p->ref);
    memset(p, 0, sizeof *p);
}

int
edix_service_notify(edix_service_t *svc, struct edix_signkey *key, edix_notice_t *n, char **err)
{
    edix_prepared_notice_t p;
    if (edix_service_notice_prepare(key, n, &p, err) < 0)
        return -1;
    int rc = edix_service_notice_store(svc, &p, err);
    edix_service_notice_free(&p);
    return rc;
}

int
edix_service_admitted(edix_service_t *svc, const char *partner, const char *key)
{
    char *id = NULL;
    if (!partner || !key)
        return 0;
    int rc = edix_store_partner_by_key(svc->store, key, &id, NULL);
    int ok = rc == 0 && strcmp(id, partner) == 0;
    free(id);
    return rc < 0 ? -1 : ok;
}
