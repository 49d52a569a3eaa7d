/* b24_redact.h - secret scrubbing (spec §11.1) and the URL/params scrub of
 * spec §11.2.  Pure functions over UTF-8 text. */
#ifndef B24_REDACT_H
#define B24_REDACT_H

#include <stddef.h>

#include "b24.h"
#include "b24_buf.h"

#define B24_REDACTED "***REDACTED***"

/* The default sensitive keys of spec §11.2, NULL-terminated. */
extern const char *const b24_redact_default_keys[];

/* Append to `out` the text with (^|[?&])(KEY)=[^&#;]* replaced by
 * \1\2=***REDACTED*** for every KEY of the default list and of
 * `extra[0..nextra)` (ASCII case-insensitive, exact names, tried in that
 * order).  When `text` contains no '=', it is copied unchanged. */
enum b24_status b24_redact_scrub(struct b24_buf *out, const char *text,
                                 size_t len, const char *const *extra,
                                 size_t nextra);

/* Append to `out` the text with every non-overlapping occurrence of
 * `secret` replaced by ***REDACTED*** (left to right).  An empty secret
 * copies the text unchanged. */
enum b24_status b24_redact_secret(struct b24_buf *out, const char *text,
                                  size_t len, const char *secret,
                                  size_t secret_len);

/* The scrub of every text a server or libcurl supplies (spec §11.1):
 * the exact `secret` (when non-empty) as b24_redact_secret does, then the
 * token of every webhook path "/rest/<digits>/<token>" (also with "/api",
 * with JSON's "\\/" or "%2F" as separators; "rest" ASCII
 * case-insensitive; <token> = [A-Za-z0-9_-]+) replaced by ***REDACTED***,
 * so a secret this client does not know is masked too. */
enum b24_status b24_redact_text(struct b24_buf *out, const char *text,
                                size_t len, const char *secret,
                                size_t secret_len);

#endif /* B24_REDACT_H */
