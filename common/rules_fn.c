/*  rules_fn.c - the XPath extension functions business rules need
 *
 *  PURPOSE
 *      XPath 1.0 computes with doubles, cannot compare strings by order,
 *      has no code lists, dates or regular expressions.  EN 16931 and
 *      Peppol rules need all of these, so the engine registers a small
 *      library in namespace EDIX_RULES_FN_NS (prefix edix in rule files):
 *
 *      decimals (exact; a decimal travels as its canonical string, an
 *      invalid or missing value as "", which every function propagates
 *      and every comparison treats as false):
 *          edix:dec(x)            canonical form of x, "" if not a decimal
 *          edix:isdec(x)          x is an xs:decimal
 *          edix:sum(ns, ...)      exact sum of the nodes' values ("0" for none)
 *          edix:add(a, b, ...)    a + b + ...
 *          edix:sub(a, b)         a - b
 *          edix:mul(a, b)         a * b
 *          edix:div(a, b)         a / b to 18 decimals
 *          edix:round(a[, n])     a rounded to n decimals (default 0), half
 *                                 toward positive infinity as XPath 2.0
 *                                 fn:round, which the standards' rules use
 *          edix:abs(a), edix:diff(a, b) = |a - b|
 *          edix:eq/ne/lt/le/gt/ge(a, b)   comparisons (false when either
 *                                 side is not a decimal, ne included)
 *          edix:fmt(a, n)         a with at least n decimals (for messages)
 *      strings and codes:
 *          edix:in(x, 'list', ...)   normalized x is in one of the code lists
 *          edix:compare(a, b)     -1, 0, 1 by code points
 *          edix:upper(s)          ASCII upper case
 *          edix:coalesce(a, ...)  the first non-blank argument, normalized
 *          edix:if(c, a, b)       a when c is true, else b
 *          edix:matches(s, re)    POSIX extended regular expression search
 *          edix:date(x)           x is a date written YYYY-MM-DD
 *          edix:check(x, 'algo')  identifier check digits: gln, mod11-no,
 *                                 mod11-is (kennitala), mod97-be, luhn,
 *                                 abn, it-vat, it-cf
 *      nodes:
 *          edix:current()         the node the rule is being evaluated on
 *                                 (XSLT current(), for use in predicates)
 *          edix:desc('p:x p:y')   every element named p:x or p:y anywhere
 *                                 in the document, in document order ('*':
 *                                 every element); answered from an index
 *                                 built once per document, so rules about
 *                                 elements anywhere cost no tree walk each
 *          edix:empties()         elements without element children and
 *                                 with blank text
 *          edix:distinct(ns)      no two nodes have the same normalized value
 *          edix:codes(ns)         the nodes' distinct normalized values as
 *                                 " A B C ", for contains($codes, ' A ')
 *      filters (one pass in C: an XPath predicate per node costs far more;
 *      with the optional attr the attribute's value is tested, and a node
 *      without that attribute always fails):
 *          edix:not-in(ns, 'list'[, 'attr'])  nodes whose value is not in the list
 *          edix:is-in(ns, 'list'[, 'attr'])   nodes whose value is in the list
 *          edix:differ(ns, value[, 'attr'])   nodes whose value is not value
 *          edix:over-decimals(ns, n)          nodes with more than n decimals
 *
 *  GUARANTEES
 *      Decimal arithmetic is exact in a signed 128-bit integer with up to
 *      38 fraction digits; overflow gives "" (so the rule fails), never a
 *      wrapped number.  Regular expressions are compiled once per pattern
 *      (a small cache).  XPath errors are recorded, never printed.
 *
 *  ON FAILURE
 *      Out of memory inside a function raises an XPath error, which the
 *      engine counts and reports as a failed rule.
 */
#define _GNU_SOURCE
#include "rules_int.h"

#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdint.h>

#include <libxml/xpathInternals.h>

#define S_DEC_MAX_SCALE 38
#define S_DIV_SCALE     18
#define S_REGEX_CACHE   32

typedef struct {
    char *name;   /* file name without .txt */
    char **codes; /* sorted */
    size_t count;
    size_t *tab; /* hash of the codes: index + 1, 0 free (NULL: bsearch) */
    size_t tab_size;
} s_list_t;

typedef struct {
    char *pattern;
    regex_t re;
    int ok; /* compiled */
} s_regex_t;

/*  ---- the element index ------------------------------------------------
 *
 *  Rules that apply "anywhere in the document" would each walk the whole
 *  tree (//x), and rules about elements a document does not have would
 *  still search for them.  Instead one walk per document fills an index
 *  of its elements by local name and namespace: edix:desc('p:x p:y')
 *  answers from it, and the engine asks it whether a context can match
 *  at all before evaluating it.  The arrays are kept between documents
 *  (only emptied), so a check allocates nothing once warm.  */

/*  A name the fast path asks about, in the current document.  */
typedef struct {
    const xmlChar *ptr; /* its pointer in the document's dictionary */
    int known;          /* 0 not looked up yet, 1 in the dictionary, 2 absent */
    int slot;           /* its index bucket: 0 not looked up, -1 none, else index + 1 */
    const char *href;   /* the namespace slot was looked up for */
    unsigned gen;       /* the document generation this entry is about */
} s_docname_t;

typedef struct {
    const xmlChar *name; /* local name, or NULL for a free slot */
    const xmlChar *href; /* namespace, or NULL */
    int first, last;     /* chain through s_index_t.next, in document order */
    int count;           /* its length */
} s_bucket_t;

typedef struct {
    xmlDocPtr doc;     /* indexed document, or NULL */
    s_bucket_t *slots; /* open addressing */
    size_t size;       /* power of two */
    size_t used;
    int *touched;      /* slots in use, to empty them quickly */
    xmlNodePtr *nodes; /* every element, in document order */
    int *next;         /* next element of the same name, or -1 */
    size_t count, cap;
    int *empty; /* elements without element children and only blank text */
    size_t empty_count, empty_cap;
} s_index_t;

struct edix_rules_fn {
    s_list_t *lists;
    size_t list_count;
    xmlNodePtr current;             /* edix:current() */
    s_regex_t regex[S_REGEX_CACHE]; /* compiled patterns */
    size_t regex_count;             /* used entries */
    size_t regex_next;              /* next slot to reuse when full */
    s_index_t index;                /* elements of the current document by name */
    const s_list_t *last_list;      /* the code list edix:in used last */
    size_t errors;                  /* XPath errors since the last clear */
    char last_error[256];           /* the last one's message */
    int own_message;                /* a function wrote last_error itself */
    char **names;                   /* element names the fast path asks about, by id */
    size_t name_count, name_cap;
    int *name_tab; /* hash of names: id + 1, 0 free */
    size_t name_tab_size;
    s_docname_t *doc_names; /* what the current document says of each */
    xmlDocPtr names_doc;    /* whose doc_names they are */
    unsigned names_gen;     /* that document's generation (entries of
                             * another generation are empty) */
};

/*  By local name only (namespace URIs are long, and the few names two
 *  namespaces share just share a probe sequence).  */
static uint32_t
s_hash(const xmlChar *name)
{
    uint32_t h = 2166136261u;

    for (; *name; name++)
        h = (h ^ *name) * 16777619u;
    return h;
}

static int
s_same_href(const xmlChar *a, const xmlChar *b)
{
    if (a == b)
        return 1;
    if (a == NULL || b == NULL)
        return 0;
    return strcmp((const char *)a, (const char *)b) == 0;
}

static s_bucket_t *
s_index_slot(const s_index_t *ix, const xmlChar *name, const xmlChar *href)
{
    size_t i = s_hash(name) & (ix->size - 1);

    while (ix->slots[i].name) {
        if ((ix->slots[i].name == name ||
             strcmp((const char *)ix->slots[i].name, (const char *)name) == 0) &&
            s_same_href(ix->slots[i].href, href))
            return &ix->slots[i];
        i = (i + 1) & (ix->size - 1);
    }
    return &ix->slots[i];
}

static void
s_index_free(s_index_t *ix)
{
    free(ix->slots);
    free(ix->touched);
    free(ix->nodes);
    free(ix->next);
    free(ix->empty);
    memset(ix, 0, sizeof *ix);
}

/*  Forgets the document; keeps the memory.  */
static void
s_index_clear(s_index_t *ix)
{
    size_t i;

    for (i = 0; i < ix->used; i++)
        ix->slots[ix->touched[i]].name = NULL;
    ix->used = 0;
    ix->count = 0;
    ix->empty_count = 0;
    ix->doc = NULL;
}

