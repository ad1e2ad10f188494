/*
 * admin_partner.c - "edix-admin partner ...": onboarding and the partner's
 * life: add, list, show, suspend, resume, rekey.
 *
 * add and rekey write a bundle (0600) holding the partner's new CURVE key
 * pair and what its system needs of the hub's: the hub's CURVE public key,
 * the endpoints and the receipt-verification key.  The hub keeps only the
 * partner's public key.  Everything is checked before the store is touched;
 * the registry change, its audit record and the bundle land together or
 * not at all.
 */
#include "admin.h"
#include "crypto.h"
#include "doc.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
s_valid_partner_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64 || strcmp(id, "hub") == 0)
        return 0;
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return 0;
    return isalnum((unsigned char)id[0]);
}

/* SCHEME:VALUE; the scheme may be empty (":VALUE") for documents whose
 * identifier carries no schemeID */
static int
s_valid_identifier(const char *sv, char **why)
{
    const char *colon = strchr(sv, ':');
    if (!colon)
        return edix_fail(why, "--id %s: expected SCHEME:VALUE, e.g. 0088:5790000435975", sv);
    for (const char *p = sv; p < colon; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return edix_fail(why, "--id %s: the scheme may hold letters, digits, '-', '_', '.'",
                             sv);
    if (!colon[1])
        return edix_fail(why, "--id %s: the value after ':' is empty", sv);
    for (const unsigned char *p = (const unsigned char *)colon + 1; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return edix_fail(why, "--id %s: the value holds a control character", sv);
    if (strlen(colon + 1) > 256)
        return edix_fail(why, "--id %s: the value is longer than 256 characters", sv);
    return 0;
}

/* "Order,Invoice" or "all" into a list; checks each against the catalogue */
static int
s_types(const char *opt, const char *flag, const char *catalogue, char ***out, size_t *n,
        char **why)
{
    *out = NULL;
    *n = 0;
    if (!opt || strcmp(opt, "all") == 0) {
        *out = xmalloc(sizeof **out);
        (*out)[(*n)++] = xstrdup("*");
        return 0;
    }
    char *copy = xstrdup(opt), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        t = edix_trim(t);
        int has = edix_doc_catalogue_has(catalogue, t);
        if (has < 0) {
            rc = edix_fail(why, "cannot read the document-type catalogue %s", catalogue);
            break;
        }
        if (!has || !*t) {
            rc = edix_fail(why, "%s: unknown document type '%s' (known: see %s)", flag, t,
                           catalogue);
            break;
        }
        *out = xrealloc(*out, (*n + 1) * sizeof **out);
        (*out)[(*n)++] = xstrdup(t);
    }
    free(copy);
    if (rc == 0 && *n == 0)
        rc = edix_fail(why, "%s: no document types given (use 'all' for every type)", flag);
    return rc;
}

static void
s_json_list(edix_buf_t *b, char **items, size_t n)
{
    edix_buf_add(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            edix_buf_add(b, ",", 1);
        edix_buf_json_str(b, strcmp(items[i], "*") == 0 ? "all" : items[i]);
    }
    edix_buf_add(b, "]", 1);
}

static void
s_partner_json(edix_buf_t *b, const edix_partner_t *p)
{
    char created[40], keyed[40];
    edix_time_format(p->created_ms, created, sizeof created);
    edix_time_format(p->key_created_ms, keyed, sizeof keyed);
    edix_buf_adds(b, "{\"id\":");
    edix_buf_json_str(b, p->id);
    edix_buf_adds(b, ",\"name\":");
    edix_buf_json_str(b, p->name);
    edix_buf_adds(b, ",\"state\":");
    edix_buf_json_str(b, p->state);
    edix_buf_adds(b, ",\"identifiers\":");
    s_json_list(b, p->ids, p->id_count);
    edix_buf_adds(b, ",\"send\":");
    s_json_list(b, p->send, p->send_count);
    edix_buf_adds(b, ",\"receive\":");
    s_json_list(b, p->receive, p->receive_count);
    edix_buf_adds(b, ",\"curve_public\":");
    edix_buf_json_str(b, p->curve_public);
    edix_buf_adds(b, ",\"created\":");
    edix_buf_json_str(b, created);
    edix_buf_adds(b, ",\"key_created\":");
    edix_buf_json_str(b, keyed);
    edix_buf_addf(b, ",\"key_age_days\":%lld}",
                  (long long)((edix_now_ms() - p->key_created_ms) / 86400000));
}

static void
s_print_list(const char *label, char **items, size_t n)
{
    printf("%-12s", label);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? ", " : "", strcmp(items[i], "*") == 0 ? "all" : items[i]);
    printf("%s\n", n ? "" : "(none)");
}

