/*  test_doc.c - unit tests for the untrusted-document check path (doc.c)
 *
 *  What they pin down: every published UBL example of a catalogued type
 *  that the corpus MANIFEST marks XSD-valid and valid is accepted with the
 *  right document type; hostile inputs (entities, DOCTYPEs, XInclude, deep
 *  nesting, truncation, garbage, bad UTF-8, wrong roots, oversize) are
 *  refused with the expected rule and never crash; the consistency rules
 *  fire on documents altered in memory; identifiers are extracted; the
 *  JSON is exact.  The corpus is third-party and read in place from
 *  EDIX_CORPUS_DIR, never copied.
 */
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

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "doc.h"

#define SCHEMA_DIR EDIX_CORPUS_DIR "/oasis-ubl-2.1/xsdrt"
#define CATALOGUE  EDIX_SOURCE_DIR "/schemas/doctypes.conf"
#define MAX_SIZE   (10u << 20)

#define INVOICE_EX1 "en16931-connectingeurope/ubl/examples/ubl-tc434-example1.xml"
#define ORDER_EX    "oasis-ubl-2.1/xml/UBL-Order-2.1-Example.xml"

/*  Published examples that break an EN 16931 calculation rule for real.
 *  They predate EN 16931 (OASIS UBL 2.0/2.1 samples) and do not claim it,
 *  so the rules are warnings for them; listed here so the corpus test pins
 *  exactly which warnings they get and nothing else:
 *  - the 2.1 Invoice and CreditNote samples put the 0.30 payable rounding
 *    into TaxInclusiveAmount (1729 = 1436.50 + 292.20 + 0.30) and then
 *    leave it out of PayableAmount (729 = 1729 - 1000): EN 16931 has
 *    rounding only in BT-114, added to the amount due;
 *  - the 2.0 CreditNote sample states TaxExclusiveAmount 90.00 against a
 *    LineExtensionAmount of 100.00 with no allowance or charge.  */
static const struct {
    const char *path;
    const char *rules; /* the warning rules expected, in order found */
} s_known_bad[] = {
    {"oasis-ubl-2.1/xml/UBL-Invoice-2.1-Example.xml", "BR-CO-15 BR-CO-16"},
    {"oasis-ubl-2.1/xml/UBL-CreditNote-2.1-Example.xml", "BR-CO-15 BR-CO-16"},
    {"oasis-ubl-2.1/xml/UBL-CreditNote-2.0-Example.xml", "BR-CO-13"},
};

/*  ---- helpers ---------------------------------------------------------- */

static char *
s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)size + 1);
        if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        }
        if (buf) {
            buf[size] = '\0';
            *len = (size_t)size;
        }
    }
    fclose(f);
    return buf;
}

static char *
s_corpus(const char *rel, size_t *len)
{
    char path[4096];
    char *buf;

    snprintf(path, sizeof path, "%s/%s", EDIX_CORPUS_DIR, rel);
    buf = s_slurp(path, len);
    if (buf == NULL)
        fail_msg("cannot read corpus file %s", path);
    return buf;
}

/*  "RULE RULE ..." of the issues of one severity, in order (static buffer).  */
static const char *
s_rules_of(const edix_verdict_t *v, int severity)
{
    static char out[4096];
    size_t i, n = 0;

    out[0] = '\0';
    for (i = 0; i < edix_verdict_issue_count(v); i++) {
        if (edix_verdict_issue_severity(v, i) != severity)
            continue;
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", n ? " " : "",
                              edix_verdict_issue_rule(v, i));
        if (n >= sizeof out)
            break;
    }
    return out;
}

static const char *
s_error_rules(const edix_verdict_t *v)
{
    return s_rules_of(v, EDIX_SEV_ERROR);
}

static int
s_has_rule(const edix_verdict_t *v, const char *rule)
{
    size_t i;

    for (i = 0; i < edix_verdict_issue_count(v); i++)
        if (strcmp(edix_verdict_issue_rule(v, i), rule) == 0)
            return 1;
    return 0;
}

static const char *
s_first_message(const edix_verdict_t *v)
{
    return edix_verdict_issue_count(v) ? edix_verdict_issue_message(v, 0) : "(no issue)";
}

static edix_verdict_t *
s_check(edix_doc_checker_t *checker, const char *bytes, size_t len, size_t max)
{
    edix_verdict_t *v = NULL;
    char *err = NULL;

    if (edix_doc_check(checker, bytes, len, max, &v, &err) != 0)
        fail_msg("edix_doc_check failed: %s", err ? err : "?");
    assert_non_null(v);
    return v;
}

/*  Copy of src with the first occurrence of from, at or after the first
 *  occurrence of anchor, replaced by to.  */
static char *
s_replace(const char *src, size_t len, const char *anchor, const char *from, const char *to,
          size_t *out_len)
{
    const char *a = anchor ? strstr(src, anchor) : src, *p;
    size_t fl = strlen(from), tl = strlen(to), head;
    char *out;

    if (a == NULL || (p = strstr(a, from)) == NULL)
        fail_msg("mutation anchor '%s' / '%s' not found", anchor ? anchor : "", from);
    head = (size_t)(p - src);
    out = malloc(len - fl + tl + 1);
    assert_non_null(out);
    memcpy(out, src, head);
    memcpy(out + head, to, tl);
    memcpy(out + head + tl, p + fl, len - head - fl);
    *out_len = len - fl + tl;
    out[*out_len] = '\0';
    return out;
}

/*  ---- a small CSV reader (RFC 4180: quoted fields, "" escapes, newlines
 *  inside quotes) ----------------------------------------------------- */

#define CSV_MAX_FIELDS 16

typedef struct {
    const char *p;   /* next unread byte */
    const char *end; /* end of the data */
    char *field[CSV_MAX_FIELDS];
    int count;
} s_csv_t;

