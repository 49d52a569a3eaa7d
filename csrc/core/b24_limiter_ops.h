/* b24_limiter_ops.h - the state-keeping seam of the limiter (core-private;
 * the public interface is b24_limiter.h and does not change with it).
 *
 * The limiter's rules (the gate order of §5 step 3.2, §9.3 time_to_free,
 * §9.4 adaptive delay, heavy requests, the metrics) are computed in the
 * front end (b24_limiter.c, b24_gates.c).  The STATE of the rate limiter
 * (§9.2: the bucket, its rate-limit error and success history, the lowered
 * rates) and of the operating limiter (§9.3: per-method operating time and
 * reset time) is kept by a backend, reached only through the two ops
 * tables below.  The in-process backend (b24_rate.c, b24_operating.c) is
 * the one b24_limiter_new() selects; the host-wide one (b24_shm.c) keeps
 * the same state in a file under /dev/shm; b24_limiter_backend_select()
 * (b24_backends.c) maps a `shared` restriction param to a backend.
 *
 * Contract of every op:
 *  - it is called with the limiter's mutex held, never concurrently for
 *    one limiter; a backend whose state is shared between processes takes
 *    its own short lock inside the op;
 *  - it never sleeps (it returns milliseconds, the caller waits).  It
 *    never blocks either, except a backend marked `blocking` (Redis,
 *    b24_redis.c): its ops may do one short network round trip bounded
 *    by a tight timeout (100 ms), and the limiter runs them between the
 *    block hooks below (the extension releases the GIL there);
 *  - `now` is the limiter's injected clock (wall ms): a backend reads no
 *    clock of its own, so tests and the JS-fidelity rules stay exact
 *    (a backend may read the monotonic clock for its own reconnect
 *    backoff, never for limiter state);
 *  - `self` is what create() returned; destroy(NULL) is never called. */
#ifndef B24_LIMITER_OPS_H
#define B24_LIMITER_OPS_H

#include <stddef.h>

#include "b24_limiter.h"

/* Who shares a backend's state.  Both keys are opaque identifiers the
 * caller derives (the extension: SHA-256 digests, docs/decisions.md), never
 * a webhook secret: 1..64 characters of [0-9A-Za-z_-], so a backend may put
 * them in a file name or a Redis key as they are. */
struct b24_limiter_scope {
    const char *portal;   /* the request bucket's key (portal, §5.1) */
    const char *webhook;  /* the operating ledger's key (webhook, §5.3) */
    const char *location; /* the backend's own address: NULL for the
                           * in-process and host backends, the
                           * "redis://host:port/db" URL for Redis */
};

/* 1 when `key` is a valid scope key (see above). */
int b24_limiter_scope_key_ok(const char *key);

/* ---- rate limiter state (§9.2) ---- */
struct b24_rate_ops {
    const char *name;
    int blocking; /* 1: ops do short network I/O (see the contract) */
    /* The bucket of `scope` (NULL for the in-process backend): a fresh one
     * is full (tokens = burst_limit, last refill = now); an existing shared
     * one is kept, configured with cfg's rates.  NULL on failure (err
     * filled). */
    void *(*create)(const struct b24_limits_config *cfg,
                    const struct b24_limiter_scope *scope, double now,
                    struct b24_error *err);
    void (*destroy)(void *self);
    /* New rates (current = original = cfg's), tokens clamped to the new
     * burst, error/success histories cleared, cfg->rate_adaptive kept. */
    void (*configure)(void *self, const struct b24_limits_config *cfg);
    /* Refill, then take a token (0) or return the ms to wait
     * (b24_limiter_reserve). */
    double (*reserve)(void *self, double now);
    /* A rate-limit answer: record it, maybe lower the rates (*lowered = 1),
     * empty the bucket; the ms to wait (b24_limiter_rate_exceeded). */
    double (*exceeded)(void *self, double now, int *lowered);
    /* A successful answer of a non-batch-command name: count it, maybe
     * restore the rates; 1 when restored. */
    int (*success)(void *self, double now);
    /* Fill the rate fields of a snapshot: tokens, burst_limit,
     * original_burst_limit, drain_rate, original_drain_rate,
     * refill_interval_ms, last_refill, recent_errors, recent_successes. */
    void (*stats)(void *self, double now, struct b24_limiter_stats *out);
    /* b24_limiter_reset: tokens = the current burst, then the original
     * rates back, last refill = now, histories cleared. */
    void (*reset)(void *self, double now);
};

