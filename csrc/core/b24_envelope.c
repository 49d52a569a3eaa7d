/* b24_envelope.c - answer parsing and outcome classification (§4.4). */
#include "b24_envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define B24_PAIRS_AVX2 1 /* chosen at run time (__builtin_cpu_supports) */
#endif

#include "b24_buf.h"

const cJSON *
b24_json_member(const cJSON *obj, const char *name)
{
    const cJSON *it, *found = NULL;
    if (!cJSON_IsObject(obj))
        return NULL;
    for (it = obj->child; it != NULL; it = it->next)
        if (it->string != NULL && strcmp(it->string, name) == 0)
            found = it;
    return found;
}

void
b24_outcome_init(struct b24_outcome *o)
{
    memset(o, 0, sizeof(*o));
}

void
b24_outcome_clear_headers(struct b24_outcome *o)
{
    size_t i;
    for (i = 0; i < o->nheaders; i++) {
        free(o->headers[i].name);
        free(o->headers[i].value);
    }
    o->nheaders = 0;
}

void
b24_outcome_clear(struct b24_outcome *o)
{
    b24_outcome_clear_headers(o);
    free(o->headers);
    free(o->answer);
    cJSON_Delete(o->envelope);
    free(o->code);
    free(o->message);
    free(o->detail);
    b24_outcome_init(o);
}

enum b24_status
b24_outcome_set(struct b24_outcome *o, enum b24_outcome_kind kind,
                const char *code, const char *message)
{
    char *c = NULL, *m = NULL;
    if (code != NULL && (c = b24_strdup(code)) == NULL)
        return B24_E_NOMEM;
    if (message != NULL && (m = b24_strdup(message)) == NULL) {
        free(c);
        return B24_E_NOMEM;
    }
    free(o->code);
    free(o->message);
    o->kind = kind;
    o->code = c;
    o->message = m;
    return B24_OK;
}

enum b24_status
b24_outcome_add_header(struct b24_outcome *o, const char *name, size_t nlen,
                       const char *value, size_t vlen)
{
    size_t i;
    char *n, *v;
    n = b24_strndup(name, nlen);
    if (n == NULL)
        return B24_E_NOMEM;
    for (i = 0; i < nlen; i++)
        if (n[i] >= 'A' && n[i] <= 'Z')
            n[i] = (char)(n[i] + 32);
    v = b24_strndup(value, vlen);
    if (v == NULL) {
        free(n);
        return B24_E_NOMEM;
    }
    for (i = 0; i < o->nheaders; i++) {
        if (strcmp(o->headers[i].name, n) == 0) {
            free(n);
            free(o->headers[i].value);
            o->headers[i].value = v;
            return B24_OK;
        }
    }
    if (o->nheaders == o->aheaders) {
        size_t na = o->aheaders ? o->aheaders * 2 : 16;
        struct b24_header *nh = realloc(o->headers, na * sizeof(*nh));
        if (nh == NULL) {
            free(n);
            free(v);
            return B24_E_NOMEM;
        }
        o->headers = nh;
        o->aheaders = na;
    }
    o->headers[o->nheaders].name = n;
    o->headers[o->nheaders].value = v;
    o->nheaders++;
    return B24_OK;
}

enum b24_status
b24_json_validate(const char *text, size_t len, struct b24_error *err)
{
    return b24_json_read(text, len, NULL, NULL, NULL, err);
}

enum b24_status
b24_json_parse(const char *text, size_t len, cJSON **out,
               struct b24_error *err)
{
    const char *end = NULL;
    size_t skip = 0;
    enum b24_status st;
    cJSON *tree;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        skip = 3; /* a UTF-8 BOM (PHP files saved with one emit it) */
    if (len - skip == 0) {
        if (err != NULL)
            err->offset = 0;
        return b24_error_set(err, B24_E_JSON,
                             "invalid JSON (empty text) at byte %zu", skip);
    }
    st = b24_json_validate(text + skip, len - skip, err);
    if (st != B24_OK) {
        if (err != NULL)
            err->offset += skip;
        return st;
    }
    tree = cJSON_ParseWithLengthOpts(text + skip, len - skip, &end, 0);
    if (tree == NULL) {
        if (err != NULL)
            err->offset = 0;
        return b24_error_set(err, B24_E_NOMEM,
                             "out of memory while parsing JSON");
    }
    *out = tree; /* ownership to the caller */
    return B24_OK;
}

