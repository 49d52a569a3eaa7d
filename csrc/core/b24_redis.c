/* b24_redis.c - the limiter's Redis backend (b24_redis.h): the steps of
 * b24_rate.c and b24_operating.c as Lua scripts run by the server
 * (EVALSHA, EVAL when the server answers NOSCRIPT), hiredis for the wire,
 * the in-process backend while Redis is unreachable. */
#include "b24_redis.h"

#include <hiredis.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "b24_buf.h"

#define IO_TIMEOUT_US 100000 /* connect and each command: 100 ms */
#define BACKOFF_MAX_MS 5000.0
#define OP_KEY_MARGIN_MS 60000.0   /* key TTL beyond the entries' window */
#define RATE_KEY_TTL_MS 3600000.0  /* an idle bucket is full long before */

/* ---- the scripts -------------------------------------------------------
 * Each rate script: KEYS = bucket hash, error list; ARGV = now, the
 * configured burst, drain, adaptive flag, key TTL.  A missing bucket is a
 * full one for the configuration (as create() of the in-process one). */
#define RATE_PRELUDE                                                        \
    "local function f(x) return string.format('%.17g', x) end\n"            \
    "local function r2(x) return math.floor(x * 100 + 0.5) / 100 end\n"     \
    "local now, cb, cd, ca, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]),"    \
    " tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"            \
    "local v = redis.call('HMGET', KEYS[1], 't','b','d','ob','od','l','s'," \
    "'a')\n"                                                                \
    "local S\n"                                                             \
    "if v[1] then\n"                                                        \
    "  S = {t=tonumber(v[1]), b=tonumber(v[2]), d=tonumber(v[3]),"          \
    " ob=tonumber(v[4]), od=tonumber(v[5]), l=tonumber(v[6]),"              \
    " s=tonumber(v[7]), a=tonumber(v[8])}\n"                                \
    "else\n"                                                                \
    "  S = {t=cb, b=cb, d=cd, ob=cb, od=cd, l=now, s=0, a=ca}\n"            \
    "  redis.call('DEL', KEYS[2])\n"                                        \
    "end\n"                                                                 \
    "local function put_errs(k)\n"                                          \
    "  redis.call('DEL', KEYS[2])\n"                                        \
    "  if #k > 0 then\n"                                                    \
    "    local a = {}\n"                                                    \
    "    for i = 1, #k do a[i] = f(k[i]) end\n"                             \
    "    redis.call('RPUSH', KEYS[2], unpack(a))\n"                         \
    "  end\n"                                                               \
    "end\n"                                                                 \
    "local function errs()\n"                                               \
    "  local e = redis.call('LRANGE', KEYS[2], 0, -1)\n"                    \
    "  local k = {}\n"                                                      \
    "  for i = 1, #e do\n"                                                  \
    "    local x = tonumber(e[i])\n"                                        \
    "    if now - x <= 60000 then k[#k + 1] = x end\n"                      \
    "  end\n"                                                               \
    "  if #k ~= #e then put_errs(k) end\n"                                  \
    "  return k\n"                                                          \
    "end\n"                                                                 \
    "local function save()\n"                                               \
    "  redis.call('HSET', KEYS[1], 't', f(S.t), 'b', f(S.b), 'd', f(S.d),"  \
    " 'ob', f(S.ob), 'od', f(S.od), 'l', f(S.l), 's', f(S.s), 'a', f(S.a))" \
    "\n"                                                                    \
    "  redis.call('PEXPIRE', KEYS[1], ttl)\n"                               \
    "  redis.call('PEXPIRE', KEYS[2], ttl)\n"                               \
    "end\n"

/* rate_reserve; the last refill never moves back (see b24_redis.h).
 * KEYS[3] (zset) holds the limiters that reserved in the last 10 s, ARGV[6]
 * this one's id: -> {wait, tokens, burst, drain, peers}, what a limiter
 * needs to take its share of the bucket should Redis go away. */
static const char SCRIPT_RESERVE[] = RATE_PRELUDE
    "local el = now - S.l\n"
    "if el < 0 then el = 0 end\n"
    "S.t = math.min(S.b, S.t + el * S.d / 1000)\n"
    "if now > S.l then S.l = now end\n"
    "local need = 1 + math.min(1, math.max(0, S.b - 1))\n"
    "local w = 0\n"
    "if S.t >= need then S.t = S.t - 1\n"
    "else w = math.ceil((need - S.t) * (1000 / S.d)) end\n"
    "save()\n"
    "redis.call('ZADD', KEYS[3], ARGV[1], ARGV[6])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. f(now - 10000))\n"
    "redis.call('PEXPIRE', KEYS[3], 60000)\n"
    "return {f(w), f(S.t), f(S.b), f(S.d), redis.call('ZCARD', KEYS[3])}\n";

/* rate_exceeded -> {wait, lowered} */
static const char SCRIPT_EXCEEDED[] = RATE_PRELUDE
    "S.s = 0\n"
    "local k = errs()\n"
    "if #k >= 256 then table.remove(k, 1) end\n"
    "k[#k + 1] = now\n"
    "local low = 0\n"
    "if S.a ~= 0 and #k >= 5 then\n"
    "  S.d = math.max(0.5, r2(S.d * 0.8))\n"
    "  S.b = math.max(5, r2(S.b * 0.8))\n"
    "  k = {}\n"
    "  low = 1\n"
    "end\n"
    "put_errs(k)\n"
    "S.t = 0\n"
    "if now > S.l then S.l = now end\n"
    "save()\n"
    "return {f(1000 / S.d + 1000), low}\n";

