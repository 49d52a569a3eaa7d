/* b24_buf.h - capped growable byte buffer (curl's dynbuf shape).
 *
 * The buffer owns its storage.  Its content is always NUL-terminated (the
 * NUL is not counted in `len`).  When an append would exceed `cap`, or an
 * allocation fails, the buffer FREES its storage, resets to empty and
 * returns B24_E_LIMIT / B24_E_NOMEM: a failed buffer never holds a
 * half-written value.  b24_buf_free() may be called any number of times.
 */
#ifndef B24_BUF_H
#define B24_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "b24.h"

#define B24_BUF_DEFAULT_CAP ((size_t)64 * 1024 * 1024) /* 64 MiB */

struct b24_buf {
    char *data;   /* owned; NULL until the first append */
    size_t len;   /* bytes used, excluding the trailing NUL */
    size_t alloc; /* bytes allocated */
    size_t cap;   /* maximum `len` */
};

void b24_buf_init(struct b24_buf *b, size_t cap);
void b24_buf_free(struct b24_buf *b);
/* Keep the storage, forget the content. */
void b24_buf_reset(struct b24_buf *b);
enum b24_status b24_buf_append(struct b24_buf *b, const void *p, size_t n);
enum b24_status b24_buf_appends(struct b24_buf *b, const char *s);
enum b24_status b24_buf_appendc(struct b24_buf *b, char c);
enum b24_status b24_buf_printf(struct b24_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Make room for `n` more bytes (and the NUL) in one allocation, at most up
 * to the cap (a hint: appends still grow past it).  B24_E_NOMEM leaves the
 * buffer as it was. */
enum b24_status b24_buf_reserve(struct b24_buf *b, size_t n);
/* Borrowed NUL-terminated view; "" for an empty buffer. */
const char *b24_buf_cstr(const struct b24_buf *b);
/* Transfer the storage to the caller (free() it); NULL only on NOMEM.
 * The buffer is left empty. */
char *b24_buf_steal(struct b24_buf *b);

/* strdup/strndup that never return a shared pointer; NULL on NOMEM. */
char *b24_strndup(const char *s, size_t n);
char *b24_strdup(const char *s);

#endif /* B24_BUF_H */
