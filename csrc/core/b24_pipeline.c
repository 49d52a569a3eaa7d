/* b24_pipeline.c - the blocking driver of one call; see b24_pipeline.h.
 * Every rule is the engine's (b24_engine.c): this file only performs the
 * SEND steps and sleeps the WAIT steps, interruptibly. */
#include "b24_pipeline.h"

#include <math.h>
#include <string.h>
#include <time.h>

void
b24_pipeline_init(struct b24_pipeline *p)
{
    memset(p, 0, sizeof(*p));
    p->method = "";
}

static int
ask_stop(struct b24_pipeline *p)
{
    if (p->stopped)
        return 1;
    if (p->interrupted != NULL && p->interrupted(p->ctx))
        p->stopped = 1;
    return p->stopped;
}

int
b24_pipeline_sleep(struct b24_pipeline *p, double ms)
{
    double end = b24_clock_mono_ms(NULL) + ms;
    for (;;) {
        double left;
        struct timespec ts;
        if (ask_stop(p))
            return -1;
        left = end - b24_clock_mono_ms(NULL);
        if (left <= 0)
            return 0;
        if (left > B24_PIPELINE_SLICE_MS)
            left = B24_PIPELINE_SLICE_MS;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(left * 1e6);
        nanosleep(&ts, NULL);
    }
}

static int
abort_cb(void *ctx)
{
    return ask_stop(ctx);
}

static enum b24_status
http_perform(void *ctx, struct b24_request *req, struct b24_outcome *out)
{
    return b24_http_perform(ctx, req, out);
}

enum b24_status
b24_pipeline_drive(struct b24_pipeline *p, b24_perform_fn perform,
                   void *perform_ctx, struct b24_request *req,
                   struct b24_outcome *out)
{
    struct b24_call c;
    enum b24_status st;

    p->attempts = 0;
    p->exhausted = 0;
    p->stopped = 0;
    if (p->interrupted != NULL) {
        req->abort_cb = abort_cb;
        req->abort_ctx = p;
    }
    b24_call_init(&c, out);
    c.limiter = p->limiter;
    c.method = p->method != NULL ? p->method : "";
    c.batch = p->batch;
    c.is_write = p->is_write;
    c.idempotent = p->idempotent;
    c.on_event = p->on_event;
    c.ctx = p->ctx;
    for (;;) {
        struct b24_step s;
        st = b24_call_step(&c, b24_clock_mono_ms(NULL), &s);
        if (st != B24_OK || s.kind == B24_STEP_DONE)
            break;
        if (s.kind == B24_STEP_WAIT) {
            if (b24_pipeline_sleep(p, s.wait_ms) < 0)
                break;
            continue;
        }
        if (p->limiter != NULL)
            req->fresh_connect = s.fresh_connect;
        b24_outcome_clear(out);
        b24_outcome_init(out);
        st = perform(perform_ctx, req, out);
        if (st != B24_OK || ask_stop(p))
            break;
    }
    b24_call_abandon(&c); /* a no-op after DONE */
    p->attempts = c.attempts;
    p->exhausted = c.exhausted;
    return st;
}

enum b24_status
b24_pipeline_run(struct b24_pipeline *p, struct b24_http *h,
                 struct b24_request *req, struct b24_outcome *out)
{
    return b24_pipeline_drive(p, http_perform, h, req, out);
}
