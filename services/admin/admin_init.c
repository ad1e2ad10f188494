/*
 * admin_init.c - "edix-admin init": create a hub home.
 *
 * The home holds edix.conf, the store edix.db (0600), keys/ (0700) with the
 * hub's CURVE key pair and Ed25519 signing key (0600 each) and run/ (0700)
 * for the internal ipc sockets.  init never replaces an existing home; if it
 * fails half-way it removes what it created.
 */
#include "admin.h"
#include "crypto.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The OASIS schemas: --schemas, $EDIX_SCHEMA_DIR, an installed copy fetched
 * by edix-fetch-ubl-schemas (deploy/fetch-ubl-schemas), or the shared test
 * corpus beside a source tree (development and CI). */
static char *
s_find_schemas(const char *opt, char **err)
{
    const char *candidates[4] = {opt, getenv("EDIX_SCHEMA_DIR"), NULL, NULL};
    char *installed = xasprintf("%s/ubl-2.1/xsdrt", edix_datadir());
    char *corpus = xasprintf("%s/../../shared/corpus/oasis-ubl-2.1/xsdrt", edix_datadir());
    candidates[2] = installed;
    candidates[3] = corpus;
    char *found = NULL;
    for (int i = 0; i < 4 && !found; i++) {
        if (!candidates[i] || !*candidates[i])
            continue;
        char *probe = xasprintf("%s/maindoc/UBL-Invoice-2.1.xsd", candidates[i]);
        if (access(probe, R_OK) == 0)
            found = realpath(candidates[i], NULL);
        else if (i == 0)
            edix_fail(err, "--schemas %s: no maindoc/UBL-Invoice-2.1.xsd there", opt);
        free(probe);
        if (i == 0 && !found)
            break;
    }
    if (!found && !(opt && *opt))
        edix_fail(err, "no UBL 2.1 schemas found: run edix-fetch-ubl-schemas (deploy/ in "
                       "the source) or give --schemas DIR");
    free(installed);
    free(corpus);
    return found;
}

static int
s_endpoint_ok(const char *ep)
{
    return strncmp(ep, "tcp://", 6) == 0 || strncmp(ep, "ipc://", 6) == 0;
}

int
admin_init(admin_opts_t *o)
{
    int rc = 1;
    char *err = NULL, *schemas = NULL, *conf = NULL, *text = NULL;
    char *keys = NULL, *run = NULL, *curve = NULL, *sign = NULL, *signpub = NULL, *db = NULL;
    int made_home = 0;
    edix_signkey_t *key = NULL;
    edix_store_t *store = NULL;
    const char *intake = o->intake ? o->intake : "tcp://127.0.0.1:7701";
    const char *delivery = o->delivery ? o->delivery : "tcp://127.0.0.1:7702";

    if (o->nargs > 0)
        return admin_error("init takes no arguments, got '%s'", o->args[0]);
    char *home = edix_home_resolve(o->home_opt, &err);
    if (!home)
        goto out;
    if (!s_endpoint_ok(intake) || !s_endpoint_ok(delivery)) {
        edix_fail(&err, "endpoints must be tcp://HOST:PORT or ipc://PATH");
        goto out;
    }
    if (!(schemas = s_find_schemas(o->schemas, &err)))
        goto out;
    conf = xasprintf("%s/edix.conf", home);
    db = xasprintf("%s/edix.db", home);
    keys = xasprintf("%s/keys", home);
    run = xasprintf("%s/run", home);
    if (edix_file_exists(conf) || edix_file_exists(db) || edix_file_exists(keys)) {
        edix_fail(&err, "%s is an edix home already; not touching it", home);
        goto out;
    }
    made_home = !edix_file_exists(home);
    if (edix_mkdir(home, 0700, &err) < 0 || edix_mkdir(keys, 0700, &err) < 0 ||
        edix_mkdir(run, 0700, &err) < 0)
        goto undo;

    char pub[EDIX_Z85_KEY], sec[EDIX_Z85_KEY];
    if (edix_curve_keypair(pub, sec, &err) < 0)
        goto undo;
    curve = xasprintf("%s/hub.curve", keys);
    text =
        xasprintf("# the hub's CURVE key pair: keep secret\npublic = %s\nsecret = %s\n", pub, sec);
    explicit_bzero(sec, sizeof sec);
    if (edix_file_write(curve, text, strlen(text), 0600, 1, &err) < 0)
        goto undo;
    explicit_bzero(text, strlen(text));

    sign = xasprintf("%s/hub-sign.pem", keys);
    signpub = xasprintf("%s/hub-sign.pub", keys);
    if (!(key = edix_signkey_generate(&err)) || edix_signkey_save(key, sign, &err) < 0)
        goto undo;
    char pubhex[EDIX_SIGN_PUB_HEX];
    edix_signkey_public_hex(key, pubhex);
    free(text);
    text = xasprintf("%s\n", pubhex);
    if (edix_file_write(signpub, text, strlen(text), 0644, 1, &err) < 0)
        goto undo;

    free(text);
    char *catalogue = xasprintf("%s/doctypes.conf", edix_datadir());
    text = edix_config_template(intake, delivery, schemas, catalogue);
    free(catalogue);
    if (edix_file_write(conf, text, strlen(text), 0644, 1, &err) < 0)
        goto undo;

    if (!(store = edix_store_open(db, 1, &err)) || edix_store_begin(store, &err) < 0)
        goto undo;
    char *details = xasprintf("intake=%s delivery=%s curve_public=%s sign_public=%s", intake,
                              delivery, pub, pubhex);
    int arc = edix_audit_append(store, edix_os_user(), "hub.init", NULL, details, &err);
    free(details);
    if (arc < 0 || edix_store_commit(store, &err) < 0)
        goto undo;
    printf("created edix home %s\n", home);
    printf("  intake    %s\n  delivery  %s\n  schemas   %s\n", intake, delivery, schemas);
    printf("  hub CURVE public key  %s\n  hub signing key       %s\n", pub, pubhex);
    rc = 0;
    goto out;
undo:
    edix_store_close(&store);
    /* remove only what this run created; the paths are ours */
    if (db) {
        char *wal = xasprintf("%s-wal", db), *shm = xasprintf("%s-shm", db);
        unlink(wal);
        unlink(shm);
        free(wal);
        free(shm);
        unlink(db);
    }
    if (conf && !edix_file_exists(db))
        unlink(conf);
    if (curve)
        unlink(curve);
    if (sign)
        unlink(sign);
    if (signpub)
        unlink(signpub);
    if (keys)
        rmdir(keys);
    if (run)
        rmdir(run);
    if (made_home)
        rmdir(home);
out:
    if (rc != 0)
        admin_error("%s", err ? err : "init failed");
    edix_store_close(&store);
    edix_signkey_destroy(&key);
    if (text)
        explicit_bzero(text, strlen(text));
    free(text);
    free(err);
    free(home);
    free(schemas);
    free(conf);
    free(db);
    free(keys);
    free(run);
    free(curve);
    free(sign);
    free(signpub);
    return rc;
}
