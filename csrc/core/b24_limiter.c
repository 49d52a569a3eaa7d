/* b24_limiter.c - the restriction manager of one transport (spec §9):
 * its lifetime and configuration, the code sets, the jitter source, and
 * the front of the rate and operating limiters (feeding
 * answers back, the stats snapshot, reset).  The parts, one file each:
 *   b24_rate.c       §9.2 the rate limiter's state (in-process backend)
 *   b24_operating.c  §9.3 the operating entries (in-process backend)
 *   b24_shm.c        both states host-wide, in files under /dev/shm
 *   b24_backends.c   which backend a `shared` restriction param selects
 *   b24_gates.c      §9.3 time_to_free, §9.4 adaptive delay, the gate order
 *   b24_metrics.c    §9.6 the request metrics
 *   b24_clock.c      the clocks and b24_round2 (a leaf all of them use)
 * Rate and operating state are reached only through the ops tables of
 * b24_limiter_ops.h.  See b24_limiter.h for the interface and the locking
 * rule (one mutex per limiter; nothing blocks or sleeps). */
#include "b24_limiter.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b24_buf.h"
#include "b24_limiter_impl.h"

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

/* ---- small helpers ----------------------------------------------------- */

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

/* ---- the block hooks (b24_limiter_ops.h) ------------------------------ */

static b24_block_enter_fn block_enter;
static b24_block_leave_fn block_leave;

void
b24_limiter_set_block_hooks(b24_block_enter_fn enter, b24_block_leave_fn leave)
{
    block_enter = enter;
    block_leave = leave;
}

static int
backend_blocks(const struct b24_limiter *l)
{
    return l->rate.ops->blocking || l->op.ops->blocking;
}

static void *
hook_enter(const struct b24_limiter *l)
{
    return backend_blocks(l) && block_enter != NULL ? block_enter() : NULL;
}

static void
hook_leave(const struct b24_limiter *l, void *token)
{
    if (backend_blocks(l) && block_leave != NULL)
        block_leave(token);
}

void *
b24_limiter_lock(struct b24_limiter *l)
{
    void *token = hook_enter(l);
    pthread_mutex_lock(&l->mu);
    return token;
}

void
b24_limiter_unlock(struct b24_limiter *l, void *token)
{
    pthread_mutex_unlock(&l->mu);
    hook_leave(l, token);
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

/* Install cfg (validated) under the mutex or before publication: the
 * code strings are copied first, so out of memory changes nothing. */
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
    return B24_OK;
}

struct b24_limiter *
b24_limiter_new_backend(const struct b24_limits_config *cfg,
                        b24_clock_fn clock, void *clock_ctx, b24_rng_fn rng,
                        void *rng_ctx,
                        const struct b24_limiter_backend *backend,
                        struct b24_error *err)
{
    struct b24_limiter *l;
    struct b24_limits_config def;
    const struct b24_limiter_scope *scope;
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
    l->rate.ops = backend && backend->rate ? backend->rate : &b24_rate_inproc;
    l->op.ops = backend && backend->operating ? backend->operating
                                              : &b24_operating_inproc;
    scope = backend ? &backend->scope : NULL;
    if (install_config(l, cfg, err) != B24_OK)
        goto fail;
    {
        void *tok = hook_enter(l);
        l->rate.self =
            l->rate.ops->create(cfg, scope, b24_limiter_now(l), err);
        if (l->rate.self != NULL)
            l->op.self = l->op.ops->create(cfg, scope, err);
        hook_leave(l, tok);
    }
    if (l->rate.self == NULL || l->op.self == NULL)
        goto fail;
    pthread_mutex_init(&l->mu, NULL);
    return l;
fail:
    if (l->rate.self != NULL)
        l->rate.ops->destroy(l->rate.self);
    free_strv(l->hard, l->nhard);
    free_strv(l->soft, l->nsoft);
    free(l);
    return NULL;
}

struct b24_limiter *
b24_limiter_new(const struct b24_limits_config *cfg, b24_clock_fn clock,
                void *clock_ctx, b24_rng_fn rng, void *rng_ctx,
                struct b24_error *err)
{
    return b24_limiter_new_backend(cfg, clock, clock_ctx, rng, rng_ctx, NULL,
                                   err);
}

