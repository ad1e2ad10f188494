/*
 * edix-partner - the command-line partner client: send documents to an
 * edix hub, receive the documents addressed to us, ask for a state, check
 * a kept receipt.
 * Everything it knows about the hub comes from the partner bundle; the
 * work is done by the client library (include/edix/edix.h).
 *
 * Exit status: 0 success, 1 usage or operational error, 2 a document was
 * rejected.  Errors are one line on stderr: "edix-partner: <reason>".
 */
#include "partner.h"
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char s_usage[] =
    "usage: edix-partner --bundle FILE COMMAND ...\n"
    "\n"
    "The partner side of an edix hub: sends documents to the hub, receives the\n"
    "documents addressed to this partner and checks the hub's signed receipts,\n"
    "with the keys and endpoints of the partner's bundle.\n"
    "\n"
    "  send DOC... [--wait] [--timeout SEC] [--client-id ID] [--receipts DIR]\n"
    "                         submit documents; prints 'MSGID accepted' per document,\n"
    "                         with --wait the final 'MSGID delivered' or 'MSGID rejected'\n"
    "                         and the reasons.  The client id defaults to the content's\n"
    "                         SHA-256, so sending the same file again never duplicates it;\n"
    "                         --client-id only with one DOC.  --receipts keeps each\n"
    "                         verified receipt as DIR/MSGID.receipt\n"
    "  receive --into DIR [--follow] [--timeout SEC]\n"
    "                         write each document to DIR/MSGID.xml (fsynced), then\n"
    "                         acknowledge it; prints 'MSGID DOCTYPE SENDER' per document.\n"
    "                         Without --follow it stops when nothing more arrives\n"
    "  status MSGID           print 'MSGID STATE' (and the reasons when rejected)\n"
    "  verify RECEIPT [DOC]   check a kept receipt offline: the hub's signature, and\n"
    "                         that it names exactly DOC's bytes; prints 'MSGID verified'\n"
    "\n"
    "--bundle defaults to $EDIX_BUNDLE; --home is accepted and ignored (the bundle\n"
    "names the hub).  --timeout defaults to 30 s (receive --follow: none).\n"
    "Exit status: 0 success, 1 usage or operational error, 2 document rejected.\n";

int
partner_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("edix-partner: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int
s_timeout(const char *text, int *ms)
{
    char *end;
    double sec = strtod(text, &end);
    if (end == text || *end || !(sec > 0) || sec > 2000000)
        return partner_error("--timeout takes seconds, more than 0 (got '%s')", text);
    *ms = (int)(sec * 1000 + 0.5);
    if (*ms < 1)
        *ms = 1;
    return 0;
}

/* Options may come anywhere; the first plain word is the command. */
static int
s_parse(int argc, char **argv, partner_opts_t *o)
{
    int plain = 0;
    o->args = xcalloc((size_t)argc + 1, sizeof *o->args);
    o->bundle = getenv("EDIX_BUNDLE");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (plain || a[0] != '-' || a[1] == '\0') {
            if (!o->command)
                o->command = a;
            else
                o->args[o->nargs++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            plain = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
            continue;
        }
        if (strcmp(a, "--wait") == 0) {
            o->wait = 1;
            continue;
        }
        if (strcmp(a, "--follow") == 0) {
            o->follow = 1;
            continue;
        }
        /* options with a value: "--opt VALUE" or "--opt=VALUE" */
        static const char *valued[] = {"--bundle", "--home",     "--timeout", "--client-id",
                                       "--into",   "--receipts", NULL};
        const char *value = NULL;
        size_t n = strcspn(a, "=");
        int k;
        for (k = 0; valued[k]; k++)
            if (strlen(valued[k]) == n && strncmp(a, valued[k], n) == 0)
                break;
        if (!valued[k])
            return partner_error("unknown option %s (see edix-partner --help)", a);
        if (a[n] == '=')
            value = a + n + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return partner_error("%s needs a value", valued[k]);
        switch (k) {
        case 0:
            o->bundle = value;
            break;
        case 1:
            break; /* --home: the bundle says where the hub is */
        case 2:
            if (s_timeout(value, &o->timeout_ms) != 0)
                return 1;
            break;
        case 3:
            o->client_id = value;
            break;
        case 4:
            o->into = value;
            break;
        default:
            o->receipts = value;
            break;
        }
    }
    return 0;
}

/* options that belong to another command are a mistake worth saying */
static int
s_check(const partner_opts_t *o)
{
    int send = strcmp(o->command, "send") == 0, recv = strcmp(o->command, "receive") == 0;
    if (!send && !recv && strcmp(o->command, "status") != 0 && strcmp(o->command, "verify") != 0)
        return partner_error("unknown command '%s' (see edix-partner --help)", o->command);
    if (!send && (o->wait || o->client_id || o->receipts))
        return partner_error("--wait, --client-id and --receipts are options of send");
    if (!recv && (o->follow || o->into))
        return partner_error("--into and --follow are options of receive");
    if (!o->bundle || !*o->bundle)
        return partner_error("--bundle FILE is required (or set EDIX_BUNDLE)");
    return 0;
}

int
main(int argc, char **argv)
{
    partner_opts_t o = {0};
    edix_client_t *client = NULL;
    char *err = NULL;
    int rc = s_parse(argc, argv, &o);
    if (rc == 0 && (o.help || !o.command)) {
        fputs(s_usage, o.help ? stdout : stderr);
        rc = o.help ? 0 : 1;
    } else if (rc == 0 && (rc = s_check(&o)) == 0) {
        client = edix_client_new(o.bundle, &err);
        if (!client)
            rc = partner_error("%s", err);
        else if (strcmp(o.command, "send") == 0)
            rc = partner_send(client, &o);
        else if (strcmp(o.command, "receive") == 0)
            rc = partner_receive(client, &o);
        else if (strcmp(o.command, "status") == 0)
            rc = partner_status(client, &o);
        else
            rc = partner_verify(client, &o);
    }
    edix_client_destroy(&client);
    free(err);
    free(o.args);
    return rc;
}
