/* b24_metrics.c - the request metrics of one transport (spec §9.6):
 * attempts, failures, retries, limit hits, per-method counts and durations,
 * the last errors.  State: struct b24_metrics (b24_limiter_impl.h), under
 * the limiter's mutex.  Process-local by design: it counts what this
 * client did, whatever backend keeps the limiter state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "b24_buf.h"
#include "b24_limiter_impl.h"

/* Bounds on per-method state (issue 9 item 10): a caller that uses many
 * distinct method names must not grow memory or per-call cost without end.
 * Metrics keep METHOD_STATS_CAP names and fold the rest into one row. */
#define METHOD_STATS_CAP 1000
#define METHOD_STATS_OTHER "(other methods)"

static struct b24_counter *
counter_get(struct b24_counter **arr, size_t *n, size_t *a, const char *method)
{
    size_t i;
    for (i = 0; i < *n; i++)
        if (strcmp((*arr)[i].method, method) == 0)
            return &(*arr)[i];
    /* past the cap, every new name is counted under one row */
    if (*n >= METHOD_STATS_CAP && strcmp(method, METHOD_STATS_OTHER) != 0)
        return counter_get(arr, n, a, METHOD_STATS_OTHER);
    if (*n == *a) {
        size_t na = *a ? *a * 2 : 8;
        struct b24_counter *nc = realloc(*arr, na * sizeof(*nc));
        if (nc == NULL)
            return NULL;
        *arr = nc;
        *a = na;
    }
    (*arr)[*n].method = b24_strdup(method);
    if ((*arr)[*n].method == NULL)
        return NULL;
    (*arr)[*n].count = 0;
    (*arr)[*n].total_duration = 0;
    return &(*arr)[(*n)++];
}

static void
counter_remove(struct b24_counter *arr, size_t *n, const char *method)
{
    size_t i;
    for (i = 0; i < *n; i++) {
        if (strcmp(arr[i].method, method) == 0) {
            free(arr[i].method);
            arr[i] = arr[--*n];
            return;
        }
    }
}

static void
free_counters(struct b24_counter *c, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        free(c[i].method);
    free(c);
}

static void
clear_last(struct b24_metrics *m)
{
    size_t i;
    for (i = 0; i < m->nlast; i++) {
        struct b24_last_error *e =
            &m->last[(m->last_head + i) % B24_LAST_ERRORS_CAP];
        free(e->method);
        free(e->error);
        e->method = e->error = NULL;
    }
    m->nlast = m->last_head = 0;
}

void
b24_metrics_state_free(struct b24_metrics *m)
{
    free_counters(m->by_method, m->nby);
    free_counters(m->errors, m->nerrc);
    clear_last(m);
    memset(m, 0, sizeof(*m));
}

/* b24_limiter_reset: every count back to zero except pending_requests,
 * which counts calls still in flight (each will decrement it). */
void
b24_metrics_state_reset(struct b24_metrics *m)
{
    double pending = m->pending;
    b24_metrics_state_free(m);
    m->pending = pending;
}

static void
push_last_error(struct b24_metrics *m, const char *method,
                const char *message, double wall)
{
    struct b24_last_error *e;
    if (m->nlast == B24_LAST_ERRORS_CAP) {
        e = &m->last[m->last_head];
        free(e->method);
        free(e->error);
        m->last_head = (m->last_head + 1) % B24_LAST_ERRORS_CAP;
        m->nlast--;
    }
    e = &m->last[(m->last_head + m->nlast) % B24_LAST_ERRORS_CAP];
    e->method = b24_strdup(method);
    e->error = b24_strdup(message ? message : "");
    e->timestamp = floor(wall);
    if (e->method == NULL || e->error == NULL) {
        free(e->method);
        free(e->error);
        e->method = e->error = NULL;
    } else {
        m->nlast++;
    }
}

