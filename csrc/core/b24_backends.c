/* b24_backends.c - which limiter backend a `shared` restriction param
 * selects (b24_limiter_backend_select, b24_limiter_ops.h): the one place a
 * value maps to a pair of ops tables.  Checks only; the backend's create()
 * opens whatever it keeps its state in. */
#include <string.h>

#include "b24_limiter_ops.h"
#include "b24_redis.h"

#define SHARED_VALUES                                                       \
    "None (this process), \"host\" (every process of this machine) or a "   \
    "\"redis://host:port/db\" URL (every machine using that Redis)"


/* The Redis backend (issue 15 part B, b24_redis.c): the URL checked, its
 * tables, the URL kept in out->scope.location for their create(). */
static enum b24_status
select_redis(const char *url, struct b24_limiter_backend *out,
             struct b24_error *err)
{
    enum b24_status st = b24_redis_check_url(url, err);
    if (st != B24_OK)
        return st;
    out->rate = &b24_rate_redis;
    out->operating = &b24_operating_redis;
    out->scope.location = url;
    return B24_OK;
}

enum b24_status
b24_limiter_backend_select(const char *shared,
                           struct b24_limiter_backend *out,
                           struct b24_error *err)
{
    memset(out, 0, sizeof(*out));
    if (shared == NULL) {
        out->rate = &b24_rate_inproc;
        out->operating = &b24_operating_inproc;
        return B24_OK;
    }
    if (strcmp(shared, "host") == 0) {
        out->rate = &b24_rate_shm;
        out->operating = &b24_operating_shm;
        return B24_OK;
    }
    if (strncmp(shared, "redis://", 8) == 0)
        return select_redis(shared, out, err);
    return b24_error_set(err, B24_E_USAGE,
                         "restriction_params['shared'] must be " SHARED_VALUES);
}
