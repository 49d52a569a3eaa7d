/* test_limiter_ops.c - the state-keeping seam of the limiter
 * (b24_limiter_ops.h): b24_limiter_new runs on the in-process backend, and
 * the public functions reach a backend only through its ops table, with
 * the limiter's clock, while the rules (time_to_free, adaptive delay, the
 * batch rule, heavy requests) stay in the front end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "b24_limiter.h"
#include "b24_limiter_ops.h"
#include "harness.h"

struct fake_clock {
    double t;
};

static double
fake_now(void *ctx)
{
    return ((struct fake_clock *)ctx)->t;
}

/* ---- a recording backend ---------------------------------------------- */

struct rec {
    int created, destroyed, configured, reset;
    double last_now;          /* `now` of the last rate op */
    double drain_seen;        /* cfg->drain_rate at configure */
    int reserves, exceeded, successes;
    int fail_create;          /* operating create fails */
    int record_ok;            /* what record returns */
    int records;
    char last_record[64];
    double last_record_ms;
    char gets[8][64];         /* keys asked, prefix + name[0:n] */
    int ngets;
    struct b24_op_entry entry; /* what get answers for "hot" keys */
};

static struct rec R;

static void *
r_create(const struct b24_limits_config *cfg,
         const struct b24_limiter_scope *scope, double now,
         struct b24_error *err)
{
    (void)cfg;
    (void)scope;
    (void)err;
    R.created++;
    R.last_now = now;
    return &R;
}
static void
r_destroy(void *self)
{
    CHECK(self == &R);
    R.destroyed++;
}
static void
r_configure(void *self, const struct b24_limits_config *cfg)
{
    (void)self;
    R.configured++;
    R.drain_seen = cfg->drain_rate;
}
static double
r_reserve(void *self, double now)
{
    (void)self;
    R.reserves++;
    R.last_now = now;
    return 1234;
}
static double
r_exceeded(void *self, double now, int *lowered)
{
    (void)self;
    R.exceeded++;
    R.last_now = now;
    *lowered = 1;
    return 4321;
}
static int
r_success(void *self, double now)
{
    (void)self;
    R.successes++;
    R.last_now = now;
    return 1;
}
static void
r_stats(void *self, double now, struct b24_limiter_stats *out)
{
    (void)self;
    R.last_now = now;
    out->tokens = 7;
    out->drain_rate = 3;
}
static void
r_reset(void *self, double now)
{
    (void)self;
    R.reset++;
    R.last_now = now;
}

static const struct b24_rate_ops rec_rate = {
    .name = "recording",
    .create = r_create,
    .destroy = r_destroy,
    .configure = r_configure,
    .reserve = r_reserve,
    .exceeded = r_exceeded,
    .success = r_success,
    .stats = r_stats,
    .reset = r_reset,
};

static void *
o_create(const struct b24_limits_config *cfg,
         const struct b24_limiter_scope *scope, struct b24_error *err)
{
    (void)cfg;
    (void)scope;
    if (R.fail_create) {
        b24_error_set(err, B24_E_NOMEM, "backend refused");
        return NULL;
    }
    R.created++;
    return &R;
}
static void
o_configure(void *self, const struct b24_limits_config *cfg)
{
    (void)self;
    (void)cfg;
    R.configured++;
}
static int
o_record(void *self, const char *method, const struct b24_op_entry *e,
         double now)
{
    (void)self;
    (void)now;
    R.records++;
    snprintf(R.last_record, sizeof(R.last_record), "%s", method);
    R.last_record_ms = e->operating_ms;
    return R.record_ok;
}
static int
o_get(void *self, const char *prefix, const char *name, size_t n, double now,
      struct b24_op_entry *out)
{
    char key[64];
    (void)self;
    (void)now;
    snprintf(key, sizeof(key), "%s%.*s", prefix, (int)n, name);
    if (R.ngets < 8)
        snprintf(R.gets[R.ngets++], sizeof(R.gets[0]), "%s", key);
    if (strstr(key, "hot") == NULL)
        return 0;
    *out = R.entry;
    return 1;
}
static enum b24_status
o_stats(void *self, double now, struct b24_method_count **out, size_t *n)
{
    (void)self;
    (void)now;
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return B24_E_NOMEM;
    (*out)[0].method = malloc(4);
    if ((*out)[0].method == NULL) {
        free(*out);
        *out = NULL;
        return B24_E_NOMEM;
    }
    memcpy((*out)[0].method, "hot", 4);
    (*out)[0].count = 470;
    *n = 1;
    return B24_OK;
}
static void
o_reset(void *self)
{
    (void)self;
    R.reset++;
}

