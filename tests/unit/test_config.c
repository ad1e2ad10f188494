/*
 * test_config.c - unit tests of config.c: the key = value parser (comments,
 * blank lines, '=' and '#' inside values as Z85 keys have them, duplicate
 * keys and lines without '=' refused with the right line number), the
 * hub's edix.conf (defaults, every key, unknown keys and numbers out of
 * range refused, the template loads), partner bundles (round trip, 0600,
 * never overwritten, a missing key named) and the hub's public keys.  Each
 * test gets a temporary home made with mkdtemp and removed afterwards.
 */
#include "config.h"
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

/* Z85 keys may hold '=' and '#': neither may cut a value short */
#define KEY_A "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV=#ID"
#define KEY_B "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
#define KEY_C "0=#000000000000000000000000000000000000="

typedef struct {
    char home[64]; /* a temporary hub home */
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = xcalloc(1, sizeof *f);
    snprintf(f->home, sizeof f->home, "/tmp/edix-test-config-XXXXXX");
    assert_non_null(mkdtemp(f->home));
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    char *cmd = xasprintf("rm -rf '%s'", f->home);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f);
    return 0;
}

static void
s_write(const char *dir, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name), *err = NULL;
    if (edix_file_write(path, text, strlen(text), 0600, 0, &err) != 0)
        fail_msg("write %s: got error %s, want success", path, err ? err : "?");
    free(path);
}

