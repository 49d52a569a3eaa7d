/* test_redis.c - the limiter's Redis backend against a real redis-server
 * this file starts (a free 127.0.0.1 port, a temporary directory, no disk
 * persistence) and stops: the same answers as the in-process backend for
 * one limiter, one bucket and one operating ledger for two limiters, key
 * expiry, NOSCRIPT, and the fallback when the server dies and its
 * recovery.  redis-server missing is a failure, not a skip. */
#include <hiredis.h>
#include <math.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b24_limiter_ops.h"
#include "b24_redis.h"
#include "harness.h"

static char dir[64], port[16], url[128];
static pid_t server = -1;
static int downs, ups;
static char last_where[160];

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static redisContext *
raw(void)
{
    struct timeval tv = {1, 0};
    return redisConnectWithTimeout("127.0.0.1", atoi(port), tv);
}

/* A port nobody listens on now (the kernel's pick for port 0). */
static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t n = sizeof(a);
    int p = -1, fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &n) == 0)
        p = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return p;
}

static int
server_start(void)
{
    int i;
    server = fork();
    if (server == 0) {
        /* quiet: its start-up banner is not the tests' output */
        if (freopen("/dev/null", "w", stdout) == NULL ||
            freopen("/dev/null", "w", stderr) == NULL)
            _exit(126);
        execlp("redis-server", "redis-server", "--port", port, "--bind",
               "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
               "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 200; i++) { /* up to 10 s for the socket */
        redisContext *c = raw();
        if (c != NULL && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        } else if (c != NULL) {
            redisFree(c);
        }
        if (waitpid(server, NULL, WNOHANG) == server) {
            server = -1;
            return -1;
        }
        sleep_ms(50);
    }
    return -1;
}

static void
server_stop(void)
{
    if (server > 0) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
        server = -1;
    }
}

static void
on_notice(enum b24_redis_notice kind, const char *where, const char *why)
{
    if (getenv("B24_TEST_VERBOSE"))
        fprintf(stderr, "notice %d %s %s\n", (int)kind, where, why);
    if (kind == B24_REDIS_DOWN)
        downs++;
    else
        ups++;
    snprintf(last_where, sizeof(last_where), "%s", where);
}

static double
fake_now(void *ctx)
{
    return *(double *)ctx;
}

/* A limiter on Redis for the portal and webhook keys `key` (scope keys,
 * so both name the same key: the rate and ledger keys still differ). */
static struct b24_limiter *
redis_limiter(const struct b24_limits_config *cfg, double *clock,
              const char *key)
{
    struct b24_error err;
    struct b24_limiter_backend be;
    memset(&err, 0, sizeof(err));
    if (b24_limiter_backend_select(url, &be, &err) != B24_OK)
        return NULL;
    be.scope.portal = key;
    be.scope.webhook = key;
    return b24_limiter_new_backend(cfg, fake_now, clock, NULL, NULL, &be,
                                   &err);
}

/* One limiter on Redis answers exactly as one in process: the bucket,
 * its headroom and waits, five errors lowering the rates, twenty
 * successes restoring them, reset. */
