/* fuzz_json.c - libFuzzer target: the strict reader (b24_json.h), its
 * callbacks, and cJSON agree.
 *
 * Invariants: b24_json_parse and b24_json_sax_parse never crash and
 * return the same status and error offset; a text that validates parses
 * with cJSON (cJSON never fails on a validated text) and the printed tree
 * re-parses to the same text; the callbacks' events, written back as
 * JSON, are valid JSON whose events write back to the same text (a fixed
 * point); the top-level member spans are valid JSON texts, and a skim
 * (b24_json_top.skim) of a valid text finds the same ones; an error
 * offset lies inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b24_buf.h"
#include "b24_envelope.h"
#include "b24_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct w {
    struct b24_buf out, tmp;
    unsigned char first[B24_JSON_MAX_DEPTH + 1];
    int depth, after_key;
};

static int
w_sep(struct w *x)
{
    if (x->after_key) {
        x->after_key = 0;
        return 0;
    }
    if (x->depth > 0 && !x->first[x->depth] &&
        b24_buf_appendc(&x->out, ',') != B24_OK)
        return -1;
    x->first[x->depth] = 0;
    return 0;
}

static int
w_str(struct w *x, const char *s, size_t n)
{
    size_t i;
    if (b24_buf_appendc(&x->out, '"'))
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\') {
            if (b24_buf_printf(&x->out, "\\u%04x", c))
                return -1;
        } else if (b24_buf_appendc(&x->out, (char)c)) {
            return -1;
        }
    }
    return b24_buf_appendc(&x->out, '"') ? -1 : 0;
}

static int
w_open(struct w *x, char c)
{
    if (w_sep(x) || b24_buf_appendc(&x->out, c))
        return -1;
    x->first[++x->depth] = 1;
    return 0;
}

static int w_sobj(void *p) { return w_open(p, '{'); }
static int w_sarr(void *p) { return w_open(p, '['); }
static int
w_close(void *p, char c)
{
    struct w *x = p;
    x->depth--;
    return b24_buf_appendc(&x->out, c) ? -1 : 0;
}
static int w_eobj(void *p) { return w_close(p, '}'); }
static int w_earr(void *p) { return w_close(p, ']'); }
/* The string as UTF-8 into x->tmp, then written back escaped. */
static int
w_text(struct w *x, const struct b24_json_str *s)
{
    size_t i;
    if (s->cp == NULL) {
        if (s->escaped || s->len != s->raw_len)
            abort(); /* the fast path is ASCII without escapes */
        for (i = 0; i < s->raw_len; i++)
            if ((unsigned char)s->raw[i] >= 0x80)
                abort();
    } else {
        unsigned m = 0;
        for (i = 0; i < s->len; i++) {
            if (s->cp[i] > 0x10FFFF ||
                (s->cp[i] >= 0xD800 && s->cp[i] <= 0xDFFF))
                abort(); /* not a scalar value */
            if (s->cp[i] >= 0x80 && s->cp[i] > m)
                m = s->cp[i];
        }
        if (m > s->maxchar || (s->maxchar >= 0x80 && m != s->maxchar))
            abort(); /* maxchar lies */
    }
    b24_buf_reset(&x->tmp);
    if (b24_json_str_utf8(s, &x->tmp) != B24_OK)
        return -1;
    return w_str(x, x->tmp.len ? b24_buf_cstr(&x->tmp) : "", x->tmp.len);
}
static int
w_key(void *p, const struct b24_json_str *s)
{
    struct w *x = p;
    if (w_sep(x) || w_text(x, s) || b24_buf_appendc(&x->out, ':'))
        return -1;
    x->after_key = 1;
    return 0;
}
static int
w_string(void *p, const struct b24_json_str *s)
{
    return w_sep(p) || w_text(p, s) ? -1 : 0;
}
static int
w_number(void *p, const char *t, size_t n, int is_int)
{
    struct w *x = p;
    if (is_int && (memchr(t, '.', n) || memchr(t, 'e', n) || memchr(t, 'E', n)))
        abort();
    return w_sep(x) || b24_buf_append(&x->out, t, n) ? -1 : 0;
}
static int
w_bool(void *p, int v)
{
    struct w *x = p;
    return w_sep(x) || b24_buf_appends(&x->out, v ? "true" : "false") ? -1 : 0;
}
static int
w_null(void *p)
{
    struct w *x = p;
    return w_sep(x) || b24_buf_appends(&x->out, "null") ? -1 : 0;
}