/* rate_success -> 1 when restored */
static const char SCRIPT_SUCCESS[] = RATE_PRELUDE
    "if S.s < 20 then S.s = S.s + 1 end\n"
    "local k = errs()\n"
    "local rest = 0\n"
    "if S.a ~= 0 and S.s >= 20 and #k < 2.5 and"
    " (S.d < S.od or S.b < S.ob) then\n"
    "  S.d = math.min(S.od, r2(S.d * 1.1))\n"
    "  S.b = math.min(S.ob, r2(S.b * 1.1))\n"
    "  put_errs({})\n"
    "  S.s = 0\n"
    "  rest = 1\n"
    "end\n"
    "save()\n"
    "return rest\n";

/* rate_stats -> {tokens, burst, orig burst, drain, orig drain, last
 * refill, recent errors, recent successes} */
static const char SCRIPT_STATS[] = RATE_PRELUDE
    "local k = errs()\n"
    "save()\n"
    "return {f(S.t), f(S.b), f(S.ob), f(S.d), f(S.od), f(S.l), f(#k),"
    " f(S.s)}\n";

/* rate_configure */
static const char SCRIPT_CONFIGURE[] = RATE_PRELUDE
    "S.b = cb\n"
    "S.ob = cb\n"
    "S.d = cd\n"
    "S.od = cd\n"
    "if S.t > S.b then S.t = S.b end\n"
    "S.a = ca\n"
    "S.s = 0\n"
    "put_errs({})\n"
    "save()\n"
    "return 1\n";

/* rate_reset */
static const char SCRIPT_RESET[] = RATE_PRELUDE
    "S.t = S.b\n"
    "S.b = S.ob\n"
    "S.d = S.od\n"
    "S.l = now\n"
    "S.s = 0\n"
    "put_errs({})\n"
    "save()\n"
    "return 1\n";

/* Operating scripts: KEYS = entries hash, expiry zset; ARGV[1] = now,
 * ARGV[2] = window_ms.  An entry expires window + 10 s after its update. */
#define OP_PRELUDE                                                          \
    "local now, win = tonumber(ARGV[1]), tonumber(ARGV[2])\n"               \
    "local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .."       \
    " string.format('%.17g', now - win - 10000))\n"                         \
    "for i = 1, #old do\n"                                                  \
    "  redis.call('HDEL', KEYS[1], old[i])\n"                               \
    "  redis.call('ZREM', KEYS[2], old[i])\n"                               \
    "end\n"

/* op_record: ARGV[3] method, [4] the entry, [5] limit_ms, [6] threshold
 * percent, [7] key TTL.  At the soft cap (1024) the harmless entry updated
 * longest ago makes room (b24_operating.c evict_op). */
static const char SCRIPT_RECORD[] = OP_PRELUDE
    "local m = ARGV[3]\n"
    "if redis.call('HEXISTS', KEYS[1], m) == 0 and"
    " redis.call('HLEN', KEYS[1]) >= 1024 then\n"
    "  local lm, th = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "  local lim = math.min(math.max(1000, lm - 5000), th / 100 * lm)\n"
    "  local names = redis.call('ZRANGE', KEYS[2], 0, -1)\n"
    "  for i = 1, #names do\n"
    "    local e = redis.call('HGET', KEYS[1], names[i])\n"
    "    local op = e and tonumber(string.match(e, '^([^,]+)'))\n"
    "    if op and op < lim then\n"
    "      redis.call('HDEL', KEYS[1], names[i])\n"
    "      redis.call('ZREM', KEYS[2], names[i])\n"
    "      break\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], m, ARGV[4])\n"
    "redis.call('ZADD', KEYS[2], ARGV[1], m)\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[7])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[7])\n"
    "return 1\n";

/* op_stats: drop the expired entries, then every live one */
static const char SCRIPT_OP_STATS[] = OP_PRELUDE
    "return redis.call('HGETALL', KEYS[1])\n";

enum script {
    S_RESERVE,
    S_EXCEEDED,
    S_SUCCESS,
    S_STATS,
    S_CONFIGURE,
    S_RESET,
    S_RECORD,
    S_OP_STATS,
    S_COUNT
};
static const char *const scripts[S_COUNT] = {
    SCRIPT_RESERVE, SCRIPT_EXCEEDED, SCRIPT_SUCCESS,  SCRIPT_STATS,
    SCRIPT_CONFIGURE, SCRIPT_RESET, SCRIPT_RECORD, SCRIPT_OP_STATS};

/* ---- connections: one per URL and process ----------------------------- */

struct conn {
    struct conn *next;
    int refs;            /* under g_mu */
    char *url;           /* the registry key (may hold a password) */
    char *host;
    int port, db;
    char *password;      /* NULL: no AUTH */
    char where[160];     /* host:port/db, for notices */
    pthread_mutex_t mu;  /* the fields below */
    redisContext *c;
    pid_t pid;           /* the process that opened c */
    int down;            /* an outage was reported and has not ended */
    double next_try;     /* monotonic ms */
    double backoff;
    char sha[S_COUNT][41];
    /* SIGPIPE blocked while c->mu is held (a write to a dead server must
     * not kill the process); the holder's previous mask and whether one
     * was already pending (that one is not ours to consume). */
    sigset_t oldmask;
    int pipe_pending;
};

