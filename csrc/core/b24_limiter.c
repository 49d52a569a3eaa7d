/* b24_limiter.c - rate limiter, operating limiter, adaptive delayer and
 * metrics of one transport (spec §9.2-§9.4, §9.6).  See b24_limiter.h. */
#include "b24_limiter.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b24_buf.h"

#define ERR_HISTORY_CAP 256   /* rate-limit errors kept (60 s window) */
#define ERR_WINDOW_MS 60000.0
#define SUCC_HISTORY_CAP 20
#define REDUCE_AFTER_ERRORS 5
#define RESTORE_AFTER_SUCCESSES 20
#define RESTORE_MAX_ERRORS 2.5
#define LAST_ERRORS_CAP 100
#define OP_EXPIRY_EXTRA_MS 10000.0
#define B24_RATE_HEADROOM 1.0 /* tokens kept back (see b24_limiter_reserve) */
/* Bounds on per-method state (issue 9 item 10): a caller that uses many
 * distinct method names must not grow memory or per-call cost without end.
 * Metrics keep METHOD_STATS_CAP names and fold the rest into one row;
 * the operating table evicts entries that cannot cause a wait. */
#define METHOD_STATS_CAP 1000
#define METHOD_STATS_OTHER "(other methods)"
#define OPS_SOFT_CAP 1024

const char *const b24_builtin_hard_codes[] = {
    "ERR_BAD_REQUEST", "JSSDK_UNKNOWN_ERROR", "100", "INTERNAL_SERVER_ERROR",
    "ERROR_UNEXPECTED_ANSWER", "PORTAL_DELETED",
    "ERROR_BATCH_METHOD_NOT_ALLOWED", "ERROR_BATCH_LENGTH_EXCEEDED",
    "NO_AUTH_FOUND", "INVALID_REQUEST", "OVERLOAD_LIMIT", "expired_token",
    "invalid_token", "ACCESS_DENIED", "INVALID_CREDENTIALS",
    "user_access_error", "insufficient_scope",
    "ERROR_MANIFEST_IS_NOT_AVAILABLE", "allowed_only_intranet_user",
    "NOT_FOUND", "INVALID_ARG_VALUE", NULL};

const char *const b24_builtin_soft_codes[] = {
    "ERROR_ENTITY_NOT_FOUND",
    "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION",
    "BITRIX_REST_V3_EXCEPTION_INVALIDJSONEXCEPTION",
    "BITRIX_REST_V3_EXCEPTION_INVALIDFILTEREXCEPTION",
    "BITRIX_REST_V3_EXCEPTION_INVALIDSELECTEXCEPTION",
    "BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION",
    "BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION",
    "BITRIX_REST_V3_EXCEPTION_UNKNOWNDTOPROPERTYEXCEPTION",
    "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION",
    "BITRIX_REST_V3_EXCEPTION_VALIDATION_DTOVALIDATIONEXCEPTION", NULL};

struct op_entry {
    char *method;
    double operating_ms, reset_at_ms, last_updated;
    int have_reset;
};

struct counter {
    char *method;
    double count, total_duration;
};

struct b24_limiter {
    pthread_mutex_t mu;
    b24_clock_fn clock;
    void *clock_ctx;
    b24_rng_fn rng;
    void *rng_ctx;
    uint64_t rng_state;

    /* configuration (strings owned) */
    struct b24_limits_config cfg;
    char **hard, **soft;
    size_t nhard, nsoft;

    /* rate limiter */
    double tokens, burst, drain, orig_burst, orig_drain, last_refill;
    double err_ts[ERR_HISTORY_CAP];
    size_t nerr;
    size_t nsucc;

    /* operating limiter and adaptive delayer */
    struct op_entry *ops;
    size_t nops, aops;
    double heavy, adaptive_delays, total_adaptive_delay;

    /* metrics */
    double retries, consecutive_errors, limit_hits, pending;
    double total_requests, successful, failed, total_duration;
    struct counter *by_method, *errors;
    size_t nby, aby, nerrc, aerrc;
    struct b24_last_error last[LAST_ERRORS_CAP];
    size_t last_head, nlast;
};

