/* b24_drive.c - the multi driver; see b24_drive.h. */
#include "b24_drive.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b24_pipeline.h" /* B24_PIPELINE_SLICE_MS */

struct b24_multi {
    struct b24_http *h;          /* a reference */
    CURLM *cm;
    struct b24_flight **active;  /* started, not yet returned */
    size_t nactive, aactive;
    struct b24_flight **ready;   /* returned by the last run */
    size_t nready, aready;
    size_t sending, peak;
};

void
b24_flight_init(struct b24_flight *f)
{
    memset(f, 0, sizeof(*f));
    b24_request_init(&f->req);
    b24_outcome_init(&f->out);
    b24_call_init(&f->call, &f->out);
    f->wake_at = -1;
}

void
b24_flight_clear(struct b24_flight *f)
{
    b24_request_clear(&f->req);
    b24_outcome_clear(&f->out);
}

struct b24_multi *
b24_multi_new(struct b24_http *h)
{
    struct b24_multi *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->cm = curl_multi_init();
    if (m->cm == NULL) {
        free(m);
        return NULL;
    }
    b24_http_incref(h);
    m->h = h;
    return m;
}

void
b24_flight_stop(struct b24_flight *f, CURLM *cm)
{
    if (f->sending) {
        curl_multi_remove_handle(cm, f->xf.c);
        curl_easy_setopt(f->xf.c, CURLOPT_PRIVATE, NULL);
        f->sending = 0;
        b24_xfer_end(&f->xf);
    }
    if (!f->done)
        b24_call_abandon(&f->call);
    f->wake_at = -1;
}

static void
stop_transfer(struct b24_multi *m, struct b24_flight *f)
{
    if (f->sending)
        m->sending--;
    b24_flight_stop(f, m->cm);
}

void
b24_multi_free(struct b24_multi *m)
{
    size_t i;
    if (m == NULL)
        return;
    for (i = 0; i < m->nactive; i++)
        stop_transfer(m, m->active[i]);
    curl_multi_cleanup(m->cm);
    b24_http_decref(m->h);
    free(m->active);
    free(m->ready);
    free(m);
}

size_t
b24_multi_active(const struct b24_multi *m)
{
    return m->nactive;
}

struct b24_flight **
b24_multi_flights(const struct b24_multi *m)
{
    return m->active;
}

size_t
b24_multi_peak(const struct b24_multi *m)
{
    return m->peak;
}

static enum b24_flight_next
finish(struct b24_flight *f, enum b24_status st)
{
    if (st != B24_OK)
        b24_call_abandon(&f->call);
    f->status = st;
    f->done = 1;
    f->wake_at = -1;
    return B24_FLIGHT_DONE;
}

enum b24_flight_next
b24_flight_advance(struct b24_flight *f, struct b24_http *h, CURLM *cm,
                   double *wait_ms)
{
    for (;;) {
        struct b24_step s;
        enum b24_status st;
        st = b24_call_step(&f->call, b24_clock_mono_ms(NULL), &s);
        if (st != B24_OK || s.kind == B24_STEP_DONE)
            return finish(f, st);
        if (s.kind == B24_STEP_WAIT) {
            *wait_ms = s.wait_ms;
            f->wake_at = b24_clock_mono_ms(NULL) + s.wait_ms;
            return B24_FLIGHT_WAITING;
        }
        if (f->call.limiter != NULL)
            f->req.fresh_connect = s.fresh_connect;
        b24_outcome_clear(&f->out);
        b24_outcome_init(&f->out);
        st = b24_xfer_begin(h, &f->req, &f->out, &f->xf);
        if (st != B24_OK)
            return finish(f, st);
        if (f->xf.finished) { /* nothing to run: the outcome is made */
            st = b24_xfer_end(&f->xf);
            if (st != B24_OK)
                return finish(f, st);
            continue;
        }
        curl_easy_setopt(f->xf.c, CURLOPT_PRIVATE, (void *)f);
        if (curl_multi_add_handle(cm, f->xf.c) != CURLM_OK) {
            curl_easy_setopt(f->xf.c, CURLOPT_PRIVATE, NULL);
            b24_xfer_end(&f->xf);
            return finish(f, B24_E_CURL);
        }
        f->sending = 1;
        return B24_FLIGHT_SENDING;
    }
}

enum b24_flight_next
b24_flight_transfer_done(struct b24_flight *f, struct b24_http *h, CURLM *cm,
                         int curl_rc, double *wait_ms)
{
    enum b24_status st;
    CURL *c = f->xf.c;
    curl_multi_remove_handle(cm, c);
    if (b24_xfer_finish(&f->xf, curl_rc)) {
        if (curl_multi_add_handle(cm, c) == CURLM_OK)
            return B24_FLIGHT_SENDING;
        f->xf.st = B24_E_CURL;
    }
    curl_easy_setopt(c, CURLOPT_PRIVATE, NULL);
    f->sending = 0;
    st = b24_xfer_end(&f->xf);
    if (st != B24_OK)
        return finish(f, st);
    return b24_flight_advance(f, h, cm, wait_ms);
}

