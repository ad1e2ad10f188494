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
    "Onboarding, routing, tracking and audit for an edix hub.  Works on the\n"
    "hub's store directly; every change is audited with the operating-system\n"
    "user as the actor.\n"
    "\n"
    "  init [--intake EP] [--delivery EP] [--schemas DIR]\n"
    "                         create a hub home: store, config, hub keys\n"
    "  partner add ID --name NAME --id SCHEME:VALUE [--id ...]\n"
    "          [--send TYPES] [--receive TYPES] --bundle FILE\n"
    "                         onboard a partner (TYPES: Order,Invoice,... or all;\n"
    "                         default all) and write its bundle (0600)\n"
    "  partner list|show ID [--json]   partners, their state and key age\n"
    "  partner suspend ID | resume ID\n"
    "  partner rekey ID --bundle FILE [--overlap DURATION]\n"
    "                         new keys; the old key is refused from then on\n"
    "                         (or after DURATION such as 30m, 12h, 7d)\n"
    "  message list [--partner ID] [--state STATE] [--limit N] [--json]\n"
    "  message show MSGID [--json]   the whole trail of one document\n"
    "  message find BUSINESS-ID [--json]   by order or invoice number\n"
    "  message resend MSGID   offer a routed or delivered message to its\n"
    "                         receiver again (a new delivery, audited)\n"
    "  validate FILE... [--json]     offline check, same code as the validator\n"
    "  audit verify                  exit 0 intact, 1 tampered (says where)\n"
    "  audit list [--json] [--limit N]\n"
    "  stats [--json | --prometheus [--output FILE]]\n"
    "                         per partner and document type: sent, received,\n"
    "                         rejected, pending, oldest pending; --output writes\n"
    "                         FILE atomically (node_exporter textfile collector)\n"
    "  purge [--older-than DURATION] [--dry-run]\n"
    "                         delete the bodies of documents delivered or rejected\n"
    "                         longer ago than DURATION (default: retention_days in\n"
    "                         edix.conf); records and the audit chain stay\n"
    "  config sample          print a fully commented edix.conf\n"
    "\n"
    "DURATION is a whole number with s, m, h or d: 90s, 30m, 12h, 7d.\n"
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

int64_t
admin_duration_ms(const char *s)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {{"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    long long n = strtoll(s, &end, 10);
    if (end == s || n < 0 || n > 36500LL * 86400)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].suffix) == 0)
            /* at most 100 years: far from overflowing */
            return n * units[i].ms <= 36500LL * 86400000 ? n * units[i].ms : -1;
    return -1;
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
        if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = 1;
            continue;
        }
        if (strcmp(a, "--prometheus") == 0) {
            o->prometheus = 1;
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
        else if (strcmp(a, "--older-than") == 0)
            slot = &o->older_than;
        else if (strcmp(a, "--output") == 0)
            slot = &o->output;
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
    if (strcmp(cmd, "purge") == 0)
        return admin_purge(o);
    if (strcmp(cmd, "partner") != 0 && strcmp(cmd, "audit") != 0 && strcmp(cmd, "message") != 0 &&
        strcmp(cmd, "config") != 0)
        return admin_error("unknown command '%s' (see edix-admin --help)", cmd);
    if (o->nargs == 0)
        return admin_error("'%s' needs a subcommand (see edix-admin --help)", cmd);
    const char *verb = o->args[0];
    o->args++, o->nargs--;
    if (strcmp(cmd, "partner") == 0)
        return admin_partner(o, verb);
    if (strcmp(cmd, "audit") == 0)
        return admin_audit(o, verb);
    if (strcmp(cmd, "config") == 0)
        return admin_config(o, verb);
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
