/* test_engine.c - the call state machine (b24_engine.c) driven by a
 * scripted transport and a fake clock: every row of the retry, limit and
 * safe-write tables as the shipped engine applies them, with the steps
 * and events it emits. */
#include <stdlib.h>

#include "b24_engine.h"
#include "harness.h"

static double wall = 1.7e12; /* the limiter's clock (ms) */
static double
clk(void *ctx)
{
    (void)ctx;
    return wall;
}

static double
rng(void *ctx)
{
    (void)ctx;
    return 0.5;
}

/* One scripted exchange. */
struct ans {
    long status;       /* 0: a transport failure (NETWORK_ERROR) */
    const char *body;  /* JSON body, classified like a real answer */
    int maybe_sent;
};

#define OK_BODY "{\"result\":1,\"time\":{\"operating\":0.1}}"
#define E503 "{\"error\":\"QUERY_LIMIT_EXCEEDED\",\"error_description\":\"Too many requests\"}"
#define E429 "{\"error\":\"OPERATION_TIME_LIMIT\",\"error_description\":\"Method is blocked\"}"
#define E500 "{\"error\":\"INTERNAL_SERVER_ERROR\",\"error_description\":\"Internal\"}"
#define E400 "{\"error\":\"SOME_BAD_FIELD\",\"error_description\":\"bad\"}"
#define E403 "{\"error\":\"ACCESS_DENIED\",\"error_description\":\"Access denied!\"}"
#define E401 "{\"error\":\"expired_token\",\"error_description\":\"expired\"}"

struct run {
    unsigned sends;
    unsigned waits;
    double waited;       /* ms */
    int fresh;           /* fresh_connect of the last SEND */
    char events[512];    /* one letter per event */
    double pending_seen; /* pending_requests seen during a WAIT (max) */
};

static void
on_event(void *ctx, const struct b24_event *ev)
{
    static const char letters[] = "?ABSRUCFDLHYWaze";
    struct run *r = ctx;
    size_t n = strlen(r->events);
    if (n + 1 < sizeof(r->events)) {
        r->events[n] = letters[ev->kind];
        r->events[n + 1] = '\0';
    }
}

static void
fill(struct b24_outcome *o, const struct ans *a)
{
    if (a->status == 0) {
        b24_envelope_network_error(o);
    } else {
        b24_envelope_classify(o, a->status, a->body, strlen(a->body));
    }
    o->maybe_sent = a->maybe_sent;
}

/* Drive one call to DONE (or `stop_after` steps, then abandon). */
static void
drive(struct b24_limiter *l, const char *method, int is_write, int idem,
      const struct ans *script, size_t n, struct b24_outcome *out,
      struct run *r, int stop_after)
{
    struct b24_call c;
    struct b24_step s;
    double mono = 0;
    int steps = 0;
    memset(r, 0, sizeof(*r));
    b24_call_init(&c, out);
    c.limiter = l;
    c.method = method;
    c.is_write = is_write;
    c.idempotent = idem;
    c.on_event = on_event;
    c.ctx = r;
    for (;;) {
        CHECK(b24_call_step(&c, mono, &s) == B24_OK);
        if (s.kind == B24_STEP_DONE)
            break;
        if (stop_after > 0 && ++steps >= stop_after) {
            b24_call_abandon(&c);
            break;
        }
        if (s.kind == B24_STEP_WAIT) {
            struct b24_limiter_stats st;
            r->waits++;
            r->waited += s.wait_ms;
            if (l != NULL && b24_limiter_stats(l, &st) == B24_OK) {
                if (st.pending_requests > r->pending_seen)
                    r->pending_seen = st.pending_requests;
                b24_limiter_stats_clear(&st);
            }
            wall += s.wait_ms;
            mono += s.wait_ms;
            continue;
        }
        r->fresh = s.fresh_connect;
        b24_outcome_clear(out);
        b24_outcome_init(out);
        if (r->sends < n)
            fill(out, &script[r->sends]);
        else
            b24_envelope_network_error(out);
        r->sends++;
        mono += 5;
    }
    CHECK(c.attempts == r->sends);
}

