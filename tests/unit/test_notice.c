/*
 * test_notice.c - unit tests of status notifications (notice.c): the
 * ApplicationResponse for a delivered and for a rejected document validates
 * against the official UBL 2.1 schema (read in place from the shared
 * corpus), says AP or RE, carries one cac:Status per reason, and every text
 * survives - XML specials escaped, control characters (not allowed in
 * XML 1.0) replaced by a space - as a parser reads it back.
 */
#include "doc.h"
#include "notice.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#define SCHEMA_DIR EDIX_CORPUS_DIR "/oasis-ubl-2.1/xsdrt"
#define CATALOGUE  EDIX_SOURCE_DIR "/schemas/doctypes.conf"

/* 2026-11-23T14:05:01.123Z */
#define AT_MS 1795442701123LL

static edix_doc_checker_t *s_checker;

static int
group_setup(void **state)
{
    char *err = NULL;
    (void)state;
    s_checker = edix_doc_checker_new(SCHEMA_DIR, CATALOGUE, &err);
    if (!s_checker) {
        fprintf(stderr, "cannot compile the UBL schemas: %s\n", err ? err : "?");
        free(err);
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    edix_doc_checker_destroy(&s_checker);
    xmlCleanupParser();
    return 0;
}

/* the XML must be schema-valid, an ApplicationResponse */
static void
s_expect_valid(const char *name, const char *xml)
{
    edix_verdict_t *v = NULL;
    char *err = NULL;
    if (edix_doc_check(s_checker, xml, strlen(xml), 10u << 20, &v, &err) != 0)
        fail_msg("%s: edix_doc_check failed: %s", name, err ? err : "?");
    if (!edix_verdict_valid(v)) {
        char *json = edix_verdict_json(v, name);
        fail_msg("%s: got invalid (%s), want valid\n%s", name, json, xml);
    }
    if (strcmp(edix_verdict_doctype(v), "ApplicationResponse") != 0)
        fail_msg("%s: got doctype %s, want ApplicationResponse", name, edix_verdict_doctype(v));
    /* the hub is no partner: the notice is addressed to the partner by id */
    if (edix_verdict_receiver_count(v) != 1 || strcmp(edix_verdict_receiver_id(v, 0), ":acme") != 0)
        fail_msg("%s: got receiver %s, want :acme", name,
                 edix_verdict_receiver_count(v) ? edix_verdict_receiver_id(v, 0) : "(none)");
    edix_verdict_destroy(&v);
}

/* The texts of the nodes at xpath, joined by '|' (malloc'd). */
static char *
s_texts(const char *xml, const char *xpath)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "notice.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        fail_msg("the notice is not well-formed XML:\n%s", xml);
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, BAD_CAST "ar",
                       BAD_CAST "urn:oasis:names:specification:ubl:schema:xsd:"
                                "ApplicationResponse-2");
    xmlXPathRegisterNs(ctx, BAD_CAST "cac",
                       BAD_CAST "urn:oasis:names:specification:ubl:schema:xsd:"
                                "CommonAggregateComponents-2");
    xmlXPathRegisterNs(ctx, BAD_CAST "cbc",
                       BAD_CAST "urn:oasis:names:specification:ubl:schema:xsd:"
                                "CommonBasicComponents-2");
    xmlXPathObjectPtr res = xmlXPathEvalExpression(BAD_CAST xpath, ctx);
    assert_non_null(res);
    edix_buf_t b;
    edix_buf_init(&b);
    for (int i = 0; res->nodesetval && i < res->nodesetval->nodeNr; i++) {
        xmlChar *t = xmlNodeGetContent(res->nodesetval->nodeTab[i]);
        edix_buf_addf(&b, "%s%s", i ? "|" : "", t ? (const char *)t : "");
        xmlFree(t);
    }
    xmlXPathFreeObject(res);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return edix_buf_take(&b);
}

static void
s_expect_xpath(const char *xml, const char *xpath, const char *want)
{
    char *got = s_texts(xml, xpath);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", xpath, got, want);
    free(got);
}

static void
test_delivered(void **state)
{
    (void)state;
    edix_notice_t n = {
        .notice_id = "0190a1b2c3d4aaaaaaaaaaaa",
        .partner = "acme",
        .ref_id = "0190a1b2c3d4bbbbbbbbbbbb",
        .client_id = "PO-4711",
        .doc_number = "4711",
        .doctype = "Order",
        .delivered = 1,
        .receiver = "globex",
        .at_ms = AT_MS,
    };
    char *xml = edix_notice_build(&n);
    s_expect_valid("delivered", xml);
    s_expect_xpath(xml, "/ar:ApplicationResponse/cbc:ID", "0190a1b2c3d4aaaaaaaaaaaa");
    s_expect_xpath(xml, "/ar:ApplicationResponse/cbc:IssueDate", "2026-11-23");
    s_expect_xpath(xml, "/ar:ApplicationResponse/cbc:IssueTime", "14:05:01Z");
    s_expect_xpath(xml, "//cac:ReceiverParty/cac:PartyIdentification/cbc:ID", "acme");
    s_expect_xpath(xml, "//cac:Response/cbc:ReferenceID", "0190a1b2c3d4bbbbbbbbbbbb");
    s_expect_xpath(xml, "//cac:Response/cbc:ResponseCode", "AP");
    s_expect_xpath(xml, "//cac:Response/cbc:Description", "delivered to globex");
    s_expect_xpath(xml, "//cac:Status", "");
    s_expect_xpath(xml, "//cac:DocumentReference/cbc:ID", "4711");
    s_expect_xpath(xml, "//cac:DocumentReference/cbc:DocumentType", "Order");
    free(xml);
}