static int
s_index_grow(s_index_t *ix)
{
    s_bucket_t *old = ix->slots;
    size_t old_size = ix->size, i, n = 0;
    size_t size = old_size ? old_size * 2 : 512;
    s_bucket_t *slots = calloc(size, sizeof *slots);
    int *touched = malloc(size * sizeof *touched);

    if (slots == NULL || touched == NULL) {
        free(slots);
        free(touched);
        return -1;
    }
    ix->slots = slots;
    ix->size = size;
    for (i = 0; i < old_size; i++)
        if (old[i].name) {
            s_bucket_t *b = s_index_slot(ix, old[i].name, old[i].href);
            *b = old[i];
            touched[n++] = (int)(b - slots);
        }
    free(old);
    free(ix->touched);
    ix->touched = touched;
    ix->used = n;
    return 0;
}

static int
s_grow_ints(int **a, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    {
        size_t n = *cap ? *cap * 2 : 256;
        int *g;
        while (n < need)
            n *= 2;
        g = realloc(*a, n * sizeof *g);
        if (g == NULL)
            return -1;
        *a = g;
        *cap = n;
    }
    return 0;
}

/*  1 when el has no element child and its text is blank.  */
static int
s_is_empty(xmlNodePtr el)
{
    xmlNodePtr c;

    for (c = el->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            return 0;
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
            const xmlChar *p;
            for (p = c->content; *p; p++)
                if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
                    return 0;
        }
    }
    return 1;
}

/*  Walks doc once (without recursion) and fills the index.  */
static int
s_index_build(s_index_t *ix, xmlDocPtr doc)
{
    xmlNodePtr root = xmlDocGetRootElement(doc), n = root;
    /* names repeat (and share their dictionary pointer): the bucket of a
     * recently seen (name, namespace) pair without hashing it again */
    struct {
        const xmlChar *name, *href;
        size_t slot;
    } seen[64];
    size_t size = 0;

    s_index_clear(ix);
    if (ix->size == 0 && s_index_grow(ix) < 0)
        return -1;
    while (n) {
        if (n->type == XML_ELEMENT_NODE) {
            const xmlChar *href = n->ns ? n->ns->href : NULL;
            s_bucket_t *b;
            int at = (int)ix->count;
            if (ix->count == ix->cap) {
                size_t cap = ix->cap ? ix->cap * 2 : 1024;
                xmlNodePtr *gn = realloc(ix->nodes, cap * sizeof *gn);
                int *gx;
                if (gn == NULL)
                    return -1;
                ix->nodes = gn;
                gx = realloc(ix->next, cap * sizeof *gx);
                if (gx == NULL)
                    return -1;
                ix->next = gx;
                ix->cap = cap;
            }
            if ((ix->used + 1) * 2 > ix->size && s_index_grow(ix) < 0)
                return -1;
            if (size != ix->size) { /* new (or regrown) table: forget the cache */
                memset(seen, 0, sizeof seen);
                size = ix->size;
            }
            {
                size_t k = ((uintptr_t)n->name >> 4) & 63;
                if (seen[k].name == n->name && seen[k].href == href && n->name)
                    b = &ix->slots[seen[k].slot];
                else {
                    b = s_index_slot(ix, n->name, href);
                    seen[k].name = n->name;
                    seen[k].href = href;
                    seen[k].slot = (size_t)(b - ix->slots);
                }
            }
            if (b->name == NULL) {
                b->name = n->name;
                b->href = href;
                b->first = at;
                b->count = 0;
                ix->touched[ix->used++] = (int)(b - ix->slots);
            } else
                ix->next[b->last] = at;
            b->last = at;
            b->count++;
            ix->nodes[at] = n;
            ix->next[at] = -1;
            ix->count++;
            if (s_is_empty(n)) {
                if (s_grow_ints(&ix->empty, &ix->empty_cap, ix->empty_count + 1) < 0)
                    return -1;
                ix->empty[ix->empty_count++] = at;
            }
            if (n->children) {
                n = n->children;
                continue;
            }
        }
        while (n != root && n->next == NULL)
            n = n->parent;
        if (n == root)
            break;
        n = n->next;
    }
    ix->doc = doc;
    return 0;
}

static int
s_int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return x < y ? -1 : (x > y);
}

/*  ---- code lists ------------------------------------------------------- */

static int
s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
s_list_free(s_list_t *l)
{
    size_t i;

    for (i = 0; i < l->count; i++)
        free(l->codes[i]);
    free(l->codes);
    free(l->tab);
    free(l->name);
}

static int
s_list_load(s_list_t *l, const char *dir, const char *file, char **err)
{
    char *path = NULL, *line = NULL;
    size_t cap = 0, ccap = 0;
    FILE *f = NULL;
    int rc = -1;

    memset(l, 0, sizeof *l);
    if (asprintf(&path, "%s/%s", dir, file) < 0) {
        path = NULL;
        goto oom;
    }
    l->name = strndup(file, strlen(file) - 4);
    if (l->name == NULL)
        goto oom;
    f = fopen(path, "r");
    if (f == NULL) {
        if (err && asprintf(err, "code list %s: %s", path, strerror(errno)) < 0)
            *err = NULL;
        goto out;
    }
    while (getline(&line, &cap, f) >= 0) {
        char *p = line, *e;
        while (*p == ' ' || *p == '\t')
            p++;
        e = p + strcspn(p, "#\r\n");
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == p)
            continue;
        if (l->count == ccap) {
            size_t n = ccap ? ccap * 2 : 64;
            char **g = realloc(l->codes, n * sizeof *g);
            if (g == NULL)
                goto oom;
            l->codes = g;
            ccap = n;
        }
        l->codes[l->count] = strndup(p, (size_t)(e - p));
        if (l->codes[l->count] == NULL)
            goto oom;
        l->count++;
    }
    if (l->count > 1)
        qsort(l->codes, l->count, sizeof *l->codes, s_cmp_str);
    /* membership by hash (a few instructions) rather than bsearch; without
     * the memory, bsearch still answers */
    for (l->tab_size = 16; l->tab_size < l->count * 2; l->tab_size *= 2)
        ;
    l->tab = calloc(l->tab_size, sizeof *l->tab);
    if (l->tab) {
        size_t k, i;
        for (k = 0; k < l->count; k++) {
            for (i = s_hash(BAD_CAST l->codes[k]) & (l->tab_size - 1); l->tab[i];
                 i = (i + 1) & (l->tab_size - 1))
                ;
            l->tab[i] = k + 1;
        }
    }
    rc = 0;
    goto out;
oom:
    if (err && asprintf(err, "out of memory loading code list %s", file) < 0)
        *err = NULL;
out:
    if (f)
        fclose(f);
    free(line);
    free(path);
    return rc;
}

static const s_list_t *
s_list_find(const edix_rules_fn_t *self, const char *name)
{
    size_t i;

    for (i = 0; i < self->list_count; i++)
        if (strcmp(self->lists[i].name, name) == 0)
            return &self->lists[i];
    return NULL;
}

static int
s_list_has(const s_list_t *l, const char *code)
{
    size_t i;

    if (l->tab == NULL)
        return l->count && bsearch(&code, l->codes, l->count, sizeof *l->codes, s_cmp_str) != NULL;
    for (i = s_hash(BAD_CAST code) & (l->tab_size - 1); l->tab[i]; i = (i + 1) & (l->tab_size - 1))
        if (strcmp(l->codes[l->tab[i] - 1], code) == 0)
            return 1;
    return 0;
}

const void *
edix_rules_fn_list(const edix_rules_fn_t *self, const char *name)
{
    return s_list_find(self, name);
}

int
edix_rules_fn_list_has_norm(const void *list, const char *value)
{
    char norm[256];
    size_t n = 0;
    int space = 0;

    for (; *value; value++) {
        if (*value == ' ' || *value == '\t' || *value == '\n' || *value == '\r') {
            space = n > 0;
            continue;
        }
        if (n + 2 >= sizeof norm)
            return 0; /* no code is that long */
        if (space)
            norm[n++] = ' ';
        space = 0;
        norm[n++] = *value;
    }
    norm[n] = '\0';
    return s_list_has(list, norm);
}

int
edix_rules_fn_has_list(const edix_rules_fn_t *self, const char *name)
{
    return s_list_find(self, name) != NULL;
}

static int
s_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n > m && strcmp(s + n - m, suffix) == 0;
}

edix_rules_fn_t *
edix_rules_fn_new(const char *codelist_dir, char **err)
{
    edix_rules_fn_t *self = calloc(1, sizeof *self);
    struct dirent **names = NULL;
    int n = 0, i;

    if (self == NULL) {
        if (err && asprintf(err, "out of memory loading code lists") < 0)
            *err = NULL;
        return NULL;
    }
    n = scandir(codelist_dir, &names, NULL, alphasort);
    if (n < 0)
        return self; /* no code lists: rules that name one fail to load */
    self->lists = calloc((size_t)n + 1, sizeof *self->lists);
    if (self->lists == NULL) {
        if (err && asprintf(err, "out of memory loading code lists") < 0)
            *err = NULL;
        goto fail;
    }
    for (i = 0; i < n; i++) {
        if (names[i]->d_name[0] == '.' || !s_has_suffix(names[i]->d_name, ".txt"))
            continue;
        if (s_list_load(&self->lists[self->list_count], codelist_dir, names[i]->d_name, err) < 0) {
            s_list_free(&self->lists[self->list_count]);
            goto fail;
        }
        self->list_count++;
    }
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return self;
fail:
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    edix_rules_fn_destroy(&self);
    return NULL;
}

