/*
 * test_client.c - unit tests of the partner client library: receipt
 * statements (parsing, signature, size and hash checks) with a signing key
 * made here, bundle loading, and the checks a client makes before it ever
 * talks to a hub.  The few cases that need an endpoint use an ipc:// path
 * where nothing listens, so no hub and no network are involved.
 */
#include "edix/edix.h"
#include "config.h"
#include "crypto.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static const char s_doc[] =
    "<Order xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Order-2\"/>";

typedef struct {
    edix_signkey_t *key;
    char pub[EDIX_SIGN_PUB_HEX];
    char sha[EDIX_SHA256_HEX];
    char dir[64];
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = xcalloc(1, sizeof *f);
    char *err = NULL;
    f->key = edix_signkey_generate(&err);
    assert_non_null(f->key);
    edix_signkey_public_hex(f->key, f->pub);
    edix_sha256_hex(s_doc, strlen(s_doc), f->sha);
    snprintf(f->dir, sizeof f->dir, "/tmp/edix-test-client-XXXXXX");
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
    edix_signkey_destroy(&f->key);
    free(f);
    return 0;
}

static char *
s_sign(const fixture_t *f, const char *stmt)
{
    char *sig = xmalloc(EDIX_SIG_HEX);
    char *err = NULL;
    assert_int_equal(edix_signkey_sign(f->key, stmt, strlen(stmt), sig, &err), 0);
    return sig;
}

static char *
s_statement(const fixture_t *f, const char *eol)
{
    return xasprintf("edix-receipt/1%s"
                     "hub-id: 0190f2a1c3d45e6f7a8b9c0d%s"
                     "client-id: PO-4711%s"
                     "sender: acme%s"
                     "size: %zu%s"
                     "sha256: %s%s"
                     "received: 2026-11-23T14:05:01.123Z%s",
                     eol, eol, eol, eol, strlen(s_doc), eol, f->sha, eol, eol);
}

/* a good receipt verifies, with and without the document */
static void
test_receipt_good(void **state)
{
    fixture_t *f = *state;
    const char *eols[] = {"\n", "\r\n"};
    for (size_t i = 0; i < 2; i++) {
        char *stmt = s_statement(f, eols[i]);
        char *sig = s_sign(f, stmt);
        char *err = NULL;
        int rc = edix_receipt_verify(f->pub, stmt, sig, s_doc, strlen(s_doc), &err);
        if (rc != 0)
            fail_msg("case %zu: got %d (%s), want 0", i, rc, err);
        assert_int_equal(edix_receipt_verify(f->pub, stmt, sig, NULL, 0, &err), 0);
        free(sig);
        free(stmt);
    }
}

/* Each case: a statement (signed as given unless tamper is set, then a
 * byte is changed after signing), the document it is checked against, and
 * a word the error must contain. */
typedef struct {
    const char *name;
    const char *stmt_fmt; /* %1$s size, %2$s sha256 */
    int tamper;           /* change the statement after signing */
    int other_key;        /* verify with a different key */
    const char *sig;      /* a fixed signature instead of the real one */
    const char *want;     /* in the error text */
} bad_case_t;

