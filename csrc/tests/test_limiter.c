/* test_limiter.c - rate/operating limiters, adaptive delay and metrics
 * with an injected clock. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "b24_limiter.h"
#include "harness.h"

struct fake_clock {
    double t;
};

static double
fake_now(void *ctx)
{
    return ((struct fake_clock *)ctx)->t;
}

static struct b24_limiter *
mk(struct fake_clock *c, struct b24_limits_config *cfg)
{
    struct b24_error err;
    return b24_limiter_new(cfg, fake_now, c, NULL, NULL, &err);
}

static void
test_bucket(void)
{
    struct fake_clock c = {1e12};
    struct b24_limits_config cfg;
    struct b24_limiter *l;
    struct b24_limiter_stats s;
    int i, taken = 0;

    b24_limits_config_default(&cfg);
    l = mk(&c, &cfg);
    CHECK(l != NULL);
    for (i = 0; i < 60; i++)
        if (b24_limiter_reserve(l) == 0)
            taken++;
    CHECK(taken == 49);                       /* the burst, one kept back */
    CHECK(b24_limiter_reserve(l) == 500);     /* ceil((2-1)*500) */
    c.t += 250;                               /* half a token */
    CHECK(b24_limiter_reserve(l) == 250);
    c.t += 250;
    CHECK(b24_limiter_reserve(l) == 0);
    c.t += 100000;                            /* refill caps at burst */
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.tokens < 2 && s.burst_limit == 50 && s.drain_rate == 2);
    CHECK(s.refill_interval_ms == 500);
    b24_limiter_stats_clear(&s);
    CHECK(b24_limiter_reserve(l) == 0);
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.tokens == 49);
    b24_limiter_stats_clear(&s);
    c.t -= 5000;                              /* clock stepped back */
    CHECK(b24_limiter_reserve(l) == 0);
    b24_limiter_free(l);
    /* burst 1: no headroom (else no token ever) */
    cfg.burst_limit = 1;
    cfg.drain_rate = 0.5;
    l = mk(&c, &cfg);
    CHECK(b24_limiter_reserve(l) == 0);
    CHECK(b24_limiter_reserve(l) == 2000);
    b24_limiter_free(l);
}

static void
test_adaptive_rate(void)
{
    struct fake_clock c = {1e12};
    struct b24_limits_config cfg;
    struct b24_limiter *l;
    struct b24_limiter_stats s;
    int i, lowered = 0, restored = 0;
    double w;

    b24_limits_config_default(&cfg);
    l = mk(&c, &cfg);
    for (i = 0; i < 4; i++) {
        w = b24_limiter_rate_exceeded(l, &lowered);
        CHECK(w == 1500 && !lowered);
    }
    w = b24_limiter_rate_exceeded(l, &lowered);
    CHECK(lowered);
    CHECK(fabs(w - (1000.0 / 1.6 + 1000)) < 1e-9); /* drain 2 -> 1.6 */
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.drain_rate == 1.6 && s.burst_limit == 40 && s.tokens == 0);
    CHECK(s.original_drain_rate == 2 && s.original_burst_limit == 50);
    CHECK(s.recent_errors == 0);
    b24_limiter_stats_clear(&s);
    /* errors older than 60 s do not count */
    for (i = 0; i < 4; i++)
        b24_limiter_rate_exceeded(l, &lowered);
    c.t += 61000;
    b24_limiter_rate_exceeded(l, &lowered);
    CHECK(!lowered);
    /* restore after 20 successes with < 2.5 recent errors */
    c.t += 61000;
    for (i = 0; i < 19; i++) {
        b24_limiter_record_success(l, "m", 0, 0, 0, 0, &restored, NULL);
        CHECK(!restored);
    }
    b24_limiter_record_success(l, "batch::m", 0, 0, 0, 0, &restored, NULL);
    CHECK(!restored); /* batch:: entries do not count */
    b24_limiter_record_success(l, "m", 0, 0, 0, 0, &restored, NULL);
    CHECK(restored);
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.drain_rate == 1.76 && s.burst_limit == 44);
    b24_limiter_stats_clear(&s);
    /* without adaptive: never lowered */
    cfg.rate_adaptive = 0;
    CHECK(b24_limiter_configure(l, &cfg, NULL) == B24_OK);
    for (i = 0; i < 10; i++)
        b24_limiter_rate_exceeded(l, &lowered);
    CHECK(!lowered);
    /* reset: tokens = current burst, rates restored */
    b24_limiter_reset(l);
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.drain_rate == 2 && s.burst_limit == 50 && s.recent_errors == 0);
    CHECK(s.total_requests == 0 && s.noperating == 0);
    b24_limiter_stats_clear(&s);
    b24_limiter_free(l);
}