void
edix_rules_fn_destroy(edix_rules_fn_t **self_p)
{
    edix_rules_fn_t *self;
    size_t i;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    for (i = 0; i < self->list_count; i++)
        s_list_free(&self->lists[i]);
    free(self->lists);
    s_index_free(&self->index);
    for (i = 0; i < self->name_count; i++)
        free(self->names[i]);
    free(self->names);
    free(self->doc_names);
    free(self->name_tab);
    for (i = 0; i < self->regex_count; i++) {
        if (self->regex[i].ok)
            regfree(&self->regex[i].re);
        free(self->regex[i].pattern);
    }
    free(self);
    *self_p = NULL;
}

void
edix_rules_fn_set_current(edix_rules_fn_t *self, xmlNodePtr node)
{
    self->current = node;
}

size_t
edix_rules_fn_errors(const edix_rules_fn_t *self)
{
    return self->errors;
}

const char *
edix_rules_fn_last_error(const edix_rules_fn_t *self)
{
    return self->last_error;
}

void
edix_rules_fn_clear_errors(edix_rules_fn_t *self)
{
    self->errors = 0;
    self->last_error[0] = '\0';
    self->own_message = 0;
}

/*  ---- exact decimals -------------------------------------------------- */

typedef edix_dec_t s_dec_t;

static int
s_pow10(int n, __int128 *out)
{
    __int128 p = 1;

    if (n < 0 || n > S_DEC_MAX_SCALE)
        return -1;
    while (n-- > 0)
        p *= 10;
    *out = p;
    return 0;
}

/*  Drops fraction zeros: the smallest scale that holds the value.  */
static void
s_dec_norm(s_dec_t *d)
{
    while (d->scale > 0 && d->v % 10 == 0) {
        d->v /= 10;
        d->scale--;
    }
}

/*  xs:decimal lexical form with surrounding blanks; 0 or -1.  */
static int
s_dec_parse(const char *s, s_dec_t *out)
{
    const char *p = s;
    int neg = 0, digits = 0, point = 0, frac = 0;
    __int128 v = 0;

    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    for (; *p; p++) {
        if (*p == '.' && !point) {
            point = 1;
            continue;
        }
        if (*p < '0' || *p > '9')
            break;
        digits++;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
            return -1;
        if (point && ++frac > S_DEC_MAX_SCALE)
            return -1;
    }
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p != '\0' || digits == 0)
        return -1;
    out->v = neg ? -v : v;
    out->scale = frac;
    s_dec_norm(out);
    return 0;
}

static int
s_dec_align(s_dec_t *a, s_dec_t *b)
{
    __int128 p;
    s_dec_t *lo = a->scale < b->scale ? a : b;
    int target = a->scale < b->scale ? b->scale : a->scale;

    if (s_pow10(target - lo->scale, &p) < 0 || __builtin_mul_overflow(lo->v, p, &lo->v))
        return -1;
    lo->scale = target;
    return 0;
}

static int
s_dec_add(s_dec_t *r, s_dec_t a, s_dec_t b, int sign)
{
    if (s_dec_align(&a, &b) < 0)
        return -1;
    if (sign < 0 ? __builtin_sub_overflow(a.v, b.v, &r->v)
                 : __builtin_add_overflow(a.v, b.v, &r->v))
        return -1;
    r->scale = a.scale;
    s_dec_norm(r);
    return 0;
}

static int
s_dec_mul(s_dec_t *r, s_dec_t a, s_dec_t b)
{
    if (a.scale + b.scale > S_DEC_MAX_SCALE || __builtin_mul_overflow(a.v, b.v, &r->v))
        return -1;
    r->scale = a.scale + b.scale;
    s_dec_norm(r);
    return 0;
}

/*  Rounds to n fraction digits, half toward positive infinity.  */
static int
s_dec_round(s_dec_t *r, s_dec_t a, int n)
{
    __int128 p, q, rem;

    if (n < 0)
        n = 0;
    if (a.scale <= n) {
        *r = a;
        return 0;
    }
    if (s_pow10(a.scale - n, &p) < 0)
        return -1;
    q = a.v / p;
    rem = a.v % p;
    if (rem > 0 && rem * 2 >= p)
        q++;
    else if (rem < 0 && -rem * 2 > p)
        q--;
    r->v = q;
    r->scale = n;
    s_dec_norm(r);
    return 0;
}

/*  a / b, rounded to S_DIV_SCALE digits (fewer when the value is large).  */
static int
s_dec_div(s_dec_t *r, s_dec_t a, s_dec_t b)
{
    int target;

    if (b.v == 0)
        return -1;
    for (target = S_DIV_SCALE; target >= 0; target -= 6) {
        /* a/b = (A/B) * 10^(sb - sa); want R * 10^-target */
        int k = target + b.scale - a.scale;
        __int128 num = a.v, p, q, rem;
        if (k >= 0) {
            if (s_pow10(k, &p) < 0 || __builtin_mul_overflow(num, p, &num))
                continue;
        } else {
            if (s_pow10(-k, &p) < 0)
                continue;
            num /= p;
        }
        q = num / b.v;
        rem = num % b.v;
        /* half away from zero on the last digit: the quotient is already
         * far more precise than any rule compares */
        if (rem != 0 && (rem < 0 ? -rem : rem) * 2 >= (b.v < 0 ? -b.v : b.v))
            q += ((num < 0) != (b.v < 0)) ? -1 : 1;
        r->v = q;
        r->scale = target;
        s_dec_norm(r);
        return 0;
    }
    return -1;
}

static int
s_dec_cmp(s_dec_t a, s_dec_t b, int *out)
{
    if (s_dec_align(&a, &b) < 0) {
        /* cannot align: compare signs and magnitudes roughly */
        return -1;
    }
    *out = a.v < b.v ? -1 : (a.v > b.v ? 1 : 0);
    return 0;
}

