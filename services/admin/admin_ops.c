/*
 * admin_ops.c - "edix-admin purge" (retention) and "edix-admin config
 * sample".
 *
 * purge deletes the bodies of documents that reached a final state
 * (delivered, rejected) before the cutoff, in one transaction with one
 * audit record saying how many and up to when.  The message records keep
 * their size and SHA-256 and the audit chain holds hashes, never bodies, so
 * "audit verify" still passes and a kept receipt still proves what the hub
 * received.  SQLite reuses the freed pages for new documents.
 *
 * config sample prints the commented edix.conf that init writes, from the
 * same function, with this installation's paths: deploy/edix.conf.sample
 * and the edix.conf(5) page are made from it.
 */
#include "admin.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
admin_purge(admin_opts_t *o)
{
    char *err = NULL;
    edix_config_t *cfg;
    edix_store_t *store;
    int64_t older_ms = 0;
    if (o->nargs)
        return admin_error("purge takes no arguments (see edix-admin --help)");
    if (o->older_than && (older_ms = admin_duration_ms(o->older_than)) < 0)
        return admin_error("--older-than %s: expected a duration such as 90d, 12h or 30m",
                           o->older_than);
    if (admin_open(o, &cfg, &store))
        return 1;
    int rc = 1;
    char dur[32];
    if (o->older_than) {
        snprintf(dur, sizeof dur, "%s", o->older_than);
    } else if (cfg->retention_days > 0) {
        older_ms = (int64_t)cfg->retention_days * 86400000;
        snprintf(dur, sizeof dur, "%dd", cfg->retention_days);
    } else {
        printf("retention_days is 0 in %s/edix.conf: every body is kept; nothing purged (give "
               "--older-than DURATION to purge anyway)\n",
               cfg->home);
        rc = 0;
        goto out;
    }
    int64_t cutoff = edix_now_ms() - older_ms, count = 0, bytes = 0;
    char at[40];
    edix_time_format(cutoff, at, sizeof at);
    if (o->dry_run) {
        /* a read: no transaction, nothing changes */
        if (edix_store_purge_bodies(store, cutoff, 1, &count, &bytes, &err) < 0)
            goto fail;
        printf("would purge %lld document bodies (%lld bytes) of messages finished before %s\n",
               (long long)count, (long long)bytes, at);
        rc = 0;
        goto out;
    }
    if (edix_store_begin(store, &err) < 0)
        goto fail;
    if (edix_store_purge_bodies(store, cutoff, 0, &count, &bytes, &err) < 0)
        goto rollback;
    char *details = xasprintf("cutoff=%s older_than=%s bodies=%lld bytes=%lld", at, dur,
                              (long long)count, (long long)bytes);
    int arc = edix_audit_append(store, edix_os_user(), "store.purge", NULL, details, &err);
    free(details);
    if (arc < 0 || edix_store_commit(store, &err) < 0)
        goto rollback;
    printf("purged %lld document bodies (%lld bytes) of messages finished before %s\n",
           (long long)count, (long long)bytes, at);
    rc = 0;
    goto out;
rollback:
    edix_store_rollback(store);
fail:
    admin_error("%s", err);
out:
    free(err);
    edix_store_close(&store);
    edix_config_destroy(&cfg);
    return rc;
}

int
admin_config(admin_opts_t *o, const char *verb)
{
    if (strcmp(verb, "sample") != 0)
        return admin_error("unknown command 'config %s' (sample)", verb);
    if (o->nargs)
        return admin_error("config sample takes no arguments");
    char *text = edix_config_template("tcp://127.0.0.1:7701", "tcp://127.0.0.1:7702",
                                      EDIX_DATADIR_INSTALL "/ubl-2.1/xsdrt",
                                      EDIX_DATADIR_INSTALL "/doctypes.conf");
    fputs(text, stdout);
    free(text);
    return 0;
}