struct b24_redis {
    int refs; /* under g_mu */
    struct conn *conn;
    char *rate_key, *err_key, *peers_key, *op_key, *opt_key;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conn *g_conns;
static b24_redis_notice_fn g_notice;
static double g_backoff_first = 1000.0;

void
b24_redis_set_notice_hook(b24_redis_notice_fn fn)
{
    g_notice = fn;
}

void
b24_redis_set_backoff_ms(double first_ms)
{
    g_backoff_first = first_ms > 0 ? first_ms : 1000.0;
}

static void
conn_free(struct conn *c)
{
    if (c->c != NULL)
        redisFree(c->c);
    pthread_mutex_destroy(&c->mu);
    free(c->url);
    free(c->host);
    free(c->password);
    free(c);
}

/* redis://[[user]:password@]host[:port][/db] */
static enum b24_status
parse_url(struct conn *c, const char *url, struct b24_error *err)
{
    const char *p, *end;
    if (strncmp(url, "redis://", 8) != 0)
        return b24_error_set(err, B24_E_USAGE,
                             "shared: a Redis URL is redis://host[:port]"
                             "[/db]");
    p = url + 8;
    end = strchr(p, '/');
    if (end == NULL)
        end = p + strlen(p);
    {
        const char *at = memchr(p, '@', (size_t)(end - p));
        if (at != NULL) {
            const char *colon = memchr(p, ':', (size_t)(at - p));
            if (colon != NULL && at > colon + 1) {
                c->password = b24_strndup(colon + 1, (size_t)(at - colon - 1));
                if (c->password == NULL)
                    return b24_error_set(err, B24_E_NOMEM, "out of memory");
            }
            p = at + 1;
        }
    }
    {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *hend = colon ? colon : end;
        if (hend == p)
            return b24_error_set(err, B24_E_USAGE,
                                 "shared: the Redis URL has no host");
        c->host = b24_strndup(p, (size_t)(hend - p));
        if (c->host == NULL)
            return b24_error_set(err, B24_E_NOMEM, "out of memory");
        c->port = 6379;
        if (colon != NULL) {
            char *e;
            long port = strtol(colon + 1, &e, 10);
            if (e != end || port <= 0 || port > 65535)
                return b24_error_set(err, B24_E_USAGE,
                                     "shared: bad port in the Redis URL");
            c->port = (int)port;
        }
    }
    if (*end == '/' && end[1] != '\0') {
        char *e;
        long db = strtol(end + 1, &e, 10);
        if (*e != '\0' || db < 0 || db > 100000)
            return b24_error_set(err, B24_E_USAGE,
                                 "shared: bad database number in the Redis "
                                 "URL");
        c->db = (int)db;
    }
    snprintf(c->where, sizeof(c->where), "%.120s:%d/%d", c->host, c->port,
             c->db);
    return B24_OK;
}

enum b24_status
b24_redis_check_url(const char *url, struct b24_error *err)
{
    struct conn c;
    enum b24_status st;
    memset(&c, 0, sizeof(c));
    st = parse_url(&c, url, err);
    free(c.host);
    free(c.password);
    return st;
}

/* The handle of a limiter's scope: its Redis URL and the keys of its
 * portal's bucket and its webhook's ledger. */
static struct b24_redis *
handle_for_scope(const struct b24_limiter_scope *scope, struct b24_error *err)
{
    char rate_key[96], op_key[96];
    if (scope == NULL || scope->location == NULL ||
        !b24_limiter_scope_key_ok(scope->portal) ||
        !b24_limiter_scope_key_ok(scope->webhook)) {
        b24_error_set(err, B24_E_USAGE,
                      "the Redis limiter needs a URL and valid scope keys");
        return NULL;
    }
    snprintf(rate_key, sizeof(rate_key), "b24:{%s}:rate", scope->portal);
    snprintf(op_key, sizeof(op_key), "b24:{%s}:op", scope->webhook);
    return b24_redis_new(scope->location, rate_key, op_key, err);
}

/* The registry's connection for url (a new reference), g_mu held. */
static struct conn *
conn_get_ref(const char *url, struct b24_error *err)
{
    struct conn *c;
    for (c = g_conns; c != NULL; c = c->next)
        if (strcmp(c->url, url) == 0) {
            c->refs++;
            return c;
        }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->url = b24_strdup(url);
    if (c->url == NULL) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        conn_free(c);
        return NULL;
    }
    if (parse_url(c, url, err) != B24_OK) {
        conn_free(c);
        return NULL;
    }
    c->backoff = g_backoff_first;
    c->refs = 1;
    c->next = g_conns;
    g_conns = c;
    return c;
}

static void
conn_unref(struct conn *c)
{
    struct conn **pp;
    pthread_mutex_lock(&g_mu);
    if (--c->refs > 0) {
        pthread_mutex_unlock(&g_mu);
        return;
    }
    for (pp = &g_conns; *pp != NULL; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&g_mu);
    conn_free(c);
}

