/* b24_url.h - webhook URL validation (spec §2.1) and request URL building
 * (spec §4.1).  Pure functions: no I/O, no locks, no globals. */
#ifndef B24_URL_H
#define B24_URL_H

#include <stddef.h>

#include "b24.h"
#include "b24_buf.h"

/* Exact error messages of spec §2.1.  None echoes the URL. */
#define B24_URL_MSG_EMPTY "Webhook URL cannot be empty"
#define B24_URL_MSG_FORMAT "Invalid webhook URL format"
#define B24_URL_MSG_HTTPS "Webhook requires HTTPS protocol"
#define B24_URL_MSG_PATH                                                  \
    "Webhook URL must follow format: /rest/<userId>/<secret> or "         \
    "/rest/api/<userId>/<secret>"
#define B24_URL_MSG_UID "User ID must be numeric in webhook URL"

/* Result of b24_url_parse_webhook.  All strings are owned by the struct and
 * released by b24_webhook_clear (safe on a zeroed or cleared struct). */
struct b24_webhook {
    char *origin;  /* "https://host[:port]", default port dropped */
    char *user_id; /* decimal digits, leading zeros removed ("007" -> "7") */
    char *secret;  /* last path segment, as-is (not percent-decoded) */
};

void b24_webhook_clear(struct b24_webhook *wh);

/* Validate `url` (len bytes, UTF-8) per spec §2.1.  On B24_OK `out` is
 * filled (caller clears it); on B24_E_USAGE err->message holds one of the
 * B24_URL_MSG_* texts; B24_E_NOMEM on allocation failure. */
enum b24_status b24_url_parse_webhook(const char *url, size_t len,
                                      struct b24_webhook *out,
                                      struct b24_error *err);

/* Parts of an absolute URL, as needed to compare origins.  Strings owned. */
struct b24_url_origin {
    char *scheme; /* lower-cased */
    char *host;   /* lower-cased (ASCII), brackets kept for IPv6 */
    int port;     /* explicit or the scheme default; -1 when unknown */
};
void b24_url_origin_clear(struct b24_url_origin *o);
/* Parse the origin of an absolute http(s) URL.  B24_E_USAGE when the text is
 * not an absolute URL with a host. */
enum b24_status b24_url_origin_parse(const char *url, size_t len,
                                     struct b24_url_origin *out);
/* 1 when both origins are equal (scheme, host and port). */
int b24_url_origin_equal(const struct b24_url_origin *a,
                         const struct b24_url_origin *b);
/* Append "scheme://host[:port]" (default port dropped) to `out`. */
enum b24_status b24_url_origin_format(const struct b24_url_origin *o,
                                      struct b24_buf *out);

/* JS encodeURIComponent over UTF-8 bytes (unreserved A-Z a-z 0-9 - _ . ! ~
 * * ' ( ) kept, everything else %XX with upper-case hex). */
enum b24_status b24_url_encode_component(struct b24_buf *out, const char *s,
                                         size_t n);
/* application/x-www-form-urlencoded value (URLSearchParams): A-Z a-z 0-9
 * * - . _ kept, space -> '+', everything else %XX. */
enum b24_status b24_url_encode_form(struct b24_buf *out, const char *s,
                                    size_t n);
/* 1 when `method` matches ^task\. (case-sensitive). */
int b24_url_is_task_method(const char *method, size_t n);

/* Append the full call URL of spec §4.1 to `out`:
 *   <base>/<encodeURIComponent(method)>?bx24_request_id=..&bx24_sdk_ver=..
 *   &bx24_sdk_type=..   (no query at all when method matches ^task\.)
 * Trailing slashes of `base` are ignored.  All strings are NUL-terminated
 * UTF-8 except `method` (explicit length). */
enum b24_status b24_url_build_call(struct b24_buf *out, const char *base,
                                   const char *method, size_t method_len,
                                   const char *request_id,
                                   const char *sdk_version,
                                   const char *sdk_type);

#endif /* B24_URL_H */
