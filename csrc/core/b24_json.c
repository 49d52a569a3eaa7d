/* b24_json.c - the strict, callback-driven JSON reader (b24_json.h). */
#include "b24_json.h"

#include "b24_buf.h"

#include <stdlib.h>
#include <string.h>

/* Byte classes inside a string: 0 plain ASCII, 1 '"', 2 '\\', 3 control,
 * 4 a UTF-8 lead or continuation byte. */
static const unsigned char str_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x00 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, /* 0x50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0x80 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4};

struct jr {
    const unsigned char *p;
    size_t n, i;
    struct b24_error *err;
    const struct b24_json_cb *cb;
    void *priv;
    int decode;    /* a string or key callback wants the text */
    int skim;      /* strings below the top-level keys skipped, unchecked */
    int guess;     /* cb->key_guess is asked before each key */
    unsigned *scratch; /* owned: code points of a string with escapes or
                          non-ASCII text */
    size_t slen, scap; /* in code points */
};

static enum b24_status
jr_fail(struct jr *v, enum b24_status st, const char *what)
{
    if (v->err != NULL)
        v->err->offset = v->i;
    return b24_error_set(v->err, st, "%s at byte %zu", what, v->i);
}

static enum b24_status
jr_stopped(struct jr *v)
{
    if (v->err != NULL)
        v->err->offset = v->i;
    return b24_error_set(v->err, B24_E_USAGE, "stopped by a callback");
}

static int
is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Answers are compact: the next byte is nearly always a token (every
 * whitespace byte is <= ' ', no token byte is), so one test decides. */
static inline void
jr_ws(struct jr *v)
{
    if (v->i < v->n && v->p[v->i] <= ' ')
        while (v->i < v->n && is_ws(v->p[v->i]))
            v->i++;
}

/* Value of a hex digit, or -1 (escapes are most of a real answer's string
 * bytes: PHP's json_encode writes every non-ASCII character as \\uXXXX). */
static const signed char hex_val[256] = {
    ['0'] = 0 + 1, ['1'] = 1 + 1, ['2'] = 2 + 1, ['3'] = 3 + 1,
    ['4'] = 4 + 1, ['5'] = 5 + 1, ['6'] = 6 + 1, ['7'] = 7 + 1,
    ['8'] = 8 + 1, ['9'] = 9 + 1, ['a'] = 10 + 1, ['b'] = 11 + 1,
    ['c'] = 12 + 1, ['d'] = 13 + 1, ['e'] = 14 + 1, ['f'] = 15 + 1,
    ['A'] = 10 + 1, ['B'] = 11 + 1, ['C'] = 12 + 1, ['D'] = 13 + 1,
    ['E'] = 14 + 1, ['F'] = 15 + 1}; /* value + 1; 0: not a hex digit */

static inline __attribute__((always_inline)) int
jr_hex4(const struct jr *v, size_t at, unsigned *out)
{
    const unsigned char *h = v->p + at;
    int a, b, c, d;
    if (at > v->n || v->n - at < 4)
        return 0;
    a = hex_val[h[0]];
    b = hex_val[h[1]];
    c = hex_val[h[2]];
    d = hex_val[h[3]];
    if (!a || !b || !c || !d)
        return 0;
    *out = ((unsigned)(a - 1) << 12) | ((unsigned)(b - 1) << 8) |
           ((unsigned)(c - 1) << 4) | (unsigned)(d - 1);
    return 1;
}

/* Length of the well-formed UTF-8 sequence at v->i (Unicode Table 3-7),
 * 0 when ill-formed; *cp gets its code point. */
static size_t
jr_utf8(const struct jr *v, unsigned *cp)
{
    const unsigned char *s = v->p + v->i;
    size_t left = v->n - v->i;
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t k, len;
    unsigned u;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        u = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        u = c & 0x0Fu;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no encoded surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        u = c & 0x07u;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (left < len)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    u = (u << 6) | (s[1] & 0x3Fu);
    for (k = 2; k < len; k++) {
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
        u = (u << 6) | (s[k] & 0x3Fu);
    }
    *cp = u;
    return len;
}

