/* b24_retry.h - the retry policy of spec §9.5 with the safe-write rule of
 * "Decisions taken" item 8.  Pure decision: no I/O, no sleep. */
#ifndef B24_RETRY_H
#define B24_RETRY_H

#include "b24_limiter.h"

/* One failed attempt, as the policy sees it. */
struct b24_retry_input {
    long status;          /* HTTP status (0: no answer; 408: timeout) */
    const char *code;     /* error code (never NULL: "" when unknown) */
    const char *message;  /* error message or NULL */
    unsigned attempt;     /* 0-based index of the attempt that failed */
    const char *method;
    const struct b24_call_methods *batch; /* v2 batch command names */
    int is_write;         /* the call changes state (item 8) */
    int idempotent;       /* carries an Idempotency-Key (v3 writes) */
    int maybe_sent;       /* the failed exchange may have reached the server */
};

enum b24_retry_reason {
    B24_RETRY_RATE = 1,      /* 503 / QUERY_LIMIT_EXCEEDED (§9.5.1) */
    B24_RETRY_OPERATING,     /* 429 / OPERATION_TIME_LIMIT (§9.5.2) */
    B24_RETRY_CLIENT_ERROR,  /* 4xx except 408/429: stop (§9.5.3) */
    B24_RETRY_HARD_OR_SOFT,  /* code in the sets / missing param: stop */
    B24_RETRY_UNSAFE_WRITE,  /* write after a possible send: stop (item 8) */
    B24_RETRY_REDIRECT,      /* a refused redirect (3xx, PORTAL_MOVED,
                                ERR_FR_TOO_MANY_REDIRECTS): stop, final */
    B24_RETRY_BACKOFF        /* 5xx, 408, network: exponential + jitter */
};

struct b24_retry_decision {
    double wait_ms;                /* 0 = do not retry */
    enum b24_retry_reason reason;
    int rate_lowered;              /* the rate limiter lowered its rates */
};

/* Classify one failure.  Updates the rate limiter on a rate-limit answer. */
void b24_retry_decide(struct b24_limiter *l, const struct b24_retry_input *in,
                      struct b24_retry_decision *out);

/* True for the codes of a transport failure (NETWORK_ERROR,
 * REQUEST_TIMEOUT). */
int b24_retry_is_network_code(const char *code);

#endif /* B24_RETRY_H */
