/* fuzz_url.c - libFuzzer target: webhook URL validation, origin parsing,
 * the two percent-encoders and the call-URL builder.
 *
 * Invariants: no crash; a parsed webhook has a numeric user id and an
 * origin that parses back to an equal origin; error messages never echo
 * the input; encoders emit only their allowed alphabet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b24_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_alphabet(const struct b24_buf *b, const char *extra)
{
    size_t i;
    for (i = 0; i < b->len; i++) {
        char c = b->data[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '%' || strchr(extra, c) != NULL)
            continue;
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct b24_webhook wh = {NULL, NULL, NULL};
    struct b24_url_origin a = {NULL, NULL, -1}, b = {NULL, NULL, -1};
    struct b24_error err;
    struct b24_buf buf;
    enum b24_status st;

    memset(&err, 0, sizeof(err));
    st = b24_url_parse_webhook(s, size, &wh, &err);
    if (st == B24_OK) {
        const char *p;
        if (wh.origin == NULL || wh.user_id == NULL || wh.secret == NULL)
            abort();
        for (p = wh.user_id; *p; p++)
            if (*p < '0' || *p > '9')
                abort();
        if (strncmp(wh.origin, "https://", 8) != 0)
            abort();
        if (b24_url_origin_parse(wh.origin, strlen(wh.origin), &a) != B24_OK)
            abort();
        b24_buf_init(&buf, 0);
        if (b24_url_origin_format(&a, &buf) != B24_OK)
            abort();
        if (b24_url_origin_parse(buf.data, buf.len, &b) != B24_OK ||
            !b24_url_origin_equal(&a, &b))
            abort();
        b24_buf_free(&buf);
        b24_url_origin_clear(&a);
        b24_url_origin_clear(&b);
    } else if (st == B24_E_USAGE) {
        if (size >= 8 && memmem(err.message, strlen(err.message), s, size) != NULL)
            abort();
    } else if (st != B24_E_NOMEM) {
        abort();
    }
    b24_webhook_clear(&wh);

    if (b24_url_origin_parse(s, size, &a) == B24_OK) {
        if (!b24_url_origin_equal(&a, &a))
            abort();
        b24_buf_init(&buf, 0);
        (void)b24_url_origin_format(&a, &buf);
        b24_buf_free(&buf);
    }
    b24_url_origin_clear(&a);

    b24_buf_init(&buf, 0);
    if (b24_url_encode_component(&buf, s, size) != B24_OK)
        abort();
    check_alphabet(&buf, "-_.!~*'()");
    b24_buf_free(&buf);
    b24_buf_init(&buf, 0);
    if (b24_url_encode_form(&buf, s, size) != B24_OK)
        abort();
    check_alphabet(&buf, "*-._+");
    b24_buf_free(&buf);
    b24_buf_init(&buf, 0);
    if (b24_url_build_call(&buf, "https://x.bitrix24.com/rest/1/secret", s,
                           size, "rid", "0.1", "b24hook") != B24_OK)
        abort();
    b24_buf_free(&buf);
    (void)b24_url_is_task_method(s, size);
    return 0;
}
