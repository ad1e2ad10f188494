/*
 * store.h - the hub's durable store (SQLite): partners and their keys,
 * identifiers and document types, messages, document bodies, deliveries and
 * the hash-chained audit log.
 *
 * The store is the truth.  Every write runs inside edix_store_begin() ...
 * edix_store_commit() (BEGIN IMMEDIATE, WAL, synchronous=FULL), and a state
 * change appends its audit record in the same transaction, so both commit
 * or neither does.  This module alone holds sqlite3 *.
 *
 * Errors: functions return 0 on success and -1 with a reason in *err
 * (caller frees).  Look-ups that may find nothing return 1 for "not found".
 * edix_store_busy(self) tells whether the last failure was a temporary one
 * (locked, busy, disk full, I/O) rather than a permanent one.
 */
#ifndef EDIX_STORE_H
#define EDIX_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct edix_store edix_store_t;

/* Open (create with 0600 if create is set) and migrate to the current
 * schema; checks integrity (quick_check) first. */
edix_store_t *edix_store_open(const char *path, int create, char **err);
void edix_store_close(edix_store_t **self_p);
/* Move WAL checkpoints off this connection's commits: a thread with its own
 * connection copies the WAL back into the database when it has grown, so a
 * commit returns after its own fsync and not after a checkpoint's writes.
 * For the long-running services; 0, or -1 with the reason. */
int edix_store_checkpoint_in_background(edix_store_t *self, char **err);
/* 1 when the last failure was temporary (busy, locked, full, I/O error) */
int edix_store_temporary(const edix_store_t *self);

int edix_store_begin(edix_store_t *self, char **err);
/* A read transaction: every look-up until edix_store_end_read sees one
 * snapshot and shares one set of locks, instead of taking and dropping
 * them per statement.  Never around a write. */
int edix_store_begin_read(edix_store_t *self, char **err);
void edix_store_end_read(edix_store_t *self);
int edix_store_commit(edix_store_t *self, char **err);
void edix_store_rollback(edix_store_t *self);
/* PRAGMA integrity_check: 0 when "ok", else -1 with the first complaint */
int edix_store_integrity(edix_store_t *self, char **err);

/* ---- audit chain --------------------------------------------------- */

/* Append inside the caller's transaction.  msgid and details may be NULL. */
int edix_audit_append(edix_store_t *self, const char *actor, const char *event, const char *msgid,
                      const char *details, char **err);
/* Walk the chain.  Returns 0 intact (*count records), 1 tampered (*bad_seq
 * is the first bad record, *err says what is wrong), -1 on error. */
int edix_audit_verify(edix_store_t *self, int64_t *count, int64_t *bad_seq, char **err);

typedef struct {
    int64_t seq;   /* position in the chain, from 1 */
    int64_t at_ms; /* when */
    char *actor;   /* OS user for admin actions, service name otherwise */
    char *event;   /* what happened: partner.add, message.accepted, ... */
    char *msgid;   /* the message concerned, or NULL */
    char *details; /* free text, key=value */
    char *hash;    /* hex SHA-256 */
} edix_audit_rec_t;

/* Records of one message (msgid) or all (msgid NULL), oldest first.
 * limit <= 0: no limit. */
int edix_audit_list(edix_store_t *self, const char *msgid, int limit, edix_audit_rec_t **recs_p,
                    size_t *count_p, char **err);
void edix_audit_recs_free(edix_audit_rec_t *recs, size_t count);

/* ---- partners ------------------------------------------------------ */

#define EDIX_DIR_SEND    "send"
#define EDIX_DIR_RECEIVE "receive"

typedef struct {
    char *id;               /* the administrator's name for the partner */
    char *name;             /* display name */
    char *state;            /* active | suspended */
    char *curve_public;     /* current CURVE public key (Z85) */
    int64_t created_ms;     /* when onboarded */
    int64_t key_created_ms; /* when the current key was issued */
    char **ids;             /* "scheme:value" identifiers */
    size_t id_count;
    char **send; /* document types it may send ("*" for all) */
    size_t send_count;
    char **receive; /* document types it may receive */
    size_t receive_count;
} edix_partner_t;

void edix_partner_free(edix_partner_t *p);
void edix_partners_free(edix_partner_t *p, size_t count);