/*  Reads one record; 1 when one was read, 0 at the end.  Fields are
 *  malloc'd and released by the next call or s_csv_clear.  */
static void
s_csv_clear(s_csv_t *csv)
{
    int i;

    for (i = 0; i < csv->count; i++)
        free(csv->field[i]);
    csv->count = 0;
}

static int
s_csv_next(s_csv_t *csv)
{
    s_csv_clear(csv);
    if (csv->p >= csv->end)
        return 0;
    for (;;) {
        size_t cap = 64, n = 0;
        char *f = malloc(cap);
        int quoted = 0;

        assert_non_null(f);
        if (csv->p < csv->end && *csv->p == '"') {
            quoted = 1;
            csv->p++;
        }
        while (csv->p < csv->end) {
            char c = *csv->p;
            if (quoted && c == '"') {
                if (csv->p + 1 < csv->end && csv->p[1] == '"') {
                    csv->p += 2;
                } else {
                    quoted = 0;
                    csv->p++;
                    continue;
                }
            } else if (!quoted && (c == ',' || c == '\n' || c == '\r'))
                break;
            else
                csv->p++;
            if (n + 2 > cap) {
                cap *= 2;
                f = realloc(f, cap);
                assert_non_null(f);
            }
            f[n++] = c;
        }
        f[n] = '\0';
        if (csv->count < CSV_MAX_FIELDS)
            csv->field[csv->count++] = f;
        else
            free(f);
        if (csv->p < csv->end && *csv->p == ',') {
            csv->p++;
            continue;
        }
        if (csv->p < csv->end && *csv->p == '\r')
            csv->p++;
        if (csv->p < csv->end && *csv->p == '\n')
            csv->p++;
        return 1;
    }
}

static int
s_csv_column(const s_csv_t *header, const char *name)
{
    int i;

    for (i = 0; i < header->count; i++)
        if (strcmp(header->field[i], name) == 0)
            return i;
    fail_msg("MANIFEST.csv has no column %s", name);
    return -1;
}

/*  ---- fixtures --------------------------------------------------------- */

static int
s_setup(void **state)
{
    char *err = NULL;
    edix_doc_checker_t *checker = edix_doc_checker_new(SCHEMA_DIR, CATALOGUE, &err);

    if (checker == NULL) {
        fprintf(stderr, "edix_doc_checker_new: %s\n", err ? err : "?");
        free(err);
        return -1;
    }
    *state = checker;
    return 0;
}

static int
s_teardown(void **state)
{
    edix_doc_checker_t *checker = *state;

    edix_doc_checker_destroy(&checker);
    edix_doc_checker_destroy(&checker); /* idempotent */
    assert_null(checker);
    return 0;
}

/*  ---- the corpus ------------------------------------------------------- */

static const char *
s_known_bad_rules(const char *path)
{
    size_t i;

    for (i = 0; i < sizeof s_known_bad / sizeof s_known_bad[0]; i++)
        if (strcmp(s_known_bad[i].path, path) == 0)
            return s_known_bad[i].rules;
    return NULL;
}

static void
test_corpus_valid(void **state)
{
    edix_doc_checker_t *checker = *state;
    size_t len, checked = 0, failures = 0;
    char *manifest = s_corpus("MANIFEST.csv", &len);
    s_csv_t csv = {.p = manifest, .end = manifest + len};
    s_csv_t header = {0};
    int c_path, c_syntax, c_doctype, c_xsd, c_expected;

    assert_int_equal(s_csv_next(&csv), 1);
    header = csv; /* take over the header's fields */
    csv.count = 0;
    c_path = s_csv_column(&header, "path");
    c_syntax = s_csv_column(&header, "syntax");
    c_doctype = s_csv_column(&header, "doctype");
    c_xsd = s_csv_column(&header, "xsd_ubl21");
    c_expected = s_csv_column(&header, "expected");

    while (s_csv_next(&csv)) {
        const char *path, *doctype, *want_rules;
        edix_verdict_t *v;
        char *doc;
        size_t doc_len;

        if (csv.count < header.count)
            continue;
        path = csv.field[c_path];
        doctype = csv.field[c_doctype];
        if (strcmp(csv.field[c_syntax], "UBL") != 0 || strcmp(csv.field[c_xsd], "valid") != 0 ||
            strncmp(csv.field[c_expected], "valid", 5) != 0 ||
            !edix_doc_type_known(checker, doctype))
            continue;
        doc = s_corpus(path, &doc_len);
        v = s_check(checker, doc, doc_len, MAX_SIZE);
        checked++;
        want_rules = s_known_bad_rules(path);
        if (strcmp(edix_verdict_doctype(v), doctype) != 0) {
            fprintf(stderr, "%s: doctype got %s, want %s\n", path, edix_verdict_doctype(v),
                    doctype);
            failures++;
        }
        if (!edix_verdict_valid(v)) {
            char *json = edix_verdict_json(v, path);
            fprintf(stderr, "%s: got invalid, want valid: %s\n", path, json);
            free(json);
            failures++;
        } else if (want_rules && strcmp(s_rules_of(v, EDIX_SEV_WARNING), want_rules) != 0) {
            fprintf(stderr, "%s: warnings got '%s', want '%s' (known published mistake)\n", path,
                    s_rules_of(v, EDIX_SEV_WARNING), want_rules);
            failures++;
        }
        edix_verdict_destroy(&v);
        free(doc);
    }
    s_csv_clear(&csv);
    s_csv_clear(&header);
    free(manifest);
    if (checked < 100)
        fail_msg("checked %zu corpus documents, want at least 100", checked);
    if (failures)
        fail_msg("%zu of %zu corpus documents failed (see above)", failures, checked);
}

