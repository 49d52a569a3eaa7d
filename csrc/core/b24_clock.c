/* b24_clock.c - the limiter's clocks and its JS rounding: the leaf that
 * every part of the limiter (b24_limiter.c, b24_rate.c, b24_operating.c,
 * b24_metrics.c) uses and that uses none of them.  Declared in
 * b24_limiter.h. */
#include <math.h>
#include <time.h>

#include "b24_limiter.h"

double
b24_round2(double x)
{
    return floor(x * 100.0 + 0.5) / 100.0;
}

double
b24_clock_wall_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double
b24_clock_mono_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