/* Length of `s` without trailing whitespace (JS trimEnd: ASCII and the
 * common Unicode spaces, in UTF-8). */
static size_t
trim_end_len(const char *s, size_t n)
{
    for (;;) {
        const unsigned char *u = (const unsigned char *)s;
        if (n >= 1 && (u[n - 1] == ' ' || (u[n - 1] >= 0x09 && u[n - 1] <= 0x0d))) {
            n -= 1;
        } else if (n >= 2 && u[n - 2] == 0xc2 && u[n - 1] == 0xa0) {
            n -= 2; /* U+00A0 */
        } else if (n >= 3 && u[n - 3] == 0xe1 && u[n - 2] == 0x9a &&
                   u[n - 1] == 0x80) {
            n -= 3; /* U+1680 */
        } else if (n >= 3 && u[n - 3] == 0xe2 && u[n - 2] == 0x80 &&
                   (u[n - 1] <= 0x8a || u[n - 1] == 0xa8 ||
                    u[n - 1] == 0xa9 || u[n - 1] == 0xaf)) {
            n -= 3; /* U+2000..200A, 2028, 2029, 202F */
        } else if (n >= 3 && u[n - 3] == 0xe2 && u[n - 2] == 0x81 &&
                   u[n - 1] == 0x9f) {
            n -= 3; /* U+205F */
        } else if (n >= 3 && u[n - 3] == 0xe3 && u[n - 2] == 0x80 &&
                   u[n - 1] == 0x80) {
            n -= 3; /* U+3000 */
        } else if (n >= 3 && u[n - 3] == 0xef && u[n - 2] == 0xbb &&
                   u[n - 1] == 0xbf) {
            n -= 3; /* U+FEFF */
        } else {
            return n;
        }
    }
}

/* Append the compact JSON text of `item` (or, for a string, its text). */
static enum b24_status
append_value_text(struct b24_buf *b, const cJSON *item, int raw_string)
{
    char *txt;
    enum b24_status st;
    if (raw_string && cJSON_IsString(item))
        return b24_buf_appends(b, item->valuestring);
    txt = cJSON_PrintUnformatted(item);
    if (txt == NULL)
        return B24_E_NOMEM;
    st = b24_buf_appends(b, txt);
    cJSON_free(txt);
    return st;
}

/* `error` object with `code` (§4.4 A): code and message. */
static enum b24_status
error_object(struct b24_outcome *o, enum b24_outcome_kind kind,
             const cJSON *error, const cJSON *code)
{
    struct b24_buf c, m;
    const cJSON *msg = b24_json_member(error, "message");
    const cJSON *val = b24_json_member(error, "validation");
    enum b24_status st;

    b24_buf_init(&c, 0);
    b24_buf_init(&m, 0);
    if ((st = append_value_text(&c, code, 1)))
        goto done;
    if (cJSON_IsString(msg)) {
        if ((st = b24_buf_append(&m, msg->valuestring,
                                 trim_end_len(msg->valuestring,
                                              strlen(msg->valuestring)))))
            goto done;
    } else if (msg != NULL && !cJSON_IsNull(msg)) {
        if ((st = append_value_text(&m, msg, 0)))
            goto done;
    }
    if (cJSON_IsArray(val)) {
        const cJSON *row;
        if (m.len > 0) {
            if (m.data[m.len - 1] != '.' && (st = b24_buf_appendc(&m, '.')))
                goto done;
            if ((st = b24_buf_appendc(&m, ' ')))
                goto done;
        }
        cJSON_ArrayForEach(row, val)
        {
            const cJSON *rm = cJSON_IsObject(row)
                                  ? b24_json_member(row, "message")
                                  : NULL;
            if (rm != NULL && !cJSON_IsNull(rm))
                st = append_value_text(&m, rm, 1);
            else
                st = append_value_text(&m, row, 0);
            if (st)
                goto done;
        }
    }
    st = b24_outcome_set(o, kind, b24_buf_cstr(&c), b24_buf_cstr(&m));
done:
    b24_buf_free(&c);
    b24_buf_free(&m);
    return st == B24_E_LIMIT ? B24_E_NOMEM : st;
}

