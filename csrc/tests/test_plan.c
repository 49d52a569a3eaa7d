/* test_plan.c - the export planner's table of cases (b24_plan.h). */
#include <math.h>
#include <string.h>

#include "b24_plan.h"
#include "harness.h"

static struct b24_plan_in
base(double pages)
{
    struct b24_plan_in in;
    memset(&in, 0, sizeof(in));
    in.pages_left = pages;
    in.page_s = 0.1;
    in.rtt_s = 0.05;
    in.tokens = 49;
    in.drain = 2;
    in.max_flights = 64;
    in.reset_in_s = -1;
    in.margin = 0.05;
    return in;
}

static int
near(double a, double b)
{
    return fabs(a - b) < 1e-6;
}

void
test_plan(void)
{
    struct b24_plan_in in;
    struct b24_plan_out out;
    int k;

    /* the wall model: 400 pages in 8 streams of one 50-page batch */
    CHECK(near(b24_plan_wall(400, 8, 0.1, 0.05, 49, 2, &k), 5.05) && k == 50);
    /* 4 streams: two rounds of 50 pages */
    CHECK(near(b24_plan_wall(400, 4, 0.1, 0.05, 49, 2, &k), 10.1) && k == 50);
    /* 100 requests of 4 pages, 49 tokens: 51 wait for the drain */
    CHECK(near(b24_plan_wall(400, 100, 0.1, 0.05, 49, 2, &k), 25.5 + 0.45) && k == 4);

    /* 20,000 rows after the probe, a full bucket: ~45 batches of 9 pages at once */
    in = base(399);
    b24_plan(&in, &out);
    CHECK(out.pages == 9);
    CHECK(out.flights == 45);
    CHECK(out.wait_s == 0 && out.budget_bound == 0);
    CHECK(near(out.eta_s, 0.95));

    /* the caller's bound: 4 streams of 50 pages */
    in.max_flights = 4;
    b24_plan(&in, &out);
    CHECK(out.flights == 4 && out.pages == 50);
    CHECK(near(out.eta_s, 2 * 5.05));

    /* an empty bucket: few long batches beat many short ones */
    in = base(400);
    in.tokens = 0;
    b24_plan(&in, &out);
    CHECK(out.pages == 50 && out.flights == 8);
    /* the tokens of running requests count as this job's */
    in.in_flight = 40;
    b24_plan(&in, &out);
    CHECK(out.flights >= 40 && out.pages <= 10);

    /* a reserve for other callers leaves fewer streams */
    in = base(399);
    in.reserve = 20;
    b24_plan(&in, &out);
    CHECK(out.flights <= 29 && out.pages == 14);

    /* a small job: one page per stream */
    in = base(3);
    b24_plan(&in, &out);
    CHECK(out.flights == 3 && out.pages == 1);

    /* nothing left */
    in = base(0);
    b24_plan(&in, &out);
    CHECK(out.flights == 1 && out.pages == 1 && out.eta_s == 0 && out.wait_s == 0);

    /* unknown page time and defaults: still a sane plan */
    in = base(100);
    in.page_s = 0;
    in.rtt_s = 0;
    in.drain = 0;
    in.max_flights = 0;
    b24_plan(&in, &out);
    CHECK(out.flights == 1 && out.pages == 50);

    /* a budget that covers the job changes nothing */
    in = base(399);
    in.budget_limit_s = 480;
    in.budget_used_s = 100;
    b24_plan(&in, &out);
    CHECK(out.flights == 45 && out.pages == 9 && out.budget_bound == 0 && out.wait_s == 0);

    /* the budget is the bound: spend the headroom (456 - 400 = 56 pages of 1 s) */
    in = base(400);
    in.page_cost_s = 1.0;
    in.budget_limit_s = 480;
    in.budget_used_s = 400;
    in.reset_in_s = 30;
    b24_plan(&in, &out);
    CHECK(out.budget_bound == 1 && out.wait_s == 0);
    /* whole batches within the headroom, not one more (issue 12: 19 x 10 pages
     * sent where 188 fit had a command refused); and most of it spent */
    CHECK(out.pages * out.flights <= 56);
    CHECK(out.pages * out.flights > 56 - out.pages);
    CHECK(out.pages <= 9);
    CHECK(out.eta_s >= (400.0 - 56.0) / 456.0 * 600.0 - 1e-6);
    /* what runs already counts against the headroom */
    in.budget_inflight_s = 50;
    b24_plan(&in, &out);
    CHECK(out.pages <= 6 && out.wait_s == 0);

    /* no page fits and nothing runs: wait for the oldest basket */
    in = base(400);
    in.page_cost_s = 0.15;
    in.budget_limit_s = 480;
    in.budget_used_s = 470;
    in.reset_in_s = 42.5;
    b24_plan(&in, &out);
    CHECK(out.budget_bound == 1 && near(out.wait_s, 42.5) && out.pages == 1 && out.flights == 1);
    /* unknown reset time: a short wait, then ask again */
    in.reset_in_s = -1;
    b24_plan(&in, &out);
    CHECK(near(out.wait_s, 1.0));
    /* requests still running: hold (no new one), their answers report */
    in.in_flight = 7;
    b24_plan(&in, &out);
    CHECK(out.wait_s == 0 && out.flights == 7);

    /* after the reset time: one page refreshes the state */
    in = base(400);
    in.budget_limit_s = 480;
    in.budget_used_s = 470;
    in.budget_stale = 1;
    b24_plan(&in, &out);
    CHECK(out.flights == 1 && out.pages == 1 && out.wait_s == 0 && out.budget_bound == 1);
    in.in_flight = 3;
    b24_plan(&in, &out);
    CHECK(out.flights == 3 && out.pages == 1);

    /* the caller's bound is clamped */
    in = base(100000);
    in.max_flights = 100000;
    in.tokens = 1000;
    b24_plan(&in, &out);
    CHECK(out.flights <= B24_PLAN_MAX_FLIGHTS && out.pages <= B24_PLAN_MAX_PAGES);
}
