/* b24_batch.c - batch planning (see b24_batch.h). */
#include "b24_batch.h"

static int
has_alias(const char *a)
{
    return a != NULL && a[0] != '\0';
}

enum b24_cmd_form
b24_batch_cmd_form(const char *const *aliases, size_t n, size_t *bad)
{
    size_t i;
    int first;
    if (n == 0)
        return B24_CMD_LIST;
    first = has_alias(aliases[0]);
    for (i = 1; i < n; i++) {
        if (has_alias(aliases[i]) != first) {
            if (bad != NULL)
                *bad = i;
            return B24_CMD_MIXED;
        }
    }
    return first ? B24_CMD_OBJECT : B24_CMD_LIST;
}

enum b24_status
b24_batch_check_count(size_t n, struct b24_error *err)
{
    if (n == 0)
        return b24_error_set(err, B24_E_USAGE,
                             "Batch must contain at least one command");
    if (n > B24_BATCH_MAX_COMMANDS)
        return b24_error_set(err, B24_E_USAGE,
                             "Batch too large: %zu commands (max: %d)", n,
                             B24_BATCH_MAX_COMMANDS);
    return B24_OK;
}

size_t
b24_batch_chunk_count(size_t n, size_t size)
{
    if (size == 0)
        size = B24_BATCH_MAX_COMMANDS;
    return n / size + (n % size ? 1 : 0);
}

void
b24_batch_chunk(size_t n, size_t size, size_t i, size_t *start, size_t *len)
{
    size_t s;
    if (size == 0)
        size = B24_BATCH_MAX_COMMANDS;
    s = i * size;
    if (s > n)
        s = n;
    *start = s;
    *len = n - s < size ? n - s : size;
}