void
b24_metrics_attempt(struct b24_limiter *l, const char *method, int ok,
                    const char *message, double elapsed_ms)
{
    struct b24_metrics *m = &l->metrics;
    struct b24_counter *c;
    double wall = b24_clock_wall_ms(NULL);
    pthread_mutex_lock(&l->mu);
    m->total_requests += 1;
    m->total_duration += elapsed_ms;
    c = counter_get(&m->by_method, &m->nby, &m->aby, method);
    if (c != NULL) {
        c->count += 1;
        c->total_duration += elapsed_ms;
    }
    if (ok) {
        m->successful += 1;
        m->consecutive_errors = 0;
        counter_remove(m->errors, &m->nerrc, method);
    } else {
        m->failed += 1;
        m->consecutive_errors += 1;
        c = counter_get(&m->errors, &m->nerrc, &m->aerrc, method);
        if (c != NULL)
            c->count += 1;
        push_last_error(m, method, message, wall);
    }
    pthread_mutex_unlock(&l->mu);
}

void
b24_metrics_limit_hit(struct b24_limiter *l)
{
    pthread_mutex_lock(&l->mu);
    l->metrics.limit_hits += 1;
    pthread_mutex_unlock(&l->mu);
}

void
b24_metrics_retry(struct b24_limiter *l)
{
    pthread_mutex_lock(&l->mu);
    l->metrics.retries += 1;
    pthread_mutex_unlock(&l->mu);
}

void
b24_metrics_pending(struct b24_limiter *l, int delta)
{
    pthread_mutex_lock(&l->mu);
    l->metrics.pending += delta;
    if (l->metrics.pending < 0)
        l->metrics.pending = 0;
    pthread_mutex_unlock(&l->mu);
}

static enum b24_status
copy_counters(const struct b24_counter *src, size_t n,
              struct b24_method_count **out, size_t *nout)
{
    size_t i;
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return B24_OK;
    *out = calloc(n, sizeof(**out));
    if (*out == NULL)
        return B24_E_NOMEM;
    for (i = 0; i < n; i++) {
        (*out)[i].method = b24_strdup(src[i].method);
        if ((*out)[i].method == NULL)
            return B24_E_NOMEM;
        (*out)[i].count = src[i].count;
        (*out)[i].total_duration = src[i].total_duration;
        *nout = i + 1;
    }
    return B24_OK;
}

/* The metrics part of a snapshot.  On failure what was copied stays in s
 * for b24_limiter_stats_clear. */
enum b24_status
b24_metrics_state_copy(const struct b24_metrics *m,
                       struct b24_limiter_stats *s)
{
    enum b24_status st;
    size_t i;
    s->retries = m->retries;
    s->consecutive_errors = m->consecutive_errors;
    s->limit_hits = m->limit_hits;
    s->pending_requests = m->pending;
    s->total_requests = m->total_requests;
    s->successful_requests = m->successful;
    s->failed_requests = m->failed;
    s->total_duration = m->total_duration;
    st = copy_counters(m->errors, m->nerrc, &s->error_counts,
                       &s->nerror_counts);
    if (st == B24_OK)
        st = copy_counters(m->by_method, m->nby, &s->by_method,
                           &s->nby_method);
    if (st == B24_OK && m->nlast > 0) {
        s->last_errors = calloc(m->nlast, sizeof(*s->last_errors));
        if (s->last_errors == NULL)
            st = B24_E_NOMEM;
        for (i = 0; st == B24_OK && i < m->nlast; i++) {
            const struct b24_last_error *e =
                &m->last[(m->last_head + i) % B24_LAST_ERRORS_CAP];
            s->last_errors[i].method = b24_strdup(e->method);
            s->last_errors[i].error = b24_strdup(e->error);
            s->last_errors[i].timestamp = e->timestamp;
            s->nlast_errors = i + 1;
            if (!s->last_errors[i].method || !s->last_errors[i].error)
                st = B24_E_NOMEM;
        }
    }
    return st;
}
