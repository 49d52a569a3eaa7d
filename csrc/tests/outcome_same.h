/* outcome_same.h - two outcomes compared field by field: the tail read
 * against the skim alone, in the C tests and the envelope fuzzer. */
#ifndef B24_TEST_OUTCOME_SAME_H
#define B24_TEST_OUTCOME_SAME_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b24_envelope.h"

static int
same_text(const char *a, const char *b)
{
    return (a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0);
}

/* The envelope's `error` and `error_description` members as text (with
 * an escaped top-level key the skim's envelope is the whole answer: only
 * these two are promised); NULL without an envelope. */
static char *
envelope_text(const struct b24_outcome *o)
{
    char *e, *d, *r;
    size_t n;
    if (o->envelope == NULL)
        return NULL;
    e = cJSON_PrintUnformatted(b24_json_member(o->envelope, "error"));
    d = cJSON_PrintUnformatted(
        b24_json_member(o->envelope, "error_description"));
    n = (e ? strlen(e) : 1) + (d ? strlen(d) : 1) + 3;
    r = malloc(n);
    if (r != NULL)
        snprintf(r, n, "%s|%s", e ? e : "-", d ? d : "-");
    cJSON_free(e);
    cJSON_free(d);
    return r;
}

/* 1 when kind, status, code, message, answer, the envelope's members and
 * the limiter's numbers of `time` are the same. */
static int
outcome_same(const struct b24_outcome *a, const struct b24_outcome *b)
{
    char *ea = envelope_text(a), *eb = envelope_text(b);
    int same =
        a->kind == b->kind && a->status == b->status &&
        same_text(a->code, b->code) && same_text(a->message, b->message) &&
        (a->answer == NULL) == (b->answer == NULL) &&
        (a->answer == NULL ||
         (a->answer_len == b->answer_len &&
          memcmp(a->answer, b->answer, a->answer_len) == 0)) &&
        same_text(ea, eb) && a->have_time == b->have_time &&
        a->have_operating == b->have_operating &&
        a->have_reset_at == b->have_reset_at &&
        (!a->have_operating || a->operating == b->operating) &&
        (!a->have_reset_at || a->reset_at == b->reset_at);
    free(ea);
    free(eb);
    return same;
}

#endif /* B24_TEST_OUTCOME_SAME_H */