static void
test_order_bad1_xsd(void **state)
{
    size_t len;
    char *doc = s_corpus("oasis-ubl-2.1/val/order-test-bad1.xml", &len);
    edix_verdict_t *v = s_check(*state, doc, len, MAX_SIZE);

    assert_false(edix_verdict_valid(v));
    assert_string_equal(edix_verdict_doctype(v), "Order");
    if (!s_has_rule(v, EDIX_RULE_XSD))
        fail_msg("rules got '%s', want XSD", s_error_rules(v));
    /* the schema error is located in the document */
    assert_true(strncmp(edix_verdict_issue_path(v, 0), "/Order/", 7) == 0);
    assert_null(strchr(edix_verdict_issue_message(v, 0), '\n'));
    edix_verdict_destroy(&v);
    free(doc);
}

/*  ---- hostile input ---------------------------------------------------- */

#define UBL_INVOICE_OPEN                                                                           \
    "<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\" "                   \
    "xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2\">"

typedef struct {
    const char *name;
    const char *text; /* the document, or NULL: built by the test */
    size_t len;       /* 0: strlen(text) */
    const char *rule; /* the rule the verdict must carry */
} s_hostile_t;

static const s_hostile_t s_hostile[] = {
    {"xxe file entity",
     "<?xml version=\"1.0\"?>\n<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "
     "\"file:///etc/passwd\">]>\n" UBL_INVOICE_OPEN "<cbc:ID>&xxe;</cbc:ID></Invoice>",
     0, EDIX_RULE_DOCTYPE_DECL},
    {"parameter entity",
     "<!DOCTYPE Invoice [<!ENTITY % pe SYSTEM \"http://127.0.0.1:9/evil.dtd\"> "
     "%pe;]>" UBL_INVOICE_OPEN "</Invoice>",
     0, EDIX_RULE_DOCTYPE_DECL},
    {"billion laughs",
     "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
     "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
     "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
     "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
     "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
     "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
     "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
     "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
     "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
     "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">]>"
     "<lolz>&lol9;</lolz>",
     0, EDIX_RULE_DOCTYPE_DECL},
    {"external DTD only",
     "<!DOCTYPE Invoice SYSTEM \"http://127.0.0.1:9/x.dtd\">" UBL_INVOICE_OPEN "</Invoice>", 0,
     EDIX_RULE_DOCTYPE_DECL},
    {"bare DOCTYPE", "<!DOCTYPE Invoice>" UBL_INVOICE_OPEN "</Invoice>", 0, EDIX_RULE_DOCTYPE_DECL},
    {"attribute defaults",
     "<!DOCTYPE Invoice [<!ATTLIST Invoice x CDATA \"y\">]>" UBL_INVOICE_OPEN "</Invoice>", 0,
     EDIX_RULE_DOCTYPE_DECL},
    {"entity without DTD", UBL_INVOICE_OPEN "<cbc:ID>&xxe;</cbc:ID></Invoice>", 0, EDIX_RULE_PARSE},
    {"invalid UTF-8",
     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" UBL_INVOICE_OPEN
     "<cbc:ID>\xff\xfe\xc3\x28</cbc:ID></Invoice>",
     0, EDIX_RULE_PARSE},
    {"NUL byte", UBL_INVOICE_OPEN "<cbc:ID>a\0b</cbc:ID></Invoice>", sizeof(UBL_INVOICE_OPEN) + 29,
     EDIX_RULE_PARSE},
    {"unknown encoding",
     "<?xml version=\"1.0\" encoding=\"x-bogus\"?>" UBL_INVOICE_OPEN "</Invoice>", 0,
     EDIX_RULE_PARSE},
    {"two roots", UBL_INVOICE_OPEN "</Invoice>" UBL_INVOICE_OPEN "</Invoice>", 0, EDIX_RULE_PARSE},
    {"undeclared prefix", "<ubl:Invoice/>", 0, EDIX_RULE_PARSE},
    {"not XML", "%PDF-1.4 this is not xml", 0, EDIX_RULE_PARSE},
    {"empty", "", 0, EDIX_RULE_PARSE},
    {"wrong namespace", "<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Order-2\"/>",
     0, EDIX_RULE_DOCTYPE},
    {"foreign namespace", "<Invoice xmlns=\"urn:example:Invoice-2\"/>", 0, EDIX_RULE_DOCTYPE},
    {"no namespace", "<Invoice/>", 0, EDIX_RULE_DOCTYPE},
    {"unknown root", "<foo xmlns=\"urn:example\"><bar/></foo>", 0, EDIX_RULE_DOCTYPE},
    {"uncatalogued UBL type",
     "<Catalogue xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Catalogue-2\"/>", 0,
     EDIX_RULE_DOCTYPE},
    {"XInclude element",
     UBL_INVOICE_OPEN "<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" "
                      "href=\"file:///etc/passwd\" parse=\"text\"/></Invoice>",
     0, EDIX_RULE_XSD},
};

static void
s_expect_rule(edix_doc_checker_t *checker, const char *name, const char *bytes, size_t len,
              size_t max, const char *rule)
{
    edix_verdict_t *v = s_check(checker, bytes, len, max);
    size_t i;

    if (edix_verdict_valid(v))
        fail_msg("%s: got valid, want invalid with %s", name, rule);
    if (!s_has_rule(v, rule))
        fail_msg("%s: rules got '%s' (%s), want %s", name, s_error_rules(v), s_first_message(v),
                 rule);
    for (i = 0; i < edix_verdict_issue_count(v); i++)
        if (strstr(edix_verdict_issue_message(v, i), "root:x:0:0"))
            fail_msg("%s: /etc/passwd leaked into a message", name);
    edix_verdict_destroy(&v);
}