/* The rate limiter's state and its steps (b24_rate.c), shared by every
 * backend that keeps the bucket in memory it can map: the struct holds no
 * pointer, so the host-wide backend keeps it in a shared file and runs the
 * same steps under its process-shared lock.  Each step is the op of the
 * same name above. */
#define B24_RATE_ERR_CAP 256 /* rate-limit errors kept (60 s window) */
struct b24_rate_state {
    double tokens, burst, drain, orig_burst, orig_drain, last_refill;
    double err_ts[B24_RATE_ERR_CAP];
    size_t nerr;
    size_t nsucc;
    int adaptive; /* rate_limit.adaptive_enabled */
};
void b24_rate_state_init(struct b24_rate_state *r,
                         const struct b24_limits_config *cfg, double now);
void b24_rate_state_configure(struct b24_rate_state *r,
                              const struct b24_limits_config *cfg);
double b24_rate_state_reserve(struct b24_rate_state *r, double now);
double b24_rate_state_exceeded(struct b24_rate_state *r, double now,
                               int *lowered);
int b24_rate_state_success(struct b24_rate_state *r, double now);
void b24_rate_state_stats(struct b24_rate_state *r, double now,
                          struct b24_limiter_stats *out);
void b24_rate_state_reset(struct b24_rate_state *r, double now);
/* 1 when every field is in range (finite numbers, counts within their
 * caps, 0 <= tokens <= burst): a shared copy left half-written by a killed
 * process is checked with it. */
int b24_rate_state_sane(const struct b24_rate_state *r);

/* ---- operating limiter state (§9.3) ---- */

/* One method's entry as the backend keeps it (ms, wall clock). */
struct b24_op_entry {
    double operating_ms;
    double reset_at_ms; /* meaningful when have_reset */
    int have_reset;
};

/* The table's rules, the same for every backend (b24_operating.c): an
 * entry expires window_ms + B24_OP_EXPIRY_EXTRA_MS after its last update;
 * at B24_OPS_SOFT_CAP entries a new method evicts the harmless entry
 * updated longest ago (harmless: it can cause no wait, see below). */
#define B24_OP_EXPIRY_EXTRA_MS 10000.0
#define B24_OPS_SOFT_CAP 1024
int b24_op_harmless(double operating_ms, double limit_ms,
                    double threshold_percent);

struct b24_operating_ops {
    const char *name;
    int blocking; /* as in b24_rate_ops */
    void *(*create)(const struct b24_limits_config *cfg,
                    const struct b24_limiter_scope *scope,
                    struct b24_error *err);
    void (*destroy)(void *self);
    /* The backend reads window_ms (an entry expires window_ms + 10 s after
     * its last update) and limit_ms/threshold_percent (which entries are
     * harmless enough to evict when the table is full). */
    void (*configure)(void *self, const struct b24_limits_config *cfg);
    /* Store (replace) the entry of `method`, updated at `now`.  1 = stored,
     * 0 = not (out of memory: the answer is then not counted). */
    int (*record)(void *self, const char *method,
                  const struct b24_op_entry *e, double now);
    /* The live entry whose name is `prefix` followed by the first `n`
     * bytes of `name` (the batch rule looks up "batch::" + a command name
     * cut at '?'): 1 and *out filled, or 0 (none, or expired at now). */
    int (*get)(void *self, const char *prefix, const char *name, size_t n,
               double now, struct b24_op_entry *out);
    /* Drop expired entries, then copy the live ones: name and operating
     * seconds (b24_round2) as count.  On failure *out is NULL and *n 0. */
    enum b24_status (*stats)(void *self, double now,
                             struct b24_method_count **out, size_t *n);
    void (*reset)(void *self); /* forget every entry */
};