static void
test_operating(void)
{
    struct fake_clock c = {1700000000000.0};
    struct b24_limits_config cfg;
    struct b24_limiter *l;
    struct b24_limiter_stats s;
    enum b24_gate g;
    const char *names[] = {"crm.item.list?entityTypeId=2", "user.get",
                           "crm.item.list"};
    struct b24_call_methods batch = {names, 3};
    int heavy = 0;
    double reset_s = c.t / 1000.0 + 100; /* 100 s ahead */

    b24_limits_config_default(&cfg);
    l = mk(&c, &cfg);
    CHECK(b24_limiter_operating_wait(l, "m", NULL, &g) == 0 &&
          g == B24_GATE_NONE);
    /* below the adaptive threshold (384 s): no wait */
    b24_limiter_record_success(l, "m", 1, 300, 1, reset_s, NULL, &heavy);
    CHECK(!heavy);
    CHECK(b24_limiter_operating_wait(l, "m", NULL, &g) == 0);
    /* adaptive: usage 400/480 > 80 % -> (reset - now) * 0.01 = 1000 */
    b24_limiter_record_success(l, "m", 1, 400, 1, reset_s, NULL, &heavy);
    CHECK(heavy);
    CHECK(b24_limiter_adaptive_delay(l, "m", NULL) == 1000);
    CHECK(b24_limiter_operating_wait(l, "m", NULL, &g) == 1000 &&
          g == B24_GATE_ADAPTIVE);
    /* reset in the past -> 7000, capped by max_delay */
    b24_limiter_record_success(l, "m", 1, 400, 0, 0, NULL, NULL);
    CHECK(b24_limiter_adaptive_delay(l, "m", NULL) == 7000);
    cfg.max_delay = 3000;
    b24_limiter_configure(l, &cfg, NULL);
    CHECK(b24_limiter_adaptive_delay(l, "m", NULL) == 3000);
    cfg.adaptive_enabled = 0;
    b24_limiter_configure(l, &cfg, NULL);
    CHECK(b24_limiter_adaptive_delay(l, "m", NULL) == 0);
    /* blocked: operating >= limit - 5 s */
    b24_limiter_record_success(l, "m", 1, 475, 1, reset_s, NULL, NULL);
    CHECK(b24_limiter_time_to_free(l, "m", NULL) == 101000);
    CHECK(b24_limiter_operating_wait(l, "m", NULL, &g) == 101000 &&
          g == B24_GATE_OPERATING);
    b24_limiter_record_success(l, "m", 1, 475, 0, 0, NULL, NULL);
    CHECK(b24_limiter_time_to_free(l, "m", NULL) == 5000);
    /* batch -> max over batch::<m> of the cmd list */
    b24_limiter_record_success(l, "batch::crm.item.list", 1, 479, 1,
                               reset_s, NULL, NULL);
    CHECK(b24_limiter_time_to_free(l, "batch", &batch) == 101000);
    CHECK(b24_limiter_time_to_free(l, "batch", NULL) == 0);
    CHECK(b24_limiter_time_to_free(l, "crm.item.list", NULL) == 0);
    /* missing `operating`: ignored */
    b24_limiter_record_success(l, "x", 0, 0, 1, reset_s, NULL, NULL);
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.noperating == 2 && s.heavy_request_count == 5);
    CHECK(s.adaptive_delays == 1 && s.total_adaptive_delay == 1000 &&
          s.adaptive_delay_avg == 1000);
    b24_limiter_stats_clear(&s);
    /* entries expire after window + 10 s */
    c.t += 610001;
    CHECK(b24_limiter_time_to_free(l, "m", NULL) == 0);
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.noperating == 0);
    b24_limiter_stats_clear(&s);
    b24_limiter_free(l);
}