/* Write a bundle for partner id with a new key pair; *pub gets the public key. */
static int
s_new_bundle(edix_config_t *cfg, const char *id, const char *path, char pub[EDIX_Z85_KEY],
             char **err)
{
    edix_hub_keys_t hub;
    char sec[EDIX_Z85_KEY];
    if (edix_hub_keys_load(cfg->home, 0, &hub, err) < 0 || edix_curve_keypair(pub, sec, err) < 0)
        return -1;
    edix_bundle_t b = {
        .partner = (char *)id,
        .curve_public = pub,
        .curve_secret = sec,
        .hub_curve_public = hub.curve_public,
        .intake_endpoint = cfg->public_intake,
        .delivery_endpoint = cfg->public_delivery,
        .hub_sign_public = hub.sign_public,
        .max_document_size = cfg->max_document_size,
    };
    int rc = edix_bundle_save(&b, path, err);
    explicit_bzero(sec, sizeof sec);
    return rc;
}

static int
s_check_bundle_path(const char *path, char **err)
{
    if (!path)
        return edix_fail(err, "--bundle FILE is required: where to write the partner's keys");
    if (edix_file_exists(path))
        return edix_fail(err, "bundle file %s exists already; not replacing it", path);
    return 0;
}

static int
s_add(admin_opts_t *o, edix_config_t *cfg, edix_store_t *store)
{
    char *err = NULL;
    int rc = 1, bundle_written = 0;
    edix_partner_t p = {0};
    char pub[EDIX_Z85_KEY];

    if (o->nargs != 1) {
        edix_fail(&err, "usage: partner add ID --name NAME --id SCHEME:VALUE ... --bundle FILE");
        goto out;
    }
    const char *id = o->args[0];
    if (!s_valid_partner_id(id)) {
        edix_fail(&err, "partner id '%s': use 1-64 letters, digits, '-', '_', '.' (not 'hub')", id);
        goto out;
    }
    if (!o->name || !*o->name) {
        edix_fail(&err, "--name NAME is required");
        goto out;
    }
    if (o->id_count == 0) {
        edix_fail(&err, "at least one --id SCHEME:VALUE is required (e.g. 0088:5790000435975)");
        goto out;
    }
    for (size_t i = 0; i < o->id_count; i++) {
        if (s_valid_identifier(o->ids[i], &err) < 0)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->ids[i], o->ids[j]) == 0) {
                edix_fail(&err, "--id %s given twice", o->ids[i]);
                goto out;
            }
    }
    if (s_types(o->send, "--send", cfg->catalogue, &p.send, &p.send_count, &err) < 0 ||
        s_types(o->receive, "--receive", cfg->catalogue, &p.receive, &p.receive_count, &err) < 0)
        goto out;
    if (s_check_bundle_path(o->bundle, &err) < 0)
        goto out;

    p.id = xstrdup(id);
    p.name = xstrdup(o->name);
    p.ids = xcalloc(o->id_count, sizeof *p.ids);
    for (size_t i = 0; i < o->id_count; i++)
        p.ids[p.id_count++] = xstrdup(o->ids[i]);

    if (edix_store_begin(store, &err) < 0)
        goto out;
    if (s_new_bundle(cfg, id, o->bundle, pub, &err) < 0)
        goto rollback;
    bundle_written = 1;
    p.curve_public = xstrdup(pub);
    if (edix_store_partner_add(store, &p, &err) < 0)
        goto rollback;
    edix_buf_t d;
    edix_buf_init(&d);
    edix_buf_addf(&d, "partner=%s name=", id);
    edix_buf_json_str(&d, o->name);
    edix_buf_adds(&d, " ids=");
    for (size_t i = 0; i < p.id_count; i++)
        edix_buf_addf(&d, "%s%s", i ? "," : "", p.ids[i]);
    edix_buf_addf(&d, " send=%s receive=%s key=%s", o->send ? o->send : "all",
                  o->receive ? o->receive : "all", pub);
    int arc = edix_audit_append(store, edix_os_user(), "partner.add", NULL, d.data, &err);
    edix_buf_free(&d);
    if (arc < 0 || edix_store_commit(store, &err) < 0)
        goto rollback;
    printf("partner %s added; bundle written to %s (mode 0600: hand it over securely)\n", id,
           o->bundle);
    rc = 0;
    goto out;