/* Room for `n` more code points in the scratch buffer: 0, or -1 (no
 * memory). */
static int
jr_grow(struct jr *v, size_t n)
{
    size_t na = v->scap ? v->scap : 256;
    unsigned *ns;
    while (na - v->slen < n)
        na *= 2;
    ns = realloc(v->scratch, na * sizeof(*ns));
    if (ns == NULL)
        return -1;
    v->scratch = ns;
    v->scap = na;
    return 0;
}

/* The raw ASCII run [run, run + n) as code points, then code point `cp`
 * unless `with_cp` is 0; one room check. */
static inline int
jr_put_run_cp(struct jr *v, const unsigned char *run, size_t n, unsigned cp,
              int with_cp)
{
    unsigned *b;
    size_t k;
    if (v->scap - v->slen < n + 1 && jr_grow(v, n + 1) < 0)
        return -1;
    b = v->scratch + v->slen;
    for (k = 0; k < n; k++)
        b[k] = run[k];
    b[n] = cp;
    v->slen += n + (with_cp != 0);
    return 0;
}

/* Code point `u` of a string being decoded: the raw ASCII run before it
 * and `u` go to the scratch buffer, *maxc follows.  0, or -1 (no
 * memory). */
static inline int
jr_take(struct jr *v, const unsigned char *run, size_t n, unsigned u,
        unsigned *maxc)
{
    if (jr_put_run_cp(v, run, n, u, 1) < 0)
        return -1;
    if (u > *maxc)
        *maxc = u;
    return 0;
}

static enum b24_status
jr_nomem(struct jr *v)
{
    return b24_error_set(v->err, B24_E_NOMEM,
                         "out of memory while parsing JSON");
}

/* A string value at v->i (the opening quote), skimmed: its end is the
 * first quote not preceded by an odd run of backslashes; its contents are
 * not checked (a later strict read does that). */
static enum b24_status
jr_skim_string_slow(struct jr *v)
{
    const unsigned char *p = v->p;
    size_t start = ++v->i, at = start;
    for (;;) {
        const unsigned char *q = memchr(p + at, '"', v->n - at);
        size_t j, k;
        if (q == NULL && v->n - start > B24_JSON_MAX_STRING) {
            v->i = start + B24_JSON_MAX_STRING + 1;
            return jr_fail(v, B24_E_LIMIT, "JSON string longer than the cap");
        }
        if (q == NULL) {
            v->i = v->n;
            return jr_fail(v, B24_E_JSON, "invalid JSON (unterminated string)");
        }
        j = (size_t)(q - p);
        for (k = j; k > start && p[k - 1] == '\\'; k--)
            ;
        if ((j - k) % 2 == 0) {
            if (j - start > B24_JSON_MAX_STRING) {
                v->i = start + B24_JSON_MAX_STRING + 1;
                return jr_fail(v, B24_E_LIMIT,
                               "JSON string longer than the cap");
            }
            v->i = j + 1;
            return B24_OK;
        }
        at = j + 1;
    }
}

/* The common case inline: the first quote ends the string (no backslash
 * before it) within the cap; anything else takes the full rule above. */
static inline enum b24_status
jr_skim_string(struct jr *v)
{
    size_t start = v->i + 1;
    const unsigned char *q = memchr(v->p + start, '"', v->n - start);
    if (q != NULL && q[-1] != '\\' &&
        (size_t)(q - v->p) - start <= B24_JSON_MAX_STRING) {
        v->i = (size_t)(q - v->p) + 1;
        return B24_OK;
    }
    return jr_skim_string_slow(v);
}

/* A string at v->i (the opening quote).  is_key: 1 for an object key;
 * *escaped (may be NULL) tells whether it had an escape.  With a string
 * or key callback, an escape or a non-ASCII character switches to code
 * points: the scratch buffer gets the raw ASCII run before it, then its
 * code point, so a string is read once. */
