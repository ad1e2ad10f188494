/*
 * partner.h - private to edix-partner: the parsed command line and one
 * function per command.  Each command returns the process exit code:
 * 0 success, 1 usage or operational error, 2 a document rejected.
 */
#ifndef EDIX_PARTNER_H
#define EDIX_PARTNER_H

#include "edix/edix.h"

#include <stdio.h>

typedef struct {
    const char *bundle;  /* --bundle FILE (or $EDIX_BUNDLE) */
    const char *command; /* send, receive, status */
    char **args;         /* positional arguments after the command */
    int nargs;
    int help;              /* --help */
    int wait;              /* send --wait */
    int follow;            /* receive --follow */
    int timeout_ms;        /* --timeout SEC in ms; 0 when not given */
    const char *client_id; /* send --client-id */
    const char *into;      /* receive --into DIR */
    const char *receipts;  /* send --receipts DIR */
} partner_opts_t;

/* print "edix-partner: <reason>" on stderr; returns 1 */
int partner_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int partner_send(edix_client_t *c, const partner_opts_t *o);
int partner_receive(edix_client_t *c, const partner_opts_t *o);
int partner_status(edix_client_t *c, const partner_opts_t *o);
int partner_verify(edix_client_t *c, const partner_opts_t *o);

/* Print rejection reasons (a JSON array of {"rule","message","path"}) as
 * "  RULE: message (path)" lines; the raw text if it does not parse. */
void partner_print_reasons(FILE *out, const char *json);

#endif