static enum b24_status
force_auth_status(struct b24_outcome *o)
{
    if (o->code != NULL && (strcmp(o->code, "AUTHORIZE_ERROR") == 0 ||
                            strcmp(o->code, "WRONG_AUTH_TYPE") == 0))
        o->status = 403;
    return B24_OK;
}

/* A JSON number at [start, end) of the text: 1 and *out, else 0 (not a
 * number, or no memory for a token of 64 bytes or more). */
static int
span_number(const char *text, const struct b24_json_span *sp, double *out)
{
    char small[64], *buf = small, *endp;
    size_t n = sp->end - sp->start;
    int ok;
    if (!sp->found || n == 0)
        return 0;
    if (text[sp->start] != '-' && (text[sp->start] < '0' || text[sp->start] > '9'))
        return 0;
    if (n >= sizeof(small) && (buf = malloc(n + 1)) == NULL)
        return 0;
    memcpy(buf, text + sp->start, n);
    buf[n] = '\0';
    *out = strtod(buf, &endp);
    ok = endp == buf + n;
    if (buf != small)
        free(buf);
    return ok;
}

/* The two limiter numbers of the `time` member (bytes [start, end) of
 * `text`, trailing whitespace allowed), read strictly: B24_E_JSON when the
 * member is not JSON (the read_body skim and the tail read leave it to
 * this read), the outcome untouched then. */
static enum b24_status
time_numbers(struct b24_outcome *o, const char *text, size_t start,
             size_t end_)
{
    static const char *const names[] = {"operating", "operating_reset_at"};
    const struct b24_json_span span = {start, end_, 1};
    const struct b24_json_span *sp = &span;
    struct b24_json_top t;
    struct b24_error err;
    memset(&t, 0, sizeof(t));
    memset(&err, 0, sizeof(err));
    t.names = names;
    t.nnames = 2;
    if (b24_json_read(text + sp->start, sp->end - sp->start, NULL, NULL,
                      &t, &err) != B24_OK)
        return B24_E_JSON;
    if (!t.is_object)
        return B24_OK;
    o->have_time = 1;
    if (t.escaped_key) { /* rare: let cJSON decode the names */
        const char *end = NULL;
        cJSON *tm = cJSON_ParseWithLengthOpts(text + sp->start,
                                              sp->end - sp->start, &end, 0);
        const cJSON *op = b24_json_member(tm, "operating");
        const cJSON *ra = b24_json_member(tm, "operating_reset_at");
        if ((o->have_operating = cJSON_IsNumber(op)))
            o->operating = op->valuedouble;
        if ((o->have_reset_at = cJSON_IsNumber(ra)))
            o->reset_at = ra->valuedouble;
        cJSON_Delete(tm);
        return B24_OK;
    }
    o->have_operating =
        span_number(text + sp->start, &t.spans[0], &o->operating);
    o->have_reset_at =
        span_number(text + sp->start, &t.spans[1], &o->reset_at);
    return B24_OK;
}

/* o->envelope: the members of `top` parsed from o->answer (but `time`,
 * whose two limiter numbers are read into the outcome); the whole answer
 * when a top-level key had an escape (rare: its raw bytes cannot be
 * matched, cJSON's getters would see the decoded name). */
