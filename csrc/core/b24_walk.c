/* b24_walk.c - the page walk of a list (see b24_walk.h). */
#include "b24_walk.h"

#include <string.h>

void
b24_walk_init(struct b24_walk *w, enum b24_walk_kind kind, size_t limit,
              long long cursor)
{
    memset(w, 0, sizeof(*w));
    w->kind = kind;
    /* v2: a page shorter than 50 is the last (§6.2); v3 and tails compare
     * with the largest page seen (§6.3/§6.4) */
    b24_keyset_init(&w->keyset, kind != B24_WALK_V2,
                    kind == B24_WALK_V2 ? (size_t)B24_V2_PAGE_SIZE : limit);
    w->cursor = cursor;
    w->end = B24_WALK_END_NONE;
}

int
b24_walk_next(const struct b24_walk *w)
{
    return !w->done;
}

static enum b24_walk_verdict
finish(struct b24_walk *w, enum b24_walk_verdict v, enum b24_walk_end why)
{
    w->done = 1;
    w->end = why;
    return v;
}

enum b24_walk_verdict
b24_walk_page(struct b24_walk *w, const struct b24_walk_page *p)
{
    enum b24_page_step step;
    if (w->done)
        return B24_WALK_STOP;
    w->pages++;
    switch (p->shape) {
    case B24_SHAPE_LIST:
        break;
    case B24_SHAPE_NO_RESULT:
        return finish(w, B24_WALK_STOP, B24_WALK_END_NO_RESULT);
    case B24_SHAPE_NO_LIST:
        return finish(w, B24_WALK_STOP, B24_WALK_END_NO_LIST);
    default:
        return finish(w, B24_WALK_STOP, B24_WALK_END_NOT_A_LIST);
    }
    step = b24_keyset_step(&w->keyset, p->len);
    if (step == B24_STEP_STOP)
        return finish(w, B24_WALK_STOP, B24_WALK_END_NONE);
    if (step == B24_STEP_LAST)
        return finish(w, B24_WALK_LAST, B24_WALK_END_NONE);
    /* a full page: the next request starts after its last row */
    if (w->kind == B24_WALK_TAIL) {
        if (!p->last_ok)
            return finish(w, B24_WALK_LAST, B24_WALK_END_NO_CURSOR);
        return B24_WALK_MORE;
    }
    /* keyset: an id that does not move forward would repeat the page */
    if (!p->last_ok || p->last <= w->cursor)
        return finish(w, B24_WALK_LAST, B24_WALK_END_NO_INT_ID);
    w->cursor = p->last;
    return B24_WALK_MORE;
}

void
b24_walk_fail(struct b24_walk *w)
{
    if (!w->done)
        (void)finish(w, B24_WALK_STOP, B24_WALK_END_FAILED);
}

const char *
b24_walk_end_name(enum b24_walk_end e)
{
    switch (e) {
    case B24_WALK_END_NONE:
        return "none";
    case B24_WALK_END_NO_RESULT:
        return "no_result";
    case B24_WALK_END_NO_LIST:
        return "no_list";
    case B24_WALK_END_NOT_A_LIST:
        return "not_a_list";
    case B24_WALK_END_NO_INT_ID:
        return "no_int_id";
    case B24_WALK_END_NO_CURSOR:
        return "no_cursor";
    case B24_WALK_END_FAILED:
        return "failed";
    }
    return "none";
}
