/* b24_redact.c - secret scrubbing and the §11.2 query scrub. */
#include "b24_redact.h"

#include <string.h>

const char *const b24_redact_default_keys[] = {
    "auth",          "password",      "token",
    "secret",        "access_token",  "refresh_token",
    "client_secret", "application_token", "sessid",
    "key",           "signature",     NULL};

static int
ieq(const char *a, const char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        int x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return 0;
    }
    return 1;
}

/* Length of the key matched at text[pos] followed by '=', or 0. */
static size_t
match_key(const char *text, size_t len, size_t pos, const char *const *extra,
          size_t nextra)
{
    size_t k;
    for (k = 0; b24_redact_default_keys[k] != NULL; k++) {
        const char *key = b24_redact_default_keys[k];
        size_t kl = strlen(key);
        if (pos + kl < len && text[pos + kl] == '=' &&
            ieq(text + pos, key, kl))
            return kl;
    }
    for (k = 0; k < nextra; k++) {
        size_t kl = strlen(extra[k]);
        if (kl > 0 && pos + kl < len && text[pos + kl] == '=' &&
            ieq(text + pos, extra[k], kl))
            return kl;
    }
    return 0;
}

enum b24_status
b24_redact_scrub(struct b24_buf *out, const char *text, size_t len,
                 const char *const *extra, size_t nextra)
{
    size_t i = 0, copied = 0;
    enum b24_status st;
    if (memchr(text, '=', len) == NULL)
        return b24_buf_append(out, text, len);
    while (i < len) {
        size_t start;
        size_t kl;
        if (i == 0 && (kl = match_key(text, len, 0, extra, nextra)) > 0) {
            start = 0;
        } else if ((text[i] == '?' || text[i] == '&') &&
                   (kl = match_key(text, len, i + 1, extra, nextra)) > 0) {
            start = i + 1;
        } else {
            i++;
            continue;
        }
        /* Copy through "KEY=", then the placeholder, skip [^&#;]*. */
        if ((st = b24_buf_append(out, text + copied,
                                 start + kl + 1 - copied)) ||
            (st = b24_buf_appends(out, B24_REDACTED)))
            return st;
        i = start + kl + 1;
        while (i < len && text[i] != '&' && text[i] != '#' && text[i] != ';')
            i++;
        copied = i;
    }
    return b24_buf_append(out, text + copied, len - copied);
}

enum b24_status
b24_redact_secret(struct b24_buf *out, const char *text, size_t len,
                  const char *secret, size_t secret_len)
{
    size_t i = 0, copied = 0;
    enum b24_status st;
    if (secret_len == 0 || secret_len > len)
        return b24_buf_append(out, text, len);
    while (i + secret_len <= len) {
        if (text[i] == secret[0] &&
            memcmp(text + i, secret, secret_len) == 0) {
            if ((st = b24_buf_append(out, text + copied, i - copied)) ||
                (st = b24_buf_appends(out, B24_REDACTED)))
                return st;
            i += secret_len;
            copied = i;
        } else {
            i++;
        }
    }
    return b24_buf_append(out, text + copied, len - copied);
}

/* Length of a path separator at text[i] ("/", JSON's "\/", or "%2F"), or 0. */
static size_t
sep_at(const char *text, size_t len, size_t i)
{
    if (i < len && text[i] == '/')
        return 1;
    if (i + 1 < len && text[i] == '\\' && text[i + 1] == '/')
        return 2;
    if (i + 2 < len && text[i] == '%' && text[i + 1] == '2' &&
        (text[i + 2] == 'F' || text[i + 2] == 'f'))
        return 3;
    return 0;
}

static int
token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* At text[i], a webhook path "<sep>rest[<sep>api]<sep><digits><sep>": the
 * offset of the token that follows, or 0. */
static size_t
webhook_token_at(const char *text, size_t len, size_t i)
{
    size_t n = sep_at(text, len, i), d;
    if (n == 0 || i + n + 4 > len || !ieq(text + i + n, "rest", 4))
        return 0;
    i += n + 4;
    if ((n = sep_at(text, len, i)) == 0)
        return 0;
    if (i + n + 3 <= len && ieq(text + i + n, "api", 3) &&
        sep_at(text, len, i + n + 3) > 0) {
        i += n + 3;
        n = sep_at(text, len, i);
    }
    i += n;
    for (d = i; d < len && text[d] >= '0' && text[d] <= '9'; d++)
        ;
    if (d == i || (n = sep_at(text, len, d)) == 0)
        return 0;
    d += n;
    return d < len && token_char(text[d]) ? d : 0;
}

static enum b24_status
redact_webhooks(struct b24_buf *out, const char *text, size_t len)
{
    size_t i = 0, copied = 0;
    enum b24_status st;
    while (i < len) {
        size_t at = i, tok;
        while (at < len && text[at] != 'r' && text[at] != 'R')
            at++;
        if (at >= len)
            break;
        /* the separator before "rest" ends 1, 2 or 3 bytes earlier */
        tok = 0;
        if (at >= 1 && (tok = webhook_token_at(text, len, at - 1)) == 0 &&
            at >= 2 && (tok = webhook_token_at(text, len, at - 2)) == 0 &&
            at >= 3)
            tok = webhook_token_at(text, len, at - 3);
        if (tok == 0) {
            i = at + 1;
            continue;
        }
        if ((st = b24_buf_append(out, text + copied, tok - copied)) ||
            (st = b24_buf_appends(out, B24_REDACTED)))
            return st;
        i = tok;
        while (i < len && token_char(text[i]))
            i++;
        copied = i;
    }
    return b24_buf_append(out, text + copied, len - copied);
}

enum b24_status
b24_redact_text(struct b24_buf *out, const char *text, size_t len,
                const char *secret, size_t secret_len)
{
    struct b24_buf tmp;
    enum b24_status st;
    if (secret_len == 0 || secret_len > len ||
        memmem(text, len, secret, secret_len) == NULL)
        return redact_webhooks(out, text, len);
    b24_buf_init(&tmp, 0);
    st = b24_redact_secret(&tmp, text, len, secret, secret_len);
    if (st == B24_OK)
        st = redact_webhooks(out, b24_buf_cstr(&tmp), tmp.len);
    b24_buf_free(&tmp);
    return st;
}
