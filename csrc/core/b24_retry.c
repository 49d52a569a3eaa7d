/* b24_retry.c - retry classification, waits, backoff and jitter (§9.5). */
#include "b24_retry.h"

#include <math.h>
#include <string.h>

int
b24_retry_is_network_code(const char *code)
{
    return code != NULL && (strcmp(code, "NETWORK_ERROR") == 0 ||
                            strcmp(code, "REQUEST_TIMEOUT") == 0);
}

void
b24_retry_decide(struct b24_limiter *l, const struct b24_retry_input *in,
                 struct b24_retry_decision *out)
{
    const char *code = in->code ? in->code : "";
    double base, delay, u;

    memset(out, 0, sizeof(*out));
    /* 1. rate limit: wins over everything, hard codes included */
    if (in->status == 503 || strcmp(code, "QUERY_LIMIT_EXCEEDED") == 0) {
        out->reason = B24_RETRY_RATE;
        out->wait_ms = b24_limiter_rate_exceeded(l, &out->rate_lowered) *
                       pow(1.5, (double)in->attempt);
        return;
    }
    /* 2. operating limit */
    if (in->status == 429 || strcmp(code, "OPERATION_TIME_LIMIT") == 0) {
        out->reason = B24_RETRY_OPERATING;
        out->wait_ms =
            fmax(10000.0, b24_limiter_time_to_free(l, in->method, in->batch));
        return;
    }
    /* A redirect the transport refused (another origin, too many hops) is
     * the portal's own answer, not a transient failure: sending again to
     * the original URL would only repeat it, or worse succeed silently
     * where the caller must learn that the portal moved. */
    if ((in->status >= 300 && in->status <= 399) ||
        strcmp(code, "PORTAL_MOVED") == 0 ||
        strcmp(code, "ERR_FR_TOO_MANY_REDIRECTS") == 0) {
        out->reason = B24_RETRY_REDIRECT;
        return;
    }
    /* 3. deterministic client errors */
    if (in->status >= 400 && in->status < 500 && in->status != 408 &&
        in->status != 429) {
        out->reason = B24_RETRY_CLIENT_ERROR;
        return;
    }
    /* A 500 INTERNAL_SERVER_ERROR is the portal failing, not the request
     * being wrong: a read is retried like any 5xx (the JS SDK raises it at
     * once: a defect we do not copy, sdk-surface.md §8.3). A write may have
     * been applied before the failure, so the safe-write rule decides: re-sent
     * only under an Idempotency-Key (REST v3), else raised maybe_committed.
     * The code stays hard for every other purpose. */
    if (in->status == 500 && strcmp(code, "INTERNAL_SERVER_ERROR") == 0) {
        if (in->is_write && !in->idempotent) {
            out->reason = B24_RETRY_UNSAFE_WRITE;
            return;
        }
        goto backoff;
    }
    /* 4. hard and soft codes, and the portal's missing-parameter text */
    if (b24_limiter_is_hard(l, code) || b24_limiter_is_soft(l, code) ||
        (in->message != NULL &&
         strstr(in->message, "Could not find value for parameter") != NULL)) {
        out->reason = B24_RETRY_HARD_OR_SOFT;
        return;
    }
    /* item 8: a write whose exchange failed after a possible send is not
     * re-sent, unless it carries an Idempotency-Key or the user asked for
     * the JS behaviour ("always"). */
    if (in->is_write && in->maybe_sent && !in->idempotent &&
        b24_retry_is_network_code(code) &&
        b24_limiter_net_retry(l) != B24_NET_RETRY_ALWAYS) {
        out->reason = B24_RETRY_UNSAFE_WRITE;
        return;
    }
backoff:
    /* 5. backoff with ±10 % jitter */
    out->reason = B24_RETRY_BACKOFF;
    base = b24_limiter_retry_delay(l);
    delay = fmin(fmax(30000.0, base), base * pow(2.0, (double)in->attempt));
    u = b24_limiter_uniform(l) * 2.0 - 1.0;
    out->wait_ms = fmax(100.0, delay + delay * 0.1 * u);
}