/* Sharing stopped (c->mu held): close, report once, retry later. */
static void
conn_fail(struct conn *c, const char *why)
{
    if (c->c != NULL) {
        redisFree(c->c);
        c->c = NULL;
    }
    if (!c->down) {
        c->down = 1;
        c->backoff = g_backoff_first;
        if (g_notice != NULL)
            g_notice(B24_REDIS_DOWN, c->where, why);
    } else {
        c->backoff = fmin(BACKOFF_MAX_MS, c->backoff * 2);
    }
    c->next_try = b24_clock_mono_ms(NULL) + c->backoff;
}

/* hiredis 0.14 reports a timeout as an I/O error with strerror's text */
static int
errno_is_timeout(const char *errstr)
{
    return strstr(errstr, "temporarily unavailable") != NULL ||
           strstr(errstr, "timed out") != NULL;
}

/* A reply that is an error (or none): its reason, for conn_fail. */
static const char *
reply_problem(redisContext *rc, redisReply *rep)
{
    if (rep == NULL)
        return rc->err == REDIS_ERR_IO && (errno_is_timeout(rc->errstr))
                   ? "timeout"
                   : "connection lost";
    if (rep->type == REDIS_REPLY_ERROR)
        return "error reply";
    return NULL;
}

/* Connect, authenticate, select, load the scripts (c->mu held): 0 or -1
 * with conn_fail done. */
static int
conn_open(struct conn *c)
{
    struct timeval tv = {0, IO_TIMEOUT_US};
    redisReply *rep;
    int i;
    c->c = redisConnectWithTimeout(c->host, c->port, tv);
    if (c->c == NULL || c->c->err) {
        conn_fail(c, c->c != NULL && errno_is_timeout(c->c->errstr)
                         ? "connect timeout"
                         : "connect failed");
        return -1;
    }
    c->pid = getpid();
    redisSetTimeout(c->c, tv);
    if (c->password != NULL) {
        const char *argv[2] = {"AUTH", c->password};
        rep = redisCommandArgv(c->c, 2, argv, NULL);
        if (reply_problem(c->c, rep) != NULL) {
            if (rep != NULL)
                freeReplyObject(rep);
            conn_fail(c, "authentication failed");
            return -1;
        }
        freeReplyObject(rep);
    }
    if (c->db != 0) {
        rep = redisCommand(c->c, "SELECT %d", c->db);
        if (reply_problem(c->c, rep) != NULL) {
            if (rep != NULL)
                freeReplyObject(rep);
            conn_fail(c, "SELECT failed");
            return -1;
        }
        freeReplyObject(rep);
    }
    for (i = 0; i < S_COUNT; i++) {
        rep = redisCommand(c->c, "SCRIPT LOAD %s", scripts[i]);
        if (reply_problem(c->c, rep) != NULL ||
            rep->type != REDIS_REPLY_STRING || rep->len != 40) {
            if (rep != NULL)
                freeReplyObject(rep);
            conn_fail(c, "SCRIPT LOAD failed");
            return -1;
        }
        memcpy(c->sha[i], rep->str, 40);
        c->sha[i][40] = '\0';
        freeReplyObject(rep);
    }
    if (c->down) {
        c->down = 0;
        if (g_notice != NULL)
            g_notice(B24_REDIS_UP, c->where, "reconnected");
    }
    c->backoff = g_backoff_first;
    return 0;
}

static void
conn_lock(struct conn *c)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_mutex_lock(&c->mu);
    pthread_sigmask(SIG_BLOCK, &pipe, &c->oldmask);
    sigemptyset(&pending);
    c->pipe_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
}

/* Unlock c: a SIGPIPE our I/O raised is consumed, the mask restored. */
static void
conn_release(struct conn *c)
{
    sigset_t old = c->oldmask;
    if (!c->pipe_pending) {
        sigset_t pipe, pending;
        struct timespec zero = {0, 0};
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        sigemptyset(&pending);
        if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
            (void)sigtimedwait(&pipe, NULL, &zero);
    }
    pthread_mutex_unlock(&c->mu);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Lock c and make it usable: 1 = connected (c stays locked, conn_release
 * after), 0 = not now (released; the caller uses its local state). */
static int
conn_acquire(struct conn *c)
{
    conn_lock(c);
    if (c->c != NULL && c->pid != getpid()) {
        /* a forked child: the socket is the parent's; close our copy */
        redisFree(c->c);
        c->c = NULL;
    }
    if (c->c == NULL &&
        (b24_clock_mono_ms(NULL) < c->next_try || conn_open(c) < 0)) {
        conn_release(c);
        return 0;
    }
    return 1;
}

/* One script (c->mu held, connected): EVALSHA, EVAL on NOSCRIPT.  The
 * reply, or NULL with conn_fail done. */
static redisReply *
run_script(struct conn *c, enum script s, const char *const *keys,
           int nkeys, const char *const *args, int nargs)
{
    const char *argv[16];
    char nk[8];
    int argc = 0, i;
    redisReply *rep;
    const char *why;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[argc++] = "EVALSHA";
    argv[argc++] = c->sha[s];
    argv[argc++] = nk;
    for (i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (i = 0; i < nargs && argc < 16; i++)
        argv[argc++] = args[i];
    rep = redisCommandArgv(c->c, argc, argv, NULL);
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR &&
        strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep);
        argv[0] = "EVAL";
        argv[1] = scripts[s];
        rep = redisCommandArgv(c->c, argc, argv, NULL);
    }
    why = reply_problem(c->c, rep);
    if (why != NULL) {
        if (rep != NULL)
            freeReplyObject(rep);
        conn_fail(c, why);
        return NULL;
    }
    return rep;
}