static enum b24_status
envelope_members(struct b24_outcome *o, const struct b24_json_top *top,
                 const char *const *names)
{
    const char *end = NULL;
    size_t k;
    if (top->escaped_key) {
        const cJSON *tm, *op, *ra;
        o->envelope =
            cJSON_ParseWithLengthOpts(o->answer, o->answer_len, &end, 0);
        if (o->envelope == NULL)
            return B24_E_NOMEM;
        tm = b24_json_member(o->envelope, "time");
        o->have_time = cJSON_IsObject(tm);
        op = cJSON_IsObject(tm) ? b24_json_member(tm, "operating") : NULL;
        ra = cJSON_IsObject(tm) ? b24_json_member(tm, "operating_reset_at")
                                : NULL;
        if ((o->have_operating = cJSON_IsNumber(op)))
            o->operating = op->valuedouble;
        if ((o->have_reset_at = cJSON_IsNumber(ra)))
            o->reset_at = ra->valuedouble;
        return B24_OK;
    }
    o->envelope = cJSON_CreateObject();
    if (o->envelope == NULL)
        return B24_E_NOMEM;
    for (k = 0; k < top->nnames; k++) {
        const struct b24_json_span *sp = &top->spans[k];
        cJSON *sub;
        if (!sp->found)
            continue;
        if (strcmp(names[k], "time") == 0) {
            enum b24_status st =
                time_numbers(o, o->answer, sp->start, sp->end);
            if (st != B24_OK)
                return st;
            continue;
        }
        sub = cJSON_ParseWithLengthOpts(o->answer + sp->start,
                                        sp->end - sp->start, &end, 0);
        if (sub == NULL)
            return B24_E_NOMEM;
        if (!cJSON_AddItemToObject(o->envelope, names[k], sub)) {
            cJSON_Delete(sub);
            return B24_E_NOMEM;
        }
    }
    return B24_OK;
}

/* The outcome of a 2xx answer that is not one strict JSON text: `pst`
 * and `perr` are the strict reader's first error. */
static enum b24_status
unexpected_answer(struct b24_outcome *o, enum b24_status pst,
                  const struct b24_error *perr)
{
    char m[sizeof(perr->message) + 64];
    if (pst == B24_E_LIMIT)
        snprintf(m, sizeof(m), "Unexpected answer: %s", perr->message);
    else
        snprintf(m, sizeof(m),
                 "Unexpected answer: the body is not JSON (HTTP %ld)",
                 o->status);
    return b24_outcome_set(o, B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER", m);
}

/* The answer, its envelope and the limiter's numbers forgotten. */
static void
drop_answer(struct b24_outcome *o)
{
    free(o->answer);
    o->answer = NULL;
    o->answer_len = 0;
    o->answer_checked = 0;
    cJSON_Delete(o->envelope);
    o->envelope = NULL;
    o->have_time = o->have_operating = o->have_reset_at = 0;
    o->operating = o->reset_at = 0;
}

enum b24_status
b24_envelope_reject(struct b24_outcome *o, enum b24_status pst,
                    const struct b24_error *err)
{
    drop_answer(o);
    return unexpected_answer(o, pst, err);
}

enum b24_status
b24_envelope_check(struct b24_outcome *o)
{
    struct b24_error err;
    enum b24_status st;
    if (o->answer == NULL || o->answer_checked)
        return B24_OK;
    memset(&err, 0, sizeof(err));
    st = b24_json_validate(o->answer, o->answer_len, &err);
    if (st == B24_E_NOMEM)
        return st;
    if (st != B24_OK)
        return b24_envelope_reject(o, st, &err);
    o->answer_checked = 1;
    return B24_OK;
}

/* ---- the tail read of a 2xx body ------------------------------------- */

static int
json_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The code point of the four hex digits at p, or -1. */
static long
hex4(const unsigned char *p)
{
    long v = 0;
    int k;
    for (k = 0; k < 4; k++) {
        unsigned char c = p[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v |= (c | 0x20) - 'a' + 10;
        else
            return -1;
    }
    return v;
}

/* 1 when the string text at p (n bytes available) starts with `name`,
 * each character written as itself or as a \u escape; *used gets the
 * bytes it took.  (Only a \u escape can write a letter or '_'.) */
static int
spells(const unsigned char *p, size_t n, const char *name, size_t *used)
{
    size_t i = 0;
    for (; *name != '\0'; name++) {
        if (i < n && p[i] == (unsigned char)*name)
            i++;
        else if (n - i >= 6 && p[i] == '\\' && p[i + 1] == 'u' &&
                 hex4(p + i + 2) == (unsigned char)*name)
            i += 6;
        else
            return 0;
    }
    *used = i;
    return 1;
}

/* 1 when p (n bytes) starts with the escape \u0000. */
static int
nul_escape(const unsigned char *p, size_t n)
{
    return n >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2) == 0;
}

/* 1 when the quote at p[j] opens a key `error` or `error_description`
 * (raw or escaped), that is: the name, the closing quote, whitespace and
 * a colon.  Nested keys and a quote inside a string may answer 1 too:
 * that only sends the body to the full reading. */
static int
error_key_at(const unsigned char *p, size_t n, size_t j)
{
    size_t i = j + 1, k;
    if (n - i >= 2 && p[i] == 'e' && p[i + 1] != 'r' && p[i + 1] != '\\')
        return 0; /* the common miss: "entityTypeId" */
    if (!spells(p + i, n - i, "error", &k))
        return 0;
    i += k;
    /* a name that goes on with a NUL ("error\u0000...") is taken as one
     * too: the skim's cJSON envelope reads a key up to its first NUL */
    if (nul_escape(p + i, n - i))
        return 1;
    if (i < n && p[i] != '"') {
        if (!spells(p + i, n - i, "_description", &k))
            return 0;
        i += k;
        if (nul_escape(p + i, n - i))
            return 1;
    }
    if (i >= n || p[i] != '"')
        return 0;
    for (i++; i < n && json_ws(p[i]); i++)
        ;
    return i < n && p[i] == ':';
}

/* b24_envelope_error_key (b24_envelope.h).  Every key spelling `error`
 * or `error_description` starts with a quote and then `e` or the `\` of
 * an escape: only those byte pairs are looked at, 64 bytes a test with
 * AVX2 or SSE2 (a page has a few hundred such pairs in 87 kB). */
#if defined(__SSE2__) /* every x86-64, so AVX2 too */
/* The pairs (a quote, then `e` or a backslash) found in the 64-byte block
 * at p[i], bit k for one at i + k: 1 when one opens an error key. */
static int
error_key_in_block(const unsigned char *p, size_t n, size_t i,
                   unsigned long long bits)
{
    while (bits != 0) {
        if (error_key_at(p, n, i + (size_t)__builtin_ctzll(bits)))
            return 1;
        bits &= bits - 1;
    }
    return 0;
}

static inline __m128i
pair_mask(const unsigned char *p, __m128i q, __m128i e, __m128i bs)
{
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 1));
    return _mm_and_si128(_mm_cmpeq_epi8(a, q),
                         _mm_or_si128(_mm_cmpeq_epi8(b, e),
                                      _mm_cmpeq_epi8(b, bs)));
}
#endif