static void
test_same_as_inproc(void)
{
    struct b24_limits_config cfg;
    double t = 1.7e12;
    struct b24_limiter *a, *b;
    struct b24_error err;
    int i, same = 1;
    b24_limits_config_default(&cfg);
    cfg.burst_limit = 10;
    memset(&err, 0, sizeof(err));
    a = b24_limiter_new(&cfg, fake_now, &t, NULL, NULL, &err);
    b = redis_limiter(&cfg, &t, "same");
    CHECK(a != NULL && b != NULL);
    if (a == NULL || b == NULL)
        goto out;
    CHECK_STR(b24_limiter_rate_backend(b), "redis");
    for (i = 0; i < 14; i++) {
        double wa = b24_limiter_reserve(a), wb = b24_limiter_reserve(b);
        if (wa != wb) {
            fprintf(stderr, "reserve %d: %g vs %g\n", i, wa, wb);
            same = 0;
        }
        t += 137;
    }
    for (i = 0; i < 6; i++) {
        int la = -1, lb = -2;
        double wa = b24_limiter_rate_exceeded(a, &la);
        double wb = b24_limiter_rate_exceeded(b, &lb);
        if (wa != wb || la != lb) {
            fprintf(stderr, "exceeded %d: %g/%d vs %g/%d\n", i, wa, la, wb,
                    lb);
            same = 0;
        }
        t += 1000;
    }
    t += 61000; /* the errors leave the 60 s window */
    for (i = 0; i < 22; i++) {
        int ra = -1, rb = -2;
        b24_limiter_record_success(a, "crm.deal.get", 0, 0, 0, 0, &ra, NULL);
        b24_limiter_record_success(b, "crm.deal.get", 0, 0, 0, 0, &rb, NULL);
        if (ra != rb) {
            fprintf(stderr, "success %d: %d vs %d\n", i, ra, rb);
            same = 0;
        }
        t += 10;
    }
    {
        struct b24_limiter_stats sa, sb;
        CHECK(b24_limiter_stats(a, &sa) == B24_OK);
        CHECK(b24_limiter_stats(b, &sb) == B24_OK);
        CHECK(sa.tokens == sb.tokens);
        CHECK(sa.burst_limit == sb.burst_limit && sb.burst_limit < 10);
        CHECK(sa.drain_rate == sb.drain_rate);
        CHECK(sa.original_burst_limit == sb.original_burst_limit);
        CHECK(sa.last_refill == sb.last_refill);
        CHECK(sa.recent_errors == sb.recent_errors);
        CHECK(sa.recent_successes == sb.recent_successes);
        b24_limiter_stats_clear(&sa);
        b24_limiter_stats_clear(&sb);
    }
    b24_limiter_reset(a);
    b24_limiter_reset(b);
    for (i = 0; i < 12; i++) {
        double wa = b24_limiter_reserve(a), wb = b24_limiter_reserve(b);
        if (wa != wb)
            same = 0;
    }
    CHECK(same);
    CHECK(downs == 0);
out:
    b24_limiter_free(a);
    b24_limiter_free(b);
}

/* Two limiters (two handles, as two processes would have) on one key
 * share one bucket and one operating ledger; entries expire with the
 * window, and every key carries a TTL. */
static void
test_two_share(void)
{
    struct b24_limits_config cfg;
    double t = 1.7e12;
    struct b24_limiter *a, *b;
    int i, granted = 0;
    double w;
    b24_limits_config_default(&cfg);
    cfg.burst_limit = 10;
    a = redis_limiter(&cfg, &t, "two");
    b = redis_limiter(&cfg, &t, "two");
    CHECK(a != NULL && b != NULL);
    if (a == NULL || b == NULL)
        goto out;
    /* 10 tokens, one kept back: 9 grants between the two, then a wait */
    for (i = 0; i < 5; i++)
        granted += b24_limiter_reserve(a) == 0;
    for (i = 0; i < 5; i++)
        granted += b24_limiter_reserve(b) == 0;
    CHECK(granted == 9);
    CHECK(b24_limiter_reserve(a) == 500); /* 1 token short at 2/s */
    t += 500;
    CHECK(b24_limiter_reserve(b) == 0);
    /* a rate-limit answer seen by one empties the bucket for both */
    t += 5000;
    (void)b24_limiter_rate_exceeded(a, NULL);
    w = b24_limiter_reserve(b);
    CHECK(w == 1000);

    /* the operating ledger: a records a heavy method, b waits for it */
    b24_limiter_record_success(a, "crm.deal.list", 1, 476.0, 1,
                               t / 1000 + 300, NULL, NULL);
    CHECK(b24_limiter_time_to_free(b, "crm.deal.list", NULL) > 0);
    CHECK(b24_limiter_time_to_free(b, "crm.deal.get", NULL) == 0);
    {
        const char *names[] = {"crm.deal.list", "user.get"};
        struct b24_call_methods bm = {names, 2};
        b24_limiter_record_success(a, "batch::crm.deal.list", 1, 476.0, 0,
                                   0, NULL, NULL);
        CHECK(b24_limiter_time_to_free(b, "batch", &bm) > 0);
    }
    {
        struct b24_limiter_stats s;
        size_t k;
        int seen = 0;
        CHECK(b24_limiter_stats(b, &s) == B24_OK);
        CHECK(s.noperating == 2);
        for (k = 0; k < s.noperating; k++)
            if (strcmp(s.operating[k].method, "crm.deal.list") == 0 &&
                s.operating[k].count == 476.0)
                seen = 1;
        CHECK(seen);
        b24_limiter_stats_clear(&s);
    }
    {
        redisContext *c = raw();
        redisReply *r;
        CHECK(c != NULL && !c->err);
        r = redisCommand(c, "PTTL b24:{two}:op");
        CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER &&
              r->integer > 600000 && r->integer <= 670000);
        freeReplyObject(r);
        r = redisCommand(c, "PTTL b24:{two}:rate");
        CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER &&
              r->integer > 3000000);
        freeReplyObject(r);
        /* past the window (+10 s) the entries are gone, for both */
        t += 611000;
        CHECK(b24_limiter_time_to_free(b, "crm.deal.list", NULL) == 0);
        {
            struct b24_limiter_stats s;
            CHECK(b24_limiter_stats(a, &s) == B24_OK);
            CHECK(s.noperating == 0);
            b24_limiter_stats_clear(&s);
        }
        r = redisCommand(c, "HLEN b24:{two}:op");
        CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
        freeReplyObject(r);
        /* a flushed script cache: EVAL takes over, no outage */
        r = redisCommand(c, "SCRIPT FLUSH");
        freeReplyObject(r);
        redisFree(c);
    }
    CHECK(b24_limiter_reserve(a) == 0);
    CHECK(b24_limiter_reserve(b) == 0);
    {
        /* a limiter made with other rates configures the shared bucket
         * (kept, not refilled): the others see its rates */
        struct b24_limits_config c2 = cfg;
        struct b24_limiter *c;
        struct b24_limiter_stats s;
        c2.burst_limit = 20;
        c = redis_limiter(&c2, &t, "two");
        CHECK(c != NULL);
        CHECK(b24_limiter_stats(a, &s) == B24_OK);
        CHECK(s.burst_limit == 20 && s.original_burst_limit == 20);
        CHECK(s.tokens < 10);
        b24_limiter_stats_clear(&s);
        b24_limiter_free(c);
    }
    CHECK(downs == 0);
