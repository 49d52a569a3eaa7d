/* b24_pipeline.c - one attempt per call; the hook points are documented in
 * b24_pipeline.h. */
#include "b24_pipeline.h"

#include <string.h>

void
b24_pipeline_init(struct b24_pipeline *p)
{
    memset(p, 0, sizeof(*p));
    p->max_attempts = 1;
}

enum b24_status
b24_pipeline_run(const struct b24_pipeline *p, struct b24_http *h,
                 const struct b24_request *req, struct b24_outcome *out)
{
    (void)p; /* limiter and retry hooks slot in here (see header) */
    return b24_http_perform(h, req, out);
}
