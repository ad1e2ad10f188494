/*  rules.c - business rules as data: loading rule files and running them
 *
 *  PURPOSE
 *      Reads the rule sets in <datadir>/rules/NAME.rules, compiles every XPath
 *      expression once, and runs a set on a parsed document, reporting each
 *      failed assertion with its official rule ID, severity, message and
 *      node.  The extension functions and code lists are in rules_fn.c.
 *
 *  RULE FILES
 *      Line oriented; '#' starts a comment line; a line ending in '\' goes
 *      on on the next line.  Keywords (the rest of the line is the value):
 *
 *          set NAME            starts a rule set; what follows belongs to it
 *          title TEXT          what the set is, for people
 *          include NAME        runs set NAME first (its rules become part
 *                              of this set; an included set runs once)
 *          select XPATH        the set applies by itself to a document when
 *                              this is true at the document node (a set
 *                              without select only runs when named or
 *                              included)
 *          cap warning         everything this set runs (its includes too)
 *                              is reported as a warning at most
 *          ns PREFIX URI       namespace prefix used by the set's XPaths
 *          let NAME XPATH      variable $NAME, evaluated once per document
 *          context XPATH       the nodes the following asserts apply to,
 *                              evaluated from the document node
 *          var NAME XPATH      (after a context) variable $NAME, evaluated on
 *                              each context node before its asserts (as a
 *                              Schematron rule's let)
 *          when XPATH          (after a context) evaluate the context only
 *                              when this is true at the document node: a
 *                              cheap guard for rules that cannot fail when
 *                              what they are about is absent
 *          assert ID SEV XPATH a rule: ID is the official rule ID, SEV
 *                              fatal or warning, XPATH must be true for
 *                              every context node
 *          at XPATH            (after an assert) the node to report,
 *                              relative to the context node (default: the
 *                              context node itself)
 *          message TEXT        (after an assert) the message; {XPATH} parts
 *                              are replaced by their string value on the
 *                              context node, {{ is a literal brace
 *
 *      XPath is 1.0 with libxml2's functions plus the edix: library of
 *      rules_fn.c.  Asserts run in file order: contexts in order, for each
 *      context node in document order its asserts in order.
 *
 *  SPEED
 *      Every expression is compiled once, at load.  Most are also inside
 *      the subset rules_fast.c evaluates natively (selects, guards, lets,
 *      contexts, vars and asserts alike); the rest go through libxml2
 *      with one reused context.  Variables live in a table indexed by a
 *      slot each name gets at load, not in libxml2's hash.  A context whose
 *      paths step through an element the document does not have is
 *      skipped without evaluation (s_requirements).  With verify on
 *      (edix_rules_set_verify) every native answer is checked against
 *      libxml2's and differences are counted: the unit tests run the whole
 *      corpus that way.
 *
 *  GUARANTEES
 *      See rules.h.  Loading is all or nothing.  A document's variables
 *      are released after each check, so no node pointer outlives it.
 *
 *  ON FAILURE
 *      edix_rules_new: NULL with the file and line in *err.
 */
#define _GNU_SOURCE
#include "rules.h"
#include "rules_int.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "doc.h" /* EDIX_SEV_ERROR, EDIX_SEV_WARNING */

#define S_MAX_NS 32 /* distinct prefixes the check remembers registering */

#define S_MAX_INCLUDE_DEPTH 8

typedef struct {
    char *text;               /* literal text, or NULL */
    xmlXPathCompExprPtr expr; /* or an expression */
} s_part_t;

typedef struct {
    char *id;                 /* official rule ID */
    int severity;             /* EDIX_SEV_ERROR or EDIX_SEV_WARNING */
    char *src;                /* the test as written, for messages */
    xmlXPathCompExprPtr test; /* must be true */
    edix_rules_fast_t *fast;  /* the same test natively, when it is simple */
    xmlXPathCompExprPtr at;   /* node to report, or NULL */
    s_part_t *parts;          /* the message */
    size_t part_count;
    size_t reported; /* in the current check */
} s_assert_t;

typedef struct {
    char *name;                   /* without the $ */
    xmlXPathCompExprPtr expr;     /* evaluated at the document node */
    edix_rules_fast_t *fast;      /* the same natively, when it is a plain path union */
    edix_rules_fast_t *fast_bool; /* or natively, when it is a simple boolean */
    edix_rules_fast_t *fast_str;  /* or natively, when it is a simple string */
    int slot;                     /* of the variable */
} s_let_t;

/*  An element a context path steps through: if the document has none,
 *  that branch of the context selects nothing.  */
typedef struct {
    const char *href; /* the set's namespace URI (owned by the set) */
    char *local;
    int name_id; /* edix_rules_fn_name_id of local */
    int branch;  /* which top-level '|' branch */
} s_req_t;

typedef struct {
    xmlXPathCompExprPtr expr;     /* selects the context nodes */
    edix_rules_fast_t *fast;      /* the same natively, when it is a plain path union */
    xmlXPathCompExprPtr when;     /* guard, or NULL */
    edix_rules_fast_t *when_fast; /* the same natively, when it can */
    s_req_t *reqs;                /* names the branches step through */
    size_t req_count;
    int branches;  /* top-level branches; 0: no requirement known */
    s_let_t *vars; /* per context node */
    size_t var_count;
    s_assert_t *asserts;
    size_t count, cap;
} s_ctx_t;

typedef struct {
    char *prefix, *uri;
} s_ns_t;

typedef struct {
    char *name;
    char *title;
    char *file; /* where it was defined */
    char **includes;
    size_t include_count;
    size_t *include_idx;            /* resolved */
    xmlXPathCompExprPtr select;     /* or NULL */
    edix_rules_fast_t *select_fast; /* the same natively, when it can */
    int cap_warning;                /* report everything as warnings */
    s_ns_t *ns;
    size_t ns_count;
    s_let_t *lets;
    size_t let_count;
    s_ctx_t *ctxs;
    size_t ctx_count, ctx_cap;
} s_set_t;

struct edix_rules {
    int verify;        /* run fast-path rules through XPath as well */
    size_t mismatches; /* fast path and XPath disagreed */
    char last_mismatch[200];
    s_set_t *sets;
    size_t set_count;
    edix_rules_fn_t *fn;   /* functions and code lists */
    xmlXPathContextPtr xp; /* reused for every check */
    size_t eval_errors;    /* run-time expression failures */
    char last_eval_error[320];
    struct {
        const char *prefix, *uri; /* owned by a set */
    } ns_cur[S_MAX_NS];           /* what the context has registered */
    size_t ns_cur_count;
    char **var_names; /* every let and var name, by slot */
    size_t var_count, var_cap;
    xmlHashTablePtr var_slots;     /* name -> slot + 1 */
    xmlXPathObjectPtr *var_values; /* the running check's, by slot */
    xmlNodeSetPtr ctx_set;         /* a fast-path context's nodes (reused) */
    char **uris;                   /* namespace URIs the fast path uses, once each */
    size_t uri_count;
};

/*  ---- helpers ---------------------------------------------------------- */

static void s_fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_fail(char **err, const char *fmt, ...)
{
    va_list ap;
    char *text = NULL;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    free(*err);
    *err = text;
}