/* ---- the handle -------------------------------------------------------- */

static char *
key_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *k = malloc(na + nb + 1);
    if (k != NULL) {
        memcpy(k, a, na);
        memcpy(k + na, b, nb + 1);
    }
    return k;
}

static void
handle_free(struct b24_redis *r)
{
    if (r->conn != NULL)
        conn_unref(r->conn);
    free(r->rate_key);
    free(r->err_key);
    free(r->peers_key);
    free(r->op_key);
    free(r->opt_key);
    free(r);
}

struct b24_redis *
b24_redis_new(const char *url, const char *rate_key, const char *op_key,
              struct b24_error *err)
{
    struct b24_redis *r;
    if (url == NULL || rate_key == NULL || op_key == NULL || !*rate_key ||
        !*op_key) {
        b24_error_set(err, B24_E_USAGE, "shared: URL and keys required");
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        return NULL;
    }
    r->refs = 1;
    r->rate_key = b24_strdup(rate_key);
    r->err_key = key_join(rate_key, ":err");
    r->peers_key = key_join(rate_key, ":peers");
    r->op_key = b24_strdup(op_key);
    r->opt_key = key_join(op_key, ":t");
    if (!r->rate_key || !r->err_key || !r->peers_key || !r->op_key ||
        !r->opt_key) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        handle_free(r);
        return NULL;
    }
    pthread_mutex_lock(&g_mu);
    r->conn = conn_get_ref(url, err);
    pthread_mutex_unlock(&g_mu);
    if (r->conn == NULL) {
        handle_free(r);
        return NULL;
    }
    return r;
}

void
b24_redis_decref(struct b24_redis *r)
{
    int last;
    if (r == NULL)
        return;
    pthread_mutex_lock(&g_mu);
    last = --r->refs == 0;
    pthread_mutex_unlock(&g_mu);
    if (last)
        handle_free(r);
}

int
b24_redis_shared(struct b24_redis *r)
{
    int up;
    pthread_mutex_lock(&r->conn->mu);
    up = r->conn->c != NULL && !r->conn->down && r->conn->pid == getpid();
    pthread_mutex_unlock(&r->conn->mu);
    return up;
}

static void
fmt_num(char *buf, size_t n, double x)
{
    snprintf(buf, n, "%.17g", x);
}

static int
reply_num(const redisReply *rep, double *out)
{
    char *e;
    if (rep->type == REDIS_REPLY_INTEGER) {
        *out = (double)rep->integer;
        return 0;
    }
    if (rep->type != REDIS_REPLY_STRING || rep->len == 0)
        return -1;
    *out = strtod(rep->str, &e);
    return *e == '\0' ? 0 : -1;
}

/* ---- rate ops ---------------------------------------------------------- */

/* The head of a rate and of an operating state: the handle of the
 * limiter's scope and the in-process state used while Redis is down. */
struct side {
    struct b24_redis *r;
    void *local;
};

/* sd: its handle from the scope and `local` (NULL: create failed, err
 * filled), or -1 with local dropped. */
static int
side_open(struct side *sd, const struct b24_limiter_scope *scope,
          void *local, void (*drop)(void *), struct b24_error *err)
{
    if (local == NULL)
        return -1;
    sd->r = handle_for_scope(scope, err);
    if (sd->r == NULL) {
        drop(local);
        return -1;
    }
    sd->local = local;
    return 0;
}

static void
side_close(struct side *sd, void (*drop)(void *))
{
    drop(sd->local);
    b24_redis_decref(sd->r);
}

struct rr {
    struct side sd; /* local: b24_rate_inproc state */
    struct b24_limits_config cfg; /* the rate fields only */
    char cb[32], cd[32], ca[4], ttl[32], id[48];
    /* the bucket as the last shared reserve saw it, and how many limiters
     * took tokens from it in the last 10 s */
    double seen_tokens, seen_burst, seen_drain, seen_peers;
    int was_shared; /* the last op ran on Redis */
};

static void
rr_set_cfg(struct rr *s, const struct b24_limits_config *cfg)
{
    memset(&s->cfg, 0, sizeof(s->cfg));
    s->cfg.burst_limit = cfg->burst_limit;
    s->cfg.drain_rate = cfg->drain_rate;
    s->cfg.rate_adaptive = cfg->rate_adaptive;
    double ttl = fmax(RATE_KEY_TTL_MS,
                      2000.0 * cfg->burst_limit / cfg->drain_rate + 60000.0);
    fmt_num(s->cb, sizeof(s->cb), cfg->burst_limit);
    fmt_num(s->cd, sizeof(s->cd), cfg->drain_rate);
    snprintf(s->ca, sizeof(s->ca), "%d", cfg->rate_adaptive ? 1 : 0);
    fmt_num(s->ttl, sizeof(s->ttl), ceil(ttl));
}

/* Run a rate script: the reply with r->conn->mu held, or NULL (then the
 * caller uses s->sd.local). */