static const struct b24_operating_ops rec_op = {
    .name = "recording",
    .create = o_create,
    .destroy = r_destroy,
    .configure = o_configure,
    .record = o_record,
    .get = o_get,
    .stats = o_stats,
    .reset = o_reset,
};

static const struct b24_limiter_backend rec_backend = {&rec_rate, &rec_op,
                                                       {NULL, NULL, NULL}};

/* ---- tests -------------------------------------------------------------- */

static void
test_default_backend(void)
{
    struct b24_error err;
    struct b24_limiter *l = b24_limiter_new(NULL, NULL, NULL, NULL, NULL, &err);
    CHECK(l != NULL);
    CHECK_STR(b24_limiter_rate_backend(l), "in-process");
    CHECK_STR(b24_limiter_operating_backend(l), "in-process");
    b24_limiter_free(l);
    /* a NULL member of a backend falls back to the in-process one */
    {
        struct b24_limiter_backend half = {NULL, &b24_operating_inproc,
                                           {NULL, NULL, NULL}};
        memset(&R, 0, sizeof(R));
        half.rate = &rec_rate;
        l = b24_limiter_new_backend(NULL, NULL, NULL, NULL, NULL, &half,
                                    &err);
        CHECK(l != NULL);
        CHECK_STR(b24_limiter_rate_backend(l), "recording");
        CHECK_STR(b24_limiter_operating_backend(l), "in-process");
        b24_limiter_free(l);
        CHECK(R.destroyed == 1);
    }
}

static void
test_rate_through_ops(void)
{
    struct fake_clock c = {1e12};
    struct b24_error err;
    struct b24_limits_config cfg;
    struct b24_limiter *l;
    struct b24_limiter_stats s;
    int lowered = 0, restored = 0, heavy = 0;

    memset(&R, 0, sizeof(R));
    R.record_ok = 1;
    b24_limits_config_default(&cfg);
    l = b24_limiter_new_backend(&cfg, fake_now, &c, NULL, NULL, &rec_backend,
                                &err);
    CHECK(l != NULL);
    CHECK(R.created == 2 && R.last_now == 1e12);
    c.t += 10;
    CHECK(b24_limiter_reserve(l) == 1234);
    CHECK(R.reserves == 1 && R.last_now == 1e12 + 10);
    c.t += 10;
    CHECK(b24_limiter_rate_exceeded(l, &lowered) == 4321 && lowered == 1);
    CHECK(R.last_now == 1e12 + 20);
    CHECK(b24_limiter_rate_exceeded(l, NULL) == 4321);
    /* a batch command's own answer is no success for the rate limiter */
    b24_limiter_record_success(l, "batch::crm.deal.get", 0, 0, 0, 0,
                               &restored, &heavy);
    CHECK(R.successes == 0 && restored == 0 && R.records == 0);
    b24_limiter_record_success(l, "crm.deal.list", 0, 0, 0, 0, &restored,
                               &heavy);
    CHECK(R.successes == 1 && restored == 1 && heavy == 0);
    /* the operating entry in ms; heavy counted by the front end (80% of
     * 480 s = 384 s), and only when the backend stored it */
    b24_limiter_record_success(l, "crm.deal.list", 1, 400, 0, 0, NULL,
                               &heavy);
    CHECK(R.records == 1 && heavy == 1 && R.last_record_ms == 400000);
    CHECK_STR(R.last_record, "crm.deal.list");
    R.record_ok = 0;
    b24_limiter_record_success(l, "crm.deal.list", 1, 400, 0, 0, NULL,
                               &heavy);
    CHECK(R.records == 2 && heavy == 0);
    /* non-finite operating time never reaches the backend */
    b24_limiter_record_success(l, "x", 1, NAN, 0, 0, NULL, NULL);
    CHECK(R.records == 2);

    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.tokens == 7 && s.drain_rate == 3 && s.heavy_request_count == 1);
    CHECK(s.noperating == 1 && s.operating[0].count == 470);
    CHECK(s.successful_requests == 0);
    b24_limiter_stats_clear(&s);

    cfg.drain_rate = 9;
    CHECK(b24_limiter_configure(l, &cfg, &err) == B24_OK);
    CHECK(R.configured == 2 && R.drain_seen == 9);
    cfg.drain_rate = 0; /* refused before any backend sees it */
    CHECK(b24_limiter_configure(l, &cfg, &err) == B24_E_USAGE);
    CHECK(R.configured == 2);

    c.t += 5;
    b24_limiter_reset(l);
    CHECK(R.reset == 2 && R.last_now == 1e12 + 25);
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.heavy_request_count == 0);
    b24_limiter_stats_clear(&s);
    b24_limiter_free(l);
    CHECK(R.destroyed == 2);
}

