/* b24_qs.h - PHP-style bracket encoding of nested parameters (spec §6.6.2).
 *
 * The encoder writes `key=value` pairs joined by `&` into a caller-owned
 * buffer.  The caller walks its own tree (Python objects in csrc/ext, cJSON
 * here for the core's tests) and drives a path stack:
 *
 *     push_key("filter") push_key(">ID") value("5") pop() pop()
 *     -> filter%5B%3EID%5D=5
 *
 * Keys and values are percent-encoded keeping only A-Z a-z 0-9 - . _ ~
 * (so `[` -> %5B, `$` -> %24, space -> %20, UTF-8 bytes as %XX).  Empty
 * lists and maps produce no pair (they are simply never given a value).
 */
#ifndef B24_QS_H
#define B24_QS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "b24.h"
#include "b24_buf.h"

#define B24_QS_MAX_DEPTH 64

struct b24_qs {
    struct b24_buf *out;                /* borrowed: receives the pairs */
    struct b24_buf key;                 /* owned: encoded current key */
    size_t marks[B24_QS_MAX_DEPTH + 1]; /* key.len before each push */
    int depth;
    size_t pairs; /* pairs written so far (to `out`, by this encoder) */
};

/* `out` may already hold text (e.g. "method?"): pairs are appended, a `&`
 * before every pair but the first (set `pairs` to 1 to continue an
 * earlier query string). */
void b24_qs_init(struct b24_qs *q, struct b24_buf *out);
void b24_qs_free(struct b24_qs *q);
/* Descend into a map key (depth 0: the bare key; deeper: `[key]`).
 * B24_E_LIMIT beyond B24_QS_MAX_DEPTH. */
enum b24_status b24_qs_push_key(struct b24_qs *q, const char *k, size_t n);
/* Descend into a list index (`[i]`). */
enum b24_status b24_qs_push_index(struct b24_qs *q, size_t i);
void b24_qs_pop(struct b24_qs *q);
/* Write `&<key>=<pct(value)>` for the current path (value may be empty). */
enum b24_status b24_qs_value(struct b24_qs *q, const char *v, size_t n);

/* Append the percent-encoding of `n` bytes of `s` (encodeURIComponent
 * without its `!'()*` exceptions). */
enum b24_status b24_qs_pct(struct b24_buf *out, const char *s, size_t n);

/* Encode a cJSON object (NULL or a non-object gives an empty string):
 * null -> `k=`, true/false -> `true`/`false`, integral numbers below 2**53
 * as integers, other numbers with %.17g.  Mainly for tests and C callers. */
enum b24_status b24_qs_encode_json(struct b24_buf *out, const cJSON *obj);

#endif /* B24_QS_H */