static enum b24_status
jr_string(struct jr *v, int is_key, int *escaped)
{
    const unsigned char *p = v->p;
    size_t start = ++v->i; /* past the opening quote */
    size_t run = start;    /* first raw byte not yet in scratch */
    size_t limit = v->n - start > B24_JSON_MAX_STRING + 1
                       ? start + B24_JSON_MAX_STRING + 1
                       : v->n;
    int esc = 0, wide = 0; /* wide: scratch holds [start, run) */
    unsigned maxc = 0;
    v->slen = 0;
    for (;;) {
        size_t i = v->i;
        unsigned char c;
        if (i >= v->n)
            return jr_fail(v, B24_E_JSON, "invalid JSON (unterminated string)");
        if (i - start > B24_JSON_MAX_STRING)
            return jr_fail(v, B24_E_LIMIT, "JSON string longer than the cap");
        /* four bytes a test while they fit (one OR of their classes) */
        while (limit - i >= 4 &&
               (str_class[p[i]] | str_class[p[i + 1]] | str_class[p[i + 2]] |
                str_class[p[i + 3]]) == 0)
            i += 4;
        while (i < limit && str_class[p[i]] == 0)
            i++;
        v->i = i;
        if (i >= limit)
            continue; /* the end of the text or the cap: checked above */
        c = p[i];
        switch (str_class[c]) {
        case 1: { /* the closing quote */
            struct b24_json_str str;
            int r = 0;
            v->i = i + 1;
            if (escaped != NULL)
                *escaped = esc;
            if (!v->decode)
                return B24_OK;
            str.raw = (const char *)p + start;
            str.raw_len = i - start;
            str.escaped = esc;
            if (wide) {
                if (jr_put_run_cp(v, p + run, i - run, 0, 0) < 0)
                    return jr_nomem(v);
                str.cp = v->scratch;
                str.len = v->slen;
                str.maxchar = maxc;
            } else {
                str.cp = NULL;
                str.len = str.raw_len;
                str.maxchar = 0;
            }
            if (is_key) {
                if (v->cb->key != NULL)
                    r = v->cb->key(v->priv, &str);
            } else if (v->cb->string != NULL) {
                r = v->cb->string(v->priv, &str);
            }
            return r ? jr_stopped(v) : B24_OK;
        }
        case 3:
            return jr_fail(v, B24_E_JSON,
                           "invalid JSON (control character in a string)");
        case 2: { /* an escape */
            unsigned u = 0, u2;
            size_t adv = 2;
            if (i + 1 >= v->n)
                return jr_fail(v, B24_E_JSON,
                               "invalid JSON (unterminated string)");
            c = p[i + 1];
            if (c == 'u') {
                adv = 6;
                if (!jr_hex4(v, i + 2, &u))
                    return jr_fail(v, B24_E_JSON, "invalid JSON (bad \\u escape)");
                if ((u & 0xF800) != 0xD800)
                    ; /* not a surrogate: the common case, one test */
                else if (u >= 0xDC00)
                    return jr_fail(v, B24_E_JSON,
                                   "invalid JSON (lone surrogate escape)");
                else {
                    if (v->n - i < 12 || p[i + 6] != '\\' || p[i + 7] != 'u' ||
                        !jr_hex4(v, i + 8, &u2) || u2 < 0xDC00 || u2 > 0xDFFF)
                        return jr_fail(v, B24_E_JSON,
                                       "invalid JSON (lone surrogate escape)");
                    u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
                    adv = 12;
                }
            } else {
                switch (c) {
                case '"': u = '"'; break;
                case '\\': u = '\\'; break;
                case '/': u = '/'; break;
                case 'b': u = '\b'; break;
                case 'f': u = '\f'; break;
                case 'n': u = '\n'; break;
                case 'r': u = '\r'; break;
                case 't': u = '\t'; break;
                default:
                    return jr_fail(v, B24_E_JSON, "invalid JSON (bad escape)");
                }
            }
            if (v->decode) {
                if (jr_take(v, p + run, i - run, u, &maxc) < 0)
                    return jr_nomem(v);
                wide = 1;
            }
            i += adv;
            /* PHP escapes every non-ASCII character: the next one is
             * often \uXXXX again, outside the surrogates; taken here
             * (any other escape, and the cap, go round the loop: the
             * same checks at the same offsets) */
            while (i - start <= B24_JSON_MAX_STRING && v->n - i >= 7) {
                if (str_class[p[i]] == 0 && p[i + 1] == '\\') {
                    /* one plain byte between escapes: the space of a
                     * title; the escape after it is read next time */
                    u = p[i];
                    adv = 1;
                } else if (p[i] == '\\' && p[i + 1] == 'u' &&
                           jr_hex4(v, i + 2, &u) && (u & 0xF800) != 0xD800) {
                    adv = 6;
                } else {
                    break;
                }
                if (v->decode && jr_take(v, p + i, 0, u, &maxc) < 0)
                    return jr_nomem(v);
                i += adv;
            }
            v->i = i;
            esc = 1;
            run = v->i;
            continue;
        }
        default: { /* non-ASCII */
            unsigned u;
            size_t k = jr_utf8(v, &u);
            if (k == 0)
                return jr_fail(v, B24_E_JSON,
                               "invalid JSON (string is not valid UTF-8)");
            if (v->decode) {
                if (jr_take(v, p + run, i - run, u, &maxc) < 0)
                    return jr_nomem(v);
                wide = 1;
            }
            v->i = i + k;
            run = v->i;
            continue;
        }
        }
    }
}