/* Step the flight's machine until it waits, sends or is done. */
static void
advance(struct b24_multi *m, struct b24_flight *f)
{
    double wait_ms;
    if (b24_flight_advance(f, m->h, m->cm, &wait_ms) == B24_FLIGHT_SENDING &&
        ++m->sending > m->peak)
        m->peak = m->sending;
}

static int
grow(struct b24_flight ***v, size_t *a, size_t need)
{
    struct b24_flight **nv;
    size_t na;
    if (need <= *a)
        return 0;
    na = *a ? *a * 2 : 16;
    while (na < need)
        na *= 2;
    nv = realloc(*v, na * sizeof(*nv));
    if (nv == NULL)
        return -1;
    *v = nv;
    *a = na;
    return 0;
}

enum b24_status
b24_multi_add(struct b24_multi *m, struct b24_flight *f)
{
    if (grow(&m->active, &m->aactive, m->nactive + 1) < 0 ||
        grow(&m->ready, &m->aready, m->nactive + 1) < 0)
        return B24_E_NOMEM;
    f->done = 0;
    f->sending = 0;
    f->wake_at = -1;
    f->status = B24_OK;
    m->active[m->nactive++] = f;
    advance(m, f);
    return B24_OK;
}

/* A finished transfer: another hop, or the outcome to the machine. */
static void
transfer_done(struct b24_multi *m, struct b24_flight *f, CURLcode rc)
{
    double wait_ms;
    m->sending--;
    if (b24_flight_transfer_done(f, m->h, m->cm, (int)rc, &wait_ms) ==
            B24_FLIGHT_SENDING &&
        ++m->sending > m->peak)
        m->peak = m->sending;
}

/* Move done flights from active to ready (order kept). */
static void
collect(struct b24_multi *m)
{
    size_t i, j = 0;
    for (i = 0; i < m->nactive; i++) {
        struct b24_flight *f = m->active[i];
        if (f->done)
            m->ready[m->nready++] = f;
        else
            m->active[j++] = f;
    }
    m->nactive = j;
}

static void
nap(double ms)
{
    struct timespec ts;
    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000.0);
    ts.tv_nsec = (long)fmod(ms * 1e6, 1e9);
    nanosleep(&ts, NULL);
}

enum b24_status
b24_multi_run(struct b24_multi *m, int (*interrupted)(void *ctx), void *ctx,
              struct b24_flight ***done, size_t *ndone, int *stopped)
{
    *stopped = 0;
    m->nready = 0;
    collect(m);
    while (m->nready == 0 && m->nactive > 0) {
        CURLMsg *msg;
        int running = 0, left = 0;
        double now, next = INFINITY, timeout;
        size_t i;

        if (interrupted != NULL && interrupted(ctx)) {
            *stopped = 1;
            break;
        }
        if (m->sending > 0 &&
            curl_multi_perform(m->cm, &running) != CURLM_OK)
            return B24_E_CURL;
        while ((msg = curl_multi_info_read(m->cm, &left)) != NULL) {
            struct b24_flight *f = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
                              (char **)&f);
            if (f != NULL)
                transfer_done(m, f, msg->data.result);
        }
        now = b24_clock_mono_ms(NULL);
        for (i = 0; i < m->nactive; i++) {
            struct b24_flight *f = m->active[i];
            if (f->done || f->sending || f->wake_at < 0)
                continue;
            if (f->wake_at <= now) {
                f->wake_at = -1;
                advance(m, f);
            }
            if (!f->done && !f->sending && f->wake_at >= 0 &&
                f->wake_at < next)
                next = f->wake_at;
        }
        collect(m);
        if (m->nready > 0 || m->nactive == 0)
            break;
        timeout = isfinite(next) ? next - b24_clock_mono_ms(NULL)
                                 : B24_PIPELINE_SLICE_MS;
        if (timeout > B24_PIPELINE_SLICE_MS)
            timeout = B24_PIPELINE_SLICE_MS;
        if (timeout < 0)
            timeout = 0;
        if (m->sending > 0) {
            if (curl_multi_poll(m->cm, NULL, 0, (int)ceil(timeout), NULL) !=
                CURLM_OK)
                return B24_E_CURL;
        } else {
            nap(timeout);
        }
    }
    *done = m->ready;
    *ndone = m->nready;
    return B24_OK;
}