#if defined(B24_PAIRS_AVX2)
static inline __attribute__((target("avx2"))) __m256i
pair_mask256(const unsigned char *p, __m256i q, __m256i e, __m256i bs)
{
    __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 1));
    return _mm256_and_si256(_mm256_cmpeq_epi8(a, q),
                            _mm256_or_si256(_mm256_cmpeq_epi8(b, e),
                                            _mm256_cmpeq_epi8(b, bs)));
}

/* b24_envelope_error_key's blocks, 64 bytes a test with AVX2: 1 when a key was
 * found, else 0 with *at where the blocks stopped. */
static __attribute__((target("avx2"))) int
error_key_blocks_avx2(const unsigned char *p, size_t n, size_t upto,
                      size_t *at)
{
    const __m256i q = _mm256_set1_epi8('"'), e = _mm256_set1_epi8('e'),
                  bs = _mm256_set1_epi8('\\');
    size_t i = 0;
    while (upto - i >= 65) {
        __m256i m0 = pair_mask256(p + i, q, e, bs);
        __m256i m1 = pair_mask256(p + i + 32, q, e, bs);
        if (!_mm256_testz_si256(_mm256_or_si256(m0, m1),
                                _mm256_or_si256(m0, m1))) {
            if (error_key_in_block(
                    p, n, i,
                    (unsigned long long)(unsigned)_mm256_movemask_epi8(m0) |
                        (unsigned long long)(unsigned)_mm256_movemask_epi8(m1)
                            << 32))
                return 1;
        }
        i += 64;
    }
    *at = i;
    return 0;
}
#endif

