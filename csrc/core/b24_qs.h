/* b24_qs.h - PHP-style bracket encoding of nested parameters (spec §6.6.2).
 *
 * The encoder writes `key=value` pairs joined by `&` into a caller-owned
 * buffer.  One walker, b24_qs_walk(), turns a tree into pairs; a visitor
 * tells it what each node is (Python objects in csrc/ext, cJSON trees here
 * for the core's tests and fuzzing).  Underneath, a path stack:
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

/* ---- the walker ---------------------------------------------------------
 *
 * b24_qs_walk(q, visitor, ctx, root) writes the pairs of the tree `root`:
 * a map's children under their keys, a list's under their indices, a
 * scalar as one pair (null -> `k=`, true/false -> `true`/`false`), empty
 * maps and lists as nothing.  The visitor's `read` says what a node is;
 * `next` gives a map's or a list's children one by one; `end` closes a
 * map/list that `read` opened (always called once, also on an error);
 * `release` frees what a node's `hold` keeps (always called once when
 * non-NULL).  A node may stand for another (B24_QS_REPLACED: a date for its
 * ISO text, a mapping for a dict): the replacement is read one level
 * deeper.  A visitor failure is returned as is (a binding keeps its own
 * exception); the walker's own: B24_E_USAGE for a tree nested deeper than
 * B24_QS_MAX_DEPTH - 1 levels (err says so), B24_E_NOMEM / B24_E_LIMIT
 * from the buffers. */
enum b24_qs_kind {
    B24_QS_SKIP = 0, /* nothing to write (e.g. a cJSON raw item) */
    B24_QS_NULL,
    B24_QS_TRUE,
    B24_QS_FALSE,
    B24_QS_TEXT,     /* `text`, `len` bytes */
    B24_QS_MAP,
    B24_QS_LIST,
    B24_QS_REPLACED  /* walk `inner` instead, one level deeper */
};

struct b24_qs_node {
    enum b24_qs_kind kind;
    const char *text; /* TEXT: valid until `hold` is released */
    size_t len;
    void *inner;      /* REPLACED: the node standing for this one */
    void *hold;       /* the visitor's, given back to `release` */
    char scratch[64]; /* room for a number's text */
};

struct b24_qs_iter {
    void *node;       /* the map or list */
    size_t pos;       /* children given so far */
    long long cursor; /* the visitor's position, starts at 0 */
    void *hold;       /* the visitor's (a list's items, a key, a child) */
    void *hold2;
};

struct b24_qs_visitor {
    enum b24_status (*read)(void *ctx, void *node, struct b24_qs_node *out);
    /* The next child: *more = 1 with *child (and, for a map, the key's
     * `*klen` bytes at *key, valid until the next call), *more = 0 at the
     * end. */
    enum b24_status (*next)(void *ctx, struct b24_qs_iter *it, void **child,
                            const char **key, size_t *klen, int *more);
    void (*end)(void *ctx, struct b24_qs_iter *it);
    void (*release)(void *ctx, void *hold);
};

enum b24_status b24_qs_walk(struct b24_qs *q, const struct b24_qs_visitor *v,
                            void *ctx, void *root, struct b24_error *err);

/* Encode a cJSON object (NULL or a non-object gives an empty string) with
 * b24_qs_walk: integral numbers below 2**53 as integers, other numbers
 * with %.17g.  For tests, fuzzing and C callers. */
enum b24_status b24_qs_encode_json(struct b24_buf *out, const cJSON *obj);

#endif /* B24_QS_H */
