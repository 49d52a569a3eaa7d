/* b24_pipeline.c - the attempt loop of spec §5; see b24_pipeline.h. */
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

static void
emit(struct b24_pipeline *p, struct b24_event *ev)
{
    if (p->on_event != NULL) {
        ev->method = p->method;
        p->on_event(p->ctx, ev);
    }
}

static void
emit_kind(struct b24_pipeline *p, enum b24_event_kind kind, unsigned attempt,
          const struct b24_outcome *o)
{
    struct b24_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.attempt = attempt;
    ev.outcome = o;
    emit(p, &ev);
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

/* §5 step 3.4: take a token or sleep, until a token is taken. */
static int
rate_gate(struct b24_pipeline *p)
{
    unsigned long n = 0;
    int rc = 0;
    for (;;) {
        double w = b24_limiter_reserve(p->limiter);
        struct b24_event ev;
        if (w <= 0)
            break;
        if (n == 0)
            b24_metrics_pending(p->limiter, 1);
        n++;
        b24_metrics_limit_hit(p->limiter);
        memset(&ev, 0, sizeof(ev));
        ev.kind = B24_EV_BLOCKED;
        ev.gate = B24_GATE_RATE;
        ev.wait_ms = w;
        ev.count = n;
        emit(p, &ev);
        if (b24_pipeline_sleep(p, w) < 0) {
            rc = -1;
            break;
        }
    }
    if (n > 0)
        b24_metrics_pending(p->limiter, -1);
    return rc;
}

static enum b24_status
post(struct b24_pipeline *p, struct b24_http *h, struct b24_request *req,
     struct b24_outcome *out)
{
    b24_outcome_clear(out);
    b24_outcome_init(out);
    emit_kind(p, B24_EV_POST_SEND, 0, NULL);
    p->attempts++;
    return b24_http_perform(h, req, out);
}

static int
is_auth_retry(const struct b24_outcome *o)
{
    return o->kind == B24_KIND_ERROR && o->status == 401 && o->code != NULL &&
           (strcmp(o->code, "expired_token") == 0 ||
            strcmp(o->code, "invalid_token") == 0);
}

static void
feed_success(struct b24_pipeline *p, const struct b24_outcome *out)
{
    const cJSON *t, *op, *ra;
    int restored = 0, heavy = 0;
    if (out->kind != B24_KIND_OK || !cJSON_IsObject(out->envelope))
        return;
    t = b24_json_member(out->envelope, "time");
    if (!cJSON_IsObject(t))
        return;
    op = b24_json_member(t, "operating");
    ra = b24_json_member(t, "operating_reset_at");
    b24_limiter_record_success(p->limiter, p->method, cJSON_IsNumber(op),
                               cJSON_IsNumber(op) ? op->valuedouble : 0,
                               cJSON_IsNumber(ra),
                               cJSON_IsNumber(ra) ? ra->valuedouble : 0,
                               &restored, &heavy);
    if (heavy) {
        struct b24_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.kind = B24_EV_HEAVY;
        ev.wait_ms = op->valuedouble * 1000.0;
        emit(p, &ev);
    }
    if (restored)
        emit_kind(p, B24_EV_RATE_RESTORED, 0, NULL);
}

/* The rate gate, then one exchange.  *stop is set when the run ends here:
 * an interrupted gate or a stopped call (B24_OK, the outcome as it is) or
 * a failed exchange (its status). */
static enum b24_status
gated_post(struct b24_pipeline *p, struct b24_http *h, struct b24_request *req,
           struct b24_outcome *out, int *stop)
{
    enum b24_status st;
    *stop = 1;
    if (rate_gate(p) < 0)
        return B24_OK;
    st = post(p, h, req, out);
    if (st != B24_OK || p->stopped)
        return st;
    *stop = 0;
    return B24_OK;
}

enum b24_status
b24_pipeline_run(struct b24_pipeline *p, struct b24_http *h,
                 struct b24_request *req, struct b24_outcome *out)
{
    struct b24_limiter *l = p->limiter;
    double t0 = b24_clock_mono_ms(NULL);
    unsigned attempt, max;
    enum b24_status st = B24_OK;
    int maxr, stop;

    p->attempts = 0;
    p->exhausted = 0;
    p->stopped = 0;
    if (p->method == NULL)
        p->method = "";
    if (p->interrupted != NULL) {
        req->abort_cb = abort_cb;
        req->abort_ctx = p;
    }
    if (l == NULL) /* the plain path: one attempt, no gates */
        return b24_http_perform(h, req, out);

    /* A non-idempotent write never rides a reused connection: libcurl
     * silently re-sends a request once when a reused connection turns out
     * dead, which could duplicate it (docs/limits.md). */
    req->fresh_connect = p->is_write && !p->idempotent;

    maxr = b24_limiter_max_retries(l);
    if (maxr < 1) {
        out->status = 500;
        return b24_outcome_set(out, B24_KIND_ERROR,
                               "JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED",
                               "All attempts exhausted");
    }
    max = (unsigned)maxr;
    for (attempt = 0; attempt < max; attempt++) {
        struct b24_event ev;
        struct b24_retry_input in;
        struct b24_retry_decision d;
        enum b24_gate gate;
        double w, elapsed;

        memset(&ev, 0, sizeof(ev));
        ev.kind = B24_EV_ATTEMPT;
        ev.attempt = attempt + 1;
        ev.max_attempts = max;
        emit(p, &ev);

        /* operating gate, else the adaptive delay */
        w = b24_limiter_operating_wait(l, p->method, &p->batch, &gate);
        if (w > 0) {
            b24_metrics_limit_hit(l);
            memset(&ev, 0, sizeof(ev));
            ev.kind = B24_EV_BLOCKED;
            ev.gate = gate;
            ev.wait_ms = w;
            emit(p, &ev);
            if (b24_pipeline_sleep(p, w) < 0)
                return B24_OK;
        }
        st = gated_post(p, h, req, out, &stop);
        if (stop)
            return st;
        if (is_auth_retry(out)) {
            emit_kind(p, B24_EV_AUTH_ERROR, 0, NULL);
            emit_kind(p, B24_EV_AUTH_REFRESH, 0, NULL);
            st = gated_post(p, h, req, out, &stop);
            if (stop)
                return st;
        }
        elapsed = b24_clock_mono_ms(NULL) - t0;

        if (out->kind != B24_KIND_ERROR) {
            emit_kind(p, B24_EV_RESPONSE, 0, out);
            feed_success(p, out);
            b24_metrics_attempt(l, p->method, 1, NULL, elapsed);
            memset(&ev, 0, sizeof(ev));
            ev.kind = B24_EV_SUCCESS;
            ev.duration_ms = elapsed;
            emit(p, &ev);
            return B24_OK;
        }

        emit_kind(p, B24_EV_CATCH, 0, out);
        b24_metrics_attempt(l, p->method, 0, out->message, elapsed);
        emit_kind(p, B24_EV_FAILED, attempt + 1, out);
        if (attempt + 1 >= max) {
            p->exhausted = max > 1;
            break;
        }
        memset(&in, 0, sizeof(in));
        in.status = out->status;
        in.code = out->code ? out->code : "";
        in.message = out->message;
        in.attempt = attempt;
        in.method = p->method;
        in.batch = &p->batch;
        in.is_write = p->is_write;
        in.idempotent = p->idempotent;
        in.maybe_sent = out->maybe_sent;
        b24_retry_decide(l, &in, &d);
        if (d.rate_lowered)
            emit_kind(p, B24_EV_RATE_LOWERED, 0, NULL);
        memset(&ev, 0, sizeof(ev));
        ev.kind = B24_EV_DECIDED;
        ev.reason = (int)d.reason;
        ev.outcome = out;
        ev.attempt = attempt + 1;
        ev.wait_ms = d.wait_ms;
        emit(p, &ev);
        if (!(d.wait_ms > 0))
            break;
        b24_metrics_limit_hit(l);
        memset(&ev, 0, sizeof(ev));
        ev.kind = B24_EV_WAIT;
        ev.wait_ms = d.wait_ms;
        ev.attempt = attempt + 1;
        emit(p, &ev);
        if (b24_pipeline_sleep(p, d.wait_ms) < 0)
            return B24_OK;
        b24_metrics_retry(l);
    }
    if (p->exhausted)
        emit_kind(p, B24_EV_EXHAUSTED, max, out);
    return B24_OK;
}