static void
test_hostile_table(void **state)
{
    size_t i;

    for (i = 0; i < sizeof s_hostile / sizeof s_hostile[0]; i++) {
        const s_hostile_t *h = &s_hostile[i];
        s_expect_rule(*state, h->name, h->text, h->len ? h->len : strlen(h->text), MAX_SIZE,
                      h->rule);
    }
}

static void
test_hostile_deep_nesting(void **state)
{
    const int depth = 10000;
    size_t cap = strlen(UBL_INVOICE_OPEN) + (size_t)depth * 8 + 64, n = 0;
    char *doc = malloc(cap);
    int i;

    assert_non_null(doc);
    n += (size_t)snprintf(doc + n, cap - n, "%s", UBL_INVOICE_OPEN);
    for (i = 0; i < depth; i++)
        n += (size_t)snprintf(doc + n, cap - n, "<a>");
    for (i = 0; i < depth; i++)
        n += (size_t)snprintf(doc + n, cap - n, "</a>");
    n += (size_t)snprintf(doc + n, cap - n, "</Invoice>");
    s_expect_rule(*state, "10,000-deep nesting", doc, n, MAX_SIZE, EDIX_RULE_PARSE);
    free(doc);
}

static void
test_hostile_truncated_and_garbage(void **state)
{
    size_t len, i;
    char *doc = s_corpus(INVOICE_EX1, &len);
    unsigned char garbage[4096];
    uint32_t x = 2463534242u;
    edix_verdict_t *v;

    s_expect_rule(*state, "truncated", doc, len / 2, MAX_SIZE, EDIX_RULE_PARSE);
    s_expect_rule(*state, "truncated at 1 byte", doc, 1, MAX_SIZE, EDIX_RULE_PARSE);
    for (i = 0; i < sizeof garbage; i++) {
        x ^= x << 13; /* xorshift: the same garbage on every run */
        x ^= x >> 17;
        x ^= x << 5;
        garbage[i] = (unsigned char)x;
    }
    s_expect_rule(*state, "binary garbage", (const char *)garbage, sizeof garbage, MAX_SIZE,
                  EDIX_RULE_PARSE);
    garbage[0] = '<';
    s_expect_rule(*state, "garbage after '<'", (const char *)garbage, sizeof garbage, MAX_SIZE,
                  EDIX_RULE_PARSE);

    /* parse errors say where */
    v = s_check(*state, doc, len / 2, MAX_SIZE);
    assert_true(strncmp(edix_verdict_issue_message(v, 0), "line ", 5) == 0);
    edix_verdict_destroy(&v);
    free(doc);
}

static void
test_hostile_oversize(void **state)
{
    size_t len;
    char *doc = s_corpus(INVOICE_EX1, &len);

    s_expect_rule(*state, "oversize", doc, len, len - 1, EDIX_RULE_SIZE);
    s_expect_rule(*state, "zero limit", doc, len, 0, EDIX_RULE_SIZE);
    /* exactly at the limit is fine */
    {
        edix_verdict_t *v = s_check(*state, doc, len, len);
        if (!edix_verdict_valid(v))
            fail_msg("at the limit: got '%s', want valid", s_error_rules(v));
        edix_verdict_destroy(&v);
    }
    free(doc);
}

/*  A document full of distinct element names makes the checker replace its
 *  parser context; checking must go on working afterwards.  */
static void
test_parser_dictionary_rotation(void **state)
{
    const int names = 60000;
    size_t cap = (size_t)names * 16 + 256, n = 0, len;
    char *doc = malloc(cap), *good;
    edix_verdict_t *v;
    int i;

    assert_non_null(doc);
    n += (size_t)snprintf(doc + n, cap - n, "%s", UBL_INVOICE_OPEN);
    for (i = 0; i < names; i++)
        n += (size_t)snprintf(doc + n, cap - n, "<n%d/>", i);
    n += (size_t)snprintf(doc + n, cap - n, "</Invoice>");
    s_expect_rule(*state, "many names", doc, n, MAX_SIZE, EDIX_RULE_XSD);
    free(doc);

    good = s_corpus(INVOICE_EX1, &len);
    v = s_check(*state, good, len, MAX_SIZE);
    if (!edix_verdict_valid(v))
        fail_msg("after rotation: got '%s', want valid", s_error_rules(v));
    edix_verdict_destroy(&v);
    free(good);
}

/*  The process-wide loader refuses everything while a checker exists.  */
static void
test_entity_loader_refuses(void **state)
{
    xmlExternalEntityLoader loader = xmlGetExternalEntityLoader();
    xmlParserInputPtr in;

    (void)state;
    assert_non_null(loader);
    in = loader("file:///etc/passwd", NULL, NULL);
    if (in != NULL) {
        xmlFreeInputStream(in);
        fail_msg("entity loader opened file:///etc/passwd, want refusal");
    }
}

/*  ---- consistency rules ------------------------------------------------ */

typedef struct {
    const char *name;
    const char *anchor; /* where to start looking for from */
    const char *from;
    const char *to;
    const char *rules; /* all error rules expected, in order */
} s_mutation_t;

static const s_mutation_t s_invoice_mutations[] = {
    {"line amount", "<cac:InvoiceLine>", ">19.90<", ">19.99<", "BR-CO-10"},
    {"tax exclusive", "<cac:LegalMonetaryTotal>", ">229.60</cbc:TaxExclusiveAmount>",
     ">229.61</cbc:TaxExclusiveAmount>", "BR-CO-13 BR-CO-15"},
    {"tax inclusive", "<cac:LegalMonetaryTotal>", ">250.33</cbc:TaxInclusiveAmount>",
     ">250.34</cbc:TaxInclusiveAmount>", "BR-CO-15 BR-CO-16"},
    {"payable", "<cac:LegalMonetaryTotal>", ">250.33</cbc:PayableAmount>",
     ">250.30</cbc:PayableAmount>", "BR-CO-16"},
    {"same value, fewer decimals", "<cac:InvoiceLine>", ">19.90<", ">19.9<", ""},
    /* the totals still agree; EN 16931 allows amounts at most 2 decimals */
    {"same value, more decimals", "<cac:InvoiceLine>", ">19.90<", ">19.9000<",
     "BR-DEC-23 UBL-DT-01"},
    {"line in other currency", "<cac:InvoiceLine>", "currencyID=\"EUR\"", "currencyID=\"USD\"",
     "EDIX-CURRENCY"},
    {"VAT total in other currency", "<cac:TaxTotal>", "currencyID=\"EUR\"", "currencyID=\"SEK\"",
     "BR-CO-15 EDIX-CURRENCY"},
};