static void *
s_grow(void *p, size_t *cap, size_t count, size_t size)
{
    void *g;
    size_t n;

    if (count < *cap)
        return p;
    n = *cap ? *cap * 2 : 8;
    g = realloc(p, n * size);
    if (g == NULL)
        return NULL;
    *cap = n;
    return g;
}

/*  What the fast path's compiler calls back with.  */
typedef struct {
    edix_rules_t *self;
    const s_set_t *set;
} s_fast_arg_t;

/*  ---- variables ---------------------------------------------------------
 *  Lets and vars live in a table of their own, indexed by a slot each name
 *  gets at load time, rather than in libxml2's variable hash (which copies
 *  names and values on every registration): libxml2 asks s_var_lookup for
 *  a copy, the fast path borrows the value through edix_rules_var_peek.  */

/*  The slot of name, added when new; -1 out of memory.  */
static int
s_var_slot(edix_rules_t *self, const char *name)
{
    void *v = self->var_slots ? xmlHashLookup(self->var_slots, BAD_CAST name) : NULL;
    char **g;
    xmlXPathObjectPtr *values;

    if (v)
        return (int)((size_t)v - 1);
    if (self->var_slots == NULL && (self->var_slots = xmlHashCreate(64)) == NULL)
        return -1;
    g = s_grow(self->var_names, &self->var_cap, self->var_count, sizeof *g);
    if (g == NULL)
        return -1;
    self->var_names = g;
    values = realloc(self->var_values, self->var_cap * sizeof *values);
    if (values == NULL)
        return -1;
    self->var_values = values;
    g[self->var_count] = strdup(name);
    if (g[self->var_count] == NULL)
        return -1;
    if (xmlHashAddEntry(self->var_slots, BAD_CAST name, (void *)(self->var_count + 1)) != 0) {
        free(g[self->var_count]);
        return -1;
    }
    self->var_values[self->var_count] = NULL;
    return (int)self->var_count++;
}

static int
s_fast_var(void *arg, const char *name)
{
    return s_var_slot(((s_fast_arg_t *)arg)->self, name);
}

/*  Sets slot to o (taking o).  */
static void
s_var_set(edix_rules_t *self, int slot, xmlXPathObjectPtr o)
{
    xmlXPathFreeObject(self->var_values[slot]);
    self->var_values[slot] = o;
}

static void
s_var_clear(edix_rules_t *self)
{
    size_t i;

    for (i = 0; i < self->var_count; i++) {
        xmlXPathFreeObject(self->var_values[i]);
        self->var_values[i] = NULL;
    }
}

static xmlXPathObjectPtr
s_var_lookup(void *arg, const xmlChar *name, const xmlChar *ns_uri)
{
    edix_rules_t *self = arg;
    void *v;

    if (ns_uri != NULL || (v = xmlHashLookup(self->var_slots, name)) == NULL)
        return NULL;
    v = self->var_values[(size_t)v - 1];
    return v ? xmlXPathObjectCopy(v) : NULL;
}

xmlXPathObjectPtr
edix_rules_var_peek(xmlXPathContextPtr xp, int slot)
{
    edix_rules_t *self = xp->varLookupData;

    return xp->varLookupFunc == (void *)s_var_lookup ? self->var_values[slot] : NULL;
}

/*  ---- freeing ---------------------------------------------------------- */

static void
s_assert_free(s_assert_t *a)
{
    size_t i;

    free(a->id);
    free(a->src);
    if (a->test)
        xmlXPathFreeCompExpr(a->test);
    edix_rules_fast_free(a->fast);
    if (a->at)
        xmlXPathFreeCompExpr(a->at);
    for (i = 0; i < a->part_count; i++) {
        free(a->parts[i].text);
        if (a->parts[i].expr)
            xmlXPathFreeCompExpr(a->parts[i].expr);
    }
    free(a->parts);
}

static void
s_set_free(s_set_t *s)
{
    size_t i, j;

    free(s->name);
    free(s->title);
    free(s->file);
    for (i = 0; i < s->include_count; i++)
        free(s->includes[i]);
    free(s->includes);
    free(s->include_idx);
    if (s->select)
        xmlXPathFreeCompExpr(s->select);
    edix_rules_fast_free(s->select_fast);
    for (i = 0; i < s->ns_count; i++) {
        free(s->ns[i].prefix);
        free(s->ns[i].uri);
    }
    free(s->ns);
    for (i = 0; i < s->let_count; i++) {
        free(s->lets[i].name);
        if (s->lets[i].expr)
            xmlXPathFreeCompExpr(s->lets[i].expr);
        edix_rules_fast_free(s->lets[i].fast);
        edix_rules_fast_free(s->lets[i].fast_bool);
        edix_rules_fast_free(s->lets[i].fast_str);
    }
    free(s->lets);
    for (i = 0; i < s->ctx_count; i++) {
        for (j = 0; j < s->ctxs[i].count; j++)
            s_assert_free(&s->ctxs[i].asserts[j]);
        free(s->ctxs[i].asserts);
        if (s->ctxs[i].expr)
            xmlXPathFreeCompExpr(s->ctxs[i].expr);
        edix_rules_fast_free(s->ctxs[i].fast);
        if (s->ctxs[i].when)
            xmlXPathFreeCompExpr(s->ctxs[i].when);
        edix_rules_fast_free(s->ctxs[i].when_fast);
        for (j = 0; j < s->ctxs[i].req_count; j++)
            free(s->ctxs[i].reqs[j].local);
        for (j = 0; j < s->ctxs[i].var_count; j++) {
            free(s->ctxs[i].vars[j].name);
            if (s->ctxs[i].vars[j].expr)
                xmlXPathFreeCompExpr(s->ctxs[i].vars[j].expr);
            edix_rules_fast_free(s->ctxs[i].vars[j].fast);
        }
        free(s->ctxs[i].vars);
        free(s->ctxs[i].reqs);
    }
    free(s->ctxs);
}

void
edix_rules_destroy(edix_rules_t **self_p)
{
    edix_rules_t *self;
    size_t i;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    for (i = 0; i < self->set_count; i++)
        s_set_free(&self->sets[i]);
    free(self->sets);
    s_var_clear(self);
    if (self->ctx_set)
        xmlXPathFreeNodeSet(self->ctx_set);
    for (i = 0; i < self->uri_count; i++)
        free(self->uris[i]);
    free(self->uris);
    for (i = 0; i < self->var_count; i++)
        free(self->var_names[i]);
    free(self->var_names);
    free(self->var_values);
    if (self->var_slots)
        xmlHashFree(self->var_slots, NULL);
    if (self->xp)
        xmlXPathFreeContext(self->xp);
    edix_rules_fn_destroy(&self->fn);
    free(self);
    *self_p = NULL;
}

/*  ---- loading ---------------------------------------------------------- */

typedef struct {
    edix_rules_t *self;
    const char *path;
    size_t line;      /* of the statement being parsed */
    s_set_t *set;     /* the current set */
    s_assert_t *last; /* the last assert, for at/message */
    char **err;
} s_load_t;

/*  Compiles src; NULL and *err (naming file and line) on failure.  */
static xmlXPathCompExprPtr
s_compile(s_load_t *ld, const char *src)
{
    xmlXPathCompExprPtr e;

    edix_rules_fn_clear_errors(ld->self->fn);
    e = xmlXPathCtxtCompile(ld->self->xp, BAD_CAST src);
    if (e == NULL)
        s_fail(ld->err, "%s:%zu: XPath does not compile (%s): %.200s", ld->path, ld->line,
               edix_rules_fn_last_error(ld->self->fn)[0] ? edix_rules_fn_last_error(ld->self->fn)
                                                         : "syntax error",
               src);
    return e;
}

