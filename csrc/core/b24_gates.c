/* b24_gates.c - the rules that read the operating entries: §9.3
 * time_to_free, §9.4 the adaptive delayer (with its counters), and the
 * order of §5 step 3.2 (time_to_free, else the adaptive delay).  The
 * entries come from the operating backend (b24_limiter_ops.h), so these
 * rules are the same whatever keeps the state. */
#include <math.h>
#include <string.h>

#include "b24_limiter_impl.h"

static int
lookup(struct b24_limiter *l, const char *prefix, const char *name, size_t n,
       double t, struct b24_op_entry *out)
{
    return l->op.ops->get(l->op.self, prefix, name, n, t, out);
}

/* A reset time the server reported is used only when it is plausible: in
 * the future and at most one window away (issue 9 item 3). Far in the
 * future, 1e308 or a clock skew of hours means "unknown": the short default
 * wait, never a reason to sleep long. Non-finite values never get here
 * (record_success drops them). */
static int
reset_plausible(const struct b24_limits_config *c,
                const struct b24_op_entry *e, double t)
{
    return e->have_reset && e->reset_at_ms > t &&
           e->reset_at_ms - t <= c->window_ms;
}

static double
ttf_entry(const struct b24_limits_config *c, const struct b24_op_entry *e,
          double t)
{
    if (e->operating_ms >= fmax(1000.0, c->limit_ms - 5000.0)) {
        if (reset_plausible(c, e, t))
            return e->reset_at_ms - t + 1000.0;
        return 5000.0;
    }
    return 0;
}

static double
adaptive_entry(const struct b24_limits_config *c,
               const struct b24_op_entry *e, double t)
{
    double usage, delay;
    usage = e->operating_ms / c->limit_ms * 100.0;
    if (!(usage > c->threshold_percent))
        return 0;
    if (reset_plausible(c, e, t))
        delay = (e->reset_at_ms - t) * c->coefficient;
    else
        delay = 7000.0;
    return floor(fmin(delay, c->max_delay) + 0.5);
}

typedef double (*entry_rule)(const struct b24_limits_config *c,
                             const struct b24_op_entry *e, double t);

/* The rule over a call's entries: its own, or for `batch` the max over
 * `batch::<command>` (unique names or not: max() is idempotent). */
static double
apply(struct b24_limiter *l, entry_rule rule, const char *method,
      const struct b24_call_methods *batch, double t)
{
    struct b24_op_entry e;
    double w = 0;
    size_t i;
    if (strcmp(method, "batch") == 0) {
        if (batch == NULL)
            return 0;
        for (i = 0; i < batch->n; i++) {
            const char *name = batch->names[i];
            if (lookup(l, "batch::", name, strcspn(name, "?"), t, &e))
                w = fmax(w, rule(&l->cfg, &e, t));
        }
        return w;
    }
    if (lookup(l, "", method, strlen(method), t, &e))
        return rule(&l->cfg, &e, t);
    return 0;
}

static double
adaptive_locked(struct b24_limiter *l, const char *method,
                const struct b24_call_methods *batch, double t)
{
    if (!l->cfg.adaptive_enabled)
        return 0;
    return apply(l, adaptive_entry, method, batch, t);
}

double
b24_limiter_time_to_free(struct b24_limiter *l, const char *method,
                         const struct b24_call_methods *batch)
{
    double w;
    void *tok = b24_limiter_lock(l);
    w = apply(l, ttf_entry, method, batch, b24_limiter_now(l));
    b24_limiter_unlock(l, tok);
    return w;
}

double
b24_limiter_adaptive_delay(struct b24_limiter *l, const char *method,
                           const struct b24_call_methods *batch)
{
    double w;
    void *tok = b24_limiter_lock(l);
    w = adaptive_locked(l, method, batch, b24_limiter_now(l));
    b24_limiter_unlock(l, tok);
    return w;
}

double
b24_limiter_operating_wait(struct b24_limiter *l, const char *method,
                           const struct b24_call_methods *batch,
                           enum b24_gate *gate)
{
    double t, w;
    enum b24_gate g = B24_GATE_NONE;
    void *tok = b24_limiter_lock(l);
    t = b24_limiter_now(l);
    w = apply(l, ttf_entry, method, batch, t);
    if (w > 0) {
        g = B24_GATE_OPERATING;
    } else {
        w = adaptive_locked(l, method, batch, t);
        if (w > 0) {
            g = B24_GATE_ADAPTIVE;
            l->adaptive.delays += 1;
            l->adaptive.total_delay += w;
        }
    }
    b24_limiter_unlock(l, tok);
    if (gate)
        *gate = g;
    return w;
}
