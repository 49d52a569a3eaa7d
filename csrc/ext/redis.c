/* redis.c - the CPython side of the limiter's Redis backend (b24_redis.h):
 *  - the block hooks: a limiter step that reaches Redis gives up the GIL
 *    for its round trip when the calling thread holds it (the asyncio
 *    driver, the Limiter methods); taken before the limiter's mutex and
 *    given back after it, so no thread waits for the GIL holding it;
 *  - the outage notices: the core reports them with its locks held and
 *    maybe without the GIL, so they are queued here and logged by a
 *    pending call (Py_AddPendingCall, run by the main thread at its next
 *    bytecode) to the `b24hook.limiter` logger: one WARNING when sharing
 *    stops, one INFO when it resumes.
 * The backend itself is chosen in the core (b24_limiter_backend_select). */
#include "ext.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "b24_limiter_ops.h"
#include "b24_redis.h"

static void *
block_enter(void)
{
    return PyGILState_Check() ? (void *)PyEval_SaveThread() : NULL;
}

static void
block_leave(void *token)
{
    if (token != NULL)
        PyEval_RestoreThread((PyThreadState *)token);
}

/* ---- notices ----------------------------------------------------------- */

#define NOTICE_CAP 16
struct notice {
    enum b24_redis_notice kind;
    char where[160];
    char why[48];
};
static pthread_mutex_t nmu = PTHREAD_MUTEX_INITIALIZER;
static struct notice nq[NOTICE_CAP];
static int nqn, nq_scheduled;

static int
log_one(PyObject *logger, const struct notice *n)
{
    int down = n->kind == B24_REDIS_DOWN;
    PyObject *msg, *extra, *kw, *args, *meth, *r;
    msg = down ? PyUnicode_FromFormat(
                     "shared limiter: Redis at %s unreachable (%s); this "
                     "process uses its own limiter until it is back",
                     n->where, n->why)
               : PyUnicode_FromFormat(
                     "shared limiter: Redis at %s is back; sharing resumed",
                     n->where);
    if (msg == NULL)
        return -1;
    extra = Py_BuildValue("{s:s,s:{s:s,s:s}}", "b24_event",
                          down ? "limiter.shared_down" : "limiter.shared_up",
                          "b24", "where", n->where, "reason", n->why);
    kw = extra ? Py_BuildValue("{s:O}", "extra", extra) : NULL;
    args = PyTuple_Pack(1, msg);
    meth = PyObject_GetAttrString(logger, down ? "warning" : "info");
    r = (kw && args && meth) ? PyObject_Call(meth, args, kw) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(meth);
    Py_XDECREF(args);
    Py_XDECREF(kw);
    Py_XDECREF(extra);
    Py_DECREF(msg);
    return r != NULL ? 0 : -1;
}

/* The pending call: log what is queued.  A logger that raises is ignored
 * (logging is fire-and-forget, as _logging.emit). */
static int
notices_flush(void *arg)
{
    struct notice copy[NOTICE_CAP];
    PyObject *logging, *logger = NULL;
    int i, n;
    (void)arg;
    pthread_mutex_lock(&nmu);
    n = nqn;
    memcpy(copy, nq, (size_t)n * sizeof(copy[0]));
    nqn = 0;
    nq_scheduled = 0;
    pthread_mutex_unlock(&nmu);
    logging = PyImport_ImportModule("logging");
    if (logging != NULL)
        logger = PyObject_CallMethod(logging, "getLogger", "s",
                                     "b24hook.limiter");
    for (i = 0; logger != NULL && i < n; i++)
        if (log_one(logger, &copy[i]) < 0)
            PyErr_Clear();
    Py_XDECREF(logger);
    Py_XDECREF(logging);
    PyErr_Clear();
    return 0;
}

static void
on_notice(enum b24_redis_notice kind, const char *where, const char *why)
{
    pthread_mutex_lock(&nmu);
    if (nqn < NOTICE_CAP) {
        nq[nqn].kind = kind;
        snprintf(nq[nqn].where, sizeof(nq[nqn].where), "%s", where);
        snprintf(nq[nqn].why, sizeof(nq[nqn].why), "%s", why);
        nqn++;
    }
    if (!nq_scheduled && Py_AddPendingCall(notices_flush, NULL) == 0)
        nq_scheduled = 1;
    pthread_mutex_unlock(&nmu);
}

void
ext_redis_install(void)
{
    b24_limiter_set_block_hooks(block_enter, block_leave);
    b24_redis_set_notice_hook(on_notice);
}