static void
s_expect_str(const char *what, const char *got, const char *want)
{
    if (got == want)
        return;
    if (!got || !want || strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", what, got ? got : "(null)", want ? want : "(null)");
}

static void
s_expect_err(const char *what, const char *err, const char *want)
{
    if (!err || !strstr(err, want))
        fail_msg("%s: got error \"%s\", want one saying \"%s\"", what, err ? err : "(none)", want);
}

/* ---- key = value --------------------------------------------------------- */

static void
test_kv_parse(void **state)
{
    static const struct {
        const char *name;
        const char *text;
        const char *want; /* "key=value;..." in order, with '|' between key and value */
    } cases[] = {
        {"empty", "", ""},
        {"only comments and blanks", "# a comment\n\n   \n\t# indented comment\n", ""},
        {"simple", "a = 1\nb=2\n", "a|1;b|2;"},
        {"no final newline", "a = 1", "a|1;"},
        {"spaces trimmed", "  key   =   some value  \n", "key|some value;"},
        {"tabs trimmed", "\tkey\t=\tv\t\n", "key|v;"},
        {"CRLF", "a = 1\r\nb = 2\r\n", "a|1;b|2;"},
        {"empty value", "a =\nb = \n", "a|;b|;"},
        {"'=' in value", "url = tcp://h:1?x=y=z\n", "url|tcp://h:1?x=y=z;"},
        {"'#' in value is no comment", "k = abc # not a comment\n", "k|abc # not a comment;"},
        {"Z85 keys", "a = " KEY_A "\nb = " KEY_B "\nc = " KEY_C "\n",
         "a|" KEY_A ";b|" KEY_B ";c|" KEY_C ";"},
        {"comment between", "a = 1\n# b = 2\nc = 3\n", "a|1;c|3;"},
        {"blank lines between", "\n\na = 1\n\n\nb = 2\n\n", "a|1;b|2;"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        edix_kv_t *kv = edix_kv_parse(cases[i].text, "test.conf", &err);
        if (!kv)
            fail_msg("%s: got error %s, want success", cases[i].name, err ? err : "?");
        edix_buf_t got;
        edix_buf_init(&got);
        for (size_t k = 0; k < edix_kv_count(kv); k++)
            edix_buf_addf(&got, "%s|%s;", edix_kv_key(kv, k), edix_kv_get(kv, edix_kv_key(kv, k)));
        s_expect_str(cases[i].name, got.data ? got.data : "", cases[i].want);
        edix_buf_free(&got);
        assert_null(edix_kv_key(kv, edix_kv_count(kv)));
        assert_null(edix_kv_get(kv, "nosuchkey"));
        edix_kv_destroy(&kv);
        assert_null(kv);
        edix_kv_destroy(&kv); /* idempotent */
    }
}

static void
test_kv_parse_refusals(void **state)
{
    static const struct {
        const char *name;
        const char *text;
        const char *want; /* in the error */
    } cases[] = {
        {"duplicate", "a = 1\nb = 2\na = 3\n", "test.conf: line 3: 'a' given twice"},
        {"duplicate after blanks and comments", "# head\n\na = 1\n\n# x\nb = 2\n\na = 3\n",
         "test.conf: line 8: 'a' given twice"},
        {"duplicate, other spacing", "key=1\n  key   =   1\n", "line 2: 'key' given twice"},
        {"missing '='", "a = 1\njust words\n", "test.conf: line 2: expected 'key = value'"},
        {"missing '=' after blanks", "\n\n\nwords\n", "line 4: expected 'key = value'"},
        {"missing '=' after CRLF blanks", "a = 1\r\n\r\nwords\r\n", "line 3: expected"},
        {"empty key", "a = 1\n = 2\n", "test.conf: line 2: empty key"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        edix_kv_t *kv = edix_kv_parse(cases[i].text, "test.conf", &err);
        if (kv)
            fail_msg("%s: got success, want an error saying \"%s\"", cases[i].name, cases[i].want);
        s_expect_err(cases[i].name, err, cases[i].want);
        free(err);
    }
}

static void
test_kv_load(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;
    char *path = xasprintf("%s/x.conf", f->home);

    s_write(f->home, "x.conf", "# c\nname = value\n");
    edix_kv_t *kv = edix_kv_load(path, &err);
    assert_non_null(kv);
    s_expect_str("name", edix_kv_get(kv, "name"), "value");
    edix_kv_destroy(&kv);

    /* a NUL byte: not a text file */
    assert_int_equal(edix_file_write(path, "a = 1\0b = 2\n", 12, 0600, 0, &err), 0);
    assert_null(edix_kv_load(path, &err));
    s_expect_err("NUL byte", err, "not a text file");
    free(err);
    err = NULL;

    /* the error names the file */
    s_write(f->home, "x.conf", "a = 1\na = 2\n");
    assert_null(edix_kv_load(path, &err));
    s_expect_err("duplicate in file", err, path);
    free(err);
    err = NULL;

    char *none = xasprintf("%s/none.conf", f->home);
    assert_null(edix_kv_load(none, &err));
    s_expect_err("missing file", err, "cannot open");
    free(err);
    free(none);
    free(path);
}

/* ---- edix.conf ----------------------------------------------------------- */

static void
test_config_defaults(void **state)
{
    fixture_t *f = *state;
    char *err = NULL, *want = NULL;

    s_write(f->home, "edix.conf", "# nothing but a comment\n\n");
    edix_config_t *c = edix_config_load(f->home, &err);
    if (!c)
        fail_msg("load: got error %s, want success", err ? err : "?");
    s_expect_str("home", c->home, f->home);
    want = xasprintf("%s/edix.db", f->home);
    s_expect_str("store_path", c->store_path, want);
    free(want);
    s_expect_str("intake_endpoint", c->intake_endpoint, "tcp://127.0.0.1:7701");
    s_expect_str("delivery_endpoint", c->delivery_endpoint, "tcp://127.0.0.1:7702");
    s_expect_str("public_intake", c->public_intake, "tcp://127.0.0.1:7701");
    s_expect_str("public_delivery", c->public_delivery, "tcp://127.0.0.1:7702");
    want = xasprintf("ipc://%s/run/validator", f->home);
    s_expect_str("validator_endpoint", c->validator_endpoint, want);
    free(want);
    want = xasprintf("ipc://%s/run/router", f->home);
    s_expect_str("router_endpoint", c->router_endpoint, want);
    free(want);
    s_expect_str("schema_dir", c->schema_dir, NULL);
    want = xasprintf("%s/doctypes.conf", edix_datadir());
    s_expect_str("catalogue", c->catalogue, want);
    free(want);
    if (c->max_document_size != 10485760)
        fail_msg("max_document_size: got %zu, want 10485760", c->max_document_size);
    if (c->ack_timeout_ms != 30000)
        fail_msg("ack_timeout_ms: got %d, want 30000", c->ack_timeout_ms);
    if (c->retry_max_ms != 300000)
        fail_msg("retry_max_ms: got %d, want 300000", c->retry_max_ms);
    if (c->rescan_ms != 2000)
        fail_msg("rescan_ms: got %d, want 2000", c->rescan_ms);
    if (c->batch_max != 256)
        fail_msg("batch_max: got %d, want 256", c->batch_max);
    edix_config_destroy(&c);
    assert_null(c);
    edix_config_destroy(&c); /* idempotent */
}

static void
test_config_values(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;

    s_write(f->home, "edix.conf",
            "intake_endpoint = tcp://0.0.0.0:9001\n"
            "delivery_endpoint = tcp://0.0.0.0:9002\n"
            "public_delivery_endpoint = tcp://edix.example.com:9002\n"
            "validator_endpoint = tcp://10.0.0.5:9100\n"
            "router_endpoint = ipc:///tmp/r\n"
            "schema_dir = /srv/ubl/xsdrt\n"
            "catalogue = /etc/edix/doctypes.conf\n"
            "max_document_size = 1024\n"
            "ack_timeout_ms = 86400000\n"
            "retry_max_ms = 10\n"
            "rescan_ms = 3600000\n"
            "batch_max = 10000\n");
    edix_config_t *c = edix_config_load(f->home, &err);
    if (!c)
        fail_msg("load: got error %s, want success", err ? err : "?");
    s_expect_str("intake_endpoint", c->intake_endpoint, "tcp://0.0.0.0:9001");
    s_expect_str("delivery_endpoint", c->delivery_endpoint, "tcp://0.0.0.0:9002");
    /* not given: follows intake_endpoint */
    s_expect_str("public_intake", c->public_intake, "tcp://0.0.0.0:9001");
    s_expect_str("public_delivery", c->public_delivery, "tcp://edix.example.com:9002");
    s_expect_str("validator_endpoint", c->validator_endpoint, "tcp://10.0.0.5:9100");
    s_expect_str("router_endpoint", c->router_endpoint, "ipc:///tmp/r");
    s_expect_str("schema_dir", c->schema_dir, "/srv/ubl/xsdrt");
    s_expect_str("catalogue", c->catalogue, "/etc/edix/doctypes.conf");
    assert_int_equal(c->max_document_size, 1024);
    assert_int_equal(c->ack_timeout_ms, 86400000);
    assert_int_equal(c->retry_max_ms, 10);
    assert_int_equal(c->rescan_ms, 3600000);
    assert_int_equal(c->batch_max, 10000);
    edix_config_destroy(&c);
}

static void
test_config_refusals(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *text;
        const char *want; /* in the error */
    } cases[] = {
        {"schema_dri = /x\n", "unknown key 'schema_dri'"},
        {"# fine\nintake_endpoint = tcp://a:1\nIntake_Endpoint = tcp://b:1\n",
         "unknown key 'Intake_Endpoint'"},
        {"intake_endpoint = a\nintake_endpoint = b\n", "line 2: 'intake_endpoint' given twice"},
        {"batch_max 12\n", "line 1: expected 'key = value'"},
        {"max_document_size = 1023\n", "max_document_size = 1023: expected a whole number from "
                                       "1024 to 1073741824"},
        {"max_document_size = 1073741825\n", "max_document_size = 1073741825: expected"},
        {"max_document_size = 10MB\n", "max_document_size = 10MB: expected"},
        {"max_document_size = 0x400\n", "max_document_size = 0x400: expected"},
        {"max_document_size = 99999999999999999999\n", "max_document_size = 99999999999999999999"},
        {"max_document_size =\n", "max_document_size = : expected"},
        {"ack_timeout_ms = 9\n", "ack_timeout_ms = 9: expected a whole number from 10 to 86400000"},
        {"ack_timeout_ms = 86400001\n", "ack_timeout_ms = 86400001: expected"},
        {"ack_timeout_ms = -5\n", "ack_timeout_ms = -5: expected"},
        {"retry_max_ms = 2.5\n", "retry_max_ms = 2.5: expected a whole number from 10 to"},
        {"rescan_ms = 3600001\n",
         "rescan_ms = 3600001: expected a whole number from 10 to 3600000"},
        {"batch_max = 0\n", "batch_max = 0: expected a whole number from 1 to 10000"},
        {"batch_max = 10001\n", "batch_max = 10001: expected"},
        {"batch_max = 1 000\n", "batch_max = 1 000: expected"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        s_write(f->home, "edix.conf", cases[i].text);
        edix_config_t *c = edix_config_load(f->home, &err);
        if (c)
            fail_msg("\"%s\": got success, want an error saying \"%s\"", cases[i].text,
                     cases[i].want);
        s_expect_err(cases[i].text, err, cases[i].want);
        s_expect_err(cases[i].text, err, "edix.conf");
        free(err);
    }
}

static void
test_config_no_home(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;
    char *none = xasprintf("%s/nonexistent", f->home);

    assert_null(edix_config_load(none, &err));
    s_expect_err("no home", err, "no edix home");
    free(err);
    err = NULL;
    /* a home without edix.conf */
    assert_null(edix_config_load(f->home, &err));
    s_expect_err("no edix.conf", err, "edix.conf");
    free(err);
    free(none);
}

static void
test_config_template(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;
    char *text = edix_config_template("tcp://127.0.0.1:17701", "tcp://127.0.0.1:17702",
                                      "/srv/ubl/xsdrt", "/srv/doctypes.conf");
    s_write(f->home, "edix.conf", text);
    free(text);
    edix_config_t *c = edix_config_load(f->home, &err);
    if (!c)
        fail_msg("template: got error %s, want it to load", err ? err : "?");
    s_expect_str("intake_endpoint", c->intake_endpoint, "tcp://127.0.0.1:17701");
    s_expect_str("delivery_endpoint", c->delivery_endpoint, "tcp://127.0.0.1:17702");
    s_expect_str("schema_dir", c->schema_dir, "/srv/ubl/xsdrt");
    s_expect_str("catalogue", c->catalogue, "/srv/doctypes.conf");
    /* the template states the defaults */
    assert_int_equal(c->max_document_size, 10485760);
    assert_int_equal(c->ack_timeout_ms, 30000);
    assert_int_equal(c->retry_max_ms, 300000);
    assert_int_equal(c->rescan_ms, 2000);
    assert_int_equal(c->batch_max, 256);
    edix_config_destroy(&c);
}

/* ---- partner bundles ------------------------------------------------------ */

static const char *s_bundle_keys[] = {"partner",          "curve_public",    "curve_secret",
                                      "hub_curve_public", "intake_endpoint", "delivery_endpoint",
                                      "hub_sign_public"};

static void
test_bundle_round_trip(void **state)
{
    fixture_t *f = *state;
    char *err = NULL, *path = xasprintf("%s/acme.bundle", f->home);
    char pub[EDIX_Z85_KEY], sec[EDIX_Z85_KEY], hub[EDIX_Z85_KEY], hubsec[EDIX_Z85_KEY];
    struct stat st;

    assert_int_equal(edix_curve_keypair(pub, sec, &err), 0);
    assert_int_equal(edix_curve_keypair(hub, hubsec, &err), 0);
    edix_bundle_t b = {
        .partner = "acme",
        .curve_public = pub,
        .curve_secret = sec,
        .hub_curve_public = hub,
        .intake_endpoint = "tcp://edix.example.com:7701",
        .delivery_endpoint = "tcp://edix.example.com:7702",
        .hub_sign_public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    };
    mode_t old = umask(0);
    if (edix_bundle_save(&b, path, &err) != 0)
        fail_msg("save: got error %s, want success", err ? err : "?");
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    if ((st.st_mode & 07777) != 0600)
        fail_msg("bundle mode: got %04o, want 0600", (unsigned)(st.st_mode & 07777));

    edix_bundle_t *back = edix_bundle_load(path, &err);
    if (!back)
        fail_msg("load: got error %s, want the bundle", err ? err : "?");
    s_expect_str("partner", back->partner, b.partner);
    s_expect_str("curve_public", back->curve_public, b.curve_public);
    s_expect_str("curve_secret", back->curve_secret, b.curve_secret);
    s_expect_str("hub_curve_public", back->hub_curve_public, b.hub_curve_public);
    s_expect_str("intake_endpoint", back->intake_endpoint, b.intake_endpoint);
    s_expect_str("delivery_endpoint", back->delivery_endpoint, b.delivery_endpoint);
    s_expect_str("hub_sign_public", back->hub_sign_public, b.hub_sign_public);
    edix_bundle_destroy(&back);
    assert_null(back);
    edix_bundle_destroy(&back); /* idempotent */

    /* never overwritten */
    b.partner = "mallory";
    assert_int_equal(edix_bundle_save(&b, path, &err), -1);
    s_expect_err("second save", err, "exists already");
    free(err);
    err = NULL;
    back = edix_bundle_load(path, &err);
    assert_non_null(back);
    s_expect_str("partner after refused save", back->partner, "acme");
    edix_bundle_destroy(&back);
    free(path);
}

/* a bundle without any one key, or with it empty, is refused naming it */
static void
test_bundle_missing_key(void **state)
{
    fixture_t *f = *state;
    const char *values[] = {"acme",
                            KEY_A,
                            KEY_B,
                            KEY_C,
                            "tcp://h:1",
                            "tcp://h:2",
                            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"};
    char *path = xasprintf("%s/b.bundle", f->home);
    size_t n = sizeof s_bundle_keys / sizeof s_bundle_keys[0];

    for (int empty = 0; empty < 2; empty++) {
        for (size_t skip = 0; skip < n; skip++) {
            edix_buf_t text;
            char *err = NULL;
            edix_buf_init(&text);
            edix_buf_adds(&text, "# test bundle\n");
            for (size_t k = 0; k < n; k++) {
                if (k != skip)
                    edix_buf_addf(&text, "%s = %s\n", s_bundle_keys[k], values[k]);
                else if (empty)
                    edix_buf_addf(&text, "%s =\n", s_bundle_keys[k]);
            }
            s_write(f->home, "b.bundle", text.data);
            edix_buf_free(&text);
            edix_bundle_t *b = edix_bundle_load(path, &err);
            if (b)
                fail_msg("without %s: got a bundle, want a refusal", s_bundle_keys[skip]);
            char *want = xasprintf("'%s' is missing", s_bundle_keys[skip]);
            s_expect_err(s_bundle_keys[skip], err, want);
            free(want);
            free(err);
        }
    }
    /* all of them: loads (the Z85 keys hold '=' and '#') */
    edix_buf_t text;
    char *err = NULL;
    edix_buf_init(&text);
    for (size_t k = 0; k < n; k++)
        edix_buf_addf(&text, "%s = %s\n", s_bundle_keys[k], values[k]);
    s_write(f->home, "b.bundle", text.data);
    edix_buf_free(&text);
    edix_bundle_t *b = edix_bundle_load(path, &err);
    if (!b)
        fail_msg("complete bundle: got error %s, want success", err ? err : "?");
    s_expect_str("curve_public", b->curve_public, KEY_A);
    s_expect_str("hub_curve_public", b->hub_curve_public, KEY_C);
    edix_bundle_destroy(&b);
    free(path);
}

static void
test_bundle_bad_key(void **state)
{
    fixture_t *f = *state;
    char *path = xasprintf("%s/b.bundle", f->home), *err = NULL;
    s_write(f->home, "b.bundle",
            "partner = acme\n"
            "curve_public = " KEY_A "\n"
            "curve_secret = tooshort\n"
            "hub_curve_public = " KEY_B "\n"
            "intake_endpoint = tcp://h:1\n"
            "delivery_endpoint = tcp://h:2\n"
            "hub_sign_public = 00\n");
    assert_null(edix_bundle_load(path, &err));
    s_expect_err("short key", err, "not 40 characters of Z85");
    free(err);
    free(path);
}

/* ---- the hub's keys -------------------------------------------------------- */

static void
test_hub_keys(void **state)
{
    fixture_t *f = *state;
    char *err = NULL, *keys = xasprintf("%s/keys", f->home);
    edix_hub_keys_t k;
    static const char sign[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    assert_int_equal(mkdir(keys, 0700), 0);
    s_write(keys, "hub.curve", "public = " KEY_A "\nsecret = " KEY_B "\n");
    s_write(keys, "hub-sign.pub",
            "  d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n");
    assert_int_equal(edix_hub_keys_load(f->home, 0, &k, &err), 0);
    s_expect_str("curve_public", k.curve_public, KEY_A);
    s_expect_str("curve_secret (not asked for)", k.curve_secret, "");
    s_expect_str("sign_public", k.sign_public, sign);
    assert_int_equal(edix_hub_keys_load(f->home, 1, &k, &err), 0);
    s_expect_str("curve_secret", k.curve_secret, KEY_B);

    s_write(keys, "hub-sign.pub", "abcd\n");
    assert_int_equal(edix_hub_keys_load(f->home, 1, &k, &err), -1);
    s_expect_err("short sign key", err, "not a hex Ed25519 public key");
    free(err);
    err = NULL;
    s_write(keys, "hub.curve", "public = " KEY_A "\n");
    assert_int_equal(edix_hub_keys_load(f->home, 1, &k, &err), -1);
    s_expect_err("no secret", err, "no valid CURVE key pair");
    free(err);
    free(keys);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_parse),
        cmocka_unit_test(test_kv_parse_refusals),
        cmocka_unit_test_setup_teardown(test_kv_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_no_home, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_template, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundle_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundle_missing_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundle_bad_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
