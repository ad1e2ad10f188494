/*
 * crypto.h - hashes, the hub's Ed25519 signing key, CURVE key pairs and
 * random identifiers.  This module alone holds EVP_PKEY; callers see hex
 * strings and byte arrays.
 *
 * Signing keys are stored as PKCS#8 PEM in files created 0600.  Public keys
 * travel as 64 hex digits (the raw 32-byte Ed25519 key), signatures as 128
 * hex digits.  CURVE keys are Z85 text of 40 characters, as ZeroMQ prints them.
 */
#ifndef EDIX_CRYPTO_H
#define EDIX_CRYPTO_H

#include <stddef.h>

#define EDIX_SHA256_HEX   65  /* 64 hex digits and NUL */
#define EDIX_SIGN_PUB_HEX 65  /* raw Ed25519 public key in hex */
#define EDIX_SIG_HEX      129 /* Ed25519 signature in hex */
#define EDIX_Z85_KEY      41  /* CURVE key in Z85 and NUL */

void edix_sha256(const void *data, size_t len, unsigned char out[32]);
void edix_sha256_hex(const void *data, size_t len, char out[EDIX_SHA256_HEX]);

typedef struct edix_signkey edix_signkey_t;

/* a new random Ed25519 key */
edix_signkey_t *edix_signkey_generate(char **err);
/* PKCS#8 PEM, refused if the file is readable by others than its owner */
edix_signkey_t *edix_signkey_load(const char *path, char **err);
/* written 0600, never replacing an existing file */
int edix_signkey_save(const edix_signkey_t *self, const char *path, char **err);
void edix_signkey_destroy(edix_signkey_t **self_p);
void edix_signkey_public_hex(const edix_signkey_t *self, char out[EDIX_SIGN_PUB_HEX]);
int edix_signkey_sign(const edix_signkey_t *self, const void *data, size_t len,
                      char out[EDIX_SIG_HEX], char **err);
/* 0 when sig_hex is a valid signature of data by pub_hex, -1 otherwise */
int edix_sign_verify(const char *pub_hex, const void *data, size_t len, const char *sig_hex);

/* A CURVE key pair (Z85), from ZeroMQ's generator. */
int edix_curve_keypair(char public_z85[EDIX_Z85_KEY], char secret_z85[EDIX_Z85_KEY], char **err);
/* 1 when s looks like a Z85 CURVE key */
int edix_curve_key_valid(const char *s);

/* n random bytes as 2n hex digits into out (2n+1 bytes) */
int edix_random_hex(char *out, size_t nbytes);
/* a hub message id: 12 hex digits of milliseconds then 12 random hex digits,
 * so ids sort by arrival and never collide */
void edix_message_id(char out[25]);

#endif