/*  EN 16931 BT-111: a second VAT total in the tax accounting currency is
 *  neither a currency error nor part of BR-CO-15's sum; without
 *  cbc:TaxCurrencyCode the same element is a currency error.  */
static void
test_rules_tax_currency(void **state)
{
    size_t len, m1, m2;
    char *doc = s_corpus(INVOICE_EX1, &len);
    char *a =
        s_replace(doc, len, NULL, "</cbc:DocumentCurrencyCode>",
                  "</cbc:DocumentCurrencyCode><cbc:TaxCurrencyCode>SEK</cbc:TaxCurrencyCode>", &m1);
    char *b = s_replace(a, m1, NULL, "</cac:TaxTotal>",
                        "</cac:TaxTotal><cac:TaxTotal><cbc:TaxAmount currencyID=\"SEK\">"
                        "230.00</cbc:TaxAmount></cac:TaxTotal>",
                        &m2);
    char *c = s_replace(doc, len, NULL, "</cac:TaxTotal>",
                        "</cac:TaxTotal><cac:TaxTotal><cbc:TaxAmount currencyID=\"SEK\">"
                        "230.00</cbc:TaxAmount></cac:TaxTotal>",
                        &m1);
    edix_verdict_t *v = s_check(*state, b, m2, MAX_SIZE);

    if (!edix_verdict_valid(v))
        fail_msg("with TaxCurrencyCode: got '%s' (%s), want valid", s_error_rules(v),
                 s_first_message(v));
    edix_verdict_destroy(&v);
    v = s_check(*state, c, m1, MAX_SIZE);
    if (strcmp(s_error_rules(v), "EDIX-CURRENCY") != 0)
        fail_msg("without TaxCurrencyCode: got '%s', want 'EDIX-CURRENCY'", s_error_rules(v));
    edix_verdict_destroy(&v);
    free(c);
    free(b);
    free(a);
    free(doc);
}

static void
s_run_mutations(edix_doc_checker_t *checker, const char *rel, const s_mutation_t *m, size_t count)
{
    size_t len, i, mlen;
    char *doc = s_corpus(rel, &len), *changed;

    for (i = 0; i < count; i++) {
        edix_verdict_t *v;
        changed = s_replace(doc, len, m[i].anchor, m[i].from, m[i].to, &mlen);
        v = s_check(checker, changed, mlen, MAX_SIZE);
        if (strcmp(s_error_rules(v), m[i].rules) != 0)
            fail_msg("%s: rules got '%s' (%s), want '%s'", m[i].name, s_error_rules(v),
                     s_first_message(v), m[i].rules);
        edix_verdict_destroy(&v);
        free(changed);
    }
    free(doc);
}

static void
test_rules_invoice(void **state)
{
    s_run_mutations(*state, INVOICE_EX1, s_invoice_mutations,
                    sizeof s_invoice_mutations / sizeof s_invoice_mutations[0]);
}

/*  The BR-CO-10 issue says what was expected and found, and where.  */
static void
test_rules_br_co_10_message(void **state)
{
    size_t len, mlen;
    char *doc = s_corpus(INVOICE_EX1, &len);
    char *changed = s_replace(doc, len, "<cac:InvoiceLine>", ">19.90<", ">20.00<", &mlen);
    edix_verdict_t *v = s_check(*state, changed, mlen, MAX_SIZE);

    assert_false(edix_verdict_valid(v));
    assert_int_equal(edix_verdict_issue_count(v), 1);
    assert_string_equal(edix_verdict_issue_rule(v, 0), "BR-CO-10");
    assert_string_equal(edix_verdict_issue_message(v, 0),
                        "sum of line amounts 229.70 does not equal LineExtensionAmount 229.60");
    assert_string_equal(edix_verdict_issue_path(v, 0),
                        "/Invoice/cac:LegalMonetaryTotal/cbc:LineExtensionAmount");
    assert_int_equal(edix_verdict_issue_severity(v, 0), EDIX_SEV_ERROR);
    edix_verdict_destroy(&v);
    free(changed);
    free(doc);
}

/*  A valid CreditNote uses CreditNoteLine for BR-CO-10 (the 3-decimal line
 *  amount also breaks BR-DEC-23, UBL-DT-01 and the category E sum BR-E-08).  */
static void
test_rules_creditnote(void **state)
{
    static const s_mutation_t m[] = {
        {"credit line amount", "<cac:CreditNoteLine>", "</cbc:LineExtensionAmount>",
         "1</cbc:LineExtensionAmount>", "BR-CO-10 BR-DEC-23 UBL-DT-01 BR-E-08"},
    };

    s_run_mutations(*state, "en16931-connectingeurope/ubl/examples/ubl-tc434-creditnote1.xml", m,
                    1);
}

