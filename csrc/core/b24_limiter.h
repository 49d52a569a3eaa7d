/* b24_limiter.h - the restriction manager of one transport (spec §9):
 * rate limiter (leaky bucket, §9.2), operating limiter (§9.3), adaptive
 * delayer (§9.4) and the request metrics (§9.6).  The retry policy (§9.5)
 * is in b24_retry.h and uses the functions below.
 *
 * Interface (the shape a shared-memory or Redis limiter must keep):
 *   reserve        -> ms to wait before sending (0 = a token was taken)
 *   operating_wait -> ms to wait for a method's budget (or adaptive delay)
 *   record_success / rate_exceeded -> feed an answer back
 * No function blocks or sleeps: each takes the limiter's own mutex for a
 * few arithmetic steps and returns a number of milliseconds; the caller
 * sleeps (interruptibly, with no lock held).  So an event-driven driver can
 * reuse every decision.
 *
 * Time: an injected clock returning wall-clock milliseconds (Unix epoch,
 * like JS Date.now(): `operating_reset_at` from the portal is epoch
 * seconds).  Randomness: an injected uniform [0,1) source (jitter).
 *
 * Threads: one `struct b24_limiter` is shared by every thread of one
 * transport; all state is behind its mutex.  v2 and v3 have one each. */
#ifndef B24_LIMITER_H
#define B24_LIMITER_H

#include <pthread.h>
#include <stddef.h>

#include "b24.h"

/* retry_on_network_error */
enum b24_net_retry {
    B24_NET_RETRY_NEVER = 0, /* False: NETWORK_ERROR/REQUEST_TIMEOUT hard */
    B24_NET_RETRY_SAFE = 1,  /* True: reads always, writes only pre-send */
    B24_NET_RETRY_ALWAYS = 2 /* "always": the JS behaviour, every method */
};

/* The whole configuration (ms everywhere).  Strings are copied. */
struct b24_limits_config {
    double burst_limit;      /* tokens */
    double drain_rate;       /* tokens per second, > 0 */
    int rate_adaptive;       /* rate_limit.adaptive_enabled */
    double window_ms;        /* operating_limit.window_ms */
    double limit_ms;         /* operating_limit.limit_ms, > 0 */
    double heavy_percent;    /* operating_limit.heavy_percent */
    int adaptive_enabled;    /* adaptive_config.enabled */
    double threshold_percent;
    double coefficient;
    double max_delay;        /* ms */
    int max_retries;
    double retry_delay;      /* ms */
    enum b24_net_retry net_retry;
    const char *const *hard_codes; /* user additions */
    size_t nhard;
    const char *const *soft_codes;
    size_t nsoft;
};

/* The §9.1 default preset. */
void b24_limits_config_default(struct b24_limits_config *c);

typedef double (*b24_clock_fn)(void *ctx);  /* wall-clock ms */
typedef double (*b24_rng_fn)(void *ctx);    /* uniform in [0, 1) */

double b24_clock_wall_ms(void *ctx);   /* default clock (CLOCK_REALTIME) */
double b24_clock_mono_ms(void *ctx);   /* CLOCK_MONOTONIC, for durations */

struct b24_limiter;

/* Owned pointer or NULL (out of memory / invalid config, err filled).
 * clock/rng NULL -> the defaults (the default RNG is a seeded xorshift
 * kept under the limiter's mutex). */
struct b24_limiter *b24_limiter_new(const struct b24_limits_config *cfg,
                                    b24_clock_fn clock, void *clock_ctx,
                                    b24_rng_fn rng, void *rng_ctx,
                                    struct b24_error *err);
void b24_limiter_free(struct b24_limiter *l);

/* Replace the configuration wholesale (§3.2): the limiter state (tokens,
 * operating entries, metrics) is kept, the rate limiter's error/success
 * histories are cleared, current and original rates become the new ones.
 * B24_E_USAGE for a non-positive drain_rate or limit_ms. */
enum b24_status b24_limiter_configure(struct b24_limiter *l,
                                      const struct b24_limits_config *cfg,
                                      struct b24_error *err);
int b24_limiter_max_retries(struct b24_limiter *l);

/* Code sets (exact, case-sensitive).  Effective hard = built-ins +
 * NETWORK_ERROR/REQUEST_TIMEOUT when net_retry is NEVER + user codes. */
int b24_limiter_is_hard(struct b24_limiter *l, const char *code);
int b24_limiter_is_soft(struct b24_limiter *l, const char *code);
extern const char *const b24_builtin_hard_codes[];  /* NULL-terminated */
extern const char *const b24_builtin_soft_codes[];

/* ---- rate limiter (§9.2) ---- */

