/* b24_engine.c - the call state machine of spec §5; see b24_engine.h. */
#include "b24_engine.h"

#include <string.h>

enum {
    S_INIT = 0,
    S_PLAIN_SENT, /* no limiter: one exchange, as it is */
    S_ATTEMPT,    /* an attempt begins: operating gate */
    S_RATE,       /* the rate gate: a token, or a WAIT and ask again */
    S_SENT,       /* an exchange is in c->out */
    S_RETRY_WAIT, /* the retry wait has passed */
    S_DONE
};

void
b24_call_init(struct b24_call *c, struct b24_outcome *out)
{
    memset(c, 0, sizeof(*c));
    c->method = "";
    c->out = out;
}

static void
emit(struct b24_call *c, struct b24_event *ev)
{
    if (c->on_event != NULL) {
        ev->method = c->method;
        c->on_event(c->ctx, ev);
    }
}

static void
emit_kind(struct b24_call *c, enum b24_event_kind kind, unsigned attempt,
          const struct b24_outcome *o)
{
    struct b24_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.attempt = attempt;
    ev.outcome = o;
    emit(c, &ev);
}

static void
emit_wait(struct b24_call *c, enum b24_event_kind kind, enum b24_gate gate,
          double wait_ms, unsigned long count, unsigned attempt)
{
    struct b24_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.gate = gate;
    ev.wait_ms = wait_ms;
    ev.count = count;
    ev.attempt = attempt;
    emit(c, &ev);
}

static int
is_auth_retry(const struct b24_outcome *o)
{
    return o->kind == B24_KIND_ERROR && o->status == 401 && o->code != NULL &&
           (strcmp(o->code, "expired_token") == 0 ||
            strcmp(o->code, "invalid_token") == 0);
}

/* A 2xx answer's `time` feeds the operating limiter and the rate limiter's
 * success accounting. */
static void
feed_success(struct b24_call *c)
{
    const struct b24_outcome *out = c->out;
    int restored = 0, heavy = 0;
    if (out->kind != B24_KIND_OK || !out->have_time)
        return;
    b24_limiter_record_success(c->limiter, c->method, out->have_operating,
                               out->operating, out->have_reset_at,
                               out->reset_at, &restored, &heavy);
    if (heavy)
        emit_wait(c, B24_EV_HEAVY, B24_GATE_NONE, out->operating * 1000.0, 0,
                  0);
    if (restored)
        emit_kind(c, B24_EV_RATE_RESTORED, 0, NULL);
}

static void
done(struct b24_call *c, struct b24_step *step)
{
    c->state = S_DONE;
    step->kind = B24_STEP_DONE;
}

static void
send(struct b24_call *c, struct b24_step *step)
{
    if (c->pending) {
        b24_metrics_pending(c->limiter, -1);
        c->pending = 0;
    }
    emit_kind(c, B24_EV_POST_SEND, 0, NULL);
    c->attempts++;
    c->state = S_SENT;
    step->kind = B24_STEP_SEND;
    step->fresh_connect = c->is_write && !c->idempotent;
}

/* §5 step 3.4: a token, else WAIT and ask again. */
static void
rate_gate(struct b24_call *c, struct b24_step *step)
{
    double w = b24_limiter_reserve(c->limiter);
    if (!(w > 0)) {
        send(c, step);
        return;
    }
    if (!c->pending) {
        b24_metrics_pending(c->limiter, 1);
        c->pending = 1;
    }
    c->rate_waits++;
    b24_metrics_limit_hit(c->limiter);
    emit_wait(c, B24_EV_BLOCKED, B24_GATE_RATE, w, c->rate_waits, 0);
    c->state = S_RATE;
    step->kind = B24_STEP_WAIT;
    step->wait_ms = w;
}

/* §5 steps 3.1-3.2: the attempt event, the operating gate else the
 * adaptive delay, then the rate gate. */
static void
attempt_begin(struct b24_call *c, struct b24_step *step)
{
    struct b24_event ev;
    enum b24_gate gate;
    double w;

    memset(&ev, 0, sizeof(ev));
    ev.kind = B24_EV_ATTEMPT;
    ev.attempt = c->attempt + 1;
    ev.max_attempts = c->max;
    emit(c, &ev);
    c->auth_done = 0;
    c->rate_waits = 0;
    w = b24_limiter_operating_wait(c->limiter, c->method, &c->batch, &gate);
    if (w > 0) {
        b24_metrics_limit_hit(c->limiter);
        emit_wait(c, B24_EV_BLOCKED, gate, w, 0, 0);
        c->state = S_RATE;
        step->kind = B24_STEP_WAIT;
        step->wait_ms = w;
        return;
    }
    rate_gate(c, step);
}