static void
test_rules_order(void **state)
{
    static const s_mutation_t m[] = {
        {"duplicate line id", "</cac:OrderLine>", "<cbc:ID>2</cbc:ID>", "<cbc:ID> 1 </cbc:ID>",
         "EDIX-ORDER-LINE-ID"},
        {"zero quantity", "<cac:OrderLine>", ">120</cbc:Quantity>", ">0.00</cbc:Quantity>",
         "EDIX-ORDER-QTY"},
        {"negative quantity", "<cac:OrderLine>", ">120</cbc:Quantity>", ">-1</cbc:Quantity>",
         "EDIX-ORDER-QTY"},
    };

    s_run_mutations(*state, ORDER_EX, m, sizeof m / sizeof m[0]);
}

/*  ---- extraction ------------------------------------------------------- */

static void
test_extract_order(void **state)
{
    size_t len;
    char *doc = s_corpus(ORDER_EX, &len);
    edix_verdict_t *v = s_check(*state, doc, len, MAX_SIZE);
    static const char *want_senders[] = {"GLN:7300072311115", "GLN:7300070011115", ":PartyID123"};
    static const char *want_receivers[] = {"GLN:7302347231111", ":SellerPartyID123"};
    size_t i;

    assert_true(edix_verdict_valid(v));
    assert_string_equal(edix_verdict_doctype(v), "Order");
    assert_string_equal(edix_verdict_document_id(v), "34");
    assert_null(edix_verdict_order_ref(v));
    assert_string_equal(edix_verdict_customization(v),
                        "urn:www.cenbii.eu:transaction:biicoretrdm001:ver1.0");
    assert_string_equal(edix_verdict_currency(v), "SEK");
    assert_int_equal(edix_verdict_sender_count(v), 3);
    for (i = 0; i < 3; i++)
        if (strcmp(edix_verdict_sender_id(v, i), want_senders[i]) != 0)
            fail_msg("sender %zu got %s, want %s", i, edix_verdict_sender_id(v, i),
                     want_senders[i]);
    assert_int_equal(edix_verdict_receiver_count(v), 2);
    for (i = 0; i < 2; i++)
        if (strcmp(edix_verdict_receiver_id(v, i), want_receivers[i]) != 0)
            fail_msg("receiver %zu got %s, want %s", i, edix_verdict_receiver_id(v, i),
                     want_receivers[i]);
    assert_null(edix_verdict_sender_id(v, 3));
    edix_verdict_destroy(&v);
    free(doc);
}

/*  Identifiers come out even when the schema says no; duplicates and
 *  whitespace go; ApplicationResponse's parties are Party elements
 *  themselves.  */
static void
test_extract_shapes(void **state)
{
    static const char doc[] =
        "<ApplicationResponse "
        "xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2\" "
        "xmlns:cac=\"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2\" "
        "xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2\">"
        "<cbc:ID> MLR-1 </cbc:ID>"
        "<cac:OrderReference><cbc:ID>PO-9</cbc:ID></cac:OrderReference>"
        "<cac:SenderParty><cbc:EndpointID schemeID=\" 0088 \">\n 7300010000001 \n</cbc:EndpointID>"
        "<cac:PartyIdentification><cbc:ID schemeID=\"0088\">7300010000001</cbc:ID>"
        "</cac:PartyIdentification>"
        "<cac:PartyIdentification><cbc:ID>  </cbc:ID></cac:PartyIdentification>"
        "<cac:PartyIdentification><cbc:ID>local-7</cbc:ID></cac:PartyIdentification>"
        "</cac:SenderParty>"
        "<cac:ReceiverParty><cbc:EndpointID schemeID=\"0192\">987654321</cbc:EndpointID>"
        "</cac:ReceiverParty>"
        "</ApplicationResponse>";
    edix_verdict_t *v = s_check(*state, doc, sizeof doc - 1, MAX_SIZE);

    assert_string_equal(edix_verdict_doctype(v), "ApplicationResponse");
    assert_false(edix_verdict_valid(v)); /* required elements missing */
    assert_true(s_has_rule(v, EDIX_RULE_XSD));
    assert_string_equal(edix_verdict_document_id(v), "MLR-1");
    assert_string_equal(edix_verdict_order_ref(v), "PO-9");
    assert_null(edix_verdict_customization(v));
    assert_int_equal(edix_verdict_sender_count(v), 2);
    assert_string_equal(edix_verdict_sender_id(v, 0), "0088:7300010000001");
    assert_string_equal(edix_verdict_sender_id(v, 1), ":local-7");
    assert_int_equal(edix_verdict_receiver_count(v), 1);
    assert_string_equal(edix_verdict_receiver_id(v, 0), "0192:987654321");
    edix_verdict_destroy(&v);
}

static void
test_extract_peppol_mlr(void **state)
{
    size_t len;
    char *doc =
        s_corpus("peppol-poacc-upgrade-3/rules/examples/MessageLevelResponse_Example.xml", &len);
    edix_verdict_t *v = s_check(*state, doc, len, MAX_SIZE);

    assert_true(edix_verdict_valid(v));
    assert_int_equal(edix_verdict_sender_count(v), 1);
    assert_string_equal(edix_verdict_sender_id(v, 0), "0088:7300010000001");
    assert_int_equal(edix_verdict_receiver_count(v), 1);
    assert_string_equal(edix_verdict_receiver_id(v, 0), "0088:7315458756328");
    edix_verdict_destroy(&v);
    free(doc);
}

/*  Parser warnings (here: XML 1.1, parsed with 1.0 rules) are kept as
 *  warnings: the document stays valid.  */
static void
test_warning_keeps_valid(void **state)
{
    size_t len, mlen;
    char *doc = s_corpus(ORDER_EX, &len);
    char *changed = s_replace(doc, len, NULL, "version=\"1.0\"", "version=\"1.1\"", &mlen);
    edix_verdict_t *v = s_check(*state, changed, mlen, MAX_SIZE);
    char *json;

    if (!edix_verdict_valid(v))
        fail_msg("got '%s', want valid", s_error_rules(v));
    assert_int_equal(edix_verdict_issue_count(v), 1);
    assert_int_equal(edix_verdict_issue_severity(v, 0), EDIX_SEV_WARNING);
    json = edix_verdict_json(v, NULL);
    assert_non_null(strstr(json, "\"valid\":true,\"errors\":[],\"warnings\":[{\"rule\":"));
    free(json);
    edix_verdict_destroy(&v);
    free(changed);
    free(doc);
}

