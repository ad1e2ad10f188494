/*
 * config.c - key = value files: the hub's edix.conf and partner bundles.
 */
#include "config.h"
#include "crypto.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct edix_kv {
    char **keys; /* parallel arrays, in file order */
    char **values;
    size_t count;
};

void
edix_kv_destroy(edix_kv_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    edix_kv_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free(self->keys[i]);
        free(self->values[i]);
    }
    free(self->keys);
    free(self->values);
    free(self);
    *self_p = NULL;
}

edix_kv_t *
edix_kv_parse(const char *text, const char *name, char **err)
{
    edix_kv_t *self = xcalloc(1, sizeof *self);
    char *copy = xstrdup(text), *next = copy;
    int lineno = 0;
    /* not strtok_r: it skips empty lines, and error messages need the real line number */
    while (next) {
        char *line = next, *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        char *s = edix_trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            edix_fail(err, "%s: line %d: expected 'key = value', got '%.60s'", name, lineno, s);
            goto fail;
        }
        *eq = '\0';
        char *key = edix_trim(s), *value = edix_trim(eq + 1);
        if (!*key) {
            edix_fail(err, "%s: line %d: empty key", name, lineno);
            goto fail;
        }
        if (edix_kv_get(self, key)) {
            edix_fail(err, "%s: line %d: '%s' given twice", name, lineno, key);
            goto fail;
        }
        self->keys = xrealloc(self->keys, (self->count + 1) * sizeof *self->keys);
        self->values = xrealloc(self->values, (self->count + 1) * sizeof *self->values);
        self->keys[self->count] = xstrdup(key);
        self->values[self->count] = xstrdup(value);
        self->count++;
    }
    free(copy);
    return self;
fail:
    free(copy);
    edix_kv_destroy(&self);
    return NULL;
}

edix_kv_t *
edix_kv_load(const char *path, char **err)
{
    char *text;
    size_t len;
    if (edix_file_read(path, 1 << 20, &text, &len, err) < 0)
        return NULL;
    if (memchr(text, '\0', len)) {
        free(text);
        edix_fail(err, "%s is not a text file", path);
        return NULL;
    }
    edix_kv_t *self = edix_kv_parse(text, path, err);
    free(text);
    return self;
}

const char *
edix_kv_get(const edix_kv_t *self, const char *key)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->keys[i], key) == 0)
            return self->values[i];
    return NULL;
}

size_t
edix_kv_count(const edix_kv_t *self)
{
    return self->count;
}

const char *
edix_kv_key(const edix_kv_t *self, size_t i)
{
    return i < self->count ? self->keys[i] : NULL;
}

const char *
edix_datadir(void)
{
    static char dir[PATH_MAX];
    if (dir[0])
        return dir;
    const char *env = getenv("EDIX_DATADIR");
    char probe[PATH_MAX + 32];
    if (env && *env) {
        snprintf(dir, sizeof dir, "%s", env);
        return dir;
    }
    /* an installed binary uses share/edix; a build tree uses its source */
    snprintf(probe, sizeof probe, "%s/doctypes.conf", EDIX_DATADIR_INSTALL);
    if (access(probe, R_OK) == 0)
        snprintf(dir, sizeof dir, "%s", EDIX_DATADIR_INSTALL);
    else
        snprintf(dir, sizeof dir, "%s", EDIX_DATADIR_BUILD);
    return dir;
}

