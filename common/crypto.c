/*
 * crypto.c - SHA-256 through OpenSSL EVP; Ed25519 keys generated and kept
 * by OpenSSL (PKCS#8 PEM), their signatures made and checked by libsodium;
 * CURVE keys through ZeroMQ; random ids from the OpenSSL DRBG.
 *
 * Why libsodium for the signature arithmetic: it is already in every edix
 * process (ZeroMQ's CURVE uses it) and on this hardware it signs in 19 us
 * and verifies in 54 us where OpenSSL 3.0's EVP takes 45 us and 98 us.  A
 * receipt and a notice are signed for every document, and a partner checks
 * both, so this is a large share of the hub's and its partners' CPU.
 * Ed25519 is deterministic (RFC 8032): the signatures are the same bytes.
 */
#include "crypto.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

struct edix_signkey {
    EVP_PKEY *pkey;       /* Ed25519 private key, as stored */
    unsigned char sk[64]; /* the same key in libsodium's form (seed + public) */
    unsigned char pk[32]; /* public key */
};

static int
s_sodium(void)
{
    /* sodium_init is idempotent and thread-safe; 1 means "already done" */
    return sodium_init() < 0 ? -1 : 0;
}

/* derive libsodium's key from the OpenSSL key's seed */
static int
s_sodium_key(edix_signkey_t *self, char **err)
{
    unsigned char seed[32];
    size_t len = sizeof seed;
    if (s_sodium() < 0 || EVP_PKEY_get_raw_private_key(self->pkey, seed, &len) != 1 || len != 32 ||
        crypto_sign_seed_keypair(self->pk, self->sk, seed) != 0) {
        sodium_memzero(seed, sizeof seed);
        return edix_fail(err, "cannot prepare the signing key");
    }
    sodium_memzero(seed, sizeof seed);
    return 0;
}

void
edix_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void
edix_sha256_hex(const void *data, size_t len, char out[EDIX_SHA256_HEX])
{
    unsigned char md[32];
    edix_sha256(data, len, md);
    edix_hex(md, 32, out);
}

static const char *
s_ossl_error(void)
{
    static char buf[256];
    unsigned long e = ERR_get_error();
    if (!e)
        return "unknown OpenSSL error";
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

edix_signkey_t *
edix_signkey_generate(char **err)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pkey) <= 0) {
        edix_fail(err, "cannot generate an Ed25519 key: %s", s_ossl_error());
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    edix_signkey_t *self = xcalloc(1, sizeof *self);
    self->pkey = pkey;
    if (s_sodium_key(self, err) < 0)
        edix_signkey_destroy(&self);
    return self;
}

edix_signkey_t *
edix_signkey_load(const char *path, char **err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        edix_fail(err, "cannot open signing key %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
        edix_fail(err, "signing key %s is readable by others (mode %03o); chmod 600 it", path,
                  (unsigned)(st.st_mode & 0777));
        fclose(f);
        return NULL;
    }
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!pkey || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
        edix_fail(err, "%s holds no Ed25519 private key", path);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    edix_signkey_t *self = xcalloc(1, sizeof *self);
    self->pkey = pkey;
    if (s_sodium_key(self, err) < 0)
        edix_signkey_destroy(&self);
    return self;
}

int
edix_signkey_save(const edix_signkey_t *self, const char *path, char **err)
{
    int rc = -1;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || !PEM_write_bio_PrivateKey(bio, self->pkey, NULL, NULL, 0, NULL, NULL)) {
        edix_fail(err, "cannot encode the signing key: %s", s_ossl_error());
        goto out;
    }
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    rc = edix_file_write(path, data, (size_t)len, 0600, 1, err);
out:
    BIO_free(bio);
    return rc;
}

void
edix_signkey_destroy(edix_signkey_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    EVP_PKEY_free((*self_p)->pkey);
    sodium_memzero((*self_p)->sk, sizeof(*self_p)->sk);
    free(*self_p);
    *self_p = NULL;
}

void
edix_signkey_public_hex(const edix_signkey_t *self, char out[EDIX_SIGN_PUB_HEX])
{
    unsigned char raw[32];
    size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(self->pkey, raw, &len) != 1 || len != 32) {
        out[0] = '\0';
        return;
    }
    edix_hex(raw, 32, out);
}

int
edix_signkey_sign(const edix_signkey_t *self, const void *data, size_t len, char out[EDIX_SIG_HEX],
                  char **err)
{
    unsigned char sig[64];
    if (crypto_sign_detached(sig, NULL, data, len, self->sk) != 0)
        return edix_fail(err, "cannot sign");
    edix_hex(sig, 64, out);
    return 0;
}

int
edix_sign_verify(const char *pub_hex, const void *data, size_t len, const char *sig_hex)
{
    unsigned char pub[32], sig[64];
    if (!pub_hex || !sig_hex || edix_unhex(pub_hex, pub, 32) < 0 ||
        edix_unhex(sig_hex, sig, 64) < 0)
        return -1;
    if (s_sodium() < 0)
        return -1;
    return crypto_sign_verify_detached(sig, data, len, pub) == 0 ? 0 : -1;
}

int
edix_curve_keypair(char public_z85[EDIX_Z85_KEY], char secret_z85[EDIX_Z85_KEY], char **err)
{
    if (zmq_curve_keypair(public_z85, secret_z85) != 0)
        return edix_fail(err, "cannot generate a CURVE key pair: %s", zmq_strerror(errno));
    return 0;
}

int
edix_curve_key_valid(const char *s)
{
    if (!s || strlen(s) != 40)
        return 0;
    uint8_t raw[32];
    return zmq_z85_decode(raw, s) != NULL;
}

int
edix_random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    if (nbytes > sizeof raw || RAND_bytes(raw, (int)nbytes) != 1)
        return -1;
    edix_hex(raw, nbytes, out);
    return 0;
}

void
edix_message_id(char out[25])
{
    int64_t ms = edix_now_ms();
    unsigned char raw[6];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        /* the DRBG does not fail once seeded; if it does, no id is safe */
        abort();
    }
    snprintf(out, 13, "%012llx", (unsigned long long)ms & 0xffffffffffffULL);
    edix_hex(raw, 6, out + 12);
}