static void
test_receipt_bad(void **state)
{
    fixture_t *f = *state;
    static const bad_case_t cases[] = {
        {"tampered", "edix-receipt/1\nhub-id: H\nclient-id: C\nsize: %s\nsha256: %s\n", 1, 0, NULL,
         "does not verify"},
        {"other key", "edix-receipt/1\nhub-id: H\nclient-id: C\nsize: %s\nsha256: %s\n", 0, 1, NULL,
         "does not verify"},
        {"short signature", "edix-receipt/1\nhub-id: H\nclient-id: C\nsize: %s\nsha256: %s\n", 0, 0,
         "abcd", "128 hex"},
        {"signature not hex", "edix-receipt/1\nhub-id: H\nclient-id: C\nsize: %s\nsha256: %s\n", 0,
         0,
         "zz00000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000",
         "128 hex"},
        {"zero signature", "edix-receipt/1\nhub-id: H\nclient-id: C\nsize: %s\nsha256: %s\n", 0, 0,
         "0000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000",
         "does not verify"},
        {"no magic", "hub-id: H\nclient-id: C\nsize: %s\nsha256: %s\n", 0, 0, NULL,
         "not an edix receipt"},
        {"wrong version", "edix-receipt/2\nhub-id: H\nclient-id: C\nsize: %s\nsha256: %s\n", 0, 0,
         NULL, "not an edix receipt"},
        {"magic with suffix", "edix-receipt/10\nhub-id: H\nclient-id: C\nsize: %s\nsha256: %s\n", 0,
         0, NULL, "not an edix receipt"},
        {"no hub id", "edix-receipt/1\nclient-id: C\nsize: %s\nsha256: %s\n", 0, 0, NULL,
         "'hub-id'"},
        {"no client id", "edix-receipt/1\nhub-id: H\nsize: %s\nsha256: %s\n", 0, 0, NULL,
         "'client-id'"},
        {"two sizes", "edix-receipt/1\nhub-id: H\nclient-id: C\nsize: %s\nsize: 1\nsha256: %s\n", 0,
         0, NULL, "2 'size' lines"},
        {"size not a number",
         "edix-receipt/1\nhub-id: H\nclient-id: C\nsize: 12x%.0s\nsha256: %s\n", 0, 0, NULL,
         "not a number"},
        {"wrong size", "edix-receipt/1\nhub-id: H\nclient-id: C\nsize: 9%s\nsha256: %s\n", 0, 0,
         NULL, "bytes"},
        {"wrong hash", "edix-receipt/1\nhub-id: H\nclient-id: C\nsize: %s\nsha256: 00%.62s\n", 0, 0,
         NULL, "sha256 does not match"},
        {"hash of the first line only", "edix-receipt/1 sha256: %.0s%s\nhub-id: H\nclient-id: C\n",
         0, 0, NULL, "not an edix receipt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case_t *c = &cases[i];
        char size[32];
        snprintf(size, sizeof size, "%zu", strlen(s_doc));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        char *stmt = xasprintf(c->stmt_fmt, size, f->sha);
#pragma GCC diagnostic pop
        char *sig = s_sign(f, stmt);
        if (c->tamper)
            stmt[strlen(stmt) - 2] ^= 1;
        char other[EDIX_SIGN_PUB_HEX];
        snprintf(other, sizeof other, "%s", f->pub);
        if (c->other_key) {
            edix_signkey_t *k = edix_signkey_generate(NULL);
            edix_signkey_public_hex(k, other);
            edix_signkey_destroy(&k);
        }
        char *err = NULL;
        int rc =
            edix_receipt_verify(other, stmt, c->sig ? c->sig : sig, s_doc, strlen(s_doc), &err);
        if (rc != -1 || !err || !strstr(err, c->want))
            fail_msg("%s: got %d (%s), want -1 with '%s'", c->name, rc, err ? err : "no error",
                     c->want);
        free(err);
        free(sig);
        free(stmt);
    }
}

static void
test_receipt_bad_key(void **state)
{
    fixture_t *f = *state;
    char *stmt = s_statement(f, "\n");
    char *sig = s_sign(f, stmt);
    const char *keys[] = {NULL, "", "abc",
                          "not hex at all, not hex at all, not hex at all, not hex!!!!"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *err = NULL;
        int rc = edix_receipt_verify(keys[i], stmt, sig, s_doc, strlen(s_doc), &err);
        if (rc != -1 || !err || !strstr(err, "64 hex"))
            fail_msg("key %zu: got %d (%s), want -1 with '64 hex'", i, rc, err);
        free(err);
    }
    char *err = NULL;
    assert_int_equal(edix_receipt_verify(f->pub, NULL, sig, NULL, 0, &err), -1);
    free(err);
    free(sig);
    free(stmt);
}

static void
test_receipt_field(void **state)
{
    fixture_t *f = *state;
    char *stmt = s_statement(f, "\r\n");
    struct {
        const char *key, *want;
    } cases[] = {
        {"hub-id", "0190f2a1c3d45e6f7a8b9c0d"},
        {"client-id", "PO-4711"},
        {"received", "2026-11-23T14:05:01.123Z"},
        {"sender", "acme"},
        {"sha256", f->sha},
        {"size", NULL},
        {"nope", NULL},
        {"edix-receipt/1", NULL},
        {"hub", NULL},
    };
    char size[32];
    snprintf(size, sizeof size, "%zu", strlen(s_doc));
    cases[5].want = size;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = edix_receipt_field(stmt, cases[i].key);
        if ((got == NULL) != (cases[i].want == NULL) || (got && strcmp(got, cases[i].want) != 0))
            fail_msg("%s: got '%s', want '%s'", cases[i].key, got ? got : "(none)",
                     cases[i].want ? cases[i].want : "(none)");
        free(got);
    }
    assert_null(edix_receipt_field(NULL, "x"));
    free(stmt);

    edix_receipt_t r;
    memset(&r, 0, sizeof r);
    edix_receipt_clear(&r);
    r.statement = xstrdup("edix-receipt/1\n");
    snprintf(r.hub_id, sizeof r.hub_id, "x");
    edix_receipt_clear(&r);
    assert_null(r.statement);
    assert_string_equal(r.hub_id, "");
    edix_receipt_clear(NULL);
}

