/*
 * admin_audit.c - "edix-admin audit verify|list": check the hash chain and
 * read it.  verify exits 0 when intact, 1 naming the first bad record.
 */
#include "admin.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_verify(edix_store_t *store)
{
    char *err = NULL;
    int64_t count, bad;
    int rc = edix_audit_verify(store, &count, &bad, &err);
    if (rc == 0) {
        printf("audit chain intact: %lld records\n", (long long)count);
    } else if (rc == 1) {
        printf("audit chain broken at record %lld: %s\n", (long long)bad, err);
        admin_error("audit chain broken at record %lld", (long long)bad);
    } else {
        admin_error("%s", err);
    }
    free(err);
    return rc == 0 ? 0 : 1;
}

static int
s_list(admin_opts_t *o, edix_store_t *store)
{
    char *err = NULL;
    edix_audit_rec_t *recs;
    size_t n;
    if (edix_audit_list(store, NULL, o->limit, &recs, &n, &err) < 0) {
        admin_error("%s", err);
        free(err);
        return 1;
    }
    edix_buf_t b;
    edix_buf_init(&b);
    if (o->json)
        edix_buf_add(&b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        char at[40];
        edix_time_format(recs[i].at_ms, at, sizeof at);
        if (o->json) {
            edix_buf_addf(&b, "%s{\"seq\":%lld,\"time\":\"%s\",\"actor\":", i ? "," : "",
                          (long long)recs[i].seq, at);
            edix_buf_json_str(&b, recs[i].actor);
            edix_buf_adds(&b, ",\"event\":");
            edix_buf_json_str(&b, recs[i].event);
            edix_buf_adds(&b, ",\"message\":");
            edix_buf_json_str(&b, recs[i].msgid);
            edix_buf_adds(&b, ",\"details\":");
            edix_buf_json_str(&b, recs[i].details);
            edix_buf_adds(&b, ",\"hash\":");
            edix_buf_json_str(&b, recs[i].hash);
            edix_buf_add(&b, "}", 1);
        } else {
            edix_buf_addf(&b, "%6lld %s %-14s %-22s %s %s\n", (long long)recs[i].seq, at,
                          recs[i].actor, recs[i].event, recs[i].msgid ? recs[i].msgid : "-",
                          recs[i].details);
        }
    }
    if (o->json)
        edix_buf_adds(&b, "]\n");
    fputs(b.data ? b.data : "", stdout);
    edix_buf_free(&b);
    edix_audit_recs_free(recs, n);
    return 0;
}

int
admin_audit(admin_opts_t *o, const char *verb)
{
    if (strcmp(verb, "verify") != 0 && strcmp(verb, "list") != 0)
        return admin_error("unknown command 'audit %s' (verify, list)", verb);
    if (o->nargs)
        return admin_error("audit %s takes no arguments", verb);
    edix_config_t *cfg;
    edix_store_t *store;
    if (admin_open(o, &cfg, &store))
        return 1;
    int rc = strcmp(verb, "verify") == 0 ? s_verify(store) : s_list(o, store);
    edix_store_close(&store);
    edix_config_destroy(&cfg);
    return rc;
}
