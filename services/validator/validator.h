/*
 * validator.h - private to edix-validator.
 */
#ifndef EDIX_VALIDATOR_H
#define EDIX_VALIDATOR_H

#include "doc.h"
#include "service.h"

int validator_run(edix_service_t *svc);
/* The partner checks on a checked document: sender owns a sender party
 * identifier, receiver resolves to an active partner, both permitted the
 * type.  Adds issues to v; *receiver_p gets the receiver partner (or NULL).
 * -1 only when the store fails (temporary). */
int validator_partners(edix_store_t *store, const char *sender, edix_verdict_t *v,
                       char **receiver_p, char **err);

#endif
