/* b24_envelope.c - answer parsing and outcome classification (§4.4). */
#include "b24_envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b24_buf.h"

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
    cJSON_Delete(o->answer);
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

static int
is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---- strict JSON validation -------------------------------------------- */

struct jv {
    const unsigned char *p;
    size_t n, i;
    struct b24_error *err;
};

static enum b24_status
jv_fail(struct jv *v, enum b24_status st, const char *what)
{
    if (v->err != NULL)
        v->err->offset = v->i;
    return b24_error_set(v->err, st, "%s at byte %zu", what, v->i);
}

static void
jv_ws(struct jv *v)
{
    while (v->i < v->n && is_ws(v->p[v->i]))
        v->i++;
}

static int
jv_hex4(struct jv *v, size_t at, unsigned *out)
{
    unsigned x = 0;
    size_t k;
    if (v->n - at < 4)
        return 0;
    for (k = 0; k < 4; k++) {
        unsigned char c = v->p[at + k];
        x <<= 4;
        if (c >= '0' && c <= '9')
            x |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            x |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    *out = x;
    return 1;
}

/* Length of the well-formed UTF-8 sequence at v->i (Unicode Table 3-7),
 * 0 when ill-formed. */
static size_t
jv_utf8(const struct jv *v)
{
    const unsigned char *s = v->p + v->i;
    size_t left = v->n - v->i;
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t k, len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no encoded surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
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
    for (k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
    return len;
}

static enum b24_status
jv_string(struct jv *v)
{
    size_t start = ++v->i; /* past the opening quote */
    while (v->i < v->n) {
        unsigned char c = v->p[v->i];
        if (v->i - start > B24_JSON_MAX_STRING)
            return jv_fail(v, B24_E_LIMIT, "JSON string longer than the cap");
        if (c == '"') {
            v->i++;
            return B24_OK;
        }
        if (c < 0x20)
            return jv_fail(v, B24_E_JSON,
                           "invalid JSON (control character in a string)");
        if (c == '\\') {
            unsigned u, u2;
            if (v->i + 1 >= v->n)
                break;
            c = v->p[v->i + 1];
            if (c == 'u') {
                if (!jv_hex4(v, v->i + 2, &u))
                    return jv_fail(v, B24_E_JSON, "invalid JSON (bad \\u escape)");
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return jv_fail(v, B24_E_JSON,
                                   "invalid JSON (lone surrogate escape)");
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (v->n - v->i < 12 || v->p[v->i + 6] != '\\' ||
                        v->p[v->i + 7] != 'u' || !jv_hex4(v, v->i + 8, &u2) ||
                        u2 < 0xDC00 || u2 > 0xDFFF)
                        return jv_fail(v, B24_E_JSON,
                                       "invalid JSON (lone surrogate escape)");
                    v->i += 12;
                } else {
                    v->i += 6;
                }
                continue;
            }
            if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' &&
                c != 'n' && c != 'r' && c != 't')
                return jv_fail(v, B24_E_JSON, "invalid JSON (bad escape)");
            v->i += 2;
            continue;
        }
        {
            size_t k = jv_utf8(v);
            if (k == 0)
                return jv_fail(v, B24_E_JSON,
                               "invalid JSON (string is not valid UTF-8)");
            v->i += k;
        }
    }
    return jv_fail(v, B24_E_JSON, "invalid JSON (unterminated string)");
}

static int
jv_digit(const struct jv *v)
{
    return v->i < v->n && v->p[v->i] >= '0' && v->p[v->i] <= '9';
}

static enum b24_status
jv_number(struct jv *v)
{
    if (v->p[v->i] == '-')
        v->i++;
    if (!jv_digit(v))
        return jv_fail(v, B24_E_JSON, "invalid JSON (bad number)");
    if (v->p[v->i] == '0') {
        v->i++;
        if (jv_digit(v))
            return jv_fail(v, B24_E_JSON, "invalid JSON (leading zero)");
    } else {
        while (jv_digit(v))
            v->i++;
    }
    if (v->i < v->n && v->p[v->i] == '.') {
        v->i++;
        if (!jv_digit(v))
            return jv_fail(v, B24_E_JSON, "invalid JSON (bad number)");
        while (jv_digit(v))
            v->i++;
    }
    if (v->i < v->n && (v->p[v->i] == 'e' || v->p[v->i] == 'E')) {
        v->i++;
        if (v->i < v->n && (v->p[v->i] == '+' || v->p[v->i] == '-'))
            v->i++;
        if (!jv_digit(v))
            return jv_fail(v, B24_E_JSON, "invalid JSON (bad number)");
        while (jv_digit(v))
            v->i++;
    }
    return B24_OK;
}

static int
jv_word(struct jv *v, const char *w, size_t wl)
{
    if (v->n - v->i < wl || memcmp(v->p + v->i, w, wl) != 0)
        return 0;
    v->i += wl;
    return 1;
}

