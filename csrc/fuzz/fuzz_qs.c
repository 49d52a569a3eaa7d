/* fuzz_qs.c - libFuzzer target: the PHP bracket query encoder (b24_qs).
 *
 * Input: a JSON text; when it parses, encode it.  Invariants: no crash;
 * the output uses only the unreserved set, '%', '=' and '&'; every '%' is
 * followed by two upper-case hex digits; the raw-API path stack (push/pop
 * beyond the cap) fails cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b24_envelope.h"
#include "b24_qs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct b24_buf *b)
{
    size_t i;
    for (i = 0; i < b->len; i++) {
        char c = b->data[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~' || c == '=' || c == '&')
            continue;
        if (c == '%' && i + 2 < b->len + 1 &&
            strchr("0123456789ABCDEF", b->data[i + 1]) != NULL &&
            b->data[i + 1] != '\0' &&
            strchr("0123456789ABCDEF", b->data[i + 2]) != NULL &&
            b->data[i + 2] != '\0')
            continue;
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *tree = NULL;
    struct b24_buf out;
    struct b24_qs q;
    size_t i;
    int pushed = 0;

    b24_buf_init(&out, 0);
    if (b24_json_parse((const char *)data, size, &tree, NULL) == B24_OK) {
        enum b24_status st = b24_qs_encode_json(&out, tree);
        if (st == B24_OK)
            check(&out);
        else if (st != B24_E_LIMIT && st != B24_E_USAGE) /* cap, too deep */
            abort();
        cJSON_Delete(tree);
    }
    b24_buf_reset(&out);
    /* Raw API: bytes drive push_key / push_index / value / pop. */
    b24_qs_init(&q, &out);
    for (i = 0; i + 1 < size && i < 512; i += 2) {
        switch (data[i] & 3) {
        case 0:
            if (b24_qs_push_key(&q, (const char *)data + i + 1, 1) == B24_OK)
                pushed++;
            break;
        case 1:
            if (b24_qs_push_index(&q, data[i + 1]) == B24_OK)
                pushed++;
            break;
        case 2:
            if (b24_qs_value(&q, (const char *)data + i + 1, 1) != B24_OK)
                abort();
            break;
        default:
            if (pushed > 0) {
                b24_qs_pop(&q);
                pushed--;
            }
        }
    }
    check(&out);
    b24_qs_free(&q);
    b24_buf_free(&out);
    return 0;
}