/*  Every code list a rule names (edix:in(x, 'list', ...), edix:not-in(ns,
 *  'list', ...)) is loaded: a typo in a list name would otherwise only
 *  show when the rule runs.  */
static int
s_check_lists_of(s_load_t *ld, const char *src, const char *fn, int first_arg, int last_arg)
{
    const char *p = src;
    size_t fl = strlen(fn);

    while ((p = strstr(p, fn)) != NULL) {
        const char *q = p + fl, *end;
        int depth = 1, arg = 0;
        if (p > src && (p[-1] == '-' || (p[-1] >= 'a' && p[-1] <= 'z'))) {
            p += fl; /* part of a longer name */
            continue;
        }
        for (; *q && depth > 0; q++) {
            if (*q == '(')
                depth++;
            else if (*q == ')')
                depth--;
            else if (*q == ',' && depth == 1)
                arg++;
            else if (*q == '\'' || *q == '"') {
                char quote = *q;
                end = strchr(q + 1, quote);
                if (end == NULL)
                    break;
                if (depth == 1 && arg >= first_arg && arg <= last_arg) {
                    char name[128];
                    snprintf(name, sizeof name, "%.*s", (int)(end - q - 1), q + 1);
                    if (!edix_rules_fn_has_list(ld->self->fn, name)) {
                        s_fail(ld->err, "%s:%zu: no code list '%s' (codelists/%s.txt)", ld->path,
                               ld->line, name, name);
                        return -1;
                    }
                }
                q = end;
            }
        }
        p += fl;
    }
    return 0;
}

static int
s_check_lists(s_load_t *ld, const char *src)
{
    if (s_check_lists_of(ld, src, "edix:in(", 1, 99) < 0 ||
        s_check_lists_of(ld, src, "edix:is-in(", 1, 1) < 0)
        return -1;
    return s_check_lists_of(ld, src, "edix:not-in(", 1, 1);
}

static xmlXPathCompExprPtr
s_compile_checked(s_load_t *ld, const char *src)
{
    if (s_check_lists(ld, src) < 0)
        return NULL;
    return s_compile(ld, src);
}

static int
s_parse_message(s_load_t *ld, s_assert_t *a, const char *text)
{
    const char *p = text;
    size_t cap = 0;
    char *lit = NULL;
    size_t lit_len = 0, lit_cap = 0;

    while (1) {
        if (*p == '\0' || (*p == '{' && p[1] != '{')) {
            if (lit_len > 0 || (*p == '\0' && a->part_count == 0)) {
                a->parts = s_grow(a->parts, &cap, a->part_count, sizeof *a->parts);
                if (a->parts == NULL)
                    goto oom;
                a->parts[a->part_count].text = lit ? lit : strdup("");
                a->parts[a->part_count].expr = NULL;
                if (a->parts[a->part_count].text == NULL)
                    goto oom;
                a->part_count++;
                lit = NULL;
                lit_len = lit_cap = 0;
            }
            if (*p == '\0')
                break;
            {
                const char *end = strchr(p + 1, '}');
                char *src;
                if (end == NULL) {
                    s_fail(ld->err, "%s:%zu: message has '{' without '}'", ld->path, ld->line);
                    return -1;
                }
                src = strndup(p + 1, (size_t)(end - p - 1));
                if (src == NULL)
                    goto oom;
                a->parts = s_grow(a->parts, &cap, a->part_count, sizeof *a->parts);
                if (a->parts == NULL) {
                    free(src);
                    goto oom;
                }
                a->parts[a->part_count].text = NULL;
                a->parts[a->part_count].expr = s_compile_checked(ld, src);
                free(src);
                if (a->parts[a->part_count].expr == NULL)
                    return -1;
                a->part_count++;
                p = end + 1;
            }
            continue;
        }
        if (lit_len + 2 > lit_cap) {
            size_t n = lit_cap ? lit_cap * 2 : 64;
            char *g = realloc(lit, n);
            if (g == NULL)
                goto oom;
            lit = g;
            lit_cap = n;
        }
        lit[lit_len++] = *p;
        lit[lit_len] = '\0';
        p += (*p == '{' || (*p == '}' && p[1] == '}')) ? 2 : 1;
    }
    return 0;
oom:
    free(lit);
    s_fail(ld->err, "out of memory loading %s", ld->path);
    return -1;
}

static int
s_need_set(s_load_t *ld, const char *kw)
{
    if (ld->set)
        return 0;
    s_fail(ld->err, "%s:%zu: '%s' before any 'set'", ld->path, ld->line, kw);
    return -1;
}

/*  Splits "word rest": *word_end at the end of the first word, returns the
 *  rest with leading blanks skipped.  */
static char *
s_word(char *s, char **word)
{
    char *p = s;

    while (*p == ' ' || *p == '\t')
        p++;
    *word = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    if (*p) {
        *p++ = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
    }
    return p;
}

static int
s_name_char(char c, int first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && ((c >= '0' && c <= '9') || c == '-' || c == '.'));
}

static const char *
s_ns_uri(const s_set_t *set, const char *prefix, size_t n)
{
    size_t i;

    for (i = 0; i < set->ns_count; i++)
        if (strlen(set->ns[i].prefix) == n && strncmp(set->ns[i].prefix, prefix, n) == 0)
            return set->ns[i].uri;
    return NULL;
}

/*  One pointer per distinct namespace URI, whatever set names it, so the
 *  fast path compares namespaces by pointer first.  */
static const char *
s_fast_ns(void *arg, const char *prefix, size_t n)
{
    edix_rules_t *self = ((s_fast_arg_t *)arg)->self;
    const char *uri = s_ns_uri(((s_fast_arg_t *)arg)->set, prefix, n);
    size_t i;
    char **g;

    if (uri == NULL)
        return NULL;
    for (i = 0; i < self->uri_count; i++)
        if (strcmp(self->uris[i], uri) == 0)
            return self->uris[i];
    g = realloc(self->uris, (self->uri_count + 1) * sizeof *g);
    if (g == NULL)
        return NULL;
    self->uris = g;
    if ((g[self->uri_count] = strdup(uri)) == NULL)
        return NULL;
    return g[self->uri_count++];
}

/*  Finds the element names a context's location paths step through,
 *  outside predicates, function arguments and strings, per top-level '|'
 *  branch (a single-name edix:desc('p:x') counts as a step too).  A
 *  document without one of a branch's names gets nothing from that
 *  branch, so the engine can skip a context none of whose branches can
 *  match without evaluating it.  Best effort: what it does not
 *  understand simply adds no requirement.  */