/* A string value at v->i: the common short one (plain ASCII up to its
 * closing quote, within 64 bytes: a date, a code, "Y") read here without
 * jr_string's set-up; anything else is jr_string's. */
static inline enum b24_status
jr_value_string(struct jr *v)
{
    const unsigned char *p = v->p;
    size_t start = v->i + 1, i = start;
    size_t lim = v->n - start > 64 ? start + 64 : v->n;
    while (i < lim && str_class[p[i]] == 0)
        i++;
    if (i < lim && p[i] == '"') {
        v->i = i + 1;
        if (v->decode && v->cb->string != NULL) {
            struct b24_json_str str;
            str.raw = (const char *)p + start;
            str.raw_len = str.len = i - start;
            str.cp = NULL;
            str.maxchar = 0;
            str.escaped = 0;
            if (v->cb->string(v->priv, &str))
                return jr_stopped(v);
        }
        return B24_OK;
    }
    return jr_string(v, 0, NULL);
}

static int
jr_digit(const struct jr *v)
{
    return v->i < v->n && v->p[v->i] >= '0' && v->p[v->i] <= '9';
}

static enum b24_status
jr_number(struct jr *v)
{
    size_t start = v->i;
    int is_int = 1;
    if (v->p[v->i] == '-')
        v->i++;
    if (!jr_digit(v))
        return jr_fail(v, B24_E_JSON, "invalid JSON (bad number)");
    if (v->p[v->i] == '0') {
        v->i++;
        if (jr_digit(v))
            return jr_fail(v, B24_E_JSON, "invalid JSON (leading zero)");
    } else {
        while (jr_digit(v))
            v->i++;
    }
    if (v->i < v->n && v->p[v->i] == '.') {
        is_int = 0;
        v->i++;
        if (!jr_digit(v))
            return jr_fail(v, B24_E_JSON, "invalid JSON (bad number)");
        while (jr_digit(v))
            v->i++;
    }
    if (v->i < v->n && (v->p[v->i] == 'e' || v->p[v->i] == 'E')) {
        is_int = 0;
        v->i++;
        if (v->i < v->n && (v->p[v->i] == '+' || v->p[v->i] == '-'))
            v->i++;
        if (!jr_digit(v))
            return jr_fail(v, B24_E_JSON, "invalid JSON (bad number)");
        while (jr_digit(v))
            v->i++;
    }
    if (v->cb != NULL && v->cb->number != NULL &&
        v->cb->number(v->priv, (const char *)v->p + start, v->i - start,
                      is_int))
        return jr_stopped(v);
    return B24_OK;
}

