/* b24.h - common definitions of the b24hook core (plain C11, no Python).
 *
 * Ownership rules of the whole core (see each header for specifics):
 *  1. `*_new` returns an owned pointer; `*_free(NULL)` does nothing.
 *     Whoever allocates, frees.
 *  2. `const char *` getters borrow from their object and stay valid only
 *     until the next mutating call on that object.
 *  3. cJSON trees handed out by the core are owned by the caller, who frees
 *     them with cJSON_Delete (each transfer is commented).
 *  4. Every buffer and the JSON nesting depth are capped, so hostile input
 *     fails cleanly instead of exhausting memory.
 *  5. No function prints, and outputs are written only on B24_OK.
 */
#ifndef B24_H
#define B24_H

#include <stddef.h>

enum b24_status {
    B24_OK = 0,
    B24_E_NOMEM,   /* allocation failed */
    B24_E_CURL,    /* libcurl failure (transport) */
    B24_E_HTTP,    /* unexpected HTTP exchange */
    B24_E_JSON,    /* invalid JSON */
    B24_E_API,     /* the portal answered with an error */
    B24_E_TIMEOUT, /* the exchange exceeded its time budget */
    B24_E_LIMIT,   /* a size or depth cap was hit */
    B24_E_USAGE,   /* invalid argument / invalid input */
    B24_E_SYSTEM   /* an operating-system call failed (shared limiter) */
};

/* Error details filled by fallible functions when a non-NULL pointer is
 * passed.  `message` never contains a secret or a webhook URL. */
struct b24_error {
    enum b24_status status;
    long http_status; /* 0 when not applicable */
    int curl_code;    /* CURLcode, 0 when not applicable */
    size_t offset;    /* JSON byte offset of a parse error */
    char message[256];
};

/* Fill `err` (when non-NULL) with `status` and a printf-style message;
 * returns `status` so callers can `return b24_error_set(...)`. */
enum b24_status b24_error_set(struct b24_error *err, enum b24_status status,
                              const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Static English name of a status ("B24_E_NOMEM", ...). */
const char *b24_status_name(enum b24_status status);

#endif /* B24_H */
