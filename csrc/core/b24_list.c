/* b24_list.c - cursors, keyset stop rules and export planning. */
#include "b24_list.h"

#include <limits.h>
#include <string.h>

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
b24_parse_int_prefix(const char *s, size_t n, long long *out)
{
    size_t i = 0;
    int neg = 0, base = 10, digits = 0;
    unsigned long long v = 0, lim;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
                     s[i] == '\r' || s[i] == '\f' || s[i] == '\v'))
        i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i + 1 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        base = 16;
        i += 2;
    }
    lim = neg ? (unsigned long long)LLONG_MAX + 1ULL : (unsigned long long)LLONG_MAX;
    for (; i < n; i++) {
        int d = base == 16 ? hexval(s[i])
                           : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
        if (d < 0)
            break;
        digits++;
        if (v > (lim - (unsigned long long)d) / (unsigned long long)base)
            v = lim; /* saturate */
        else
            v = v * (unsigned long long)base + (unsigned long long)d;
    }
    if (digits == 0)
        return 0;
    if (neg)
        *out = v == (unsigned long long)LLONG_MAX + 1ULL ? LLONG_MIN
                                                         : -(long long)v;
    else
        *out = (long long)v;
    return 1;
}

void
b24_keyset_init(struct b24_keyset *k, int v3_rule, size_t page_size)
{
    k->v3_rule = v3_rule;
    k->page_size = page_size ? page_size : B24_V2_PAGE_SIZE;
    k->max_page = 0;
}

enum b24_page_step
b24_keyset_step(struct b24_keyset *k, size_t page_len)
{
    if (page_len == 0)
        return B24_STEP_STOP;
    if (!k->v3_rule)
        return page_len < k->page_size ? B24_STEP_LAST : B24_STEP_MORE;
    if (page_len > k->max_page)
        k->max_page = page_len;
    return page_len < k->max_page ? B24_STEP_LAST : B24_STEP_MORE;
}

size_t
b24_export_commands(long long cursor, long long hi)
{
    long long span, n;
    if (hi < 0)
        return B24_BATCH_MAX_COMMANDS;
    if (hi <= cursor)
        return 1;
    span = hi - cursor;
    n = span / B24_V2_PAGE_SIZE + (span % B24_V2_PAGE_SIZE ? 1 : 0);
    if (n > B24_BATCH_MAX_COMMANDS)
        n = B24_BATCH_MAX_COMMANDS;
    return n < 1 ? 1 : (size_t)n;
}

size_t
b24_export_shards(long long lo, long long hi, size_t want, long long min_span,
                  long long *bounds)
{
    long long span = hi - lo, step, batches;
    size_t n, i;
    if (want < 1)
        want = 1;
    if (min_span < 1)
        min_span = 1;
    if (span <= 0) {
        bounds[0] = hi;
        return 1;
    }
    batches = span / min_span + (span % min_span != 0);
    if (batches <= (long long)want) {
        /* one batch per shard: whole batches of `min_span` ids (whole pages,
         * as the planned batch is), the remainder last; an even split would
         * make each shard a little wider than its batch, so every one of them
         * would need one more, nearly empty page */
        n = (size_t)batches;
        for (i = 0; i + 1 < n; i++)
            bounds[i] = lo + min_span * (long long)(i + 1);
        bounds[n - 1] = hi;
        return n;
    }
    n = want;
    step = span / (long long)n;
    for (i = 0; i + 1 < n; i++)
        bounds[i] = lo + step * (long long)(i + 1);
    bounds[n - 1] = hi;
    return n;
}

static enum b24_status
bracket(struct b24_buf *out, const char *s, size_t n)
{
    enum b24_status rc = b24_buf_appendc(out, '[');
    if (rc == B24_OK)
        rc = b24_buf_append(out, s, n);
    if (rc == B24_OK)
        rc = b24_buf_appendc(out, ']');
    return rc;
}

enum b24_status
b24_export_ref(struct b24_buf *out, const char *prev, const char *container,
               const char *id_key)
{
    /* The leading 0 embeds the reference in a longer string: the portal then
     * substitutes it only when it resolves to a scalar (the id), and leaves
     * the literal text -- read as 0 -- when page `prev` was short or failed,
     * instead of a whole-value reference that walks to the deepest existing
     * node and pastes a list or map into the filter (portal.md §7.2). */
    enum b24_status rc = b24_buf_appends(out, "0$result");
    const char *p = container, *dot;
    if (rc == B24_OK)
        rc = bracket(out, prev, strlen(prev));
    while (rc == B24_OK && p != NULL && *p) {
        dot = strchr(p, '.');
        rc = bracket(out, p, dot ? (size_t)(dot - p) : strlen(p));
        p = dot ? dot + 1 : NULL;
    }
    if (rc == B24_OK)
        rc = b24_buf_printf(out, "[%d]", B24_V2_PAGE_SIZE - 1);
    if (rc == B24_OK)
        rc = bracket(out, id_key, strlen(id_key));
    return rc;
}