/* Refill; take a token and return 0, or return the ms to wait.  One
 * token of headroom stays in the bucket (when burst_limit >= 2): a token
 * is taken only while tokens >= 2, and the wait is computed to that level. */
double b24_limiter_reserve(struct b24_limiter *l);
/* A rate-limit answer: record, maybe reduce (sets *lowered), tokens = 0;
 * returns refill_interval_ms + 1000. */
double b24_limiter_rate_exceeded(struct b24_limiter *l, int *lowered);

/* ---- operating limiter (§9.3) and adaptive delayer (§9.4) ---- */

/* Names of the commands of a v2 batch (`cmd` list, text before '?'), for
 * the `batch` -> max over `batch::<m>` rule; NULL/0 otherwise. */
struct b24_call_methods {
    const char *const *names;
    size_t n;
};

/* Which gate produced a wait. */
enum b24_gate {
    B24_GATE_NONE = 0,
    B24_GATE_RATE,      /* "rateLimiter" */
    B24_GATE_OPERATING, /* "operatingLimiter" */
    B24_GATE_ADAPTIVE   /* "adaptiveDelayer" */
};
const char *b24_gate_title(enum b24_gate g);

/* §9.3 time_to_free (ms, 0 = free). */
double b24_limiter_time_to_free(struct b24_limiter *l, const char *method,
                                const struct b24_call_methods *batch);
/* §9.4 adaptive delay (ms), without touching the counters. */
double b24_limiter_adaptive_delay(struct b24_limiter *l, const char *method,
                                  const struct b24_call_methods *batch);
/* §5 step 3.2: time_to_free, else the adaptive delay (counted in
 * adaptive_delays/total_adaptive_delay when > 0).  *gate tells which. */
double b24_limiter_operating_wait(struct b24_limiter *l, const char *method,
                                  const struct b24_call_methods *batch,
                                  enum b24_gate *gate);

/* A successful answer's `time`: operating and operating_reset_at in
 * seconds (have_* = 0 when absent).  Feeds the operating limiter (ignored
 * without `operating`) and, for names not starting with "batch::", the
 * rate limiter's success accounting (may restore: sets *restored).
 * *heavy is set when the entry counted as a heavy request.  Out pointers
 * may be NULL. */
void b24_limiter_record_success(struct b24_limiter *l, const char *method,
                                int have_operating, double operating_s,
                                int have_reset, double reset_at_s,
                                int *restored, int *heavy);

/* ---- metrics (§9.6) ---- */
void b24_metrics_attempt(struct b24_limiter *l, const char *method, int ok,
                         const char *message, double elapsed_ms);
void b24_metrics_limit_hit(struct b24_limiter *l);
void b24_metrics_retry(struct b24_limiter *l);
void b24_metrics_pending(struct b24_limiter *l, int delta);

/* A consistent copy of everything get_stats() shows.  Arrays are owned by
 * the snapshot (b24_limiter_stats_clear). */
struct b24_method_count {
    char *method;
    double count;
    double total_duration; /* ms */
};
struct b24_last_error {
    char *method;
    char *error;
    double timestamp; /* wall ms */
};
struct b24_limiter_stats {
    double retries, consecutive_errors, limit_hits;
    double tokens, burst_limit, original_burst_limit;
    double drain_rate, original_drain_rate, refill_interval_ms, last_refill;
    double pending_requests, recent_errors, recent_successes;
    double adaptive_delays, total_adaptive_delay, adaptive_delay_avg;
    double heavy_request_count;
    double total_requests, successful_requests, failed_requests;
    double total_duration;
    struct b24_method_count *operating; /* count = seconds (2 decimals) */
    size_t noperating;
    struct b24_method_count *error_counts; /* count only */
    size_t nerror_counts;
    struct b24_method_count *by_method;
    size_t nby_method;
    struct b24_last_error *last_errors; /* oldest first, <= 100 */
    size_t nlast_errors;
};
enum b24_status b24_limiter_stats(struct b24_limiter *l,
                                  struct b24_limiter_stats *out);
void b24_limiter_stats_clear(struct b24_limiter_stats *s);
/* Free n method counts (each name, then the array); NULL is fine. */
void b24_method_counts_free(struct b24_method_count *c, size_t n);

/* Zero the metrics and all limiter state; restore the original rates. */
void b24_limiter_reset(struct b24_limiter *l);

/* For the retry policy: one uniform [0,1) draw (under the mutex). */
double b24_limiter_uniform(struct b24_limiter *l);
enum b24_net_retry b24_limiter_net_retry(struct b24_limiter *l);
double b24_limiter_retry_delay(struct b24_limiter *l);

/* JS Math.round(x * 100) / 100. */
double b24_round2(double x);

#endif /* B24_LIMITER_H */