static int
s_requirements(s_load_t *ld, s_ctx_t *c, const char *src)
{
    size_t i;
    const char *p = src;
    int depth = 0, branch = 0;
    size_t cap = 0;

    while (*p) {
        char ch = *p;
        if (ch == '\'' || ch == '"') {
            const char *end = strchr(p + 1, ch);
            if (end == NULL)
                break;
            /* edix:desc('p:x') with a single name, right at this level */
            if (depth == 1 && p - src >= 10 && strncmp(p - 10, "edix:desc(", 10) == 0 &&
                end[1] == ')') {
                const char *colon = memchr(p + 1, ':', (size_t)(end - p - 1));
                if (colon && !memchr(p + 1, ' ', (size_t)(end - p - 1))) {
                    const char *uri = s_ns_uri(ld->set, p + 1, (size_t)(colon - p - 1));
                    if (uri) {
                        c->reqs = s_grow(c->reqs, &cap, c->req_count, sizeof *c->reqs);
                        if (c->reqs == NULL)
                            return -1;
                        c->reqs[c->req_count].href = uri;
                        c->reqs[c->req_count].local = strndup(colon + 1, (size_t)(end - colon - 1));
                        c->reqs[c->req_count].branch = branch;
                        if (c->reqs[c->req_count++].local == NULL)
                            return -1;
                    }
                }
            }
            p = end + 1;
            continue;
        }
        if (ch == '(' || ch == '[') {
            depth++;
            p++;
            continue;
        }
        if (ch == ')' || ch == ']') {
            depth--;
            p++;
            continue;
        }
        if (ch == '|' && depth == 0) {
            branch++;
            p++;
            continue;
        }
        if (depth == 0 && s_name_char(ch, 1) && (p == src || !s_name_char(p[-1], 0)) &&
            (p == src || (p[-1] != '@' && p[-1] != '$' && p[-1] != ':'))) {
            const char *q = p, *colon = NULL, *end;
            while (s_name_char(*q, 0))
                q++;
            if (*q == ':' && q[1] != ':' && s_name_char(q[1], 1)) {
                colon = q;
                q++;
                while (s_name_char(*q, 0))
                    q++;
            }
            end = q;
            while (*q == ' ')
                q++;
            if (colon && *q != '(' && strncmp(p, "edix:", 5) != 0) {
                const char *uri = s_ns_uri(ld->set, p, (size_t)(colon - p));
                if (uri) {
                    c->reqs = s_grow(c->reqs, &cap, c->req_count, sizeof *c->reqs);
                    if (c->reqs == NULL)
                        return -1;
                    c->reqs[c->req_count].href = uri;
                    c->reqs[c->req_count].local = strndup(colon + 1, (size_t)(end - colon - 1));
                    c->reqs[c->req_count].branch = branch;
                    if (c->reqs[c->req_count++].local == NULL)
                        return -1;
                }
            }
            p = end;
            continue;
        }
        p++;
    }
    c->branches = branch + 1;
    for (i = 0; i < c->req_count; i++)
        if ((c->reqs[i].name_id = edix_rules_fn_name_id(ld->self->fn, c->reqs[i].local)) < 0)
            return -1;
    return 0;
}

