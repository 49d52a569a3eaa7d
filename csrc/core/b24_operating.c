/* b24_operating.c - the operating limiter's state (spec §9.3): per-method
 * operating time and reset time as the portal reported them, in this
 * process's memory (b24_operating_inproc, see b24_limiter_ops.h).  The
 * rules that read the entries (time_to_free, the adaptive delay) are in
 * b24_gates.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "b24_buf.h"
#include "b24_limiter_ops.h"


struct op_slot {
    char *method;
    struct b24_op_entry e;
    double last_updated;
};

struct op_table {
    struct op_slot *ops;
    size_t nops, aops;
    double window_ms, limit_ms, threshold_percent;
};

static void
op_configure(void *self, const struct b24_limits_config *cfg)
{
    struct op_table *t = self;
    t->window_ms = cfg->window_ms;
    t->limit_ms = cfg->limit_ms;
    t->threshold_percent = cfg->threshold_percent;
}

static void *
op_create(const struct b24_limits_config *cfg,
          const struct b24_limiter_scope *scope, struct b24_error *err)
{
    struct op_table *t = calloc(1, sizeof(*t));
    (void)scope;
    if (t == NULL) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        return NULL;
    }
    op_configure(t, cfg);
    return t;
}

static void
op_reset(void *self)
{
    struct op_table *t = self;
    size_t i;
    for (i = 0; i < t->nops; i++)
        free(t->ops[i].method);
    t->nops = 0;
}

static void
op_destroy(void *self)
{
    struct op_table *t = self;
    op_reset(t);
    free(t->ops);
    free(t);
}

static int
expired(const struct op_table *t, const struct op_slot *s, double now)
{
    return now - s->last_updated > t->window_ms + B24_OP_EXPIRY_EXTRA_MS;
}

static void
expire_ops(struct op_table *t, double now)
{
    size_t i, k = 0;
    for (i = 0; i < t->nops; i++) {
        if (expired(t, &t->ops[i], now))
            free(t->ops[i].method);
        else
            t->ops[k++] = t->ops[i];
    }
    t->nops = k;
}

/* An entry below both the adaptive threshold and the time-to-free limit
 * can cause no wait: dropping it forgets nothing (the next answer for that
 * method reports its cumulative operating time again).  Bound on
 * per-method state: issue 9 item 10. */
int
b24_op_harmless(double operating_ms, double limit_ms,
                double threshold_percent)
{
    double lim = fmin(fmax(1000.0, limit_ms - 5000.0),
                      threshold_percent / 100.0 * limit_ms);
    return operating_ms < lim;
}

static int
op_harmless(const struct op_table *t, const struct op_slot *s)
{
    return b24_op_harmless(s->e.operating_ms, t->limit_ms,
                           t->threshold_percent);
}

/* At the soft cap, make room by dropping the harmless entry that was
 * updated longest ago; when every entry could cause a wait, the table
 * grows (each entry is then real, current state from the portal). */
static void
evict_op(struct op_table *t)
{
    size_t i, victim = t->nops;
    for (i = 0; i < t->nops; i++)
        if (op_harmless(t, &t->ops[i]) &&
            (victim == t->nops ||
             t->ops[i].last_updated < t->ops[victim].last_updated))
            victim = i;
    if (victim == t->nops)
        return;
    free(t->ops[victim].method);
    t->ops[victim] = t->ops[--t->nops];
}

/* The slot named prefix + name[0:n], expired or not. */
static struct op_slot *
find_op(struct op_table *t, const char *prefix, const char *name, size_t n)
{
    size_t i, np = strlen(prefix);
    for (i = 0; i < t->nops; i++) {
        const char *m = t->ops[i].method;
        if (strncmp(m, prefix, np) == 0 && strlen(m + np) == n &&
            strncmp(m + np, name, n) == 0)
            return &t->ops[i];
    }
    return NULL;
}

static int
op_record(void *self, const char *method, const struct b24_op_entry *e,
          double now)
{
    struct op_table *t = self;
    struct op_slot *s;
    expire_ops(t, now);
    s = find_op(t, "", method, strlen(method));
    if (s == NULL) {
        if (t->nops >= B24_OPS_SOFT_CAP)
            evict_op(t);
        if (t->nops == t->aops) {
            size_t na = t->aops ? t->aops * 2 : 8;
            struct op_slot *ns = realloc(t->ops, na * sizeof(*ns));
            if (ns == NULL)
                return 0;
            t->ops = ns;
            t->aops = na;
        }
        {
            char *m = b24_strdup(method);
            if (m == NULL)
                return 0;
            s = &t->ops[t->nops++];
            s->method = m;
        }
    }
    s->e = *e;
    s->last_updated = now;
    return 1;
}

static int
op_get(void *self, const char *prefix, const char *name, size_t n,
       double now, struct b24_op_entry *out)
{
    struct op_table *t = self;
    const struct op_slot *s = find_op(t, prefix, name, n);
    if (s == NULL || expired(t, s, now))
        return 0;
    *out = s->e;
    return 1;
}

static enum b24_status
op_stats(void *self, double now, struct b24_method_count **out, size_t *n)
{
    struct op_table *t = self;
    struct b24_method_count *c;
    size_t i;
    *out = NULL;
    *n = 0;
    expire_ops(t, now);
    if (t->nops == 0)
        return B24_OK;
    c = calloc(t->nops, sizeof(*c));
    if (c == NULL)
        return B24_E_NOMEM;
    for (i = 0; i < t->nops; i++) {
        c[i].method = b24_strdup(t->ops[i].method);
        if (c[i].method == NULL) {
            while (i-- > 0)
                free(c[i].method);
            free(c);
            return B24_E_NOMEM;
        }
        c[i].count = b24_round2(t->ops[i].e.operating_ms / 1000.0);
    }
    *out = c;
    *n = t->nops;
    return B24_OK;
}

const struct b24_operating_ops b24_operating_inproc = {
    .name = "in-process",
    .create = op_create,
    .destroy = op_destroy,
    .configure = op_configure,
    .record = op_record,
    .get = op_get,
    .stats = op_stats,
    .reset = op_reset,
};