/* without a document number and type: the client id stands in, and the
 * optional elements are left out, still valid */
static void
test_delivered_minimal(void **state)
{
    (void)state;
    edix_notice_t n = {
        .notice_id = "n1",
        .partner = "acme",
        .ref_id = "r1",
        .client_id = "PO-1",
        .delivered = 1,
        .at_ms = 0,
    };
    char *xml = edix_notice_build(&n);
    s_expect_valid("delivered minimal", xml);
    s_expect_xpath(xml, "/ar:ApplicationResponse/cbc:IssueDate", "1970-01-01");
    s_expect_xpath(xml, "//cac:Response/cbc:Description", "delivered to the receiver");
    s_expect_xpath(xml, "//cac:DocumentReference/cbc:ID", "PO-1");
    s_expect_xpath(xml, "//cac:DocumentReference/cbc:DocumentType", "");
    free(xml);
}

static void
test_rejected(void **state)
{
    (void)state;
    static const edix_notice_reason_t reasons[] = {
        {"XSD", "Element 'cbc:Note': This element is not expected. Expected is <cbc:ID>.",
         "/Invoice/cbc:Note"},
        {"BR-CO-10", "Sum of lines 100.00 & allowances \"0\" differ from <LineExtensionAmount>",
         ""},
        {"EDIX-RECEIVER", "no partner for\tGLN\r\n0088:\x01\x1f\x7f 'x' > y", NULL},
    };
    edix_notice_t n = {
        .notice_id = "0190a1b2c3d4cccccccccccc",
        .partner = "acme",
        .ref_id = "0190a1b2c3d4dddddddddddd",
        .client_id = "INV<1>&\"2\"",
        .doc_number = NULL,
        .doctype = "Invoice",
        .delivered = 0,
        .reasons = reasons,
        .reason_count = 3,
        .at_ms = AT_MS,
    };
    char *xml = edix_notice_build(&n);

    /* the raw specials never appear unescaped in text */
    if (strstr(xml, "<LineExtensionAmount>") || strstr(xml, "& allowances") || strstr(xml, "\"0\""))
        fail_msg("got unescaped text in\n%s", xml);
    assert_non_null(strstr(xml, "&lt;LineExtensionAmount&gt;"));
    assert_non_null(strstr(xml, "&amp; allowances &quot;0&quot;"));
    for (const char *p = xml; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t')
            fail_msg("got control character 0x%02x at offset %zu, want none", (unsigned char)*p,
                     (size_t)(p - xml));

    s_expect_valid("rejected", xml);
    s_expect_xpath(xml, "//cac:Response/cbc:ResponseCode", "RE");
    s_expect_xpath(xml, "//cac:Response/cbc:Description", "rejected: 3 reasons");
    s_expect_xpath(xml, "//cac:Status/cbc:StatusReasonCode", "XSD|BR-CO-10|EDIX-RECEIVER");
    s_expect_xpath(xml, "//cac:Status/cbc:StatusReason",
                   "Element 'cbc:Note': This element is not expected. Expected is <cbc:ID>.|"
                   "Sum of lines 100.00 & allowances \"0\" differ from <LineExtensionAmount>|"
                   "no partner for\tGLN \n0088:  \x7f 'x' > y");
    /* a path only where there is one */
    s_expect_xpath(xml, "//cac:Status/cbc:Text", "/Invoice/cbc:Note");
    s_expect_xpath(xml, "//cac:DocumentReference/cbc:ID", "INV<1>&\"2\"");
    s_expect_xpath(xml, "//cac:DocumentReference/cbc:DocumentType", "Invoice");
    free(xml);
}

static void
test_rejected_counts(void **state)
{
    static const edix_notice_reason_t one[] = {{"EDIX-DOCTYPE", "unknown type", ""}};
    static const struct {
        size_t count;
        const char *description;
        const char *codes;
    } cases[] = {
        {0, "rejected: 0 reasons", ""},
        {1, "rejected: 1 reason", "EDIX-DOCTYPE"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        edix_notice_t n = {
            .notice_id = "n",
            .partner = "acme",
            .ref_id = "r",
            .client_id = "c",
            .delivered = 0,
            .reasons = one,
            .reason_count = cases[i].count,
            .at_ms = AT_MS,
        };
        char *xml = edix_notice_build(&n);
        s_expect_valid(cases[i].description, xml);
        s_expect_xpath(xml, "//cac:Response/cbc:Description", cases[i].description);
        s_expect_xpath(xml, "//cac:Status/cbc:StatusReasonCode", cases[i].codes);
        free(xml);
    }
}

/* a delivered notice ignores any reasons it is handed */
static void
test_delivered_ignores_reasons(void **state)
{
    static const edix_notice_reason_t r[] = {{"X", "y", ""}};
    (void)state;
    edix_notice_t n = {.notice_id = "n",
                       .partner = "acme",
                       .ref_id = "r",
                       .client_id = "c",
                       .delivered = 1,
                       .receiver = "b",
                       .reasons = r,
                       .reason_count = 1,
                       .at_ms = AT_MS};
    char *xml = edix_notice_build(&n);
    s_expect_valid("delivered with reasons", xml);
    s_expect_xpath(xml, "//cac:Status", "");
    free(xml);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivered),
        cmocka_unit_test(test_delivered_minimal),
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_rejected_counts),
        cmocka_unit_test(test_delivered_ignores_reasons),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
