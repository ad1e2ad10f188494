/*  rules_fast.c - a native fast path for the simplest rule expressions
 *
 *  PURPOSE
 *      Most business rules are plain questions about a few child elements
 *      ("is cbc:ID there and not blank?", "at most 2 decimals?", "is this
 *      code in the list?").  libxml2's XPath engine answers them correctly
 *      but at a fixed cost of thousands of instructions each (parser
 *      context, node-set allocations, a scan of all children per step).
 *      This module recognises a small subset of XPath 1.0 when a rule file
 *      is loaded and evaluates it directly on the tree:
 *
 *          expr   := expr 'or' expr | expr 'and' expr | 'not(' expr ')'
 *                  | '(' expr ')' | 'true()' | 'false()' | 'boolean(' expr ')'
 *                  | path                       (non-empty)
 *                  | path ('=' | '!=') 'lit'
 *                  | 'normalize-space(' path ')' ('=' | '!=')
 *                        ('lit' | '$var...' | 'normalize-space(' path ')')
 *                  | 'string-length(' ['normalize-space('] path [')'] ')' cmp number
 *                  | 'string-length(substring-after(' path ', ' 'lit' '))' cmp number
 *                  | 'count(' path ')' cmp (number | 'count(' path ')')
 *                  | 'edix:in(' sarg (', ' 'list')+ ')'
 *                  | ('starts-with' | 'contains' | 'edix:matches') '(' sarg ', ' 'lit' ')'
 *                  | 'edix:check(' path ', ' 'algorithm' ')' | 'edix:date(' path ')'
 *                  | 'edix:eq' .. 'edix:ge' '(' num ', ' num ')' | 'edix:isdec(' num ')'
 *          sarg   := path | 'normalize-space(' path ')'
 *                  | 'substring(normalize-space(' path '), 1, ' n ')'   (edix:in)
 *          num    := path | 'lit' | number | edix:add/sub/mul/div/round/abs/
 *                    diff/sum/coalesce/if over num (the decimals of rules_fn.c)
 *          path   := start ('/' step)* | step ('/' step)* | '.'
 *          start  := '/' '*' | '/' qname | '$var' preds
 *                  | 'edix:desc(' 'names' ')' preds
 *                  | ('edix:not-in' | 'edix:is-in' | 'edix:differ'
 *                     | 'edix:over-decimals') '(' path ', ' arg [', ' 'attr'] ')' preds
 *          step   := qname preds | '*' | '@' name | '..'
 *                  | ('self' | 'parent' | 'ancestor') '::' qname
 *          preds  := ('[' expr ']')*
 *
 *      for contexts, lets and variables a union ('|') of paths, and for
 *      lets a string: normalize-space(path), edix:coalesce(path | 'lit',
 *      ...), edix:codes(path | ...).  Anything else (positional
 *      predicates, other axes and functions) is left to libxml2:
 *      edix_rules_fast_compile returns NULL and the caller uses the
 *      compiled XPath.
 *
 *      Element names are compared by pointer: the per-document index
 *      (rules_fn.c) gives the dictionary pointer every element of a name
 *      shares, and says at once when no element has the name at all.
 *      Children of the root element come from the index when few
 *      elements have the name.
 *
 *  GUARANTEES
 *      Same answers as XPath 1.0 for the subset: string values are the
 *      concatenated descendant text, '=' on a node-set is true when any
 *      node's value equals, normalize-space/substring-after/string-length
 *      take the first node in document order, string-length counts
 *      characters (UTF-8), edix: functions as rules_fn.c computes them.
 *      The engine's unit tests run every rule both ways on the corpus and
 *      compare every answer (see test_rules.c).
 *
 *  ON FAILURE
 *      Out of memory while collecting nodes makes an expression false /
 *      a node list short; the functions say so with -1 where they can.
 */
#define _GNU_SOURCE
#include "rules_int.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xpathInternals.h>

#define S_MAX_STEPS  12 /* steps per path */
#define S_MAX_PATHS  8  /* paths per union */
#define S_MAX_LISTS  4  /* code lists per edix:in */
#define S_STACK_HITS 64 /* node lists kept on the stack */

enum {
    S_STEP_CHILD,
    S_STEP_ATTR,
    S_STEP_PARENT,
    S_STEP_SELF,
    S_STEP_UP,
    S_STEP_ANCESTOR,
    S_STEP_ANY
};
/* S_STEP_SELF / UP / ANCESTOR: self::, parent::, ancestor:: with a name; S_STEP_ANY: '*' */

#define S_MAX_PREDS 4  /* predicates per step */
#define S_MAX_DESC  16 /* names in one edix:desc() */

typedef struct s_node s_node_t;

typedef struct {
    int kind;                    /* S_STEP_* */
    const char *href;            /* namespace of a child step (owned by the rule set), or NULL */
    char *local;                 /* local name */
    int name_id;                 /* its edix_rules_fn_name_id */
    s_node_t *pred[S_MAX_PREDS]; /* boolean filters, in order */
    int npred;
} s_step_t;

typedef struct s_path {
    char *var;              /* starts at variable $var ("" for edix:desc) */
    int var_slot;           /* its slot */
    int desc_count;         /* starts at edix:desc('p:x ...'): these names */
    const char **desc_href; /* desc_count each */
    char **desc_local;
    int *desc_id;                    /* edix_rules_fn_name_id of each */
    s_node_t *var_pred[S_MAX_PREDS]; /* filters on the variable's nodes */
    int var_npred;
    int from_root;         /* starts at the root element ('/' '*' or '/' qname) */
    const char *root_href; /* '/qname': the root must be this */
    char *root_local;      /* NULL for '/' '*' */
    int root_name_id;
    int self;       /* '.' */
    s_step_t *step; /* count of them */
    int count;
    int has_parent;       /* a '..', parent:: or ancestor:: step */
    int filter;           /* starts at a filter function: EDIX_FILTER_* + 1 */
    struct s_path *fsrc;  /* its node-set argument */
    const void *flist;    /* not-in / is-in: the code list */
    char *fattr;          /* the attribute looked at, or NULL */
    struct s_path *fwant; /* differ: the value compared with ... */
    char *fwant_lit;      /* ... or this literal */
    int flimit;           /* over-decimals: the most decimals */
} s_path_t;

enum {
    S_OR,
    S_AND,
    S_NOT,
    S_TRUE,
    S_FALSE,
    S_EXISTS,
    S_EQ_ANY,  /* path = 'lit' */
    S_NE_ANY,  /* path != 'lit' */
    S_NORM_EQ, /* normalize-space(path) = 'lit' */
    S_NORM_NE, /* normalize-space(path) != 'lit' */
    S_STRLEN_AFTER,
    S_COUNT,
    S_IN,
    S_NUMCMP, /* edix:eq(num, num) ... */
    S_ISDEC,  /* edix:isdec(num) */
    S_STRFN,  /* starts-with, contains, edix:matches, edix:check, edix:date */
    S_STRLEN  /* string-length([normalize-space(]path[)]) cmp number */
};

enum { SF_STARTS, SF_CONTAINS, SF_MATCHES, SF_CHECK, SF_DATE };

enum { S_CMP_EQ, S_CMP_NE, S_CMP_LT, S_CMP_LE, S_CMP_GT, S_CMP_GE };

struct s_node {
    int op;
    s_node_t *a, *b;      /* operands of or/and/not */
    s_path_t path;        /* the path the leaf asks about */
    char *lit;            /* literal of a comparison / substring-after */
    int cmp;              /* S_CMP_* */
    double num;           /* number compared with */
    struct s_path *path2; /* S_COUNT: count(path) cmp count(path2) */
    const void *list[S_MAX_LISTS];
    int list_count;
    struct s_num *x, *y; /* S_NUMCMP, S_ISDEC */
    int sfn;             /* S_STRFN: SF_* */
    int norm;            /* S_STRFN, S_STRLEN: on normalize-space(path) */
    struct s_path *rhs;  /* S_NORM_EQ/NE: compared with this path's value(s) ... */
    int rnorm;           /* ... normalized (normalize-space(path): its first node) */
    int sub;             /* S_IN: of substring(normalize-space(path), 1, sub) */
    int check;           /* SF_CHECK: the algorithm */
    regex_t *re;         /* SF_MATCHES: compiled once */
};

enum { S_STR_NONE, S_STR_NORM, S_STR_COALESCE, S_STR_CODES };

struct edix_rules_fast {
    s_node_t *expr;  /* boolean form */
    int str;         /* string form: S_STR_*, over paths[] (and lits) */
    char **lits;     /* S_STR_COALESCE: a literal argument, or NULL; path_count */
    s_path_t *paths; /* node form: a union; path_count */
    int path_count;
    edix_rules_fn_t *fn; /* for code lists */
};

/*  ---- parsing ---------------------------------------------------------- */

typedef struct {
    const char *p;
    const edix_rules_fast_env_t *env;
    edix_rules_fn_t *fn;
    int bad; /* outside the subset */
} s_parse_t;

static void
s_skip(s_parse_t *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
        ps->p++;
}