rollback:
    edix_store_rollback(store);
    if (bundle_written)
        unlink(o->bundle);
out:
    if (rc)
        admin_error("%s", err);
    free(err);
    edix_partner_free(&p);
    return rc;
}

static int
s_list(admin_opts_t *o, edix_store_t *store)
{
    char *err = NULL;
    edix_partner_t *list;
    size_t n;
    if (edix_store_partner_list(store, &list, &n, &err) < 0) {
        admin_error("%s", err);
        free(err);
        return 1;
    }
    if (o->json) {
        edix_buf_t b;
        edix_buf_init(&b);
        edix_buf_add(&b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                edix_buf_add(&b, ",", 1);
            s_partner_json(&b, &list[i]);
        }
        edix_buf_add(&b, "]", 1);
        puts(b.data);
        edix_buf_free(&b);
    } else {
        printf("%-20s %-10s %-8s %-30s %s\n", "ID", "STATE", "KEY-AGE", "NAME", "IDENTIFIERS");
        for (size_t i = 0; i < n; i++) {
            edix_partner_t *p = &list[i];
            printf("%-20s %-10s %6lldd  %-30s ", p->id, p->state,
                   (long long)((edix_now_ms() - p->key_created_ms) / 86400000), p->name);
            for (size_t j = 0; j < p->id_count; j++)
                printf("%s%s", j ? " " : "", p->ids[j]);
            printf("\n");
        }
    }
    edix_partners_free(list, n);
    return 0;
}

/* fetch partner args[0]; prints the reason and returns 1 if unknown */
static int
s_get(admin_opts_t *o, edix_store_t *store, const char *usage, edix_partner_t *p)
{
    char *err = NULL;
    if (o->nargs != 1)
        return admin_error("usage: %s", usage);
    int rc = edix_store_partner_get(store, o->args[0], p, &err);
    if (rc == 1)
        return admin_error("no partner '%s' (see edix-admin partner list)", o->args[0]);
    if (rc < 0) {
        admin_error("%s", err);
        free(err);
        return 1;
    }
    return 0;
}

static int
s_show(admin_opts_t *o, edix_store_t *store)
{
    edix_partner_t p;
    if (s_get(o, store, "partner show ID [--json]", &p))
        return 1;
    if (o->json) {
        edix_buf_t b;
        edix_buf_init(&b);
        s_partner_json(&b, &p);
        puts(b.data);
        edix_buf_free(&b);
    } else {
        char created[40], keyed[40];
        edix_time_format(p.created_ms, created, sizeof created);
        edix_time_format(p.key_created_ms, keyed, sizeof keyed);
        printf("%-12s%s\n%-12s%s\n%-12s%s\n", "partner", p.id, "name", p.name, "state", p.state);
        s_print_list("identifiers", p.ids, p.id_count);
        s_print_list("may send", p.send, p.send_count);
        s_print_list("may receive", p.receive, p.receive_count);
        printf("%-12s%s (issued %s)\n%-12s%s\n", "curve key", p.curve_public, keyed, "onboarded",
               created);
    }
    edix_partner_free(&p);
    return 0;
}