/* a receipt kept as a file comes apart into exactly what was signed */
static void
test_receipt_file(void **state)
{
    fixture_t *f = *state;
    edix_receipt_t r;
    memset(&r, 0, sizeof r);
    assert_null(edix_receipt_text(&r));
    r.statement = s_statement(f, "\n");
    char *sig = s_sign(f, r.statement);
    snprintf(r.signature, sizeof r.signature, "%s", sig);
    char *text = edix_receipt_text(&r);
    assert_non_null(text);
    char *stmt = NULL, got_sig[129], *err = NULL;
    assert_int_equal(edix_receipt_split(text, &stmt, got_sig, &err), 0);
    assert_string_equal(stmt, r.statement);
    assert_string_equal(got_sig, sig);
    assert_int_equal(edix_receipt_verify(f->pub, stmt, got_sig, s_doc, strlen(s_doc), &err), 0);
    free(stmt);

    /* without the final newline it still splits */
    text[strlen(text) - 1] = '\0';
    assert_int_equal(edix_receipt_split(text, &stmt, got_sig, &err), 0);
    assert_string_equal(stmt, r.statement);
    free(stmt);

    const char *bad[] = {"", "signature: 00\n", "edix-receipt/1\nsize: 1\n",
                         "edix-receipt/1\nsignature: xyz\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        stmt = (char *)"untouched";
        int rc = edix_receipt_split(bad[i], &stmt, got_sig, &err);
        if (rc != -1 || stmt != NULL || !err)
            fail_msg("bad %zu: got %d, want -1 with no statement", i, rc);
        free(err);
        err = NULL;
    }
    /* a statement without its final newline is not kept in this form */
    r.statement[strlen(r.statement) - 1] = '\0';
    assert_null(edix_receipt_text(&r));
    free(text);
    free(sig);
    edix_receipt_clear(&r);
}

/* write a bundle whose endpoints lead nowhere */
static char *
s_bundle(const fixture_t *f, const char *name, const char *sign_public)
{
    char pub[EDIX_Z85_KEY], sec[EDIX_Z85_KEY], hub[EDIX_Z85_KEY], hubsec[EDIX_Z85_KEY];
    assert_int_equal(edix_curve_keypair(pub, sec, NULL), 0);
    assert_int_equal(edix_curve_keypair(hub, hubsec, NULL), 0);
    char *path = xasprintf("%s/%s.bundle", f->dir, name);
    char *intake = xasprintf("ipc://%s/nobody-intake", f->dir);
    char *delivery = xasprintf("ipc://%s/nobody-delivery", f->dir);
    edix_bundle_t b = {.partner = "acme",
                       .curve_public = pub,
                       .curve_secret = sec,
                       .hub_curve_public = hub,
                       .intake_endpoint = intake,
                       .delivery_endpoint = delivery,
                       .hub_sign_public = (char *)sign_public};
    char *err = NULL;
    if (edix_bundle_save(&b, path, &err) != 0)
        fail_msg("bundle: %s", err);
    free(delivery);
    free(intake);
    return path;
}

static void
test_client_new(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;
    assert_null(edix_client_new("/nonexistent/bundle", &err));
    assert_non_null(err);
    free(err);
    err = NULL;

    char *bad = s_bundle(f, "bad", "0123");
    assert_null(edix_client_new(bad, &err));
    if (!err || !strstr(err, "hub_sign_public"))
        fail_msg("got '%s', want a complaint about hub_sign_public", err);
    free(err);
    err = NULL;
    free(bad);

    char *good = s_bundle(f, "good", f->pub);
    edix_client_t *c = edix_client_new(good, &err);
    if (!c)
        fail_msg("got NULL (%s), want a client", err);
    assert_string_equal(edix_client_partner(c), "acme");
    edix_client_destroy(&c);
    assert_null(c);
    edix_client_destroy(&c);
    edix_client_destroy(NULL);
    free(good);
}