char *
edix_config_template(const char *intake, const char *delivery, const char *schema_dir,
                     const char *catalogue)
{
    return xasprintf("# edix hub configuration.  Lines are 'key = value'; '#' starts a comment.\n"
                     "# Every key is optional: the value shown is the default unless noted.\n"
                     "\n"
                     "# The partner-facing submit endpoint (ZeroMQ, CURVE-encrypted).  Partners\n"
                     "# connect here to send documents and ask for status.\n"
                     "intake_endpoint = %s\n"
                     "\n"
                     "# The partner-facing delivery endpoint (ZeroMQ, CURVE-encrypted).  Partners\n"
                     "# connect here to receive documents and acknowledge them.\n"
                     "delivery_endpoint = %s\n"
                     "\n"
                     "# The endpoints written into partner bundles, as partners reach the hub\n"
                     "# (for example tcp://edix.example.com:7701).  Default: the two above.\n"
                     "# public_intake_endpoint = tcp://edix.example.com:7701\n"
                     "# public_delivery_endpoint = tcp://edix.example.com:7702\n"
                     "\n"
                     "# Internal endpoints between the services.  Default: ipc sockets in\n"
                     "# HOME/run (a 0700 directory).  Name tcp endpoints to run validators on\n"
                     "# other hosts.\n"
                     "# validator_endpoint = ipc://HOME/run/validator\n"
                     "# router_endpoint = ipc://HOME/run/router\n"
                     "\n"
                     "# The official OASIS UBL 2.1 schemas (the directory holding maindoc/ and\n"
                     "# common/).  edix-fetch-ubl-schemas fetches and checks them.  Required.\n"
                     "schema_dir = %s\n"
                     "\n"
                     "# The catalogue of document types: which schema and which parties.\n"
                     "catalogue = %s\n"
                     "\n"
                     "# Largest document accepted, in bytes (10 MB).  Larger ones are refused\n"
                     "# before anything is stored.\n"
                     "max_document_size = 10485760\n"
                     "\n"
                     "# Milliseconds to wait for a receiver's acknowledgement before the\n"
                     "# document is offered again.\n"
                     "ack_timeout_ms = 30000\n"
                     "\n"
                     "# Longest pause between redeliveries to a receiver that stays away, in\n"
                     "# milliseconds (the backoff doubles up to this).\n"
                     "retry_max_ms = 300000\n"
                     "\n"
                     "# How often each service looks in the store for work a lost message did\n"
                     "# not announce, in milliseconds.\n"
                     "rescan_ms = 2000\n"
                     "\n"
                     "# Most documents committed in one transaction (group commit).\n"
                     "batch_max = 256\n"
                     "\n"
                     "# Retention: 'edix-admin purge' deletes the bodies of documents that were\n"
                     "# delivered or rejected more than this many days ago.  The message\n"
                     "# records, their SHA-256 and the audit chain stay, so the chain still\n"
                     "# verifies.  0 keeps every body for ever.\n"
                     "retention_days = 0\n",
                     intake, delivery, schema_dir, catalogue);
}

static const char *s_config_keys[] = {"intake_endpoint",
                                      "delivery_endpoint",
                                      "public_intake_endpoint",
                                      "public_delivery_endpoint",
                                      "validator_endpoint",
                                      "router_endpoint",
                                      "schema_dir",
                                      "catalogue",
                                      "max_document_size",
                                      "ack_timeout_ms",
                                      "retry_max_ms",
                                      "rescan_ms",
                                      "batch_max",
                                      "retention_days",
                                      NULL};

static int
s_number(const edix_kv_t *kv, const char *key, long long def, long long min, long long max,
         long long *out, const char *path, char **err)
{
    const char *v = edix_kv_get(kv, key);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max)
        return edix_fail(err, "%s: %s = %s: expected a whole number from %lld to %lld", path, key,
                         v, min, max);
    *out = n;
    return 0;
}

