/*
 * test_crypto.c - unit tests of crypto.c: SHA-256 against the FIPS 180-2
 * vectors, Ed25519 against RFC 8032 (test 1, loaded from a PKCS#8 file) and
 * with fresh keys (a changed byte of data, signature or key fails), key
 * files (0600, never overwritten, a key readable by others refused), CURVE
 * key pairs, and hub message ids (unique, sorted by time, over 10,000).
 */
#include "crypto.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* RFC 8032 section 7.1, TEST 1: the secret key as PKCS#8 PEM */
static const char s_rfc8032_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
static const char s_rfc8032_pub[] =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char s_rfc8032_sig_empty[] =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b4"
    "6bd25bf5f0595bbe24655141438e7a100b";
/* Ed25519 is deterministic: the same key signs "abc" so, always */
static const char s_rfc8032_sig_abc[] =
    "80d724b01e7ca260f4cc7f8de7c95f73cfac615bab1f762b6435b6ec26c8cf6d2c758dae2f87399a8eeda1cbcd2835"
    "ac5ba66d6ecaa3aba5e567a751053dc207";

typedef struct {
    char dir[64]; /* the test's temporary directory */
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/edix-test-crypto-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    char *cmd = xasprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f);
    return 0;
}

static mode_t
s_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        fail_msg("stat %s: got an error, want the file", path);
    return st.st_mode & 07777;
}

/* flip one hex digit at i (stays hex) */
static void
s_flip_hex(char *hex, size_t i)
{
    hex[i] = hex[i] == '0' ? '1' : '0';
}

/* ---- SHA-256 ------------------------------------------------------------- */

static void
test_sha256_vectors(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"The quick brown fox jumps over the lazy dog",
         "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hex[EDIX_SHA256_HEX];
        edix_sha256_hex(cases[i].in, strlen(cases[i].in), hex);
        if (strcmp(hex, cases[i].want) != 0)
            fail_msg("sha256(\"%s\"): got %s, want %s", cases[i].in, hex, cases[i].want);
    }
}

