/*
 * validator_partners.c - who sent it, who gets it, and may they.
 *
 * The sender is the partner whose CURVE key submitted the document; it must
 * own one of the identifiers of the document's sending party, or the
 * document is a spoof.  The receiver is the partner registered under the
 * first identifier of the receiving party that anyone owns.
 */
#include "validator.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_list(edix_buf_t *b, const edix_verdict_t *v, int receiver)
{
    size_t n = receiver ? edix_verdict_receiver_count(v) : edix_verdict_sender_count(v);
    for (size_t i = 0; i < n && i < 5; i++)
        edix_buf_addf(b, "%s%s", i ? ", " : "",
                      receiver ? edix_verdict_receiver_id(v, i) : edix_verdict_sender_id(v, i));
    if (n > 5)
        edix_buf_adds(b, ", ...");
}

int
validator_partners(edix_store_t *store, const char *sender, edix_verdict_t *v, char **receiver_p,
                   char **err)
{
    *receiver_p = NULL;
    const char *doctype = edix_verdict_doctype(v);
    char path[80], msg[512];
    char *owner = NULL, *receiver = NULL;
    snprintf(path, sizeof path, "/%s", doctype);

    /* the sender party */
    size_t ns = edix_verdict_sender_count(v);
    int owns = 0;
    for (size_t i = 0; i < ns && !owns; i++) {
        int rc = edix_store_partner_by_identifier(store, edix_verdict_sender_id(v, i), &owner, err);
        if (rc < 0)
            return -1;
        owns = rc == 0 && strcmp(owner, sender) == 0;
        free(owner);
        owner = NULL;
    }
    if (ns == 0) {
        snprintf(msg, sizeof msg, "the %s names no identifier for its sending party", doctype);
        edix_verdict_add(v, EDIX_SEV_ERROR, "EDIX-SENDER", msg, path);
    } else if (!owns) {
        edix_buf_t b;
        edix_buf_init(&b);
        edix_buf_addf(&b, "the sending party's identifiers (");
        s_list(&b, v, 0);
        edix_buf_addf(&b, ") are not registered to partner '%s'", sender);
        edix_verdict_add(v, EDIX_SEV_ERROR, "EDIX-SENDER", b.data, path);
        edix_buf_free(&b);
    }
    int may = edix_store_partner_may(store, sender, EDIX_DIR_SEND, doctype, err);
    if (may < 0)
        return -1;
    if (!may) {
        snprintf(msg, sizeof msg, "partner '%s' may not send %s", sender, doctype);
        edix_verdict_add(v, EDIX_SEV_ERROR, "EDIX-PERMISSION", msg, path);
    }

    /* the receiver party */
    size_t nr = edix_verdict_receiver_count(v);
    for (size_t i = 0; i < nr && !receiver; i++) {
        int rc =
            edix_store_partner_by_identifier(store, edix_verdict_receiver_id(v, i), &receiver, err);
        if (rc < 0)
            return -1;
    }
    if (nr == 0) {
        snprintf(msg, sizeof msg, "the %s names no identifier for its receiving party", doctype);
        edix_verdict_add(v, EDIX_SEV_ERROR, "EDIX-RECEIVER", msg, path);
        return 0;
    }
    if (!receiver) {
        edix_buf_t b;
        edix_buf_init(&b);
        edix_buf_addf(&b, "no partner is registered under the receiving party's identifiers (");
        s_list(&b, v, 1);
        edix_buf_adds(&b, ")");
        edix_verdict_add(v, EDIX_SEV_ERROR, "EDIX-RECEIVER", b.data, path);
        edix_buf_free(&b);
        return 0;
    }
    int active = edix_store_partner_active(store, receiver, err);
    if (active < 0 ||
        (may = edix_store_partner_may(store, receiver, EDIX_DIR_RECEIVE, doctype, err)) < 0) {
        free(receiver);
        return -1;
    }
    if (!active) {
        snprintf(msg, sizeof msg, "the receiving partner '%s' is suspended", receiver);
        edix_verdict_add(v, EDIX_SEV_ERROR, "EDIX-RECEIVER", msg, path);
    } else if (!may) {
        snprintf(msg, sizeof msg, "partner '%s' may not receive %s", receiver, doctype);
        edix_verdict_add(v, EDIX_SEV_ERROR, "EDIX-PERMISSION", msg, path);
    }
    *receiver_p = receiver;
    return 0;
}