static void
test_metrics_and_codes(void)
{
    struct fake_clock c = {1e12};
    struct b24_limits_config cfg;
    struct b24_limiter *l;
    struct b24_limiter_stats s;
    const char *hard[] = {"MY_HARD"}, *soft[] = {"MY_SOFT"};
    int i;

    b24_limits_config_default(&cfg);
    cfg.hard_codes = hard;
    cfg.nhard = 1;
    cfg.soft_codes = soft;
    cfg.nsoft = 1;
    l = mk(&c, &cfg);
    CHECK(b24_limiter_is_hard(l, "MY_HARD") && b24_limiter_is_hard(l, "100"));
    CHECK(b24_limiter_is_soft(l, "MY_SOFT") &&
          b24_limiter_is_soft(l, "ERROR_ENTITY_NOT_FOUND"));
    CHECK(!b24_limiter_is_hard(l, "NETWORK_ERROR"));
    CHECK(!b24_limiter_is_hard(l, "my_hard")); /* case-sensitive */
    cfg.net_retry = B24_NET_RETRY_NEVER;
    cfg.nhard = cfg.nsoft = 0;
    b24_limiter_configure(l, &cfg, NULL);
    CHECK(b24_limiter_is_hard(l, "NETWORK_ERROR") &&
          b24_limiter_is_hard(l, "REQUEST_TIMEOUT"));
    CHECK(!b24_limiter_is_hard(l, "MY_HARD"));
    for (i = 0; i < 105; i++)
        b24_metrics_attempt(l, "a", 0, "boom", 10);
    b24_metrics_attempt(l, "b", 0, "bang", 5);
    b24_metrics_attempt(l, "a", 1, NULL, 1);
    b24_metrics_limit_hit(l);
    b24_metrics_retry(l);
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.total_requests == 107 && s.failed_requests == 106 &&
          s.successful_requests == 1 && s.consecutive_errors == 0);
    CHECK(s.nlast_errors == 100 && s.nerror_counts == 1);
    CHECK_STR(s.error_counts[0].method, "b");
    CHECK_STR(s.last_errors[99].error, "bang");
    CHECK(s.limit_hits == 1 && s.retries == 1 && s.nby_method == 2);
    CHECK(s.total_duration == 1056);
    b24_limiter_stats_clear(&s);
    /* invalid configs */
    cfg.drain_rate = 0;
    CHECK(b24_limiter_configure(l, &cfg, NULL) == B24_E_USAGE);
    b24_limiter_free(l);
    CHECK(b24_round2(1.005 * 1000) == 1005 && b24_round2(0.125) == 0.13);
}

/* issue 9 item 3: a reset time more than one window ahead (or 1e308, or a
 * server clock hours ahead) is implausible: the short default waits,
 * never a sleep the server controls */
static void
test_implausible_reset(void)
{
    struct fake_clock c = {1700000000000.0};
    struct b24_limits_config cfg;
    struct b24_limiter *l;
    double t_s = c.t / 1000.0;
    const double far[] = {t_s + 601, t_s + 86400.0 * 365, 1e308, t_s + 3600,
                          INFINITY, NAN};
    size_t i;

    b24_limits_config_default(&cfg);
    l = mk(&c, &cfg);
    for (i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
        /* blocked: operating >= limit - 5 s -> 5 s, not (reset - now) */
        b24_limiter_record_success(l, "m", 1, 479, 1, far[i], NULL, NULL);
        CHECK(b24_limiter_time_to_free(l, "m", NULL) == 5000);
        /* adaptive: the default 7 s, not (reset - now) * coefficient */
        b24_limiter_record_success(l, "m", 1, 400, 1, far[i], NULL, NULL);
        CHECK(b24_limiter_adaptive_delay(l, "m", NULL) == 7000);
    }
    /* exactly one window ahead is still believed */
    b24_limiter_record_success(l, "m", 1, 479, 1, t_s + 600, NULL, NULL);
    CHECK(b24_limiter_time_to_free(l, "m", NULL) == 601000);
    b24_limiter_free(l);
}

/* issue 9 item 10: many distinct method names keep per-method state
 * bounded, and the bound never forgets a method that can cause a wait */
static void
test_bounded_method_tables(void)
{
    struct fake_clock c = {1700000000000.0};
    struct b24_limits_config cfg;
    struct b24_limiter *l;
    struct b24_limiter_stats s;
    char name[32];
    int i;
    double reset_s = c.t / 1000.0 + 300;

    b24_limits_config_default(&cfg);
    l = mk(&c, &cfg);
    /* one hot method, inside its window, recorded first (oldest) */
    b24_limiter_record_success(l, "hot.method", 1, 479, 1, reset_s, NULL,
                               NULL);
    for (i = 0; i < 30000; i++) {
        snprintf(name, sizeof(name), "m.%d", i);
        c.t += 1;
        b24_limiter_record_success(l, name, 1, 0.01, 1, reset_s, NULL, NULL);
        b24_metrics_attempt(l, name, i % 7 != 0, "e", 1);
    }
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.noperating <= 1024);
    CHECK(s.nby_method <= 1001 && s.nerror_counts <= 1001);
    CHECK(s.total_requests == 30000);
    b24_limiter_stats_clear(&s);
    CHECK(b24_limiter_time_to_free(l, "hot.method", NULL) > 260000);
    /* every entry hot: the table grows rather than forget one */
    for (i = 0; i < 1100; i++) {
        snprintf(name, sizeof(name), "h.%d", i);
        b24_limiter_record_success(l, name, 1, 479, 1, reset_s, NULL, NULL);
    }
    for (i = 0; i < 1100; i++) {
        snprintf(name, sizeof(name), "h.%d", i);
        CHECK(b24_limiter_time_to_free(l, name, NULL) > 0);
    }
    CHECK(b24_limiter_time_to_free(l, "hot.method", NULL) > 0);
    b24_limiter_free(l);
}

void
test_limiter(void)
{
    test_bucket();
    test_adaptive_rate();
    test_operating();
    test_implausible_reset();
    test_bounded_method_tables();
    test_metrics_and_codes();
}
