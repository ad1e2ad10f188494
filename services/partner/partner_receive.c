/*
 * partner_receive.c - edix-partner receive and status.
 *
 * receive: every document addressed to us goes to DIR/<MSGID>.xml, byte
 * for byte as its sender submitted it, durably, before it is acknowledged
 * (the library guarantees the order); one line "MSGID DOCTYPE SENDER" per
 * document follows the acknowledgement.  With --follow it runs until
 * SIGINT/SIGTERM or --timeout; the signal handler only sets a flag.
 *
 * status: "MSGID STATE", and for a rejected document its reasons.
 */
#include "partner.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define RECEIVE_TIMEOUT_DEF 30000 /* without --follow: the longest a run may take */

static volatile int s_stop; /* set by SIGINT/SIGTERM */

static void
s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void
s_received(void *arg, const char *hub_id, const char *sender, const char *doctype, const char *path)
{
    (void)arg;
    (void)path;
    printf("%s %s %s\n", hub_id, doctype, sender);
    /* a line per document as it happens, also into a pipe */
    fflush(stdout);
}

int
partner_receive(edix_client_t *c, const partner_opts_t *o)
{
    if (!o->into || !*o->into)
        return partner_error("receive needs --into DIR (see edix-partner --help)");
    if (o->nargs > 0)
        return partner_error("receive takes no arguments, got '%s'", o->args[0]);
    int timeout = o->timeout_ms;
    if (!o->follow && timeout <= 0)
        timeout = RECEIVE_TIMEOUT_DEF;
    /* no SA_RESTART: the wait in the library returns and sees the flag */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char *err = NULL;
    size_t count = 0;
    int rc = edix_client_receive(c, o->into, o->follow, timeout, &s_stop, s_received, NULL, &count,
                                 &err);
    if (rc < 0) {
        partner_error("%s", err);
        free(err);
        return 1;
    }
    return 0;
}

int
partner_status(edix_client_t *c, const partner_opts_t *o)
{
    if (o->nargs != 1)
        return partner_error("status takes one message id (see edix-partner --help)");
    const char *id = o->args[0];
    char *state = NULL, *reasons = NULL, *err = NULL;
    int code = 0;
    int rc = edix_client_status(c, id, o->timeout_ms, &state, &reasons, &code, &err);
    if (rc < 0) {
        if (code == 404)
            partner_error("no such message %s", id);
        else
            partner_error("%s: %s", id, err);
        free(err);
        return 1;
    }
    printf("%s %s\n", id, state);
    if (strcmp(state, "rejected") == 0)
        partner_print_reasons(stdout, reasons);
    free(state);
    free(reasons);
    return 0;
}
