/* b24_buf.c - capped growable buffer. */
#include "b24_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum b24_status
b24_error_set(struct b24_error *err, enum b24_status status, const char *fmt,
              ...)
{
    if (err != NULL) {
        va_list ap;
        err->status = status;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *
b24_status_name(enum b24_status status)
{
    switch (status) {
    case B24_OK: return "B24_OK";
    case B24_E_NOMEM: return "B24_E_NOMEM";
    case B24_E_CURL: return "B24_E_CURL";
    case B24_E_HTTP: return "B24_E_HTTP";
    case B24_E_JSON: return "B24_E_JSON";
    case B24_E_API: return "B24_E_API";
    case B24_E_TIMEOUT: return "B24_E_TIMEOUT";
    case B24_E_LIMIT: return "B24_E_LIMIT";
    case B24_E_USAGE: return "B24_E_USAGE";
    case B24_E_SYSTEM: return "B24_E_SYSTEM";
    }
    return "B24_E_UNKNOWN";
}

void
b24_buf_init(struct b24_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap ? cap : B24_BUF_DEFAULT_CAP;
}

void
b24_buf_free(struct b24_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void
b24_buf_reset(struct b24_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

enum b24_status
b24_buf_append(struct b24_buf *b, const void *p, size_t n)
{
    size_t need;
    if (n > b->cap || b->len > b->cap - n) {
        b24_buf_free(b);
        return B24_E_LIMIT;
    }
    need = b->len + n + 1;
    if (need > b->alloc) {
        size_t na = b->alloc ? b->alloc : 64;
        char *nd;
        while (na < need) {
            if (na > ((size_t)-1) / 2) {
                na = need;
                break;
            }
            na *= 2;
        }
        if (na > b->cap + 1)
            na = b->cap + 1;
        nd = realloc(b->data, na);
        if (nd == NULL) {
            b24_buf_free(b);
            return B24_E_NOMEM;
        }
        b->data = nd;
        b->alloc = na;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return B24_OK;
}

enum b24_status
b24_buf_reserve(struct b24_buf *b, size_t n)
{
    size_t need;
    char *nd;
    if (n > b->cap - (b->len < b->cap ? b->len : b->cap))
        n = b->cap - (b->len < b->cap ? b->len : b->cap);
    need = b->len + n + 1;
    if (need <= b->alloc)
        return B24_OK;
    nd = realloc(b->data, need);
    if (nd == NULL)
        return B24_E_NOMEM;
    if (b->data == NULL)
        nd[0] = '\0';
    b->data = nd;
    b->alloc = need;
    return B24_OK;
}

enum b24_status
b24_buf_appends(struct b24_buf *b, const char *s)
{
    return b24_buf_append(b, s, strlen(s));
}

enum b24_status
b24_buf_appendc(struct b24_buf *b, char c)
{
    if (b->len + 1 < b->alloc && b->len < b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return B24_OK;
    }
    return b24_buf_append(b, &c, 1);
}

enum b24_status
b24_buf_printf(struct b24_buf *b, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return B24_E_USAGE;
    if ((size_t)n < sizeof(small))
        return b24_buf_append(b, small, (size_t)n);
    {
        char *big = malloc((size_t)n + 1);
        enum b24_status st;
        if (big == NULL) {
            b24_buf_free(b);
            return B24_E_NOMEM;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        st = b24_buf_append(b, big, (size_t)n);
        free(big);
        return st;
    }
}

const char *
b24_buf_cstr(const struct b24_buf *b)
{
    return b->data ? b->data : "";
}

char *
b24_buf_steal(struct b24_buf *b)
{
    char *p = b->data;
    if (p == NULL) {
        p = malloc(1);
        if (p != NULL)
            p[0] = '\0';
    }
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}

char *
b24_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
b24_strdup(const char *s)
{
    return b24_strndup(s, strlen(s));
}
