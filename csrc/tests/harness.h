/* harness.h - a tiny test harness for the core (no Python). */
#ifndef B24_TEST_HARNESS_H
#define B24_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

extern int t_passed, t_failed;

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (cond) {                                                       \
            t_passed++;                                                   \
        } else {                                                          \
            t_failed++;                                                   \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                 \
    } while (0)

#define CHECK_STR(a, b)                                                   \
    do {                                                                  \
        const char *a_ = (a), *b_ = (b);                                  \
        if (a_ != NULL && b_ != NULL && strcmp(a_, b_) == 0) {            \
            t_passed++;                                                   \
        } else {                                                          \
            t_failed++;                                                   \
            fprintf(stderr, "FAIL %s:%d: %s == %s\n  got:  %s\n  want: %s\n", \
                    __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)",       \
                    b_ ? b_ : "(null)");                                  \
        }                                                                 \
    } while (0)

void test_buf(void);
void test_buf_reserve(void);
void test_url(void);
void test_redact(void);
void test_envelope(void);
void test_envelope_time_numbers(void);
void test_envelope_skim(void);
void test_envelope_classify_buf(void);
void test_envelope_tail(void);
void test_http(void);
void test_qs(void);
void test_list(void);
void test_plan(void);
void test_walk(void);
void test_limiter(void);
void test_engine(void);
void test_limiter_ops(void);
void test_retry(void);
void test_shm(void);
void test_redis(void);

#endif