/*  ---- verdict and JSON ------------------------------------------------- */

static void
test_verdict_json(void **state)
{
    edix_verdict_t *v = edix_verdict_new();
    char *json;

    (void)state;
    assert_non_null(v);
    assert_true(edix_verdict_valid(v));
    assert_string_equal(edix_verdict_doctype(v), "");
    json = edix_verdict_json(v, NULL);
    assert_string_equal(json, "{\"file\":null,\"doctype\":\"\",\"valid\":true,\"errors\":[],"
                              "\"warnings\":[]}");
    free(json);

    assert_int_equal(edix_verdict_add(v, EDIX_SEV_WARNING, "W-1", "just so", NULL), 0);
    assert_true(edix_verdict_valid(v));
    assert_int_equal(edix_verdict_add(v, EDIX_SEV_ERROR, "EDIX-PARTNER",
                                      "say \"hi\"\\\n\t\x01 caf\xc3\xa9 \xff end", "/a/b"),
                     0);
    assert_false(edix_verdict_valid(v));
    assert_string_equal(edix_verdict_issue_path(v, 0), "");
    json = edix_verdict_json(v, "dir/\"x\".xml");
    assert_string_equal(json,
                        "{\"file\":\"dir/\\\"x\\\".xml\",\"doctype\":\"\",\"valid\":false,"
                        "\"errors\":[{\"rule\":\"EDIX-PARTNER\",\"message\":\"say \\\"hi\\\"\\\\"
                        "\\u000a\\u0009\\u0001 caf\xc3\xa9 \\ufffd end\",\"path\":\"/a/b\"}],"
                        "\"warnings\":[{\"rule\":\"W-1\",\"message\":\"just so\",\"path\":\"\"}]}");
    free(json);
    json = edix_verdict_errors_json(v);
    assert_string_equal(json,
                        "[{\"rule\":\"EDIX-PARTNER\",\"message\":\"say \\\"hi\\\"\\\\"
                        "\\u000a\\u0009\\u0001 caf\xc3\xa9 \\ufffd end\",\"path\":\"/a/b\"}]");
    free(json);
    edix_verdict_destroy(&v);
    edix_verdict_destroy(&v);
    assert_null(v);
}

/*  Every issue is reported, not just the first.  */
static void
test_all_issues_listed(void **state)
{
    size_t len, m1, m2;
    char *doc = s_corpus(INVOICE_EX1, &len);
    char *a = s_replace(doc, len, "<cac:InvoiceLine>", ">19.90<", ">19.91<", &m1);
    char *b = s_replace(a, m1, "<cac:InvoiceLine>", "<cbc:ID>", "<cbc:Bogus/><cbc:ID>", &m2);
    edix_verdict_t *v = s_check(*state, b, m2, MAX_SIZE);

    if (strcmp(s_error_rules(v), "XSD BR-CO-10") != 0)
        fail_msg("rules got '%s', want 'XSD BR-CO-10'", s_error_rules(v));
    edix_verdict_destroy(&v);
    free(b);
    free(a);
    free(doc);
}

/*  ---- catalogue and construction -------------------------------------- */

static void
test_catalogue(void **state)
{
    edix_doc_checker_t *checker = *state;
    static const char *types[] = {
        "Order",         "OrderResponse", "OrderChange", "OrderCancellation",  "DespatchAdvice",
        "ReceiptAdvice", "Invoice",       "CreditNote",  "ApplicationResponse"};
    size_t i;

    for (i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (edix_doc_catalogue_has(CATALOGUE, types[i]) != 1)
            fail_msg("catalogue has %s: got no, want yes", types[i]);
        if (!edix_doc_type_known(checker, types[i]))
            fail_msg("checker knows %s: got no, want yes", types[i]);
    }
    assert_int_equal(edix_doc_catalogue_has(CATALOGUE, "Catalogue"), 0);
    assert_int_equal(edix_doc_catalogue_has(CATALOGUE, "order"), 0);
    assert_int_equal(edix_doc_catalogue_has("/nonexistent/doctypes.conf", "Order"), -1);
    assert_false(edix_doc_type_known(checker, "Catalogue"));
    assert_false(edix_doc_type_known(checker, ""));
    assert_int_equal(edix_doc_type_count(checker), sizeof types / sizeof types[0]);
    assert_non_null(edix_doc_type_name(checker, 0));
    assert_null(edix_doc_type_name(checker, edix_doc_type_count(checker)));
}

