/*  doc.h - the untrusted-document check path
 *
 *  PURPOSE
 *      One checker shared by edix-validator and `edix-admin validate`: it
 *      takes the bytes a partner submitted and answers with a verdict - the
 *      document type, the identifiers the router and the partner checks need,
 *      and every problem found (parse, DOCTYPE, XSD, consistency rules).
 *
 *  GUARANTEES
 *      - Untrusted input is parsed from memory under a size cap, with no
 *        network, no DTD loading, no entity substitution, no XInclude and no
 *        HUGE limits; any DOCTYPE is refused before its internal subset is
 *        read; the process-wide external entity loader refuses everything
 *        while a checker exists.  Nothing is printed to stderr.
 *      - Schemas are compiled once, in edix_doc_checker_new, from local
 *        files only.
 *      - A verdict lists every issue found, not only the first.
 *
 *  ON FAILURE
 *      Constructors return NULL, other calls -1, with a malloc'd message in
 *      *err that the caller frees.  A bad document is not a failure: it is a
 *      verdict with error issues.  Only running out of memory is.
 *
 *  THREADS
 *      One checker per process, used from one thread.
 */
#ifndef EDIX_DOC_H
#define EDIX_DOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct edix_doc_checker edix_doc_checker_t;
typedef struct edix_verdict edix_verdict_t;

enum { EDIX_SEV_ERROR = 0, EDIX_SEV_WARNING = 1 };

/*  Rule identifiers of the checker's own issues.  Consistency rules use the
 *  official EN 16931 ids (BR-CO-10, ...) where one exists.  */
#define EDIX_RULE_SIZE          "EDIX-SIZE"          /* input larger than max_size */
#define EDIX_RULE_PARSE         "EDIX-XML-PARSE"     /* not well-formed XML */
#define EDIX_RULE_DOCTYPE_DECL  "EDIX-XML-DOCTYPE"   /* DOCTYPE present */
#define EDIX_RULE_DOCTYPE       "EDIX-DOCTYPE"       /* root is no catalogued type */
#define EDIX_RULE_XSD           "XSD"                /* official schema says no */
#define EDIX_RULE_CURRENCY      "EDIX-CURRENCY"      /* amount not in doc currency */
#define EDIX_RULE_ORDER_LINE_ID "EDIX-ORDER-LINE-ID" /* duplicate line id */
#define EDIX_RULE_ORDER_QTY     "EDIX-ORDER-QTY"     /* ordered quantity <= 0 */

/*  Most schema errors kept in one verdict; one more issue says how many were
 *  left out.  */
#define EDIX_DOC_MAX_XSD_ISSUES 50

/*  ---- checker ---------------------------------------------------------- */

/*  Loads the catalogue and compiles the schema of every type in it.
 *  schema_dir: e.g. .../oasis-ubl-2.1/xsdrt; catalogue: path of
 *  schemas/doctypes.conf.  Installs an external entity loader that refuses
 *  everything (the previous one comes back on destroy).  NULL and *err on
 *  failure (missing directory, bad catalogue line, unreadable or
 *  uncompilable schema: the message names the file).  */
edix_doc_checker_t *edix_doc_checker_new(const char *schema_dir, const char *catalogue, char **err);
void edix_doc_checker_destroy(edix_doc_checker_t **self_p);

/*  1 when doctype (e.g. "Invoice") is in the checker's catalogue, else 0.  */
int edix_doc_type_known(const edix_doc_checker_t *self, const char *doctype);

/*  Number of catalogued types, and the name of type i (for listing them,
 *  e.g. to expand "all" in admin --send/--receive).  */
size_t edix_doc_type_count(const edix_doc_checker_t *self);
const char *edix_doc_type_name(const edix_doc_checker_t *self, size_t i);

/*  The same question without compiling schemas (admin partner add):
 *  1 yes, 0 no, -1 catalogue unreadable or malformed.  */
int edix_doc_catalogue_has(const char *catalogue, const char *doctype);

/*  Checks len bytes (not NUL-terminated).  Input larger than max_size is
 *  refused with rule EDIX-SIZE without being parsed.  Returns 0 and a
 *  verdict (valid or not) in *verdict_p, owned by the caller; -1 only for an
 *  internal failure (out of memory), with *err and *verdict_p NULL.  */
int edix_doc_check(edix_doc_checker_t *self, const char *bytes, size_t len, size_t max_size,
                   edix_verdict_t **verdict_p, char **err);

/*  ---- verdict ---------------------------------------------------------- */

/*  An empty verdict (valid, doctype ""), for callers that must report on a
 *  document they could not hand to edix_doc_check (unreadable file, ...).
 *  NULL when out of memory.  */
edix_verdict_t *edix_verdict_new(void);
void edix_verdict_destroy(edix_verdict_t **self_p);

int edix_verdict_valid(const edix_verdict_t *self);                 /* 1: no error issue */
const char *edix_verdict_doctype(const edix_verdict_t *self);       /* "" unknown */
const char *edix_verdict_document_id(const edix_verdict_t *self);   /* or NULL */
const char *edix_verdict_order_ref(const edix_verdict_t *self);     /* or NULL */
const char *edix_verdict_customization(const edix_verdict_t *self); /* or NULL */
const char *edix_verdict_currency(const edix_verdict_t *self);      /* or NULL */

/*  Party identifiers of the catalogue's sender and receiver roles, as
 *  "scheme:value" (":value" without schemeID), EndpointID first, then each
 *  PartyIdentification/ID in document order, without duplicates.  */
size_t edix_verdict_sender_count(const edix_verdict_t *self);
const char *edix_verdict_sender_id(const edix_verdict_t *self, size_t i);
size_t edix_verdict_receiver_count(const edix_verdict_t *self);
const char *edix_verdict_receiver_id(const edix_verdict_t *self, size_t i);

/*  Callers (the validator's partner checks) add their own issues.  path may
 *  be NULL (stored as "").  0, or -1 when out of memory.  */
int edix_verdict_add(edix_verdict_t *self, int severity, const char *rule, const char *message,
                     const char *path);

size_t edix_verdict_issue_count(const edix_verdict_t *self);
const char *edix_verdict_issue_rule(const edix_verdict_t *self, size_t i);
const char *edix_verdict_issue_message(const edix_verdict_t *self, size_t i);
const char *edix_verdict_issue_path(const edix_verdict_t *self, size_t i);
int edix_verdict_issue_severity(const edix_verdict_t *self, size_t i);

/*  One JSON object, exactly
 *  {"file":...,"doctype":...,"valid":true|false,
 *   "errors":[{"rule":...,"message":...,"path":...}],"warnings":[...]}
 *  file NULL gives "file":null.  Strings are escaped (control characters as
 *  \u00XX, invalid UTF-8 as U+FFFD).  malloc'd, caller frees; NULL when out
 *  of memory.  */
char *edix_verdict_json(const edix_verdict_t *self, const char *file);

/*  The errors only, as a compact JSON array (stored with a rejected
 *  message).  malloc'd, caller frees; NULL when out of memory.  */
char *edix_verdict_errors_json(const edix_verdict_t *self);

#ifdef __cplusplus
}
#endif

#endif
