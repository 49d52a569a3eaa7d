/* b24_url.c - webhook URL validation and call URL building. */
#include "b24_url.h"

#include <stdlib.h>
#include <string.h>

static const char HEX[] = "0123456789ABCDEF";

static int
lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int
is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

void
b24_webhook_clear(struct b24_webhook *wh)
{
    free(wh->origin);
    free(wh->user_id);
    free(wh->secret);
    wh->origin = wh->user_id = wh->secret = NULL;
}

void
b24_url_origin_clear(struct b24_url_origin *o)
{
    free(o->scheme);
    free(o->host);
    o->scheme = o->host = NULL;
    o->port = -1;
}

static int
default_port(const char *scheme)
{
    if (strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0)
        return 443;
    if (strcmp(scheme, "http") == 0 || strcmp(scheme, "ws") == 0)
        return 80;
    if (strcmp(scheme, "ftp") == 0)
        return 21;
    return -1;
}

static int
is_special(const char *scheme)
{
    return strcmp(scheme, "https") == 0 || strcmp(scheme, "http") == 0 ||
           strcmp(scheme, "ws") == 0 || strcmp(scheme, "wss") == 0 ||
           strcmp(scheme, "ftp") == 0 || strcmp(scheme, "file") == 0;
}

/* Parse "scheme:" at the start of s[0..n).  Returns the length of the
 * scheme (without ':'), 0 when there is none. */
static size_t
scheme_len(const char *s, size_t n)
{
    size_t i;
    if (n == 0 || !is_alpha((unsigned char)s[0]))
        return 0;
    for (i = 1; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == ':')
            return i;
        if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.'))
            return 0;
    }
    return 0;
}

/* Host parsing after WHATWG, simplified: percent-decoded, ASCII lower-cased,
 * forbidden code points rejected, IPv6 literal kept in brackets.  Non-ASCII
 * hosts are kept as UTF-8 (no IDNA mapping; libcurl handles IDN). */
static enum b24_status
parse_host(const char *h, size_t n, struct b24_buf *out)
{
    size_t i;
    if (n == 0)
        return B24_E_USAGE;
    if (h[0] == '[') {
        if (n < 3 || h[n - 1] != ']')
            return B24_E_USAGE;
        for (i = 1; i + 1 < n; i++) {
            int c = (unsigned char)h[i];
            if (!(hexval(c) >= 0 || c == ':' || c == '.'))
                return B24_E_USAGE;
        }
        for (i = 0; i < n; i++)
            if (b24_buf_appendc(out, (char)lower((unsigned char)h[i])))
                return B24_E_NOMEM;
        return B24_OK;
    }
    for (i = 0; i < n; i++) {
        int c = (unsigned char)h[i];
        if (c == '%' && i + 2 < n && hexval((unsigned char)h[i + 1]) >= 0 &&
            hexval((unsigned char)h[i + 2]) >= 0) {
            c = hexval((unsigned char)h[i + 1]) * 16 +
                hexval((unsigned char)h[i + 2]);
            i += 2;
            if (c == '%')
                return B24_E_USAGE;
        }
        if (c <= 0x20 || c == 0x7f || strchr("#/:<>?@[\\]^|%", c) != NULL)
            return B24_E_USAGE;
        if (b24_buf_appendc(out, (char)lower(c)))
            return B24_E_NOMEM;
    }
    return out->len ? B24_OK : B24_E_USAGE;
}

/* Split authority `a[0..n)` into host and port (userinfo dropped). */
static enum b24_status
parse_authority(const char *a, size_t n, struct b24_buf *host, int *port)
{
    size_t i, hs = 0, he;
    long p = -1;
    for (i = n; i > 0; i--) {
        if (a[i - 1] == '@') {
            hs = i;
            break;
        }
    }
    he = n;
    if (hs < n && a[hs] == '[') {
        const char *rb = memchr(a + hs, ']', n - hs);
        if (rb == NULL)
            return B24_E_USAGE;
        he = (size_t)(rb - a) + 1;
        if (he < n && a[he] != ':')
            return B24_E_USAGE;
    } else {
        const char *colon = memchr(a + hs, ':', n - hs);
        if (colon != NULL)
            he = (size_t)(colon - a);
    }
    if (he < n) { /* a[he] == ':' */
        size_t j;
        if (he + 1 < n)
            p = 0;
        for (j = he + 1; j < n; j++) {
            if (!is_digit((unsigned char)a[j]))
                return B24_E_USAGE;
            p = p * 10 + (a[j] - '0');
            if (p > 65535)
                return B24_E_USAGE;
        }
    }
    *port = (int)p;
    return parse_host(a + hs, he - hs, host);
}

