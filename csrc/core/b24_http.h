/* b24_http.h - the libcurl transport: one base URL, a pool of easy handles.
 *
 * Threads: a `struct b24_http` is shared by any number of threads.  Each
 * exchange borrows one easy handle from a LIFO pool (pthread mutex; a new
 * handle is created when the pool is empty) and returns it afterwards, so a
 * handle is used by one thread at a time and a single-threaded caller keeps
 * reusing the same keep-alive connection.  DNS and TLS sessions are shared
 * between handles (CURLSH with its own locks).  CURLOPT_NOSIGNAL is always
 * set.  The only process-wide state is curl_global_init, run once through
 * pthread_once (b24_http_global_init).
 *
 * Lifetime: b24_http_new returns an object with refcount 1.  Every user
 * that may outlive the creator's reference (a call in flight while another
 * thread closes) holds its own reference (b24_http_incref/decref).
 * b24_http_close releases the idle handles and marks the object closed;
 * handles in use are released when their exchange ends.  The memory goes
 * away at the last decref.
 *
 * Request building (b24_request_*) never blocks and never touches the
 * network, so an event-driven (curl multi) perform can reuse it later. */
#ifndef B24_HTTP_H
#define B24_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "b24.h"
#include "b24_buf.h"
#include "b24_envelope.h"

#define B24_HTTP_MAX_REDIRECTS 5

/* Ensure curl_global_init ran (once per process).  B24_E_CURL on failure. */
enum b24_status b24_http_global_init(void);

struct b24_http_config {
    const char *base_url;  /* https://domain/rest/<uid>/<secret> (copied) */
    const char *secret;    /* scrubbed from every detail text (copied) */
    int verify;            /* 1: verify peer and host; 0: no checks */
    const char *ca_path;   /* NULL, or CA bundle file / directory (copied) */
    size_t max_body;       /* response body cap; 0 -> B24_BUF_DEFAULT_CAP */
    int max_redirects;     /* same-origin redirects; <0 -> default (5) */
};

struct b24_http;

/* Owned pointer (refcount 1) or NULL with `err` filled. */
struct b24_http *b24_http_new(const struct b24_http_config *cfg,
                              struct b24_error *err);
void b24_http_incref(struct b24_http *h);
/* Drop one reference; the last one frees everything.  NULL is a no-op. */
void b24_http_decref(struct b24_http *h);
/* Release idle handles and connections; idempotent; exchanges already
 * running finish normally. */
void b24_http_close(struct b24_http *h);
int b24_http_closed(struct b24_http *h);
unsigned long long b24_http_connections_opened(struct b24_http *h);
/* Borrowed; valid for the object's lifetime. */
const char *b24_http_base_url(const struct b24_http *h);

/* One request, built before the exchange (no I/O, no locks). */
struct b24_request {
    struct b24_buf url;           /* owned: full URL */
    struct b24_buf body;          /* owned: JSON body */
    struct curl_slist *headers;   /* owned: one block, free() (not
                                     curl_slist_free_all) */
    long timeout_ms;              /* total budget of the exchange, > 0 */
    int fresh_connect;            /* 1: never reuse a pooled connection */
    /* Polled during the exchange (libcurl progress callback, several times
     * a second); nonzero aborts it (CURLE_ABORTED_BY_CALLBACK).  NULL: no
     * polling. */
    int (*abort_cb)(void *ctx);
    void *abort_ctx;
};

void b24_request_init(struct b24_request *r);
void b24_request_clear(struct b24_request *r);

/* A caller header (borrowed strings). */
struct b24_header_ref {
    const char *name;
    const char *value;
};

/* Build the header list: Content-Type, Accept and User-Agent defaults,
 * `extra` merged over them (caller wins, names case-insensitive; a later
 * duplicate replaces an earlier one), then Idempotency-Key when non-NULL.
 * B24_E_USAGE (err->message says why, without values) when a name is not
 * an HTTP token or a value contains CR, LF or NUL. */
enum b24_status b24_request_set_headers(struct b24_request *r,
                                        const char *user_agent,
                                        const struct b24_header_ref *extra,
                                        size_t nextra,
                                        const char *idempotency_key,
                                        struct b24_error *err);

/* Run one exchange (following same-origin redirects) and fill `out`.
 * Blocks; call it with the GIL released.  Returns B24_OK whenever `out`
 * describes the result, including transport failures (kind ERROR);
 * B24_E_NOMEM / B24_E_CURL only when no outcome could be built. */
enum b24_status b24_http_perform(struct b24_http *h,
                                 const struct b24_request *req,
                                 struct b24_outcome *out);

/* ---- one exchange, step by step (the multi driver, b24_drive.h) ----
 *
 * b24_http_perform is begin, then curl_easy_perform + finish while finish
 * asks for another hop (a same-origin redirect), then end.  A multi driver
 * adds b24_xfer_handle() to its CURLM instead and calls finish with the
 * CURLcode of each completed transfer.  The struct is public only so that
 * it can be embedded; its fields are the transport's. */
struct b24_xfer_io {
    struct b24_buf body;
    struct b24_outcome *out;
    int overflow;
    int nomem;
};

struct b24_xfer {
    struct b24_http *h;             /* borrowed */
    const struct b24_request *req;  /* borrowed, alive until end */
    struct b24_outcome *out;        /* borrowed */
    CURL *c;                        /* from the pool, until end */
    unsigned gen;
    struct b24_xfer_io x;
    struct b24_buf url;             /* the current hop's URL */
    CURLU *u;                       /* owned: the first hop's parsed URL
                                       (CURLOPT_CURLU) or NULL */
    unsigned u_gen;                 /* the template generation of `u` */
    char errbuf[CURL_ERROR_SIZE];
    double t0;
    int hops;
    int finished;                   /* no transfer to run: call end */
    enum b24_status st;
};

/* Take a handle and set up the first hop.  B24_E_CURL when no handle
 * could be made (nothing to end); else B24_OK, and xf->finished tells
 * whether a transfer is to run. */
enum b24_status b24_xfer_begin(struct b24_http *h,
                               const struct b24_request *req,
                               struct b24_outcome *out, struct b24_xfer *xf);
CURL *b24_xfer_handle(struct b24_xfer *xf);
/* The transfer ended with `curl_rc` (a CURLcode): 1 when another hop is
 * set up (run the handle again), 0 when the outcome is complete. */
int b24_xfer_finish(struct b24_xfer *xf, int curl_rc);
/* Scrub, time and release the handle; the exchange's status (B24_OK
 * whenever `out` describes the result). */
enum b24_status b24_xfer_end(struct b24_xfer *xf);

#endif /* B24_HTTP_H */
