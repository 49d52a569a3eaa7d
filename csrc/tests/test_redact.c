/* test_redact.c - spec §11.2 scrub and secret scrubbing. */
#include "b24_redact.h"
#include "harness.h"

static void
text(const char *in, const char *secret, const char *want)
{
    struct b24_buf b;
    b24_buf_init(&b, 0);
    CHECK(b24_redact_text(&b, in, strlen(in), secret, strlen(secret)) ==
          B24_OK);
    CHECK_STR(b24_buf_cstr(&b), want);
    b24_buf_free(&b);
}

static void
scrub(const char *in, const char *want)
{
    struct b24_buf b;
    b24_buf_init(&b, 0);
    CHECK(b24_redact_scrub(&b, in, strlen(in), NULL, 0) == B24_OK);
    CHECK_STR(b24_buf_cstr(&b), want);
    b24_buf_free(&b);
}

void
test_redact(void)
{
    struct b24_buf b;
    const char *extra[] = {"webhook", "X-Id"};

    scrub("crm.item.add?auth=X&fields[TITLE]=y",
          "crm.item.add?auth=***REDACTED***&fields[TITLE]=y");
    scrub("auth=abc", "auth=***REDACTED***");
    scrub("AUTH=abc&Token=t#frag", "AUTH=***REDACTED***&Token=***REDACTED***#frag");
    scrub("x?a=1&password=p;rest", "x?a=1&password=***REDACTED***;rest");
    scrub("foo=token=bar", "foo=token=bar");
    scrub("SELECT * FROM t WHERE id=5", "SELECT * FROM t WHERE id=5");
    scrub("auth[application_token]=zzz", "auth[application_token]=zzz");
    scrub("?a=1;auth=x", "?a=1;auth=x");
    scrub("no equals sign auth", "no equals sign auth");
    scrub("?auth=", "?auth=***REDACTED***");
    scrub("?authx=1&key=2", "?authx=1&key=***REDACTED***");
    scrub("&access_token=1&refresh_token=2&client_secret=3&sessid=4"
          "&signature=5&secret=6&application_token=7",
          "&access_token=***REDACTED***&refresh_token=***REDACTED***"
          "&client_secret=***REDACTED***&sessid=***REDACTED***"
          "&signature=***REDACTED***&secret=***REDACTED***"
          "&application_token=***REDACTED***");
    scrub("", "");

    b24_buf_init(&b, 0);
    CHECK(b24_redact_scrub(&b, "a?webhook=1&x-id=2&other=3", 26, extra, 2) ==
          B24_OK);
    CHECK_STR(b24_buf_cstr(&b),
              "a?webhook=***REDACTED***&x-id=***REDACTED***&other=3");
    b24_buf_reset(&b);
    CHECK(b24_redact_secret(&b, "GET /rest/1/s3cr3t/x and s3cr3t", 31,
                            "s3cr3t", 6) == B24_OK);
    CHECK_STR(b24_buf_cstr(&b),
              "GET /rest/1/***REDACTED***/x and ***REDACTED***");
    b24_buf_reset(&b);
    CHECK(b24_redact_secret(&b, "aaaa", 4, "aa", 2) == B24_OK);
    CHECK_STR(b24_buf_cstr(&b), "***REDACTED******REDACTED***");
    b24_buf_reset(&b);
    CHECK(b24_redact_secret(&b, "abc", 3, "", 0) == B24_OK);
    CHECK_STR(b24_buf_cstr(&b), "abc");
    b24_buf_reset(&b);
    CHECK(b24_redact_secret(&b, "ab", 2, "abc", 3) == B24_OK);
    CHECK_STR(b24_buf_cstr(&b), "ab");
    b24_buf_free(&b);
    /* A capped output fails cleanly. */
    b24_buf_init(&b, 8);
    CHECK(b24_redact_secret(&b, "xx secret", 9, "secret", 6) == B24_E_LIMIT);
    CHECK(b.data == NULL);
    b24_buf_free(&b);

    /* b24_redact_text: the exact secret, then any webhook path's token. */
    text("GET https://x/rest/1/abc123/crm.item.list", "",
         "GET https://x/rest/1/***REDACTED***/crm.item.list");
    text("s3c at /rest/7/s3c/x", "s3c",
         "***REDACTED*** at /rest/7/***REDACTED***/x");
    text("{\"e\":\"\\/rest\\/12\\/zz_9-x\\/m\"}", "",
         "{\"e\":\"\\/rest\\/12\\/***REDACTED***\\/m\"}");
    text("%2Frest%2F1%2Fqq%2Fm", "", "%2Frest%2F1%2F***REDACTED***%2Fm");
    text("/REST/api/5/tok", "", "/REST/api/5/***REDACTED***");
    text("/rest/1/", "", "/rest/1/");
    text("rest/1/x /rest/x/y /rest//1/z", "", "rest/1/x /rest/x/y /rest//1/z");
    text("/rest/1/a /rest/2/b", "", "/rest/1/***REDACTED*** /rest/2/***REDACTED***");
    text("", "", "");
    text("plain", "secret-longer-than-text", "plain");
}