static int
is_dot(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') ||
           (n == 3 && s[0] == '%' && s[1] == '2' && lower(s[2]) == 'e');
}

static int
is_dotdot(const char *s, size_t n)
{
    size_t i = 0, dots = 0;
    while (i < n) {
        if (s[i] == '.') {
            i++;
        } else if (i + 3 <= n && s[i] == '%' && s[i + 1] == '2' &&
                   lower(s[i + 2]) == 'e') {
            i += 3;
        } else {
            return 0;
        }
        dots++;
    }
    return dots == 2;
}

#define MAX_SEGS 8 /* more segments than this are invalid anyway */

struct seg {
    size_t off, len; /* into the encoded path buffer */
};

enum b24_status
b24_url_parse_webhook(const char *url, size_t len, struct b24_webhook *out,
                      struct b24_error *err)
{
    struct b24_buf s, host, path, origin;
    enum b24_status st = B24_OK;
    const char *p, *end, *api;
    size_t sl, i, nsegs = 0, total = 0;
    char scheme[16];
    int port = -1;
    struct seg segs[MAX_SEGS];

    b24_buf_init(&s, 0);
    b24_buf_init(&host, 0);
    b24_buf_init(&path, 0);
    b24_buf_init(&origin, 0);

    /* Trim C0 controls and spaces at both ends; drop tab/LF/CR anywhere. */
    while (len > 0 && (unsigned char)url[0] <= 0x20) {
        url++;
        len--;
    }
    while (len > 0 && (unsigned char)url[len - 1] <= 0x20)
        len--;
    if (len == 0) {
        st = b24_error_set(err, B24_E_USAGE, "%s", B24_URL_MSG_EMPTY);
        goto done;
    }
    for (i = 0; i < len; i++) {
        char c = url[i];
        if (c == '\t' || c == '\n' || c == '\r')
            continue;
        if (b24_buf_appendc(&s, c))
            goto nomem;
    }
    /* First "/rest/api" -> "/rest". */
    api = strstr(b24_buf_cstr(&s), "/rest/api");
    if (api != NULL) {
        size_t at = (size_t)(api - s.data) + 5;
        memmove(s.data + at, s.data + at + 4, s.len - at - 4 + 1);
        s.len -= 4;
    }
    p = b24_buf_cstr(&s);
    end = p + s.len;
    sl = scheme_len(p, s.len);
    if (sl == 0 || sl >= sizeof(scheme))
        goto bad_format;
    for (i = 0; i < sl; i++)
        scheme[i] = (char)lower((unsigned char)p[i]);
    scheme[sl] = '\0';
    p += sl + 1;
    if (!is_special(scheme) || strcmp(scheme, "file") == 0) {
        /* An opaque or file URL parses; it is simply not HTTPS. */
        st = b24_error_set(err, B24_E_USAGE, "%s", B24_URL_MSG_HTTPS);
        goto done;
    }
    while (p < end && (*p == '/' || *p == '\\'))
        p++;
    {
        const char *a = p;
        while (p < end && *p != '/' && *p != '\\' && *p != '?' && *p != '#')
            p++;
        st = parse_authority(a, (size_t)(p - a), &host, &port);
        if (st == B24_E_NOMEM)
            goto nomem;
        if (st != B24_OK)
            goto bad_format;
    }
    if (strcmp(scheme, "https") != 0) {
        st = b24_error_set(err, B24_E_USAGE, "%s", B24_URL_MSG_HTTPS);
        goto done;
    }
    /* Path: split on '/' or '\\', percent-encode like WHATWG, resolve dot
     * segments, then drop empty segments. */
    while (p < end && *p != '?' && *p != '#') {
        const char *seg;
        size_t off = path.len, slen;
        if (*p == '/' || *p == '\\')
            p++;
        seg = p;
        while (p < end && *p != '/' && *p != '\\' && *p != '?' && *p != '#')
            p++;
        slen = (size_t)(p - seg);
        if (is_dot(seg, slen)) {
            continue;
        }
        if (is_dotdot(seg, slen)) {
            if (nsegs > 0)
                nsegs--;
            continue;
        }
        for (i = 0; i < slen; i++) {
            unsigned char c = (unsigned char)seg[i];
            if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' ||
                c == '`' || c == '{' || c == '}') {
                char e[3] = {'%', HEX[c >> 4], HEX[c & 15]};
                if (b24_buf_append(&path, e, 3))
                    goto nomem;
            } else if (b24_buf_appendc(&path, (char)c)) {
                goto nomem;
            }
        }
        total++;
        if (nsegs >= MAX_SEGS) {
            nsegs = MAX_SEGS + 1;
            break;
        }
        segs[nsegs].off = off;
        segs[nsegs].len = path.len - off;
        nsegs++;
    }
    (void)total;
    {
        /* Drop empty segments. */
        size_t k = 0;
        if (nsegs > MAX_SEGS)
            goto bad_path;
        for (i = 0; i < nsegs; i++)
            if (segs[i].len > 0)
                segs[k++] = segs[i];
        nsegs = k;
    }
    {
        const char *pd = b24_buf_cstr(&path);
        size_t first_uid;
        const char *uid;
        size_t ulen;
#define SEG_IS(i_, lit_)                                                  \
    (segs[i_].len == sizeof(lit_) - 1 &&                                  \
     memcmp(pd + segs[i_].off, lit_, sizeof(lit_) - 1) == 0)
        if (nsegs == 3 && SEG_IS(0, "rest"))
            first_uid = 1;
        else if (nsegs == 4 && SEG_IS(0, "rest") && SEG_IS(1, "api"))
            first_uid = 2;
        else
            goto bad_path;
#undef SEG_IS
        uid = pd + segs[first_uid].off;
        ulen = segs[first_uid].len;
        for (i = 0; i < ulen; i++) {
            if (!is_digit((unsigned char)uid[i])) {
                st = b24_error_set(err, B24_E_USAGE, "%s", B24_URL_MSG_UID);
                goto done;
            }
        }
        while (ulen > 1 && uid[0] == '0') {
            uid++;
            ulen--;
        }
        if (b24_buf_appends(&origin, "https://") ||
            b24_buf_append(&origin, host.data, host.len))
            goto nomem;
        if (port >= 0 && port != default_port(scheme) &&
            b24_buf_printf(&origin, ":%d", port))
            goto nomem;
        out->user_id = b24_strndup(uid, ulen);
        out->secret = b24_strndup(pd + segs[first_uid + 1].off,
                                  segs[first_uid + 1].len);
        out->origin = b24_buf_steal(&origin);
        if (!out->user_id || !out->secret || !out->origin) {
            b24_webhook_clear(out);
            goto nomem;
        }
        st = B24_OK;
        goto done;
    }