/* The in-process backend: state in this process's memory. */
extern const struct b24_rate_ops b24_rate_inproc;
extern const struct b24_operating_ops b24_operating_inproc;

/* The host-wide backend (b24_shm.c): state in files under /dev/shm. */
extern const struct b24_rate_ops b24_rate_shm;
extern const struct b24_operating_ops b24_operating_shm;

struct b24_limiter_backend {
    const struct b24_rate_ops *rate;
    const struct b24_operating_ops *operating;
    struct b24_limiter_scope scope; /* passed to both create() */
};

/* Block hooks, process-wide (the extension sets them once): around every
 * limiter step that reaches a `blocking` backend, enter() runs BEFORE the
 * limiter's mutex is taken and leave(token) after it is released, so a
 * caller holding the GIL gives it up for the round trip and never waits
 * for the GIL while holding the mutex.  NULL hooks = nothing to do. */
typedef void *(*b24_block_enter_fn)(void);
typedef void (*b24_block_leave_fn)(void *token);
void b24_limiter_set_block_hooks(b24_block_enter_fn enter,
                                 b24_block_leave_fn leave);

/* The one place a `shared` restriction param becomes a backend
 * (b24_backends.c): NULL or "" = in-process, "host" = b24_shm.c,
 * "redis://..." = the Redis backend.  Fills out->rate/operating and
 * out->scope.location; the caller fills out->scope.portal/webhook.
 * Anything else: B24_E_USAGE naming the accepted values.  Checks only,
 * opens nothing. */
enum b24_status b24_limiter_backend_select(const char *shared,
                                           struct b24_limiter_backend *out,
                                           struct b24_error *err);

/* b24_limiter_new with a chosen backend; backend NULL (or a NULL member)
 * = the in-process one.  b24_limiter_new is this with NULL.  Each
 * create() gets &backend->scope (NULL without a backend); a shared backend
 * refuses a missing or invalid key (B24_E_USAGE). */
struct b24_limiter *b24_limiter_new_backend(
    const struct b24_limits_config *cfg, b24_clock_fn clock, void *clock_ctx,
    b24_rng_fn rng, void *rng_ctx, const struct b24_limiter_backend *backend,
    struct b24_error *err);

/* TEST ONLY (the fork tests, _core.Limiter._hold_shared_lock): take the
 * host-wide locks named by `what` and keep them, as a process killed
 * inside an op would; with the CORRUPT bits, leave that state half-written
 * too.  0, or -1 when the limiter is not on the host backend. */
#define B24_SHM_TEST_RATE 1         /* the bucket's lock */
#define B24_SHM_TEST_RATE_CORRUPT 2 /* ... and its tokens NaN */
#define B24_SHM_TEST_OPS 4          /* the ledger's lock */
#define B24_SHM_TEST_OPS_CORRUPT 8  /* ... a broken slot, a count past the cap */
int b24_limiter_test_hold_shared(struct b24_limiter *l, int what);
/* TEST ONLY: how many times a dead owner's lock of the host-wide bucket
 * (ops = 0) or ledger (ops = 1) was recovered (-1 when not on the host
 * backend). */
double b24_limiter_test_shared_repairs(struct b24_limiter *l, int ops);
/* b24_shm.c's side of the two above. */
int b24_shm_test_hold(void *rate_self, void *ops_self, int what);
double b24_shm_test_repairs(void *rate_self, void *ops_self, int ops);

/* The backend names a limiter runs with (for tests and diagnostics). */
const char *b24_limiter_rate_backend(struct b24_limiter *l);
const char *b24_limiter_operating_backend(struct b24_limiter *l);

#endif /* B24_LIMITER_OPS_H */