static void
test_sha256_million_a(void **state)
{
    char *a = xmalloc(1000000);
    unsigned char raw[32];
    char hex[EDIX_SHA256_HEX];
    (void)state;
    memset(a, 'a', 1000000);
    edix_sha256(a, 1000000, raw);
    edix_hex(raw, 32, hex);
    free(a);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* ---- Ed25519 ------------------------------------------------------------ */

static void
test_sign_rfc8032(void **state)
{
    fixture_t *f = *state;
    char *path = xasprintf("%s/rfc.pem", f->dir), *err = NULL;
    char pub[EDIX_SIGN_PUB_HEX], sig[EDIX_SIG_HEX];

    assert_int_equal(edix_file_write(path, s_rfc8032_pem, strlen(s_rfc8032_pem), 0600, 1, &err), 0);
    edix_signkey_t *key = edix_signkey_load(path, &err);
    if (!key)
        fail_msg("load: got error %s, want the key", err ? err : "?");
    edix_signkey_public_hex(key, pub);
    if (strcmp(pub, s_rfc8032_pub) != 0)
        fail_msg("public key: got %s, want %s", pub, s_rfc8032_pub);
    assert_int_equal(edix_signkey_sign(key, "", 0, sig, &err), 0);
    if (strcmp(sig, s_rfc8032_sig_empty) != 0)
        fail_msg("signature of \"\": got %s, want %s", sig, s_rfc8032_sig_empty);
    assert_int_equal(edix_signkey_sign(key, "abc", 3, sig, &err), 0);
    if (strcmp(sig, s_rfc8032_sig_abc) != 0)
        fail_msg("signature of \"abc\": got %s, want %s", sig, s_rfc8032_sig_abc);
    assert_int_equal(edix_sign_verify(s_rfc8032_pub, "", 0, s_rfc8032_sig_empty), 0);
    assert_int_equal(edix_sign_verify(s_rfc8032_pub, "abc", 3, s_rfc8032_sig_abc), 0);
    /* the signature of one message is no signature of another */
    assert_int_equal(edix_sign_verify(s_rfc8032_pub, "abc", 3, s_rfc8032_sig_empty), -1);
    edix_signkey_destroy(&key);
    assert_null(key);
    edix_signkey_destroy(&key); /* idempotent */
    assert_null(err);
    free(path);
}

static void
test_sign_verify(void **state)
{
    static const char doc[] = "<Invoice>4711</Invoice>";
    char *err = NULL;
    char pub[EDIX_SIGN_PUB_HEX], pub2[EDIX_SIGN_PUB_HEX], sig[EDIX_SIG_HEX];
    (void)state;

    edix_signkey_t *key = edix_signkey_generate(&err);
    edix_signkey_t *other = edix_signkey_generate(&err);
    assert_non_null(key);
    assert_non_null(other);
    edix_signkey_public_hex(key, pub);
    edix_signkey_public_hex(other, pub2);
    assert_int_equal(strlen(pub), 64);
    assert_string_not_equal(pub, pub2);
    assert_int_equal(edix_signkey_sign(key, doc, strlen(doc), sig, &err), 0);
    assert_int_equal(strlen(sig), 128);
    assert_int_equal(edix_sign_verify(pub, doc, strlen(doc), sig), 0);

    /* every changed byte of the data fails */
    char *copy = xstrdup(doc);
    for (size_t i = 0; i < strlen(doc); i++) {
        copy[i] ^= 0x01;
        if (edix_sign_verify(pub, copy, strlen(copy), sig) != -1)
            fail_msg("data byte %zu changed: got valid, want -1", i);
        copy[i] = doc[i];
    }
    free(copy);
    /* shorter or longer data fails */
    assert_int_equal(edix_sign_verify(pub, doc, strlen(doc) - 1, sig), -1);
    assert_int_equal(edix_sign_verify(pub, doc, sizeof doc, sig), -1);

    /* every changed hex digit of the signature fails */
    for (size_t i = 0; i < 128; i++) {
        char bad[EDIX_SIG_HEX];
        memcpy(bad, sig, sizeof bad);
        s_flip_hex(bad, i);
        if (edix_sign_verify(pub, doc, strlen(doc), bad) != -1)
            fail_msg("signature digit %zu changed: got valid, want -1", i);
    }
    /* another key, a changed key, malformed input */
    assert_int_equal(edix_sign_verify(pub2, doc, strlen(doc), sig), -1);
    char badpub[EDIX_SIGN_PUB_HEX];
    memcpy(badpub, pub, sizeof badpub);
    s_flip_hex(badpub, 10);
    assert_int_equal(edix_sign_verify(badpub, doc, strlen(doc), sig), -1);
    static const char *malformed[] = {"", "00", "zz", NULL};
    for (size_t i = 0; malformed[i]; i++) {
        if (edix_sign_verify(malformed[i], doc, strlen(doc), sig) != -1)
            fail_msg("public key \"%s\": got valid, want -1", malformed[i]);
        if (edix_sign_verify(pub, doc, strlen(doc), malformed[i]) != -1)
            fail_msg("signature \"%s\": got valid, want -1", malformed[i]);
    }
    char longsig[EDIX_SIG_HEX + 2];
    snprintf(longsig, sizeof longsig, "%s00", sig);
    assert_int_equal(edix_sign_verify(pub, doc, strlen(doc), longsig), -1);
    assert_int_equal(edix_sign_verify(NULL, doc, strlen(doc), sig), -1);
    assert_int_equal(edix_sign_verify(pub, doc, strlen(doc), NULL), -1);

    edix_signkey_destroy(&key);
    edix_signkey_destroy(&other);
    assert_null(err);
}

static void
test_signkey_files(void **state)
{
    fixture_t *f = *state;
    char *path = xasprintf("%s/hub-sign.key", f->dir), *err = NULL;
    char pub[EDIX_SIGN_PUB_HEX], pub2[EDIX_SIGN_PUB_HEX], sig[EDIX_SIG_HEX];
    mode_t old = umask(0); /* 0600 must not depend on the umask */

    edix_signkey_t *key = edix_signkey_generate(&err);
    assert_non_null(key);
    if (edix_signkey_save(key, path, &err) != 0)
        fail_msg("save: got error %s, want success", err ? err : "?");
    umask(old);
    if (s_mode(path) != 0600)
        fail_msg("key file mode: got %04o, want 0600", (unsigned)s_mode(path));

    /* never replaced */
    edix_signkey_t *other = edix_signkey_generate(&err);
    assert_int_equal(edix_signkey_save(other, path, &err), -1);
    assert_non_null(err);
    if (!strstr(err, "exists already"))
        fail_msg("error: got \"%s\", want it to say \"exists already\"", err);
    free(err);
    err = NULL;
    edix_signkey_destroy(&other);

    /* loads back to the same key */
    edix_signkey_t *back = edix_signkey_load(path, &err);
    if (!back)
        fail_msg("load: got error %s, want the key", err ? err : "?");
    edix_signkey_public_hex(key, pub);
    edix_signkey_public_hex(back, pub2);
    assert_string_equal(pub, pub2);
    assert_int_equal(edix_signkey_sign(back, "x", 1, sig, &err), 0);
    assert_int_equal(edix_sign_verify(pub, "x", 1, sig), 0);
    edix_signkey_destroy(&back);

    /* readable by group or others: refused */
    static const mode_t loose[] = {0644, 0640, 0604, 0660};
    for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
        assert_int_equal(chmod(path, loose[i]), 0);
        back = edix_signkey_load(path, &err);
        if (back)
            fail_msg("load with mode %04o: got the key, want a refusal", (unsigned)loose[i]);
        assert_non_null(err);
        if (!strstr(err, "readable by others"))
            fail_msg("mode %04o: got \"%s\", want \"readable by others\"", (unsigned)loose[i], err);
        free(err);
        err = NULL;
    }
    assert_int_equal(chmod(path, 0400), 0);
    back = edix_signkey_load(path, &err);
    assert_non_null(back);
    edix_signkey_destroy(&back);

    /* missing file, or no key in it */
    char *none = xasprintf("%s/none.key", f->dir);
    assert_null(edix_signkey_load(none, &err));
    assert_non_null(err);
    free(err);
    err = NULL;
    assert_int_equal(edix_file_write(none, "not a key\n", 10, 0600, 1, &err), 0);
    assert_null(edix_signkey_load(none, &err));
    assert_non_null(strstr(err, "no Ed25519 private key"));
    free(err);
    free(none);

    edix_signkey_destroy(&key);
    free(path);
}