/* The rules read whatever entries the backend answers: the batch rule asks
 * for "batch::" + each command cut at '?', time_to_free and the adaptive
 * delay are computed by the front end. */
static void
test_gates_over_ops(void)
{
    struct fake_clock c = {1e12};
    struct b24_error err;
    struct b24_limiter *l;
    enum b24_gate g;
    const char *names[] = {"crm.deal.get?id=1", "hot.method?x=2"};
    struct b24_call_methods batch = {names, 2};

    memset(&R, 0, sizeof(R));
    l = b24_limiter_new_backend(NULL, fake_now, &c, NULL, NULL, &rec_backend,
                                &err);
    CHECK(l != NULL);
    /* 476 s of 480: over limit_ms - 5 s; reset 30 s ahead */
    R.entry.operating_ms = 476000;
    R.entry.have_reset = 1;
    R.entry.reset_at_ms = c.t + 30000;
    CHECK(b24_limiter_time_to_free(l, "batch", &batch) == 31000);
    CHECK(R.ngets == 2);
    CHECK_STR(R.gets[0], "batch::crm.deal.get");
    CHECK_STR(R.gets[1], "batch::hot.method");
    CHECK(b24_limiter_time_to_free(l, "crm.deal.get", NULL) == 0);
    CHECK(b24_limiter_operating_wait(l, "hot.list", NULL, &g) == 31000);
    CHECK(g == B24_GATE_OPERATING);
    /* 90%: under the time-to-free limit, over the adaptive threshold */
    R.entry.operating_ms = 432000;
    CHECK(b24_limiter_operating_wait(l, "hot.list", NULL, &g) == 300);
    CHECK(g == B24_GATE_ADAPTIVE);
    CHECK(b24_limiter_adaptive_delay(l, "hot.list", NULL) == 300);
    {
        struct b24_limiter_stats s;
        CHECK(b24_limiter_stats(l, &s) == B24_OK);
        CHECK(s.adaptive_delays == 1 && s.total_adaptive_delay == 300);
        b24_limiter_stats_clear(&s);
    }
    b24_limiter_free(l);
}

static void
test_backend_create_fails(void)
{
    struct b24_error err;
    struct b24_limiter *l;
    memset(&R, 0, sizeof(R));
    R.fail_create = 1;
    memset(&err, 0, sizeof(err));
    l = b24_limiter_new_backend(NULL, NULL, NULL, NULL, NULL, &rec_backend,
                                &err);
    CHECK(l == NULL);
    CHECK(err.status == B24_E_NOMEM);
    /* the rate state made before the failure is released */
    CHECK(R.created == 1 && R.destroyed == 1);
}

void
test_limiter_ops(void)
{
    test_default_backend();
    test_rate_through_ops();
    test_gates_over_ops();
    test_backend_create_fails();
}