/* ---- small helpers ----------------------------------------------------- */

double
b24_round2(double x)
{
    return floor(x * 100.0 + 0.5) / 100.0;
}

double
b24_clock_wall_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double
b24_clock_mono_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double
now(struct b24_limiter *l)
{
    return l->clock(l->clock_ctx);
}

const char *
b24_gate_title(enum b24_gate g)
{
    switch (g) {
    case B24_GATE_RATE:
        return "rateLimiter";
    case B24_GATE_OPERATING:
        return "operatingLimiter";
    case B24_GATE_ADAPTIVE:
        return "adaptiveDelayer";
    default:
        return "";
    }
}

void
b24_limits_config_default(struct b24_limits_config *c)
{
    memset(c, 0, sizeof(*c));
    c->burst_limit = 50;
    c->drain_rate = 2;
    c->rate_adaptive = 1;
    c->window_ms = 600000;
    c->limit_ms = 480000;
    c->heavy_percent = 80;
    c->adaptive_enabled = 1;
    c->threshold_percent = 80;
    c->coefficient = 0.01;
    c->max_delay = 7000;
    c->max_retries = 3;
    c->retry_delay = 1000;
    c->net_retry = B24_NET_RETRY_SAFE;
}

static void
free_strv(char **v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **
copy_strv(const char *const *src, size_t n, int *nomem)
{
    char **v;
    size_t i;
    if (n == 0)
        return NULL;
    v = calloc(n, sizeof(*v));
    if (v == NULL) {
        *nomem = 1;
        return NULL;
    }
    for (i = 0; i < n; i++) {
        v[i] = b24_strdup(src[i] ? src[i] : "");
        if (v[i] == NULL) {
            free_strv(v, i);
            *nomem = 1;
            return NULL;
        }
    }
    return v;
}

static int
in_list(const char *const *list, const char *code)
{
    for (; *list; list++)
        if (strcmp(*list, code) == 0)
            return 1;
    return 0;
}

static int
in_strv(char **v, size_t n, const char *code)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (strcmp(v[i], code) == 0)
            return 1;
    return 0;
}

