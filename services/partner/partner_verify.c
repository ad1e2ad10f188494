/*
 * partner_verify.c - edix-partner verify: check a kept receipt offline.
 *
 * A receipt file (send --receipts) is the hub's statement and its Ed25519
 * signature.  It is good when the signature verifies with the bundle's
 * hub_sign_public and, given the document, when the statement names
 * exactly its bytes (size and SHA-256).  This is the partner's proof of
 * what the hub received and when; no connection to the hub is made.
 */
#include "partner.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define VERIFY_MAX_RECEIPT 65536
#define VERIFY_MAX_DOC     ((size_t)1 << 30)

int
partner_verify(edix_client_t *c, const partner_opts_t *o)
{
    int rc = 1;
    char *text = NULL, *doc = NULL, *stmt = NULL, *err = NULL, *id = NULL;
    size_t tlen = 0, dlen = 0;
    char sig[129];
    if (o->nargs < 1 || o->nargs > 2) {
        partner_error("verify takes a receipt file and optionally the document");
        goto out;
    }
    const char *receipt = o->args[0];
    if (edix_file_read(receipt, VERIFY_MAX_RECEIPT, &text, &tlen, &err) < 0 ||
        (o->nargs == 2 && edix_file_read(o->args[1], VERIFY_MAX_DOC, &doc, &dlen, &err) < 0)) {
        partner_error("%s", err);
        goto out;
    }
    if (strlen(text) != tlen) {
        partner_error("%s: not a receipt file (it holds NUL bytes)", receipt);
        goto out;
    }
    if (edix_receipt_split(text, &stmt, sig, &err) < 0 ||
        edix_receipt_verify(edix_client_hub_sign_public(c), stmt, sig,
                            o->nargs == 2 ? (doc ? doc : "") : NULL, dlen, &err) < 0) {
        partner_error("%s: %s", receipt, err);
        goto out;
    }
    id = edix_receipt_field(stmt, "hub-id");
    printf("%s verified\n", id ? id : "-");
    rc = 0;
out:
    free(id);
    free(err);
    free(stmt);
    free(doc);
    free(text);
    return rc;
}
