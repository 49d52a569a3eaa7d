/* test_retry.c - every branch of the §9.5 classification, jitter bounds,
 * and the safe-write rule (Decisions item 8). */
#include <math.h>

#include "b24_retry.h"
#include "harness.h"

static double fixed_t = 1e12;
static double
clk(void *ctx)
{
    (void)ctx;
    return fixed_t;
}

static double rng_value = 0.5;
static double
rng(void *ctx)
{
    (void)ctx;
    return rng_value;
}

static struct b24_retry_decision
decide(struct b24_limiter *l, long status, const char *code,
       const char *msg, unsigned attempt, int is_write, int idem,
       int maybe_sent)
{
    struct b24_retry_input in;
    struct b24_retry_decision d;
    memset(&in, 0, sizeof(in));
    in.status = status;
    in.code = code;
    in.message = msg;
    in.attempt = attempt;
    in.method = "crm.item.list";
    in.is_write = is_write;
    in.idempotent = idem;
    in.maybe_sent = maybe_sent;
    b24_retry_decide(l, &in, &d);
    return d;
}

void
test_retry(void)
{
    struct b24_limits_config cfg;
    struct b24_limiter *l;
    struct b24_retry_decision d;
    int i;

    b24_limits_config_default(&cfg);
    l = b24_limiter_new(&cfg, clk, NULL, rng, NULL, NULL);
    /* 1. rate: 503 or QUERY_LIMIT_EXCEEDED, even with a hard code */
    d = decide(l, 503, "QUERY_LIMIT_EXCEEDED", "Too many", 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_RATE && d.wait_ms == 1500);
    d = decide(l, 200, "QUERY_LIMIT_EXCEEDED", NULL, 1, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_RATE && d.wait_ms == 2250);
    d = decide(l, 503, "OVERLOAD_LIMIT", NULL, 2, 1, 0, 1);
    CHECK(d.reason == B24_RETRY_RATE && d.wait_ms == 1500 * 2.25);
    b24_limiter_reset(l);
    /* 2. operating: 429 or OPERATION_TIME_LIMIT -> max(10 s, ttf) */
    d = decide(l, 429, "OPERATION_TIME_LIMIT", NULL, 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_OPERATING && d.wait_ms == 10000);
    b24_limiter_record_success(l, "crm.item.list", 1, 479, 1,
                               fixed_t / 1000 + 60, NULL, NULL);
    d = decide(l, 400, "OPERATION_TIME_LIMIT", NULL, 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_OPERATING && d.wait_ms == 61000);
    b24_limiter_reset(l);
    /* a refused redirect is final (issue 9 item 9), read or write */
    d = decide(l, 307, "PORTAL_MOVED", "Portal moved to x", 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_REDIRECT && d.wait_ms == 0);
    d = decide(l, 302, "ERR_FR_TOO_MANY_REDIRECTS", NULL, 2, 1, 1, 1);
    CHECK(d.reason == B24_RETRY_REDIRECT && d.wait_ms == 0);
    d = decide(l, 0, "PORTAL_MOVED", NULL, 0, 0, 0, 0);
    CHECK(d.reason == B24_RETRY_REDIRECT && d.wait_ms == 0);
    /* 3. client errors: 4xx except 408/429 */
    d = decide(l, 400, "ERROR_CORE", NULL, 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_CLIENT_ERROR && d.wait_ms == 0);
    d = decide(l, 404, "SOMETHING", NULL, 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_CLIENT_ERROR && d.wait_ms == 0);
    d = decide(l, 408, "REQUEST_TIMEOUT", NULL, 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_BACKOFF && d.wait_ms == 1000);
    /* 4. hard, soft, missing parameter */
    /* 500 INTERNAL_SERVER_ERROR (issue 9 item 7): a read backs off and is
     * retried; a write without an Idempotency-Key is not re-sent; a write
     * with one (REST v3) is */
    d = decide(l, 500, "INTERNAL_SERVER_ERROR", NULL, 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_BACKOFF && d.wait_ms == 1000);
    d = decide(l, 500, "INTERNAL_SERVER_ERROR", NULL, 0, 1, 0, 1);
    CHECK(d.reason == B24_RETRY_UNSAFE_WRITE && d.wait_ms == 0);
    d = decide(l, 500, "INTERNAL_SERVER_ERROR", NULL, 0, 1, 1, 1);
    CHECK(d.reason == B24_RETRY_BACKOFF && d.wait_ms == 1000);
    /* the same code under another status is still hard */
    d = decide(l, 200, "INTERNAL_SERVER_ERROR", NULL, 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_HARD_OR_SOFT && d.wait_ms == 0);
    d = decide(l, 500, "ERROR_ENTITY_NOT_FOUND", NULL, 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_HARD_OR_SOFT && d.wait_ms == 0);
    d = decide(l, 500, "X", "Could not find value for parameter {id}", 0, 0,
               0, 1);
    CHECK(d.reason == B24_RETRY_HARD_OR_SOFT && d.wait_ms == 0);
    /* 5. backoff: base * 2^attempt, capped at max(30 s, base), jitter */
    d = decide(l, 502, "ERR_BAD_GATEWAY", NULL, 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_BACKOFF && d.wait_ms == 1000);
    d = decide(l, 0, "NETWORK_ERROR", NULL, 1, 0, 0, 1);
    CHECK(d.wait_ms == 2000);
    d = decide(l, 0, "NETWORK_ERROR", NULL, 10, 0, 0, 1);
    CHECK(d.wait_ms == 30000);
    rng_value = 0.0; /* uniform -1 */
    d = decide(l, 500, "X", NULL, 0, 0, 0, 1);
    CHECK(fabs(d.wait_ms - 900) < 1e-9);
    rng_value = 0.999999; /* ~ +1 */
    d = decide(l, 500, "X", NULL, 0, 0, 0, 1);
    CHECK(d.wait_ms > 1099.99 && d.wait_ms < 1100);
    cfg.retry_delay = 50; /* floor of 100 ms */
    b24_limiter_configure(l, &cfg, NULL);
    rng_value = 0.0;
    d = decide(l, 500, "X", NULL, 0, 0, 0, 1);
    CHECK(d.wait_ms == 100);
    cfg.retry_delay = 1000;
    b24_limiter_configure(l, &cfg, NULL);
    /* default RNG stays within ±10 % */
    {
        struct b24_limiter *r = b24_limiter_new(&cfg, clk, NULL, NULL, NULL,
                                                NULL);
        int ok = 1;
        for (i = 0; i < 1000; i++) {
            d = decide(r, 500, "X", NULL, 2, 0, 0, 1);
            if (d.wait_ms < 3600 || d.wait_ms > 4400)
                ok = 0;
        }
        CHECK(ok);
        b24_limiter_free(r);
    }
    rng_value = 0.5;
    /* item 8: writes after a possible send */
    d = decide(l, 0, "NETWORK_ERROR", NULL, 0, 1, 0, 1);
    CHECK(d.reason == B24_RETRY_UNSAFE_WRITE && d.wait_ms == 0);
    d = decide(l, 408, "REQUEST_TIMEOUT", NULL, 0, 1, 0, 1);
    CHECK(d.reason == B24_RETRY_UNSAFE_WRITE && d.wait_ms == 0);
    d = decide(l, 0, "NETWORK_ERROR", NULL, 0, 1, 0, 0); /* pre-send */
    CHECK(d.reason == B24_RETRY_BACKOFF && d.wait_ms == 1000);
    d = decide(l, 0, "NETWORK_ERROR", NULL, 0, 1, 1, 1); /* v3 + key */
    CHECK(d.reason == B24_RETRY_BACKOFF && d.wait_ms == 1000);
    d = decide(l, 0, "NETWORK_ERROR", NULL, 0, 0, 0, 1); /* a read */
    CHECK(d.reason == B24_RETRY_BACKOFF);
    d = decide(l, 500, "X", NULL, 0, 1, 0, 1); /* an answer: JS rule */
    CHECK(d.reason == B24_RETRY_BACKOFF);
    cfg.net_retry = B24_NET_RETRY_ALWAYS;
    b24_limiter_configure(l, &cfg, NULL);
    d = decide(l, 0, "NETWORK_ERROR", NULL, 0, 1, 0, 1);
    CHECK(d.reason == B24_RETRY_BACKOFF && d.wait_ms == 1000);
    cfg.net_retry = B24_NET_RETRY_NEVER;
    b24_limiter_configure(l, &cfg, NULL);
    d = decide(l, 0, "NETWORK_ERROR", NULL, 0, 0, 0, 0);
    CHECK(d.reason == B24_RETRY_HARD_OR_SOFT && d.wait_ms == 0);
    d = decide(l, 408, "REQUEST_TIMEOUT", NULL, 0, 0, 0, 1);
    CHECK(d.reason == B24_RETRY_HARD_OR_SOFT && d.wait_ms == 0);
    b24_limiter_free(l);
}