/* what is refused before anything is sent */
static void
test_client_local_checks(void **state)
{
    fixture_t *f = *state;
    char *path = s_bundle(f, "local", f->pub);
    edix_client_t *c = edix_client_new(path, NULL);
    assert_non_null(c);
    const char *ids[] = {"", "has space", "tab\there", NULL};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        edix_receipt_t r;
        int code = -1;
        char *err = NULL;
        int rc = edix_client_submit(c, ids[i], s_doc, strlen(s_doc), 500, &r, &code, &err);
        if (rc != -1 || code != 0 || !err || !strstr(err, "client id"))
            fail_msg("id %zu: got %d code %d (%s), want -1 code 0 about the client id", i, rc, code,
                     err);
        free(err);
    }
    char long_id[200];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    edix_receipt_t r;
    int code = -1;
    char *err = NULL;
    assert_int_equal(edix_client_submit(c, long_id, s_doc, 3, 500, &r, &code, &err), -1);
    free(err);
    err = NULL;
    assert_int_equal(edix_client_submit(c, "ok", s_doc, 0, 500, &r, &code, &err), -1);
    assert_non_null(strstr(err, "empty"));
    free(err);
    err = NULL;

    char *state_s = NULL, *reasons = NULL;
    assert_int_equal(edix_client_status(c, "bad id", 500, &state_s, &reasons, &code, &err), -1);
    assert_null(state_s);
    assert_null(reasons);
    free(err);
    edix_client_destroy(&c);
    free(path);
}

/* The hub's size cap in the bundle: too large is refused here, as 413. */
static void
test_client_max_size(void **state)
{
    fixture_t *f = *state;
    struct {
        const char *line;
        int ok;
    } cases[] = {{"max_document_size = 10\n", 1},
                 {"max_document_size = ten\n", 0},
                 {"max_document_size = 0\n", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = s_bundle(f, i == 0 ? "max0" : i == 1 ? "max1" : "max2", f->pub);
        /* replace the cap the bundle states with the case's line */
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(edix_file_read(path, 1 << 16, &text, &len, NULL), 0);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
            if (strncmp(line, "max_document_size", 17) != 0)
                fprintf(fp, "%s\n", line);
        fputs(cases[i].line, fp);
        fclose(fp);
        free(text);
        char *err = NULL;
        edix_client_t *c = edix_client_new(path, &err);
        if ((c != NULL) != cases[i].ok)
            fail_msg("%s: got %s (%s), want %s", cases[i].line, c ? "a client" : "NULL", err,
                     cases[i].ok ? "a client" : "NULL");
        free(err);
        err = NULL;
        if (c) {
            edix_receipt_t r;
            int code = 0;
            int rc = edix_client_submit(c, "big", s_doc, strlen(s_doc), 500, &r, &code, &err);
            if (rc != -1 || code != 413 || !strstr(err, "limit"))
                fail_msg("got %d code %d (%s), want -1 code 413", rc, code, err);
            free(err);
        }
        edix_client_destroy(&c);
        free(path);
    }
}

/* Nobody at the endpoint: the submission is resent (and the connection
 * replaced) until the timeout, then fails with code 0.  Receiving without
 * follow fails when the hub never answers (and still makes the directory);
 * with follow it runs until the stop flag is set. */
static void
test_client_no_hub(void **state)
{
    fixture_t *f = *state;
    char *path = s_bundle(f, "nohub", f->pub);
    edix_client_t *c = edix_client_new(path, NULL);
    assert_non_null(c);
    edix_submission_t subs[3] = {
        {.client_id = "a", .doc = s_doc, .len = strlen(s_doc)},
        {.client_id = "b", .doc = s_doc, .len = strlen(s_doc)},
        {.client_id = "bad id", .doc = s_doc, .len = strlen(s_doc)},
    };
    char *err = NULL;
    int64_t t0 = edix_mono_ms();
    assert_int_equal(edix_client_submit_many(c, subs, 3, 2200, NULL, NULL, &err), -1);
    int64_t took = edix_mono_ms() - t0;
    if (took < 2000 || took > 6000)
        fail_msg("got %lld ms, want about 2200", (long long)took);
    assert_non_null(err);
    free(err);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(subs[i].status, -1);
        assert_int_equal(subs[i].code, 0);
        if (i < 2 && !strstr(subs[i].err, "no answer"))
            fail_msg("got '%s', want 'no answer ...'", subs[i].err);
        edix_submission_clear(&subs[i]);
        assert_null(subs[i].err);
    }

    char *into = xasprintf("%s/inbox/sub", f->dir);
    size_t count = 99;
    err = NULL;
    int rc = edix_client_receive(c, into, 0, 1000, NULL, NULL, NULL, &count, &err);
    if (rc != -1 || !err || !strstr(err, "no answer"))
        fail_msg("receive: got %d (%s), want -1 with 'no answer'", rc, err);
    free(err);
    err = NULL;
    assert_int_equal(count, 0);
    struct stat st;
    assert_int_equal(stat(into, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    volatile int stop = 1;
    assert_int_equal(edix_client_receive(c, into, 1, 0, &stop, NULL, NULL, &count, &err), 0);
    free(into);
    edix_client_destroy(&c);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_receipt_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_bad_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_local_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_max_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_no_hub, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
