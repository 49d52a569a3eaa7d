/* test_walk.c - the page walk machine: every rule of §6.2-6.4. */
#include "b24_walk.h"
#include "harness.h"

static struct b24_walk_page
rows(size_t len, int last_ok, long long last)
{
    struct b24_walk_page p;
    p.shape = B24_SHAPE_LIST;
    p.len = len;
    p.last_ok = last_ok;
    p.last = last;
    return p;
}

static struct b24_walk_page
shape(enum b24_walk_shape s)
{
    struct b24_walk_page p = rows(0, 0, 0);
    p.shape = s;
    return p;
}

static void
test_v2(void)
{
    struct b24_walk w;
    struct b24_walk_page p;

    /* full pages go on from the last id; a short page is the last */
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    CHECK(b24_walk_next(&w) && w.cursor == 0);
    p = rows(50, 1, 50);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE);
    CHECK(b24_walk_next(&w) && w.cursor == 50);
    p = rows(50, 1, 100);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE && w.cursor == 100);
    p = rows(30, 1, 130);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST);
    CHECK(!b24_walk_next(&w) && w.end == B24_WALK_END_NONE);
    CHECK(w.pages == 3);
    /* a page fed after the end is not delivered */
    CHECK(b24_walk_page(&w, &p) == B24_WALK_STOP && w.pages == 3);

    /* an empty page ends without delivering; no confirmation page on v2 */
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    p = rows(0, 0, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_STOP);
    CHECK(!b24_walk_next(&w) && w.end == B24_WALK_END_NONE);
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    p = rows(1, 1, 1);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && !b24_walk_next(&w));
    /* the v2 page is 50 whatever limit says */
    b24_walk_init(&w, B24_WALK_V2, 10, 0);
    p = rows(10, 1, 10);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST);

    /* the short-page rule comes before the cursor: a short page whose last
     * id is unreadable is still just the last page */
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    p = rows(49, 0, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && w.end == B24_WALK_END_NONE);

    /* a full page without an integer id: deliver it, then end, named */
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    p = rows(50, 0, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST);
    CHECK(!b24_walk_next(&w) && w.end == B24_WALK_END_NO_INT_ID);
    CHECK_STR(b24_walk_end_name(w.end), "no_int_id");
    /* ... or with an id that does not increase */
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    p = rows(50, 1, 50);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE);
    p = rows(50, 1, 50);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && w.end == B24_WALK_END_NO_INT_ID);
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    p = rows(50, 1, 0); /* id 0 is not above the first cursor */
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && w.end == B24_WALK_END_NO_INT_ID);
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    p = rows(50, 1, -5);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && w.end == B24_WALK_END_NO_INT_ID);

    /* the caller's own lower bound is the first cursor */
    b24_walk_init(&w, B24_WALK_V2, 0, 70);
    CHECK(b24_walk_next(&w) && w.cursor == 70);
    p = rows(50, 1, 120);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE && w.cursor == 120);
    p = rows(10, 1, 130);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && w.end == B24_WALK_END_NONE);
    /* ... and ids at or below it do not move the walk */
    b24_walk_init(&w, B24_WALK_V2, 0, 70);
    p = rows(50, 1, 70);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && w.end == B24_WALK_END_NO_INT_ID);

    /* where the rows were not */
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    p = shape(B24_SHAPE_NO_RESULT);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_STOP && w.end == B24_WALK_END_NO_RESULT);
    CHECK(!b24_walk_next(&w));
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    p = shape(B24_SHAPE_NO_LIST);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_STOP && w.end == B24_WALK_END_NO_LIST);
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    p = shape(B24_SHAPE_NOT_A_LIST);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_STOP && w.end == B24_WALK_END_NOT_A_LIST);
    /* ... after a delivered page too */
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    p = rows(50, 1, 50);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE);
    p = shape(B24_SHAPE_NO_RESULT);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_STOP && w.end == B24_WALK_END_NO_RESULT);

    /* a failed call ends the walk */
    b24_walk_init(&w, B24_WALK_V2, 0, 0);
    b24_walk_fail(&w);
    CHECK(!b24_walk_next(&w) && w.end == B24_WALK_END_FAILED);
    CHECK_STR(b24_walk_end_name(w.end), "failed");
    b24_walk_fail(&w); /* idempotent */
    CHECK(w.end == B24_WALK_END_FAILED);
}