static const struct b24_json_cb wcb = {w_sobj,   w_key,    w_eobj,
                                       w_sarr,   w_earr,   w_string,
                                       w_number, w_bool,   w_null, NULL};

static enum b24_status
write_back(const char *text, size_t len, struct w *x, struct b24_error *err)
{
    enum b24_status st;
    memset(x, 0, sizeof(*x));
    b24_buf_init(&x->out, 0);
    b24_buf_init(&x->tmp, 0);
    st = b24_json_sax_parse(text, len, &wcb, x, err);
    b24_buf_free(&x->tmp);
    return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"a", "error", "time"};
    struct b24_error err, serr;
    struct b24_json_top top;
    struct w x, y;
    cJSON *tree = NULL, *again = NULL;
    enum b24_status st, sst, vst;
    char *txt;
    size_t k;

    memset(&err, 0, sizeof(err));
    memset(&serr, 0, sizeof(serr));
    st = b24_json_parse((const char *)data, size, &tree, &err);
    sst = write_back((const char *)data, size, &x, &serr);
    if (st != sst || (st != B24_OK && err.offset != serr.offset))
        abort(); /* the reader with callbacks and the validator differ */
    if (st != B24_OK) {
        b24_buf_free(&x.out);
        if (st != B24_E_JSON && st != B24_E_LIMIT)
            abort(); /* NOMEM: cJSON refused a validated text */
        if (err.offset > size)
            abort();
        if (strchr(err.message, '\n') != NULL)
            abort();
        return 0;
    }
    /* the written-back events are JSON and a fixed point */
    if (write_back(b24_buf_cstr(&x.out), x.out.len, &y, NULL) != B24_OK)
        abort();
    if (x.out.len != y.out.len ||
        memcmp(b24_buf_cstr(&x.out), b24_buf_cstr(&y.out), x.out.len) != 0)
        abort();
    b24_buf_free(&x.out);
    b24_buf_free(&y.out);
    vst = b24_json_validate((const char *)data, size, NULL);
    if (vst != B24_OK && !(size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0))
        abort();
    if (vst == B24_OK) {
        memset(&top, 0, sizeof(top));
        top.names = names;
        top.nnames = 3;
        if (b24_json_read((const char *)data, size, NULL, NULL, &top, NULL) !=
            B24_OK)
            abort();
        {
            /* a skim accepts every strict text and finds the same
             * members (b24_envelope_classify's 2xx read) */
            struct b24_json_top sk;
            memset(&sk, 0, sizeof(sk));
            sk.names = names;
            sk.nnames = 3;
            sk.skim = 1;
            if (b24_json_read((const char *)data, size, NULL, NULL, &sk,
                              NULL) != B24_OK ||
                sk.is_object != top.is_object ||
                sk.escaped_key != top.escaped_key)
                abort();
            for (k = 0; k < 3; k++)
                if (sk.spans[k].found != top.spans[k].found ||
                    sk.spans[k].start != top.spans[k].start ||
                    sk.spans[k].end != top.spans[k].end)
                    abort();
        }
        for (k = 0; k < 3; k++) {
            const struct b24_json_span *sp = &top.spans[k];
            if (!sp->found)
                continue;
            if (!top.is_object || sp->end > size || sp->start >= sp->end ||
                b24_json_validate((const char *)data + sp->start,
                                  sp->end - sp->start, NULL) != B24_OK)
                abort();
        }
    }
    txt = cJSON_PrintUnformatted(tree);
    if (txt == NULL)
        abort();
    /* The printed text re-parses and prints to the same text (a fixed
     * point; cJSON_Compare cannot be used: it looks keys up by name, so
     * duplicate keys compare unequal -- found by this target). */
    if (b24_json_parse(txt, strlen(txt), &again, NULL) != B24_OK)
        abort();
    {
        char *txt2 = cJSON_PrintUnformatted(again);
        if (txt2 == NULL || strcmp(txt, txt2) != 0)
            abort();
        cJSON_free(txt2);
    }
    cJSON_free(txt);
    cJSON_Delete(again);
    cJSON_Delete(tree);
    return 0;
}