enum b24_status
b24_json_validate(const char *text, size_t len, struct b24_error *err)
{
    /* stack[d] is '[' or '{' for each open container. */
    char stack[B24_JSON_MAX_DEPTH];
    int depth = 0;
    struct jv v;
    enum b24_status st;

    v.p = (const unsigned char *)text;
    v.n = len;
    v.i = 0;
    v.err = err;
    jv_ws(&v);
    for (;;) {
        /* A value is expected at v.i. */
        unsigned char c;
        if (v.i >= v.n)
            return jv_fail(&v, B24_E_JSON, "invalid JSON (unexpected end)");
        c = v.p[v.i];
        if (c == '[' || c == '{') {
            if (depth >= B24_JSON_MAX_DEPTH)
                return jv_fail(&v, B24_E_LIMIT,
                               "JSON nesting deeper than 1000 levels");
            stack[depth++] = (char)c;
            v.i++;
            jv_ws(&v);
            if (v.i < v.n && v.p[v.i] == (c == '[' ? ']' : '}')) {
                v.i++;
                depth--;
                goto after_value;
            }
            if (c == '[')
                continue;
            goto member;
        }
        if (c == '"')
            st = jv_string(&v);
        else if (c == '-' || (c >= '0' && c <= '9'))
            st = jv_number(&v);
        else if (jv_word(&v, "true", 4) || jv_word(&v, "false", 5) ||
                 jv_word(&v, "null", 4))
            st = B24_OK;
        else
            st = jv_fail(&v, B24_E_JSON, "invalid JSON");
        if (st != B24_OK)
            return st;
    after_value:
        for (;;) {
            jv_ws(&v);
            if (depth == 0) {
                if (v.i < v.n)
                    return jv_fail(&v, B24_E_JSON, "invalid JSON (extra data)");
                return B24_OK;
            }
            if (v.i >= v.n)
                return jv_fail(&v, B24_E_JSON, "invalid JSON (unexpected end)");
            c = v.p[v.i];
            if (c == ',') {
                v.i++;
                jv_ws(&v);
                if (stack[depth - 1] == '[')
                    break; /* next array element */
                goto member;
            }
            if (c == (stack[depth - 1] == '[' ? ']' : '}')) {
                v.i++;
                depth--;
                continue;
            }
            return jv_fail(&v, B24_E_JSON, "invalid JSON");
        }
        continue;
    member:
        /* An object member "key": value is expected at v.i. */
        if (v.i >= v.n || v.p[v.i] != '"')
            return jv_fail(&v, B24_E_JSON, "invalid JSON (expected a key)");
        if ((st = jv_string(&v)) != B24_OK)
            return st;
        jv_ws(&v);
        if (v.i >= v.n || v.p[v.i] != ':')
            return jv_fail(&v, B24_E_JSON, "invalid JSON (expected ':')");
        v.i++;
        jv_ws(&v);
    }
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
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(error, "validation");
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
                                  ? cJSON_GetObjectItemCaseSensitive(
                                        row, "message")
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

enum b24_status
b24_envelope_classify(struct b24_outcome *o, long status, const char *body,
                      size_t len)
{
    cJSON *tree = NULL;
    const cJSON *error = NULL, *desc = NULL;
    char fallback[64];
    struct b24_error perr;
    enum b24_status st, pst;

    o->status = status;
    cJSON_Delete(o->answer);
    o->answer = NULL;
    memset(&perr, 0, sizeof(perr));
    pst = b24_json_parse(body, len, &tree, &perr);
    if (pst == B24_OK)
        o->answer = tree; /* owned by the outcome */
    else if (pst == B24_E_NOMEM)
        return B24_E_NOMEM;
    if (cJSON_IsObject(tree)) {
        error = cJSON_GetObjectItemCaseSensitive(tree, "error");
        desc = cJSON_GetObjectItemCaseSensitive(tree, "error_description");
        if (desc != NULL && cJSON_IsNull(desc))
            desc = NULL;
    }
    snprintf(fallback, sizeof(fallback), "Request failed with status code %ld",
             status);

    if (status >= 200 && status <= 299) {
        if (tree == NULL) {
            char m[sizeof(perr.message) + 32];
            if (pst == B24_E_LIMIT)
                snprintf(m, sizeof(m), "Unexpected answer: %s",
                         perr.message);
            else
                snprintf(m, sizeof(m),
                         "Unexpected answer: the body is not JSON (HTTP %ld)",
                         status);
            return b24_outcome_set(o, B24_KIND_ERROR,
                                   "ERROR_UNEXPECTED_ANSWER", m);
        }
        if (cJSON_IsObject(error)) {
            const cJSON *code =
                cJSON_GetObjectItemCaseSensitive(error, "code");
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
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
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
            st = b24_outcome_set(o, B24_KIND_ERROR, code,
                                 use_desc ? desc->valuestring : fallback);
            if (st)
                return st;
        }
        return force_auth_status(o);
    }
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