static int
s_statement(s_load_t *ld, char *line)
{
    edix_rules_t *self = ld->self;
    char *kw, *rest = s_word(line, &kw);
    s_set_t *set = ld->set;
    s_fast_arg_t fa = {self, set};
    edix_rules_fast_env_t fe = {s_fast_ns, s_fast_var, &fa};

    if (strcmp(kw, "set") == 0) {
        size_t i, cap = self->set_count; /* exact: grown one at a time */
        s_set_t *g;
        if (*rest == '\0' || strchr(rest, ' ')) {
            s_fail(ld->err, "%s:%zu: 'set NAME' expected", ld->path, ld->line);
            return -1;
        }
        for (i = 0; i < self->set_count; i++)
            if (strcmp(self->sets[i].name, rest) == 0) {
                s_fail(ld->err, "%s:%zu: set %s already defined in %s", ld->path, ld->line, rest,
                       self->sets[i].file);
                return -1;
            }
        g = realloc(self->sets, (cap + 1) * sizeof *g);
        if (g == NULL)
            goto oom;
        self->sets = g;
        set = &self->sets[self->set_count];
        memset(set, 0, sizeof *set);
        self->set_count++;
        set->name = strdup(rest);
        set->file = strdup(ld->path);
        if (set->name == NULL || set->file == NULL)
            goto oom;
        ld->set = set;
        ld->last = NULL;
        return 0;
    }
    if (s_need_set(ld, kw) < 0)
        return -1;
    if (strcmp(kw, "title") == 0) {
        free(set->title);
        set->title = strdup(rest);
        return set->title ? 0 : (s_fail(ld->err, "out of memory"), -1);
    }
    if (strcmp(kw, "include") == 0) {
        char **g = realloc(set->includes, (set->include_count + 1) * sizeof *g);
        if (g == NULL)
            goto oom;
        set->includes = g;
        set->includes[set->include_count] = strdup(rest);
        if (set->includes[set->include_count] == NULL)
            goto oom;
        set->include_count++;
        return 0;
    }
    if (strcmp(kw, "ns") == 0) {
        char *prefix, *uri = s_word(rest, &prefix);
        s_ns_t *g;
        if (*prefix == '\0' || *uri == '\0' || strcmp(prefix, "edix") == 0) {
            s_fail(ld->err, "%s:%zu: 'ns PREFIX URI' expected (edix is reserved)", ld->path,
                   ld->line);
            return -1;
        }
        g = realloc(set->ns, (set->ns_count + 1) * sizeof *g);
        if (g == NULL)
            goto oom;
        set->ns = g;
        set->ns[set->ns_count].prefix = strdup(prefix);
        set->ns[set->ns_count].uri = strdup(uri);
        set->ns_count++;
        if (set->ns[set->ns_count - 1].prefix == NULL || set->ns[set->ns_count - 1].uri == NULL)
            goto oom;
        /* compiling needs no namespaces, but the load-time check below
         * evaluates nothing either: registering now keeps errors early */
        if (xmlXPathRegisterNs(self->xp, BAD_CAST prefix, BAD_CAST uri) != 0)
            goto oom;
        return 0;
    }
    if (strcmp(kw, "cap") == 0) {
        if (strcmp(rest, "warning") != 0) {
            s_fail(ld->err, "%s:%zu: 'cap warning' expected", ld->path, ld->line);
            return -1;
        }
        set->cap_warning = 1;
        return 0;
    }
    if (strcmp(kw, "select") == 0) {
        if (set->select)
            xmlXPathFreeCompExpr(set->select);
        edix_rules_fast_free(set->select_fast);
        set->select = s_compile_checked(ld, rest);
        set->select_fast = edix_rules_fast_compile(rest, 0, &fe, self->fn);
        return set->select ? 0 : -1;
    }
    if (strcmp(kw, "let") == 0) {
        char *name, *src = s_word(rest, &name);
        s_let_t *g;
        if (*name == '\0' || *src == '\0') {
            s_fail(ld->err, "%s:%zu: 'let NAME XPATH' expected", ld->path, ld->line);
            return -1;
        }
        g = realloc(set->lets, (set->let_count + 1) * sizeof *g);
        if (g == NULL)
            goto oom;
        set->lets = g;
        memset(&set->lets[set->let_count], 0, sizeof *g);
        set->lets[set->let_count].name = strdup(name);
        set->let_count++;
        if (set->lets[set->let_count - 1].name == NULL ||
            (set->lets[set->let_count - 1].slot = s_var_slot(self, name)) < 0)
            goto oom;
        set->lets[set->let_count - 1].expr = s_compile_checked(ld, src);
        set->lets[set->let_count - 1].fast = edix_rules_fast_compile(src, 1, &fe, self->fn);
        if (set->lets[set->let_count - 1].fast == NULL)
            set->lets[set->let_count - 1].fast_bool =
                edix_rules_fast_compile(src, 0, &fe, self->fn);
        if (set->lets[set->let_count - 1].fast == NULL &&
            set->lets[set->let_count - 1].fast_bool == NULL)
            set->lets[set->let_count - 1].fast_str = edix_rules_fast_compile(src, 3, &fe, self->fn);
        return set->lets[set->let_count - 1].expr ? 0 : -1;
    }
    if (strcmp(kw, "context") == 0) {
        s_ctx_t *c;
        set->ctxs = s_grow(set->ctxs, &set->ctx_cap, set->ctx_count, sizeof *set->ctxs);
        if (set->ctxs == NULL)
            goto oom;
        c = &set->ctxs[set->ctx_count++];
        memset(c, 0, sizeof *c);
        c->expr = s_compile_checked(ld, rest);
        ld->last = NULL;
        if (c->expr == NULL)
            return -1;
        c->fast = edix_rules_fast_compile(rest, 1, &fe, self->fn);
        if (s_requirements(ld, c, rest) < 0)
            goto oom;
        return 0;
    }
    if (strcmp(kw, "var") == 0) {
        char *name, *src = s_word(rest, &name);
        s_ctx_t *c;
        s_let_t *g;
        if (set->ctx_count == 0 || *name == '\0' || *src == '\0') {
            s_fail(ld->err, "%s:%zu: 'var NAME XPATH' must follow a 'context'", ld->path, ld->line);
            return -1;
        }
        c = &set->ctxs[set->ctx_count - 1];
        g = realloc(c->vars, (c->var_count + 1) * sizeof *g);
        if (g == NULL)
            goto oom;
        c->vars = g;
        memset(&c->vars[c->var_count], 0, sizeof *g);
        c->vars[c->var_count].name = strdup(name);
        c->var_count++;
        if (c->vars[c->var_count - 1].name == NULL ||
            (c->vars[c->var_count - 1].slot = s_var_slot(self, name)) < 0)
            goto oom;
        c->vars[c->var_count - 1].expr = s_compile_checked(ld, src);
        c->vars[c->var_count - 1].fast = edix_rules_fast_compile(src, 2, &fe, self->fn);
        return c->vars[c->var_count - 1].expr ? 0 : -1;
    }
    if (strcmp(kw, "when") == 0) {
        s_ctx_t *c;
        if (set->ctx_count == 0 || ld->last != NULL) {
            s_fail(ld->err, "%s:%zu: 'when' must follow a 'context'", ld->path, ld->line);
            return -1;
        }
        c = &set->ctxs[set->ctx_count - 1];
        if (c->when)
            xmlXPathFreeCompExpr(c->when);
        edix_rules_fast_free(c->when_fast);
        c->when = s_compile_checked(ld, rest);
        c->when_fast = edix_rules_fast_compile(rest, 0, &fe, self->fn);
        return c->when ? 0 : -1;
    }
    if (strcmp(kw, "assert") == 0) {
        char *id, *sev, *src;
        s_ctx_t *c;
        s_assert_t *a;
        src = s_word(rest, &id);
        src = s_word(src, &sev);
        if (set->ctx_count == 0) {
            s_fail(ld->err, "%s:%zu: 'assert' before any 'context'", ld->path, ld->line);
            return -1;
        }
        if (*id == '\0' || *src == '\0' ||
            (strcmp(sev, "fatal") != 0 && strcmp(sev, "warning") != 0)) {
            s_fail(ld->err, "%s:%zu: 'assert ID fatal|warning XPATH' expected", ld->path, ld->line);
            return -1;
        }
        c = &set->ctxs[set->ctx_count - 1];
        c->asserts = s_grow(c->asserts, &c->cap, c->count, sizeof *c->asserts);
        if (c->asserts == NULL)
            goto oom;
        a = &c->asserts[c->count++];
        memset(a, 0, sizeof *a);
        a->severity = strcmp(sev, "fatal") == 0 ? EDIX_SEV_ERROR : EDIX_SEV_WARNING;
        a->id = strdup(id);
        a->src = strdup(src);
        if (a->id == NULL || a->src == NULL)
            goto oom;
        a->test = s_compile_checked(ld, src);
        ld->last = a;
        if (a->test == NULL)
            return -1;
        a->fast = edix_rules_fast_compile(src, 0, &fe, self->fn);
        return 0;
    }
    if (strcmp(kw, "at") == 0 || strcmp(kw, "message") == 0) {
        if (ld->last == NULL) {
            s_fail(ld->err, "%s:%zu: '%s' must follow an 'assert'", ld->path, ld->line, kw);
            return -1;
        }
        if (kw[0] == 'a') {
            if (ld->last->at)
                xmlXPathFreeCompExpr(ld->last->at);
            ld->last->at = s_compile_checked(ld, rest);
            return ld->last->at ? 0 : -1;
        }
        if (ld->last->part_count) {
            s_fail(ld->err, "%s:%zu: second 'message' for %s", ld->path, ld->line, ld->last->id);
            return -1;
        }
        return s_parse_message(ld, ld->last, rest);
    }
    s_fail(ld->err, "%s:%zu: unknown keyword '%s'", ld->path, ld->line, kw);
    return -1;
oom:
    s_fail(ld->err, "out of memory loading %s", ld->path);
    return -1;
}

static int
s_load_file(edix_rules_t *self, const char *path, char **err)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, *stmt = NULL;
    size_t cap = 0, stmt_len = 0, lineno = 0;
    s_load_t ld = {self, path, 0, NULL, NULL, err};
    int rc = -1;

    if (f == NULL) {
        s_fail(err, "rule file %s: %s", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &cap, f) >= 0) {
        size_t n = strlen(line);
        char *p = line;
        int cont;
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                         line[n - 1] == '\t'))
            line[--n] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (stmt_len == 0 && (*p == '#' || *p == '\0'))
            continue;
        cont = n > 0 && line[n - 1] == '\\';
        if (cont)
            line[--n] = '\0';
        if (stmt_len == 0)
            ld.line = lineno;
        {
            size_t add = strlen(p);
            char *g = realloc(stmt, stmt_len + add + 2);
            if (g == NULL) {
                s_fail(err, "out of memory loading %s", path);
                goto out;
            }
            stmt = g;
            if (stmt_len)
                stmt[stmt_len++] = ' ';
            memcpy(stmt + stmt_len, p, add + 1);
            stmt_len += add;
        }
        if (cont)
            continue;
        if (s_statement(&ld, stmt) < 0)
            goto out;
        stmt_len = 0;
    }
    if (stmt_len && s_statement(&ld, stmt) < 0)
        goto out;
    rc = 0;
out:
    free(stmt);
    free(line);
    fclose(f);
    return rc;
}

static int
s_find_set(const edix_rules_t *self, const char *name, size_t *idx)
{
    size_t i;

    for (i = 0; i < self->set_count; i++)
        if (strcmp(self->sets[i].name, name) == 0) {
            *idx = i;
            return 0;
        }
    return -1;
}

