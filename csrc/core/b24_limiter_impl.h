/* b24_limiter_impl.h - the limiter's own struct, shared by the files that
 * make up the limiter (b24_limiter.c, b24_gates.c, b24_metrics.c).  Nothing
 * outside them includes it: the rest of the core and the extension see
 * only b24_limiter.h; a backend sees only b24_limiter_ops.h.
 *
 * One struct per concern, one mutex for all of them (the locking rule of
 * b24_limiter.h: every public function takes l->mu for a few steps and
 * never blocks; the functions declared here expect it held). */
#ifndef B24_LIMITER_IMPL_H
#define B24_LIMITER_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "b24_limiter.h"
#include "b24_limiter_ops.h"

#define B24_LAST_ERRORS_CAP 100

/* §9.2: the rate limiter's state lives in its backend. */
struct b24_rate {
    const struct b24_rate_ops *ops;
    void *self;
};

/* §9.3: the entries live in the backend; the heavy-request count is this
 * process's own metric of what it recorded. */
struct b24_operating {
    const struct b24_operating_ops *ops;
    void *self;
    double heavy;
};

/* §9.4: the adaptive delayer keeps only its counters (its input is the
 * operating entries). */
struct b24_adaptive {
    double delays, total_delay;
};

/* §9.6, b24_metrics.c. */
struct b24_counter {
    char *method;
    double count, total_duration;
};
struct b24_metrics {
    double retries, consecutive_errors, limit_hits, pending;
    double total_requests, successful, failed, total_duration;
    struct b24_counter *by_method, *errors;
    size_t nby, aby, nerrc, aerrc;
    struct b24_last_error last[B24_LAST_ERRORS_CAP];
    size_t last_head, nlast;
};

struct b24_limiter {
    pthread_mutex_t mu;
    b24_clock_fn clock;
    void *clock_ctx;
    b24_rng_fn rng;
    void *rng_ctx;
    uint64_t rng_state;

    /* configuration (code strings owned) */
    struct b24_limits_config cfg;
    char **hard, **soft;
    size_t nhard, nsoft;

    struct b24_rate rate;
    struct b24_operating op;
    struct b24_adaptive adaptive;
    struct b24_metrics metrics;
};

static inline double
b24_limiter_now(struct b24_limiter *l)
{
    return l->clock(l->clock_ctx);
}

/* Take / release l->mu around steps that reach the backend ops: with a
 * `blocking` backend the block hooks run outside the mutex (enter before
 * locking, leave after unlocking; b24_limiter_ops.h).  The token is the
 * enter hook's, to hand back to b24_limiter_unlock. */
void *b24_limiter_lock(struct b24_limiter *l);
void b24_limiter_unlock(struct b24_limiter *l, void *token);

/* b24_metrics.c, l->mu held. */
void b24_metrics_state_free(struct b24_metrics *m);  /* and zero it */
void b24_metrics_state_reset(struct b24_metrics *m); /* keeps pending */
enum b24_status b24_metrics_state_copy(const struct b24_metrics *m,
                                       struct b24_limiter_stats *s);

#endif /* B24_LIMITER_IMPL_H */