#if defined(__SSE2__)
/* The same 64 bytes a test with SSE2 (every x86-64). */
static int
error_key_blocks_sse2(const unsigned char *p, size_t n, size_t upto,
                      size_t *at)
{
    const __m128i q = _mm_set1_epi8('"'), e = _mm_set1_epi8('e'),
                  bs = _mm_set1_epi8('\\');
    size_t i = 0;
    while (upto - i >= 65) {
        __m128i m0 = pair_mask(p + i, q, e, bs);
        __m128i m1 = pair_mask(p + i + 16, q, e, bs);
        __m128i m2 = pair_mask(p + i + 32, q, e, bs);
        __m128i m3 = pair_mask(p + i + 48, q, e, bs);
        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(m0, m1),
                                           _mm_or_si128(m2, m3))) != 0) {
            if (error_key_in_block(
                    p, n, i,
                    (unsigned long long)(unsigned)_mm_movemask_epi8(m0) |
                        (unsigned long long)(unsigned)_mm_movemask_epi8(m1)
                            << 16 |
                        (unsigned long long)(unsigned)_mm_movemask_epi8(m2)
                            << 32 |
                        (unsigned long long)(unsigned)_mm_movemask_epi8(m3)
                            << 48))
                return 1;
        }
        i += 64;
    }
    *at = i;
    return 0;
}
#endif

int
b24_envelope_error_key(const char *text, size_t n, size_t upto, int simd)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;
#if defined(B24_PAIRS_AVX2)
    if (simd >= 2 && __builtin_cpu_supports("avx2")) {
        if (error_key_blocks_avx2(p, n, upto, &i))
            return 1;
    } else if (simd >= 1 && error_key_blocks_sse2(p, n, upto, &i)) {
        return 1;
    }
#elif defined(__SSE2__)
    if (simd >= 1 && error_key_blocks_sse2(p, n, upto, &i))
        return 1;
#else
    (void)simd;
#endif
    /* the rest (and every byte without SIMD) */
    for (; i < upto; i++) {
        const unsigned char *at = memchr(p + i, '"', upto - i);
        if (at == NULL)
            break;
        i = (size_t)(at - p);
        if (i + 1 < n && (p[i + 1] == 'e' || p[i + 1] == '\\') &&
            error_key_at(p, n, i))
            return 1;
    }
    return 0;
}

int
b24_envelope_tail(const char *text, size_t len, size_t *time_start,
                  size_t *time_end)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t first = 0, close = len, lo, j, k;
    while (first < len && json_ws(p[first]))
        first++;
    while (close > first && json_ws(p[close - 1]))
        close--;
    if (first >= close || p[first] != '{' || p[close - 1] != '}' ||
        close - first < 10) /* {"time":{}} at the least */
        return 0;
    close--; /* the last '}' */
    /* the last "time" in the window before it */
    lo = close - first > B24_ENVELOPE_TAIL_WINDOW
             ? close - B24_ENVELOPE_TAIL_WINDOW
             : first + 1;
    for (j = close - 6;; j--) {
        if (p[j] == '"' && memcmp(p + j, "\"time\"", 6) == 0)
            break;
        if (j == lo)
            return 0;
    }
    /* preceded by a comma, or the opening brace: the quote is not escaped,
     * so in valid JSON it opens a string, and "time" then ':' is a key */
    for (k = j; k > first && json_ws(p[k - 1]); k--)
        ;
    if (!(k == first + 1 || p[k - 1] == ','))
        return 0;
    /* ':' and the object, whose strict reading (classify's) must end at
     * the last '}': so the key is the top-level object's last member */
    for (k = j + 6; k < close && json_ws(p[k]); k++)
        ;
    if (k >= close || p[k] != ':')
        return 0;
    for (k++; k < close && json_ws(p[k]); k++)
        ;
    if (k >= close || p[k] != '{')
        return 0;
    if (b24_envelope_error_key(text, len, j, 2))
        return 0;
    *time_start = k;
    *time_end = close;
    return 1;
}

/* Read the body (BOM skipped): for a 2xx a skim of the structure (string
 * values unchecked: the decode checks them, b24_envelope_check) with the
 * members the rules read checked in full; any other status, or a
 * top-level key with an escape, the strict reader over all of it.  The
 * error is the strict reader's first one either way. */
