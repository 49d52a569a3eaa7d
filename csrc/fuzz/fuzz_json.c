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
    /* The printed text re-parses and prints to the same text (a fixed
     * point; cJSON_Compare cannot be used: it looks keys up by name, so
     * duplicate keys compare unequal -- found by this target). */
    if (b24_json_parse(txt, strlen(txt), &again, NULL) != B24_OK)
        abort();
    {
        char *txt2 = cJSON_PrintUnformatted(again);
        if (txt2 == NULL || strcmp(txt, txt2) != 0)
            abort();
        cJSON_free(txt2);
    }
    cJSON_free(txt);
    cJSON_Delete(again);
    cJSON_Delete(tree);
    return 0;
}
