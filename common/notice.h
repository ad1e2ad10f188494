/*
 * notice.h - status notifications the hub sends a document's sender: a UBL
 * 2.1 ApplicationResponse saying "delivered" (AP) or "rejected" (RE, with
 * one cac:Status per reason), the form Peppol uses for message-level
 * responses, so an ERP reads it with the UBL tooling it already has.
 */
#ifndef EDIX_NOTICE_H
#define EDIX_NOTICE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *rule;    /* XSD, BR-CO-10, EDIX-RECEIVER, ... */
    const char *message; /* human-readable reason */
    const char *path;    /* element path, may be "" */
} edix_notice_reason_t;

typedef struct {
    const char *notice_id;               /* hub id of the notification itself */
    const char *partner;                 /* who gets it: the original sender */
    const char *ref_id;                  /* hub id of the document reported on */
    const char *client_id;               /* the sender's own id for it */
    const char *doc_number;              /* the document's cbc:ID, or NULL */
    const char *doctype;                 /* Order, Invoice, ... or NULL */
    int delivered;                       /* 1 delivered, 0 rejected */
    const char *receiver;                /* delivered: to whom */
    const edix_notice_reason_t *reasons; /* rejected: why */
    size_t reason_count;
    int64_t at_ms; /* when */
} edix_notice_t;

/* The XML text of the notification (malloc'd). */
char *edix_notice_build(const edix_notice_t *n);

#endif