static char *
s_temp_catalogue(const char *content)
{
    char *path = strdup("/tmp/edix-test-doc-XXXXXX");
    int fd;

    assert_non_null(path);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static void
test_checker_new_failures(void **state)
{
    static const struct {
        const char *name;
        const char *schema_dir;
        const char *catalogue; /* content, written to a temp file; NULL: missing */
        const char *want;      /* in the error */
    } cases[] = {
        {"missing schema dir", "/nonexistent/xsdrt", "Order maindoc/UBL-Order-2.1.xsd A B\n",
         "/nonexistent/xsdrt"},
        {"missing catalogue", SCHEMA_DIR, NULL, "catalogue"},
        {"bad line", SCHEMA_DIR, "# ok\nOrder maindoc/UBL-Order-2.1.xsd A\n", "line 2"},
        {"escaping path", SCHEMA_DIR, "Order ../UBL-Order-2.1.xsd A B\n", "line 1"},
        {"duplicate", SCHEMA_DIR,
         "Order maindoc/UBL-Order-2.1.xsd A B\nOrder maindoc/UBL-Order-2.1.xsd A B\n", "twice"},
        {"empty", SCHEMA_DIR, "# nothing\n\n", "no document types"},
        {"missing schema", SCHEMA_DIR, "Order maindoc/UBL-Nothing-2.1.xsd A B\n",
         "UBL-Nothing-2.1.xsd"},
        {"odd characters", SCHEMA_DIR, "Order maindoc/UBL-Order-2.1.xsd\"& A B\n", "line 1"},
        {"wrong schema for type", SCHEMA_DIR, "Order maindoc/UBL-Invoice-2.1.xsd A B\n",
         "does not declare"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL, *path = NULL;
        edix_doc_checker_t *c;

        path = cases[i].catalogue ? s_temp_catalogue(cases[i].catalogue)
                                  : strdup("/nonexistent/doctypes.conf");
        c = edix_doc_checker_new(cases[i].schema_dir, path, &err);
        if (c != NULL)
            fail_msg("%s: got a checker, want NULL", cases[i].name);
        if (err == NULL || strstr(err, cases[i].want) == NULL)
            fail_msg("%s: error got '%s', want it to mention '%s'", cases[i].name,
                     err ? err : "(null)", cases[i].want);
        free(err);
        if (cases[i].catalogue)
            unlink(path);
        free(path);
    }
    /* a failed construction leaves the refusing loader of the live checker */
    test_entity_loader_refuses(state);
}

/*  A schema directory whose path needs escaping (space, '&') works; a file
 *  that is not a schema is named in the error.  */
static void
test_checker_schema_dir(void **state)
{
    char base[] = "/tmp/edix-test-doc-dir-XXXXXX";
    char dir[512], path[600], *err = NULL, *cat;
    edix_doc_checker_t *c;
    edix_verdict_t *v;
    size_t len;
    char *doc;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(base));
    snprintf(dir, sizeof dir, "%s/ubl 2.1 & co", base);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/maindoc", dir);
    assert_int_equal(symlink(SCHEMA_DIR "/maindoc", path), 0);
    snprintf(path, sizeof path, "%s/common", dir);
    assert_int_equal(symlink(SCHEMA_DIR "/common", path), 0);
    snprintf(path, sizeof path, "%s/bad.xsd", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not a schema\n", f);
    fclose(f);

    cat = s_temp_catalogue("Order maindoc/UBL-Order-2.1.xsd BuyerCustomerParty "
                           "SellerSupplierParty\n");
    c = edix_doc_checker_new(dir, cat, &err);
    if (c == NULL)
        fail_msg("escaped schema dir: got '%s', want a checker", err ? err : "?");
    doc = s_corpus(ORDER_EX, &len);
    v = s_check(c, doc, len, MAX_SIZE);
    if (!edix_verdict_valid(v))
        fail_msg("escaped schema dir: got '%s', want valid", s_error_rules(v));
    edix_verdict_destroy(&v);
    free(doc);
    edix_doc_checker_destroy(&c);
    unlink(cat);
    free(cat);

    cat = s_temp_catalogue("Order bad.xsd A B\n");
    c = edix_doc_checker_new(dir, cat, &err);
    if (c != NULL || err == NULL || strstr(err, "bad.xsd") == NULL)
        fail_msg("not a schema: error got '%s', want it to name bad.xsd", err ? err : "(null)");
    free(err);
    unlink(cat);
    free(cat);

    unlink(path);
    snprintf(path, sizeof path, "%s/maindoc", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/common", dir);
    unlink(path);
    rmdir(dir);
    rmdir(base);
    /* the first checker still refuses entities */
    test_entity_loader_refuses(state);
}

/*  Repeated checks reuse the compiled schemas and parser; under the
 *  sanitizers this is also the leak check for the hot path.  */
static void
test_repeat(void **state)
{
    size_t len, i;
    char *doc = s_corpus(INVOICE_EX1, &len);

    for (i = 0; i < 200; i++) {
        edix_verdict_t *v = s_check(*state, doc, len, MAX_SIZE);
        if (!edix_verdict_valid(v))
            fail_msg("round %zu: got '%s', want valid", i, s_error_rules(v));
        assert_string_equal(edix_verdict_document_id(v), "12115118");
        assert_int_equal(edix_verdict_receiver_count(v), 1);
        assert_string_equal(edix_verdict_receiver_id(v, 0), ":10202");
        edix_verdict_destroy(&v);
    }
    free(doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_valid),
        cmocka_unit_test(test_order_bad1_xsd),
        cmocka_unit_test(test_hostile_table),
        cmocka_unit_test(test_hostile_deep_nesting),
        cmocka_unit_test(test_hostile_truncated_and_garbage),
        cmocka_unit_test(test_hostile_oversize),
        cmocka_unit_test(test_parser_dictionary_rotation),
        cmocka_unit_test(test_entity_loader_refuses),
        cmocka_unit_test(test_rules_invoice),
        cmocka_unit_test(test_rules_br_co_10_message),
        cmocka_unit_test(test_rules_tax_currency),
        cmocka_unit_test(test_rules_creditnote),
        cmocka_unit_test(test_rules_order),
        cmocka_unit_test(test_extract_order),
        cmocka_unit_test(test_extract_shapes),
        cmocka_unit_test(test_extract_peppol_mlr),
        cmocka_unit_test(test_warning_keeps_valid),
        cmocka_unit_test(test_verdict_json),
        cmocka_unit_test(test_all_issues_listed),
        cmocka_unit_test(test_catalogue),
        cmocka_unit_test(test_checker_new_failures),
        cmocka_unit_test(test_checker_schema_dir),
        cmocka_unit_test(test_repeat),
    };

    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
