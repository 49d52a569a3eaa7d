/* b24_walk.h - the page walk of a list (spec §6.2-6.4) as a state machine.
 *
 * Three flavours share it: the v2 keyset walk (filter >ID, start=-1, a
 * page shorter than 50 ends it), the v3 keyset walk (filter [id > cursor],
 * pagination; the page compared with the largest seen) and the v3 *.tail
 * walk (its native cursor, read from the last row as is).
 *
 * Pure C, no I/O: the driver asks b24_walk_next() whether a request is due
 * (the keyset flavours request at w->cursor), sends it, and feeds the
 * facts of the page it got (b24_walk_page): where the rows were, how many,
 * and the last row's cursor.  The machine answers deliver-and-go-on,
 * deliver-and-end or end-without-delivering; once ended, w->end names the
 * reason.  The short-page rules are b24_keyset's (b24_list.h). */
#ifndef B24_WALK_H
#define B24_WALK_H

#include <stddef.h>

#include "b24_list.h"

enum b24_walk_kind {
    B24_WALK_V2 = 0,  /* §6.2 */
    B24_WALK_V3 = 1,  /* §6.3 */
    B24_WALK_TAIL = 2 /* §6.4 */
};

/* Where the answer held the page. */
enum b24_walk_shape {
    B24_SHAPE_LIST = 0,  /* a list of rows: len, last_ok, last */
    B24_SHAPE_NO_RESULT, /* `result` null or missing */
    B24_SHAPE_NO_LIST,   /* no list under the custom key */
    B24_SHAPE_NOT_A_LIST /* `result` not a list and no custom key */
};

/* Why a walk ended. */
enum b24_walk_end {
    B24_WALK_END_NONE = 0,   /* the list ended (a short or empty page) */
    B24_WALK_END_NO_RESULT,  /* the answer carried no result */
    B24_WALK_END_NO_LIST,    /* no list under the custom key */
    B24_WALK_END_NOT_A_LIST, /* the result is not a list */
    B24_WALK_END_NO_INT_ID,  /* keyset: the last row has no integer id
                                above the cursor */
    B24_WALK_END_NO_CURSOR,  /* tail: the last row has no cursor value */
    B24_WALK_END_FAILED      /* a page's call failed */
};

enum b24_walk_verdict {
    B24_WALK_STOP = 0, /* nothing to deliver; the walk has ended */
    B24_WALK_LAST = 1, /* deliver this page; the walk has ended */
    B24_WALK_MORE = 2  /* deliver this page; request the next one */
};

/* The facts of one page, read by the driver. */
struct b24_walk_page {
    enum b24_walk_shape shape;
    size_t len;    /* LIST: rows */
    int last_ok;   /* LIST, len > 0 -- keyset: the last row's id read by
                      the b24_parse_int_prefix rules; tail: the last row
                      carries a cursor value (present, not null) */
    long long last; /* keyset, last_ok: that id */
};

struct b24_walk {
    enum b24_walk_kind kind;
    struct b24_keyset keyset;
    long long cursor;      /* keyset: the lower bound of the next request */
    int done;              /* ended: no further request */
    enum b24_walk_end end; /* why, once done */
    unsigned long pages;   /* pages fed */
};

/* A walk that first requests at `cursor` (keyset: 0, or the caller's own
 * lower bound; tail: unused, the driver keeps the opaque value).  `limit`
 * is the v3 page limit (unused by the v2 rule, whose page is 50). */
void b24_walk_init(struct b24_walk *w, enum b24_walk_kind kind, size_t limit,
                   long long cursor);

/* Nonzero while a request is due (keyset flavours: at w->cursor). */
int b24_walk_next(const struct b24_walk *w);

/* Feed the answer of the request b24_walk_next asked for.  MORE moves
 * w->cursor (keyset) to the last row's id; LAST and STOP end the walk and
 * set w->end.  A page fed after the end gives STOP. */
enum b24_walk_verdict b24_walk_page(struct b24_walk *w,
                                    const struct b24_walk_page *p);

/* The page's call failed: the walk ends with B24_WALK_END_FAILED. */
void b24_walk_fail(struct b24_walk *w);

/* Static name of an end: "none", "no_result", "no_list", "not_a_list",
 * "no_int_id", "no_cursor", "failed". */
const char *b24_walk_end_name(enum b24_walk_end e);

#endif /* B24_WALK_H */
