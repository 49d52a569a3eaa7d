/* b24_qs.c - PHP-style bracket encoding (see b24_qs.h). */
#include "b24_qs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char HEX[] = "0123456789ABCDEF";

static int
unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

enum b24_status
b24_qs_pct(struct b24_buf *out, const char *s, size_t n)
{
    size_t i, run = 0;
    enum b24_status rc;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[3];
        if (unreserved(c))
            continue;
        if (i > run && (rc = b24_buf_append(out, s + run, i - run)) != B24_OK)
            return rc;
        e[0] = '%';
        e[1] = HEX[c >> 4];
        e[2] = HEX[c & 15];
        if ((rc = b24_buf_append(out, e, 3)) != B24_OK)
            return rc;
        run = i + 1;
    }
    if (n > run)
        return b24_buf_append(out, s + run, n - run);
    return B24_OK;
}

void
b24_qs_init(struct b24_qs *q, struct b24_buf *out)
{
    memset(q, 0, sizeof(*q));
    q->out = out;
    b24_buf_init(&q->key, 0);
}

void
b24_qs_free(struct b24_qs *q)
{
    b24_buf_free(&q->key);
    q->depth = 0;
}

static enum b24_status
push(struct b24_qs *q, const char *k, size_t n)
{
    enum b24_status rc;
    if (q->depth >= B24_QS_MAX_DEPTH)
        return B24_E_LIMIT;
    q->marks[q->depth++] = q->key.len;
    if (q->depth > 1 && (rc = b24_buf_append(&q->key, "%5B", 3)) != B24_OK)
        return rc;
    if ((rc = b24_qs_pct(&q->key, k, n)) != B24_OK)
        return rc;
    if (q->depth > 1)
        return b24_buf_append(&q->key, "%5D", 3);
    return B24_OK;
}

enum b24_status
b24_qs_push_key(struct b24_qs *q, const char *k, size_t n)
{
    return push(q, k, n);
}

enum b24_status
b24_qs_push_index(struct b24_qs *q, size_t i)
{
    char num[32];
    int len = snprintf(num, sizeof(num), "%zu", i);
    return push(q, num, (size_t)len);
}

void
b24_qs_pop(struct b24_qs *q)
{
    if (q->depth <= 0)
        return;
    q->depth--;
    q->key.len = q->marks[q->depth];
    if (q->key.data != NULL)
        q->key.data[q->key.len] = '\0';
}

enum b24_status
b24_qs_value(struct b24_qs *q, const char *v, size_t n)
{
    enum b24_status rc;
    if (q->pairs > 0 && (rc = b24_buf_appendc(q->out, '&')) != B24_OK)
        return rc;
    if ((rc = b24_buf_append(q->out, b24_buf_cstr(&q->key), q->key.len)) !=
        B24_OK)
        return rc;
    if ((rc = b24_buf_appendc(q->out, '=')) != B24_OK)
        return rc;
    q->pairs++;
    return b24_qs_pct(q->out, v, n);
}

static enum b24_status
enc_json(struct b24_qs *q, const cJSON *item)
{
    enum b24_status rc = B24_OK;
    const cJSON *c;
    char num[64];
    size_t i = 0;
    if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
        for (c = item->child; c != NULL; c = c->next, i++) {
            if (cJSON_IsObject(item))
                rc = b24_qs_push_key(q, c->string, strlen(c->string));
            else
                rc = b24_qs_push_index(q, i);
            if (rc == B24_OK)
                rc = enc_json(q, c);
            b24_qs_pop(q);
            if (rc != B24_OK)
                return rc;
        }
        return B24_OK;
    }
    if (cJSON_IsNull(item))
        return b24_qs_value(q, "", 0);
    if (cJSON_IsTrue(item))
        return b24_qs_value(q, "true", 4);
    if (cJSON_IsFalse(item))
        return b24_qs_value(q, "false", 5);
    if (cJSON_IsString(item))
        return b24_qs_value(q, item->valuestring, strlen(item->valuestring));
    if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        int len;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            len = snprintf(num, sizeof(num), "%lld", (long long)d);
        else
            len = snprintf(num, sizeof(num), "%.17g", d);
        return b24_qs_value(q, num, (size_t)len);
    }
    return B24_OK; /* raw / invalid: nothing */
}

enum b24_status
b24_qs_encode_json(struct b24_buf *out, const cJSON *obj)
{
    struct b24_qs q;
    enum b24_status rc;
    if (!cJSON_IsObject(obj))
        return B24_OK;
    b24_qs_init(&q, out);
    rc = enc_json(&q, obj);
    b24_qs_free(&q);
    return rc;
}