static double
default_rng(struct b24_limiter *l)
{
    /* xorshift64*, under the mutex */
    uint64_t x = l->rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    l->rng_state = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* ---- lifetime and configuration -------------------------------------- */

static enum b24_status
check_config(const struct b24_limits_config *cfg, struct b24_error *err)
{
    if (!(cfg->drain_rate > 0) || !isfinite(cfg->drain_rate))
        return b24_error_set(err, B24_E_USAGE,
                             "rate_limit.drain_rate must be > 0");
    if (!(cfg->burst_limit >= 0) || !isfinite(cfg->burst_limit))
        return b24_error_set(err, B24_E_USAGE,
                             "rate_limit.burst_limit must be >= 0");
    if (!(cfg->limit_ms > 0) || !isfinite(cfg->limit_ms))
        return b24_error_set(err, B24_E_USAGE,
                             "operating_limit.limit_ms must be > 0");
    if (!isfinite(cfg->window_ms) || !isfinite(cfg->retry_delay) ||
        !isfinite(cfg->max_delay) || !isfinite(cfg->coefficient) ||
        !isfinite(cfg->threshold_percent) || !isfinite(cfg->heavy_percent))
        return b24_error_set(err, B24_E_USAGE,
                             "restriction params must be finite numbers");
    return B24_OK;
}

/* Install cfg (validated) under the mutex or before publication. */
static enum b24_status
install_config(struct b24_limiter *l, const struct b24_limits_config *cfg,
               struct b24_error *err)
{
    int nomem = 0;
    char **hard = copy_strv(cfg->hard_codes, cfg->nhard, &nomem);
    char **soft = nomem ? NULL : copy_strv(cfg->soft_codes, cfg->nsoft, &nomem);
    if (nomem) {
        free_strv(hard, hard ? cfg->nhard : 0);
        return b24_error_set(err, B24_E_NOMEM, "out of memory");
    }
    free_strv(l->hard, l->nhard);
    free_strv(l->soft, l->nsoft);
    l->hard = hard;
    l->nhard = cfg->nhard;
    l->soft = soft;
    l->nsoft = cfg->nsoft;
    l->cfg = *cfg;
    l->cfg.hard_codes = NULL;
    l->cfg.soft_codes = NULL;
    l->burst = l->orig_burst = cfg->burst_limit;
    l->drain = l->orig_drain = cfg->drain_rate;
    if (l->tokens > l->burst)
        l->tokens = l->burst;
    l->nerr = 0;
    l->nsucc = 0;
    return B24_OK;
}

struct b24_limiter *
b24_limiter_new(const struct b24_limits_config *cfg, b24_clock_fn clock,
                void *clock_ctx, b24_rng_fn rng, void *rng_ctx,
                struct b24_error *err)
{
    struct b24_limiter *l;
    struct b24_limits_config def;
    if (cfg == NULL) {
        b24_limits_config_default(&def);
        cfg = &def;
    }
    if (check_config(cfg, err) != B24_OK)
        return NULL;
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        return NULL;
    }
    l->clock = clock ? clock : b24_clock_wall_ms;
    l->clock_ctx = clock_ctx;
    l->rng = rng;
    l->rng_ctx = rng_ctx;
    l->rng_state = (uint64_t)b24_clock_mono_ms(NULL) * 2654435761ULL ^
                   (uint64_t)(uintptr_t)l ^ 0x9E3779B97F4A7C15ULL;
    if (l->rng_state == 0)
        l->rng_state = 88172645463325252ULL;
    l->tokens = cfg->burst_limit;
    if (install_config(l, cfg, err) != B24_OK) {
        free(l);
        return NULL;
    }
    l->tokens = l->burst;
    l->last_refill = now(l);
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

static void
free_counters(struct counter *c, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        free(c[i].method);
    free(c);
}

static void
clear_last(struct b24_limiter *l)
{
    size_t i;
    for (i = 0; i < l->nlast; i++) {
        struct b24_last_error *e =
            &l->last[(l->last_head + i) % LAST_ERRORS_CAP];
        free(e->method);
        free(e->error);
        e->method = e->error = NULL;
    }
    l->nlast = l->last_head = 0;
}

static void
clear_ops(struct b24_limiter *l)
{
    size_t i;
    for (i = 0; i < l->nops; i++)
        free(l->ops[i].method);
    l->nops = 0;
}

void
b24_limiter_free(struct b24_limiter *l)
{
    if (l == NULL)
        return;
    clear_ops(l);
    free(l->ops);
    free_counters(l->by_method, l->nby);
    free_counters(l->errors, l->nerrc);
    clear_last(l);
    free_strv(l->hard, l->nhard);
    free_strv(l->soft, l->nsoft);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

enum b24_status
b24_limiter_configure(struct b24_limiter *l,
                      const struct b24_limits_config *cfg,
                      struct b24_error *err)
{
    enum b24_status st = check_config(cfg, err);
    if (st != B24_OK)
        return st;
    pthread_mutex_lock(&l->mu);
    st = install_config(l, cfg, err);
    pthread_mutex_unlock(&l->mu);
    return st;
}

int
b24_limiter_max_retries(struct b24_limiter *l)
{
    int n;
    pthread_mutex_lock(&l->mu);
    n = l->cfg.max_retries;
    pthread_mutex_unlock(&l->mu);
    return n;
}

enum b24_net_retry
b24_limiter_net_retry(struct b24_limiter *l)
{
    enum b24_net_retry n;
    pthread_mutex_lock(&l->mu);
    n = l->cfg.net_retry;
    pthread_mutex_unlock(&l->mu);
    return n;
}

double
b24_limiter_retry_delay(struct b24_limiter *l)
{
    double d;
    pthread_mutex_lock(&l->mu);
    d = l->cfg.retry_delay;
    pthread_mutex_unlock(&l->mu);
    return d;
}

double
b24_limiter_uniform(struct b24_limiter *l)
{
    double u;
    pthread_mutex_lock(&l->mu);
    u = l->rng ? l->rng(l->rng_ctx) : default_rng(l);
    pthread_mutex_unlock(&l->mu);
    return u;
}

int
b24_limiter_is_hard(struct b24_limiter *l, const char *code)
{
    int r;
    if (code == NULL)
        return 0;
    if (in_list(b24_builtin_hard_codes, code))
        return 1;
    pthread_mutex_lock(&l->mu);
    r = in_strv(l->hard, l->nhard, code) ||
        (l->cfg.net_retry == B24_NET_RETRY_NEVER &&
         (strcmp(code, "NETWORK_ERROR") == 0 ||
          strcmp(code, "REQUEST_TIMEOUT") == 0));
    pthread_mutex_unlock(&l->mu);
    return r;
}

int
b24_limiter_is_soft(struct b24_limiter *l, const char *code)
{
    int r;
    if (code == NULL)
        return 0;
    if (in_list(b24_builtin_soft_codes, code))
        return 1;
    pthread_mutex_lock(&l->mu);
    r = in_strv(l->soft, l->nsoft, code);
    pthread_mutex_unlock(&l->mu);
    return r;
}

/* ---- rate limiter ------------------------------------------------------ */

static void
drop_old_errors(struct b24_limiter *l, double t)
{
    size_t i, k = 0;
    for (i = 0; i < l->nerr; i++)
        if (t - l->err_ts[i] <= ERR_WINDOW_MS)
            l->err_ts[k++] = l->err_ts[i];
    l->nerr = k;
}

double
b24_limiter_reserve(struct b24_limiter *l)
{
    double t, elapsed, need, wait = 0;
    pthread_mutex_lock(&l->mu);
    t = now(l);
    elapsed = t - l->last_refill;
    if (elapsed < 0)
        elapsed = 0; /* the wall clock stepped back */
    l->tokens = fmin(l->burst, l->tokens + elapsed * l->drain / 1000.0);
    l->last_refill = t;
    /* Headroom [DIVERGE]: a token is granted only while one more stays in
     * the bucket, so the client runs one request behind the portal's
     * counter instead of in exact lockstep with it (any jitter between the
     * client's clock and the portal's arrival times would otherwise get a
     * request refused; docs/limits.md). */
    need = 1.0 + fmin(B24_RATE_HEADROOM, fmax(0.0, l->burst - 1.0));
    if (l->tokens >= need)
        l->tokens -= 1;
    else
        wait = ceil((need - l->tokens) * (1000.0 / l->drain));
    pthread_mutex_unlock(&l->mu);
    return wait;
}

double
b24_limiter_rate_exceeded(struct b24_limiter *l, int *lowered)
{
    double t, wait;
    int low = 0;
    pthread_mutex_lock(&l->mu);
    t = now(l);
    l->nsucc = 0;
    drop_old_errors(l, t);
    if (l->nerr == ERR_HISTORY_CAP) {
        memmove(l->err_ts, l->err_ts + 1,
                (ERR_HISTORY_CAP - 1) * sizeof(l->err_ts[0]));
        l->nerr--;
    }
    l->err_ts[l->nerr++] = t;
    if (l->cfg.rate_adaptive && l->nerr >= REDUCE_AFTER_ERRORS) {
        l->drain = fmax(0.5, b24_round2(l->drain * 0.8));
        l->burst = fmax(5, b24_round2(l->burst * 0.8));
        l->nerr = 0;
        l->nsucc = 0;
        low = 1;
    }
    l->tokens = 0;
    l->last_refill = t;
    wait = 1000.0 / l->drain + 1000.0;
    pthread_mutex_unlock(&l->mu);
    if (lowered)
        *lowered = low;
    return wait;
}

/* ---- operating limiter --------------------------------------------------- */

static void
expire_ops(struct b24_limiter *l, double t)
{
    size_t i, k = 0;
    for (i = 0; i < l->nops; i++) {
        if (t - l->ops[i].last_updated > l->cfg.window_ms + OP_EXPIRY_EXTRA_MS)
            free(l->ops[i].method);
        else
            l->ops[k++] = l->ops[i];
    }
    l->nops = k;
}

/* An entry below both the adaptive threshold and the time-to-free limit
 * can cause no wait: dropping it forgets nothing (the next answer for that
 * method reports its cumulative operating time again). */
static int
op_harmless(const struct b24_limiter *l, const struct op_entry *e)
{
    double lim = fmin(fmax(1000.0, l->cfg.limit_ms - 5000.0),
                      l->cfg.threshold_percent / 100.0 * l->cfg.limit_ms);
    return e->operating_ms < lim;
}

/* At the soft cap, make room by dropping the harmless entry that was
 * updated longest ago; when every entry could cause a wait, the table
 * grows (each entry is then real, current state from the portal). */
static void
evict_op(struct b24_limiter *l)
{
    size_t i, victim = l->nops;
    for (i = 0; i < l->nops; i++)
        if (op_harmless(l, &l->ops[i]) &&
            (victim == l->nops ||
             l->ops[i].last_updated < l->ops[victim].last_updated))
            victim = i;
    if (victim == l->nops)
        return;
    free(l->ops[victim].method);
    l->ops[victim] = l->ops[--l->nops];
}

static struct op_entry *
find_op(struct b24_limiter *l, const char *method)
{
    size_t i;
    for (i = 0; i < l->nops; i++)
        if (strcmp(l->ops[i].method, method) == 0)
            return &l->ops[i];
    return NULL;
}

static struct op_entry *
find_op_prefixed(struct b24_limiter *l, const char *name)
{
    size_t i, n = strcspn(name, "?");
    for (i = 0; i < l->nops; i++) {
        const char *m = l->ops[i].method;
        if (strncmp(m, "batch::", 7) == 0 && strlen(m + 7) == n &&
            strncmp(m + 7, name, n) == 0)
            return &l->ops[i];
    }
    return NULL;
}

/* A reset time the server reported is used only when it is plausible: in
 * the future and at most one window away (issue 9 item 3). Far in the
 * future, 1e308 or a clock skew of hours means "unknown": the short default
 * wait, never a reason to sleep long. Non-finite values never get here
 * (record_success drops them). */
static int
reset_plausible(const struct b24_limiter *l, const struct op_entry *e,
                double t)
{
    return e->have_reset && e->reset_at_ms > t &&
           e->reset_at_ms - t <= l->cfg.window_ms;
}

static double
ttf_entry(struct b24_limiter *l, const struct op_entry *e, double t)
{
    if (e == NULL)
        return 0;
    if (e->operating_ms >= fmax(1000.0, l->cfg.limit_ms - 5000.0)) {
        if (reset_plausible(l, e, t))
            return e->reset_at_ms - t + 1000.0;
        return 5000.0;
    }
    return 0;
}

static double
ttf_locked(struct b24_limiter *l, const char *method,
           const struct b24_call_methods *batch, double t)
{
    double w = 0;
    size_t i;
    if (strcmp(method, "batch") == 0) {
        if (batch == NULL)
            return 0;
        for (i = 0; i < batch->n; i++)
            w = fmax(w, ttf_entry(l, find_op_prefixed(l, batch->names[i]), t));
        return w;
    }
    return ttf_entry(l, find_op(l, method), t);
}

static double
adaptive_entry(struct b24_limiter *l, const struct op_entry *e, double t)
{
    double usage, delay;
    if (e == NULL)
        return 0;
    usage = e->operating_ms / l->cfg.limit_ms * 100.0;
    if (!(usage > l->cfg.threshold_percent))
        return 0;
    if (reset_plausible(l, e, t))
        delay = (e->reset_at_ms - t) * l->cfg.coefficient;
    else
        delay = 7000.0;
    return floor(fmin(delay, l->cfg.max_delay) + 0.5);
}

static double
adaptive_locked(struct b24_limiter *l, const char *method,
                const struct b24_call_methods *batch, double t)
{
    double w = 0;
    size_t i;
    if (!l->cfg.adaptive_enabled)
        return 0;
    if (strcmp(method, "batch") == 0) {
        /* unique names: max() is idempotent, so duplicates change nothing */
        if (batch == NULL)
            return 0;
        for (i = 0; i < batch->n; i++)
            w = fmax(w, adaptive_entry(l, find_op_prefixed(l, batch->names[i]),
                                       t));
        return w;
    }
    return adaptive_entry(l, find_op(l, method), t);
}

double
b24_limiter_time_to_free(struct b24_limiter *l, const char *method,
                         const struct b24_call_methods *batch)
{
    double t, w;
    pthread_mutex_lock(&l->mu);
    t = now(l);
    expire_ops(l, t);
    w = ttf_locked(l, method, batch, t);
    pthread_mutex_unlock(&l->mu);
    return w;
}

double
b24_limiter_adaptive_delay(struct b24_limiter *l, const char *method,
                           const struct b24_call_methods *batch)
{
    double t, w;
    pthread_mutex_lock(&l->mu);
    t = now(l);
    expire_ops(l, t);
    w = adaptive_locked(l, method, batch, t);
    pthread_mutex_unlock(&l->mu);
    return w;
}

double
b24_limiter_operating_wait(struct b24_limiter *l, const char *method,
                           const struct b24_call_methods *batch,
                           enum b24_gate *gate)
{
    double t, w;
    enum b24_gate g = B24_GATE_NONE;
    pthread_mutex_lock(&l->mu);
    t = now(l);
    expire_ops(l, t);
    w = ttf_locked(l, method, batch, t);
    if (w > 0) {
        g = B24_GATE_OPERATING;
    } else {
        w = adaptive_locked(l, method, batch, t);
        if (w > 0) {
            g = B24_GATE_ADAPTIVE;
            l->adaptive_delays += 1;
            l->total_adaptive_delay += w;
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (gate)
        *gate = g;
    return w;
}

void
b24_limiter_record_success(struct b24_limiter *l, const char *method,
                           int have_operating, double operating_s,
                           int have_reset, double reset_at_s, int *restored,
                           int *heavy)
{
    double t;
    int rest = 0, hv = 0;
    pthread_mutex_lock(&l->mu);
    t = now(l);
    expire_ops(l, t);
    if (have_operating && isfinite(operating_s)) {
        struct op_entry *e = find_op(l, method);
        if (e == NULL) {
            if (l->nops >= OPS_SOFT_CAP)
                evict_op(l);
            if (l->nops == l->aops) {
                size_t na = l->aops ? l->aops * 2 : 8;
                struct op_entry *n = realloc(l->ops, na * sizeof(*n));
                if (n != NULL) {
                    l->ops = n;
                    l->aops = na;
                }
            }
            if (l->nops < l->aops) {
                char *m = b24_strdup(method);
                if (m != NULL) {
                    e = &l->ops[l->nops++];
                    memset(e, 0, sizeof(*e));
                    e->method = m;
                }
            }
        }
        if (e != NULL) {
            e->operating_ms = operating_s * 1000.0;
            e->have_reset = have_reset && isfinite(reset_at_s);
            e->reset_at_ms = e->have_reset ? reset_at_s * 1000.0 : 0;
            e->last_updated = t;
            if (e->operating_ms / l->cfg.limit_ms * 100.0 >
                l->cfg.heavy_percent) {
                l->heavy += 1;
                hv = 1;
            }
        }
    }
    if (strncmp(method, "batch::", 7) != 0) {
        if (l->nsucc < SUCC_HISTORY_CAP)
            l->nsucc++;
        drop_old_errors(l, t);
        if (l->cfg.rate_adaptive && l->nsucc >= RESTORE_AFTER_SUCCESSES &&
            (double)l->nerr < RESTORE_MAX_ERRORS &&
            (l->drain < l->orig_drain || l->burst < l->orig_burst)) {
            l->drain = fmin(l->orig_drain, b24_round2(l->drain * 1.1));
            l->burst = fmin(l->orig_burst, b24_round2(l->burst * 1.1));
            l->nerr = 0;
            l->nsucc = 0;
            rest = 1;
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (restored)
        *restored = rest;
    if (heavy)
        *heavy = hv;
}

/* ---- metrics --------------------------------------------------------------- */

static struct counter *
counter_get(struct counter **arr, size_t *n, size_t *a, const char *method)
{
    size_t i;
    for (i = 0; i < *n; i++)
        if (strcmp((*arr)[i].method, method) == 0)
            return &(*arr)[i];
    /* past the cap, every new name is counted under one row */
    if (*n >= METHOD_STATS_CAP && strcmp(method, METHOD_STATS_OTHER) != 0)
        return counter_get(arr, n, a, METHOD_STATS_OTHER);
    if (*n == *a) {
        size_t na = *a ? *a * 2 : 8;
        struct counter *nc = realloc(*arr, na * sizeof(*nc));
        if (nc == NULL)
            return NULL;
        *arr = nc;
        *a = na;
    }
    (*arr)[*n].method = b24_strdup(method);
    if ((*arr)[*n].method == NULL)
        return NULL;
    (*arr)[*n].count = 0;
    (*arr)[*n].total_duration = 0;
    return &(*arr)[(*n)++];
}

static void
counter_remove(struct counter *arr, size_t *n, const char *method)
{
    size_t i;
    for (i = 0; i < *n; i++) {
        if (strcmp(arr[i].method, method) == 0) {
            free(arr[i].method);
            arr[i] = arr[--*n];
            return;
        }
    }
}

void
b24_metrics_attempt(struct b24_limiter *l, const char *method, int ok,
                    const char *message, double elapsed_ms)
{
    struct counter *c;
    double wall = b24_clock_wall_ms(NULL);
    pthread_mutex_lock(&l->mu);
    l->total_requests += 1;
    l->total_duration += elapsed_ms;
    c = counter_get(&l->by_method, &l->nby, &l->aby, method);
    if (c != NULL) {
        c->count += 1;
        c->total_duration += elapsed_ms;
    }
    if (ok) {
        l->successful += 1;
        l->consecutive_errors = 0;
        counter_remove(l->errors, &l->nerrc, method);
    } else {
        struct b24_last_error *e;
        l->failed += 1;
        l->consecutive_errors += 1;
        c = counter_get(&l->errors, &l->nerrc, &l->aerrc, method);
        if (c != NULL)
            c->count += 1;
        if (l->nlast == LAST_ERRORS_CAP) {
            e = &l->last[l->last_head];
            free(e->method);
            free(e->error);
            l->last_head = (l->last_head + 1) % LAST_ERRORS_CAP;
            l->nlast--;
        }
        e = &l->last[(l->last_head + l->nlast) % LAST_ERRORS_CAP];
        e->method = b24_strdup(method);
        e->error = b24_strdup(message ? message : "");
        e->timestamp = floor(wall);
        if (e->method == NULL || e->error == NULL) {
            free(e->method);
            free(e->error);
            e->method = e->error = NULL;
        } else {
            l->nlast++;
        }
    }
    pthread_mutex_unlock(&l->mu);
}

void
b24_metrics_limit_hit(struct b24_limiter *l)
{
    pthread_mutex_lock(&l->mu);
    l->limit_hits += 1;
    pthread_mutex_unlock(&l->mu);
}

void
b24_metrics_retry(struct b24_limiter *l)
{
    pthread_mutex_lock(&l->mu);
    l->retries += 1;
    pthread_mutex_unlock(&l->mu);
}

void
b24_metrics_pending(struct b24_limiter *l, int delta)
{
    pthread_mutex_lock(&l->mu);
    l->pending += delta;
    if (l->pending < 0)
        l->pending = 0;
    pthread_mutex_unlock(&l->mu);
}

static enum b24_status
copy_counters(const struct counter *src, size_t n,
              struct b24_method_count **out, size_t *nout)
{
    size_t i;
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return B24_OK;
    *out = calloc(n, sizeof(**out));
    if (*out == NULL)
        return B24_E_NOMEM;
    for (i = 0; i < n; i++) {
        (*out)[i].method = b24_strdup(src[i].method);
        if ((*out)[i].method == NULL)
            return B24_E_NOMEM;
        (*out)[i].count = src[i].count;
        (*out)[i].total_duration = src[i].total_duration;
        *nout = i + 1;
    }
    return B24_OK;
}

enum b24_status
b24_limiter_stats(struct b24_limiter *l, struct b24_limiter_stats *s)
{
    enum b24_status st = B24_OK;
    size_t i;
    double t;
    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&l->mu);
    t = now(l);
    expire_ops(l, t);
    s->retries = l->retries;
    s->consecutive_errors = l->consecutive_errors;
    s->limit_hits = l->limit_hits;
    s->tokens = l->tokens;
    s->burst_limit = l->burst;
    s->original_burst_limit = l->orig_burst;
    s->drain_rate = l->drain;
    s->original_drain_rate = l->orig_drain;
    s->refill_interval_ms = 1000.0 / l->drain;
    s->last_refill = l->last_refill;
    s->pending_requests = l->pending;
    drop_old_errors(l, t);
    s->recent_errors = (double)l->nerr;
    s->recent_successes = (double)l->nsucc;
    s->adaptive_delays = l->adaptive_delays;
    s->total_adaptive_delay = l->total_adaptive_delay;
    s->adaptive_delay_avg =
        l->adaptive_delays > 0 ? l->total_adaptive_delay / l->adaptive_delays
                               : 0;
    s->heavy_request_count = l->heavy;
    s->total_requests = l->total_requests;
    s->successful_requests = l->successful;
    s->failed_requests = l->failed;
    s->total_duration = l->total_duration;
    if (l->nops > 0) {
        s->operating = calloc(l->nops, sizeof(*s->operating));
        if (s->operating == NULL)
            st = B24_E_NOMEM;
        for (i = 0; st == B24_OK && i < l->nops; i++) {
            s->operating[i].method = b24_strdup(l->ops[i].method);
            if (s->operating[i].method == NULL)
                st = B24_E_NOMEM;
            s->operating[i].count = b24_round2(l->ops[i].operating_ms / 1000.0);
            s->noperating = i + 1;
        }
    }
    if (st == B24_OK)
        st = copy_counters(l->errors, l->nerrc, &s->error_counts,
                           &s->nerror_counts);
    if (st == B24_OK)
        st = copy_counters(l->by_method, l->nby, &s->by_method,
                           &s->nby_method);
    if (st == B24_OK && l->nlast > 0) {
        s->last_errors = calloc(l->nlast, sizeof(*s->last_errors));
        if (s->last_errors == NULL)
            st = B24_E_NOMEM;
        for (i = 0; st == B24_OK && i < l->nlast; i++) {
            const struct b24_last_error *e =
                &l->last[(l->last_head + i) % LAST_ERRORS_CAP];
            s->last_errors[i].method = b24_strdup(e->method);
            s->last_errors[i].error = b24_strdup(e->error);
            s->last_errors[i].timestamp = e->timestamp;
            s->nlast_errors = i + 1;
            if (!s->last_errors[i].method || !s->last_errors[i].error)
                st = B24_E_NOMEM;
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (st != B24_OK)
        b24_limiter_stats_clear(s);
    return st;
}

static void
free_mc(struct b24_method_count *c, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        free(c[i].method);
    free(c);
}

void
b24_limiter_stats_clear(struct b24_limiter_stats *s)
{
    size_t i;
    free_mc(s->operating, s->noperating);
    free_mc(s->error_counts, s->nerror_counts);
    free_mc(s->by_method, s->nby_method);
    for (i = 0; i < s->nlast_errors; i++) {
        free(s->last_errors[i].method);
        free(s->last_errors[i].error);
    }
    free(s->last_errors);
    memset(s, 0, sizeof(*s));
}

void
b24_limiter_reset(struct b24_limiter *l)
{
    size_t i;
    pthread_mutex_lock(&l->mu);
    l->tokens = l->burst;
    l->burst = l->orig_burst;
    l->drain = l->orig_drain; /* tokens keep the current (maybe lowered) burst */
    l->last_refill = now(l);
    l->nerr = l->nsucc = 0;
    clear_ops(l);
    l->heavy = l->adaptive_delays = l->total_adaptive_delay = 0;
    l->retries = l->consecutive_errors = l->limit_hits = 0;
    l->total_requests = l->successful = l->failed = 0;
    l->total_duration = 0;
    for (i = 0; i < l->nby; i++)
        free(l->by_method[i].method);
    l->nby = 0;
    for (i = 0; i < l->nerrc; i++)
        free(l->errors[i].method);
    l->nerrc = 0;
    clear_last(l);
    pthread_mutex_unlock(&l->mu);
}