static int
s_resolve(edix_rules_t *self, char **err)
{
    size_t i, j;

    for (i = 0; i < self->set_count; i++) {
        s_set_t *s = &self->sets[i];
        if (s->include_count == 0)
            continue;
        s->include_idx = calloc(s->include_count, sizeof *s->include_idx);
        if (s->include_idx == NULL) {
            s_fail(err, "out of memory loading rules");
            return -1;
        }
        for (j = 0; j < s->include_count; j++)
            if (s_find_set(self, s->includes[j], &s->include_idx[j]) < 0) {
                s_fail(err, "%s: set %s includes unknown set %s", s->file, s->name, s->includes[j]);
                return -1;
            }
    }
    for (i = 0; i < self->set_count; i++) {
        s_set_t *s = &self->sets[i];
        size_t k;
        for (k = 0; k < s->ctx_count; k++)
            for (j = 0; j < s->ctxs[k].count; j++)
                if (s->ctxs[k].asserts[j].part_count == 0) {
                    s_fail(err, "%s: rule %s of set %s has no message", s->file,
                           s->ctxs[k].asserts[j].id, s->name);
                    return -1;
                }
    }
    return 0;
}

static int
s_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n > m && strcmp(s + n - m, suffix) == 0;
}

edix_rules_t *
edix_rules_new(const char *datadir, char **err)
{
    edix_rules_t *self = NULL;
    char *dir = NULL;
    struct dirent **names = NULL;
    int n = 0, i;

    assert(datadir);
    if (err)
        *err = NULL;
    self = calloc(1, sizeof *self);
    if (self == NULL || asprintf(&dir, "%s/codelists", datadir) < 0) {
        dir = NULL;
        s_fail(err, "out of memory loading rules");
        goto fail;
    }
    self->fn = edix_rules_fn_new(dir, err);
    if (self->fn == NULL)
        goto fail;
    self->xp = xmlXPathNewContext(NULL);
    if (self->xp == NULL || edix_rules_fn_attach(self->fn, self->xp) < 0 ||
        xmlXPathContextSetCache(self->xp, 1, -1, 0) < 0) {
        s_fail(err, "out of memory creating the XPath context");
        goto fail;
    }
    xmlXPathRegisterVariableLookup(self->xp, s_var_lookup, self);
    self->ctx_set = xmlXPathNodeSetCreate(NULL);
    if (self->ctx_set == NULL) {
        s_fail(err, "out of memory creating the XPath context");
        goto fail;
    }
    free(dir);
    if (asprintf(&dir, "%s/rules", datadir) < 0) {
        dir = NULL;
        s_fail(err, "out of memory loading rules");
        goto fail;
    }
    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        n = 0;
        if (errno == ENOENT)
            goto done; /* no rules installed: nothing to run */
        s_fail(err, "rules directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    for (i = 0; i < n; i++) {
        char *path;
        int rc;
        if (names[i]->d_name[0] == '.' || !s_has_suffix(names[i]->d_name, ".rules"))
            continue;
        if (asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0) {
            s_fail(err, "out of memory loading rules");
            goto fail;
        }
        rc = s_load_file(self, path, err);
        free(path);
        if (rc < 0)
            goto fail;
    }
    if (s_resolve(self, err) < 0)
        goto fail;
done:
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir);
    edix_rules_fn_clear_errors(self->fn);
    return self;
fail:
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir);
    edix_rules_destroy(&self);
    return NULL;
}

size_t
edix_rules_set_count(const edix_rules_t *self)
{
    return self->set_count;
}

const char *
edix_rules_set_name(const edix_rules_t *self, size_t i)
{
    return i < self->set_count ? self->sets[i].name : NULL;
}

int
edix_rules_set_known(const edix_rules_t *self, const char *name)
{
    size_t i;

    return s_find_set(self, name, &i) == 0;
}

size_t
edix_rules_assert_count(const edix_rules_t *self)
{
    size_t i, k, n = 0;

    for (i = 0; i < self->set_count; i++)
        for (k = 0; k < self->sets[i].ctx_count; k++)
            n += self->sets[i].ctxs[k].count;
    return n;
}

void
edix_rules_set_verify(edix_rules_t *self, int on)
{
    self->verify = on != 0;
}

size_t
edix_rules_mismatches(const edix_rules_t *self, const char **last)
{
    if (last)
        *last = self->last_mismatch;
    return self->mismatches;
}

size_t
edix_rules_fast_count(const edix_rules_t *self)
{
    size_t i, k, j, n = 0;

    for (i = 0; i < self->set_count; i++)
        for (k = 0; k < self->sets[i].ctx_count; k++) {
            n += self->sets[i].ctxs[k].fast != NULL;
            for (j = 0; j < self->sets[i].ctxs[k].count; j++)
                n += self->sets[i].ctxs[k].asserts[j].fast != NULL;
        }
    return n;
}

size_t
edix_rules_eval_errors(const edix_rules_t *self)
{
    return self->eval_errors;
}

const char *
edix_rules_last_eval_error(const edix_rules_t *self)
{
    return self->last_eval_error;
}

/*  ---- running ---------------------------------------------------------- */

typedef struct {
    edix_rules_t *self;
    xmlDocPtr doc;
    edix_rules_report_fn report;
    void *arg;
    int cap_warning; /* the set being run reports warnings only */
    int oom;
} s_run_t;

static void
s_eval_error(s_run_t *run, const char *what, const char *id)
{
    edix_rules_t *self = run->self;

    self->eval_errors++;
    snprintf(self->last_eval_error, sizeof self->last_eval_error, "%s %s: %s", what, id,
             edix_rules_fn_last_error(self->fn)[0] ? edix_rules_fn_last_error(self->fn)
                                                   : "evaluation failed");
    edix_rules_fn_clear_errors(self->fn);
}

static void
s_at(xmlXPathContextPtr xp, xmlNodePtr node)
{
    xp->node = node;
    xp->contextSize = 1;
    xp->proximityPosition = 1;
}

/*  Registers the prefixes of set the context does not already map the
 *  same way (sets may give a prefix different namespaces).  */
static void
s_register_ns(edix_rules_t *self, const s_set_t *set)
{
    size_t i, k;

    for (i = 0; i < set->ns_count; i++) {
        const char *prefix = set->ns[i].prefix, *uri = set->ns[i].uri;
        for (k = 0; k < self->ns_cur_count; k++)
            if (strcmp(self->ns_cur[k].prefix, prefix) == 0)
                break;
        if (k < self->ns_cur_count &&
            (self->ns_cur[k].uri == uri || strcmp(self->ns_cur[k].uri, uri) == 0))
            continue;
        if (xmlXPathRegisterNs(self->xp, BAD_CAST prefix, BAD_CAST uri) != 0)
            k = S_MAX_NS; /* out of memory: not remembered, tried again */
        if (k < S_MAX_NS) {
            self->ns_cur[k].prefix = prefix;
            self->ns_cur[k].uri = uri;
            if (k == self->ns_cur_count)
                self->ns_cur_count++;
        }
    }
}

