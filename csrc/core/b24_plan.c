/* b24_plan.c - the export planner (b24_plan.h). */
#include <math.h>

#include "b24_plan.h"

double
b24_plan_wall(double pages, int flights, double page_s, double rtt_s,
              double tokens, double drain, int *pages_per_batch)
{
    double k, requests, rounds, server, bucket;
    if (flights < 1)
        flights = 1;
    k = ceil(pages / flights);
    if (k > B24_PLAN_MAX_PAGES)
        k = B24_PLAN_MAX_PAGES;
    if (k < 1)
        k = 1;
    requests = ceil(pages / k);
    /* each stream reads its batches one after another */
    rounds = ceil(requests / flights);
    server = rounds * (k * page_s + rtt_s);
    /* requests beyond the free tokens wait for the bucket to drain */
    bucket = (requests > tokens ? (requests - tokens) / drain : 0) + k * page_s + rtt_s;
    if (pages_per_batch)
        *pages_per_batch = (int)k;
    return server > bucket ? server : bucket;
}

static double
pos_or(double v, double dflt)
{
    return v > 0 ? v : dflt;
}

void
b24_plan(const struct b24_plan_in *in, struct b24_plan_out *out)
{
    double pages = in->pages_left > 0 ? ceil(in->pages_left) : 0;
    double page_s = pos_or(in->page_s, 0.1);
    double cost = pos_or(in->page_cost_s, page_s);
    double rtt = pos_or(in->rtt_s, 0.05);
    double drain = pos_or(in->drain, 2.0);
    double window = pos_or(in->window_s, 600.0);
    double margin = in->margin >= 0 ? in->margin : 0.05;
    double tokens = in->tokens - (in->reserve > 0 ? in->reserve : 0);
    double best = HUGE_VAL, w, headroom, need;
    int cap = in->max_flights, c, k = 1, best_c = 1, best_k = 1;

    out->wait_s = 0;
    out->budget_bound = 0;
    if (cap < 1)
        cap = 1;
    if (cap > B24_PLAN_MAX_FLIGHTS)
        cap = B24_PLAN_MAX_FLIGHTS;
    if (pages < 1) {
        out->flights = 1;
        out->pages = 1;
        out->eta_s = 0;
        return;
    }
    /* the tokens of the requests already running were taken from the bucket
     * before it reported `tokens`: they count as available to this job */
    tokens += in->in_flight > 0 ? in->in_flight : 0;
    if (tokens < 1)
        tokens = 1;
    /* fewest streams among the fastest plans: every stream costs tokens */
    for (c = 1; c <= cap && c <= pages; c++) {
        w = b24_plan_wall(pages, c, page_s, rtt, tokens, drain, &k);
        if (w < best * 0.999) {
            best = w;
            best_c = c;
            best_k = k;
        }
    }
    out->flights = best_c;
    out->pages = best_k;
    out->eta_s = best;

    if (in->budget_limit_s <= 0)
        return;
    /* the operating budget: spend what the window has left (minus the
     * margin and what is already in flight), then wait for baskets to expire */
    if (in->budget_stale) {
        /* one page refreshes the state; the running requests will too */
        out->budget_bound = 1;
        out->pages = 1;
        out->flights = in->in_flight > 0 ? in->in_flight : 1;
        return;
    }
    headroom = in->budget_limit_s * (1.0 - margin) - in->budget_used_s - in->budget_inflight_s;
    need = pages * cost;
    if (need > headroom) {
        out->budget_bound = 1;
        /* one budget per window after the first: the floor of issue 12 */
        w = (need - (headroom > 0 ? headroom : 0)) / (in->budget_limit_s * (1.0 - margin)) * window;
        if (w > out->eta_s)
            out->eta_s = w;
    }
    if (headroom < cost) {
        /* not one page fits: nothing new until the oldest basket expires */
        out->pages = 1;
        /* hold while requests run (their answers report a fresh state) */
        out->flights = in->in_flight > 0 ? in->in_flight : 1;
        out->wait_s = in->in_flight > 0 ? 0 : (in->reset_in_s >= 0 ? in->reset_in_s : 1.0);
        return;
    }
    if (need > headroom) {
        double fit = floor(headroom / cost);
        if (fit < out->pages)
            out->pages = (int)fit;
        /* streams that the headroom feeds, counting the running ones: whole
         * requests only (rounding up would commit up to pages - 1 pages past
         * the headroom, enough to push a wave over the limit) */
        c = (int)floor(fit / out->pages) + (in->in_flight > 0 ? in->in_flight : 0);
        if (c < out->flights)
            out->flights = c < 1 ? 1 : c;
    }
}
