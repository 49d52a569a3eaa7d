/* b24_batch.h - planning of batch calls (spec §6.6, §6.7): the command
 * count rule, the v2 `cmd` form (list or object) and the chunk plan. */
#ifndef B24_BATCH_H
#define B24_BATCH_H

#include <stddef.h>

#include "b24.h"
#include "b24_protocol.h"

enum b24_cmd_form {
    B24_CMD_LIST = 0,   /* no command has an alias: JSON list */
    B24_CMD_OBJECT = 1, /* the first (so every) command has an alias */
    B24_CMD_MIXED = 2   /* some have one, some not: refused (DIVERGE) */
};

/* `aliases[i]` is NULL or "" for a command without `as`.  On MIXED,
 * *bad (when non-NULL) is the position of the first command that breaks
 * the form chosen by the first command. */
enum b24_cmd_form b24_batch_cmd_form(const char *const *aliases, size_t n,
                                     size_t *bad);

/* B24_OK for 1..50 commands; B24_E_USAGE (message as the spec's
 * JSSDK_BATCH_EMPTY / JSSDK_BATCH_TOO_LARGE text) otherwise. */
enum b24_status b24_batch_check_count(size_t n, struct b24_error *err);

/* Number of chunks of `size` (0 -> 50) for `n` commands, and the range of
 * chunk `i`. */
size_t b24_batch_chunk_count(size_t n, size_t size);
void b24_batch_chunk(size_t n, size_t size, size_t i, size_t *start,
                     size_t *len);

#endif /* B24_BATCH_H */
