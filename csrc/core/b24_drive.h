/* b24_drive.h - the multi driver: many calls (each a b24_call machine of
 * b24_engine.h) in one thread, their exchanges running concurrently on one
 * libcurl multi handle, their WAIT steps as timers.
 *
 *     struct b24_multi *m = b24_multi_new(http);
 *     b24_multi_add(m, &flight_a);   (inputs of flight.call and flight.req
 *     b24_multi_add(m, &flight_b);    set by the caller first)
 *     while (b24_multi_active(m) > 0)
 *         b24_multi_run(m, interrupted, ctx, &done, &ndone, &stopped);
 *     b24_multi_free(m);
 *
 * Nothing here decides: every rule is the engine's; the driver performs
 * SEND steps (curl multi), counts down WAIT steps and asks `interrupted`
 * at least every B24_PIPELINE_SLICE_MS.  One b24_multi is used by one
 * thread at a time; the connections its transfers open live in its own
 * connection cache until b24_multi_free (TLS sessions and DNS are shared
 * with the transport's other handles).  Run without the GIL. */
#ifndef B24_DRIVE_H
#define B24_DRIVE_H

#include <stddef.h>

#include "b24_engine.h"
#include "b24_http.h"

struct b24_flight {
    struct b24_call call;      /* inputs set by the caller after init */
    struct b24_request req;    /* built by the caller; owned by the flight */
    struct b24_outcome out;    /* the answer once done */
    enum b24_status status;    /* B24_OK, or why no outcome could be built */
    void *user;                /* the caller's */
    /* private to the driver */
    struct b24_xfer xf;
    int sending;
    int done;
    double wake_at;            /* monotonic ms of a pending WAIT, or < 0 */
};

/* Zero the flight (request and outcome initialised, call bound to out). */
void b24_flight_init(struct b24_flight *f);
/* Free the request and the outcome (not the flight itself). */
void b24_flight_clear(struct b24_flight *f);

/* ---- one flight on a caller's CURLM (shared by the drivers) ----
 *
 * The steps of a flight whose transfers run on `cm` (the blocking multi
 * below, the asyncio driver of csrc/ext/aio.c).  They never block; the
 * caller owns `cm` and decides how it is polled. */
enum b24_flight_next {
    B24_FLIGHT_SENDING = 1, /* a transfer of f is on cm (CURLOPT_PRIVATE f) */
    B24_FLIGHT_WAITING,     /* wait *wait_ms (f->wake_at set), then advance */
    B24_FLIGHT_DONE         /* f->done; f->status, f->out are the answer */
};

/* Step f's machine (now, with the monotonic clock) until it sends, waits
 * or is done.  A SEND starts its exchange: its transfer is added to cm. */
enum b24_flight_next b24_flight_advance(struct b24_flight *f,
                                        struct b24_http *h, CURLM *cm,
                                        double *wait_ms);
/* f's transfer completed with `curl_rc` (a CURLMSG_DONE of cm): removed
 * from cm; another hop is re-added (SENDING), else the outcome goes to
 * the machine, which is advanced. */
enum b24_flight_next b24_flight_transfer_done(struct b24_flight *f,
                                              struct b24_http *h, CURLM *cm,
                                              int curl_rc, double *wait_ms);
/* Stop f: its transfer (if any) removed from cm and ended, its machine
 * abandoned unless done.  Idempotent. */
void b24_flight_stop(struct b24_flight *f, CURLM *cm);

struct b24_multi;

/* Owned pointer (holds a reference to `h`) or NULL (out of memory). */
struct b24_multi *b24_multi_new(struct b24_http *h);
/* Stop every flight not yet done (their transfers removed, their
 * machines abandoned), release everything.  The flights stay the
 * caller's.  NULL is a no-op. */
void b24_multi_free(struct b24_multi *m);

/* Start a flight: its first steps run now (a SEND starts its transfer).
 * B24_E_NOMEM when it could not be tracked (then it was not started). */
enum b24_status b24_multi_add(struct b24_multi *m, struct b24_flight *f);

/* Flights started and not yet returned by b24_multi_run. */
size_t b24_multi_active(const struct b24_multi *m);

/* Run until at least one flight is done (or none is active, or
 * `interrupted(ctx)` says stop: *stopped = 1).  *done receives the done
 * flights (a borrowed array valid until the next call), *ndone their
 * count.  B24_E_CURL when the multi handle itself failed. */
enum b24_status b24_multi_run(struct b24_multi *m,
                              int (*interrupted)(void *ctx), void *ctx,
                              struct b24_flight ***done, size_t *ndone,
                              int *stopped);

/* The flights started and not yet returned (borrowed array of
 * b24_multi_active() entries, valid until the next call on `m`). */
struct b24_flight **b24_multi_flights(const struct b24_multi *m);

/* The most transfers this multi had running at once. */
size_t b24_multi_peak(const struct b24_multi *m);

#endif /* B24_DRIVE_H */