static enum b24_status
read_body(struct b24_outcome *o, long status, const char *text, size_t len,
          struct b24_json_top *top, struct b24_error *perr)
{
    enum b24_status pst;
    size_t k;
    if (len == 0)
        return B24_E_JSON;
    top->skim = status >= 200 && status <= 299;
    pst = b24_json_read(text, len, NULL, NULL, top, perr);
    if (!top->skim)
        goto strict_done;
    if (pst == B24_E_LIMIT || (pst == B24_OK && top->escaped_key)) {
        /* the strict reader's first error may come earlier than the
         * skim's cap; an escaped key: the whole answer is parsed */
        top->skim = 0;
        pst = b24_json_read(text, len, NULL, NULL, top, perr);
        goto strict_done;
    }
    if (pst != B24_OK)
        return pst;
    for (k = 0; k < top->nnames; k++) {
        const struct b24_json_span *sp = &top->spans[k];
        /* `time` is read strictly by time_numbers (envelope_members) */
        if (sp->found && strcmp(top->names[k], "time") != 0 &&
            (pst = b24_json_validate(text + sp->start, sp->end - sp->start,
                                     perr)) != B24_OK)
            return pst;
    }
    o->answer_checked = 0;
    return B24_OK;
strict_done:
    o->answer_checked = pst == B24_OK;
    return pst;
}

/* The body (its BOM of `skip` bytes out) kept as o->answer: the storage
 * of `own` (may be NULL) or a copy. */
static enum b24_status
keep_answer(struct b24_outcome *o, const char *body, size_t len, size_t skip,
            struct b24_buf *own)
{
    if (own != NULL) {
        if (skip > 0) /* the BOM out, the NUL moved along */
            memmove(own->data, own->data + skip, len - skip + 1);
        o->answer = b24_buf_steal(own);
    } else {
        o->answer = b24_strndup(body + skip, len - skip);
    }
    if (o->answer == NULL)
        return B24_E_NOMEM;
    o->answer_len = len - skip;
    return B24_OK;
}

/* Classify `body`; `own` (may be NULL) is the buffer holding it, whose
 * storage becomes the answer instead of a copy.  `tail`: a 2xx body is
 * first tried with the tail read (b24_envelope_tail). */
static enum b24_status
classify(struct b24_outcome *o, long status, const char *body, size_t len,
         struct b24_buf *own, int tail)
{
    static const char *const names[] = {"error", "error_description",
                                        "time"};
    cJSON *tree = NULL;
    const cJSON *error = NULL, *desc = NULL;
    char fallback[64];
    struct b24_error perr;
    struct b24_json_top top;
    enum b24_status st, pst;
    size_t skip = 0;

    o->status = status;
    drop_answer(o);
    memset(&perr, 0, sizeof(perr));
    memset(&top, 0, sizeof(top));
    top.names = names;
    top.nnames = 3;
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
        skip = 3; /* a UTF-8 BOM (PHP files saved with one emit it) */
    if (tail && status >= 200 && status <= 299) {
        size_t ts, te;
        if (b24_envelope_tail(body + skip, len - skip, &ts, &te) &&
            time_numbers(o, body + skip, ts, te) == B24_OK) {
            /* an object with no key named error or error_description,
             * and its last member `time` read: what the skim would give
             * a sound body; the decode checks the rest */
            if (keep_answer(o, body, len, skip, own) != B24_OK ||
                (o->envelope = cJSON_CreateObject()) == NULL)
                return B24_E_NOMEM;
            return b24_outcome_set(o, B24_KIND_OK, NULL, NULL);
        }
    }
    pst = read_body(o, status, body + skip, len - skip, &top, &perr);
    if (pst == B24_E_NOMEM)
        return B24_E_NOMEM;
    if (pst == B24_OK) {
        if (keep_answer(o, body, len, skip, own) != B24_OK)
            return B24_E_NOMEM;
        if (top.is_object && (st = envelope_members(o, &top, names))) {
            if (st != B24_E_JSON)
                return st;
            /* the `time` member is not JSON, so neither is the body */
            drop_answer(o);
            pst = B24_E_JSON;
        }
        tree = o->envelope;
    }
    if (cJSON_IsObject(tree)) {
        error = b24_json_member(tree, "error");
        desc = b24_json_member(tree, "error_description");
        if (desc != NULL && cJSON_IsNull(desc))
            desc = NULL;
    }
    if (status >= 200 && status <= 299) {
        if (pst != B24_OK)
            return unexpected_answer(o, pst, &perr);
        if (!top.is_object) {
            /* every portal answer is an object ({"result": ...} or an
             * error); `42`, `null`, `[]` or `"x"` is a broken proxy or
             * server, never a success with no result */
            snprintf(fallback, sizeof(fallback),
                     "Unexpected answer: the body is not a JSON object "
                     "(HTTP %ld)", status);
            return b24_outcome_set(o, B24_KIND_ERROR,
                                   "ERROR_UNEXPECTED_ANSWER", fallback);
        }
        if (cJSON_IsObject(error)) {
            const cJSON *code =
                b24_json_member(error, "code");
            if (code != NULL && !cJSON_IsNull(code))
                return error_object(o, B24_KIND_FAILED, error, code);
        } else if (cJSON_IsString(error) && error->valuestring[0] != '\0') {
            const char *c = strcmp(error->valuestring, "0") == 0
                                ? "JSSDK_RESPONSE_ERROR"
                                : error->valuestring;
            if (desc == NULL)
                return b24_outcome_set(o, B24_KIND_FAILED, c,
                                       "Some error in response");
            if (cJSON_IsString(desc))
                return b24_outcome_set(o, B24_KIND_FAILED, c,
                                       desc->valuestring);
            {
                struct b24_buf m;
                b24_buf_init(&m, 0);
                st = append_value_text(&m, desc, 0);
                if (st == B24_OK)
                    st = b24_outcome_set(o, B24_KIND_FAILED, c,
                                         b24_buf_cstr(&m));
                b24_buf_free(&m);
                return st ? B24_E_NOMEM : B24_OK;
            }
        }
        return b24_outcome_set(o, B24_KIND_OK, NULL, NULL);
    }