static void
test_v3(void)
{
    struct b24_walk w;
    struct b24_walk_page p;

    /* a short first page costs one confirmation request (§6.3) */
    b24_walk_init(&w, B24_WALK_V3, 50, 0);
    p = rows(30, 1, 30);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE && w.cursor == 30);
    p = rows(0, 0, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_STOP && w.end == B24_WALK_END_NONE);
    CHECK(w.pages == 2);

    /* exact multiples end on an empty page */
    b24_walk_init(&w, B24_WALK_V3, 50, 0);
    p = rows(50, 1, 50);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE);
    p = rows(50, 1, 100);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE);
    p = rows(0, 0, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_STOP && !b24_walk_next(&w));

    /* a page shorter than the largest seen is the last */
    b24_walk_init(&w, B24_WALK_V3, 50, 0);
    p = rows(50, 1, 50);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE);
    p = rows(30, 1, 80);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && w.end == B24_WALK_END_NONE);

    /* a server capping pages below the limit is still walked to the end */
    b24_walk_init(&w, B24_WALK_V3, 1000, 0);
    p = rows(500, 1, 500);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE);
    p = rows(500, 1, 1000);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE && w.cursor == 1000);
    p = rows(20, 1, 1020);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST);

    /* a page going on without an increasing integer id */
    b24_walk_init(&w, B24_WALK_V3, 50, 0);
    p = rows(50, 0, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && w.end == B24_WALK_END_NO_INT_ID);
    b24_walk_init(&w, B24_WALK_V3, 50, 0);
    p = rows(30, 1, 30);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE);
    p = rows(30, 1, 30);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && w.end == B24_WALK_END_NO_INT_ID);

    /* no list under the key */
    b24_walk_init(&w, B24_WALK_V3, 50, 0);
    p = shape(B24_SHAPE_NO_LIST);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_STOP && w.end == B24_WALK_END_NO_LIST);
}

static void
test_tail(void)
{
    struct b24_walk w;
    struct b24_walk_page p;

    /* the tail's cursor is opaque: present is enough, no order check */
    b24_walk_init(&w, B24_WALK_TAIL, 50, 0);
    p = rows(50, 1, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE && w.cursor == 0);
    p = rows(50, 1, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE);
    p = rows(10, 1, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && w.end == B24_WALK_END_NONE);

    /* a short first page: one confirmation */
    b24_walk_init(&w, B24_WALK_TAIL, 50, 0);
    p = rows(7, 1, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_MORE);
    p = rows(0, 0, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_STOP && w.end == B24_WALK_END_NONE);

    /* the last row has no cursor value */
    b24_walk_init(&w, B24_WALK_TAIL, 50, 0);
    p = rows(50, 0, 0);
    CHECK(b24_walk_page(&w, &p) == B24_WALK_LAST && w.end == B24_WALK_END_NO_CURSOR);
    CHECK_STR(b24_walk_end_name(w.end), "no_cursor");
    CHECK_STR(b24_walk_end_name(B24_WALK_END_NONE), "none");
    CHECK_STR(b24_walk_end_name(B24_WALK_END_NO_RESULT), "no_result");
    CHECK_STR(b24_walk_end_name(B24_WALK_END_NO_LIST), "no_list");
    CHECK_STR(b24_walk_end_name(B24_WALK_END_NOT_A_LIST), "not_a_list");
}

void
test_walk(void)
{
    test_v2();
    test_v3();
    test_tail();
}
