/* b24_pipeline.h - the blocking driver of one call: it runs the engine's
 * call machine (b24_engine.h, where every rule of spec §5 lives) with
 * b24_http_perform for SEND and an interruptible sleep for WAIT.
 *
 * This file only sleeps and performs.  Sleeps are cut in slices of at most
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
#include "b24_engine.h"

#define B24_PIPELINE_SLICE_MS 50

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

/* The exchange of a SEND step: fill `out` from `req`.  B24_OK whenever
 * `out` describes the result (transport failures included). */
typedef enum b24_status (*b24_perform_fn)(void *ctx, struct b24_request *req,
                                          struct b24_outcome *out);

/* The same loop with another exchange (the scripted driver of the tests
 * runs exactly this code).  After each exchange `interrupted` is asked. */
enum b24_status b24_pipeline_drive(struct b24_pipeline *p,
                                   b24_perform_fn perform, void *perform_ctx,
                                   struct b24_request *req,
                                   struct b24_outcome *out);

/* Sleep `ms`, in slices, asking p->interrupted between them.  0, or -1
 * when interrupted (p->stopped is then set). */
int b24_pipeline_sleep(struct b24_pipeline *p, double ms);

#endif /* B24_PIPELINE_H */
