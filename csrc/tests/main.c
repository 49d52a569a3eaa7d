/* main.c - runs every core test file; prints "N passed, N failed". */
#include "harness.h"

int t_passed = 0, t_failed = 0;

int
main(void)
{
    test_buf();
    test_buf_reserve();
    test_url();
    test_redact();
    test_envelope();
    test_envelope_time_numbers();
    test_envelope_skim();
    test_envelope_classify_buf();
    test_envelope_tail();
    test_http();
    test_qs();
    test_list();
    test_plan();
    test_walk();
    test_limiter();
    test_limiter_ops();
    test_retry();
    test_shm();
    test_engine();
    test_redis();
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}