/*  Builds the message of a failed assert on node; malloc'd or NULL.  */
static char *
s_message(s_run_t *run, const s_assert_t *a, xmlNodePtr node)
{
    size_t i, len = 0, cap = 0;
    char *out = NULL;

    for (i = 0; i < a->part_count; i++) {
        xmlChar *val = NULL;
        const char *piece;
        size_t n;
        char *g;
        if (a->parts[i].text)
            piece = a->parts[i].text;
        else {
            xmlXPathObjectPtr o;
            s_at(run->self->xp, node);
            edix_rules_fn_set_current(run->self->fn, node);
            o = xmlXPathCompiledEval(a->parts[i].expr, run->self->xp);
            if (o)
                val = xmlXPathCastToString(o);
            xmlXPathFreeObject(o);
            if (o == NULL)
                edix_rules_fn_clear_errors(run->self->fn);
            piece = val ? (const char *)val : "?";
        }
        n = strlen(piece);
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            g = realloc(out, cap);
            if (g == NULL) {
                xmlFree(val);
                free(out);
                return NULL;
            }
            out = g;
        }
        memcpy(out + len, piece, n + 1);
        len += n;
        xmlFree(val);
    }
    return out ? out : strdup("");
}

static void
s_fire(s_run_t *run, s_assert_t *a, xmlNodePtr node, int eval_failed)
{
    edix_rules_t *self = run->self;
    xmlNodePtr where = node;
    char *msg;

    if (a->reported++ >= EDIX_RULES_MAX_PER_RULE)
        return;
    if (a->at && !eval_failed) {
        xmlXPathObjectPtr o;
        s_at(self->xp, node);
        edix_rules_fn_set_current(self->fn, node);
        o = xmlXPathCompiledEval(a->at, self->xp);
        if (o && o->type == XPATH_NODESET && o->nodesetval && o->nodesetval->nodeNr > 0)
            where = o->nodesetval->nodeTab[0];
        xmlXPathFreeObject(o);
        edix_rules_fn_clear_errors(self->fn);
    }
    if (eval_failed) {
        if (asprintf(&msg, "rule %s could not be evaluated (%s)", a->id, self->last_eval_error) < 0)
            msg = NULL;
    } else
        msg = s_message(run, a, node);
    if (msg == NULL) {
        run->oom = 1;
        return;
    }
    run->report(run->arg, run->cap_warning ? EDIX_SEV_WARNING : a->severity, a->id, msg, where);
    free(msg);
}

/*  0 when every branch of c steps through an element the document lacks.  */
static int
s_possible(s_run_t *run, const s_ctx_t *c)
{
    int b;
    size_t i;

    for (b = 0; b < c->branches; b++) {
        int ok = 1;
        for (i = 0; i < c->req_count && ok; i++)
            if (c->reqs[i].branch == b &&
                !edix_rules_fn_has_element(run->self->fn, run->doc, c->reqs[i].href,
                                           c->reqs[i].local, c->reqs[i].name_id))
                ok = 0;
        if (ok)
            return 1;
    }
    return 0;
}

/*  The value of a let, var or context: natively when the expression is a
 *  plain path union, else through libxml2.  NULL on an XPath error or out
 *  of memory.  */
static xmlXPathObjectPtr
s_eval_nodes(s_run_t *run, xmlXPathCompExprPtr expr, const edix_rules_fast_t *fast, xmlNodePtr node)
{
    edix_rules_t *self = run->self;

    if (fast && !self->verify) {
        xmlNodeSetPtr set = xmlXPathNodeSetCreate(NULL);
        xmlXPathObjectPtr o;
        if (set == NULL)
            return NULL;
        if (edix_rules_fast_nodes(fast, node, self->xp, set) < 0 ||
            (o = xmlXPathWrapNodeSet(set)) == NULL) {
            xmlXPathFreeNodeSet(set);
            return NULL;
        }
        return o;
    }
    s_at(self->xp, node);
    edix_rules_fn_set_current(self->fn, node);
    if (fast && self->verify) {
        /* the native answer must be the same nodes in the same order */
        xmlXPathObjectPtr o = xmlXPathCompiledEval(expr, self->xp);
        xmlNodeSetPtr set = xmlXPathNodeSetCreate(NULL);
        int same = set && o && o->type == XPATH_NODESET &&
                   edix_rules_fast_nodes(fast, node, self->xp, set) == 0;
        int k, want = same && o->nodesetval ? o->nodesetval->nodeNr : 0;
        if (same && set->nodeNr != want)
            same = 0;
        for (k = 0; same && k < want; k++)
            same = set->nodeTab[k] == o->nodesetval->nodeTab[k];
        if (o && !same) {
            self->mismatches++;
            snprintf(self->last_mismatch, sizeof self->last_mismatch,
                     "node-set differs (XPath %d nodes, native %d)", want, set ? set->nodeNr : -1);
        }
        if (set)
            xmlXPathFreeNodeSet(set);
        return o;
    }
    return xmlXPathCompiledEval(expr, self->xp);
}

/*  An assert's test on node: 1 true, 0 false, -1 XPath error.  With
 *  verify on, a fast-path test also runs through libxml2 and any
 *  difference is counted.  */
static int
s_eval_test(s_run_t *run, const s_assert_t *a, xmlNodePtr node)
{
    edix_rules_t *self = run->self;
    int r;

    if (a->fast && !self->verify)
        return edix_rules_fast_bool(a->fast, node, self->xp);
    s_at(self->xp, node);
    edix_rules_fn_set_current(self->fn, node);
    r = xmlXPathCompiledEvalToBoolean(a->test, self->xp);
    if (a->fast && r >= 0 && edix_rules_fast_bool(a->fast, node, self->xp) != r) {
        self->mismatches++;
        snprintf(self->last_mismatch, sizeof self->last_mismatch, "%s: XPath says %d", a->id, r);
    }
    return r;
}

/*  Verify mode: the native forms of a let agree with libxml2's value o.  */
static void
s_verify_let(s_run_t *run, const s_let_t *let, xmlXPathObjectPtr o)
{
    edix_rules_t *self = run->self;
    int same = 1;

    if (let->fast_bool)
        same = edix_rules_fast_bool(let->fast_bool, (xmlNodePtr)run->doc, self->xp) ==
               xmlXPathCastToBoolean(o);
    else if (let->fast_str) {
        char *str = edix_rules_fast_string(let->fast_str, (xmlNodePtr)run->doc, self->xp);
        xmlChar *want = xmlXPathCastToString(o);
        same = str && want && strcmp(str, (const char *)want) == 0;
        free(str);
        xmlFree(want);
    }
    if (!same) {
        self->mismatches++;
        snprintf(self->last_mismatch, sizeof self->last_mismatch, "let %s differs", let->name);
    }
}

