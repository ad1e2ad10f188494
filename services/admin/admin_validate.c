/*
 * admin_validate.c - "edix-admin validate FILE...": the validator's own
 * document check (edix_doc_check), offline.  The schemas come from the
 * home's config when there is a home, else from --schemas or the places
 * init looks.  Exit 0 when every file is valid, 2 when any is rejected,
 * 1 when a file cannot be read or the schemas cannot be loaded.
 */
#include "admin.h"
#include "doc.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *
s_schema_dir(admin_opts_t *o, char **catalogue)
{
    char *err = NULL;
    *catalogue = xasprintf("%s/doctypes.conf", edix_datadir());
    if (o->schemas)
        return xstrdup(o->schemas);
    char *home = edix_home_resolve(o->home_opt, &err);
    free(err);
    if (home) {
        edix_config_t *cfg = edix_config_load(home, NULL);
        free(home);
        if (cfg && cfg->schema_dir) {
            char *dir = xstrdup(cfg->schema_dir);
            free(*catalogue);
            *catalogue = xstrdup(cfg->catalogue);
            edix_config_destroy(&cfg);
            return dir;
        }
        edix_config_destroy(&cfg);
    }
    const char *env = getenv("EDIX_SCHEMA_DIR");
    if (env && *env)
        return xstrdup(env);
    char *dir = xasprintf("%s/ubl-2.1/xsdrt", edix_datadir());
    if (access(dir, R_OK) == 0)
        return dir;
    free(dir);
    dir = xasprintf("%s/../../shared/corpus/oasis-ubl-2.1/xsdrt", edix_datadir());
    if (access(dir, R_OK) == 0)
        return dir;
    free(dir);
    return NULL;
}

static void
s_print_text(const char *file, const edix_verdict_t *v)
{
    const char *doctype = edix_verdict_doctype(v);
    printf("%s: %s%s%s\n", file, edix_verdict_valid(v) ? "valid" : "INVALID", *doctype ? " " : "",
           doctype);
    size_t n = edix_verdict_issue_count(v);
    for (size_t i = 0; i < n; i++) {
        const char *path = edix_verdict_issue_path(v, i);
        printf("  %s %s: %s%s%s%s\n",
               edix_verdict_issue_severity(v, i) == EDIX_SEV_ERROR ? "error" : "warning",
               edix_verdict_issue_rule(v, i), edix_verdict_issue_message(v, i), *path ? " (" : "",
               path, *path ? ")" : "");
    }
}

int
admin_validate(admin_opts_t *o)
{
    char *err = NULL, *catalogue = NULL;
    int rc = 0;
    if (o->nargs == 0)
        return admin_error("usage: validate FILE... [--json]");
    char *dir = s_schema_dir(o, &catalogue);
    if (!dir) {
        free(catalogue);
        return admin_error("no UBL 2.1 schemas found: give --schemas DIR or --home of a hub");
    }
    edix_doc_checker_t *checker = edix_doc_checker_new(dir, catalogue, &err);
    free(dir);
    free(catalogue);
    if (!checker) {
        admin_error("%s", err);
        free(err);
        return 1;
    }
    for (int i = 0; i < o->nargs; i++) {
        const char *file = o->args[i];
        char *data;
        size_t len;
        edix_verdict_t *v = NULL;
        /* read a little more than the cap, so an oversize file gets its verdict */
        size_t cap = 10 * 1024 * 1024;
        if (edix_file_read(file, cap + 1, &data, &len, &err) < 0) {
            admin_error("%s", err);
            free(err);
            err = NULL;
            rc = 1;
            continue;
        }
        if (edix_doc_check(checker, data, len, cap, &v, &err) < 0) {
            admin_error("%s: %s", file, err);
            free(err);
            err = NULL;
            free(data);
            rc = 1;
            continue;
        }
        if (o->json) {
            char *json = edix_verdict_json(v, file);
            puts(json);
            free(json);
        } else {
            s_print_text(file, v);
        }
        if (!edix_verdict_valid(v) && rc == 0)
            rc = 2;
        edix_verdict_destroy(&v);
        free(data);
    }
    edix_doc_checker_destroy(&checker);
    return rc;
}
