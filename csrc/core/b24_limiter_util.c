/* b24_limiter_util.c - small helpers every limiter backend and the front
 * end share (a leaf: it calls into no other file of the limiter, so the
 * backends depend on it and not on each other or on the front end). */
#include <stdlib.h>
#include <string.h>

#include "b24_limiter.h"
#include "b24_limiter_ops.h"

int
b24_limiter_scope_key_ok(const char *key)
{
    size_t i, n;
    if (key == NULL)
        return 0;
    n = strlen(key);
    if (n == 0 || n > 64)
        return 0;
    for (i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void
b24_method_counts_free(struct b24_method_count *c, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        free(c[i].method);
    free(c);
}
