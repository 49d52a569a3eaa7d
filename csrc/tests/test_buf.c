/* test_buf.c - the capped buffer. */
#include <stdlib.h>

#include "b24_buf.h"
#include "harness.h"

void
test_buf(void)
{
    struct b24_buf b;
    size_t i;
    char *s;

    b24_buf_init(&b, 10);
    CHECK_STR(b24_buf_cstr(&b), "");
    CHECK(b24_buf_appends(&b, "hello") == B24_OK);
    CHECK(b24_buf_appendc(&b, ' ') == B24_OK);
    CHECK(b24_buf_printf(&b, "%d", 123) == B24_OK);
    CHECK_STR(b24_buf_cstr(&b), "hello 123");
    CHECK(b.len == 9);
    CHECK(b24_buf_appendc(&b, 'x') == B24_OK); /* exactly at the cap */
    CHECK(b.len == 10);
    /* Over the cap: fails and the buffer is freed and empty. */
    CHECK(b24_buf_appendc(&b, 'y') == B24_E_LIMIT);
    CHECK(b.len == 0 && b.data == NULL);
    CHECK_STR(b24_buf_cstr(&b), "");
    CHECK(b24_buf_append(&b, "0123456789ABC", 13) == B24_E_LIMIT);
    CHECK(b.data == NULL);
    /* Huge sizes do not overflow the arithmetic. */
    CHECK(b24_buf_append(&b, "x", (size_t)-1) == B24_E_LIMIT);
    b24_buf_free(&b);
    b24_buf_free(&b); /* twice is fine */

    b24_buf_init(&b, 0);
    CHECK(b.cap == B24_BUF_DEFAULT_CAP);
    for (i = 0; i < 10000; i++)
        if (b24_buf_appendc(&b, (char)('a' + i % 26)) != B24_OK)
            break;
    CHECK(i == 10000 && b.len == 10000);
    CHECK(b.data[9999] == 'a' + 9999 % 26 && b.data[10000] == '\0');
    b24_buf_reset(&b);
    CHECK(b.len == 0 && b.data != NULL);
    CHECK(b24_buf_printf(&b, "%0300d", 7) == B24_OK); /* > small buffer */
    CHECK(b.len == 300 && b.data[299] == '7');
    s = b24_buf_steal(&b);
    CHECK(s != NULL && strlen(s) == 300 && b.data == NULL);
    free(s);
    s = b24_buf_steal(&b); /* empty -> "" */
    CHECK(s != NULL && s[0] == '\0');
    free(s);
    b24_buf_free(&b);

    b24_buf_init(&b, 5);
    CHECK(b24_buf_printf(&b, "%s", "toolong") == B24_E_LIMIT);
    CHECK(b.data == NULL);
    b24_buf_free(&b);
}

/* b24_buf_reserve: one allocation, capped, content kept (issue 10: the
 * body buffer presized from Content-Length). */
void
test_buf_reserve(void)
{
    struct b24_buf b;
    char *before;
    b24_buf_init(&b, 100);
    CHECK(b24_buf_reserve(&b, 10) == B24_OK);
    CHECK(b.alloc == 11 && b.len == 0 && strcmp(b24_buf_cstr(&b), "") == 0);
    CHECK(b24_buf_append(&b, "0123456789", 10) == B24_OK);
    CHECK(b.alloc == 11); /* no reallocation: it fitted */
    CHECK(b24_buf_reserve(&b, 1000) == B24_OK);
    CHECK(b.alloc == 101); /* the cap bounds the reservation */
    before = b.data;
    CHECK(b24_buf_append(&b, "abc", 3) == B24_OK);
    CHECK(b.data == before);
    CHECK_STR(b24_buf_cstr(&b), "0123456789abc");
    CHECK(b24_buf_reserve(&b, 5) == B24_OK && b.alloc == 101); /* no shrink */
    CHECK(b24_buf_append(&b, "x", 88) == B24_E_LIMIT); /* the cap holds */
    b24_buf_free(&b);
}
