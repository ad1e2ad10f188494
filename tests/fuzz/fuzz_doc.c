/*
 * fuzz_doc.c - libFuzzer harness for the untrusted-document check path:
 * hardened parse, document type from the root, XSD validation against the
 * official UBL 2.1 schemas and the business rules (edix_doc_check), then
 * everything a caller reads from the verdict.
 *
 * One checker is made in LLVMFuzzerInitialize (compiling the schemas takes
 * seconds) and serves every input, as in edix-validator.  The schemas come
 * from $EDIX_SCHEMA_DIR, else the shared corpus named at build time; the
 * catalogue from $EDIX_CATALOGUE, else the source tree's.
 *
 * Beyond what the sanitizers catch, the verdict must hold together: valid
 * exactly when no issue is an error, JSON always produced, every string
 * present; and nothing may reach libxml2's print-to-stderr channel (doc.h:
 * "nothing is printed"), which the harness points at a trap.  A broken
 * invariant traps, so the fuzzer reports it.
 */
#include "doc.h"

#include <libxml/xmlerror.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef EDIX_FUZZ_SCHEMAS
#define EDIX_FUZZ_SCHEMAS "../shared/corpus/oasis-ubl-2.1/xsdrt"
#endif
#ifndef EDIX_FUZZ_CATALOGUE
#define EDIX_FUZZ_CATALOGUE "schemas/doctypes.conf"
#endif

#define FUZZ_MAX_SIZE ((size_t)1 << 20) /* the cap handed to the checker */

static edix_doc_checker_t *s_checker;

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_doc: invariant broken: %s (line %d)\n", #cond, __LINE__);        \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* libxml2's generic channel prints to stderr: the checker must never let
 * a document's problem get there instead of into its verdict */
static void s_printed(void *ctx, const char *msg, ...) __attribute__((format(printf, 2, 3)));

static void
s_printed(void *ctx, const char *msg, ...)
{
    va_list ap;
    (void)ctx;
    fputs("fuzz_doc: libxml2 printed instead of reporting: ", stderr);
    va_start(ap, msg);
    vfprintf(stderr, msg, ap);
    va_end(ap);
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *schemas = getenv("EDIX_SCHEMA_DIR");
    const char *catalogue = getenv("EDIX_CATALOGUE");
    char *err = NULL;
    s_checker = edix_doc_checker_new(schemas ? schemas : EDIX_FUZZ_SCHEMAS,
                                     catalogue ? catalogue : EDIX_FUZZ_CATALOGUE, &err);
    if (!s_checker) {
        fprintf(stderr, "fuzz_doc: cannot make a checker: %s\n", err ? err : "?");
        exit(1);
    }
    xmlSetGenericErrorFunc(NULL, s_printed);
    return 0;
}

static void
s_read_verdict(const edix_verdict_t *v)
{
    int errors = 0;
    size_t n = edix_verdict_issue_count(v);
    for (size_t i = 0; i < n; i++) {
        int sev = edix_verdict_issue_severity(v, i);
        S_CHECK(sev == EDIX_SEV_ERROR || sev == EDIX_SEV_WARNING);
        errors += sev == EDIX_SEV_ERROR;
        S_CHECK(edix_verdict_issue_rule(v, i) && *edix_verdict_issue_rule(v, i));
        S_CHECK(edix_verdict_issue_message(v, i));
        S_CHECK(edix_verdict_issue_path(v, i));
    }
    S_CHECK(edix_verdict_valid(v) == (errors == 0));
    S_CHECK(edix_verdict_doctype(v));
    /* an unknown type is never valid */
    S_CHECK(*edix_verdict_doctype(v) || !edix_verdict_valid(v));
    for (size_t i = 0; i < edix_verdict_sender_count(v); i++)
        S_CHECK(strchr(edix_verdict_sender_id(v, i), ':'));
    for (size_t i = 0; i < edix_verdict_receiver_count(v); i++)
        S_CHECK(strchr(edix_verdict_receiver_id(v, i), ':'));
    (void)edix_verdict_document_id(v);
    (void)edix_verdict_order_ref(v);
    (void)edix_verdict_customization(v);
    (void)edix_verdict_currency(v);
    char *json = edix_verdict_json(v, "fuzz");
    char *errs = edix_verdict_errors_json(v);
    S_CHECK(json && json[0] == '{' && json[strlen(json) - 1] == '}');
    S_CHECK(errs && errs[0] == '[' && errs[strlen(errs) - 1] == ']');
    free(json);
    free(errs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    edix_verdict_t *v = NULL;
    char *err = NULL;
    if (edix_doc_check(s_checker, (const char *)data, size, FUZZ_MAX_SIZE, &v, &err) < 0) {
        /* only running out of memory may fail; the sanitizers say so first */
        fprintf(stderr, "fuzz_doc: check failed: %s\n", err ? err : "?");
        free(err);
        __builtin_trap();
    }
    s_read_verdict(v);
    edix_verdict_destroy(&v);
    S_CHECK(v == NULL);
    return 0;
}
