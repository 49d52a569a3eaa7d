/* fuzz_envelope.c - libFuzzer target: outcome classification (§4.4).
 *
 * Input: byte 0 picks the HTTP status, the rest is the body.  Invariants:
 * no crash; kind OK has no code/message, other kinds have both; only a
 * 2xx answer is left unchecked by classify, and after b24_envelope_check
 * (what the decode does) the answer is present exactly when the body is
 * JSON, a 2xx body that is not being ERROR_UNEXPECTED_ANSWER with the
 * strict reader's message; message is bounded;
 * the envelope's members (parsed from their spans only) print like the
 * same members of the full cJSON tree (the last of a repeated name); the
 * limiter's numbers of `time` (read from the text) equal the tree's; and
 * the tail read (b24_envelope_classify) gives, for a JSON body at once and
 * for any body once the answer is checked as the decode does, exactly the
 * outcome of the skim alone
 * (b24_envelope_classify_skim): kind, code, message, answer, envelope and
 * the limiter's numbers; the tail read's scan answers the same at each
 * SIMD level. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b24_envelope.h"
#include "../tests/outcome_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const long statuses[] = {200, 201, 204, 299, 301, 400, 401, 403,
                                404, 429, 500, 502, 503, 0,   100, 999};

/* The tail read against the skim alone, both checked (as the decode). */
static void
tail_agrees(long status, const char *body, size_t len, int is_json)
{
    struct b24_outcome a, b;
    b24_outcome_init(&a);
    b24_outcome_init(&b);
    if (b24_envelope_classify(&a, status, body, len) != B24_OK ||
        b24_envelope_classify_skim(&b, status, body, len) != B24_OK)
        abort();
    /* a JSON body: the same already in the transfer (what the engine,
     * its events and the limiter see before the decode) */
    if (is_json && !outcome_same(&a, &b))
        abort();
    if (b24_envelope_check(&a) != B24_OK || b24_envelope_check(&b) != B24_OK)
        abort();
    if (!outcome_same(&a, &b))
        abort();
    b24_outcome_clear(&a);
    b24_outcome_clear(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct b24_outcome o;
    cJSON *tree = NULL;
    long status;
    int is_json;
    if (size < 1)
        return 0;
    status = statuses[data[0] & 15];
    data++;
    size--;
    is_json = b24_json_parse((const char *)data, size, &tree, NULL) == B24_OK;
    tail_agrees(status, (const char *)data, size, is_json);
    /* the scan's levels (AVX2, SSE2, bytes) agree, over all and a prefix */
    {
        size_t upto = size > 0 ? size - (data[0] % (size < 64 ? size : 64)) : 0;
        int r0 = b24_envelope_error_key((const char *)data, size, upto, 0);
        if (b24_envelope_error_key((const char *)data, size, upto, 1) != r0 ||
            b24_envelope_error_key((const char *)data, size, upto, 2) != r0)
            abort();
    }
    b24_outcome_init(&o);
    if (b24_envelope_classify(&o, status, (const char *)data, size) != B24_OK)
        abort();
    if (o.answer != NULL && !o.answer_checked && (status < 200 || status > 299))
        abort();
    if (o.answer == NULL && is_json)
        abort();
    if (b24_envelope_check(&o) != B24_OK)
        abort();
    if ((o.answer != NULL) != is_json || (o.answer != NULL && !o.answer_checked))
        abort();
    if (!is_json && status >= 200 && status <= 299) {
        struct b24_error e;
        char want[sizeof(e.message) + 64];
        size_t skip = size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
        enum b24_status vs;
        memset(&e, 0, sizeof(e));
        vs = size - skip == 0 ? B24_E_JSON
                              : b24_json_validate((const char *)data + skip,
                                                  size - skip, &e);
        if (vs == B24_E_LIMIT)
            snprintf(want, sizeof(want), "Unexpected answer: %s", e.message);
        else
            snprintf(want, sizeof(want),
                     "Unexpected answer: the body is not JSON (HTTP %ld)",
                     status);
        if (o.kind != B24_KIND_ERROR || o.code == NULL || o.message == NULL ||
            strcmp(o.code, "ERROR_UNEXPECTED_ANSWER") != 0 ||
            strcmp(o.message, want) != 0)
            abort();
    }
    if ((o.envelope != NULL) != cJSON_IsObject(tree))
        abort();
    if (o.envelope != NULL) {
        static const char *const names[] = {"error", "error_description"};
        const cJSON *tm = b24_json_member(tree, "time");
        const cJSON *op = cJSON_IsObject(tm) ? b24_json_member(tm, "operating")
                                             : NULL;
        const cJSON *ra = cJSON_IsObject(tm)
                              ? b24_json_member(tm, "operating_reset_at")
                              : NULL;
        size_t k;
        if (o.have_time != cJSON_IsObject(tm) ||
            o.have_operating != cJSON_IsNumber(op) ||
            o.have_reset_at != cJSON_IsNumber(ra) ||
            (o.have_operating && o.operating != op->valuedouble) ||
            (o.have_reset_at && o.reset_at != ra->valuedouble))
            abort();
        for (k = 0; k < 2; k++) {
            /* duplicate names: the last one wins everywhere (issue 9) */
            const cJSON *a = b24_json_member(tree, names[k]);
            const cJSON *b = b24_json_member(o.envelope, names[k]);
            char *ta, *tb;
            if ((a == NULL) != (b == NULL))
                abort();
            if (a == NULL)
                continue;
            ta = cJSON_PrintUnformatted(a);
            tb = cJSON_PrintUnformatted(b);
            if (ta == NULL || tb == NULL || strcmp(ta, tb) != 0)
                abort();
            cJSON_free(ta);
            cJSON_free(tb);
        }
    }
    cJSON_Delete(tree);
    if (o.kind == B24_KIND_OK) {
        if (o.code != NULL || o.message != NULL || status < 200 || status > 299)
            abort();
    } else {
        if (o.code == NULL || o.message == NULL)
            abort();
        if (o.kind == B24_KIND_FAILED && (status < 200 || status > 299))
            abort();
    }
    /* classify twice on the same outcome: no leak, same answer */
    if (b24_envelope_classify(&o, status, (const char *)data, size) != B24_OK)
        abort();
    b24_outcome_clear(&o);
    return 0;
}
