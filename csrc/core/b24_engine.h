/* b24_engine.h - the sans-I/O engine of one REST call (spec §5).
 *
 * A `struct b24_call` is a state machine.  It never blocks, sleeps or
 * touches a socket: the driver asks it for the next step, does what the
 * step says, and asks again:
 *
 *     B24_STEP_SEND  perform the request into c->out, then step again
 *     B24_STEP_WAIT  wait step.wait_ms (a timer), then step again
 *     B24_STEP_DONE  c->out holds the answer (success or final failure)
 *
 * Every decision is the engine's: the attempt loop, the operating gate
 * (§9.3) else the adaptive delay (§9.4), the rate gate (§9.2, one WAIT per
 * refused token), the 401 expired/invalid token resend, feeding the
 * limiters and metrics, the retry policy with the safe-write rule (§9.5,
 * b24_retry_decide), exhaustion.  The drivers are:
 *   - b24_pipeline_run (b24_pipeline.c): one call, blocking, easy perform;
 *   - b24_drive_many (b24_drive.c): many calls in one thread, libcurl multi;
 *   - the scripted driver of csrc/ext/scripted.c: outcomes from a list
 *     (tests, on exactly this code).
 * An asyncio driver feeds the same steps from the event loop.
 *
 * Time is fed by the driver (`now_ms`, monotonic ms) for durations; the
 * limiter keeps its own injected wall clock.  Events are reported through
 * `on_event(ctx, ev)` from inside b24_call_step, with no core lock held, in
 * the order of spec §11.3. */
#ifndef B24_ENGINE_H
#define B24_ENGINE_H

#include "b24.h"
#include "b24_envelope.h"
#include "b24_limiter.h"
#include "b24_retry.h"

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

enum b24_step_kind {
    B24_STEP_SEND = 1, /* perform the request into c->out */
    B24_STEP_WAIT,     /* wait wait_ms */
    B24_STEP_DONE      /* c->out is the answer */
};

struct b24_step {
    enum b24_step_kind kind;
    double wait_ms;    /* WAIT */
    int fresh_connect; /* SEND: never on a reused connection (a write
                          without an Idempotency-Key, docs/limits.md) */
};

struct b24_call {
    /* input, set after b24_call_init */
    struct b24_limiter *limiter;     /* NULL: one attempt, no gates */
    const char *method;              /* "" when unknown */
    struct b24_call_methods batch;   /* v2 batch command names */
    int is_write;                    /* Decisions item 8 */
    int idempotent;                  /* carries an Idempotency-Key */
    void (*on_event)(void *ctx, const struct b24_event *ev); /* or NULL */
    void *ctx;
    struct b24_outcome *out;         /* borrowed: the exchange's outcome */
    /* output */
    unsigned attempts;   /* SEND steps given */
    int exhausted;       /* ended because every attempt failed */
    /* private */
    int state;
    unsigned attempt, max;
    double t0;
    unsigned long rate_waits;
    int auth_done;
    int pending;         /* counted in metrics' pending_requests */
};

/* Zero the machine; `out` receives every exchange and the answer. */
void b24_call_init(struct b24_call *c, struct b24_outcome *out);

/* The next step.  Call it first right after init; after SEND, once the
 * exchange has filled c->out (the driver clears c->out before performing);
 * after WAIT, once wait_ms have passed.  After DONE it keeps returning
 * DONE.  B24_E_NOMEM only when an outcome could not be built. */
enum b24_status b24_call_step(struct b24_call *c, double now_ms,
                              struct b24_step *step);

/* The driver stops the call before DONE (Ctrl-C, cancellation, a failed
 * exchange): balance the counters the machine holds.  Idempotent. */
void b24_call_abandon(struct b24_call *c);

#endif /* B24_ENGINE_H */