edix_config_t *
edix_config_load(const char *home, char **err)
{
    edix_config_t *self = NULL;
    char *path = xasprintf("%s/edix.conf", home);
    struct stat st;
    if (stat(home, &st) < 0 || !S_ISDIR(st.st_mode)) {
        edix_fail(err, "no edix home at %s (run 'edix-admin init --home %s' first)", home, home);
        goto out;
    }
    edix_kv_t *kv = edix_kv_load(path, err);
    if (!kv)
        goto out;
    for (size_t i = 0; i < edix_kv_count(kv); i++) {
        const char *key = edix_kv_key(kv, i);
        int known = 0;
        for (const char **k = s_config_keys; *k; k++)
            known |= strcmp(*k, key) == 0;
        if (!known) {
            edix_fail(err, "%s: unknown key '%s'", path, key);
            edix_kv_destroy(&kv);
            goto out;
        }
    }
    self = xcalloc(1, sizeof *self);
    self->home = xstrdup(home);
    self->store_path = xasprintf("%s/edix.db", home);
#define S_STR(field, key, def)                                                                     \
    self->field = edix_kv_get(kv, key) ? xstrdup(edix_kv_get(kv, key)) : (def)
    S_STR(intake_endpoint, "intake_endpoint", xstrdup("tcp://127.0.0.1:7701"));
    S_STR(delivery_endpoint, "delivery_endpoint", xstrdup("tcp://127.0.0.1:7702"));
    S_STR(public_intake, "public_intake_endpoint", xstrdup(self->intake_endpoint));
    S_STR(public_delivery, "public_delivery_endpoint", xstrdup(self->delivery_endpoint));
    S_STR(validator_endpoint, "validator_endpoint", xasprintf("ipc://%s/run/validator", home));
    S_STR(router_endpoint, "router_endpoint", xasprintf("ipc://%s/run/router", home));
    S_STR(schema_dir, "schema_dir", NULL);
    S_STR(catalogue, "catalogue", xasprintf("%s/doctypes.conf", edix_datadir()));
#undef S_STR
    long long n;
    if (s_number(kv, "max_document_size", 10485760, 1024, 1LL << 30, &n, path, err) < 0)
        goto fail;
    self->max_document_size = (size_t)n;
    if (s_number(kv, "ack_timeout_ms", 30000, 10, 86400000, &n, path, err) < 0)
        goto fail;
    self->ack_timeout_ms = (int)n;
    if (s_number(kv, "retry_max_ms", 300000, 10, 86400000, &n, path, err) < 0)
        goto fail;
    self->retry_max_ms = (int)n;
    if (s_number(kv, "rescan_ms", 2000, 10, 3600000, &n, path, err) < 0)
        goto fail;
    self->rescan_ms = (int)n;
    if (s_number(kv, "batch_max", 256, 1, 10000, &n, path, err) < 0)
        goto fail;
    self->batch_max = (int)n;
    if (s_number(kv, "retention_days", 0, 0, 36500, &n, path, err) < 0)
        goto fail;
    self->retention_days = (int)n;
    edix_kv_destroy(&kv);
    goto out;
fail:
    edix_kv_destroy(&kv);
    edix_config_destroy(&self);
out:
    free(path);
    return self;
}

void
edix_config_destroy(edix_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    edix_config_t *self = *self_p;
    free(self->home);
    free(self->store_path);
    free(self->intake_endpoint);
    free(self->delivery_endpoint);
    free(self->public_intake);
    free(self->public_delivery);
    free(self->validator_endpoint);
    free(self->router_endpoint);
    free(self->schema_dir);
    free(self->catalogue);
    free(self);
    *self_p = NULL;
}

static const char *s_bundle_keys[] = {
    "partner",         "curve_public",      "curve_secret",    "hub_curve_public",
    "intake_endpoint", "delivery_endpoint", "hub_sign_public", NULL};