/* ---- CURVE -------------------------------------------------------------- */

static void
test_curve_keypair(void **state)
{
    char pub[EDIX_Z85_KEY], sec[EDIX_Z85_KEY], pub2[EDIX_Z85_KEY], sec2[EDIX_Z85_KEY];
    char *err = NULL;
    (void)state;
    assert_int_equal(edix_curve_keypair(pub, sec, &err), 0);
    assert_int_equal(edix_curve_keypair(pub2, sec2, &err), 0);
    assert_int_equal(strlen(pub), 40);
    assert_int_equal(strlen(sec), 40);
    assert_true(edix_curve_key_valid(pub));
    assert_true(edix_curve_key_valid(sec));
    assert_string_not_equal(pub, sec);
    assert_string_not_equal(pub, pub2);
    assert_string_not_equal(sec, sec2);
    assert_null(err);
}

static void
test_curve_key_valid(void **state)
{
    static const struct {
        const char *key;
        int want;
    } cases[] = {
        {"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", 1}, /* the ZeroMQ RFC 26 example */
        {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID", 1},
        {"0000000000000000000000000000000000000000", 1},
        {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI", 0},   /* 39 */
        {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hIDx", 0}, /* 41 */
        {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{h D", 0},  /* space */
        {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{h~D", 0},  /* ~ is no Z85 */
        {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{h\"D", 0},
        {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{h,D", 0},
        {"", 0},
        {NULL, 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = edix_curve_key_valid(cases[i].key) ? 1 : 0;
        if (got != cases[i].want)
            fail_msg("curve_key_valid(\"%s\"): got %d, want %d",
                     cases[i].key ? cases[i].key : "(null)", got, cases[i].want);
    }
}

/* ---- identifiers -------------------------------------------------------- */

static int
s_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void
test_message_ids(void **state)
{
    enum { N = 10000 };
    char(*ids)[25] = xcalloc(N, sizeof *ids);
    char(*sorted)[25] = xcalloc(N, sizeof *sorted);
    (void)state;

    int64_t before = edix_now_ms();
    for (int i = 0; i < N; i++)
        edix_message_id(ids[i]);
    int64_t after = edix_now_ms();

    for (int i = 0; i < N; i++) {
        if (strlen(ids[i]) != 24 || strspn(ids[i], "0123456789abcdef") != 24)
            fail_msg("id %d: got \"%s\", want 24 lowercase hex digits", i, ids[i]);
        char prefix[13];
        memcpy(prefix, ids[i], 12);
        prefix[12] = '\0';
        long long ms = strtoll(prefix, NULL, 16);
        if (ms < before || ms > after)
            fail_msg("id %d: got time %lld, want %lld..%lld", i, ms, (long long)before,
                     (long long)after);
        /* drawn later: never sorts before an earlier one of an earlier ms */
        if (i > 0 && memcmp(ids[i - 1], ids[i], 12) > 0)
            fail_msg("ids %d and %d: got %s before %s, want time order", i - 1, i, ids[i - 1],
                     ids[i]);
    }
    /* sorting the ids as text sorts them by time */
    memcpy(sorted, ids, N * sizeof *ids);
    qsort(sorted, N, sizeof *sorted, s_cmp);
    for (int i = 1; i < N; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            fail_msg("id %s: got it twice, want every id unique", sorted[i]);
        if (memcmp(sorted[i - 1], sorted[i], 12) > 0)
            fail_msg("sorted ids: got %s before %s, want time order", sorted[i - 1], sorted[i]);
    }
    free(ids);
    free(sorted);
}

static void
test_random_hex(void **state)
{
    char a[129], b[129];
    (void)state;
    assert_int_equal(edix_random_hex(a, 64), 0);
    assert_int_equal(edix_random_hex(b, 64), 0);
    assert_int_equal(strlen(a), 128);
    assert_int_equal(strspn(a, "0123456789abcdef"), 128);
    assert_string_not_equal(a, b);
    assert_int_equal(edix_random_hex(a, 65), -1); /* more than it promises */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_million_a),
        cmocka_unit_test_setup_teardown(test_sign_rfc8032, setup, teardown),
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test_setup_teardown(test_signkey_files, setup, teardown),
        cmocka_unit_test(test_curve_keypair),
        cmocka_unit_test(test_curve_key_valid),
        cmocka_unit_test(test_message_ids),
        cmocka_unit_test(test_random_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