/* Inside a transaction.  Refuses (-1, one-line reason) a duplicate id, a
 * key or an identifier owned by another partner. */
int edix_store_partner_add(edix_store_t *self, const edix_partner_t *p, char **err);
/* 0 found, 1 not found, -1 error */
int edix_store_partner_get(edix_store_t *self, const char *id, edix_partner_t *out, char **err);
int edix_store_partner_list(edix_store_t *self, edix_partner_t **list_p, size_t *count_p,
                            char **err);
/* Inside a transaction: active | suspended.  1 when no such partner. */
int edix_store_partner_set_state(edix_store_t *self, const char *id, const char *state, char **err);
/* Inside a transaction: the new key becomes current; the old ones stop
 * being admitted at overlap_until_ms (0: at once). */
int edix_store_partner_rekey(edix_store_t *self, const char *id, const char *curve_public,
                             int64_t overlap_until_ms, char **err);
/* Which active partner holds this CURVE public key now?  0 and *id_p
 * (caller frees), 1 when none (unknown, retired or suspended), -1 error. */
int edix_store_partner_by_key(edix_store_t *self, const char *curve_public, char **id_p,
                              char **err);
/* 1 active, 0 suspended or unknown, -1 error */
int edix_store_partner_active(edix_store_t *self, const char *id, char **err);
/* Who owns "scheme:value"?  0 and *id_p, 1 none, -1 error */
int edix_store_partner_by_identifier(edix_store_t *self, const char *scheme_value, char **id_p,
                                     char **err);
/* 1 when partner may send/receive doctype, 0 not, -1 error */
int edix_store_partner_may(edix_store_t *self, const char *id, const char *direction,
                           const char *doctype, char **err);

/* ---- messages and deliveries -------------------------------------------- */

typedef struct {
    char *id;        /* hub message id */
    char *sender;    /* partner id, or "hub" for status notifications */
    char *client_id; /* the sender's own id (NULL for notifications) */
    char *receiver;  /* partner id once resolved, else NULL */
    char *kind;      /* document | status */
    char *ref;       /* status: the message reported on */
    char *doctype;   /* root element, once known */
    char *state;     /* accepted validated routed delivered rejected */
    int64_t size;    /* bytes */
    char *sha256;    /* hex of the bytes */
    int64_t received_ms;
    int64_t updated_ms;
    char *receipt;    /* signed statement (documents) */
    char *signature;  /* of the receipt (documents) or of the body (notifications) */
    char *reasons;    /* JSON array when rejected */
    char *doc_number; /* the document's own ID */
    char *order_ref;  /* the order it refers to */
} edix_msg_t;

void edix_msg_free(edix_msg_t *m);
void edix_msgs_free(edix_msg_t *list, size_t count);

/* Inside a transaction: a new message, its body and nothing else. */
int edix_store_msg_insert(edix_store_t *self, const edix_msg_t *m, const void *body, size_t len,
                          char **err);
/* 0 found, 1 not found, -1 error */
int edix_store_msg_get(edix_store_t *self, const char *id, edix_msg_t *out, char **err);
int edix_store_msg_by_client(edix_store_t *self, const char *sender, const char *client_id,
                             edix_msg_t *out, char **err);
/* the body, malloc'd; 1 when gone */
int edix_store_msg_body(edix_store_t *self, const char *id, char **body_p, size_t *len_p,
                        char **err);
/* ids of up to limit messages in state, oldest first */
int edix_store_msg_ids(edix_store_t *self, const char *state, int limit, char ***ids_p,
                       size_t *count_p, char **err);
void edix_ids_free(char **ids, size_t count);
/* Inside a transaction: move m->id from from_state to m->state, setting
 * receiver, doctype, reasons, doc_number and order_ref from m.  0 moved,
 * 1 not in from_state (another worker got there first), -1 error. */
int edix_store_msg_transition(edix_store_t *self, const edix_msg_t *m, const char *from_state,
                              char **err);
/* Listing for administrators: by partner (sender or receiver), state. */
int edix_store_msg_list(edix_store_t *self, const char *partner, const char *state,
                        const char *business_id, int limit, edix_msg_t **list_p, size_t *count_p,
                        char **err);