static void
s_run_set(s_run_t *run, s_set_t *set)
{
    edix_rules_t *self = run->self;
    xmlXPathContextPtr xp = self->xp;
    size_t i, k, j;

    s_register_ns(self, set);
    for (i = 0; i < set->let_count; i++) {
        const s_let_t *let = &set->lets[i];
        xmlXPathObjectPtr o;
        if (let->fast_bool && !self->verify)
            o = xmlXPathNewBoolean(edix_rules_fast_bool(let->fast_bool, (xmlNodePtr)run->doc, xp));
        else if (let->fast_str && !self->verify) {
            char *str = edix_rules_fast_string(let->fast_str, (xmlNodePtr)run->doc, xp);
            o = str ? xmlXPathNewCString(str) : NULL;
            free(str);
        } else {
            o = s_eval_nodes(run, let->expr, let->fast, (xmlNodePtr)run->doc);
            if (o && self->verify)
                s_verify_let(run, let, o);
        }
        if (o == NULL) {
            s_eval_error(run, "let", set->lets[i].name);
            o = xmlXPathNewCString("");
            if (o == NULL) {
                run->oom = 1;
                return;
            }
        }
        s_var_set(self, set->lets[i].slot, o);
    }
    for (k = 0; k < set->ctx_count; k++) {
        s_ctx_t *c = &set->ctxs[k];
        xmlXPathObjectPtr nodes;
        xmlNodeSetPtr nset;
        int n;

        if (c->req_count && !s_possible(run, c))
            continue;
        s_at(xp, (xmlNodePtr)run->doc);
        edix_rules_fn_set_current(self->fn, (xmlNodePtr)run->doc);
        if (c->when) {
            int w = c->when_fast && !self->verify
                        ? edix_rules_fast_bool(c->when_fast, (xmlNodePtr)run->doc, xp)
                        : xmlXPathCompiledEvalToBoolean(c->when, xp);
            if (c->when_fast && self->verify && w >= 0 &&
                edix_rules_fast_bool(c->when_fast, (xmlNodePtr)run->doc, xp) != w) {
                self->mismatches++;
                snprintf(self->last_mismatch, sizeof self->last_mismatch,
                         "guard of %s: XPath says %d", c->count ? c->asserts[0].id : "?", w);
            }
            if (w < 0 && c->count)
                s_eval_error(run, "guard of", c->asserts[0].id);
            if (w == 0)
                continue;
            s_at(xp, (xmlNodePtr)run->doc);
        }
        if (c->fast && !self->verify) {
            /* natively into the reused set: nothing to allocate */
            nodes = NULL;
            nset = self->ctx_set;
            nset->nodeNr = 0;
            if (edix_rules_fast_nodes(c->fast, (xmlNodePtr)run->doc, xp, nset) < 0) {
                if (c->count)
                    s_eval_error(run, "context of", c->asserts[0].id);
                continue;
            }
        } else {
            nodes = s_eval_nodes(run, c->expr, c->fast, (xmlNodePtr)run->doc);
            if (nodes == NULL || nodes->type != XPATH_NODESET) {
                if (c->count)
                    s_eval_error(run, "context of", c->asserts[0].id);
                xmlXPathFreeObject(nodes);
                continue;
            }
            nset = nodes->nodesetval;
        }
        n = nset ? nset->nodeNr : 0;
        for (i = 0; i < (size_t)n && !run->oom; i++) {
            xmlNodePtr node = nset->nodeTab[i];
            for (j = 0; j < c->var_count && !run->oom; j++) {
                xmlXPathObjectPtr o = s_eval_nodes(run, c->vars[j].expr, c->vars[j].fast, node);
                if (o == NULL) {
                    s_eval_error(run, "var", c->vars[j].name);
                    o = xmlXPathNewCString("");
                }
                if (o == NULL)
                    run->oom = 1;
                else
                    s_var_set(self, c->vars[j].slot, o);
            }
            for (j = 0; j < c->count && !run->oom; j++) {
                s_assert_t *a = &c->asserts[j];
                int r = s_eval_test(run, a, node);
                if (r == 1)
                    continue;
                if (r < 0)
                    s_eval_error(run, "rule", a->id);
                s_fire(run, a, node, r < 0);
            }
        }
        xmlXPathFreeObject(nodes);
    }
}

static void
s_reset_counts(edix_rules_t *self)
{
    size_t i, k, j;

    for (i = 0; i < self->set_count; i++)
        for (k = 0; k < self->sets[i].ctx_count; k++)
            for (j = 0; j < self->sets[i].ctxs[k].count; j++)
                self->sets[i].ctxs[k].asserts[j].reported = 0;
}

/*  Appends set idx and what it includes (first) to order, once each;
 *  capped[] says which run as warnings (the cap of the set that pulled
 *  them in).  */
static void
s_plan(const edix_rules_t *self, size_t idx, unsigned char *seen, size_t *order,
       unsigned char *capped, size_t *count, int cap, int depth)
{
    const s_set_t *s = &self->sets[idx];
    size_t j;

    if (seen[idx] || depth > S_MAX_INCLUDE_DEPTH)
        return;
    seen[idx] = 1;
    cap = cap || s->cap_warning;
    for (j = 0; j < s->include_count; j++)
        s_plan(self, s->include_idx[j], seen, order, capped, count, cap, depth + 1);
    capped[*count] = (unsigned char)cap;
    order[(*count)++] = idx;
}

int
edix_rules_check(edix_rules_t *self, xmlDocPtr doc, const char *set, edix_rules_report_fn report,
                 void *arg, size_t *selected_p, char **err)
{
    s_run_t run = {self, doc, report, arg, 0, 0};
    unsigned char *seen = NULL, *capped = NULL;
    size_t *order = NULL, count = 0, i, idx;
    int rc = -1;

    assert(self && doc && report);
    if (selected_p)
        *selected_p = 0;
    if (self->set_count == 0)
        return 0;
    seen = calloc(self->set_count, 1);
    order = calloc(self->set_count, sizeof *order);
    capped = calloc(self->set_count, 1);
    if (seen == NULL || order == NULL || capped == NULL) {
        s_fail(err, "out of memory running rules");
        goto out;
    }
    self->xp->doc = doc;
    /* document order in each element: sorting node-sets gets cheap */
    xmlXPathOrderDocElems(doc);
    if (set) {
        if (s_find_set(self, set, &idx) < 0) {
            s_fail(err, "no rule set named %s", set);
            goto out;
        }
        s_plan(self, idx, seen, order, capped, &count, 0, 0);
    } else
        for (i = 0; i < self->set_count; i++) {
            int r;
            if (self->sets[i].select == NULL || seen[i])
                continue;
            if (self->sets[i].select_fast && !self->verify)
                r = edix_rules_fast_bool(self->sets[i].select_fast, (xmlNodePtr)doc, self->xp);
            else {
                s_register_ns(self, &self->sets[i]);
                s_at(self->xp, (xmlNodePtr)doc);
                r = xmlXPathCompiledEvalToBoolean(self->sets[i].select, self->xp);
                if (r < 0)
                    s_eval_error(&run, "select of set", self->sets[i].name);
                if (self->sets[i].select_fast && r >= 0 &&
                    edix_rules_fast_bool(self->sets[i].select_fast, (xmlNodePtr)doc, self->xp) !=
                        r) {
                    self->mismatches++;
                    snprintf(self->last_mismatch, sizeof self->last_mismatch,
                             "select of %s: XPath says %d", self->sets[i].name, r);
                }
            }
            if (r == 1)
                s_plan(self, i, seen, order, capped, &count, 0, 0);
        }
    s_reset_counts(self);
    for (i = 0; i < count && !run.oom; i++) {
        run.cap_warning = capped[i];
        s_run_set(&run, &self->sets[order[i]]);
    }
    if (run.oom) {
        s_fail(err, "out of memory running rules");
        goto out;
    }
    if (selected_p)
        *selected_p = count;
    rc = 0;
out:
    /* variables may hold nodes of doc: none may outlive the check */
    s_var_clear(self);
    self->ctx_set->nodeNr = 0;
    edix_rules_fn_end_document(self->fn);
    self->xp->doc = NULL;
    self->xp->node = NULL;
    free(capped);
    free(order);
    free(seen);
    return rc;
}
