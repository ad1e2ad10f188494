/*  rules_int.h - between the rule engine (rules.c) and its XPath extension
 *  functions (rules_fn.c); nothing else includes it.
 *
 *  The function library owns the code lists, the node a rule is being
 *  evaluated on (edix:current()), a cache of compiled regular expressions
 *  and the record of XPath run-time errors.  It is attached to one XPath
 *  context as that context's userData.
 */
#ifndef EDIX_RULES_INT_H
#define EDIX_RULES_INT_H

#include <stddef.h>

#include <libxml/tree.h>
#include <libxml/xpath.h>

/*  Namespace of the extension functions; rule files use the prefix edix.  */
#define EDIX_RULES_FN_NS "urn:edix:rules:functions"

typedef struct edix_rules_fn edix_rules_fn_t;

/*  Exact decimals: value v * 10^-scale in 128 bits, as the edix: decimal
 *  functions compute them (shared with the fast path).  Each returns 0, or
 *  -1 when the input is not a decimal or the result does not fit.  */
typedef struct {
    __int128 v; /* unscaled value */
    int scale;  /* fraction digits */
} edix_dec_t;

int edix_dec_parse(const char *s, edix_dec_t *out);
int edix_dec_add(edix_dec_t *r, edix_dec_t a, edix_dec_t b, int sign);
int edix_dec_mul(edix_dec_t *r, edix_dec_t a, edix_dec_t b);
int edix_dec_div(edix_dec_t *r, edix_dec_t a, edix_dec_t b); /* 18 decimals */
int edix_dec_round(edix_dec_t *r, edix_dec_t a, int n);      /* half toward +inf */
int edix_dec_cmp(edix_dec_t a, edix_dec_t b, int *out);

/*  Loads every *.txt in codelist_dir (a missing directory is no error:
 *  there are no lists then).  NULL and *err on failure.  */
edix_rules_fn_t *edix_rules_fn_new(const char *codelist_dir, char **err);
void edix_rules_fn_destroy(edix_rules_fn_t **self_p);

/*  1 when a code list of that name (file name without .txt) exists.  */
int edix_rules_fn_has_list(const edix_rules_fn_t *self, const char *name);

/*  Registers the edix prefix and the functions on xp, and makes self its
 *  userData and error handler.  -1 when out of memory.  */
int edix_rules_fn_attach(edix_rules_fn_t *self, xmlXPathContextPtr xp);

/*  Drops what was kept about the document just checked (its element
 *  index); the engine calls it at the end of every check.  */
void edix_rules_fn_end_document(edix_rules_fn_t *self);

/*  1 when doc has an element named local in namespace href (NULL: none),
 *  from the per-document index (built on first use); 1 as well when the
 *  index cannot be built, so a caller that skips work on 0 stays right.
 *  name_id (edix_rules_fn_name_id of local, or -1) answers quickly for
 *  names the document does not use at all.  */
int edix_rules_fn_has_element(edix_rules_fn_t *self, xmlDocPtr doc, const char *href,
                              const char *local, int name_id);

/*  Walks the elements of doc named local in namespace href, in document
 *  order, from the per-document index: at -1 gives the first, then pass
 *  the returned position to get the next.  Returns the position (also
 *  the document order of *node), -1 at the end, -2 out of memory.  */
int edix_rules_fn_desc(edix_rules_fn_t *self, xmlDocPtr doc, const char *href, const char *local,
                       int at, xmlNodePtr *node);

/*  Element names by number, for the fast path: the id of local (added
 *  when new; -1 out of memory), and how an element of doc compares with
 *  it: 1 when every element so named has the pointer *ptr (documents from
 *  libxml2's parser keep their names in a dictionary), -1 when no node of
 *  doc has that name, 0 when names must be compared as strings (*ptr is
 *  the name then).  */
int edix_rules_fn_name_id(edix_rules_fn_t *self, const char *local);
int edix_rules_fn_doc_name(edix_rules_fn_t *self, xmlDocPtr doc, int id, const xmlChar **ptr);

/*  The first position of the chain edix_rules_fn_desc walks for name
 *  name_id (edix_rules_fn_name_id) in href (*node the element there), -1
 *  for none, -2 out of memory; *count the chain's length.  */
