/* fuzz_redact.c - libFuzzer target: the §11.2 scrub and the secret scrub.
 *
 * Input: "<secret>\0<text>" (no NUL: the whole input is the text and the
 * secret is a fixed one).  Invariants: no crash; the scrub is idempotent;
 * text without '=' is unchanged; after the secret scrub (and after
 * b24_redact_text) the secret no longer occurs, unless the placeholder
 * itself can form it; b24_redact_text is idempotent then too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b24_redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
shares_placeholder_bytes(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (strchr(B24_REDACTED, s[i]) != NULL && s[i] != '\0')
            return 1;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nul = memchr(in, '\0', size);
    const char *secret = "s3cr3t-w3bh00k", *text = in;
    size_t slen = strlen(secret), tlen = size;
    static const char *const extra[] = {"cmd", "Ключ", ""};
    struct b24_buf a, b;

    if (nul != NULL) {
        secret = in;
        slen = (size_t)(nul - in);
        text = nul + 1;
        tlen = size - slen - 1;
    }
    b24_buf_init(&a, 0);
    b24_buf_init(&b, 0);
    if (b24_redact_scrub(&a, text, tlen, extra, 3) != B24_OK)
        abort();
    if (memchr(text, '=', tlen) == NULL &&
        (a.len != tlen || memcmp(a.data ? a.data : "", text, tlen) != 0))
        abort();
    if (b24_redact_scrub(&b, b24_buf_cstr(&a), a.len, extra, 3) != B24_OK)
        abort();
    if (a.len != b.len || memcmp(b24_buf_cstr(&a), b24_buf_cstr(&b), a.len))
        abort(); /* idempotent */
    b24_buf_reset(&a);
    if (b24_redact_secret(&a, text, tlen, secret, slen) != B24_OK)
        abort();
    if (slen > 0 && !shares_placeholder_bytes(secret, slen) &&
        memmem(b24_buf_cstr(&a), a.len, secret, slen) != NULL)
        abort();
    b24_buf_reset(&a);
    b24_buf_reset(&b);
    if (b24_redact_text(&a, text, tlen, secret, slen) != B24_OK)
        abort();
    if (slen > 0 && !shares_placeholder_bytes(secret, slen)) {
        if (memmem(b24_buf_cstr(&a), a.len, secret, slen) != NULL)
            abort();
        if (b24_redact_text(&b, b24_buf_cstr(&a), a.len, secret, slen) !=
                B24_OK ||
            a.len != b.len ||
            memcmp(b24_buf_cstr(&a), b24_buf_cstr(&b), a.len) != 0)
            abort(); /* idempotent */
    }
    b24_buf_free(&a);
    b24_buf_free(&b);
    return 0;
}