static redisReply *
rr_run(struct rr *s, enum script sc, double now)
{
    char nowb[32];
    const char *keys[3], *args[6];
    redisReply *rep;
    if (!conn_acquire(s->sd.r->conn))
        return NULL;
    fmt_num(nowb, sizeof(nowb), now);
    keys[0] = s->sd.r->rate_key;
    keys[1] = s->sd.r->err_key;
    keys[2] = s->sd.r->peers_key;
    args[0] = nowb;
    args[1] = s->cb;
    args[2] = s->cd;
    args[3] = s->ca;
    args[4] = s->ttl;
    args[5] = s->id;
    rep = run_script(s->sd.r->conn, sc, keys, 3, args, 6);
    if (rep == NULL)
        conn_release(s->sd.r->conn);
    return rep;
}

/* Done with a reply of rr_run; bad = its shape was wrong (an outage). */
static void
rr_done(struct rr *s, redisReply *rep, int bad)
{
    freeReplyObject(rep);
    if (bad)
        conn_fail(s->sd.r->conn, "unexpected reply");
    else
        s->was_shared = 1;
    conn_release(s->sd.r->conn);
}

/* The local state, for an op Redis could not run.  On the switch from
 * shared to local it is rebuilt as this limiter's share of the bucket it
 * last saw: tokens, burst and drain divided by the limiters that were
 * taking from it, so the hosts together keep near the portal's rate while
 * they cannot see each other. */
static void *
rr_local(struct rr *s, double now)
{
    if (s->was_shared && s->seen_drain > 0) {
        double n = s->seen_peers >= 1 ? s->seen_peers : 1;
        struct b24_limits_config c = s->cfg;
        struct b24_error err;
        void *fresh;
        c.burst_limit = fmax(0, s->seen_tokens / n);
        c.drain_rate = s->seen_drain / n;
        fresh = b24_rate_inproc.create(&c, NULL, now, &err);
        if (fresh != NULL) {
            c.burst_limit = s->seen_burst / n; /* tokens stay as created */
            b24_rate_inproc.configure(fresh, &c);
            b24_rate_inproc.destroy(s->sd.local);
            s->sd.local = fresh;
        }
    }
    s->was_shared = 0;
    return s->sd.local;
}

static void *
rr_create(const struct b24_limits_config *cfg,
          const struct b24_limiter_scope *scope, double now,
          struct b24_error *err)
{
    struct rr *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        return NULL;
    }
    if (side_open(&s->sd, scope, b24_rate_inproc.create(cfg, NULL, now, err),
                  b24_rate_inproc.destroy, err) < 0) {
        free(s);
        return NULL;
    }
    rr_set_cfg(s, cfg);
    snprintf(s->id, sizeof(s->id), "%ld-%lx-%.0f", (long)getpid(),
             (unsigned long)(uintptr_t)s, b24_clock_mono_ms(NULL));
    /* Connect now (an unreachable server is reported at construction) and
     * configure the shared bucket with cfg's rates: kept when it exists,
     * full when it does not (the b24_rate_ops create() contract). */
    {
        redisReply *rep = rr_run(s, S_CONFIGURE, now);
        if (rep != NULL)
            rr_done(s, rep, 0);
    }
    return s;
}

static void
rr_destroy(void *self)
{
    struct rr *s = self;
    side_close(&s->sd, b24_rate_inproc.destroy);
    free(s);
}

static void
rr_configure(void *self, const struct b24_limits_config *cfg)
{
    struct rr *s = self;
    redisReply *rep;
    rr_set_cfg(s, cfg);
    b24_rate_inproc.configure(s->sd.local, cfg);
    /* configure() has no `now`: a missing bucket made here is full and
     * refills from 0, i.e. full at the next step, as a fresh one is */
    rep = rr_run(s, S_CONFIGURE, 0);
    if (rep != NULL)
        rr_done(s, rep, 0);
}

static double
rr_reserve(void *self, double now)
{
    struct rr *s = self;
    redisReply *rep = rr_run(s, S_RESERVE, now);
    double v[5];
    if (rep != NULL) {
        int bad = rep->type != REDIS_REPLY_ARRAY || rep->elements != 5;
        size_t i;
        for (i = 0; !bad && i < 5; i++)
            bad = reply_num(rep->element[i], &v[i]) < 0;
        rr_done(s, rep, bad);
        if (!bad) {
            s->seen_tokens = v[1];
            s->seen_burst = v[2];
            s->seen_drain = v[3];
            s->seen_peers = v[4];
            return v[0];
        }
    }
    return b24_rate_inproc.reserve(rr_local(s, now), now);
}

static double
rr_exceeded(void *self, double now, int *lowered)
{
    struct rr *s = self;
    redisReply *rep = rr_run(s, S_EXCEEDED, now);
    double w, low;
    if (rep != NULL) {
        int bad = rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
                  reply_num(rep->element[0], &w) < 0 ||
                  reply_num(rep->element[1], &low) < 0;
        rr_done(s, rep, bad);
        if (!bad) {
            *lowered = low != 0;
            return w;
        }
    }
    return b24_rate_inproc.exceeded(rr_local(s, now), now, lowered);
}