int edix_rules_fn_chain(edix_rules_fn_t *self, xmlDocPtr doc, const char *href, int name_id,
                        int *count, xmlNodePtr *node);

/*  The node edix:current() returns while a rule is evaluated.  */
void edix_rules_fn_set_current(edix_rules_fn_t *self, xmlNodePtr node);

/*  XPath errors reported through the context since the last clear.  */
size_t edix_rules_fn_errors(const edix_rules_fn_t *self);
const char *edix_rules_fn_last_error(const edix_rules_fn_t *self);
void edix_rules_fn_clear_errors(edix_rules_fn_t *self);

/*  Code lists for the fast path: a handle by name (NULL: no such list),
 *  and whether normalize-space(value) is in it.  */
const void *edix_rules_fn_list(const edix_rules_fn_t *self, const char *name);
int edix_rules_fn_list_has_norm(const void *list, const char *value);

/*  The per-node test of edix:not-in, is-in, differ and over-decimals: 1
 *  when the function keeps node (the value of attr, or of the node
 *  without attr, is not in list / is in list / normalized differs from
 *  want / has more than limit decimals).  */
enum { EDIX_FILTER_NOT_IN, EDIX_FILTER_IS_IN, EDIX_FILTER_DIFFER, EDIX_FILTER_DECIMALS };
int edix_rules_fn_filter_keep(int kind, xmlNodePtr node, const char *attr, const void *list,
                              const char *want, int limit);

/*  normalize-space(value) into out; -1 when it does not fit in size.  */
int edix_rules_fn_norm_into(const char *value, char *out, size_t size);

/*  1 when value (blanks around allowed) is a valid date YYYY-MM-DD.  */
int edix_rules_fn_valid_date(const char *value);

/*  edix:check algorithms for the fast path: the index of a name (-1:
 *  none), and whether the (normalized) value passes it.  */
int edix_rules_fn_check_id(const char *algo);
int edix_rules_fn_check_run(int id, const char *value);

/*  The value of variable slot (see edix_rules_fast_env_t) during a
 *  check, borrowed (NULL: unset); implemented by rules.c, which keeps the
 *  variables.  */
xmlXPathObjectPtr edix_rules_var_peek(xmlXPathContextPtr xp, int slot);

/*  ---- the native fast path (rules_fast.c) ------------------------------ */

typedef struct edix_rules_fast edix_rules_fast_t;

/*  What compiling needs from the rule set: ns resolves a namespace prefix
 *  of n bytes to its URI (NULL: unknown), var a variable name to its slot
 *  for edix_rules_var_peek (-1: out of memory).  */
typedef struct {
    const char *(*ns)(void *arg, const char *prefix, size_t n);
    int (*var)(void *arg, const char *name);
    void *arg;
} edix_rules_fast_env_t;

/*  Compiles src when it is inside the fast subset, as a boolean (nodes 0:
 *  an assert), as a union of absolute paths (nodes 1: a context or let,
 *  evaluated at the document), of paths (nodes 2: a var, evaluated on a
 *  context node) or as a string (nodes 3: normalize-space(path),
 *  edix:coalesce(path|'lit', ...), edix:codes(path | ...)); NULL when it
 *  is not (the caller keeps using libxml2's XPath).  */
edix_rules_fast_t *edix_rules_fast_compile(const char *src, int nodes,
                                           const edix_rules_fast_env_t *env, edix_rules_fn_t *fn);
void edix_rules_fast_free(edix_rules_fast_t *f);

/*  The boolean value on node ($variables are looked up in xp).  */
int edix_rules_fast_bool(const edix_rules_fast_t *f, xmlNodePtr node, xmlXPathContextPtr xp);

/*  The string value of a nodes-3 expression on node; malloc'd, NULL when
 *  out of memory.  */
char *edix_rules_fast_string(const edix_rules_fast_t *f, xmlNodePtr node, xmlXPathContextPtr xp);

/*  The nodes the paths select from node (absolute ones from its root
 *  element), added to out in document order.  0, or -1 when out of
 *  memory.  */
int edix_rules_fast_nodes(const edix_rules_fast_t *f, xmlNodePtr node, xmlXPathContextPtr xp,
                          xmlNodeSetPtr out);

#endif
