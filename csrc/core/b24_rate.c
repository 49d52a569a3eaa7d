/* b24_rate.c - the rate limiter's state (spec §9.2, leaky bucket): its
 * steps (b24_rate_state_*, used by every backend that keeps the struct in
 * memory it can map) and the in-process backend (b24_rate_inproc, see
 * b24_limiter_ops.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "b24_limiter_ops.h"

#define ERR_WINDOW_MS 60000.0
#define SUCC_HISTORY_CAP 20
#define REDUCE_AFTER_ERRORS 5
#define RESTORE_AFTER_SUCCESSES 20
#define RESTORE_MAX_ERRORS 2.5
#define B24_RATE_HEADROOM 1.0 /* tokens kept back (see reserve) */

/* ---- the steps ---------------------------------------------------------- */

void
b24_rate_state_configure(struct b24_rate_state *r,
                         const struct b24_limits_config *cfg)
{
    r->burst = r->orig_burst = cfg->burst_limit;
    r->drain = r->orig_drain = cfg->drain_rate;
    if (r->tokens > r->burst)
        r->tokens = r->burst;
    r->adaptive = cfg->rate_adaptive;
    r->nerr = 0;
    r->nsucc = 0;
}

void
b24_rate_state_init(struct b24_rate_state *r,
                    const struct b24_limits_config *cfg, double now)
{
    memset(r, 0, sizeof(*r));
    b24_rate_state_configure(r, cfg);
    r->tokens = r->burst;
    r->last_refill = now;
}

static void
drop_old_errors(struct b24_rate_state *r, double t)
{
    size_t i, k = 0;
    for (i = 0; i < r->nerr; i++)
        if (t - r->err_ts[i] <= ERR_WINDOW_MS)
            r->err_ts[k++] = r->err_ts[i];
    r->nerr = k;
}

double
b24_rate_state_reserve(struct b24_rate_state *r, double t)
{
    double elapsed, need;
    elapsed = t - r->last_refill;
    if (elapsed < 0)
        elapsed = 0; /* the wall clock stepped back */
    r->tokens = fmin(r->burst, r->tokens + elapsed * r->drain / 1000.0);
    r->last_refill = t;
    /* Headroom [DIVERGE]: a token is granted only while one more stays in
     * the bucket, so the client runs one request behind the portal's
     * counter instead of in exact lockstep with it (any jitter between the
     * client's clock and the portal's arrival times would otherwise get a
     * request refused; docs/limits.md). */
    need = 1.0 + fmin(B24_RATE_HEADROOM, fmax(0.0, r->burst - 1.0));
    if (r->tokens >= need) {
        r->tokens -= 1;
        return 0;
    }
    return ceil((need - r->tokens) * (1000.0 / r->drain));
}

double
b24_rate_state_exceeded(struct b24_rate_state *r, double t, int *lowered)
{
    int low = 0;
    r->nsucc = 0;
    drop_old_errors(r, t);
    if (r->nerr == B24_RATE_ERR_CAP) {
        memmove(r->err_ts, r->err_ts + 1,
                (B24_RATE_ERR_CAP - 1) * sizeof(r->err_ts[0]));
        r->nerr--;
    }
    r->err_ts[r->nerr++] = t;
    if (r->adaptive && r->nerr >= REDUCE_AFTER_ERRORS) {
        r->drain = fmax(0.5, b24_round2(r->drain * 0.8));
        r->burst = fmax(5, b24_round2(r->burst * 0.8));
        r->nerr = 0;
        r->nsucc = 0;
        low = 1;
    }
    r->tokens = 0;
    r->last_refill = t;
    *lowered = low;
    return 1000.0 / r->drain + 1000.0;
}

int
b24_rate_state_success(struct b24_rate_state *r, double t)
{
    if (r->nsucc < SUCC_HISTORY_CAP)
        r->nsucc++;
    drop_old_errors(r, t);
    if (r->adaptive && r->nsucc >= RESTORE_AFTER_SUCCESSES &&
        (double)r->nerr < RESTORE_MAX_ERRORS &&
        (r->drain < r->orig_drain || r->burst < r->orig_burst)) {
        r->drain = fmin(r->orig_drain, b24_round2(r->drain * 1.1));
        r->burst = fmin(r->orig_burst, b24_round2(r->burst * 1.1));
        r->nerr = 0;
        r->nsucc = 0;
        return 1;
    }
    return 0;
}

void
b24_rate_state_stats(struct b24_rate_state *r, double t,
                     struct b24_limiter_stats *s)
{
    s->tokens = r->tokens;
    s->burst_limit = r->burst;
    s->original_burst_limit = r->orig_burst;
    s->drain_rate = r->drain;
    s->original_drain_rate = r->orig_drain;
    s->refill_interval_ms = 1000.0 / r->drain;
    s->last_refill = r->last_refill;
    drop_old_errors(r, t);
    s->recent_errors = (double)r->nerr;
    s->recent_successes = (double)r->nsucc;
}

void
b24_rate_state_reset(struct b24_rate_state *r, double t)
{
    r->tokens = r->burst; /* the current (maybe lowered) burst */
    r->burst = r->orig_burst;
    r->drain = r->orig_drain;
    r->last_refill = t;
    r->nerr = r->nsucc = 0;
}

int
b24_rate_state_sane(const struct b24_rate_state *r)
{
    size_t i;
    if (!isfinite(r->tokens) || !isfinite(r->burst) || !isfinite(r->drain) ||
        !isfinite(r->orig_burst) || !isfinite(r->orig_drain) ||
        !isfinite(r->last_refill) || !(r->drain > 0) || !(r->orig_drain > 0) ||
        !(r->burst >= 0) || !(r->orig_burst >= 0) || r->tokens < 0 ||
        r->tokens > r->burst || r->nerr > B24_RATE_ERR_CAP ||
        r->nsucc > SUCC_HISTORY_CAP || (r->adaptive != 0 && r->adaptive != 1))
        return 0;
    for (i = 0; i < r->nerr; i++)
        if (!isfinite(r->err_ts[i]))
            return 0;
    return 1;
}

/* ---- the in-process backend ---------------------------------------------- */

static void *
rate_create(const struct b24_limits_config *cfg,
            const struct b24_limiter_scope *scope, double now,
            struct b24_error *err)
{
    struct b24_rate_state *r = malloc(sizeof(*r));
    (void)scope;
    if (r == NULL) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        return NULL;
    }
    b24_rate_state_init(r, cfg, now);
    return r;
}

static void
rate_destroy(void *self)
{
    free(self);
}

static void
rate_configure(void *self, const struct b24_limits_config *cfg)
{
    b24_rate_state_configure(self, cfg);
}

static double
rate_reserve(void *self, double t)
{
    return b24_rate_state_reserve(self, t);
}

static double
rate_exceeded(void *self, double t, int *lowered)
{
    return b24_rate_state_exceeded(self, t, lowered);
}

static int
rate_success(void *self, double t)
{
    return b24_rate_state_success(self, t);
}

static void
rate_stats(void *self, double t, struct b24_limiter_stats *s)
{
    b24_rate_state_stats(self, t, s);
}

static void
rate_reset(void *self, double t)
{
    b24_rate_state_reset(self, t);
}

const struct b24_rate_ops b24_rate_inproc = {
    .name = "in-process",
    .create = rate_create,
    .destroy = rate_destroy,
    .configure = rate_configure,
    .reserve = rate_reserve,
    .exceeded = rate_exceeded,
    .success = rate_success,
    .stats = rate_stats,
    .reset = rate_reset,
};