static void
s_dec_format(s_dec_t d, int min_scale, char *buf, size_t size)
{
    char digits[64];
    int nd = 0, pos = 0, scale = d.scale;
    unsigned __int128 u;
    __int128 p;

    if (scale < min_scale && s_pow10(min_scale - scale, &p) == 0 &&
        !__builtin_mul_overflow(d.v, p, &d.v))
        scale = min_scale;
    u = d.v < 0 ? -(unsigned __int128)d.v : (unsigned __int128)d.v;
    do {
        digits[nd++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    while (nd <= scale)
        digits[nd++] = '0';
    if (d.v < 0 && pos + 1 < (int)size)
        buf[pos++] = '-';
    while (nd > 0 && pos + 2 < (int)size) {
        if (nd == scale)
            buf[pos++] = '.';
        buf[pos++] = digits[--nd];
    }
    buf[pos] = '\0';
}

/*  The same arithmetic for the native fast path (rules_fast.c).  */
int
edix_dec_parse(const char *s, edix_dec_t *out)
{
    return s_dec_parse(s, out);
}

int
edix_dec_add(edix_dec_t *r, edix_dec_t a, edix_dec_t b, int sign)
{
    return s_dec_add(r, a, b, sign);
}

int
edix_dec_mul(edix_dec_t *r, edix_dec_t a, edix_dec_t b)
{
    return s_dec_mul(r, a, b);
}

int
edix_dec_div(edix_dec_t *r, edix_dec_t a, edix_dec_t b)
{
    return s_dec_div(r, a, b);
}

int
edix_dec_round(edix_dec_t *r, edix_dec_t a, int n)
{
    return s_dec_round(r, a, n);
}

int
edix_dec_cmp(edix_dec_t a, edix_dec_t b, int *out)
{
    return s_dec_cmp(a, b, out);
}

/*  ---- argument helpers ------------------------------------------------ */

/*  Pops nargs arguments (they come off the stack last first) into args.  */
static int
s_pop_args(xmlXPathParserContextPtr ctxt, int nargs, xmlXPathObjectPtr *args)
{
    int i;

    for (i = nargs - 1; i >= 0; i--) {
        args[i] = valuePop(ctxt);
        if (args[i] == NULL) {
            for (i++; i < nargs; i++)
                xmlXPathFreeObject(args[i]);
            return -1;
        }
    }
    return 0;
}

static void
s_free_args(xmlXPathObjectPtr *args, int nargs)
{
    int i;

    for (i = 0; i < nargs; i++)
        xmlXPathFreeObject(args[i]);
}

/*  The text of a node without copying it when it is one text node (the
 *  usual leaf element or attribute); NULL when it must be assembled.  */
static const char *
s_node_text(xmlNodePtr n)
{
    xmlNodePtr c;

    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE)
        return n->content ? (const char *)n->content : "";
    if (n->type != XML_ELEMENT_NODE && n->type != XML_ATTRIBUTE_NODE)
        return NULL;
    c = n->children;
    if (c == NULL)
        return "";
    if (c->next == NULL && (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE))
        return c->content ? (const char *)c->content : "";
    return NULL;
}

/*  The string value of an argument (of a node-set: its first node), as
 *  XPath string() gives it; points into the argument, into buf, or into
 *  *tofree (xmlFree it).  NULL only when out of memory.  */
static const char *
s_arg_text(xmlXPathObjectPtr o, char *buf, size_t size, xmlChar **tofree)
{
    const char *t;

    *tofree = NULL;
    switch (o->type) {
    case XPATH_STRING:
        return o->stringval ? (const char *)o->stringval : "";
    case XPATH_BOOLEAN:
        return o->boolval ? "true" : "false";
    case XPATH_NUMBER:
        if (o->floatval != o->floatval)
            return "NaN";
        snprintf(buf, size, "%.15g", o->floatval);
        return buf;
    case XPATH_NODESET:
    case XPATH_XSLT_TREE:
        if (o->nodesetval == NULL || o->nodesetval->nodeNr == 0)
            return "";
        t = s_node_text(o->nodesetval->nodeTab[0]);
        if (t)
            return t;
        *tofree = xmlXPathCastNodeToString(o->nodesetval->nodeTab[0]);
        return (const char *)*tofree;
    default:
        *tofree = xmlXPathCastToString(o);
        return (const char *)*tofree;
    }
}

/*  The decimal an argument holds: a number, or the string value (of a
 *  node-set's first node).  0 or -1.  */
static int
s_arg_dec(xmlXPathObjectPtr o, s_dec_t *d)
{
    char buf[64];
    xmlChar *tofree;
    const char *t = s_arg_text(o, buf, sizeof buf, &tofree);
    int rc;

    if (t == NULL)
        return -1;
    rc = s_dec_parse(t, d);
    if (tofree)
        xmlFree(tofree);
    return rc;
}

/*  Normalize-space of t into out (size bytes); -1 when it does not fit.  */
static int
s_norm_into(const char *t, char *out, size_t size)
{
    size_t n = 0;
    int space = 0;

    for (; *t; t++) {
        if (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r') {
            space = n > 0;
            continue;
        }
        if (n + 2 >= size)
            return -1;
        if (space)
            out[n++] = ' ';
        space = 0;
        out[n++] = *t;
    }
    out[n] = '\0';
    return 0;
}

static void
s_push_dec(xmlXPathParserContextPtr ctxt, const s_dec_t *d)
{
    char buf[64];

    if (d == NULL) {
        valuePush(ctxt, xmlXPathNewCString(""));
        return;
    }
    s_dec_format(*d, 0, buf, sizeof buf);
    valuePush(ctxt, xmlXPathNewCString(buf));
}

/*  Normalized string value (XPath normalize-space) of an argument;
 *  malloc'd, NULL when out of memory.  */
static char *
s_arg_norm(xmlXPathObjectPtr o)
{
    xmlChar *s = xmlXPathCastToString(o);
    char *out, *w;
    const char *r;
    int space = 0;

    if (s == NULL)
        return NULL;
    out = malloc(strlen((const char *)s) + 1);
    if (out == NULL) {
        xmlFree(s);
        return NULL;
    }
    w = out;
    for (r = (const char *)s; *r; r++) {
        if (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r') {
            space = w != out;
            continue;
        }
        if (space)
            *w++ = ' ';
        space = 0;
        *w++ = *r;
    }
    *w = '\0';
    xmlFree(s);
    return out;
}

#define S_ARGS(min, max)                                                                           \
    xmlXPathObjectPtr args[(max)];                                                                 \
    do {                                                                                           \
        if (nargs < (min) || nargs > (max)) {                                                      \
            xmlXPathErr(ctxt, XPATH_INVALID_ARITY);                                                \
            return;                                                                                \
        }                                                                                          \
        if (s_pop_args(ctxt, nargs, args) < 0) {                                                   \
            xmlXPathErr(ctxt, XPATH_STACK_ERROR);                                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/*  ---- decimal functions ----------------------------------------------- */

static void
s_fn_dec(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_dec_t d;
    S_ARGS(1, 1);

    s_push_dec(ctxt, s_arg_dec(args[0], &d) == 0 ? &d : NULL);
    s_free_args(args, nargs);
}

static void
s_fn_isdec(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_dec_t d;
    S_ARGS(1, 1);

    valuePush(ctxt, xmlXPathNewBoolean(s_arg_dec(args[0], &d) == 0));
    s_free_args(args, nargs);
}

static void
s_fn_sum(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_dec_t sum = {0, 0}, d;
    int i, ok = 1;
    S_ARGS(1, 8);

    for (i = 0; i < nargs && ok; i++) {
        xmlXPathObjectPtr o = args[i];
        if (o->type == XPATH_NODESET || o->type == XPATH_XSLT_TREE) {
            int j, n = o->nodesetval ? o->nodesetval->nodeNr : 0;
            for (j = 0; j < n && ok; j++) {
                xmlChar *s = xmlXPathCastNodeToString(o->nodesetval->nodeTab[j]);
                ok = s && s_dec_parse((const char *)s, &d) == 0 && s_dec_add(&sum, sum, d, 1) == 0;
                xmlFree(s);
            }
        } else
            ok = s_arg_dec(o, &d) == 0 && s_dec_add(&sum, sum, d, 1) == 0;
    }
    s_push_dec(ctxt, ok ? &sum : NULL);
    s_free_args(args, nargs);
}

static void
s_fn_add(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_dec_t r = {0, 0}, d;
    int i, ok = 1;
    S_ARGS(1, 8);

    for (i = 0; i < nargs && ok; i++)
        ok = s_arg_dec(args[i], &d) == 0 && s_dec_add(&r, r, d, 1) == 0;
    s_push_dec(ctxt, ok ? &r : NULL);
    s_free_args(args, nargs);
}

/*  The two-operand functions share one shape.  */
enum { S_OP_SUB, S_OP_MUL, S_OP_DIV, S_OP_DIFF };

static void
s_binary(xmlXPathParserContextPtr ctxt, int nargs, int op)
{
    s_dec_t a, b, r;
    int ok;
    S_ARGS(2, 2);

    ok = s_arg_dec(args[0], &a) == 0 && s_arg_dec(args[1], &b) == 0;
    if (ok) {
        switch (op) {
        case S_OP_SUB:
            ok = s_dec_add(&r, a, b, -1) == 0;
            break;
        case S_OP_MUL:
            ok = s_dec_mul(&r, a, b) == 0;
            break;
        case S_OP_DIV:
            ok = s_dec_div(&r, a, b) == 0;
            break;
        default:
            ok = s_dec_add(&r, a, b, -1) == 0;
            if (ok && r.v < 0)
                r.v = -r.v;
            break;
        }
    }
    s_push_dec(ctxt, ok ? &r : NULL);
    s_free_args(args, nargs);
}

static void
s_fn_sub(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_binary(ctxt, nargs, S_OP_SUB);
}

static void
s_fn_mul(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_binary(ctxt, nargs, S_OP_MUL);
}

static void
s_fn_div(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_binary(ctxt, nargs, S_OP_DIV);
}

static void
s_fn_diff(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_binary(ctxt, nargs, S_OP_DIFF);
}

static void
s_fn_round(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_dec_t a, r;
    int n = 0, ok;
    S_ARGS(1, 2);

    if (nargs == 2)
        n = (int)xmlXPathCastToNumber(args[1]);
    ok =
        s_arg_dec(args[0], &a) == 0 && n >= 0 && n <= S_DEC_MAX_SCALE && s_dec_round(&r, a, n) == 0;
    s_push_dec(ctxt, ok ? &r : NULL);
    s_free_args(args, nargs);
}

static void
s_fn_abs(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_dec_t a;
    int ok;
    S_ARGS(1, 1);

    ok = s_arg_dec(args[0], &a) == 0;
    if (ok && a.v < 0)
        a.v = -a.v;
    s_push_dec(ctxt, ok ? &a : NULL);
    s_free_args(args, nargs);
}

enum { S_CMP_EQ, S_CMP_NE, S_CMP_LT, S_CMP_LE, S_CMP_GT, S_CMP_GE };

static void
s_compare(xmlXPathParserContextPtr ctxt, int nargs, int op)
{
    s_dec_t a, b;
    int c = 0, ok, res = 0;
    S_ARGS(2, 2);

    ok = s_arg_dec(args[0], &a) == 0 && s_arg_dec(args[1], &b) == 0 && s_dec_cmp(a, b, &c) == 0;
    if (ok) {
        switch (op) {
        case S_CMP_EQ:
            res = c == 0;
            break;
        case S_CMP_NE:
            res = c != 0;
            break;
        case S_CMP_LT:
            res = c < 0;
            break;
        case S_CMP_LE:
            res = c <= 0;
            break;
        case S_CMP_GT:
            res = c > 0;
            break;
        default:
            res = c >= 0;
            break;
        }
    }
    valuePush(ctxt, xmlXPathNewBoolean(res));
    s_free_args(args, nargs);
}

static void
s_fn_eq(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_compare(ctxt, nargs, S_CMP_EQ);
}

static void
s_fn_ne(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_compare(ctxt, nargs, S_CMP_NE);
}

static void
s_fn_lt(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_compare(ctxt, nargs, S_CMP_LT);
}

static void
s_fn_le(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_compare(ctxt, nargs, S_CMP_LE);
}

static void
s_fn_gt(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_compare(ctxt, nargs, S_CMP_GT);
}

static void
s_fn_ge(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_compare(ctxt, nargs, S_CMP_GE);
}

static void
s_fn_fmt(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_dec_t a;
    char buf[64];
    int n;
    S_ARGS(2, 2);

    n = (int)xmlXPathCastToNumber(args[1]);
    if (s_arg_dec(args[0], &a) == 0) {
        s_dec_format(a, n < 0 ? 0 : (n > 10 ? 10 : n), buf, sizeof buf);
        valuePush(ctxt, xmlXPathNewCString(buf));
    } else {
        xmlChar *s = xmlXPathCastToString(args[0]);
        valuePush(ctxt, xmlXPathNewString(s ? s : BAD_CAST ""));
        xmlFree(s);
    }
    s_free_args(args, nargs);
}

/*  ---- strings and codes ----------------------------------------------- */

static void
s_fn_in(xmlXPathParserContextPtr ctxt, int nargs)
{
    edix_rules_fn_t *self = ctxt->context->userData;
    char value[256], buf[64];
    const char *t;
    xmlChar *tofree;
    int i, found = 0, fits;
    S_ARGS(2, 6);

    t = s_arg_text(args[0], buf, sizeof buf, &tofree);
    if (t == NULL) {
        s_free_args(args, nargs);
        xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
        return;
    }
    fits = s_norm_into(t, value, sizeof value) == 0; /* longer: no code is that long */
    if (tofree)
        xmlFree(tofree);
    for (i = 1; i < nargs && !found; i++) {
        const char *name = args[i]->type == XPATH_STRING && args[i]->stringval
                               ? (const char *)args[i]->stringval
                               : "";
        const s_list_t *l = self->last_list && strcmp(self->last_list->name, name) == 0
                                ? self->last_list
                                : s_list_find(self, name);
        if (l == NULL) {
            snprintf(self->last_error, sizeof self->last_error, "edix:in: no code list '%s'", name);
            self->own_message = 1;
            s_free_args(args, nargs);
            xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
            return;
        }
        self->last_list = l;
        found = fits && s_list_has(l, value);
    }
    valuePush(ctxt, xmlXPathNewBoolean(found));
    s_free_args(args, nargs);
}

static void
s_fn_compare(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlChar *a, *b;
    int c;
    S_ARGS(2, 2);

    a = xmlXPathCastToString(args[0]);
    b = xmlXPathCastToString(args[1]);
    c = strcmp(a ? (const char *)a : "", b ? (const char *)b : "");
    valuePush(ctxt, xmlXPathNewFloat(c < 0 ? -1 : (c > 0 ? 1 : 0)));
    xmlFree(a);
    xmlFree(b);
    s_free_args(args, nargs);
}

static void
s_fn_upper(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlChar *s, *p;
    S_ARGS(1, 1);

    s = xmlXPathCastToString(args[0]);
    for (p = s; p && *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (xmlChar)(*p - 'a' + 'A');
    valuePush(ctxt, xmlXPathNewString(s ? s : BAD_CAST ""));
    xmlFree(s);
    s_free_args(args, nargs);
}

static void
s_fn_coalesce(xmlXPathParserContextPtr ctxt, int nargs)
{
    int i;
    char *v = NULL;
    S_ARGS(1, 8);

    for (i = 0; i < nargs; i++) {
        v = s_arg_norm(args[i]);
        if (v == NULL || *v)
            break;
        free(v);
        v = NULL;
    }
    valuePush(ctxt, xmlXPathNewCString(v ? v : ""));
    free(v);
    s_free_args(args, nargs);
}

static void
s_fn_if(xmlXPathParserContextPtr ctxt, int nargs)
{
    int c;
    S_ARGS(3, 3);

    c = xmlXPathCastToBoolean(args[0]);
    valuePush(ctxt, c ? args[1] : args[2]);
    args[c ? 1 : 2] = NULL;
    xmlXPathFreeObject(args[0]);
    xmlXPathFreeObject(args[c ? 2 : 1]);
}

static const regex_t *
s_regex(edix_rules_fn_t *self, const char *pattern)
{
    size_t i;
    s_regex_t *slot;

    for (i = 0; i < self->regex_count; i++)
        if (strcmp(self->regex[i].pattern, pattern) == 0)
            return self->regex[i].ok ? &self->regex[i].re : NULL;
    if (self->regex_count < S_REGEX_CACHE)
        slot = &self->regex[self->regex_count++];
    else {
        slot = &self->regex[self->regex_next];
        self->regex_next = (self->regex_next + 1) % S_REGEX_CACHE;
        if (slot->ok)
            regfree(&slot->re);
        free(slot->pattern);
    }
    slot->pattern = strdup(pattern);
    slot->ok = slot->pattern && regcomp(&slot->re, pattern, REG_EXTENDED | REG_NOSUB) == 0;
    if (slot->pattern == NULL)
        slot->pattern = strdup("");
    return slot->ok ? &slot->re : NULL;
}

static void
s_fn_matches(xmlXPathParserContextPtr ctxt, int nargs)
{
    edix_rules_fn_t *self = ctxt->context->userData;
    xmlChar *s, *pat;
    const regex_t *re;
    int ok = 0;
    S_ARGS(2, 2);

    s = xmlXPathCastToString(args[0]);
    pat = xmlXPathCastToString(args[1]);
    if (s && pat) {
        re = s_regex(self, (const char *)pat);
        if (re == NULL) {
            snprintf(self->last_error, sizeof self->last_error, "edix:matches: bad pattern '%s'",
                     (const char *)pat);
            self->own_message = 1;
            xmlFree(s);
            xmlFree(pat);
            s_free_args(args, nargs);
            xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
            return;
        }
        ok = regexec(re, (const char *)s, 0, NULL, 0) == 0;
    }
    valuePush(ctxt, xmlXPathNewBoolean(ok));
    xmlFree(s);
    xmlFree(pat);
    s_free_args(args, nargs);
}

static int
s_is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*  1 when s (trimmed) is a valid date written YYYY-MM-DD.  */
static int
s_valid_date(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int i, y, m, d;

    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    for (i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return 0;
    for (i = 10; s[i]; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 0;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (m < 1 || m > 12 || d < 1)
        return 0;
    return d <= days[m - 1] + (m == 2 && s_is_leap(y));
}

int
edix_rules_fn_valid_date(const char *value)
{
    return s_valid_date(value);
}

static void
s_fn_date(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlChar *s;
    S_ARGS(1, 1);

    s = xmlXPathCastToString(args[0]);
    valuePush(ctxt, xmlXPathNewBoolean(s && s_valid_date((const char *)s)));
    xmlFree(s);
    s_free_args(args, nargs);
}

/*  ---- identifier check digits ----------------------------------------- */

static int
s_all_digits(const char *s, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/*  GS1 mod 10: weights 3,1,3,... from the right, excluding the check digit.  */
static int
s_check_gln(const char *s, size_t n)
{
    int sum = 0;
    size_t i;

    if (!s_all_digits(s, n) || n < 2)
        return 0;
    for (i = 0; i + 1 < n; i++)
        sum += (s[n - 2 - i] - '0') * (i % 2 == 0 ? 3 : 1);
    return (10 - sum % 10) % 10 == s[n - 1] - '0';
}

/*  Norwegian organisation number: weights 2..7 repeating from the right.  */
static int
s_check_mod11_no(const char *s, size_t n)
{
    int sum = 0, check;
    size_t i;

    if (!s_all_digits(s, n) || n < 2)
        return 0;
    for (i = 0; i + 1 < n; i++)
        sum += (s[n - 2 - i] - '0') * (int)((i % 6) + 2);
    check = (11 - sum % 11) % 11;
    return strtoll(s, NULL, 10) > 0 && check == s[n - 1] - '0';
}

/*  Icelandic kennitala: ten digits, weights 3 2 7 6 5 4 3 2 on the first
 *  eight, check digit ninth.  */
static int
s_check_mod11_is(const char *s, size_t n)
{
    static const int w[] = {3, 2, 7, 6, 5, 4, 3, 2};
    int sum = 0, check, i;

    if (n != 10 || !s_all_digits(s, n))
        return 0;
    for (i = 0; i < 8; i++)
        sum += (s[i] - '0') * w[i];
    check = (11 - sum % 11) % 11;
    return check != 10 && check == s[8] - '0';
}

/*  Belgian enterprise number: ten digits, 97 - (first eight mod 97) = last two.  */
static int
s_check_mod97_be(const char *s, size_t n)
{
    long long first;
    int last;

    if (n != 10 || !s_all_digits(s, n))
        return 0;
    first = strtoll((char[9]){s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], 0}, NULL, 10);
    last = (s[8] - '0') * 10 + (s[9] - '0');
    return 97 - (int)(first % 97) == last;
}

/*  Luhn over all digits (Swedish organisation numbers).  */
static int
s_check_luhn(const char *s, size_t n)
{
    int sum = 0;
    size_t i;

    if (!s_all_digits(s, n))
        return 0;
    for (i = 0; i < n; i++) {
        int d = s[n - 1 - i] - '0';
        if (i % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

/*  Australian Business Number: subtract 1 from the first digit, weights
 *  10 1 3 5 7 9 11 13 15 17 19, sum divisible by 89.  */
static int
s_check_abn(const char *s, size_t n)
{
    static const int w[] = {10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19};
    int sum = 0, i;

    if (n != 11 || !s_all_digits(s, n))
        return 0;
    for (i = 0; i < 11; i++)
        sum += ((s[i] - '0') - (i == 0 ? 1 : 0)) * w[i];
    return sum % 89 == 0;
}

/*  Italian partita IVA: eleven digits, Luhn-like check on the last.  */
static int
s_check_it_vat(const char *s, size_t n)
{
    return n == 11 && s_check_luhn(s, n);
}

/*  Italian codice fiscale: 16 characters (6 letters, 2 digits, letter, 2
 *  digits, letter, 3 digits, letter, with the usual omocodia letters for
 *  digits) and its check letter; or an 11-digit number as for a company.  */
static int
s_check_it_cf(const char *s, size_t n)
{
    static const int odd[] = {1,  0,  5, 7, 9, 13, 15, 17, 19, 21, 2,  4,  18,
                              20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23};
    int sum = 0;
    size_t i;

    if (n == 11)
        return s_check_it_vat(s, n);
    if (n != 16)
        return 0;
    for (i = 0; i < 15; i++) {
        char c = s[i];
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else
            return 0;
        sum += (i % 2 == 0) ? odd[v] : v;
    }
    return s[15] == 'A' + sum % 26;
}

static const struct {
    const char *name;
    int (*fn)(const char *v, size_t n);
} s_checks[] = {
    {"gln", s_check_gln},           {"mod11-no", s_check_mod11_no}, {"mod11-is", s_check_mod11_is},
    {"mod97-be", s_check_mod97_be}, {"luhn", s_check_luhn},         {"abn", s_check_abn},
    {"it-vat", s_check_it_vat},     {"it-cf", s_check_it_cf},
};

int
edix_rules_fn_check_id(const char *algo)
{
    size_t i;

    for (i = 0; i < sizeof s_checks / sizeof s_checks[0]; i++)
        if (strcmp(s_checks[i].name, algo) == 0)
            return (int)i;
    return -1;
}

int
edix_rules_fn_check_run(int id, const char *v)
{
    return s_checks[id].fn(v, strlen(v));
}

static void
s_fn_check(xmlXPathParserContextPtr ctxt, int nargs)
{
    char *v;
    xmlChar *algo;
    int ok = 0, id;
    S_ARGS(2, 2);

    v = s_arg_norm(args[0]);
    algo = xmlXPathCastToString(args[1]);
    if (v && algo) {
        id = edix_rules_fn_check_id((const char *)algo);
        if (id < 0) {
            edix_rules_fn_t *self = ctxt->context->userData;
            snprintf(self->last_error, sizeof self->last_error, "edix:check: no algorithm '%s'",
                     (const char *)algo);
            self->own_message = 1;
            free(v);
            xmlFree(algo);
            s_free_args(args, nargs);
            xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
            return;
        }
        ok = edix_rules_fn_check_run(id, v);
    }
    valuePush(ctxt, xmlXPathNewBoolean(ok));
    free(v);
    xmlFree(algo);
    s_free_args(args, nargs);
}

/*  ---- nodes ------------------------------------------------------------ */

static void
s_fn_current(xmlXPathParserContextPtr ctxt, int nargs)
{
    edix_rules_fn_t *self = ctxt->context->userData;

    if (nargs != 0) {
        xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
        return;
    }
    valuePush(ctxt, xmlXPathNewNodeSet(self->current));
}

static int
s_cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
s_fn_distinct(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlXPathObjectPtr o;
    char **vals = NULL;
    int n, i, ok = 1;
    S_ARGS(1, 1);

    o = args[0];
    n = (o->type == XPATH_NODESET && o->nodesetval) ? o->nodesetval->nodeNr : 0;
    if (n > 1) {
        vals = calloc((size_t)n, sizeof *vals);
        for (i = 0; vals && i < n; i++) {
            xmlXPathObjectPtr one = xmlXPathNewNodeSet(o->nodesetval->nodeTab[i]);
            vals[i] = one ? s_arg_norm(one) : NULL;
            xmlXPathFreeObject(one);
            if (vals[i] == NULL)
                ok = -1;
        }
        if (vals == NULL)
            ok = -1;
        if (ok == 1) {
            qsort(vals, (size_t)n, sizeof *vals, s_cmp_cstr);
            for (i = 1; i < n && ok; i++)
                ok = strcmp(vals[i - 1], vals[i]) != 0;
        }
        for (i = 0; vals && i < n; i++)
            free(vals[i]);
        free(vals);
    }
    s_free_args(args, nargs);
    if (ok < 0) {
        xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
        return;
    }
    valuePush(ctxt, xmlXPathNewBoolean(ok));
}

/*  The index of self's current document, built if need be; NULL when out
 *  of memory.  */
static void s_names_fill(edix_rules_fn_t *self, xmlDocPtr doc);

static s_index_t *
s_index_make(edix_rules_fn_t *self, xmlDocPtr doc)
{
    if (doc == NULL || s_index_build(&self->index, doc) < 0)
        return NULL;
    s_names_fill(self, doc);
    return &self->index;
}

/*  The index of doc, built on first use.  */
static inline s_index_t *
s_index_of(edix_rules_fn_t *self, xmlDocPtr doc)
{
    if (self->index.doc == doc && doc != NULL)
        return &self->index;
    return s_index_make(self, doc);
}

static const s_bucket_t *s_bucket_of(edix_rules_fn_t *self, xmlDocPtr doc, int id,
                                     const char *href);

int
edix_rules_fn_has_element(edix_rules_fn_t *self, xmlDocPtr doc, const char *href, const char *local,
                          int name_id)
{
    s_index_t *ix;
    const xmlChar *ptr;

    if (name_id >= 0) {
        const s_bucket_t *b;
        if (doc->dict && edix_rules_fn_doc_name(self, doc, name_id, &ptr) < 0)
            return 0; /* not even the name is in the document */
        b = s_bucket_of(self, doc, name_id, href);
        return b == NULL || b->name != NULL;
    }
    ix = s_index_of(self, doc);

    /* without an index, assume it is there: the rule runs */
    return ix == NULL || s_index_slot(ix, BAD_CAST local, BAD_CAST href)->name != NULL;
}

int
edix_rules_fn_chain(edix_rules_fn_t *self, xmlDocPtr doc, const char *href, int name_id, int *count,
                    xmlNodePtr *node)
{
    const s_bucket_t *b = s_bucket_of(self, doc, name_id, href);
    s_index_t *ix = &self->index;

    if (b == NULL)
        return -2;
    *count = b->name ? b->count : 0;
    if (b->name)
        *node = ix->nodes[b->first];
    return b->name ? b->first : -1;
}

int
edix_rules_fn_desc(edix_rules_fn_t *self, xmlDocPtr doc, const char *href, const char *local,
                   int at, xmlNodePtr *node)
{
    s_index_t *ix = s_index_of(self, doc);
    const s_bucket_t *b;

    if (ix == NULL)
        return -2;
    if (at < 0) {
        b = s_index_slot(ix, BAD_CAST local, BAD_CAST href);
        at = b->name ? b->first : -1;
    } else
        at = ix->next[at];
    if (at >= 0)
        *node = ix->nodes[at];
    return at;
}

/*  edix:desc('p:name ...'): every element of the document with one of the
 *  names, in document order; '*' is every element.  */
static void
s_fn_desc(xmlXPathParserContextPtr ctxt, int nargs)
{
    edix_rules_fn_t *self = ctxt->context->userData;
    s_index_t *ix;
    xmlNodeSetPtr set = NULL;
    xmlChar *names = NULL;
    int *pick = NULL;
    size_t count = 0, cap = 0, i, lists = 0;
    char *save = NULL, *tok;
    S_ARGS(1, 1);

    names = xmlXPathCastToString(args[0]);
    s_free_args(args, nargs);
    ix = s_index_of(self, ctxt->context->doc);
    if (names == NULL || ix == NULL)
        goto oom;
    set = xmlXPathNodeSetCreate(NULL);
    if (set == NULL)
        goto oom;
    for (tok = strtok_r((char *)names, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(tok, ':');
        const xmlChar *href = NULL;
        const s_bucket_t *b;
        int at;
        if (strcmp(tok, "*") == 0) {
            for (i = 0; i < ix->count; i++)
                if (xmlXPathNodeSetAddUnique(set, ix->nodes[i]) < 0)
                    goto oom;
            lists = 0;
            count = 0;
            break;
        }
        if (colon) {
            *colon = '\0';
            href = xmlXPathNsLookup(ctxt->context, BAD_CAST tok);
            if (href == NULL) {
                snprintf(self->last_error, sizeof self->last_error,
                         "edix:desc: undeclared prefix '%s'", tok);
                self->own_message = 1;
                xmlXPathFreeNodeSet(set);
                free(pick);
                xmlFree(names);
                xmlXPathErr(ctxt, XPATH_UNDEF_PREFIX_ERROR);
                return;
            }
        }
        b = s_index_slot(ix, BAD_CAST(colon ? colon + 1 : tok), href);
        if (b->name == NULL)
            continue;
        lists++;
        for (at = b->first; at >= 0; at = ix->next[at]) {
            if (s_grow_ints(&pick, &cap, count + 1) < 0)
                goto oom;
            pick[count++] = at;
        }
    }
    if (lists > 1)
        qsort(pick, count, sizeof *pick, s_int_cmp);
    for (i = 0; i < count; i++)
        if (xmlXPathNodeSetAddUnique(set, ix->nodes[pick[i]]) < 0)
            goto oom;
    free(pick);
    xmlFree(names);
    valuePush(ctxt, xmlXPathWrapNodeSet(set));
    return;
oom:
    if (set)
        xmlXPathFreeNodeSet(set);
    free(pick);
    xmlFree(names);
    xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
}

/*  edix:empties(): the elements with no element child and only blank text.  */
static void
s_fn_empties(xmlXPathParserContextPtr ctxt, int nargs)
{
    edix_rules_fn_t *self = ctxt->context->userData;
    s_index_t *ix;
    xmlNodeSetPtr set;
    size_t i;

    if (nargs != 0) {
        xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
        return;
    }
    ix = s_index_of(self, ctxt->context->doc);
    set = ix ? xmlXPathNodeSetCreate(NULL) : NULL;
    for (i = 0; set && i < ix->empty_count; i++)
        if (xmlXPathNodeSetAddUnique(set, ix->nodes[ix->empty[i]]) < 0) {
            xmlXPathFreeNodeSet(set);
            set = NULL;
        }
    if (set == NULL) {
        xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
        return;
    }
    valuePush(ctxt, xmlXPathWrapNodeSet(set));
}

void
edix_rules_fn_end_document(edix_rules_fn_t *self)
{
    s_index_clear(&self->index);
    self->current = NULL;
    self->names_doc = NULL;
}

/*  The id of name, -1 when it is not one the fast path asks about.  */
static int
s_name_find(const edix_rules_fn_t *self, const char *name)
{
    size_t i;

    if (self->name_tab_size == 0)
        return -1;
    for (i = s_hash(BAD_CAST name) & (self->name_tab_size - 1); self->name_tab[i];
         i = (i + 1) & (self->name_tab_size - 1))
        if (strcmp(self->names[self->name_tab[i] - 1], name) == 0)
            return self->name_tab[i] - 1;
    return -1;
}

/*  (Re)builds the hash of names at size entries; -1 out of memory.  */
static int
s_name_rehash(edix_rules_fn_t *self, size_t size)
{
    int *tab = calloc(size, sizeof *tab);
    size_t i, k;

    if (tab == NULL)
        return -1;
    for (k = 0; k < self->name_count; k++) {
        for (i = s_hash(BAD_CAST self->names[k]) & (size - 1); tab[i]; i = (i + 1) & (size - 1))
            ;
        tab[i] = (int)k + 1;
    }
    free(self->name_tab);
    self->name_tab = tab;
    self->name_tab_size = size;
    return 0;
}

int
edix_rules_fn_name_id(edix_rules_fn_t *self, const char *local)
{
    int id = s_name_find(self, local);

    if (id >= 0)
        return id;
    if (self->name_count == self->name_cap) {
        size_t cap = self->name_cap ? self->name_cap * 2 : 64;
        char **g = realloc(self->names, cap * sizeof *g);
        s_docname_t *gp;
        if (g == NULL)
            return -1;
        self->names = g;
        gp = realloc(self->doc_names, cap * sizeof *gp);
        if (gp == NULL)
            return -1;
        self->doc_names = gp;
        self->name_cap = cap;
    }
    self->names[self->name_count] = strdup(local);
    if (self->names[self->name_count] == NULL)
        return -1;
    memset(&self->doc_names[self->name_count], 0, sizeof *self->doc_names);
    self->name_count++;
    if ((self->name_count * 2 > self->name_tab_size &&
         s_name_rehash(self, self->name_tab_size ? self->name_tab_size * 2 : 256) < 0) ||
        (self->name_count * 2 <= self->name_tab_size &&
         s_name_rehash(self, self->name_tab_size) < 0)) {
        free(self->names[--self->name_count]);
        return -1;
    }
    return (int)self->name_count - 1;
}

/*  What the document just indexed says of each name the fast path asks
 *  about: the elements' (dictionary) name pointer and index bucket.  */
static void
s_names_fill(edix_rules_fn_t *self, xmlDocPtr doc)
{
    const s_index_t *ix = &self->index;
    size_t i;

    if (++self->names_gen == 0) { /* wrapped: really empty the entries */
        memset(self->doc_names, 0, self->name_count * sizeof *self->doc_names);
        self->names_gen = 1;
    }
    self->names_doc = doc;
    for (i = 0; i < ix->used; i++) {
        const s_bucket_t *b = &ix->slots[ix->touched[i]];
        int id = s_name_find(self, (const char *)b->name);
        if (id >= 0 && self->doc_names[id].gen != self->names_gen) {
            self->doc_names[id].ptr = b->name;
            self->doc_names[id].known = 1;
            self->doc_names[id].slot = ix->touched[i] + 1;
            self->doc_names[id].href = (const char *)b->href;
            self->doc_names[id].gen = self->names_gen;
        }
    }
}

/*  The entry of name id for doc (indexing it first); NULL without an
 *  index.  */
static s_docname_t *
s_docname(edix_rules_fn_t *self, xmlDocPtr doc, int id)
{
    s_docname_t *d;

    if (s_index_of(self, doc) == NULL)
        return NULL;
    d = &self->doc_names[id];
    if (d->gen != self->names_gen) { /* not in the document: an empty entry */
        memset(d, 0, sizeof *d);
        d->gen = self->names_gen;
    }
    return d;
}

/*  The index bucket of name id in href, through the per-document cache;
 *  NULL without an index.  */
static const s_bucket_t *
s_bucket_of(edix_rules_fn_t *self, xmlDocPtr doc, int id, const char *href)
{
    static const s_bucket_t none = {NULL, NULL, -1, -1, 0};
    s_index_t *ix = s_index_of(self, doc);
    s_docname_t *d;
    const s_bucket_t *b;

    if (ix == NULL)
        return NULL;
    d = s_docname(self, doc, id);
    if (d->known == 0)
        return &none; /* no element of the document has the name */
    if (d->slot != 0 && (d->href == href || (d->href && href && strcmp(d->href, href) == 0))) {
        d->href = href; /* the same pointer next time, most likely */
        return d->slot > 0 ? &ix->slots[d->slot - 1] : &none;
    }
    b = s_index_slot(ix, BAD_CAST self->names[id], BAD_CAST href);
    if (d->slot == 0) {
        d->slot = b->name ? (int)(b - ix->slots) + 1 : -1;
        d->href = href;
    }
    return b->name ? b : &none;
}

int
edix_rules_fn_doc_name(edix_rules_fn_t *self, xmlDocPtr doc, int id, const xmlChar **ptr)
{
    s_docname_t *d = doc && doc->dict ? s_docname(self, doc, id) : NULL;

    if (d == NULL) {
        *ptr = BAD_CAST self->names[id];
        return 0;
    }
    /* no element has the name when the index has no bucket for it */
    *ptr = d->ptr;
    return d->known == 1 ? 1 : -1;
}

/*  edix:codes(ns): the distinct normalized values of the nodes as one
 *  string " A B C " (blank first and last), so a rule asks
 *  contains($codes, ' S ') instead of filtering node-sets again.  */
static void
s_fn_codes(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlXPathObjectPtr o;
    char *out = NULL;
    size_t len = 1, cap = 64;
    int i, n;
    S_ARGS(1, 1);

    o = args[0];
    out = malloc(cap);
    if (out == NULL)
        goto oom;
    out[0] = ' ';
    out[1] = '\0';
    n = (o->type == XPATH_NODESET && o->nodesetval) ? o->nodesetval->nodeNr : 0;
    for (i = 0; i < n; i++) {
        xmlXPathObjectPtr one = xmlXPathNewNodeSet(o->nodesetval->nodeTab[i]);
        char *v = one ? s_arg_norm(one) : NULL, key[80];
        size_t vl;
        xmlXPathFreeObject(one);
        if (v == NULL)
            goto oom;
        vl = strlen(v);
        if (vl == 0 || vl > 64 || strchr(v, ' ')) {
            free(v);
            continue;
        }
        snprintf(key, sizeof key, " %s ", v);
        if (strstr(out, key) == NULL) {
            if (len + vl + 2 > cap) {
                char *g;
                cap = (len + vl + 2) * 2;
                g = realloc(out, cap);
                if (g == NULL) {
                    free(v);
                    goto oom;
                }
                out = g;
            }
            memcpy(out + len, v, vl);
            len += vl;
            out[len++] = ' ';
            out[len] = '\0';
        }
        free(v);
    }
    s_free_args(args, nargs);
    valuePush(ctxt, xmlXPathNewCString(out));
    free(out);
    return;
oom:
    free(out);
    s_free_args(args, nargs);
    xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
}

/*  The value a filter function looks at: the node's text, or with attr
 *  the value of that attribute (NULL when the node has none).  */
static const char *
s_filter_value(xmlNodePtr n, const char *attr, xmlChar **tofree)
{
    const char *t;

    *tofree = NULL;
    if (attr) {
        xmlAttrPtr a;
        if (n->type != XML_ELEMENT_NODE)
            return NULL;
        for (a = n->properties; a; a = a->next)
            if (a->ns == NULL && strcmp((const char *)a->name, attr) == 0)
                break;
        if (a == NULL)
            return NULL;
        n = (xmlNodePtr)a;
    }
    t = s_node_text(n);
    if (t)
        return t;
    *tofree = xmlXPathCastNodeToString(n);
    return *tofree ? (const char *)*tofree : "";
}

enum {
    S_FILTER_NOT_IN = EDIX_FILTER_NOT_IN,
    S_FILTER_IS_IN = EDIX_FILTER_IS_IN,
    S_FILTER_DIFFER = EDIX_FILTER_DIFFER,
    S_FILTER_DECIMALS = EDIX_FILTER_DECIMALS
};

int
edix_rules_fn_filter_keep(int kind, xmlNodePtr node, const char *attr, const void *list,
                          const char *want, int limit)
{
    xmlChar *tofree;
    const char *v = s_filter_value(node, attr, &tofree);
    char norm[256];
    int bad;

    if (v == NULL)
        bad = kind != S_FILTER_IS_IN; /* the attribute is missing */
    else if (kind == S_FILTER_DECIMALS) {
        const char *dot = strchr(v, '.');
        size_t frac = 0;
        if (dot)
            for (dot++; *dot >= '0' && *dot <= '9'; dot++)
                frac++;
        bad = (int)frac > limit;
    } else if (s_norm_into(v, norm, sizeof norm) < 0)
        bad = 1;
    else if (kind == S_FILTER_NOT_IN)
        bad = !s_list_has(list, norm);
    else if (kind == S_FILTER_IS_IN)
        bad = s_list_has(list, norm);
    else
        bad = strcmp(norm, want) != 0;
    if (tofree)
        xmlFree(tofree);
    return bad;
}

int
edix_rules_fn_norm_into(const char *value, char *out, size_t size)
{
    return s_norm_into(value, out, size);
}

/*  The nodes of args[0] that fail a test, in document order: one pass in C
 *  instead of an XPath predicate per node (which costs far more).  */
static void
s_filter(xmlXPathParserContextPtr ctxt, int nargs, int kind)
{
    edix_rules_fn_t *self = ctxt->context->userData;
    xmlXPathObjectPtr o;
    xmlNodeSetPtr out = NULL;
    const s_list_t *list = NULL;
    const char *attr = NULL, *want = "";
    char wantbuf[256], buf[64];
    int i, n, limit = 0;
    S_ARGS(2, 3);

    o = args[0];
    if (o->type != XPATH_NODESET) {
        s_free_args(args, nargs);
        xmlXPathErr(ctxt, XPATH_INVALID_TYPE);
        return;
    }
    if (nargs == 3 && args[2]->type == XPATH_STRING)
        attr = (const char *)args[2]->stringval;
    if (kind == S_FILTER_NOT_IN || kind == S_FILTER_IS_IN) {
        const char *name = args[1]->type == XPATH_STRING && args[1]->stringval
                               ? (const char *)args[1]->stringval
                               : "";
        list = s_list_find(self, name);
        if (list == NULL) {
            snprintf(self->last_error, sizeof self->last_error, "edix:not-in: no code list '%s'",
                     name);
            self->own_message = 1;
            s_free_args(args, nargs);
            xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
            return;
        }
    } else if (kind == S_FILTER_DIFFER) {
        xmlChar *tofree;
        const char *t = s_arg_text(args[1], buf, sizeof buf, &tofree);
        if (t == NULL || s_norm_into(t, wantbuf, sizeof wantbuf) < 0)
            wantbuf[0] = '\0';
        if (tofree)
            xmlFree(tofree);
        want = wantbuf;
    } else
        limit = (int)xmlXPathCastToNumber(args[1]);
    out = xmlXPathNodeSetCreate(NULL);
    if (out == NULL)
        goto oom;
    n = o->nodesetval ? o->nodesetval->nodeNr : 0;
    for (i = 0; i < n; i++) {
        xmlNodePtr node = o->nodesetval->nodeTab[i];
        int bad = edix_rules_fn_filter_keep(kind, node, attr, list, want, limit);
        if (bad && xmlXPathNodeSetAddUnique(out, node) < 0)
            goto oom;
    }
    s_free_args(args, nargs);
    valuePush(ctxt, xmlXPathWrapNodeSet(out));
    return;
oom:
    if (out)
        xmlXPathFreeNodeSet(out);
    s_free_args(args, nargs);
    xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
}

static void
s_fn_not_in(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_filter(ctxt, nargs, S_FILTER_NOT_IN);
}

static void
s_fn_is_in(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_filter(ctxt, nargs, S_FILTER_IS_IN);
}

static void
s_fn_differ(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_filter(ctxt, nargs, S_FILTER_DIFFER);
}

static void
s_fn_over_decimals(xmlXPathParserContextPtr ctxt, int nargs)
{
    s_filter(ctxt, nargs, S_FILTER_DECIMALS);
}

/*  ---- registration ---------------------------------------------------- */

static void
s_on_xpath_error(void *user, xmlErrorPtr e)
{
    edix_rules_fn_t *self = user;
    size_t n;

    if (self == NULL || e == NULL)
        return;
    self->errors++;
    if (self->own_message) {
        self->own_message = 0; /* the function's own, more precise message stays */
        return;
    }
    snprintf(self->last_error, sizeof self->last_error, "%s", e->message ? e->message : "?");
    n = strlen(self->last_error);
    while (n > 0 && (self->last_error[n - 1] == '\n' || self->last_error[n - 1] == ' '))
        self->last_error[--n] = '\0';
}

int
edix_rules_fn_attach(edix_rules_fn_t *self, xmlXPathContextPtr xp)
{
    static const struct {
        const char *name;
        xmlXPathFunction fn;
    } fns[] = {
        {"dec", s_fn_dec},         {"isdec", s_fn_isdec},     {"sum", s_fn_sum},
        {"add", s_fn_add},         {"sub", s_fn_sub},         {"mul", s_fn_mul},
        {"div", s_fn_div},         {"diff", s_fn_diff},       {"round", s_fn_round},
        {"abs", s_fn_abs},         {"eq", s_fn_eq},           {"ne", s_fn_ne},
        {"lt", s_fn_lt},           {"le", s_fn_le},           {"gt", s_fn_gt},
        {"ge", s_fn_ge},           {"fmt", s_fn_fmt},         {"in", s_fn_in},
        {"compare", s_fn_compare}, {"upper", s_fn_upper},     {"coalesce", s_fn_coalesce},
        {"if", s_fn_if},           {"matches", s_fn_matches}, {"date", s_fn_date},
        {"check", s_fn_check},     {"current", s_fn_current}, {"distinct", s_fn_distinct},
        {"desc", s_fn_desc},       {"empties", s_fn_empties}, {"codes", s_fn_codes},
        {"not-in", s_fn_not_in},   {"differ", s_fn_differ},   {"over-decimals", s_fn_over_decimals},
        {"is-in", s_fn_is_in},
    };
    size_t i;

    if (xmlXPathRegisterNs(xp, BAD_CAST "edix", BAD_CAST EDIX_RULES_FN_NS) != 0)
        return -1;
    for (i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (xmlXPathRegisterFuncNS(xp, BAD_CAST fns[i].name, BAD_CAST EDIX_RULES_FN_NS,
                                   fns[i].fn) != 0)
            return -1;
    xp->userData = self;
    xp->error = s_on_xpath_error;
    return 0;
}
