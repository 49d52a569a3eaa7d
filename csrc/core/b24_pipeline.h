/* b24_pipeline.h - the call pipeline: where the limiter and the retry
 * policy slot in.
 *
 * Today a call is one attempt: b24_pipeline_run() = b24_http_perform().
 * The later shape (spec §5, §9) is
 *
 *     for attempt in 1..max_attempts:
 *         wait = limiter.reserve(method)       -> sleep in the glue (GIL off)
 *         outcome = http.perform(request)
 *         limiter.record(outcome)
 *         wait = retry.decide(outcome, attempt, is_write, maybe_sent)
 *         if wait == 0: break
 *
 * The hooks below are the slots for it: each is optional (NULL = skip),
 * must not block, and returns a number of milliseconds to wait, so an
 * event-driven (curl multi) driver can run the same decisions. */
#ifndef B24_PIPELINE_H
#define B24_PIPELINE_H

#include "b24.h"
#include "b24_envelope.h"
#include "b24_http.h"

struct b24_pipeline_hooks {
    /* Before an attempt: ms to wait first (0 = go).  Not used yet. */
    long (*before_attempt)(void *ctx, const struct b24_request *req,
                           unsigned attempt);
    /* After an attempt: ms to wait before a retry, or -1 to stop. */
    long (*after_attempt)(void *ctx, const struct b24_outcome *out,
                          unsigned attempt);
    void *ctx;
};

struct b24_pipeline {
    unsigned max_attempts;          /* 1 today */
    struct b24_pipeline_hooks hooks; /* all NULL today */
};

void b24_pipeline_init(struct b24_pipeline *p);

/* Run the call: currently exactly one attempt through `h`.  Blocking; call
 * without the GIL.  `out` must be initialised (b24_outcome_init). */
enum b24_status b24_pipeline_run(const struct b24_pipeline *p,
                                 struct b24_http *h,
                                 const struct b24_request *req,
                                 struct b24_outcome *out);

#endif /* B24_PIPELINE_H */
