/*
 * edix/edix.h - the partner client for an edix hub, for ERP integrations
 * and for edix-partner.  Link with libedix.
 *
 * What it is for: submitting UBL documents to the hub and getting a signed
 * receipt for each, asking for a document's state, and receiving the
 * documents addressed to this partner into a directory.  Everything the
 * client needs (keys, endpoints, the hub's receipt-verification key) comes
 * from the partner bundle that `edix-admin partner add` writes.
 *
 * What it guarantees:
 *  - A submission is retried with the same client id until the hub answers,
 *    so a lost reply never duplicates a document (the hub answers a repeat
 *    with the original receipt).
 *  - A receipt is returned only after its Ed25519 signature verified with
 *    the bundle's hub_sign_public and it names exactly the bytes sent (size
 *    and SHA-256), our client id and the hub id it came with.
 *  - A received document is on disk (temp file, fsync, rename, fsync of the
 *    directory) before it is acknowledged; documents from the hub itself
 *    are acknowledged only when the hub's signature verifies.
 *
 * On failure: functions return -1 (constructors NULL) and put a one-line
 * reason in *err, a malloc'd string the caller frees.  Where there is a
 * code out-parameter it carries the hub's ERROR code (400 malformed, 403 not
 * admitted, 404 no such message, 409 client id reused for other bytes, 413
 * too large, 503 temporary) or 0 for a local problem or a timeout.
 *
 * A client is not thread-safe: use one per thread.  No ZeroMQ, SQLite,
 * OpenSSL or libxml2 type appears here.
 */
#ifndef EDIX_EDIX_H
#define EDIX_EDIX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct edix_client edix_client_t;

/* Load the partner bundle; NULL with *err if it cannot be used.  The
 * client connects lazily, on its first request.  When the bundle has the
 * optional key max_document_size (the hub's cap, in bytes), larger
 * documents are refused locally with code 413 instead of being sent. */
edix_client_t *edix_client_new(const char *bundle_path, char **err);
void edix_client_destroy(edix_client_t **self_p);
/* the partner id from the bundle */
const char *edix_client_partner(const edix_client_t *self);

/* A verified receipt: the hub's proof that it stored the document. */
typedef struct {
    char hub_id[129];    /* the hub's message id for the document */
    char client_id[129]; /* the client id it was submitted with */
    char *statement;     /* signed receipt statement text, malloc'd */
    char signature[129]; /* Ed25519 signature of statement, 128 hex digits */
} edix_receipt_t;

/* free the statement and zero the receipt; safe on a zeroed receipt */
void edix_receipt_clear(edix_receipt_t *r);

/* Submit doc (len bytes) under client_id (1-128 printable ASCII characters
 * without spaces).  Resends with the SAME client id every ~1 s, backing off
 * to 5 s, until a RECEIPT or an ERROR arrives or timeout_ms passes; an
 * ERROR 503 (temporary) is retried the same way until timeout_ms.  Fails at
 * once when the hub refuses this partner's CURVE key.  Returns 0 with the
 * verified receipt in *out, or -1 with *err and *code. */
int edix_client_submit(edix_client_t *self, const char *client_id, const void *doc, size_t len,
                       int timeout_ms, edix_receipt_t *out, int *code, char **err);

/* Many submissions at once, pipelined on one connection (up to 64 in
 * flight): much faster than one edix_client_submit after the other. */
typedef struct {
    const char *client_id;  /* in: the partner's id for this submission */
    const void *doc;        /* in: the document bytes */
    size_t len;             /* in: their length */
    int status;             /* out: 0 not finished, 1 receipt, -1 failed */
    edix_receipt_t receipt; /* out: the verified receipt when status is 1 */
    int code;               /* out: when -1, the hub's ERROR code or 0 */
    char *err;              /* out: when -1, why (malloc'd) */
} edix_submission_t;

/* called as each submission finishes (status 1 or -1), with its index */
typedef void(edix_submitted_fn)(void *arg, size_t index);

/* Submit subs[0..n); timeout_ms applies to each submission from when it is
 * first sent.  Returns 0 when every one got a receipt, -1 when any failed
 * (*err says why for the first failure; the items say it for each). */
int edix_client_submit_many(edix_client_t *self, edix_submission_t *subs, size_t n, int timeout_ms,
                            edix_submitted_fn *cb, void *arg, char **err);
/* free what a submission's outputs hold and reset them */
void edix_submission_clear(edix_submission_t *s);

/* Ask the state of one of this partner's messages: "accepted", "validated",
 * "routed", "delivered" or "rejected".  *state_p and *reasons_json_p are
 * malloc'd (reasons: a JSON array of {"rule","message","path"} objects,
 * empty text unless rejected).  0 ok, -1 error (*code 404: no such message). */
int edix_client_status(edix_client_t *self, const char *hub_id, int timeout_ms, char **state_p,
                       char **reasons_json_p, int *code, char **err);

/* Called after each acknowledged document with where it was written. */
typedef void(edix_receive_fn)(void *arg, const char *hub_id, const char *sender,
                              const char *doctype, const char *path);

/* Receive into dir (created if missing): DIR/<hub-id>.xml, written
 * atomically and fsynced, then acknowledged.  A repeat of a document
 * already on disk with identical bytes is acknowledged again; one with
 * different bytes is never overwritten (error), nor is a document from
 * the hub whose signature does not verify acknowledged (error).  Without
 * follow: return when no document arrived for 1.5 s (since the hub first
 * answered, or since the last one) or timeout_ms (<= 0: 30 s) passed; -1
 * if the hub never answered at all.  With follow: run until timeout_ms
 * (<= 0: forever) or until *stop (may be NULL; a flag a signal handler
 * sets) is nonzero, riding out hub restarts.  *count (may be NULL):
 * documents acknowledged by this call (a repeat within the call once). */
int edix_client_receive(edix_client_t *self, const char *dir, int follow, int timeout_ms,
                        volatile int *stop, edix_receive_fn *cb, void *arg, size_t *count,
                        char **err);

/* Verify a receipt offline: the signature of statement by the hub key
 * (64 hex digits), its format, and when doc is not NULL that its size and
 * sha256 match doc.  0 good, -1 bad with *err saying why. */
int edix_receipt_verify(const char *hub_sign_public_hex, const char *statement,
                        const char *signature_hex, const void *doc, size_t len, char **err);

/* The value of one "key: value" line of a statement (e.g. "received"),
 * malloc'd, or NULL when absent. */
char *edix_receipt_field(const char *statement, const char *key);

/* A receipt kept as one text file (what `edix-partner send --receipts`
 * writes): the statement exactly as signed, then one line
 * "signature: <128 hex digits>".  _text returns it malloc'd (NULL when r
 * has no statement); _split takes it apart again: 0 with *statement_p
 * (malloc'd) and signature, -1 with *err when it is not such a file. */
char *edix_receipt_text(const edix_receipt_t *r);
int edix_receipt_split(const char *text, char **statement_p, char signature[129], char **err);

/* the hub's receipt-verification key from the bundle (64 hex digits) */
const char *edix_client_hub_sign_public(const edix_client_t *self);

#ifdef __cplusplus
}
#endif

#endif