static int
rr_success(void *self, double now)
{
    struct rr *s = self;
    redisReply *rep = rr_run(s, S_SUCCESS, now);
    double rest;
    if (rep != NULL) {
        int bad = reply_num(rep, &rest) < 0;
        rr_done(s, rep, bad);
        if (!bad)
            return rest != 0;
    }
    return b24_rate_inproc.success(rr_local(s, now), now);
}

static void
rr_stats(void *self, double now, struct b24_limiter_stats *out)
{
    struct rr *s = self;
    redisReply *rep = rr_run(s, S_STATS, now);
    double v[8];
    if (rep != NULL) {
        int bad = rep->type != REDIS_REPLY_ARRAY || rep->elements != 8;
        size_t i;
        for (i = 0; !bad && i < 8; i++)
            bad = reply_num(rep->element[i], &v[i]) < 0;
        rr_done(s, rep, bad);
        if (!bad) {
            out->tokens = v[0];
            out->burst_limit = v[1];
            out->original_burst_limit = v[2];
            out->drain_rate = v[3];
            out->original_drain_rate = v[4];
            out->refill_interval_ms = 1000.0 / v[3];
            out->last_refill = v[5];
            out->recent_errors = v[6];
            out->recent_successes = v[7];
            return;
        }
    }
    b24_rate_inproc.stats(rr_local(s, now), now, out);
}

static void
rr_reset(void *self, double now)
{
    struct rr *s = self;
    redisReply *rep = rr_run(s, S_RESET, now);
    if (rep != NULL)
        rr_done(s, rep, 0);
    b24_rate_inproc.reset(s->sd.local, now);
}

const struct b24_rate_ops b24_rate_redis = {
    .name = "redis",
    .blocking = 1,
    .create = rr_create,
    .destroy = rr_destroy,
    .configure = rr_configure,
    .reserve = rr_reserve,
    .exceeded = rr_exceeded,
    .success = rr_success,
    .stats = rr_stats,
    .reset = rr_reset,
};

/* ---- operating ops ----------------------------------------------------- */

struct ro {
    struct side sd; /* local: b24_operating_inproc state */
    double window_ms, limit_ms, threshold_percent;
};

static void *
ro_create(const struct b24_limits_config *cfg,
          const struct b24_limiter_scope *scope, struct b24_error *err)
{
    struct ro *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        return NULL;
    }
    if (side_open(&s->sd, scope, b24_operating_inproc.create(cfg, NULL, err),
                  b24_operating_inproc.destroy, err) < 0) {
        free(s);
        return NULL;
    }
    s->window_ms = cfg->window_ms;
    s->limit_ms = cfg->limit_ms;
    s->threshold_percent = cfg->threshold_percent;
    return s;
}

static void
ro_destroy(void *self)
{
    struct ro *s = self;
    side_close(&s->sd, b24_operating_inproc.destroy);
    free(s);
}

static void
ro_configure(void *self, const struct b24_limits_config *cfg)
{
    struct ro *s = self;
    s->window_ms = cfg->window_ms;
    s->limit_ms = cfg->limit_ms;
    s->threshold_percent = cfg->threshold_percent;
    b24_operating_inproc.configure(s->sd.local, cfg);
}

static int
ro_record(void *self, const char *method, const struct b24_op_entry *e,
          double now)
{
    struct ro *s = self;
    struct conn *c = s->sd.r->conn;
    char nowb[32], win[32], entry[128], lim[32], th[32], ttl[32];
    const char *keys[2], *args[7];
    redisReply *rep;
    /* the local table follows too, so an outage starts from what we saw */
    int stored = b24_operating_inproc.record(s->sd.local, method, e, now);
    if (!conn_acquire(c))
        return stored;
    fmt_num(nowb, sizeof(nowb), now);
    fmt_num(win, sizeof(win), s->window_ms);
    snprintf(entry, sizeof(entry), "%.17g,%.17g,%d,%.17g", e->operating_ms,
             e->have_reset ? e->reset_at_ms : 0.0, e->have_reset ? 1 : 0,
             now);
    fmt_num(lim, sizeof(lim), s->limit_ms);
    fmt_num(th, sizeof(th), s->threshold_percent);
    fmt_num(ttl, sizeof(ttl),
            ceil(fmax(0, s->window_ms) + B24_OP_EXPIRY_EXTRA_MS +
                 OP_KEY_MARGIN_MS));
    keys[0] = s->sd.r->op_key;
    keys[1] = s->sd.r->opt_key;
    args[0] = nowb;
    args[1] = win;
    args[2] = method;
    args[3] = entry;
    args[4] = lim;
    args[5] = th;
    args[6] = ttl;
    rep = run_script(c, S_RECORD, keys, 2, args, 7);
    if (rep != NULL) {
        freeReplyObject(rep);
        stored = 1;
    }
    conn_release(c);
    return stored;
}

/* "operating,reset,have,updated" -> entry and update time */
static int
parse_entry(const char *v, struct b24_op_entry *e, double *updated)
{
    char *p;
    int have;
    e->operating_ms = strtod(v, &p);
    if (*p != ',')
        return -1;
    e->reset_at_ms = strtod(p + 1, &p);
    if (*p != ',')
        return -1;
    have = (int)strtol(p + 1, &p, 10);
    if (*p != ',')
        return -1;
    *updated = strtod(p + 1, &p);
    if (*p != '\0')
        return -1;
    e->have_reset = have != 0;
    return 0;
}