static int
jr_word(struct jr *v, const char *w, size_t wl)
{
    if (v->n - v->i < wl || memcmp(v->p + v->i, w, wl) != 0)
        return 0;
    v->i += wl;
    return 1;
}

#define CALL(v_, f_)                                                      \
    ((v_)->cb != NULL && (v_)->cb->f_ != NULL && (v_)->cb->f_((v_)->priv))

static enum b24_status
jr_run(struct jr *v, struct b24_json_top *top)
{
    /* stack[d] is '[' or '{' for each open container. */
    char stack[B24_JSON_MAX_DEPTH];
    int depth = 0;
    long pending = -1; /* the top-level member whose value is being read */
    enum b24_status st;
    unsigned char c;

    jr_ws(v);
    for (;;) {
        /* A value is expected at v->i. */
        if (v->i >= v->n)
            return jr_fail(v, B24_E_JSON, "invalid JSON (unexpected end)");
        c = v->p[v->i];
        if (c == '[' || c == '{') {
            if (depth >= B24_JSON_MAX_DEPTH)
                return jr_fail(v, B24_E_LIMIT,
                               "JSON nesting deeper than 1000 levels");
            if (depth == 0 && top != NULL)
                top->is_object = c == '{';
            if (c == '[' ? CALL(v, start_array) : CALL(v, start_object))
                return jr_stopped(v);
            stack[depth++] = (char)c;
            v->i++;
            jr_ws(v);
            if (v->i < v->n && v->p[v->i] == (c == '[' ? ']' : '}')) {
                v->i++;
                depth--;
                if (c == '[' ? CALL(v, end_array) : CALL(v, end_object))
                    return jr_stopped(v);
                goto after_value;
            }
            if (c == '[')
                continue;
            goto member;
        }
        if (c == '"')
            st = v->skim ? jr_skim_string(v) : jr_value_string(v);
        else if (c == '-' || (c >= '0' && c <= '9'))
            st = jr_number(v);
        else if (jr_word(v, "true", 4) || jr_word(v, "false", 5))
            st = (v->cb != NULL && v->cb->boolean != NULL &&
                  v->cb->boolean(v->priv, v->p[v->i - 1] == 'e' &&
                                              v->p[v->i - 2] == 'u'))
                     ? jr_stopped(v)
                     : B24_OK;
        else if (jr_word(v, "null", 4))
            st = CALL(v, null) ? jr_stopped(v) : B24_OK;
        else
            st = jr_fail(v, B24_E_JSON, "invalid JSON");
        if (st != B24_OK)
            return st;
    after_value:
        for (;;) {
            if (pending >= 0 && depth == 1) {
                top->spans[pending].end = v->i;
                top->spans[pending].found = 1;
                pending = -1;
            }
            jr_ws(v);
            if (depth == 0) {
                if (v->i < v->n)
                    return jr_fail(v, B24_E_JSON, "invalid JSON (extra data)");
                return B24_OK;
            }
            if (v->i >= v->n)
                return jr_fail(v, B24_E_JSON, "invalid JSON (unexpected end)");
            c = v->p[v->i];
            if (c == ',') {
                v->i++;
                jr_ws(v);
                if (stack[depth - 1] == '[')
                    break; /* next array element */
                goto member;
            }
            if (c == (stack[depth - 1] == '[' ? ']' : '}')) {
                v->i++;
                depth--;
                if (c == ']' ? CALL(v, end_array) : CALL(v, end_object))
                    return jr_stopped(v);
                continue;
            }
            return jr_fail(v, B24_E_JSON, "invalid JSON");
        }
        continue;
    member:
        /* An object member "key": value is expected at v->i. */
        if (v->i >= v->n || v->p[v->i] != '"')
            return jr_fail(v, B24_E_JSON, "invalid JSON (expected a key)");
        if (v->guess) {
            size_t k = 0;
            if (v->cb->key_guess(v->priv, (const char *)v->p + v->i + 1,
                                 v->n - v->i - 1, &k))
                return jr_stopped(v);
            if (k > 0) {
                v->i += k + 2; /* both quotes */
                goto colon;
            }
        }
        {
            size_t kstart = v->i + 1;
            int kesc = 0;
            /* a skim checks only the top level's keys (matched and
             * their escapes noted); the nested ones are skimmed */
            if ((st = v->skim && depth > 1 ? jr_skim_string(v)
                                           : jr_string(v, 1, &kesc)) != B24_OK)
                return st;
            if (top != NULL && depth == 1) {
                size_t kn = v->i - 1 - kstart, k;
                if (kesc)
                    top->escaped_key = 1;
                /* a repeated name restarts its span: the last one wins,
                 * like json.loads and b24_json_member */
                for (k = 0; k < top->nnames && k < 8; k++) {
                    if (strlen(top->names[k]) == kn &&
                        memcmp(v->p + kstart, top->names[k], kn) == 0) {
                        pending = (long)k;
                        break;
                    }
                }
            }
        }
    colon:
        jr_ws(v);
        if (v->i >= v->n || v->p[v->i] != ':')
            return jr_fail(v, B24_E_JSON, "invalid JSON (expected ':')");
        v->i++;
        jr_ws(v);
        if (pending >= 0 && depth == 1)
            top->spans[pending].start = v->i;
    }
}