    /* B: non-2xx. */
    if (cJSON_IsObject(error)) {
        const cJSON *code = b24_json_member(error, "code");
        if (code != NULL && !cJSON_IsNull(code)) {
            st = error_object(o, B24_KIND_ERROR, error, code);
            return st ? st : force_auth_status(o);
        }
    }
    {
        const char *cls =
            (status >= 400 && status <= 499)
                ? "ERR_BAD_REQUEST"
                : (status >= 500 && status <= 599) ? "ERR_BAD_RESPONSE"
                                                   : "JSSDK_AXIOS_ERROR";
        const char *code = cls;
        int use_desc = 0;
        if (cJSON_IsString(error) && error->valuestring[0] != '\0') {
            if (strcmp(error->valuestring, "0") != 0)
                code = error->valuestring;
            use_desc = desc != NULL;
        }
        if (use_desc && !cJSON_IsString(desc)) {
            struct b24_buf m;
            b24_buf_init(&m, 0);
            st = append_value_text(&m, desc, 0);
            if (st == B24_OK)
                st = b24_outcome_set(o, B24_KIND_ERROR, code,
                                     b24_buf_cstr(&m));
            b24_buf_free(&m);
            if (st)
                return B24_E_NOMEM;
        } else {
            /* formatted here only: a 2xx answer never needs it */
            if (!use_desc)
                snprintf(fallback, sizeof(fallback),
                         "Request failed with status code %ld", status);
            st = b24_outcome_set(o, B24_KIND_ERROR, code,
                                 use_desc ? desc->valuestring : fallback);
            if (st)
                return st;
        }
        return force_auth_status(o);
    }
}

enum b24_status
b24_envelope_classify(struct b24_outcome *o, long status, const char *body,
                      size_t len)
{
    return classify(o, status, body, len, NULL, 1);
}

enum b24_status
b24_envelope_classify_skim(struct b24_outcome *o, long status,
                           const char *body, size_t len)
{
    return classify(o, status, body, len, NULL, 0);
}

enum b24_status
b24_envelope_classify_buf(struct b24_outcome *o, long status,
                          struct b24_buf *body)
{
    return classify(o, status, b24_buf_cstr(body), body->len,
                    body->data != NULL ? body : NULL, 1);
}

enum b24_status
b24_envelope_network_error(struct b24_outcome *o)
{
    o->status = 0;
    return b24_outcome_set(o, B24_KIND_ERROR, "NETWORK_ERROR",
                           "Network connection failed");
}

enum b24_status
b24_envelope_timeout(struct b24_outcome *o)
{
    o->status = 408;
    return b24_outcome_set(o, B24_KIND_ERROR, "REQUEST_TIMEOUT",
                           "Request timeout exceeded");
}
