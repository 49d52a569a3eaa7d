/* b24_plan.h - the export planner (issue 12): how many requests in flight,
 * how many chained pages per batch, and whether to wait for the method's
 * operating budget.
 *
 * A pure machine, no I/O and no clock: the caller feeds what it knows now
 * (the work left, the server time per page it observed, the rate bucket and
 * the operating budget as the last answers reported them) and gets a
 * decision.  It is asked again before every request, so it re-plans as the
 * answers report their `time` blocks (docs/export.md "The planner"). */
#ifndef B24_PLAN_H
#define B24_PLAN_H

struct b24_plan_in {
    double pages_left;   /* pages of 50 rows still to read (estimate, >= 0) */
    double page_s;       /* wall seconds the server spends per page (<= 0: unknown) */
    double page_cost_s;  /* operating seconds charged per page (<= 0: = page_s) */
    double rtt_s;        /* wall seconds of one request beside the pages (<= 0: 0.05) */
    double tokens;       /* rate-bucket tokens free now */
    double drain;        /* tokens back per second (<= 0: 2) */
    int reserve;         /* tokens left to other callers (>= 0) */
    int max_flights;     /* the caller's bound on requests in flight (>= 1) */
    int in_flight;       /* requests of this job running now */
    double budget_limit_s;    /* operating seconds per window (<= 0: no budget) */
    double budget_used_s;     /* operating seconds used, as last reported */
    double budget_inflight_s; /* operating seconds the requests in flight will add */
    double reset_in_s;        /* wall seconds until operating_reset_at (< 0: unknown) */
    double window_s;          /* wall seconds of the budget window (<= 0: 600) */
    double margin;            /* fraction of the limit never spent (< 0: 0.05) */
    int budget_stale;         /* the reset time passed since the last report: used unknown */
};

struct b24_plan_out {
    int flights;      /* requests to keep in flight (>= 1) */
    int pages;        /* chained pages in the next batch (1..50) */
    double wait_s;    /* wait this long before the next request (0: send now) */
    int budget_bound; /* 1: the operating budget, not the bucket, sets the pace */
    double eta_s;     /* estimated wall seconds to the end */
};

#define B24_PLAN_MAX_PAGES 50
#define B24_PLAN_MAX_FLIGHTS 250

void b24_plan(const struct b24_plan_in *in, struct b24_plan_out *out);

/* The estimated wall seconds of reading `pages` pages with `flights`
 * concurrent streams of batches of ceil(pages/flights) pages (capped at 50),
 * with `tokens` free now and `drain` tokens per second after them. */
double b24_plan_wall(double pages, int flights, double page_s, double rtt_s,
                     double tokens, double drain, int *pages_per_batch);

#endif
