/* b24_redis.h - the Redis backend of the limiter (b24_limiter_ops.h): the
 * rate bucket and the operating entries kept in Redis, shared by every
 * process (on any host) that uses the same portal and webhook, updated by
 * server-side Lua scripts (atomic per step).  While Redis is unreachable
 * each limiter runs on its own in-process state (b24_rate_inproc,
 * b24_operating_inproc; the bucket rebuilt as its share of the shared one
 * it last saw), reports the outage once through the notice hook
 * and tries again after a backoff (1 s, doubling to 5 s): a call never
 * fails because Redis is down.
 *
 * Keys (<rate_key> = b24:{<portal key>}:rate, <op_key> = b24:{<webhook
 * key>}:op; the scope's keys are digests, never the webhook secret; the
 * braces are Redis Cluster hash tags, so one script's keys share a slot):
 *   <rate_key>        hash: the bucket (tokens, rates, last refill, ...)
 *   <rate_key>:err    list: rate-limit error times (60 s window)
 *   <rate_key>:peers  zset: the limiters that reserved in the last 10 s
 *   <op_key>          hash: method -> "operating_ms,reset_ms,have,updated"
 *   <op_key>:t        zset: method -> updated (the expiry index)
 * Every key carries a PEXPIRE, so an idle portal leaves nothing behind.
 *
 * Time is the limiter's injected clock (the callers' wall clocks, which
 * hosts keep in step with NTP); the bucket's last refill never moves back,
 * so a host whose clock is behind refills less, never more. */
#ifndef B24_REDIS_H
#define B24_REDIS_H

#include "b24_limiter_ops.h"

struct b24_redis;

/* The tables b24_limiter_backend_select (b24_backends.c) picks for a
 * redis:// URL; each create() opens a handle on scope->location with the
 * keys b24:{<scope->portal>}:rate and b24:{<scope->webhook>}:op. */
extern const struct b24_rate_ops b24_rate_redis;
extern const struct b24_operating_ops b24_operating_redis;

/* Outage reports, process-wide: DOWN once when sharing stops (connect
 * refused, timeout, an error reply), UP once when it resumes.  `where` is
 * host:port/db (never the password); `why` a short reason.
 * Called with internal locks held: the hook must not block (the extension
 * queues the message for the interpreter). */
enum b24_redis_notice { B24_REDIS_DOWN = 1, B24_REDIS_UP = 2 };
typedef void (*b24_redis_notice_fn)(enum b24_redis_notice kind,
                                    const char *where, const char *why);
void b24_redis_set_notice_hook(b24_redis_notice_fn fn);

/* A URL's check for b24_limiter_backend_select: redis://[:password@]host
 * [:port][/db]; B24_E_USAGE (never echoing the password) otherwise.
 * Opens nothing. */
enum b24_status b24_redis_check_url(const char *url, struct b24_error *err);

/* A handle on `url` with the two key namespaces (tests and diagnostics:
 * connections are per process and URL, so a handle on a limiter's URL
 * sees that limiter's connection).  Opened lazily, reopened in a forked
 * child; NULL with err on a bad URL or out of memory. */
struct b24_redis *b24_redis_new(const char *url, const char *rate_key,
                                const char *op_key, struct b24_error *err);
void b24_redis_decref(struct b24_redis *r);

/* 1 while the handle's connection is up (state shared), else 0. */
int b24_redis_shared(struct b24_redis *r);
/* Tests: the reconnect backoff's first step (ms, default 1000). */
void b24_redis_set_backoff_ms(double first_ms);

#endif /* B24_REDIS_H */