out:
    b24_limiter_free(a);
    b24_limiter_free(b);
}

/* The server dies: calls go on, on local state, one DOWN notice for the
 * outage; it comes back: one UP notice, sharing resumes. */
static void
test_fallback(void)
{
    struct b24_limits_config cfg;
    double t = 1.7e12;
    struct b24_limiter *a, *b;
    struct b24_redis *h;
    struct b24_error err;
    int i, granted = 0;
    b24_limits_config_default(&cfg);
    cfg.burst_limit = 10;
    memset(&err, 0, sizeof(err));
    b24_redis_set_backoff_ms(100);
    h = b24_redis_new(url, "t:{fb}", "t:{fb}:op", &err);
    a = redis_limiter(&cfg, &t, "fb");
    b = redis_limiter(&cfg, &t, "fb");
    CHECK(h != NULL && a != NULL && b != NULL);
    if (h == NULL || a == NULL || b == NULL)
        goto out;
    CHECK(b24_limiter_reserve(a) == 0); /* a sees 9 tokens, 1 taker */
    CHECK(b24_limiter_reserve(b) == 0); /* b sees 8 tokens, 2 takers */
    CHECK(b24_redis_shared(h));
    server_stop();
    downs = ups = 0;
    /* each falls back on its share of the bucket it last saw: a 9 tokens
     * of 10 (8 grants, one kept back), b 8/2 = 4 of 5 at 1/s (3 grants) */
    for (i = 0; i < 12; i++)
        granted += b24_limiter_reserve(a) == 0;
    CHECK(granted == 8);
    granted = 0;
    for (i = 0; i < 12; i++)
        granted += b24_limiter_reserve(b) == 0;
    CHECK(granted == 3);
    {
        struct b24_limiter_stats st;
        CHECK(b24_limiter_stats(b, &st) == B24_OK);
        CHECK(st.burst_limit == 5 && st.drain_rate == 1);
        b24_limiter_stats_clear(&st);
    }
    b24_limiter_record_success(a, "crm.deal.list", 1, 476.0, 0, 0, NULL,
                               NULL);
    CHECK(b24_limiter_time_to_free(a, "crm.deal.list", NULL) > 0);
    CHECK(downs == 1 && ups == 0);
    CHECK(strncmp(last_where, "127.0.0.1:", 10) == 0);
    CHECK(!b24_redis_shared(h));
    sleep_ms(150); /* a retry, still down: no second notice */
    CHECK(b24_limiter_reserve(a) > 0);
    CHECK(downs == 1);
    CHECK(server_start() == 0);
    /* past the (doubled, 200 ms) backoff a step reconnects: stats() is one
     * that takes no token; wait for it however slow the machine is */
    for (i = 0; i < 100 && !b24_redis_shared(h); i++) {
        struct b24_limiter_stats st;
        sleep_ms(100);
        CHECK(b24_limiter_stats(a, &st) == B24_OK);
        b24_limiter_stats_clear(&st);
    }
    granted = 0;
    for (i = 0; i < 5; i++)
        granted += b24_limiter_reserve(a) == 0;
    for (i = 0; i < 5; i++)
        granted += b24_limiter_reserve(b) == 0;
    CHECK(ups == 1 && downs == 1);
    CHECK(b24_redis_shared(h));
    CHECK(granted == 9); /* one shared bucket again (a fresh, full one) */
out:
    b24_redis_set_backoff_ms(1000);
    b24_redis_decref(h);
    b24_limiter_free(a);
    b24_limiter_free(b);
}

