/* b24_list.h - walking lists: cursors, the keyset stop rules of spec
 * §6.2-6.4, and the plan of the chained-batch export (docs/export.md).
 *
 * Pure C, no I/O: the caller sends the requests and reports each page. */
#ifndef B24_LIST_H
#define B24_LIST_H

#include <stddef.h>

#include "b24.h"
#include "b24_buf.h"
#include "b24_protocol.h"

/* JS parseInt(String(x)) on a text: optional leading whitespace, optional
 * sign, then decimal digits (or 0x/0X hex digits).  1 and *out set when at
 * least one digit was read, else 0 (NaN).  Saturates on overflow. */
int b24_parse_int_prefix(const char *s, size_t n, long long *out);

enum b24_page_step {
    B24_STEP_STOP = 0,     /* nothing to deliver, walk ends */
    B24_STEP_LAST = 1,     /* deliver this page, walk ends */
    B24_STEP_MORE = 2      /* deliver this page, request the next one */
};

/* The keyset stop rules.  v2 (§6.2): a page shorter than 50 ends the walk.
 * v3 (§6.3/§6.4): the page is compared with the largest page seen so far,
 * so a short first page costs one confirmation request and a server that
 * caps pages below `limit` is still walked to the end. */
struct b24_keyset {
    int v3_rule;
    size_t page_size; /* v2: 50 */
    size_t max_page;  /* v3: largest page seen */
};

void b24_keyset_init(struct b24_keyset *k, int v3_rule, size_t page_size);
enum b24_page_step b24_keyset_step(struct b24_keyset *k, size_t page_len);

/* ---- the chained-batch export ------------------------------------------
 * A shard is the id range (lo, hi]; hi < 0 means unbounded.  A batch walks
 * it from `cursor` with up to 50 chained pages of 50. */

/* Commands worth planning for the next batch of a shard: 50 when
 * unbounded, else ceil((hi - cursor) / 50) capped to [1, 50] (with dense
 * ids this is exact, so no request is spent on confirmation pages). */
size_t b24_export_commands(long long cursor, long long hi);

/* Split (lo, hi] into at most `want` shards for batches of `min_span` ids:
 * when the range holds no more than `want` such batches, one shard per batch
 * (`min_span` ids each, the remainder last), else `want` even shards;
 * writes the upper bound of each shard to bounds[0..n-1] (the last one is
 * `hi`) and returns n (>= 1).  `bounds` holds `want` entries. */
size_t b24_export_shards(long long lo, long long hi, size_t want,
                         long long min_span, long long *bounds);

/* Append the v2 batch reference to the last id of a full page of command
 * `prev`: `0$result[<prev>][<container>...][49][<id_key>]` (the leading 0
 * makes it an embedded reference, substituted only by a scalar; "0123"
 * reads as 123, an unresolved reference as 0).  `container` is
 * a dotted path ("items", "result.tasks") or NULL/"" for a bare list. */
enum b24_status b24_export_ref(struct b24_buf *out, const char *prev,
                               const char *container, const char *id_key);

#endif /* B24_LIST_H */