static int
s_set_state(admin_opts_t *o, edix_store_t *store, const char *state, const char *verb)
{
    char *err = NULL, *details = NULL;
    edix_partner_t p;
    char usage[64];
    snprintf(usage, sizeof usage, "partner %s ID", verb);
    if (s_get(o, store, usage, &p))
        return 1;
    if (strcmp(p.state, state) == 0) {
        printf("partner %s is %s already\n", p.id, state);
        edix_partner_free(&p);
        return 0;
    }
    details = xasprintf("partner=%s state=%s", p.id, state);
    char event[32];
    snprintf(event, sizeof event, "partner.%s", verb);
    int rc = 1;
    if (edix_store_begin(store, &err) == 0) {
        if (edix_store_partner_set_state(store, p.id, state, &err) == 0 &&
            edix_audit_append(store, edix_os_user(), event, NULL, details, &err) == 0 &&
            edix_store_commit(store, &err) == 0)
            rc = 0;
        else
            edix_store_rollback(store);
    }
    if (rc == 0)
        printf("partner %s is now %s\n", p.id, state);
    else
        admin_error("%s", err);
    free(err);
    free(details);
    edix_partner_free(&p);
    return rc;
}

static int
s_rekey(admin_opts_t *o, edix_config_t *cfg, edix_store_t *store)
{
    char *err = NULL;
    int rc = 1, bundle_written = 0;
    int64_t overlap = 0;
    edix_partner_t p;
    char pub[EDIX_Z85_KEY];
    if (s_get(o, store, "partner rekey ID --bundle FILE [--overlap DURATION]", &p))
        return 1;
    if (o->overlap && (overlap = admin_duration_ms(o->overlap)) < 0) {
        edix_fail(&err, "--overlap %s: expected a duration such as 30m, 12h or 7d", o->overlap);
        goto out;
    }
    if (s_check_bundle_path(o->bundle, &err) < 0 || edix_store_begin(store, &err) < 0)
        goto out;
    if (s_new_bundle(cfg, p.id, o->bundle, pub, &err) < 0)
        goto rollback;
    bundle_written = 1;
    int64_t until = overlap ? edix_now_ms() + overlap : 0;
    char *details = xasprintf("partner=%s old_key=%s new_key=%s overlap_ms=%lld", p.id,
                              p.curve_public ? p.curve_public : "-", pub, (long long)overlap);
    int arc = edix_store_partner_rekey(store, p.id, pub, until, &err) < 0
                  ? -1
                  : edix_audit_append(store, edix_os_user(), "partner.rekey", NULL, details, &err);
    free(details);
    if (arc < 0 || edix_store_commit(store, &err) < 0)
        goto rollback;
    if (overlap)
        printf("partner %s has a new key; the old one is admitted for %s more; bundle written "
               "to %s\n",
               p.id, o->overlap, o->bundle);
    else
        printf("partner %s has a new key; the old one is refused from now on; bundle written to "
               "%s\n",
               p.id, o->bundle);
    rc = 0;
    goto out;
rollback:
    edix_store_rollback(store);
    if (bundle_written)
        unlink(o->bundle);
out:
    if (rc)
        admin_error("%s", err);
    free(err);
    edix_partner_free(&p);
    return rc;
}

int
admin_partner(admin_opts_t *o, const char *verb)
{
    edix_config_t *cfg;
    edix_store_t *store;
    static const char *verbs[] = {"add", "list", "show", "suspend", "resume", "rekey", NULL};
    int known = 0;
    for (const char **v = verbs; *v; v++)
        known |= strcmp(*v, verb) == 0;
    if (!known)
        return admin_error("unknown command 'partner %s' (add, list, show, suspend, resume, "
                           "rekey)",
                           verb);
    if (admin_open(o, &cfg, &store))
        return 1;
    int rc;
    if (strcmp(verb, "add") == 0)
        rc = s_add(o, cfg, store);
    else if (strcmp(verb, "list") == 0)
        rc = o->nargs ? admin_error("partner list takes no arguments") : s_list(o, store);
    else if (strcmp(verb, "show") == 0)
        rc = s_show(o, store);
    else if (strcmp(verb, "suspend") == 0)
        rc = s_set_state(o, store, "suspended", "suspend");
    else if (strcmp(verb, "resume") == 0)
        rc = s_set_state(o, store, "active", "resume");
    else
        rc = s_rekey(o, cfg, store);
    edix_store_close(&store);
    edix_config_destroy(&cfg);
    return rc;
}