enum b24_status
b24_json_read(const char *text, size_t len, const struct b24_json_cb *cb,
              void *priv, struct b24_json_top *top, struct b24_error *err)
{
    struct jr v;
    enum b24_status st;
    v.p = (const unsigned char *)text;
    v.n = len;
    v.i = 0;
    v.err = err;
    v.cb = cb;
    v.priv = priv;
    v.decode = cb != NULL && (cb->key != NULL || cb->string != NULL);
    v.skim = top != NULL && top->skim && !v.decode;
    v.guess = top == NULL && cb != NULL && cb->key_guess != NULL;
    v.scratch = NULL;
    v.slen = v.scap = 0;
    if (top != NULL) {
        size_t k;
        top->is_object = 0;
        top->escaped_key = 0;
        for (k = 0; k < 8; k++)
            top->spans[k].start = top->spans[k].end = 0,
            top->spans[k].found = 0;
    }
    st = jr_run(&v, top);
    free(v.scratch);
    return st;
}

enum b24_status
b24_json_sax_parse(const char *text, size_t len, const struct b24_json_cb *cb,
                   void *priv, struct b24_error *err)
{
    size_t skip = 0;
    enum b24_status st;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        skip = 3; /* a UTF-8 BOM (PHP files saved with one emit it) */
    if (len - skip == 0) {
        if (err != NULL)
            err->offset = 0;
        return b24_error_set(err, B24_E_JSON,
                             "invalid JSON (empty text) at byte %zu", skip);
    }
    st = b24_json_read(text + skip, len - skip, cb, priv, NULL, err);
    if (st != B24_OK && err != NULL)
        err->offset += skip;
    return st;
}


enum b24_status
b24_json_str_utf8(const struct b24_json_str *s, struct b24_buf *out)
{
    size_t k;
    if (s->cp == NULL)
        return b24_buf_append(out, s->raw, s->raw_len);
    for (k = 0; k < s->len; k++) {
        unsigned cp = s->cp[k];
        unsigned char b[4];
        size_t n;
        if (cp < 0x80) {
            b[0] = (unsigned char)cp;
            n = 1;
        } else if (cp < 0x800) {
            b[0] = (unsigned char)(0xC0 | (cp >> 6));
            b[1] = (unsigned char)(0x80 | (cp & 0x3F));
            n = 2;
        } else if (cp < 0x10000) {
            b[0] = (unsigned char)(0xE0 | (cp >> 12));
            b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            b[2] = (unsigned char)(0x80 | (cp & 0x3F));
            n = 3;
        } else {
            b[0] = (unsigned char)(0xF0 | (cp >> 18));
            b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            b[3] = (unsigned char)(0x80 | (cp & 0x3F));
            n = 4;
        }
        if (b24_buf_append(out, b, n) != B24_OK)
            return B24_E_NOMEM;
    }
    return B24_OK;
}