edix_bundle_t *
edix_bundle_load(const char *path, char **err)
{
    edix_kv_t *kv = edix_kv_load(path, err);
    if (!kv)
        return NULL;
    for (const char **k = s_bundle_keys; *k; k++) {
        if (!edix_kv_get(kv, *k) || !*edix_kv_get(kv, *k)) {
            edix_fail(err, "%s: not a partner bundle: '%s' is missing", path, *k);
            edix_kv_destroy(&kv);
            return NULL;
        }
    }
    edix_bundle_t *self = xcalloc(1, sizeof *self);
    self->partner = xstrdup(edix_kv_get(kv, "partner"));
    self->curve_public = xstrdup(edix_kv_get(kv, "curve_public"));
    self->curve_secret = xstrdup(edix_kv_get(kv, "curve_secret"));
    self->hub_curve_public = xstrdup(edix_kv_get(kv, "hub_curve_public"));
    self->intake_endpoint = xstrdup(edix_kv_get(kv, "intake_endpoint"));
    self->delivery_endpoint = xstrdup(edix_kv_get(kv, "delivery_endpoint"));
    self->hub_sign_public = xstrdup(edix_kv_get(kv, "hub_sign_public"));
    const char *max = edix_kv_get(kv, "max_document_size");
    self->max_document_size = max ? (size_t)strtoull(max, NULL, 10) : 0;
    edix_kv_destroy(&kv);
    if (!edix_curve_key_valid(self->curve_public) || !edix_curve_key_valid(self->curve_secret) ||
        !edix_curve_key_valid(self->hub_curve_public)) {
        edix_fail(err, "%s: a CURVE key is not 40 characters of Z85", path);
        edix_bundle_destroy(&self);
    }
    return self;
}

int
edix_bundle_save(const edix_bundle_t *self, const char *path, char **err)
{
    char *text = xasprintf("# edix partner bundle: the keys and endpoints for partner '%s'.\n"
                           "# Keep this file secret (mode 0600): curve_secret proves who you are.\n"
                           "partner = %s\n"
                           "curve_public = %s\n"
                           "curve_secret = %s\n"
                           "hub_curve_public = %s\n"
                           "intake_endpoint = %s\n"
                           "delivery_endpoint = %s\n"
                           "# verifies the hub's signed receipts and status notifications\n"
                           "hub_sign_public = %s\n"
                           "# the largest document the hub accepts, in bytes\n"
                           "max_document_size = %zu\n",
                           self->partner, self->partner, self->curve_public, self->curve_secret,
                           self->hub_curve_public, self->intake_endpoint, self->delivery_endpoint,
                           self->hub_sign_public,
                           self->max_document_size ? self->max_document_size : (size_t)10485760);
    int rc = edix_file_write(path, text, strlen(text), 0600, 1, err);
    explicit_bzero(text, strlen(text));
    free(text);
    return rc;
}

void
edix_bundle_destroy(edix_bundle_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    edix_bundle_t *self = *self_p;
    free(self->partner);
    free(self->curve_public);
    if (self->curve_secret)
        explicit_bzero(self->curve_secret, strlen(self->curve_secret));
    free(self->curve_secret);
    free(self->hub_curve_public);
    free(self->intake_endpoint);
    free(self->delivery_endpoint);
    free(self->hub_sign_public);
    free(self);
    *self_p = NULL;
}

int
edix_hub_keys_load(const char *home, int with_secret, edix_hub_keys_t *out, char **err)
{
    int rc = -1;
    memset(out, 0, sizeof *out);
    char *curve = xasprintf("%s/keys/hub.curve", home);
    char *signpub = xasprintf("%s/keys/hub-sign.pub", home);
    char *text = NULL;
    size_t len;
    edix_kv_t *kv = edix_kv_load(curve, err);
    if (!kv)
        goto out;
    const char *pub = edix_kv_get(kv, "public"), *sec = edix_kv_get(kv, "secret");
    if (!edix_curve_key_valid(pub) || !edix_curve_key_valid(sec)) {
        edix_fail(err, "%s: no valid CURVE key pair", curve);
        goto out;
    }
    snprintf(out->curve_public, sizeof out->curve_public, "%s", pub);
    if (with_secret)
        snprintf(out->curve_secret, sizeof out->curve_secret, "%s", sec);
    if (edix_file_read(signpub, 1024, &text, &len, err) < 0)
        goto out;
    char *hex = edix_trim(text);
    if (strlen(hex) != 64) {
        edix_fail(err, "%s: not a hex Ed25519 public key", signpub);
        goto out;
    }
    snprintf(out->sign_public, sizeof out->sign_public, "%s", hex);
    rc = 0;
out:
    edix_kv_destroy(&kv);
    free(text);
    free(curve);
    free(signpub);
    return rc;
}