static struct b24_limiter *
limiter(int max_retries, double burst)
{
    struct b24_limits_config cfg;
    b24_limits_config_default(&cfg);
    cfg.max_retries = max_retries;
    cfg.retry_delay = 100;
    cfg.burst_limit = burst;
    cfg.adaptive_enabled = 0;
    return b24_limiter_new(&cfg, clk, NULL, rng, NULL, NULL);
}

static double
stat_of(struct b24_limiter *l, int which)
{
    struct b24_limiter_stats st;
    double v = -1;
    if (b24_limiter_stats(l, &st) != B24_OK)
        return v;
    switch (which) {
    case 0: v = st.retries; break;
    case 1: v = st.successful_requests; break;
    case 2: v = st.failed_requests; break;
    case 3: v = st.pending_requests; break;
    default: v = st.total_requests; break;
    }
    b24_limiter_stats_clear(&st);
    return v;
}

void
test_engine(void)
{
    struct b24_outcome out;
    struct run r;
    struct b24_limiter *l;

    b24_outcome_init(&out);

    /* success at once: attempt, send, response, success */
    l = limiter(3, 50);
    {
        struct ans a[] = {{200, OK_BODY, 1}};
        drive(l, "crm.item.get", 0, 0, a, 1, &out, &r, 0);
        CHECK(r.sends == 1 && r.waits == 0 && out.kind == B24_KIND_OK);
        CHECK_STR(r.events, "ASRU");
        CHECK(stat_of(l, 1) == 1 && stat_of(l, 4) == 1);
    }

    /* 503 QUERY_LIMIT_EXCEEDED: rate reason, wait (the bucket refills
     * during it), retried */
    {
        struct ans a[] = {{503, E503, 1}, {200, OK_BODY, 1}};
        drive(l, "crm.item.list", 0, 0, a, 2, &out, &r, 0);
        CHECK(r.sends == 2 && out.kind == B24_KIND_OK);
        CHECK(r.waited >= 1500);
        CHECK(strchr(r.events, 'D') != NULL && strchr(r.events, 'W') != NULL);
        CHECK(stat_of(l, 0) == 1);            /* one retry counted */
        CHECK(stat_of(l, 3) == 0);            /* pending back to zero */
    }
    b24_limiter_free(l);

    /* 429 OPERATION_TIME_LIMIT: waited, retried */
    l = limiter(3, 50);
    {
        struct ans a[] = {{429, E429, 1}, {200, OK_BODY, 1}};
        drive(l, "crm.item.list", 0, 0, a, 2, &out, &r, 0);
        CHECK(r.sends == 2 && out.kind == B24_KIND_OK && r.waited > 0);
    }
    /* a client error (4xx) is final */
    {
        struct ans a[] = {{400, E400, 1}, {200, OK_BODY, 1}};
        drive(l, "crm.item.list", 0, 0, a, 2, &out, &r, 0);
        CHECK(r.sends == 1 && out.kind == B24_KIND_ERROR);
        CHECK_STR(out.code, "SOME_BAD_FIELD");
        CHECK_STR(r.events, "ASCFD");
    }
    /* a hard code is final */
    {
        struct ans a[] = {{403, E403, 1}, {200, OK_BODY, 1}};
        drive(l, "crm.item.list", 0, 0, a, 2, &out, &r, 0);
        CHECK(r.sends == 1 && out.kind == B24_KIND_ERROR);
    }
    /* 500: a read is retried; a write without a key is not (maybe
     * committed); a write with an Idempotency-Key is */
    {
        struct ans a[] = {{500, E500, 1}, {200, OK_BODY, 1}};
        drive(l, "crm.item.list", 0, 0, a, 2, &out, &r, 0);
        CHECK(r.sends == 2 && out.kind == B24_KIND_OK && r.fresh == 0);
        drive(l, "crm.item.add", 1, 0, a, 2, &out, &r, 0);
        CHECK(r.sends == 1 && out.kind == B24_KIND_ERROR && r.fresh == 1);
        drive(l, "crm.item.add", 1, 1, a, 2, &out, &r, 0);
        CHECK(r.sends == 2 && out.kind == B24_KIND_OK && r.fresh == 0);
    }
    /* a network failure: a write that never left is retried, one that may
     * have left is not */
    {
        struct ans pre[] = {{0, NULL, 0}, {200, OK_BODY, 1}};
        struct ans post[] = {{0, NULL, 1}, {200, OK_BODY, 1}};
        drive(l, "crm.item.add", 1, 0, pre, 2, &out, &r, 0);
        CHECK(r.sends == 2 && out.kind == B24_KIND_OK);
        drive(l, "crm.item.add", 1, 0, post, 2, &out, &r, 0);
        CHECK(r.sends == 1 && out.kind == B24_KIND_ERROR && out.maybe_sent);
    }
    /* 401 expired_token: one resend inside the attempt, then final */
    {
        struct ans a[] = {{401, E401, 1}, {401, E401, 1}, {200, OK_BODY, 1}};
        drive(l, "server.time", 0, 0, a, 3, &out, &r, 0);
        CHECK(r.sends == 2 && out.kind == B24_KIND_ERROR);
        CHECK_STR(r.events, "ASazSCFD");
    }
    /* every attempt fails: exhausted after max_retries sends */
    {
        struct ans a[] = {{500, E500, 1}, {500, E500, 1}, {500, E500, 1},
                          {200, OK_BODY, 1}};
        drive(l, "crm.item.list", 0, 0, a, 4, &out, &r, 0);
        CHECK(r.sends == 3 && out.kind == B24_KIND_ERROR);
        CHECK(r.events[strlen(r.events) - 1] == 'e'); /* EXHAUSTED last */
    }
    b24_limiter_free(l);

    /* max_retries 0: no send at all, JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED */
    l = limiter(0, 50);
    {
        struct ans a[] = {{200, OK_BODY, 1}};
        drive(l, "server.time", 0, 0, a, 1, &out, &r, 0);
        CHECK(r.sends == 0 && out.kind == B24_KIND_ERROR && out.status == 500);
        CHECK_STR(out.code, "JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED");
    }
    b24_limiter_free(l);

    /* the rate gate: a bucket of 3 (one token of headroom) sends two at
     * once, then each call WAITs (BLOCKED rate, pending counted) */
    l = limiter(1, 3);
    {
        struct ans a[] = {{200, OK_BODY, 1}};
        double before;
        drive(l, "m.a", 0, 0, a, 1, &out, &r, 0);
        CHECK(r.waits == 0);
        drive(l, "m.a", 0, 0, a, 1, &out, &r, 0);
        CHECK(r.waits == 0);
        drive(l, "m.a", 0, 0, a, 1, &out, &r, 0);
        CHECK(r.waits >= 1 && r.sends == 1 && r.pending_seen == 1);
        CHECK(r.events[1] == 'B');
        CHECK(stat_of(l, 3) == 0);
        /* abandoned while blocked: pending is given back */
        before = stat_of(l, 4);
        drive(l, "m.a", 0, 0, a, 1, &out, &r, 1);
        CHECK(r.sends == 0 && stat_of(l, 3) == 0 && stat_of(l, 4) == before);
    }
    b24_limiter_free(l);

    /* the operating gate: a method over its budget WAITs before sending */
    l = limiter(1, 50);
    {
        struct ans a[] = {{200, OK_BODY, 1}};
        b24_limiter_record_success(l, "heavy.method", 1, 479.0, 1,
                                   wall / 1000.0 + 30, NULL, NULL);
        drive(l, "heavy.method", 0, 0, a, 1, &out, &r, 0);
        CHECK(r.sends == 1 && r.waits >= 1 && r.waited >= 29000);
        CHECK(r.events[1] == 'B');
    }
    b24_limiter_free(l);

    /* no limiter: one exchange, as it is */
    {
        struct ans a[] = {{500, E500, 1}};
        drive(NULL, "x.y", 1, 0, a, 1, &out, &r, 0);
        CHECK(r.sends == 1 && r.waits == 0 && out.kind == B24_KIND_ERROR);
        CHECK_STR(r.events, "");
    }
    b24_outcome_clear(&out);
}
