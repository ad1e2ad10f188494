/*
 * config.h - the hub's configuration file (HOME/edix.conf) and partner
 * bundles, both "key = value" text with # comments.
 *
 * Unknown keys in edix.conf are an error (a typo must not silently fall
 * back to a default); a missing key takes its default.
 */
#ifndef EDIX_CONFIG_H
#define EDIX_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* A parsed key = value file. */
typedef struct edix_kv edix_kv_t;
edix_kv_t *edix_kv_load(const char *path, char **err);
edix_kv_t *edix_kv_parse(const char *text, const char *name, char **err);
const char *edix_kv_get(const edix_kv_t *self, const char *key); /* NULL if absent */
size_t edix_kv_count(const edix_kv_t *self);
const char *edix_kv_key(const edix_kv_t *self, size_t i);
void edix_kv_destroy(edix_kv_t **self_p);

typedef struct {
    char *home;               /* the hub's home directory */
    char *store_path;         /* HOME/edix.db */
    char *intake_endpoint;    /* partner-facing submit endpoint (CURVE) */
    char *delivery_endpoint;  /* partner-facing delivery endpoint (CURVE) */
    char *public_intake;      /* the intake endpoint as partners reach it */
    char *public_delivery;    /* the delivery endpoint as partners reach it */
    char *validator_endpoint; /* intake -> validators (ipc) */
    char *router_endpoint;    /* validators -> router (ipc) */
    char *schema_dir;         /* the OASIS UBL 2.1 schemas (xsdrt or xsd) */
    char *catalogue;          /* schemas/doctypes.conf */
    size_t max_document_size; /* bytes; larger submissions are refused */
    int ack_timeout_ms;       /* redeliver when a receiver has not acked */
    int retry_max_ms;         /* cap of the redelivery backoff */
    int rescan_ms;            /* how often stages look for work in the store */
    int batch_max;            /* documents per transaction (group commit) */
    int retention_days;       /* purge keeps bodies this long after the end (0: forever) */
} edix_config_t;

/* Load HOME/edix.conf; NULL with a one-line reason in *err. */
edix_config_t *edix_config_load(const char *home, char **err);
void edix_config_destroy(edix_config_t **self_p);
/* The text of a new, fully commented edix.conf. */
char *edix_config_template(const char *intake, const char *delivery, const char *schema_dir,
                           const char *catalogue);
/* Where our own data files are: the source tree's schemas/ when run from a
 * build tree, else the installed share/edix.  Returns a path (static). */
const char *edix_datadir(void);

/* A partner bundle: what a partner's system needs, and nothing of the hub's secrets. */
typedef struct {
    char *partner;            /* partner id */
    char *curve_public;       /* the partner's CURVE public key (Z85) */
    char *curve_secret;       /* the partner's CURVE secret key (Z85) */
    char *hub_curve_public;   /* the hub's CURVE public key (Z85) */
    char *intake_endpoint;    /* where to submit */
    char *delivery_endpoint;  /* where to receive */
    char *hub_sign_public;    /* the hub's receipt-verification key (hex Ed25519) */
    size_t max_document_size; /* the hub's size cap, so clients refuse larger documents
                                 locally (0: not stated) */
} edix_bundle_t;

edix_bundle_t *edix_bundle_load(const char *path, char **err);
/* writes 0600, refusing to replace an existing file */
int edix_bundle_save(const edix_bundle_t *self, const char *path, char **err);
void edix_bundle_destroy(edix_bundle_t **self_p);

/* The hub's public identity from HOME/keys: CURVE key pair (the secret only
 * when asked for) and the receipt-verification key. */
typedef struct {
    char curve_public[41]; /* Z85 */
    char curve_secret[41]; /* Z85, empty unless asked for */
    char sign_public[65];  /* hex Ed25519 */
} edix_hub_keys_t;

int edix_hub_keys_load(const char *home, int with_secret, edix_hub_keys_t *out, char **err);

#endif
