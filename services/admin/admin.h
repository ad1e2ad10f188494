/*
 * admin.h - private to edix-admin: the parsed command line and one
 * function per command group.  Each command returns the process exit code:
 * 0 success, 1 usage or operational error, 2 a document rejected.
 */
#ifndef EDIX_ADMIN_H
#define EDIX_ADMIN_H

#include "config.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define ADMIN_MAX_IDS 64

typedef struct {
    const char *home_opt;           /* --home */
    int json;                       /* --json */
    int help;                       /* --help */
    const char *name;               /* --name */
    const char *ids[ADMIN_MAX_IDS]; /* --id, repeatable */
    size_t id_count;
    const char *send;       /* --send TYPES */
    const char *receive;    /* --receive TYPES */
    const char *bundle;     /* --bundle FILE */
    const char *overlap;    /* --overlap DURATION */
    const char *partner;    /* --partner ID */
    const char *state;      /* --state STATE */
    const char *intake;     /* --intake ENDPOINT (init) */
    const char *delivery;   /* --delivery ENDPOINT (init) */
    const char *schemas;    /* --schemas DIR (init, validate) */
    int limit;              /* --limit N */
    const char *older_than; /* --older-than DURATION (purge) */
    int dry_run;            /* --dry-run (purge) */
    int prometheus;         /* --prometheus (stats) */
    const char *output;     /* --output FILE (stats) */
    char **args;            /* positional arguments after the command words */
    int nargs;
} admin_opts_t;

/* print "edix-admin: <reason>" on stderr; returns 1 */
int admin_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* resolve the home, load its config and open its store; 0 or 1 (printed) */
int admin_open(const admin_opts_t *o, edix_config_t **cfg_p, edix_store_t **store_p);
/* 30s, 15m, 12h, 7d -> milliseconds; -1 if malformed */
int64_t admin_duration_ms(const char *s);

int admin_init(admin_opts_t *o);
int admin_partner(admin_opts_t *o, const char *verb);
int admin_audit(admin_opts_t *o, const char *verb);
int admin_message(admin_opts_t *o, const char *verb);
int admin_validate(admin_opts_t *o);
int admin_stats(admin_opts_t *o);
int admin_purge(admin_opts_t *o);
int admin_config(admin_opts_t *o, const char *verb);

#endif