static int
ro_get(void *self, const char *prefix, const char *name, size_t n,
       double now, struct b24_op_entry *out)
{
    struct ro *s = self;
    struct conn *c = s->sd.r->conn;
    size_t np = strlen(prefix);
    const char *argv[3];
    size_t lens[3];
    char *field;
    redisReply *rep;
    const char *why;
    int found = -1; /* -1: ask the local table */
    if (!conn_acquire(c))
        return b24_operating_inproc.get(s->sd.local, prefix, name, n, now, out);
    field = malloc(np + n + 1);
    if (field == NULL) {
        conn_release(c);
        return b24_operating_inproc.get(s->sd.local, prefix, name, n, now, out);
    }
    memcpy(field, prefix, np);
    memcpy(field + np, name, n);
    field[np + n] = '\0';
    argv[0] = "HGET";
    argv[1] = s->sd.r->op_key;
    argv[2] = field;
    lens[0] = 4;
    lens[1] = strlen(s->sd.r->op_key);
    lens[2] = np + n;
    rep = redisCommandArgv(c->c, 3, argv, lens);
    free(field);
    why = reply_problem(c->c, rep);
    if (why != NULL) {
        if (rep != NULL)
            freeReplyObject(rep);
        conn_fail(c, why);
    } else if (rep->type == REDIS_REPLY_NIL) {
        found = 0;
        freeReplyObject(rep);
    } else {
        struct b24_op_entry e;
        double upd;
        if (rep->type == REDIS_REPLY_STRING &&
            parse_entry(rep->str, &e, &upd) == 0) {
            found = now - upd > s->window_ms + B24_OP_EXPIRY_EXTRA_MS ? 0 : 1;
            if (found)
                *out = e;
            freeReplyObject(rep);
        } else {
            freeReplyObject(rep);
            conn_fail(c, "unexpected reply");
        }
    }
    conn_release(c);
    if (found < 0)
        return b24_operating_inproc.get(s->sd.local, prefix, name, n, now, out);
    return found;
}

static void
free_counts(struct b24_method_count *m, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        free(m[i].method);
    free(m);
}

static enum b24_status
ro_stats(void *self, double now, struct b24_method_count **out, size_t *n)
{
    struct ro *s = self;
    struct conn *c = s->sd.r->conn;
    char nowb[32], win[32];
    const char *keys[2], *args[2];
    redisReply *rep;
    struct b24_method_count *m = NULL;
    size_t i, k = 0;
    int bad = 0;
    *out = NULL;
    *n = 0;
    if (!conn_acquire(c))
        return b24_operating_inproc.stats(s->sd.local, now, out, n);
    fmt_num(nowb, sizeof(nowb), now);
    fmt_num(win, sizeof(win), s->window_ms);
    keys[0] = s->sd.r->op_key;
    keys[1] = s->sd.r->opt_key;
    args[0] = nowb;
    args[1] = win;
    rep = run_script(c, S_OP_STATS, keys, 2, args, 2);
    if (rep == NULL) {
        conn_release(c);
        return b24_operating_inproc.stats(s->sd.local, now, out, n);
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0) {
        bad = 1;
    } else if (rep->elements > 0) {
        m = calloc(rep->elements / 2, sizeof(*m));
        if (m == NULL) {
            freeReplyObject(rep);
            conn_release(c);
            return B24_E_NOMEM;
        }
        for (i = 0; i + 1 < rep->elements; i += 2) {
            struct b24_op_entry e;
            double upd;
            redisReply *f = rep->element[i], *v = rep->element[i + 1];
            if (f->type != REDIS_REPLY_STRING ||
                v->type != REDIS_REPLY_STRING ||
                parse_entry(v->str, &e, &upd) < 0) {
                bad = 1;
                break;
            }
            m[k].method = b24_strndup(f->str, f->len);
            if (m[k].method == NULL) {
                free_counts(m, k);
                freeReplyObject(rep);
                conn_release(c);
                return B24_E_NOMEM;
            }
            m[k++].count = b24_round2(e.operating_ms / 1000.0);
        }
    }
    freeReplyObject(rep);
    if (bad) {
        free_counts(m, k);
        conn_fail(c, "unexpected reply");
        conn_release(c);
        return b24_operating_inproc.stats(s->sd.local, now, out, n);
    }
    conn_release(c);
    *out = m;
    *n = k;
    return B24_OK;
}

static void
ro_reset(void *self)
{
    struct ro *s = self;
    struct conn *c = s->sd.r->conn;
    b24_operating_inproc.reset(s->sd.local);
    if (conn_acquire(c)) {
        const char *argv[3] = {"DEL", s->sd.r->op_key, s->sd.r->opt_key};
        redisReply *rep = redisCommandArgv(c->c, 3, argv, NULL);
        const char *why = reply_problem(c->c, rep);
        if (rep != NULL)
            freeReplyObject(rep);
        if (why != NULL)
            conn_fail(c, why);
        conn_release(c);
    }
}

const struct b24_operating_ops b24_operating_redis = {
    .name = "redis",
    .blocking = 1,
    .create = ro_create,
    .destroy = ro_destroy,
    .configure = ro_configure,
    .record = ro_record,
    .get = ro_get,
    .stats = ro_stats,
    .reset = ro_reset,
};
