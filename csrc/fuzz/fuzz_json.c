/* fuzz_json.c - libFuzzer target: the strict validator and cJSON agree.
 *
 * Invariants: b24_json_parse never crashes; a text that validates parses
 * (cJSON never fails on a validated text); the printed tree re-parses to
 * an equal tree; an error offset lies inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b24_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct b24_error err;
    cJSON *tree = NULL, *again = NULL;
    enum b24_status st, vst;
    char *txt;

    memset(&err, 0, sizeof(err));
    st = b24_json_parse((const char *)data, size, &tree, &err);
    if (st != B24_OK) {
        if (st != B24_E_JSON && st != B24_E_LIMIT)
            abort(); /* NOMEM: cJSON refused a validated text */
        if (err.offset > size)
            abort();
        if (strchr(err.message, '\n') != NULL)
            abort();
        return 0;
    }
    vst = b24_json_validate((const char *)data, size, NULL);
    if (vst != B24_OK && !(size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0))
        abort();
    txt = cJSON_PrintUnformatted(tree);
    if (txt == NULL)
        abort();
    /* cJSON prints non-finite numbers as null; anything else must
     * re-parse (cut \u0000 strings print as the shorter text, fine). */
    if (b24_json_parse(txt, strlen(txt), &again, NULL) != B24_OK)
        abort();
    if (!cJSON_Compare(tree, again, 1) && strstr(txt, "null") == NULL &&
        strstr(txt, "e") == NULL)
        abort(); /* numbers may print with rounding (%1.15g/%1.17g) */
    cJSON_free(txt);
    cJSON_Delete(again);
    cJSON_Delete(tree);
    return 0;
}