void
b24_limiter_free(struct b24_limiter *l)
{
    if (l == NULL)
        return;
    l->op.ops->destroy(l->op.self);
    l->rate.ops->destroy(l->rate.self);
    b24_metrics_state_free(&l->metrics);
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
    void *tok = b24_limiter_lock(l);
    st = install_config(l, cfg, err);
    if (st == B24_OK) {
        l->rate.ops->configure(l->rate.self, cfg);
        l->op.ops->configure(l->op.self, cfg);
    }
    b24_limiter_unlock(l, tok);
    return st;
}

const char *
b24_limiter_rate_backend(struct b24_limiter *l)
{
    return l->rate.ops->name;
}

const char *
b24_limiter_operating_backend(struct b24_limiter *l)
{
    return l->op.ops->name;
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

/* ---- rate limiter (§9.2): the state is the backend's ------------------ */

double
b24_limiter_reserve(struct b24_limiter *l)
{
    double wait;
    void *tok = b24_limiter_lock(l);
    wait = l->rate.ops->reserve(l->rate.self, b24_limiter_now(l));
    b24_limiter_unlock(l, tok);
    return wait;
}

double
b24_limiter_rate_exceeded(struct b24_limiter *l, int *lowered)
{
    double wait;
    int low = 0;
    void *tok = b24_limiter_lock(l);
    wait = l->rate.ops->exceeded(l->rate.self, b24_limiter_now(l), &low);
    b24_limiter_unlock(l, tok);
    if (lowered)
        *lowered = low;
    return wait;
}

/* ---- a successful answer: operating entry, heavy count, rate success ---- */

void
b24_limiter_record_success(struct b24_limiter *l, const char *method,
                           int have_operating, double operating_s,
                           int have_reset, double reset_at_s, int *restored,
                           int *heavy)
{
    double t;
    int rest = 0, hv = 0;
    void *tok = b24_limiter_lock(l);
    t = b24_limiter_now(l);
    if (have_operating && isfinite(operating_s)) {
        struct b24_op_entry e;
        e.operating_ms = operating_s * 1000.0;
        e.have_reset = have_reset && isfinite(reset_at_s);
        e.reset_at_ms = e.have_reset ? reset_at_s * 1000.0 : 0;
        if (l->op.ops->record(l->op.self, method, &e, t) &&
            e.operating_ms / l->cfg.limit_ms * 100.0 > l->cfg.heavy_percent) {
            l->op.heavy += 1;
            hv = 1;
        }
    }
    if (strncmp(method, "batch::", 7) != 0)
        rest = l->rate.ops->success(l->rate.self, t);
    b24_limiter_unlock(l, tok);
    if (restored)
        *restored = rest;
    if (heavy)
        *heavy = hv;
}

/* ---- the snapshot and reset ------------------------------------------- */

enum b24_status
b24_limiter_stats(struct b24_limiter *l, struct b24_limiter_stats *s)
{
    enum b24_status st;
    double t;
    memset(s, 0, sizeof(*s));
    void *tok = b24_limiter_lock(l);
    t = b24_limiter_now(l);
    l->rate.ops->stats(l->rate.self, t, s);
    s->adaptive_delays = l->adaptive.delays;
    s->total_adaptive_delay = l->adaptive.total_delay;
    s->adaptive_delay_avg = l->adaptive.delays > 0
                                ? l->adaptive.total_delay / l->adaptive.delays
                                : 0;
    s->heavy_request_count = l->op.heavy;
    st = l->op.ops->stats(l->op.self, t, &s->operating, &s->noperating);
    if (st == B24_OK)
        st = b24_metrics_state_copy(&l->metrics, s);
    b24_limiter_unlock(l, tok);
    if (st != B24_OK)
        b24_limiter_stats_clear(s);
    return st;
}


void
b24_limiter_stats_clear(struct b24_limiter_stats *s)
{
    size_t i;
    b24_method_counts_free(s->operating, s->noperating);
    b24_method_counts_free(s->error_counts, s->nerror_counts);
    b24_method_counts_free(s->by_method, s->nby_method);
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
    void *tok = b24_limiter_lock(l);
    l->rate.ops->reset(l->rate.self, b24_limiter_now(l));
    l->op.ops->reset(l->op.self);
    l->op.heavy = 0;
    l->adaptive.delays = l->adaptive.total_delay = 0;
    b24_metrics_state_reset(&l->metrics);
    b24_limiter_unlock(l, tok);
}