bad_path:
    st = b24_error_set(err, B24_E_USAGE, "%s", B24_URL_MSG_PATH);
    goto done;
bad_format:
    st = b24_error_set(err, B24_E_USAGE, "%s", B24_URL_MSG_FORMAT);
    goto done;
nomem:
    st = b24_error_set(err, B24_E_NOMEM, "out of memory");
done:
    b24_buf_free(&s);
    b24_buf_free(&host);
    b24_buf_free(&path);
    b24_buf_free(&origin);
    return st;
}

enum b24_status
b24_url_origin_parse(const char *url, size_t len, struct b24_url_origin *out)
{
    size_t sl = scheme_len(url, len), i;
    const char *p, *end = url + len, *a;
    struct b24_buf host;
    int port = -1;
    enum b24_status st;
    char *scheme;

    if (sl == 0)
        return B24_E_USAGE;
    scheme = b24_strndup(url, sl);
    if (scheme == NULL)
        return B24_E_NOMEM;
    for (i = 0; i < sl; i++)
        scheme[i] = (char)lower((unsigned char)scheme[i]);
    p = url + sl + 1;
    if (end - p < 2 || p[0] != '/' || p[1] != '/') {
        free(scheme);
        return B24_E_USAGE;
    }
    p += 2;
    a = p;
    while (p < end && *p != '/' && *p != '\\' && *p != '?' && *p != '#')
        p++;
    b24_buf_init(&host, 0);
    st = parse_authority(a, (size_t)(p - a), &host, &port);
    if (st != B24_OK) {
        free(scheme);
        b24_buf_free(&host);
        return st;
    }
    out->scheme = scheme;
    out->host = b24_buf_steal(&host);
    if (out->host == NULL) {
        b24_url_origin_clear(out);
        return B24_E_NOMEM;
    }
    out->port = port >= 0 ? port : default_port(scheme);
    return B24_OK;
}