/* Unreachable at construction: the limiter is made, runs locally, one
 * notice.  Bad URLs are refused, without echoing a password. */
static void
test_unreachable_and_urls(void)
{
    struct b24_error err;
    struct b24_redis *h;
    struct b24_limiter_backend be;
    struct b24_limiter *l;
    double t = 1.7e12;
    memset(&err, 0, sizeof(err));
    downs = 0;
    CHECK(b24_limiter_backend_select("redis://127.0.0.1:1/0", &be, &err) ==
          B24_OK);
    CHECK_STR(be.rate->name, "redis");
    be.scope.portal = "u";
    be.scope.webhook = "u";
    l = b24_limiter_new_backend(NULL, fake_now, &t, NULL, NULL, &be, &err);
    CHECK(l != NULL);
    CHECK(downs == 1);
    CHECK(l != NULL && b24_limiter_reserve(l) == 0);
    CHECK(downs == 1);
    b24_limiter_free(l);
    /* a scope key that is not one (it could reach a Redis key) */
    be.scope.portal = "a b";
    CHECK(b24_limiter_new_backend(NULL, fake_now, &t, NULL, NULL, &be,
                                  &err) == NULL &&
          err.status == B24_E_USAGE);
    CHECK(b24_limiter_backend_select("redis://:s3cret@h:99999/0", &be,
                                     &err) == B24_E_USAGE &&
          strstr(err.message, "s3cret") == NULL);

    CHECK(b24_redis_new("unix:///x", "k", "o", &err) == NULL);
    CHECK(b24_redis_new("http://x", "k", "o", &err) == NULL &&
          err.status == B24_E_USAGE);
    CHECK(b24_redis_new("redis://:s3cret@h:99999/0", "k", "o", &err) ==
              NULL &&
          strstr(err.message, "s3cret") == NULL);
    CHECK(b24_redis_new("redis://h:1/x", "k", "o", &err) == NULL);
    CHECK(b24_redis_new("redis://h/0", "", "o", &err) == NULL);
    h = b24_redis_new("redis://:pw@127.0.0.1:1/3", "k", "o", &err);
    CHECK(h != NULL);
    b24_redis_decref(h);
}

void
test_redis(void)
{
    char *d;
    snprintf(dir, sizeof(dir), "/tmp/b24redis-XXXXXX");
    d = mkdtemp(dir);
    CHECK(d != NULL);
    if (d == NULL)
        return;
    snprintf(port, sizeof(port), "%d", free_port());
    snprintf(url, sizeof(url), "redis://127.0.0.1:%s/0", port);
    b24_redis_set_notice_hook(on_notice);
    if (server_start() != 0) {
        fprintf(stderr, "FAIL test_redis: cannot start redis-server "
                        "(apt-get install redis-server)\n");
        t_failed++;
        rmdir(dir);
        return;
    }
    test_same_as_inproc();
    test_two_share();
    test_fallback();
    test_unreachable_and_urls();
    server_stop();
    b24_redis_set_notice_hook(NULL);
    rmdir(dir);
}
