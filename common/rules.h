/*  rules.h - the business-rule engine (private to common/)
 *
 *  PURPOSE
 *      Runs business rules that are data, not code: rule files under
 *      <datadir>/rules/NAME.rules name each rule by its official ID (BR-CO-10,
 *      PEPPOL-EN16931-R001, ...), its severity, the elements it applies to
 *      (an XPath 1.0 context) and its test (an XPath 1.0 expression with
 *      the few extension functions XPath 1.0 lacks: exact decimal
 *      arithmetic with the standards' rounding, code-list membership, date
 *      and identifier checks).  Code lists are plain files under
 *      <datadir>/codelists/NAME.txt.  The rule-file format is described at the
 *      top of rules.c and in schemas/rules/README.
 *
 *  GUARANTEES
 *      - Every XPath expression is compiled once, in edix_rules_new; a
 *        check reuses one XPath context.  A malformed rule file, an
 *        expression that does not compile, an unknown code list or an
 *        include of an unknown set makes edix_rules_new fail with the file
 *        and line in *err.
 *      - A check reports each failed assertion through the callback, with
 *        the node it is about; at most EDIX_RULES_MAX_PER_RULE reports per
 *        rule and document.  Nothing is printed.
 *      - A rule whose expression fails at run time (a bug in the rule
 *        data) is reported as failed, with a message saying so, and counted
 *        (edix_rules_eval_errors) so tests can insist on zero.
 *
 *  ON FAILURE
 *      edix_rules_new returns NULL and *err (malloc'd, caller frees);
 *      edix_rules_check returns -1 and *err for an unknown set name or out
 *      of memory.
 *
 *  THREADS
 *      One engine per thread (it owns a reused XPath context).
 *
 *  This header carries libxml2 types and is included only by doc.c, the
 *  engine's own files and its tests.
 */
#ifndef EDIX_RULES_H
#define EDIX_RULES_H

#include <stddef.h>

#include <libxml/tree.h>

#define EDIX_RULES_MAX_PER_RULE 50 /* reports per rule and document */

typedef struct edix_rules edix_rules_t;

/*  One failed assertion.  message and rule are valid during the call only;
 *  node is the element (or attribute) the rule is about.  */
typedef void (*edix_rules_report_fn)(void *arg, int severity, const char *rule, const char *message,
                                     xmlNodePtr node);

/*  Loads every <datadir>/codelists/NAME.txt and <datadir>/rules/NAME.rules.  A
 *  datadir without a rules/ directory gives an engine with no rule sets
 *  (checks then report nothing).  NULL and *err on failure.  */
edix_rules_t *edix_rules_new(const char *datadir, char **err);
void edix_rules_destroy(edix_rules_t **self_p);

size_t edix_rules_set_count(const edix_rules_t *self);
const char *edix_rules_set_name(const edix_rules_t *self, size_t i); /* NULL past the end */
int edix_rules_set_known(const edix_rules_t *self, const char *name);
size_t edix_rules_assert_count(const edix_rules_t *self); /* over all sets */

/*  Runs rule set `set` (and the sets it includes) on doc; with set NULL,
 *  every set whose `select` expression is true for doc (none: nothing
 *  runs).  *selected_p, when not NULL, is set to the number of sets run.
 *  0, or -1 and *err.  */
int edix_rules_check(edix_rules_t *self, xmlDocPtr doc, const char *set,
                     edix_rules_report_fn report, void *arg, size_t *selected_p, char **err);

/*  Simple rules (existence, blank, count, decimals, code list) run on a
 *  native fast path instead of libxml2's XPath; edix_rules_fast_count says
 *  how many contexts and asserts do.  With verify on, every such rule is
 *  also evaluated by libxml2 and each difference counted (for tests):
 *  edix_rules_mismatches, *last the last one's description.  */
void edix_rules_set_verify(edix_rules_t *self, int on);
size_t edix_rules_mismatches(const edix_rules_t *self, const char **last);
size_t edix_rules_fast_count(const edix_rules_t *self);

/*  Run-time expression failures since the engine was made, and the last
 *  one's message ("" if none).  */
size_t edix_rules_eval_errors(const edix_rules_t *self);
const char *edix_rules_last_eval_error(const edix_rules_t *self);

#endif