int
b24_url_origin_equal(const struct b24_url_origin *a,
                     const struct b24_url_origin *b)
{
    return strcmp(a->scheme, b->scheme) == 0 &&
           strcmp(a->host, b->host) == 0 && a->port == b->port;
}

enum b24_status
b24_url_origin_format(const struct b24_url_origin *o, struct b24_buf *out)
{
    enum b24_status st = b24_buf_printf(out, "%s://%s", o->scheme, o->host);
    if (st == B24_OK && o->port >= 0 && o->port != default_port(o->scheme))
        st = b24_buf_printf(out, ":%d", o->port);
    return st;
}

static int
component_safe(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.' ||
           c == '!' || c == '~' || c == '*' || c == '\'' || c == '(' ||
           c == ')';
}

static int
form_safe(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '*' || c == '-' || c == '.' ||
           c == '_';
}

/* Percent-encode s[0..n) into out: the characters `safe` accepts as they
 * are (each run in one append), a space as "+" when `plus`, any other
 * byte as %XX. */
static enum b24_status
encode_runs(struct b24_buf *out, const char *s, size_t n,
            int (*safe)(unsigned char), int plus)
{
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        enum b24_status st;
        unsigned char c;
        while (run < n && safe((unsigned char)s[run]))
            run++;
        if (run > i && (st = b24_buf_append(out, s + i, run - i)))
            return st;
        if (run == n)
            break;
        c = (unsigned char)s[run];
        if (plus && c == ' ') {
            st = b24_buf_appendc(out, '+');
        } else {
            char e[3] = {'%', HEX[c >> 4], HEX[c & 15]};
            st = b24_buf_append(out, e, 3);
        }
        if (st != B24_OK)
            return st;
        i = run + 1;
    }
    return B24_OK;
}

enum b24_status
b24_url_encode_component(struct b24_buf *out, const char *s, size_t n)
{
    return encode_runs(out, s, n, component_safe, 0);
}

enum b24_status
b24_url_encode_form(struct b24_buf *out, const char *s, size_t n)
{
    return encode_runs(out, s, n, form_safe, 1);
}

int
b24_url_is_task_method(const char *method, size_t n)
{
    return n >= 5 && memcmp(method, "task.", 5) == 0;
}

enum b24_status
b24_url_build_call(struct b24_buf *out, const char *base, const char *method,
                   size_t method_len, const char *request_id,
                   const char *sdk_version, const char *sdk_type)
{
    size_t blen = strlen(base);
    enum b24_status st;
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    if ((st = b24_buf_append(out, base, blen)) ||
        (st = b24_buf_appendc(out, '/')) ||
        (st = b24_url_encode_component(out, method, method_len)))
        return st;
    if (b24_url_is_task_method(method, method_len))
        return B24_OK;
    if ((st = b24_buf_appends(out, "?bx24_request_id=")) ||
        (st = b24_url_encode_form(out, request_id, strlen(request_id))) ||
        (st = b24_buf_appends(out, "&bx24_sdk_ver=")) ||
        (st = b24_url_encode_form(out, sdk_version, strlen(sdk_version))) ||
        (st = b24_buf_appends(out, "&bx24_sdk_type=")) ||
        (st = b24_url_encode_form(out, sdk_type, strlen(sdk_type))))
        return st;
    return B24_OK;
}