/* An exchange is in c->out: success, a 401 resend, a retry or the end. */
static void
answered(struct b24_call *c, double now_ms, struct b24_step *step)
{
    struct b24_limiter *l = c->limiter;
    struct b24_outcome *out = c->out;
    struct b24_retry_input in;
    struct b24_retry_decision d;
    struct b24_event ev;
    double elapsed;

    if (!c->auth_done && is_auth_retry(out)) {
        c->auth_done = 1;
        emit_kind(c, B24_EV_AUTH_ERROR, 0, NULL);
        emit_kind(c, B24_EV_AUTH_REFRESH, 0, NULL);
        c->rate_waits = 0;
        rate_gate(c, step);
        return;
    }
    elapsed = now_ms - c->t0;
    if (out->kind != B24_KIND_ERROR) {
        emit_kind(c, B24_EV_RESPONSE, 0, out);
        feed_success(c);
        b24_metrics_attempt(l, c->method, 1, NULL, elapsed);
        memset(&ev, 0, sizeof(ev));
        ev.kind = B24_EV_SUCCESS;
        ev.duration_ms = elapsed;
        emit(c, &ev);
        done(c, step);
        return;
    }
    emit_kind(c, B24_EV_CATCH, 0, out);
    b24_metrics_attempt(l, c->method, 0, out->message, elapsed);
    emit_kind(c, B24_EV_FAILED, c->attempt + 1, out);
    if (c->attempt + 1 >= c->max) {
        c->exhausted = c->max > 1;
        if (c->exhausted)
            emit_kind(c, B24_EV_EXHAUSTED, c->max, out);
        done(c, step);
        return;
    }
    memset(&in, 0, sizeof(in));
    in.status = out->status;
    in.code = out->code ? out->code : "";
    in.message = out->message;
    in.attempt = c->attempt;
    in.method = c->method;
    in.batch = &c->batch;
    in.is_write = c->is_write;
    in.idempotent = c->idempotent;
    in.maybe_sent = out->maybe_sent;
    b24_retry_decide(l, &in, &d);
    if (d.rate_lowered)
        emit_kind(c, B24_EV_RATE_LOWERED, 0, NULL);
    memset(&ev, 0, sizeof(ev));
    ev.kind = B24_EV_DECIDED;
    ev.reason = (int)d.reason;
    ev.outcome = out;
    ev.attempt = c->attempt + 1;
    ev.wait_ms = d.wait_ms;
    emit(c, &ev);
    if (!(d.wait_ms > 0)) {
        done(c, step);
        return;
    }
    b24_metrics_limit_hit(l);
    emit_wait(c, B24_EV_WAIT, B24_GATE_NONE, d.wait_ms, 0, c->attempt + 1);
    c->state = S_RETRY_WAIT;
    step->kind = B24_STEP_WAIT;
    step->wait_ms = d.wait_ms;
}

enum b24_status
b24_call_step(struct b24_call *c, double now_ms, struct b24_step *step)
{
    int maxr;

    memset(step, 0, sizeof(*step));
    if (c->method == NULL)
        c->method = "";
    switch (c->state) {
    case S_INIT:
        c->t0 = now_ms;
        if (c->limiter == NULL) { /* the plain path: one attempt, no gates */
            c->attempts = 1;
            c->state = S_PLAIN_SENT;
            step->kind = B24_STEP_SEND;
            return B24_OK;
        }
        maxr = b24_limiter_max_retries(c->limiter);
        if (maxr < 1) {
            c->out->status = 500;
            done(c, step);
            return b24_outcome_set(c->out, B24_KIND_ERROR,
                                   "JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED",
                                   "All attempts exhausted");
        }
        c->max = (unsigned)maxr;
        c->attempt = 0;
        attempt_begin(c, step);
        return B24_OK;
    case S_PLAIN_SENT:
        done(c, step);
        return B24_OK;
    case S_RATE:
        rate_gate(c, step);
        return B24_OK;
    case S_SENT:
        answered(c, now_ms, step);
        return B24_OK;
    case S_RETRY_WAIT:
        b24_metrics_retry(c->limiter);
        c->attempt++;
        attempt_begin(c, step);
        return B24_OK;
    default:
        done(c, step);
        return B24_OK;
    }
}

void
b24_call_abandon(struct b24_call *c)
{
    if (c->pending) {
        b24_metrics_pending(c->limiter, -1);
        c->pending = 0;
    }
    c->state = S_DONE;
}
