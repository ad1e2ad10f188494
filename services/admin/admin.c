/*
 * edix-admin - onboarding, routing, tracking and audit for an edix hub.
 * Works on the store directly; every change is audited with the
 * operating-system user as the actor.
 */
#include "admin.h"
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_usage[] =
    "usage: edix-admin [--home DIR] COMMAND ...\n"
    "\n"
    "  init [--intake EP] [--delivery EP] [--schemas DIR]\n"
    "                         create a hub home: store, config, hub keys\n"
    "  partner add ID --name NAME --id SCHEME:VALUE [--id ...]\n"
    "          [--send TYPES] [--receive TYPES] --bundle FILE\n"
    "                         onboard a partner (TYPES: Order,Invoice,... or all;\n"
    "                         default all) and write its bundle (0600)\n"
    "  partner list|show ID [--json]\n"
    "  partner suspend ID | resume ID\n"
    "  partner rekey ID --bundle FILE [--overlap DURATION]\n"
    "                         new keys; the old key is refused from then on\n"
    "                         (or after DURATION such as 30m, 12h, 7d)\n"
    "  message list [--partner ID] [--state STATE] [--limit N] [--json]\n"
    "  message show MSGID [--json]   the whole trail of one document\n"
    "  message find BUSINESS-ID [--json]   by order or invoice number\n"
    "  validate FILE... [--json]     offline check, same code as the validator\n"
    "  audit verify                  exit 0 intact, 1 tampered (says where)\n"
    "  audit list [--json] [--limit N]\n"
    "  stats [--json]\n"
    "\n"
    "Every command takes --home DIR (default $EDIX_HOME) and --help.\n"
    "Exit status: 0 success, 1 usage or operational error, 2 document rejected.\n";

int
admin_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("edix-admin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int
admin_open(const admin_opts_t *o, edix_config_t **cfg_p, edix_store_t **store_p)
{
    char *err = NULL;
    *cfg_p = NULL;
    *store_p = NULL;
    char *home = edix_home_resolve(o->home_opt, &err);
    if (!home)
        goto fail;
    *cfg_p = edix_config_load(home, &err);
    free(home);
    if (!*cfg_p)
        goto fail;
    *store_p = edix_store_open((*cfg_p)->store_path, 0, &err);
    if (!*store_p) {
        edix_config_destroy(cfg_p);
        goto fail;
    }
    return 0;
fail:
    admin_error("%s", err);
    free(err);
    return 1;
}

/* Options that take a value; everything else starting with -- is a flag. */
static int
s_parse(int argc, char **argv, admin_opts_t *o)
{
    o->args = xcalloc((size_t)argc + 1, sizeof *o->args);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || strcmp(a, "--") == 0) {
            o->args[o->nargs++] = argv[i];
            continue;
        }
        if (strcmp(a, "--home") == 0)
            slot = &o->home_opt;
        else if (strcmp(a, "--name") == 0)
            slot = &o->name;
        else if (strcmp(a, "--send") == 0)
            slot = &o->send;
        else if (strcmp(a, "--receive") == 0)
            slot = &o->receive;
        else if (strcmp(a, "--bundle") == 0)
            slot = &o->bundle;
        else if (strcmp(a, "--overlap") == 0)
            slot = &o->overlap;
        else if (strcmp(a, "--partner") == 0)
            slot = &o->partner;
        else if (strcmp(a, "--state") == 0)
            slot = &o->state;
        else if (strcmp(a, "--intake") == 0)
            slot = &o->intake;
        else if (strcmp(a, "--delivery") == 0)
            slot = &o->delivery;
        else if (strcmp(a, "--schemas") == 0)
            slot = &o->schemas;
        else if (strcmp(a, "--id") == 0 || strcmp(a, "--limit") == 0) {
            if (i + 1 >= argc)
                return admin_error("%s needs a value", a);
            if (strcmp(a, "--limit") == 0) {
                char *end;
                long n = strtol(argv[++i], &end, 10);
                if (*end || n <= 0 || n > 1000000)
                    return admin_error("--limit takes a whole number from 1 to 1000000");
                o->limit = (int)n;
                continue;
            }
            if (o->id_count == ADMIN_MAX_IDS)
                return admin_error("at most %d --id options", ADMIN_MAX_IDS);
            o->ids[o->id_count++] = argv[++i];
            continue;
        } else
            return admin_error("unknown option %s (see edix-admin --help)", a);
        if (i + 1 >= argc)
            return admin_error("%s needs a value", a);
        *slot = argv[++i];
    }
    return 0;
}

static int
s_dispatch(admin_opts_t *o)
{
    const char *cmd = o->args[0];
    o->args++, o->nargs--;
    if (strcmp(cmd, "init") == 0)
        return admin_init(o);
    if (strcmp(cmd, "validate") == 0)
        return admin_validate(o);
    if (strcmp(cmd, "stats") == 0)
        return admin_stats(o);
    if (strcmp(cmd, "partner") != 0 && strcmp(cmd, "audit") != 0 && strcmp(cmd, "message") != 0)
        return admin_error("unknown command '%s' (see edix-admin --help)", cmd);
    if (o->nargs == 0)
        return admin_error("'%s' needs a subcommand (see edix-admin --help)", cmd);
    const char *verb = o->args[0];
    o->args++, o->nargs--;
    if (strcmp(cmd, "partner") == 0)
        return admin_partner(o, verb);
    if (strcmp(cmd, "audit") == 0)
        return admin_audit(o, verb);
    return admin_message(o, verb);
}

int
main(int argc, char **argv)
{
    admin_opts_t o = {0};
    edix_log_init("admin", EDIX_LOG_WARN);
    int rc = s_parse(argc, argv, &o);
    char **base = o.args;
    if (rc == 0 && (o.help || o.nargs == 0)) {
        fputs(s_usage, o.help ? stdout : stderr);
        rc = o.help ? 0 : 1;
    } else if (rc == 0) {
        rc = s_dispatch(&o);
    }
    free(base);
    return rc;
}