typedef struct {
    char *msg_id;
    char *receiver;
    char *state; /* pending | delivered */
    int attempts;
    int64_t next_ms; /* due from then */
    int64_t last_ms; /* last attempt */
    int64_t delivered_ms;
} edix_delivery_t;

/* Inside a transaction: queue id for receiver. */
int edix_store_delivery_add(edix_store_t *self, const char *msg_id, const char *receiver,
                            char **err);
/* pending deliveries for receiver due at now, oldest first */
int edix_store_delivery_due(edix_store_t *self, const char *receiver, int64_t now, int limit,
                            char ***ids_p, size_t *count_p, char **err);
/* Inside a transaction: one more attempt; due again at next_ms. */
int edix_store_delivery_attempt(edix_store_t *self, const char *msg_id, int64_t now,
                                int64_t next_ms, char **err);
/* Inside a transaction: every pending delivery of receiver due now (a reconnect). */
int edix_store_delivery_reset(edix_store_t *self, const char *receiver, char **err);
/* Inside a transaction: acknowledged by receiver.  0 recorded now, 1 not
 * pending for that receiver (a repeat ack, or not theirs), -1 error. */
int edix_store_delivery_done(edix_store_t *self, const char *msg_id, const char *receiver,
                             char **err);
/* What a DELIVER needs, in one look-up: the message's sender, doctype,
 * kind, signature (notices), the body and the attempts so far.  0 found,
 * 1 gone (not pending), -1 error.  Strings and body malloc'd into out. */
typedef struct {
    char *sender;
    char *doctype;
    char *kind;
    char *signature;
    char *body;
    size_t len;
    int attempts;
} edix_outgoing_t;
int edix_store_delivery_load(edix_store_t *self, const char *msg_id, edix_outgoing_t *out,
                             char **err);
void edix_outgoing_free(edix_outgoing_t *o);

/* 0 found, 1 none */
int edix_store_delivery_get(edix_store_t *self, const char *msg_id, edix_delivery_t *out,
                            char **err);
void edix_delivery_free(edix_delivery_t *d);
/* the earliest next_ms of receiver's pending deliveries; 1 when none */
int edix_store_delivery_next(edix_store_t *self, const char *receiver, int64_t *next_ms,
                             char **err);

/* ---- statistics ----------------------------------------------------------- */

typedef struct {
    char *partner;             /* partner id */
    char *doctype;             /* document type, "-" when unknown */
    int64_t sent;              /* documents it submitted */
    int64_t received;          /* documents delivered to it */
    int64_t rejected;          /* of those it sent */
    int64_t pending;           /* of those it sent: not yet delivered or rejected */
    int64_t oldest_pending_ms; /* received time of the oldest pending, 0 if none */
} edix_stat_t;

int edix_store_stats(edix_store_t *self, edix_stat_t **rows_p, size_t *count_p, char **err);
void edix_stats_free(edix_stat_t *rows, size_t count);

/* ---- operations: resend, retention (common/store_ops.c) ------------------- */

/* Inside a transaction: offer a routed or delivered message to its receiver
 * again: its delivery becomes pending and due now, a delivered message goes
 * back to routed (the router records the new delivery as usual).  0 queued
 * (*receiver_p and *was_p, the state before, caller frees), 1 refused with a
 * one-line reason in *err (no such message, never routed, body purged),
 * -1 error. */
int edix_store_msg_resend(edix_store_t *self, const char *id, char **receiver_p, char **was_p,
                          char **err);
/* 1 when the message's body is stored, 0 when it is gone (purged), -1 error */
int edix_store_msg_has_body(edix_store_t *self, const char *id, char **err);
/* The status notifications the hub sent about message ref, oldest first. */
int edix_store_msg_notices(edix_store_t *self, const char *ref, edix_msg_t **list_p,
                           size_t *count_p, char **err);
/* Inside a transaction: delete the bodies of messages in a final state
 * (delivered, rejected) since before cutoff_ms, with no delivery pending.
 * The message rows, their SHA-256 and the audit chain stay.  *count_p and
 * *bytes_p say how many bodies and bytes went.  With dry_run set, only
 * counts. */
int edix_store_purge_bodies(edix_store_t *self, int64_t cutoff_ms, int dry_run, int64_t *count_p,
                            int64_t *bytes_p, char **err);

#endif