static int
s_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int
s_name_char(char c)
{
    return s_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/*  Matches the exact text t (a keyword or symbol) and skips blanks after.  */
static int
s_eat(s_parse_t *ps, const char *t)
{
    size_t n = strlen(t);

    s_skip(ps);
    if (strncmp(ps->p, t, n) != 0)
        return 0;
    /* a word must end there */
    if (s_name_char(t[n - 1]) && s_name_char(ps->p[n]))
        return 0;
    ps->p += n;
    s_skip(ps);
    return 1;
}

/*  A function name immediately followed by '(' (both consumed); nothing
 *  is consumed when it is not there.  */
static int
s_keyword(s_parse_t *ps, const char *name)
{
    size_t n = strlen(name);
    const char *q;

    s_skip(ps);
    if (strncmp(ps->p, name, n) != 0)
        return 0;
    q = ps->p + n;
    while (*q == ' ')
        q++;
    if (*q != '(')
        return 0;
    ps->p = q + 1;
    s_skip(ps);
    return 1;
}

static char *
s_literal(s_parse_t *ps)
{
    char q;
    const char *end;
    char *out;

    s_skip(ps);
    q = *ps->p;
    if (q != '\'' && q != '"')
        return NULL;
    end = strchr(ps->p + 1, q);
    if (end == NULL)
        return NULL;
    out = strndup(ps->p + 1, (size_t)(end - ps->p - 1));
    ps->p = end + 1;
    s_skip(ps);
    return out;
}

static int
s_number(s_parse_t *ps, double *out)
{
    char *end;

    s_skip(ps);
    if (!((*ps->p >= '0' && *ps->p <= '9') || *ps->p == '-'))
        return 0;
    *out = strtod(ps->p, &end);
    if (end == ps->p)
        return 0;
    ps->p = end;
    s_skip(ps);
    return 1;
}

static int
s_cmp_op(s_parse_t *ps, int *cmp)
{
    s_skip(ps);
    if (strncmp(ps->p, "!=", 2) == 0)
        *cmp = S_CMP_NE, ps->p += 2;
    else if (strncmp(ps->p, "<=", 2) == 0)
        *cmp = S_CMP_LE, ps->p += 2;
    else if (strncmp(ps->p, ">=", 2) == 0)
        *cmp = S_CMP_GE, ps->p += 2;
    else if (*ps->p == '=')
        *cmp = S_CMP_EQ, ps->p++;
    else if (*ps->p == '<')
        *cmp = S_CMP_LT, ps->p++;
    else if (*ps->p == '>')
        *cmp = S_CMP_GT, ps->p++;
    else
        return 0;
    s_skip(ps);
    return 1;
}

/*  A qname (prefix:local or local) at ps->p; *href resolved through the
 *  rule set's namespaces.  0 when there is none or the prefix is unknown.  */
static int
s_qname(s_parse_t *ps, const char **href, char **local)
{
    const char *s = ps->p, *colon = NULL, *q = s;

    if (!s_name_start(*q))
        return 0;
    while (s_name_char(*q))
        q++;
    if (*q == ':' && q[1] != ':' && s_name_start(q[1])) {
        colon = q++;
        while (s_name_char(*q))
            q++;
    }
    /* a function call or axis is not a name step */
    {
        const char *r = q;
        while (*r == ' ')
            r++;
        if (*r == '(' || (r[0] == ':' && r[1] == ':'))
            return 0;
    }
    if (colon) {
        *href = ps->env->ns(ps->env->arg, s, (size_t)(colon - s));
        if (*href == NULL)
            return 0;
        *local = strndup(colon + 1, (size_t)(q - colon - 1));
    } else {
        /* an unprefixed name means no namespace in XPath 1.0 */
        *href = NULL;
        *local = strndup(s, (size_t)(q - s));
    }
    if (*local == NULL)
        return 0;
    ps->p = q;
    return 1;
}

static void s_node_free(s_node_t *n);

static void
s_path_free(s_path_t *p)
{
    int i, k;

    for (k = 0; k < p->var_npred; k++)
        s_node_free(p->var_pred[k]);
    for (k = 0; k < p->desc_count; k++)
        free(p->desc_local[k]);
    free(p->desc_local);
    free(p->desc_href);
    free(p->desc_id);
    for (i = 0; i < p->count; i++)
        for (k = 0; k < p->step[i].npred; k++)
            s_node_free(p->step[i].pred[k]);
    free(p->var);
    free(p->root_local);
    for (i = 0; i < p->count; i++)
        free(p->step[i].local);
    free(p->step);
    if (p->fsrc) {
        s_path_free(p->fsrc);
        free(p->fsrc);
    }
    if (p->fwant) {
        s_path_free(p->fwant);
        free(p->fwant);
    }
    free(p->fwant_lit);
    free(p->fattr);
    memset(p, 0, sizeof *p);
}

static s_node_t *s_or(s_parse_t *ps);

/*  Zero or more [expr] after a step.  */
static int
s_preds(s_parse_t *ps, s_node_t **pred, int *npred)
{
    while (*ps->p == '[') {
        s_node_t *e;
        ps->p++;
        if (*npred == S_MAX_PREDS)
            return 0;
        e = s_or(ps);
        if (e == NULL)
            return 0;
        pred[(*npred)++] = e;
        if (*ps->p != ']')
            return 0;
        ps->p++;
    }
    return 1;
}

/*  A filter function starting a path (consumed with its '('): its
 *  EDIX_FILTER_* kind, or -1.  */
static int
s_filter_keyword(s_parse_t *ps)
{
    static const struct {
        const char *name;
        int kind;
    } fns[] = {{"edix:not-in", EDIX_FILTER_NOT_IN},
               {"edix:is-in", EDIX_FILTER_IS_IN},
               {"edix:differ", EDIX_FILTER_DIFFER},
               {"edix:over-decimals", EDIX_FILTER_DECIMALS}};
    size_t i;

    for (i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (s_keyword(ps, fns[i].name))
            return fns[i].kind;
    return -1;
}

static int
s_path(s_parse_t *ps, s_path_t *out)
{
    int kind;

    memset(out, 0, sizeof *out);
    s_skip(ps);
    if (s_keyword(ps, "edix:desc")) {
        char *names = s_literal(ps), *save = NULL, *tok;
        if (names == NULL || !s_eat(ps, ")")) {
            free(names);
            return 0;
        }
        for (tok = strtok_r(names, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            char *colon = strchr(tok, ':');
            const char **gh = out->desc_count < S_MAX_DESC
                                  ? realloc(out->desc_href, (out->desc_count + 1) * sizeof *gh)
                                  : NULL;
            char **gl;
            int *gi;
            if (gh)
                out->desc_href = gh;
            gl = gh ? realloc(out->desc_local, (out->desc_count + 1) * sizeof *gl) : NULL;
            if (gl)
                out->desc_local = gl;
            gi = gl ? realloc(out->desc_id, (out->desc_count + 1) * sizeof *gi) : NULL;
            if (gi)
                out->desc_id = gi;
            if (gi == NULL || colon == NULL ||
                (out->desc_href[out->desc_count] =
                     ps->env->ns(ps->env->arg, tok, (size_t)(colon - tok))) == NULL ||
                (out->desc_local[out->desc_count] = strdup(colon + 1)) == NULL ||
                (out->desc_id[out->desc_count] =
                     edix_rules_fn_name_id(ps->fn, out->desc_local[out->desc_count])) < 0) {
                free(names);
                return 0;
            }
            out->desc_count++;
        }
        free(names);
        if (out->desc_count == 0)
            return 0;
        out->var = strdup(""); /* marks a start that is not the context */
        if (out->var == NULL || !s_preds(ps, out->var_pred, &out->var_npred))
            return 0;
        if (*ps->p != '/' || ps->p[1] == '/') {
            s_skip(ps);
            return 1;
        }
        ps->p++;
    } else if ((kind = s_filter_keyword(ps)) >= 0) {
        out->filter = kind + 1;
        out->fsrc = calloc(1, sizeof *out->fsrc);
        if (out->fsrc == NULL || !s_path(ps, out->fsrc) || !s_eat(ps, ","))
            return 0;
        if (kind == EDIX_FILTER_NOT_IN || kind == EDIX_FILTER_IS_IN) {
            char *name = s_literal(ps);
            out->flist = name ? edix_rules_fn_list(ps->fn, name) : NULL;
            free(name);
            if (out->flist == NULL)
                return 0;
        } else if (kind == EDIX_FILTER_DIFFER) {
            s_skip(ps);
            if (*ps->p == '\'' || *ps->p == '"') {
                if ((out->fwant_lit = s_literal(ps)) == NULL)
                    return 0;
            } else if ((out->fwant = calloc(1, sizeof *out->fwant)) == NULL ||
                       !s_path(ps, out->fwant))
                return 0;
        } else {
            double d;
            if (!s_number(ps, &d) || d < 0 || d > 1000)
                return 0;
            out->flimit = (int)d;
        }
        if (s_eat(ps, ",") && (out->fattr = s_literal(ps)) == NULL)
            return 0;
        if (!s_eat(ps, ")"))
            return 0;
        out->var = strdup(""); /* marks a start that is not the context */
        if (out->var == NULL || !s_preds(ps, out->var_pred, &out->var_npred))
            return 0;
        if (*ps->p != '/' || ps->p[1] == '/') {
            s_skip(ps);
            return 1;
        }
        ps->p++;
    } else if (*ps->p == '$') {
        const char *q = ++ps->p;
        if (!s_name_start(*q))
            return 0;
        while (s_name_char(*q))
            q++;
        out->var = strndup(ps->p, (size_t)(q - ps->p));
        if (out->var == NULL || (out->var_slot = ps->env->var(ps->env->arg, out->var)) < 0)
            return 0;
        ps->p = q;
        if (!s_preds(ps, out->var_pred, &out->var_npred))
            return 0;
        if (*ps->p != '/' || ps->p[1] == '/') {
            s_skip(ps);
            return 1;
        }
        ps->p++;
    } else if (*ps->p == '.' && ps->p[1] != '.') {
        ps->p++;
        out->self = 1;
        s_skip(ps);
        return 1;
    }
    if (out->var == NULL && *ps->p == '/') {
        ps->p++;
        out->from_root = 1;
        if (*ps->p == '*')
            ps->p++;
        else if (!s_qname(ps, &out->root_href, &out->root_local) ||
                 (out->root_name_id = edix_rules_fn_name_id(ps->fn, out->root_local)) < 0)
            return 0;
        if (*ps->p != '/') {
            s_skip(ps);
            return 1;
        }
        ps->p++;
    }
    for (;;) {
        s_step_t *st;
        if (out->count == S_MAX_STEPS ||
            (st = realloc(out->step, (size_t)(out->count + 1) * sizeof *st)) == NULL)
            return 0;
        out->step = st;
        st = &out->step[out->count++];
        memset(st, 0, sizeof *st);
        if (ps->p[0] == '.' && ps->p[1] == '.') {
            st->kind = S_STEP_PARENT;
            out->has_parent = 1;
            ps->p += 2;
        } else if (*ps->p == '*') {
            st->kind = S_STEP_ANY;
            ps->p++;
        } else if (strncmp(ps->p, "self::", 6) == 0 || strncmp(ps->p, "parent::", 8) == 0 ||
                   strncmp(ps->p, "ancestor::", 10) == 0) {
            st->kind = ps->p[0] == 's'   ? S_STEP_SELF
                       : ps->p[0] == 'p' ? S_STEP_UP
                                         : S_STEP_ANCESTOR;
            ps->p = strstr(ps->p, "::") + 2;
            out->has_parent |= st->kind != S_STEP_SELF;
            if (!s_qname(ps, &st->href, &st->local) ||
                (st->name_id = edix_rules_fn_name_id(ps->fn, st->local)) < 0)
                return 0;
        } else if (*ps->p == '@') {
            const char *q = ++ps->p;
            if (!s_name_start(*q))
                return 0;
            while (s_name_char(*q))
                q++;
            if (*q == ':') /* namespaced attribute: not in the subset */
                return 0;
            st->kind = S_STEP_ATTR;
            st->local = strndup(ps->p, (size_t)(q - ps->p));
            if (st->local == NULL)
                return 0;
            ps->p = q;
        } else {
            st->kind = S_STEP_CHILD;
            if (!s_qname(ps, &st->href, &st->local) ||
                (st->name_id = edix_rules_fn_name_id(ps->fn, st->local)) < 0)
                return 0;
        }
        if (!s_preds(ps, st->pred, &st->npred) || (st->npred && st->kind != S_STEP_CHILD))
            return 0;
        if (*ps->p != '/' || ps->p[1] == '/')
            break;
        if (st->kind == S_STEP_ATTR)
            return 0; /* nothing below an attribute */
        ps->p++;
    }
    s_skip(ps);
    return out->count > 0;
}

/*  Numeric expressions: the edix: decimal functions over paths and
 *  literals, computed exactly as rules_fn.c computes them.  */
enum { N_PATH, N_STR, N_ADD, N_SUB, N_MUL, N_DIV, N_ROUND, N_ABS, N_DIFF, N_SUM, N_COALESCE, N_IF };

#define S_MAX_ARGS 6

typedef struct s_num s_num_t;
struct s_num {
    int op;
    s_num_t *arg[S_MAX_ARGS];
    int argc;
    s_path_t *path; /* N_PATH: path[0]; N_SUM: a union; path_count */
    int path_count;
    char *str;      /* N_STR */
    int digits;     /* N_ROUND */
    s_node_t *cond; /* N_IF */
};

static void s_num_free(s_num_t *n);
static s_node_t *s_or(s_parse_t *ps);
static void s_node_free(s_node_t *n);

static s_num_t *
s_num_new(int op)
{
    s_num_t *n = calloc(1, sizeof *n);

    if (n)
        n->op = op;
    return n;
}

static s_num_t *s_num(s_parse_t *ps);

/*  Parses one more path into the array *paths of *count (grown by one,
 *  the new path counted even when parsing it fails, so freeing the array
 *  frees what it holds).  */
static int
s_path_push(s_parse_t *ps, s_path_t **paths, int *count)
{
    s_path_t *g;

    if (*count == S_MAX_PATHS || (g = realloc(*paths, (size_t)(*count + 1) * sizeof *g)) == NULL)
        return 0;
    *paths = g;
    memset(&g[*count], 0, sizeof *g);
    return s_path(ps, &g[(*count)++]);
}

/*  fn '(' num (',' num){min-1,max-1} ')' after the keyword.  */
static int
s_num_args(s_parse_t *ps, s_num_t *n, int min, int max)
{
    do {
        if (n->argc == max || n->argc == S_MAX_ARGS)
            return 0;
        n->arg[n->argc] = s_num(ps);
        if (n->arg[n->argc] == NULL)
            return 0;
        n->argc++;
    } while (s_eat(ps, ","));
    return n->argc >= min && s_eat(ps, ")");
}

static s_num_t *
s_num(s_parse_t *ps)
{
    static const struct {
        const char *name;
        int op, min, max;
    } fns[] = {
        {"edix:add", N_ADD, 1, S_MAX_ARGS},
        {"edix:sub", N_SUB, 2, 2},
        {"edix:mul", N_MUL, 2, 2},
        {"edix:div", N_DIV, 2, 2},
        {"edix:abs", N_ABS, 1, 1},
        {"edix:diff", N_DIFF, 2, 2},
        {"edix:coalesce", N_COALESCE, 1, S_MAX_ARGS},
    };
    s_num_t *n = NULL;
    size_t i;
    double d;

    s_skip(ps);
    for (i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (s_keyword(ps, fns[i].name)) {
            n = s_num_new(fns[i].op);
            if (n == NULL || !s_num_args(ps, n, fns[i].min, fns[i].max))
                goto bad;
            if (n->op == N_COALESCE) /* its arguments are values, not arithmetic */
                for (i = 0; i < (size_t)n->argc; i++)
                    if (n->arg[i]->op != N_PATH && n->arg[i]->op != N_STR)
                        goto bad;
            return n;
        }
    if (s_keyword(ps, "edix:round")) {
        n = s_num_new(N_ROUND);
        if (n == NULL || (n->arg[0] = s_num(ps)) == NULL)
            goto bad;
        n->argc = 1;
        if (s_eat(ps, ",")) {
            if (!s_number(ps, &d) || d < 0 || d > 30)
                goto bad;
            n->digits = (int)d;
        }
        if (!s_eat(ps, ")"))
            goto bad;
        return n;
    }
    if (s_keyword(ps, "edix:sum")) {
        n = s_num_new(N_SUM);
        if (n == NULL)
            goto bad;
        do {
            if (!s_path_push(ps, &n->path, &n->path_count))
                goto bad;
        } while (s_eat(ps, "|"));
        if (!s_eat(ps, ")"))
            goto bad;
        return n;
    }
    if (s_keyword(ps, "edix:if")) {
        n = s_num_new(N_IF);
        if (n == NULL || (n->cond = s_or(ps)) == NULL || !s_eat(ps, ","))
            goto bad;
        if (!s_num_args(ps, n, 2, 2))
            goto bad;
        return n;
    }
    if (*ps->p == '\'' || *ps->p == '"') {
        n = s_num_new(N_STR);
        if (n == NULL || (n->str = s_literal(ps)) == NULL)
            goto bad;
        return n;
    }
    if ((*ps->p >= '0' && *ps->p <= '9') || (*ps->p == '-' && ps->p[1] >= '0' && ps->p[1] <= '9')) {
        char buf[64];
        n = s_num_new(N_STR);
        if (n == NULL || !s_number(ps, &d))
            goto bad;
        snprintf(buf, sizeof buf, "%.15g", d);
        n->str = strdup(buf);
        if (n->str == NULL)
            goto bad;
        return n;
    }
    n = s_num_new(N_PATH);
    if (n == NULL || !s_path_push(ps, &n->path, &n->path_count))
        goto bad;
    return n;
bad:
    s_num_free(n);
    ps->bad = 1;
    return NULL;
}

static void
s_num_free(s_num_t *n)
{
    int i;

    if (n == NULL)
        return;
    for (i = 0; i < n->argc; i++)
        s_num_free(n->arg[i]);
    for (i = 0; i < n->path_count; i++)
        s_path_free(&n->path[i]);
    free(n->path);
    free(n->str);
    s_node_free(n->cond);
    free(n);
}

static s_node_t *
s_node_new(int op)
{
    s_node_t *n = calloc(1, sizeof *n);

    if (n)
        n->op = op;
    return n;
}

static s_node_t *s_or(s_parse_t *ps);

/*  A path leaf, possibly compared with a literal.  */
static s_node_t *
s_path_leaf(s_parse_t *ps)
{
    s_node_t *n = s_node_new(S_EXISTS);
    const char *save;
    int cmp;

    if (n == NULL || !s_path(ps, &n->path))
        goto bad;
    save = ps->p;
    if (s_cmp_op(ps, &cmp)) {
        if (cmp != S_CMP_EQ && cmp != S_CMP_NE)
            goto bad;
        n->lit = s_literal(ps);
        if (n->lit == NULL)
            goto bad;
        n->op = cmp == S_CMP_EQ ? S_EQ_ANY : S_NE_ANY;
    } else
        ps->p = save;
    return n;
bad:
    s_node_free(n);
    ps->bad = 1;
    return NULL;
}

static s_node_t *
s_primary(s_parse_t *ps)
{
    s_node_t *n = NULL;

    s_skip(ps);
    if (s_keyword(ps, "not")) {
        n = s_node_new(S_NOT);
        if (n == NULL)
            goto bad;
        n->a = s_or(ps);
        if (n->a == NULL || !s_eat(ps, ")"))
            goto bad;
        return n;
    }
    if (s_eat(ps, "true()"))
        return s_node_new(S_TRUE);
    if (s_eat(ps, "false()"))
        return s_node_new(S_FALSE);
    if (s_keyword(ps, "normalize-space")) {
        int cmp;
        n = s_node_new(S_NORM_EQ);
        if (n == NULL || !s_path(ps, &n->path) || !s_eat(ps, ")") || !s_cmp_op(ps, &cmp) ||
            (cmp != S_CMP_EQ && cmp != S_CMP_NE))
            goto bad;
        n->op = cmp == S_CMP_EQ ? S_NORM_EQ : S_NORM_NE;
        s_skip(ps);
        if (*ps->p == '$' || (n->rnorm = s_keyword(ps, "normalize-space"))) {
            n->rhs = calloc(1, sizeof *n->rhs);
            if (n->rhs == NULL || !s_path(ps, n->rhs) || (n->rnorm && !s_eat(ps, ")")) ||
                (!n->rnorm && n->rhs->var == NULL))
                goto bad;
            return n;
        }
        n->lit = s_literal(ps);
        if (n->lit == NULL)
            goto bad;
        return n;
    }
    if (s_keyword(ps, "string-length")) {
        n = s_node_new(S_STRLEN_AFTER);
        if (n == NULL)
            goto bad;
        if (!s_keyword(ps, "substring-after")) {
            n->op = S_STRLEN;
            n->norm = s_keyword(ps, "normalize-space");
            if (!s_path(ps, &n->path) || (n->norm && !s_eat(ps, ")")) || !s_eat(ps, ")") ||
                !s_cmp_op(ps, &n->cmp) || !s_number(ps, &n->num))
                goto bad;
            return n;
        }
        if (!s_path(ps, &n->path) || !s_eat(ps, ","))
            goto bad;
        n->lit = s_literal(ps);
        if (n->lit == NULL || !s_eat(ps, ")") || !s_eat(ps, ")") || !s_cmp_op(ps, &n->cmp) ||
            !s_number(ps, &n->num))
            goto bad;
        return n;
    }
    {
        static const struct {
            const char *name;
            int cmp;
        } cmps[] = {{"edix:eq", S_CMP_EQ}, {"edix:ne", S_CMP_NE}, {"edix:lt", S_CMP_LT},
                    {"edix:le", S_CMP_LE}, {"edix:gt", S_CMP_GT}, {"edix:ge", S_CMP_GE}};
        size_t i;
        for (i = 0; i < sizeof cmps / sizeof cmps[0]; i++)
            if (s_keyword(ps, cmps[i].name)) {
                n = s_node_new(S_NUMCMP);
                if (n == NULL)
                    goto bad;
                n->cmp = cmps[i].cmp;
                if ((n->x = s_num(ps)) == NULL || !s_eat(ps, ",") || (n->y = s_num(ps)) == NULL ||
                    !s_eat(ps, ")"))
                    goto bad;
                return n;
            }
        if (s_keyword(ps, "edix:isdec")) {
            n = s_node_new(S_ISDEC);
            if (n == NULL || (n->x = s_num(ps)) == NULL || !s_eat(ps, ")"))
                goto bad;
            return n;
        }
    }
    if (s_keyword(ps, "count")) {
        n = s_node_new(S_COUNT);
        if (n == NULL || !s_path(ps, &n->path) || !s_eat(ps, ")") || !s_cmp_op(ps, &n->cmp))
            goto bad;
        if (s_keyword(ps, "count")) {
            n->path2 = calloc(1, sizeof *n->path2);
            if (n->path2 == NULL || !s_path(ps, n->path2) || !s_eat(ps, ")"))
                goto bad;
        } else if (!s_number(ps, &n->num))
            goto bad;
        return n;
    }
    if (s_keyword(ps, "boolean")) {
        /* boolean(x) is x as a boolean */
        n = s_or(ps);
        if (n == NULL || !s_eat(ps, ")"))
            goto bad;
        return n;
    }
    if (s_keyword(ps, "edix:in")) {
        n = s_node_new(S_IN);
        if (n == NULL)
            goto bad;
        if (s_keyword(ps, "substring")) {
            double from, len;
            if (!s_keyword(ps, "normalize-space") || !s_path(ps, &n->path) || !s_eat(ps, ")") ||
                !s_eat(ps, ",") || !s_number(ps, &from) || from != 1 || !s_eat(ps, ",") ||
                !s_number(ps, &len) || len < 1 || len > 64 || len != (int)len || !s_eat(ps, ")"))
                goto bad;
            n->sub = (int)len;
        } else if (!s_path(ps, &n->path))
            goto bad;
        while (s_eat(ps, ",")) {
            char *name = s_literal(ps);
            if (name == NULL || n->list_count == S_MAX_LISTS) {
                free(name);
                goto bad;
            }
            n->list[n->list_count] = edix_rules_fn_list(ps->fn, name);
            free(name);
            if (n->list[n->list_count++] == NULL)
                goto bad;
        }
        if (n->list_count == 0 || !s_eat(ps, ")"))
            goto bad;
        return n;
    }
    {
        static const struct {
            const char *name;
            int sfn;
        } sfns[] = {{"starts-with", SF_STARTS},
                    {"contains", SF_CONTAINS},
                    {"edix:matches", SF_MATCHES},
                    {"edix:check", SF_CHECK}};
        size_t i;
        if (s_keyword(ps, "edix:date")) {
            n = s_node_new(S_STRFN);
            if (n == NULL || !s_path(ps, &n->path) || !s_eat(ps, ")"))
                goto bad;
            n->sfn = SF_DATE;
            return n;
        }
        for (i = 0; i < sizeof sfns / sizeof sfns[0]; i++)
            if (s_keyword(ps, sfns[i].name)) {
                n = s_node_new(S_STRFN);
                if (n == NULL)
                    goto bad;
                n->sfn = sfns[i].sfn;
                /* edix:check normalizes its argument itself */
                n->norm = n->sfn == SF_CHECK;
                if (n->sfn != SF_CHECK && s_keyword(ps, "normalize-space")) {
                    n->norm = 1;
                    if (!s_path(ps, &n->path) || !s_eat(ps, ")"))
                        goto bad;
                } else if (!s_path(ps, &n->path))
                    goto bad;
                if (!s_eat(ps, ",") || (n->lit = s_literal(ps)) == NULL || !s_eat(ps, ")"))
                    goto bad;
                if (n->sfn == SF_CHECK && (n->check = edix_rules_fn_check_id(n->lit)) < 0)
                    goto bad;
                if (n->sfn == SF_MATCHES) {
                    n->re = malloc(sizeof *n->re);
                    if (n->re == NULL)
                        goto bad;
                    if (regcomp(n->re, n->lit, REG_EXTENDED | REG_NOSUB) != 0) {
                        free(n->re);
                        n->re = NULL;
                        goto bad;
                    }
                }
                return n;
            }
    }
    if (s_name_start(*ps->p) && strncmp(ps->p, "edix:desc(", 10) != 0 &&
        strncmp(ps->p, "edix:not-in(", 12) != 0 && strncmp(ps->p, "edix:is-in(", 11) != 0 &&
        strncmp(ps->p, "edix:differ(", 12) != 0 && strncmp(ps->p, "edix:over-decimals(", 19) != 0) {
        /* any other function call is outside the subset */
        const char *q = ps->p;
        while (s_name_char(*q) || *q == ':')
            q++;
        while (*q == ' ')
            q++;
        if (*q == '(')
            goto bad;
    }
    if (*ps->p == '(') {
        ps->p++;
        n = s_or(ps);
        if (n == NULL || !s_eat(ps, ")"))
            goto bad;
        return n;
    }
    return s_path_leaf(ps);
bad:
    s_node_free(n);
    ps->bad = 1;
    return NULL;
}

static s_node_t *
s_and(s_parse_t *ps)
{
    s_node_t *left = s_primary(ps);

    while (left && s_eat(ps, "and")) {
        s_node_t *n = s_node_new(S_AND);
        if (n == NULL) {
            s_node_free(left);
            ps->bad = 1;
            return NULL;
        }
        n->a = left;
        n->b = s_primary(ps);
        if (n->b == NULL) {
            s_node_free(n);
            return NULL;
        }
        left = n;
    }
    return left;
}

static s_node_t *
s_or(s_parse_t *ps)
{
    s_node_t *left = s_and(ps);

    while (left && s_eat(ps, "or")) {
        s_node_t *n = s_node_new(S_OR);
        if (n == NULL) {
            s_node_free(left);
            ps->bad = 1;
            return NULL;
        }
        n->a = left;
        n->b = s_and(ps);
        if (n->b == NULL) {
            s_node_free(n);
            return NULL;
        }
        left = n;
    }
    return left;
}

static void
s_node_free(s_node_t *n)
{
    if (n == NULL)
        return;
    s_node_free(n->a);
    s_node_free(n->b);
    s_num_free(n->x);
    s_num_free(n->y);
    s_path_free(&n->path);
    if (n->path2) {
        s_path_free(n->path2);
        free(n->path2);
    }
    if (n->rhs) {
        s_path_free(n->rhs);
        free(n->rhs);
    }
    free(n->lit);
    if (n->re) {
        regfree(n->re);
        free(n->re);
    }
    free(n);
}

void
edix_rules_fast_free(edix_rules_fast_t *f)
{
    int i;

    if (f == NULL)
        return;
    s_node_free(f->expr);
    for (i = 0; i < f->path_count; i++) {
        s_path_free(&f->paths[i]);
        if (f->lits)
            free(f->lits[i]);
    }
    free(f->paths);
    free(f->lits);
    free(f);
}

edix_rules_fast_t *
edix_rules_fast_compile(const char *src, int nodes, const edix_rules_fast_env_t *env,
                        edix_rules_fn_t *fn)
{
    s_parse_t ps = {src, env, fn, 0};
    edix_rules_fast_t *f = calloc(1, sizeof *f);

    if (f == NULL)
        return NULL;
    f->fn = fn;
    if (nodes == 3) {
        if (s_keyword(&ps, "normalize-space")) {
            f->str = S_STR_NORM;
            if (!s_path_push(&ps, &f->paths, &f->path_count))
                goto bad;
        } else if (s_keyword(&ps, "edix:coalesce")) {
            f->str = S_STR_COALESCE;
            f->lits = calloc(S_MAX_PATHS, sizeof *f->lits);
            if (f->lits == NULL)
                goto bad;
            do {
                s_skip(&ps);
                if (*ps.p == '\'' || *ps.p == '"') {
                    /* a literal: an empty path in its place */
                    s_path_t *g;
                    if (f->path_count == S_MAX_PATHS ||
                        (g = realloc(f->paths, (size_t)(f->path_count + 1) * sizeof *g)) == NULL)
                        goto bad;
                    f->paths = g;
                    memset(&g[f->path_count], 0, sizeof *g);
                    if ((f->lits[f->path_count++] = s_literal(&ps)) == NULL)
                        goto bad;
                } else if (!s_path_push(&ps, &f->paths, &f->path_count))
                    goto bad;
            } while (s_eat(&ps, ","));
        } else if (s_keyword(&ps, "edix:codes")) {
            f->str = S_STR_CODES;
            do {
                if (!s_path_push(&ps, &f->paths, &f->path_count))
                    goto bad;
            } while (s_eat(&ps, "|"));
        } else
            goto bad;
        if (!s_eat(&ps, ")"))
            goto bad;
    } else if (nodes) {
        do {
            if (!s_path_push(&ps, &f->paths, &f->path_count))
                goto bad;
            /* at the document node only absolute paths mean what XPath says */
            if (nodes == 1 && !f->paths[f->path_count - 1].from_root &&
                !f->paths[f->path_count - 1].var)
                goto bad;
        } while (s_eat(&ps, "|"));
    } else {
        f->expr = s_or(&ps);
        if (f->expr == NULL)
            goto bad;
    }
    s_skip(&ps);
    if (ps.bad || *ps.p != '\0')
        goto bad;
    return f;
bad:
    edix_rules_fast_free(f);
    return NULL;
}

/*  ---- evaluation ------------------------------------------------------- */

typedef struct {
    xmlNodePtr *v;
    size_t n, cap;
    xmlNodePtr stack[S_STACK_HITS];
    int oom;
} s_hits_t;

static void
s_hits_init(s_hits_t *h)
{
    h->v = h->stack;
    h->n = 0;
    h->cap = S_STACK_HITS;
    h->oom = 0;
}

static void
s_hits_done(s_hits_t *h)
{
    if (h->v != h->stack)
        free(h->v);
}

static void
s_hits_grow(s_hits_t *h)
{
    {
        size_t cap = h->cap * 2;
        xmlNodePtr *g = h->v == h->stack ? malloc(cap * sizeof *g) : realloc(h->v, cap * sizeof *g);
        if (g == NULL) {
            h->oom = 1;
            return;
        }
        if (h->v == h->stack)
            memcpy(g, h->stack, h->n * sizeof *g);
        h->v = g;
        h->cap = cap;
    }
}

static inline void
s_hits_add(s_hits_t *h, xmlNodePtr n)
{
    if (h->n == h->cap) {
        s_hits_grow(h);
        if (h->n == h->cap)
            return; /* out of memory: oom is set */
    }
    h->v[h->n++] = n;
}

static int
s_same_ns(const xmlNs *ns, const char *href)
{
    if (href == NULL)
        return ns == NULL;
    if (ns == NULL || ns->href == NULL)
        return 0;
    return (const char *)ns->href == href || strcmp((const char *)ns->href, href) == 0;
}

/*  An element name a step looks for, resolved for one document.  */
typedef struct {
    int mode;           /* 1 pointer compare, 0 strcmp, -1 the document has none */
    const xmlChar *ptr; /* the name (its dictionary pointer with mode 1) */
    const char *href;
    const xmlNs *ok_ns; /* a namespace node seen to be href */
} s_name_t;

static void
s_name_init(s_name_t *nm, edix_rules_fn_t *fn, xmlDocPtr doc, int id, const char *href)
{
    nm->mode = edix_rules_fn_doc_name(fn, doc, id, &nm->ptr);
    nm->href = href;
    nm->ok_ns = NULL;
}

static int
s_named_ns(s_name_t *nm, xmlNodePtr n)
{
    if (!s_same_ns(n->ns, nm->href))
        return 0;
    nm->ok_ns = n->ns;
    return 1;
}

static inline int
s_named(s_name_t *nm, xmlNodePtr n)
{
    if (nm->mode == 1) {
        if (n->name != nm->ptr || n->type != XML_ELEMENT_NODE)
            return 0;
    } else if (n->type != XML_ELEMENT_NODE ||
               strcmp((const char *)n->name, (const char *)nm->ptr) != 0)
        return 0;
    return (n->ns && n->ns == nm->ok_ns) || s_named_ns(nm, n);
}

typedef struct {
    xmlNodePtr node;       /* the context node */
    xmlXPathContextPtr xp; /* for $variables */
    edix_rules_fn_t *fn;   /* for edix:desc() */
} s_env_t;

/*  The nodes path selects from the context, in document order (each step
 *  keeps the order of the nodes it starts from, and child sets of distinct
 *  parents never interleave).  A variable that holds no node-set gives its
 *  value in *scalar (borrowed from the variable) and no nodes.  */
static int s_eval(const s_node_t *e, const s_env_t *env);

/*  Keeps the nodes of h from index `from` on that pass every predicate.  */
static void
s_filter(s_hits_t *h, size_t from, s_node_t *const *pred, int npred, const s_env_t *env)
{
    size_t i, keep = from;
    int k;

    if (npred == 0)
        return;
    for (i = from; i < h->n; i++) {
        s_env_t sub = {h->v[i], env->xp, env->fn};
        int ok = 1;
        for (k = 0; k < npred && ok; k++)
            ok = s_eval(pred[k], &sub);
        if (ok)
            h->v[keep++] = h->v[i];
    }
    h->n = keep;
}

static int s_first_string(const s_path_t *p, const s_env_t *env, const char **v, xmlChar **tofree,
                          char **strfree);

/*  qsort order of nodes in document order (elements carry their position,
 *  xmlXPathOrderDocElems; anything else asks libxml2).  */
static int
s_order_cmp(const void *a, const void *b)
{
    xmlNodePtr x = *(xmlNodePtr const *)a, y = *(xmlNodePtr const *)b;
    int c;

    if (x == y)
        return 0;
    if (x->type == XML_ELEMENT_NODE && y->type == XML_ELEMENT_NODE && (ptrdiff_t)x->content < 0 &&
        (ptrdiff_t)y->content < 0 && x->doc == y->doc)
        return (ptrdiff_t)x->content > (ptrdiff_t)y->content ? -1 : 1;
    c = xmlXPathCmpNodes(x, y); /* 1: x first */
    return c == 1 ? -1 : c == -1 ? 1 : 0;
}

/*  The children of the root element named as step st asks, found through
 *  the document's element index when few elements have the name (the root
 *  has many children, most rules start there): 1 when done, 0 when the
 *  caller should scan the children.  */
static int
s_root_children(const s_step_t *st, const s_env_t *env, xmlNodePtr root, s_hits_t *next)
{
    int count, at;
    xmlNodePtr c = NULL;

    at = edix_rules_fn_chain(env->fn, root->doc, st->href, st->name_id, &count, &c);
    if (at == -2 || count > 8)
        return 0;
    while (at >= 0) {
        if (c->parent == root)
            s_hits_add(next, c);
        at = edix_rules_fn_desc(env->fn, root->doc, st->href, st->local, at, &c);
    }
    return 1;
}

static void
s_select(const s_path_t *p, const s_env_t *env, s_hits_t *out, xmlXPathObjectPtr *scalar)
{
    s_hits_t a, b, *cur = &a, *next = &b, *t;
    xmlNodePtr ctx = env->node;
    int i;
    size_t j;

    if (scalar)
        *scalar = NULL;
    s_hits_init(&a);
    s_hits_init(&b);
    if (p->self) {
        s_hits_add(out, ctx);
        return;
    }
    if (p->filter) {
        s_hits_t src;
        char wantbuf[256];
        const char *want = "";
        size_t x;
        s_hits_init(&src);
        s_select(p->fsrc, env, &src, NULL);
        if (p->filter - 1 == EDIX_FILTER_DIFFER) {
            const char *v = p->fwant_lit;
            xmlChar *tofree = NULL;
            char *strfree = NULL;
            if (v == NULL && s_first_string(p->fwant, env, &v, &tofree, &strfree) < 0)
                out->oom = 1;
            if (v == NULL || edix_rules_fn_norm_into(v, wantbuf, sizeof wantbuf) < 0)
                wantbuf[0] = '\0';
            want = wantbuf;
            xmlFree(tofree);
            free(strfree);
        }
        for (x = 0; x < src.n; x++)
            if (edix_rules_fn_filter_keep(p->filter - 1, src.v[x], p->fattr, p->flist, want,
                                          p->flimit))
                s_hits_add(cur, src.v[x]);
        out->oom |= src.oom;
        s_hits_done(&src);
        s_filter(cur, 0, p->var_pred, p->var_npred, env);
    } else if (p->desc_count) {
        int k, at, sorted = 1, last = -1, count;
        xmlNodePtr n = NULL;
        for (k = 0; k < p->desc_count; k++) {
            at = edix_rules_fn_chain(env->fn, ctx->doc, p->desc_href[k], p->desc_id[k], &count, &n);
            if (at == -2) {
                out->oom = 1;
                goto out;
            }
            for (; at >= 0; at = edix_rules_fn_desc(env->fn, ctx->doc, p->desc_href[k],
                                                    p->desc_local[k], at, &n)) {
                if (at < last)
                    sorted = 0;
                last = at;
                s_hits_add(cur, n);
            }
        }
        if (!sorted && cur->n > 1) /* names from several chains: back to document order */
            qsort(cur->v, cur->n, sizeof *cur->v, s_order_cmp);
        s_filter(cur, 0, p->var_pred, p->var_npred, env);
    } else if (p->var) {
        xmlXPathObjectPtr o = env->xp ? edix_rules_var_peek(env->xp, p->var_slot) : NULL;
        if (o == NULL) {
            out->oom = 1; /* unknown variable: an XPath error */
            goto out;
        }
        if (o->type == XPATH_NODESET || o->type == XPATH_XSLT_TREE) {
            int k;
            for (k = 0; o->nodesetval && k < o->nodesetval->nodeNr; k++)
                s_hits_add(cur, o->nodesetval->nodeTab[k]);
            s_filter(cur, 0, p->var_pred, p->var_npred, env);
        } else if (p->count == 0 && scalar)
            *scalar = o; /* a string, number or boolean: borrowed */
    } else if (p->from_root) {
        xmlNodePtr root = ctx && ctx->doc ? xmlDocGetRootElement(ctx->doc) : NULL;
        s_name_t nm;
        if (root && p->root_local)
            s_name_init(&nm, env->fn, root->doc, p->root_name_id, p->root_href);
        if (root == NULL || (p->root_local && (nm.mode < 0 || !s_named(&nm, root))))
            goto out;
        s_hits_add(cur, root);
    } else
        s_hits_add(cur, ctx);
    for (i = 0; i < p->count && cur->n > 0; i++) {
        const s_step_t *st = &p->step[i];
        s_name_t nm;
        next->n = 0;
        if (st->kind != S_STEP_ATTR && st->kind != S_STEP_PARENT && st->kind != S_STEP_ANY) {
            s_name_init(&nm, env->fn, cur->v[0]->doc, st->name_id, st->href);
            if (nm.mode < 0) {
                cur->n = 0; /* no element of the document has that name */
                break;
            }
        }
        for (j = 0; j < cur->n; j++) {
            xmlNodePtr n = cur->v[j], c;
            if (st->kind == S_STEP_CHILD) {
                size_t first = next->n;
                if (n->type != XML_ELEMENT_NODE && n->type != XML_DOCUMENT_NODE)
                    continue;
                if (n->parent && n->parent->type == XML_DOCUMENT_NODE &&
                    s_root_children(st, env, n, next))
                    ; /* the root's children, from the index */
                else
                    for (c = n->children; c; c = c->next)
                        if (s_named(&nm, c))
                            s_hits_add(next, c);
                /* a predicate sees the nodes of one parent (its context size) */
                s_filter(next, first, st->pred, st->npred, env);
            } else if (st->kind == S_STEP_ATTR) {
                xmlAttrPtr at;
                if (n->type != XML_ELEMENT_NODE)
                    continue;
                for (at = n->properties; at; at = at->next)
                    if (at->ns == NULL && strcmp((const char *)at->name, st->local) == 0) {
                        s_hits_add(next, (xmlNodePtr)at);
                        break;
                    }
            } else if (st->kind == S_STEP_ANY) {
                if (n->type != XML_ELEMENT_NODE && n->type != XML_DOCUMENT_NODE)
                    continue;
                for (c = n->children; c; c = c->next)
                    if (c->type == XML_ELEMENT_NODE)
                        s_hits_add(next, c);
            } else if (st->kind == S_STEP_SELF) {
                if (s_named(&nm, n))
                    s_hits_add(next, n);
            } else if (st->kind == S_STEP_ANCESTOR) {
                for (c = n->parent; c && c->type == XML_ELEMENT_NODE; c = c->parent)
                    if (s_named(&nm, c)) {
                        size_t k;
                        for (k = 0; k < next->n && next->v[k] != c; k++)
                            ;
                        if (k == next->n)
                            s_hits_add(next, c);
                    }
            } else if (n->parent && n->parent->type == XML_ELEMENT_NODE &&
                       (st->kind == S_STEP_PARENT || s_named(&nm, n->parent)) &&
                       (next->n == 0 || next->v[next->n - 1] != n->parent))
                s_hits_add(next, n->parent);
        }
        t = cur;
        cur = next;
        next = t;
    }
    for (j = 0; j < cur->n; j++)
        s_hits_add(out, cur->v[j]);
out:
    out->oom |= a.oom | b.oom;
    s_hits_done(&a);
    s_hits_done(&b);
}

/*  The string value of a node; into *tofree when it had to be built.  */
static const char *
s_string(xmlNodePtr n, xmlChar **tofree)
{
    xmlNodePtr c;

    *tofree = NULL;
    if (n->type == XML_ATTRIBUTE_NODE || n->type == XML_ELEMENT_NODE) {
        c = n->children;
        if (c == NULL)
            return "";
        if (c->next == NULL && (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE))
            return c->content ? (const char *)c->content : "";
    }
    *tofree = xmlXPathCastNodeToString(n);
    return *tofree ? (const char *)*tofree : "";
}

/*  normalize-space(a) == b, without building the normalized string.  */
static int
s_norm_equals(const char *a, const char *b)
{
    int pending = 0, started = 0;

    for (; *a; a++) {
        if (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r') {
            pending = started;
            continue;
        }
        if (pending) {
            if (*b++ != ' ')
                return 0;
            pending = 0;
        }
        started = 1;
        if (*b++ != *a)
            return 0;
    }
    return *b == '\0';
}

static int
s_compare(double x, int cmp, double y)
{
    switch (cmp) {
    case S_CMP_EQ:
        return x == y;
    case S_CMP_NE:
        return x != y;
    case S_CMP_LT:
        return x < y;
    case S_CMP_LE:
        return x <= y;
    case S_CMP_GT:
        return x > y;
    default:
        return x >= y;
    }
}

static size_t
s_utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static int s_eval(const s_node_t *e, const s_env_t *env);

/*  starts-with / contains / edix:matches / edix:check on the string v.  */
static int
s_strfn(const s_node_t *e, const char *v)
{
    char stack[256], *norm = NULL, *w;
    int r, space = 0;
    size_t len;

    if (e->norm) {
        len = strlen(v);
        norm = len < sizeof stack ? stack : malloc(len + 1);
        if (norm == NULL)
            return 0;
        for (w = norm; *v; v++) {
            if (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') {
                space = w != norm;
                continue;
            }
            if (space)
                *w++ = ' ';
            space = 0;
            *w++ = *v;
        }
        *w = '\0';
        v = norm;
    }
    switch (e->sfn) {
    case SF_STARTS:
        r = strncmp(v, e->lit, strlen(e->lit)) == 0;
        break;
    case SF_CONTAINS:
        r = strstr(v, e->lit) != NULL;
        break;
    case SF_MATCHES:
        r = regexec(e->re, v, 0, NULL, 0) == 0;
        break;
    case SF_DATE:
        r = edix_rules_fn_valid_date(v);
        break;
    default:
        r = edix_rules_fn_check_run(e->check, v);
        break;
    }
    if (norm != stack)
        free(norm);
    return r;
}

/*  The string a value-taking function sees for path: the first node's
 *  string value, a non-node-set variable's string, or "".  *tofree and
 *  *strfree are released by the caller.  -1 on an error.  */
static int
s_first_string(const s_path_t *p, const s_env_t *env, const char **v, xmlChar **tofree,
               char **strfree)
{
    s_hits_t h;
    xmlXPathObjectPtr scalar;
    int rc = 0;

    *tofree = NULL;
    *strfree = NULL;
    s_hits_init(&h);
    s_select(p, env, &h, &scalar);
    if (scalar && scalar->type == XPATH_STRING)
        *v = scalar->stringval ? (const char *)scalar->stringval : "";
    else if (scalar) {
        xmlChar *t = xmlXPathCastToString(scalar);
        *strfree = t ? strdup((const char *)t) : NULL;
        xmlFree(t);
        if (*strfree == NULL)
            rc = -1;
        *v = *strfree ? *strfree : "";
    } else
        *v = h.n ? s_string(h.v[0], tofree) : "";
    if (h.oom)
        rc = -1;
    s_hits_done(&h);
    return rc;
}

static int
s_text_dec(const char *t, edix_dec_t *d)
{
    return edix_dec_parse(t, d);
}

/*  The decimal value of a numeric expression; -1 when it is not a
 *  decimal (the XPath functions give "" then, and every comparison with
 *  it is false).  */
static int
s_num_value(const s_num_t *n, const s_env_t *env, edix_dec_t *out)
{
    edix_dec_t a, b;
    int i, c;

    switch (n->op) {
    case N_STR:
        return s_text_dec(n->str, out);
    case N_PATH: {
        const char *v;
        xmlChar *tofree;
        char *strfree;
        int rc = s_first_string(&n->path[0], env, &v, &tofree, &strfree);
        if (rc == 0)
            rc = s_text_dec(v, out);
        xmlFree(tofree);
        free(strfree);
        return rc;
    }
    case N_COALESCE:
        for (i = 0; i < n->argc; i++) {
            const s_num_t *g = n->arg[i];
            const char *v;
            xmlChar *tofree = NULL;
            char *strfree = NULL;
            int rc = 0, blank = 1;
            const char *q;
            if (g->op == N_STR)
                v = g->str;
            else
                rc = s_first_string(&g->path[0], env, &v, &tofree, &strfree);
            if (rc == 0) {
                for (q = v; *q && blank; q++)
                    blank = *q == ' ' || *q == '\t' || *q == '\n' || *q == '\r';
                if (!blank)
                    rc = s_text_dec(v, out) < 0 ? -1 : 1;
            }
            xmlFree(tofree);
            free(strfree);
            if (rc != 0)
                return rc < 0 ? -1 : 0;
        }
        return -1; /* all blank: "" */
    case N_SUM: {
        s_hits_t h;
        size_t j;
        int rc = 0;
        out->v = 0;
        out->scale = 0;
        s_hits_init(&h);
        for (i = 0; i < n->path_count; i++)
            s_select(&n->path[i], env, &h, NULL);
        if (h.oom)
            rc = -1;
        for (j = 0; j < h.n && rc == 0; j++) {
            xmlChar *tofree;
            const char *v = s_string(h.v[j], &tofree);
            if (s_text_dec(v, &a) < 0 || edix_dec_add(out, *out, a, 1) < 0)
                rc = -1;
            xmlFree(tofree);
        }
        s_hits_done(&h);
        return rc;
    }
    case N_IF:
        return s_num_value(n->arg[s_eval(n->cond, env) ? 0 : 1], env, out);
    case N_ADD:
        out->v = 0;
        out->scale = 0;
        for (i = 0; i < n->argc; i++)
            if (s_num_value(n->arg[i], env, &a) < 0 || edix_dec_add(out, *out, a, 1) < 0)
                return -1;
        return 0;
    case N_ABS:
        if (s_num_value(n->arg[0], env, out) < 0)
            return -1;
        if (out->v < 0)
            out->v = -out->v;
        return 0;
    case N_ROUND:
        if (s_num_value(n->arg[0], env, &a) < 0)
            return -1;
        return edix_dec_round(out, a, n->digits);
    default:
        break;
    }
    if (s_num_value(n->arg[0], env, &a) < 0 || s_num_value(n->arg[1], env, &b) < 0)
        return -1;
    switch (n->op) {
    case N_SUB:
        return edix_dec_add(out, a, b, -1);
    case N_MUL:
        return edix_dec_mul(out, a, b);
    case N_DIV:
        return edix_dec_div(out, a, b);
    default: /* N_DIFF */
        if (edix_dec_add(out, a, b, -1) < 0)
            return -1;
        c = out->v < 0;
        if (c)
            out->v = -out->v;
        return 0;
    }
}

/*  normalize-space(lhs) = / != the right-hand side: a normalized path (its
 *  first node) or a variable (a string, or any of its nodes).  */
/*  normalize-space(v), malloc'd; NULL out of memory.  */
static char *
s_norm_dup(const char *v)
{
    size_t size = strlen(v) + 2;
    char *out = malloc(size);

    if (out && edix_rules_fn_norm_into(v, out, size) < 0) {
        free(out);
        out = NULL;
    }
    return out;
}

/*  normalize-space(lhs) = / != the right-hand side: a normalized path (its
 *  first node) or a variable (a string, or any of its nodes).  */
static int
s_norm_cmp_rhs(const s_node_t *e, const char *lhs, const s_env_t *env)
{
    int eq = e->op == S_NORM_EQ, r = 0;
    size_t i;
    s_hits_t h;
    xmlXPathObjectPtr scalar;
    char *a = s_norm_dup(lhs);

    if (a == NULL)
        return 0;
    if (e->rnorm) {
        const char *v;
        xmlChar *tofree;
        char *strfree;
        if (s_first_string(e->rhs, env, &v, &tofree, &strfree) == 0)
            r = s_norm_equals(v, a) == eq;
        xmlFree(tofree);
        free(strfree);
        free(a);
        return r;
    }
    s_hits_init(&h);
    s_select(e->rhs, env, &h, &scalar);
    if (scalar) {
        xmlChar *t = xmlXPathCastToString(scalar);
        r = t && (strcmp(a, (const char *)t) == 0) == eq;
        xmlFree(t);
    }
    for (i = 0; i < h.n && !r; i++) {
        xmlChar *tofree;
        const char *v = s_string(h.v[i], &tofree);
        r = (strcmp(a, v) == 0) == eq;
        xmlFree(tofree);
    }
    if (h.oom)
        r = 0;
    s_hits_done(&h);
    free(a);
    return r;
}

static int
s_eval(const s_node_t *e, const s_env_t *env)
{
    s_hits_t h;
    int r = 0;
    size_t i;
    char *strval = NULL;
    const char *sval = NULL; /* the string of a scalar variable */
    xmlXPathObjectPtr scalar = NULL;

    switch (e->op) {
    case S_OR:
        return s_eval(e->a, env) || s_eval(e->b, env);
    case S_AND:
        return s_eval(e->a, env) && s_eval(e->b, env);
    case S_NOT:
        return !s_eval(e->a, env);
    case S_TRUE:
        return 1;
    case S_FALSE:
        return 0;
    case S_ISDEC: {
        edix_dec_t x;
        return s_num_value(e->x, env, &x) == 0;
    }
    case S_NUMCMP: {
        edix_dec_t x, y;
        int c;
        if (s_num_value(e->x, env, &x) < 0 || s_num_value(e->y, env, &y) < 0 ||
            edix_dec_cmp(x, y, &c) < 0)
            return 0;
        return s_compare((double)c, e->cmp, 0.0);
    }
    default:
        break;
    }
    s_hits_init(&h);
    s_select(&e->path, env, &h, &scalar);
    if (scalar && e->op != S_EXISTS) {
        if (scalar->type == XPATH_STRING)
            sval = scalar->stringval ? (const char *)scalar->stringval : "";
        else {
            xmlChar *t = xmlXPathCastToString(scalar);
            strval = strdup(t ? (const char *)t : "");
            xmlFree(t);
            if (strval == NULL)
                h.oom = 1;
            sval = strval;
        }
    }
    switch (e->op) {
    case S_EXISTS:
        r = scalar ? xmlXPathCastToBoolean(scalar) : h.n > 0;
        break;
    case S_COUNT:
        if (scalar)
            break; /* count() of a non-node-set is an XPath error: false */
        if (e->path2) {
            s_hits_t h2;
            s_hits_init(&h2);
            s_select(e->path2, env, &h2, NULL);
            r = !sval && !h2.oom && s_compare((double)h.n, e->cmp, (double)h2.n);
            s_hits_done(&h2);
        } else
            r = !sval && s_compare((double)h.n, e->cmp, e->num);
        break;
    case S_EQ_ANY:
    case S_NE_ANY:
        if (sval)
            r = (strcmp(sval, e->lit) == 0) == (e->op == S_EQ_ANY);
        for (i = 0; i < h.n && !r; i++) {
            xmlChar *tofree;
            const char *v = s_string(h.v[i], &tofree);
            r = (strcmp(v, e->lit) == 0) == (e->op == S_EQ_ANY);
            xmlFree(tofree);
        }
        break;
    default: {
        /* the rest look at the first node's string value ("" if none) */
        xmlChar *tofree = NULL;
        const char *v = sval ? sval : (h.n ? s_string(h.v[0], &tofree) : "");
        if ((e->op == S_NORM_EQ || e->op == S_NORM_NE) && e->rhs)
            r = s_norm_cmp_rhs(e, v, env);
        else if (e->op == S_NORM_EQ || e->op == S_NORM_NE)
            r = s_norm_equals(v, e->lit) == (e->op == S_NORM_EQ);
        else if (e->op == S_STRLEN) {
            char *w = e->norm ? s_norm_dup(v) : NULL;
            if (e->norm && w == NULL)
                h.oom = 1;
            else
                r = s_compare((double)s_utf8_chars(w ? w : v), e->cmp, e->num);
            free(w);
        } else if (e->op == S_STRFN)
            r = s_strfn(e, v);
        else if (e->op == S_STRLEN_AFTER) {
            const char *at = *e->lit ? strstr(v, e->lit) : v;
            size_t len = at ? s_utf8_chars(at + strlen(e->lit)) : 0;
            r = s_compare((double)len, e->cmp, e->num);
        } else { /* S_IN */
            int k;
            char pre[300];
            if (e->sub) {
                /* the first sub characters of normalize-space(v) */
                const char *q;
                int chars = 0;
                if (edix_rules_fn_norm_into(v, pre, sizeof pre) < 0)
                    pre[0] = '\0'; /* longer than any code: not in a list */
                for (q = pre; *q; q++)
                    if (((unsigned char)*q & 0xc0) != 0x80 && chars++ == e->sub)
                        break;
                pre[q - pre] = '\0';
                v = pre;
            }
            for (k = 0; k < e->list_count && !r; k++)
                r = edix_rules_fn_list_has_norm(e->list[k], v);
        }
        xmlFree(tofree);
        break;
    }
    }
    if (h.oom)
        r = 0;
    free(strval);
    s_hits_done(&h);
    return r;
}

int
edix_rules_fast_bool(const edix_rules_fast_t *f, xmlNodePtr node, xmlXPathContextPtr xp)
{
    s_env_t env = {node, xp, f->fn};

    return s_eval(f->expr, &env);
}

/*  The union of the paths, selected from node (absolute paths from its
 *  document's root), into out in document order without duplicates.  -1
 *  when out of memory.  */
int
edix_rules_fast_nodes(const edix_rules_fast_t *f, xmlNodePtr node, xmlXPathContextPtr xp,
                      xmlNodeSetPtr out)
{
    s_env_t env = {node, xp, f->fn};
    s_hits_t h;
    size_t i;
    int k, rc = 0;

    if (node == NULL)
        return 0;
    s_hits_init(&h);
    for (k = 0; k < f->path_count; k++)
        s_select(&f->paths[k], &env, &h, NULL);
    if (out->nodeNr == 0) {
        /* several paths, or '..' steps: sort, then drop repeats */
        if ((f->path_count > 1 || f->paths[0].has_parent) && h.n > 1)
            qsort(h.v, h.n, sizeof *h.v, s_order_cmp);
        for (i = 0; i < h.n && rc == 0; i++)
            if ((i == 0 || h.v[i] != h.v[i - 1]) && xmlXPathNodeSetAddUnique(out, h.v[i]) < 0)
                rc = -1;
    } else {
        for (i = 0; i < h.n && rc == 0; i++)
            if (xmlXPathNodeSetAdd(out, h.v[i]) < 0) /* Add drops duplicates */
                rc = -1;
        if (out->nodeNr > 1)
            xmlXPathNodeSetSort(out);
    }
    if (h.oom)
        rc = -1;
    s_hits_done(&h);
    return rc;
}

/*  normalize-space(v) appended to a growing buffer; -1 out of memory.  */
static int
s_append_norm(char **buf, size_t *len, size_t *cap, const char *v)
{
    int space = 0;

    for (; *v; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') {
            space = 1;
            continue;
        }
        if (*len + 3 > *cap) {
            size_t ncap = (*len + 3) * 2;
            char *g = realloc(*buf, ncap);
            if (g == NULL)
                return -1;
            *buf = g;
            *cap = ncap;
        }
        if (space && *len > 0 && (*buf)[*len - 1] != ' ')
            (*buf)[(*len)++] = ' ';
        space = 0;
        (*buf)[(*len)++] = *v;
    }
    return 0;
}

/*  The normalized string value of path (its first node) into a new buffer.  */
static char *
s_norm_of(const s_path_t *p, const s_env_t *env)
{
    const char *v;
    xmlChar *tofree;
    char *strfree, *out = NULL;
    size_t len = 0, cap = 0;

    if (s_first_string(p, env, &v, &tofree, &strfree) == 0 &&
        s_append_norm(&out, &len, &cap, v) == 0) {
        if (out == NULL)
            out = strdup("");
        else
            out[len] = '\0';
    } else {
        free(out);
        out = NULL;
    }
    xmlFree(tofree);
    free(strfree);
    return out;
}

char *
edix_rules_fast_string(const edix_rules_fast_t *f, xmlNodePtr node, xmlXPathContextPtr xp)
{
    s_env_t env = {node, xp, f->fn};
    int k;

    if (f->str == S_STR_NORM)
        return s_norm_of(&f->paths[0], &env);
    if (f->str == S_STR_COALESCE) {
        for (k = 0; k < f->path_count; k++) {
            char *v;
            if (f->lits[k]) {
                size_t len = 0, cap = 0;
                v = NULL;
                if (s_append_norm(&v, &len, &cap, f->lits[k]) < 0) {
                    free(v);
                    return NULL;
                }
                if (v)
                    v[len] = '\0';
                else
                    continue;
            } else if ((v = s_norm_of(&f->paths[k], &env)) == NULL)
                return NULL;
            if (*v)
                return v;
            free(v);
        }
        return strdup("");
    }
    /* S_STR_CODES: " a b c " of the distinct one-word values, in document order */
    {
        xmlNodeSetPtr set = xmlXPathNodeSetCreate(NULL);
        s_hits_t h;
        char *out = NULL;
        size_t len = 1, cap = 64;
        int i, bad = 0;

        if (set == NULL)
            return NULL;
        s_hits_init(&h);
        for (k = 0; k < f->path_count; k++)
            s_select(&f->paths[k], &env, &h, NULL);
        for (i = 0; i < (int)h.n && !bad; i++)
            bad = xmlXPathNodeSetAdd(set, h.v[i]) < 0;
        bad |= h.oom;
        s_hits_done(&h);
        if (f->path_count > 1 && set->nodeNr > 1)
            xmlXPathNodeSetSort(set);
        out = bad ? NULL : malloc(cap);
        if (out) {
            out[0] = ' ';
            out[1] = '\0';
        }
        for (i = 0; out && i < set->nodeNr; i++) {
            xmlChar *tofree;
            const char *v = s_string(set->nodeTab[i], &tofree);
            char word[80];
            size_t wl = 0, cl = 0, wcap = 0;
            char *w = NULL;
            if (s_append_norm(&w, &wl, &wcap, v) < 0) {
                xmlFree(tofree);
                free(out);
                out = NULL;
                break;
            }
            xmlFree(tofree);
            if (w == NULL || wl > 64 || memchr(w, ' ', wl)) {
                free(w);
                continue;
            }
            word[0] = ' ';
            memcpy(word + 1, w, wl);
            word[wl + 1] = ' ';
            word[wl + 2] = '\0';
            free(w);
            if (strstr(out, word))
                continue;
            cl = wl + 1; /* the word and its trailing blank */
            if (len + cl + 1 > cap) {
                char *g;
                cap = (len + cl + 1) * 2;
                g = realloc(out, cap);
                if (g == NULL) {
                    free(out);
                    out = NULL;
                    break;
                }
                out = g;
            }
            memcpy(out + len, word + 1, cl);
            len += cl;
            out[len] = '\0';
        }
        xmlXPathFreeNodeSet(set);
        return out;
    }
}
