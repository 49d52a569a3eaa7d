/* b24_pipeline.h - the call pipeline of spec §5, in C.
 *
 *     for attempt in 0 .. max_retries-1:
 *         event ATTEMPT
 *         operating gate (§9.3), else adaptive delay (§9.4)  -> sleep
 *         rate gate loop (§9.2)                               -> sleep
 *         POST (401 expired/invalid token: rate gate + one more POST)
 *         success -> feed the limiters and metrics, return
 *         failure -> metrics, retry policy (§9.5)             -> sleep
 *     exhausted / stopped -> the last outcome is the answer
 *
 * Every decision comes from b24_limiter / b24_retry (non-blocking); this
 * file only sleeps and performs.  Sleeps are cut in slices of at most
 * B24_PIPELINE_SLICE_MS; between slices (and from libcurl's progress
 * callback during the exchange) `interrupted(ctx)` is asked whether to
 * stop.  Events are reported through `on_event(ctx, ev)`, always with no
 * core lock held, in the order of spec §11.3, so a binding may take its
 * interpreter lock inside the callback.  Run without the GIL. */
#ifndef B24_PIPELINE_H
#define B24_PIPELINE_H

#include "b24.h"
#include "b24_envelope.h"
#include "b24_http.h"
#include "b24_limiter.h"
#include "b24_retry.h"

#define B24_PIPELINE_SLICE_MS 50

enum b24_event_kind {
    B24_EV_ATTEMPT = 1,   /* attempt, max_attempts */
    B24_EV_BLOCKED,       /* gate, wait_ms, count (rate gate: nth wait) */
    B24_EV_POST_SEND,     /* a POST is about to go */
    B24_EV_RESPONSE,      /* outcome: a 2xx answer (post/response) */
    B24_EV_SUCCESS,       /* duration_ms */
    B24_EV_CATCH,         /* outcome: a failure (post/catchError) */
    B24_EV_FAILED,        /* attempt, outcome */
    B24_EV_DECIDED,       /* reason (enum b24_retry_reason), outcome */
    B24_EV_RATE_LOWERED,  /* limiter rates lowered */
    B24_EV_RATE_RESTORED, /* limiter rates restored */
    B24_EV_HEAVY,         /* a heavy request (wait_ms = operating ms) */
    B24_EV_WAIT,          /* wait_ms before the next attempt; attempt */
    B24_EV_AUTH_ERROR,    /* 401 expired/invalid token */
    B24_EV_AUTH_REFRESH,  /* refreshing (a no-op for a webhook) */
    B24_EV_EXHAUSTED      /* outcome: all attempts used */
};

struct b24_event {
    enum b24_event_kind kind;
    const char *method;
    unsigned attempt;      /* 1-based */
    unsigned max_attempts;
    double wait_ms;
    unsigned long count;
    enum b24_gate gate;
    int reason;
    double duration_ms;
    const struct b24_outcome *outcome; /* borrowed, valid during the call */
};

struct b24_pipeline {
    /* input */
    struct b24_limiter *limiter;     /* NULL: one attempt, no gates */
    const char *method;              /* "" when unknown */
    struct b24_call_methods batch;   /* v2 batch command names */
    int is_write;                    /* Decisions item 8 */
    int idempotent;                  /* carries an Idempotency-Key */
    void (*on_event)(void *ctx, const struct b24_event *ev); /* or NULL */
    int (*interrupted)(void *ctx);   /* or NULL; nonzero = stop (sticky) */
    void *ctx;
    /* output */
    unsigned attempts;   /* POSTs made */
    int exhausted;       /* stopped because every attempt failed */
    int stopped;         /* interrupted() said stop: the outcome is void */
};

void b24_pipeline_init(struct b24_pipeline *p);

/* Run the call.  On return `out` holds the final outcome (success, or the
 * last failure; max_retries < 1 gives JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED
 * with zero POSTs).  B24_E_NOMEM / B24_E_CURL only when no outcome could
 * be built.  Blocking; call without the GIL. */
enum b24_status b24_pipeline_run(struct b24_pipeline *p, struct b24_http *h,
                                 struct b24_request *req,
                                 struct b24_outcome *out);

/* Sleep `ms`, in slices, asking p->interrupted between them.  0, or -1
 * when interrupted (p->stopped is then set). */
int b24_pipeline_sleep(struct b24_pipeline *p, double ms);

#endif /* B24_PIPELINE_H */
