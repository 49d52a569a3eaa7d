/* aio.c - the AioMulti type: the engine's call machines driven by an
 * asyncio event loop (issue 11), the engine's fourth driver.
 *
 *     m = AioMulti(transport, limiter, loop)
 *     fut = m.start(method, params, request_id, ...)   # as Transport.call
 *     outcome = await fut          # on CancelledError: m.cancel(fut)
 *     m.close()
 *
 * One libcurl multi handle per AioMulti, run through its socket interface
 * on the loop: CURLMOPT_SOCKETFUNCTION registers the sockets with
 * loop.add_reader / add_writer, CURLMOPT_TIMERFUNCTION is one
 * loop.call_later; their callbacks (_io, _timeout) call
 * curl_multi_socket_action.  A SEND step of a call is a transfer on that
 * multi (b24_flight_advance of b24_drive.c), a WAIT step a loop timer
 * (_wake), DONE resolves the call's future with an Outcome.  Every rule is
 * the engine's; every callback does bounded, non-blocking work with the
 * GIL held (nothing here releases it), so the engine's events go to
 * on_event directly (ext_event_held).
 *
 * Used by the loop's thread only.  While the driver is inside curl or the
 * engine (depth > 0), start/cancel/close refuse to run (an on_event that
 * calls back into its own driver). */
#include "ext.h"

#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "b24_drive.h"
#include "b24_limiter.h"

struct aio_item {
    struct b24_flight f;
    struct aio_item *prev, *next; /* the driver's calls */
    PyObject *fut;      /* owned: the asyncio future of the call */
    PyObject *on_event; /* owned or NULL */
    int details;
    PyObject *hold;     /* owned: keeps batch names alive */
    struct b24_call_methods names;
    PyObject *wake;     /* owned: the loop TimerHandle of a WAIT, or NULL */
    PyObject *exc;      /* owned: a BaseException of on_event, or NULL */
};

struct aio_sock {
    curl_socket_t fd;
    int reading, writing; /* registered with the loop */
    int pending;          /* CURL_CSELECT_* put off to a later slice */
    struct aio_sock *prev, *next;
};

/* The work of one loop iteration: past this, a ready socket or curl's
 * timer is put off to the next iteration (_slice), so that many answers
 * arriving at once do not hold the loop for the sum of their work. */
#define B24_AIO_SLICE_MS 4.0

typedef struct {
    PyObject_HEAD
    struct mod_state *state;
    PyObject *transport;   /* owned */
    PyObject *limiter;     /* owned */
    PyObject *loop;        /* owned */
    struct b24_http *http; /* a reference, for the object's lifetime */
    CURLM *cm;             /* NULL once closed */
    struct aio_item *items;
    size_t nitems, sending, peak;
    struct aio_sock *socks;
    size_t nsocks;
    PyObject *timer;       /* owned: curl's loop TimerHandle, or NULL */
    double timer_due;      /* monotonic ms the timer fires (when set) */
    int depth;             /* inside curl or the engine */
    double slice_t0;       /* monotonic ms the open slice began, or < 0 */
    int timeout_pending;   /* curl's timer fired in a full slice */
    int closing;           /* curl's callbacks are ignored */
    PyObject *fail;        /* owned: a loop call of a callback failed */
    pid_t pid;             /* the process that made it (see aio_shut) */
} AioObject;

/* ---------------------------------------------------------------- helpers */

/* The pending exception, normalised, as an owned object (clears it). */
static PyObject *
take_exception(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (v != NULL && tb != NULL)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

/* A loop call of one of curl's callbacks failed: keep the first failure
 * (settle() fails every call with it). */
static void
note_failure(AioObject *self)
{
    if (self->fail == NULL)
        self->fail = take_exception();
    else
        PyErr_Clear();
}

/* handle.cancel() of a TimerHandle, dropped; errors swallowed. */
static void
drop_handle(PyObject **h)
{
    PyObject *r;
    if (*h == NULL)
        return;
    r = PyObject_CallMethod(*h, "cancel", NULL);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    Py_CLEAR(*h);
}

/* loop.call_later(ms / 1000, self.<name>, arg or nothing): new reference
 * to the TimerHandle, or NULL with an exception set. */
static PyObject *
call_later(AioObject *self, double ms, const char *name, PyObject *arg)
{
    PyObject *cb, *r;
    cb = PyObject_GetAttrString((PyObject *)self, name);
    if (cb == NULL)
        return NULL;
    if (ms < 0)
        ms = 0;
    r = arg != NULL ? PyObject_CallMethod(self->loop, "call_later", "dOO",
                                          ms / 1000.0, cb, arg)
                    : PyObject_CallMethod(self->loop, "call_later", "dO",
                                          ms / 1000.0, cb);
    Py_DECREF(cb);
    return r;
}

static void
item_event(void *ctx, const struct b24_event *ev)
{
    struct aio_item *it = ctx;
    if (it->exc != NULL)
        return;
    if (ext_event_held(it->on_event, it->details, ev) < 0)
        it->exc = take_exception();
}

static void
item_unlink(AioObject *self, struct aio_item *it)
{
    if (it->prev != NULL)
        it->prev->next = it->next;
    else
        self->items = it->next;
    if (it->next != NULL)
        it->next->prev = it->prev;
    it->prev = it->next = NULL;
    self->nitems--;
}

/* Stop the flight (transfer removed, machine abandoned), drop its timer,
 * unlink and free the item.  The future is left as it is. */
static void
item_drop(AioObject *self, struct aio_item *it)
{
    if (it->f.sending)
        self->sending--;
    if (self->cm != NULL)
        b24_flight_stop(&it->f, self->cm);
    drop_handle(&it->wake);
    item_unlink(self, it);
    Py_XDECREF(it->fut);
    Py_XDECREF(it->on_event);
    Py_XDECREF(it->exc);
    ext_batch_names_free(&it->names, it->hold);
    b24_flight_clear(&it->f);
    PyMem_Free(it);
}

/* fut.done() as 0/1; an error counts as done (nothing more is set). */
static int
fut_done(PyObject *fut)
{
    PyObject *r = PyObject_CallMethod(fut, "done", NULL);
    int done;
    if (r == NULL) {
        PyErr_Clear();
        return 1;
    }
    done = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (done < 0) {
        PyErr_Clear();
        return 1;
    }
    return done;
}

/* fut.set_result(value) or fut.set_exception(exc) unless it is done
 * (cancelled); errors swallowed: the future is the caller's. */
static void
fut_settle(PyObject *fut, const char *how, PyObject *value)
{
    PyObject *r, *name;
    if (fut_done(fut))
        return;
    name = PyUnicode_FromString(how);
    /* one argument (an Outcome is a tuple: never a format's "O") */
    r = name != NULL ? PyObject_CallMethodOneArg(fut, name, value) : NULL;
    Py_XDECREF(name);
    if (r == NULL)
        PyErr_WriteUnraisable(fut);
    Py_XDECREF(r);
}

/* Fail the call with `exc` (borrowed) and drop it. */
static void
item_fail(AioObject *self, struct aio_item *it, PyObject *exc)
{
    fut_settle(it->fut, "set_exception", exc);
    item_drop(self, it);
}

/* The call is done: its future gets the Outcome (or the status's error). */
static void
item_resolve(AioObject *self, struct aio_item *it)
{
    PyObject *o = it->f.status == B24_OK
                      ? ext_outcome_new(self->state, &it->f.out)
                      : ext_raise_status(it->f.status, "transport failure",
                                         NULL);
    if (o != NULL) {
        fut_settle(it->fut, "set_result", o);
        Py_DECREF(o);
        item_drop(self, it);
        return;
    }
    o = take_exception();
    item_fail(self, it, o);
    Py_XDECREF(o);
}

/* What the flight does next, after a step of its machine. */
static void
item_next(AioObject *self, struct aio_item *it, enum b24_flight_next next,
          double wait_ms)
{
    if (next == B24_FLIGHT_SENDING && ++self->sending > self->peak)
        self->peak = self->sending;
    if (it->exc != NULL) { /* on_event raised a BaseException */
        PyObject *exc = it->exc;
        it->exc = NULL;
        item_fail(self, it, exc);
        Py_DECREF(exc);
        return;
    }
    switch (next) {
    case B24_FLIGHT_SENDING:
        return;
    case B24_FLIGHT_WAITING:
        it->wake = call_later(self, wait_ms, "_wake", it->fut);
        if (it->wake == NULL) {
            PyObject *exc = take_exception();
            item_fail(self, it, exc);
            Py_XDECREF(exc);
        }
        return;
    case B24_FLIGHT_DONE:
        item_resolve(self, it);
        return;
    }
}

static struct aio_item *
item_of(AioObject *self, PyObject *fut)
{
    struct aio_item *it;
    for (it = self->items; it != NULL; it = it->next)
        if (it->fut == fut)
            return it;
    return NULL;
}

/* The transfers curl has finished: each flight's next step. */
static void
drain(AioObject *self)
{
    CURLMsg *msg;
    int left = 0;
    while (self->cm != NULL &&
           (msg = curl_multi_info_read(self->cm, &left)) != NULL) {
        struct b24_flight *f = NULL;
        CURLcode rc = msg->data.result;
        enum b24_flight_next next;
        double wait_ms = 0;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        if (f == NULL)
            continue;
        self->sending--;
        next = b24_flight_transfer_done(f, self->http, self->cm, (int)rc,
                                        &wait_ms);
        item_next(self, f->user, next, wait_ms);
    }
}

/* A loop call of curl's callbacks failed: no call can go on (its socket
 * or timer is not watched); every call fails with that error. */
static void
settle(AioObject *self)
{
    PyObject *exc = self->fail;
    if (exc == NULL)
        return;
    self->fail = NULL;
    self->depth++;
    while (self->items != NULL)
        item_fail(self, self->items, exc);
    self->depth--;
    Py_DECREF(exc);
}

/* The socket curl watches as `fd`, or NULL. */
static struct aio_sock *
sock_of(AioObject *self, curl_socket_t fd)
{
    struct aio_sock *k;
    for (k = self->socks; k != NULL; k = k->next)
        if (k->fd == fd)
            return k;
    return NULL;
}

/* Nonzero when this loop iteration's slice of work is used up.  The first
 * work of an iteration opens a slice and asks the loop for _slice at the
 * next one (which closes it and runs what was put off). */
static int
slice_full(AioObject *self)
{
    double now = b24_clock_mono_ms(NULL);
    PyObject *cb, *h;
    if (self->slice_t0 >= 0)
        return now - self->slice_t0 > B24_AIO_SLICE_MS;
    cb = PyObject_GetAttrString((PyObject *)self, "_slice");
    h = cb != NULL ? PyObject_CallMethod(self->loop, "call_soon", "O", cb)
                   : NULL;
    Py_XDECREF(cb);
    if (h == NULL) {
        note_failure(self);
        return 0; /* the work is done now rather than lost */
    }
    Py_DECREF(h);
    self->slice_t0 = now;
    return 0;
}

/* One socket_action and the transfers it finished. */
static void
act(AioObject *self, curl_socket_t fd, int flags)
{
    int running = 0;
    self->depth++;
    curl_multi_socket_action(self->cm, fd, flags, &running);
    drain(self);
    self->depth--;
}

/* ------------------------------------------------------ curl's callbacks */

/* Register or drop one interest (reader or writer) of k with the loop. */
static int
set_interest(AioObject *self, struct aio_sock *k, int *have, int want,
             const char *add, const char *remove, int flag)
{
    PyObject *r;
    if (*have == want)
        return 0;
    if (want) {
        PyObject *cb = PyObject_GetAttrString((PyObject *)self, "_io");
        if (cb == NULL)
            return -1;
        r = PyObject_CallMethod(self->loop, add, "iOii", (int)k->fd, cb,
                                (int)k->fd, flag);
        Py_DECREF(cb);
    } else {
        r = PyObject_CallMethod(self->loop, remove, "i", (int)k->fd);
    }
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    *have = want;
    return 0;
}

static int
on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    AioObject *self = userp;
    struct aio_sock *k = socketp;
    int rd = what == CURL_POLL_IN || what == CURL_POLL_INOUT;
    int wr = what == CURL_POLL_OUT || what == CURL_POLL_INOUT;
    (void)easy;
    if (self->closing)
        return 0;
    if (k == NULL) {
        if (what == CURL_POLL_REMOVE)
            return 0;
        k = PyMem_Calloc(1, sizeof(*k));
        if (k == NULL) {
            PyErr_NoMemory();
            note_failure(self);
            return -1;
        }
        k->fd = s;
        k->next = self->socks;
        if (self->socks != NULL)
            self->socks->prev = k;
        self->socks = k;
        self->nsocks++;
        curl_multi_assign(self->cm, s, k);
    }
    if (set_interest(self, k, &k->reading, rd, "add_reader", "remove_reader",
                     CURL_CSELECT_IN) < 0 ||
        set_interest(self, k, &k->writing, wr, "add_writer", "remove_writer",
                     CURL_CSELECT_OUT) < 0)
        note_failure(self);
    if (what == CURL_POLL_REMOVE) {
        if (k->prev != NULL)
            k->prev->next = k->next;
        else
            self->socks = k->next;
        if (k->next != NULL)
            k->next->prev = k->prev;
        self->nsocks--;
        curl_multi_assign(self->cm, s, NULL);
        PyMem_Free(k);
    }
    return 0;
}

static int
on_timer(CURLM *cm, long timeout_ms, void *userp)
{
    AioObject *self = userp;
    double now;
    (void)cm;
    if (self->closing)
        return 0;
    if (timeout_ms < 0) {
        drop_handle(&self->timer);
        return 0;
    }
    now = b24_clock_mono_ms(NULL);
    /* A timer that fires no later than the new time is kept: curl's
     * timeout action at that time runs what is due and tells the next.
     * Replacing it would let a caller that starts one call per turn of
     * the loop put it off at every turn (each start asks for 0 ms), and
     * the first connection steps of all its calls would then run in one
     * action, holding the loop for their sum. */
    if (self->timer != NULL && self->timer_due <= now + (double)timeout_ms)
        return 0;
    drop_handle(&self->timer);
    self->timer_due = now + (double)timeout_ms;
    self->timer = call_later(self, (double)timeout_ms, "_timeout", NULL);
    if (self->timer == NULL) {
        note_failure(self);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- type */

static int
check_usable(AioObject *self)
{
    if (self->cm == NULL) {
        PyErr_SetString(self->state->closed_error, "the AioMulti is closed");
        return -1;
    }
    if (self->depth > 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "an AioMulti cannot be used from its own callbacks");
        return -1;
    }
    return 0;
}

static PyObject *
aio_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"transport", "limiter", "loop", NULL};
    PyObject *t, *lim, *loop;
    AioObject *self;
    struct b24_http *http = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:AioMulti", kwlist, &t,
                                     &lim, &loop))
        return NULL;
    if (limiter_core(lim) == NULL) {
        PyErr_SetString(PyExc_TypeError, "limiter must be a Limiter");
        return NULL;
    }
    if (ext_transport_core(t, &http) < 0)
        return NULL;
    self = (AioObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->state = PyType_GetModuleState(type);
    self->transport = Py_NewRef(t);
    self->limiter = Py_NewRef(lim);
    self->loop = Py_NewRef(loop);
    self->slice_t0 = -1;
    self->pid = getpid();
    b24_http_incref(http);
    self->http = http;
    self->cm = curl_multi_init();
    if (self->cm == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    curl_multi_setopt(self->cm, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(self->cm, CURLMOPT_SOCKETDATA, (void *)self);
    curl_multi_setopt(self->cm, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(self->cm, CURLMOPT_TIMERDATA, (void *)self);
    return (PyObject *)self;
}

/* Fail every call with ClosedError, stop curl, unregister every socket
 * (GIL held; errors swallowed: closing must finish). */
static void
aio_shut(AioObject *self)
{
    PyObject *exc = NULL;
    struct aio_sock *k;
    if (self->cm == NULL)
        return;
    if (self->pid != getpid()) {
        /* a forked child's copy: the loop's selector (an epoll instance is
         * shared across fork) and curl's connections (TLS close_notify) are
         * the parent's, so neither is touched: the multi, its calls and
         * sockets are left as they are (leaked, bounded by one driver) */
        self->cm = NULL;
        self->items = NULL;
        self->socks = NULL;
        self->nsocks = 0;
        self->nitems = self->sending = 0;
        Py_CLEAR(self->timer);
        Py_CLEAR(self->fail);
        return;
    }
    self->depth++;
    if (self->items != NULL) {
        exc = PyObject_CallFunction(self->state->closed_error, "s",
                                    "the client was closed");
        if (exc == NULL)
            PyErr_Clear();
    }
    while (self->items != NULL) {
        struct aio_item *it = self->items;
        if (exc != NULL)
            fut_settle(it->fut, "set_exception", exc);
        item_drop(self, it);
    }
    Py_XDECREF(exc);
    drop_handle(&self->timer);
    /* the loop forgets the sockets before curl closes them (a closed fd
     * number may be reused at once); curl's callbacks are ignored from
     * here on, so the freed sockets are never seen again */
    self->closing = 1;
    while ((k = self->socks) != NULL) {
        int zero = 0;
        self->socks = k->next;
        self->nsocks--;
        if (set_interest(self, k, &k->reading, zero, "", "remove_reader", 0) <
                0 ||
            set_interest(self, k, &k->writing, zero, "", "remove_writer", 0) <
                0)
            PyErr_Clear();
        PyMem_Free(k);
    }
    curl_multi_cleanup(self->cm);
    self->cm = NULL;
    Py_CLEAR(self->fail);
    self->depth--;
}

static int
aio_tp_traverse(AioObject *self, visitproc visit, void *arg)
{
    struct aio_item *it;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->transport);
    Py_VISIT(self->limiter);
    Py_VISIT(self->loop);
    Py_VISIT(self->timer);
    Py_VISIT(self->fail);
    for (it = self->items; it != NULL; it = it->next) {
        Py_VISIT(it->fut);
        Py_VISIT(it->on_event);
        Py_VISIT(it->wake);
        Py_VISIT(it->exc);
        Py_VISIT(it->hold);
    }
    return 0;
}

static int
aio_tp_clear(AioObject *self)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    aio_shut(self);
    PyErr_Restore(t, v, tb);
    Py_CLEAR(self->transport);
    Py_CLEAR(self->limiter);
    Py_CLEAR(self->loop);
    return 0;
}

static void
aio_tp_dealloc(AioObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    aio_tp_clear(self);
    if (self->http != NULL) {
        b24_http_decref(self->http);
        self->http = NULL;
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
aio_start(AioObject *self, PyObject *const *args, Py_ssize_t nargs,
          PyObject *kwnames)
{
    static const char *const names[] = {
        "method", "params", "request_id", "idempotency_key", "is_write",
        "batch_methods", "on_event", "timeout", "event_details"};
    PyObject *a[9], *fut;
    struct aio_item *it;
    struct b24_http *http;
    enum b24_flight_next next;
    double wait_ms = 0;
    int is_write = 0, details = 1;

    if (parse_fast("start", args, nargs, kwnames, names, 9, 3, 3, a) < 0)
        return NULL;
    if (check_usable(self) < 0)
        return NULL;
    if (a[4] != NULL && (is_write = PyObject_IsTrue(a[4])) < 0)
        return NULL;
    if (a[8] != NULL && (details = PyObject_IsTrue(a[8])) < 0)
        return NULL;
    if (a[6] != NULL && a[6] != Py_None && !PyCallable_Check(a[6])) {
        PyErr_SetString(PyExc_TypeError, "on_event must be callable");
        return NULL;
    }
    it = PyMem_Calloc(1, sizeof(*it));
    if (it == NULL)
        return PyErr_NoMemory();
    b24_flight_init(&it->f);
    it->f.user = it;
    /* linked first, so that item_drop is the one way out */
    it->next = self->items;
    if (self->items != NULL)
        self->items->prev = it;
    self->items = it;
    self->nitems++;
    if (ext_transport_build(self->transport, a[0], a[1], a[2], a[3], a[7],
                            &it->f.req, &http) < 0 ||
        ext_batch_names(a[5], &it->names, &it->hold) < 0 ||
        (it->fut = PyObject_CallMethod(self->loop, "create_future", NULL)) ==
            NULL) {
        item_drop(self, it);
        return NULL;
    }
    if (http != self->http) {
        item_drop(self, it);
        PyErr_SetString(PyExc_RuntimeError,
                        "the transport's client changed under the AioMulti");
        return NULL;
    }
    if (a[6] != NULL && a[6] != Py_None)
        it->on_event = Py_NewRef(a[6]);
    it->details = details;
    it->f.call.limiter = limiter_core(self->limiter);
    it->f.call.method = PyUnicode_AsUTF8(a[0]); /* checked by the build */
    it->f.call.batch = it->names;
    it->f.call.is_write = is_write;
    it->f.call.idempotent = a[3] != NULL && a[3] != Py_None;
    it->f.call.on_event = item_event;
    it->f.call.ctx = it;

    fut = Py_NewRef(it->fut); /* the item may be done and gone below */
    self->depth++;
    next = b24_flight_advance(&it->f, self->http, self->cm, &wait_ms);
    item_next(self, it, next, wait_ms);
    self->depth--;
    settle(self);
    return fut;
}

static PyObject *
aio_io(AioObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long fd, flags;
    struct aio_sock *k;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_io(fd, flags)");
        return NULL;
    }
    fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    flags = PyLong_AsLong(args[1]);
    if (flags == -1 && PyErr_Occurred())
        return NULL;
    if (self->cm == NULL || (k = sock_of(self, (curl_socket_t)fd)) == NULL)
        Py_RETURN_NONE; /* a callback of a closed driver or socket */
    if (slice_full(self)) {
        k->pending |= (int)flags; /* the next slice runs it */
    } else {
        flags |= k->pending;
        k->pending = 0;
        act(self, (curl_socket_t)fd, (int)flags);
    }
    settle(self);
    Py_RETURN_NONE;
}

static PyObject *
aio_timeout(AioObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(self->timer); /* it fired */
    if (self->cm == NULL)
        Py_RETURN_NONE;
    if (slice_full(self)) {
        self->timeout_pending = 1;
    } else {
        self->timeout_pending = 0;
        act(self, CURL_SOCKET_TIMEOUT, 0);
    }
    settle(self);
    Py_RETURN_NONE;
}

/* The socket with work put off, or NULL. */
static struct aio_sock *
sock_pending(AioObject *self)
{
    struct aio_sock *k;
    for (k = self->socks; k != NULL; k = k->next)
        if (k->pending != 0)
            return k;
    return NULL;
}

/* The next loop iteration: the slice closes; the work put off runs in a
 * new one (only then: an idle driver schedules nothing). */
static PyObject *
aio_slice(AioObject *self, PyObject *Py_UNUSED(ignored))
{
    self->slice_t0 = -1;
    while (self->cm != NULL) {
        struct aio_sock *k = NULL;
        int flags;
        if (!self->timeout_pending && (k = sock_pending(self)) == NULL)
            break;
        if (slice_full(self))
            break; /* the next _slice is scheduled */
        if (self->timeout_pending) {
            self->timeout_pending = 0;
            act(self, CURL_SOCKET_TIMEOUT, 0);
            continue;
        }
        flags = k->pending;
        k->pending = 0; /* k may be gone after the action */
        act(self, k->fd, flags);
    }
    settle(self);
    Py_RETURN_NONE;
}

static PyObject *
aio_wake(AioObject *self, PyObject *fut)
{
    struct aio_item *it;
    enum b24_flight_next next;
    double wait_ms = 0;
    if (self->cm == NULL || (it = item_of(self, fut)) == NULL)
        Py_RETURN_NONE;
    Py_CLEAR(it->wake); /* it fired */
    self->depth++;
    next = b24_flight_advance(&it->f, self->http, self->cm, &wait_ms);
    item_next(self, it, next, wait_ms);
    self->depth--;
    settle(self);
    Py_RETURN_NONE;
}

static PyObject *
aio_cancel(AioObject *self, PyObject *fut)
{
    struct aio_item *it;
    PyObject *r;
    if (self->cm == NULL || (it = item_of(self, fut)) == NULL)
        Py_RETURN_FALSE;
    if (check_usable(self) < 0)
        return NULL;
    self->depth++;
    item_drop(self, it); /* the transfer removed, the machine abandoned */
    self->depth--;
    settle(self);
    r = PyObject_CallMethod(fut, "cancel", NULL);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_TRUE;
}

static PyObject *
aio_close(AioObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->depth > 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "an AioMulti cannot be closed from its own callbacks");
        return NULL;
    }
    aio_shut(self);
    Py_RETURN_NONE;
}

static PyObject *
aio_get_active(AioObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromSize_t(self->nitems);
}

static PyObject *
aio_get_sending(AioObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromSize_t(self->sending);
}

static PyObject *
aio_get_sockets(AioObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromSize_t(self->nsocks);
}

static PyObject *
aio_get_peak(AioObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromSize_t(self->peak);
}

static PyObject *
aio_get_loop(AioObject *self, void *Py_UNUSED(c))
{
    if (self->loop == NULL)
        Py_RETURN_NONE;
    return Py_NewRef(self->loop);
}

static PyObject *
aio_get_closed(AioObject *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(self->cm == NULL);
}

static PyGetSetDef aio_getset[] = {
    {"active", (getter)aio_get_active, NULL,
     "Calls started and not yet done or cancelled.", NULL},
    {"sending", (getter)aio_get_sending, NULL,
     "Exchanges running on the multi handle now.", NULL},
    {"sockets", (getter)aio_get_sockets, NULL,
     "Sockets curl asked the loop to watch now.", NULL},
    {"peak", (getter)aio_get_peak, NULL,
     "The most exchanges this AioMulti had running at once.", NULL},
    {"loop", (getter)aio_get_loop, NULL, "The event loop it runs on.", NULL},
    {"closed", (getter)aio_get_closed, NULL, "close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMethodDef aio_methods[] = {
    {"start", (PyCFunction)(void (*)(void))aio_start,
     METH_FASTCALL | METH_KEYWORDS,
     "start($self, method, params, request_id, *, idempotency_key=None, "
     "is_write=False, batch_methods=None, on_event=None, timeout=None, "
     "event_details=True)\n--\n\nStart one call (the arguments of "
     "Transport.call) on the loop; a future of its Outcome. On the "
     "awaiting task's cancellation, call cancel(future)."},
    {"cancel", (PyCFunction)aio_cancel, METH_O,
     "cancel($self, future, /)\n--\n\nStop the call of `future` (its "
     "transfer removed, its wait dropped, the machine abandoned) and cancel "
     "the future; False when it is not a running call of this driver."},
    {"close", (PyCFunction)aio_close, METH_NOARGS,
     "close($self, /)\n--\n\nFail the calls still running with ClosedError "
     "and release the multi handle. Idempotent."},
    {"_io", (PyCFunction)(void (*)(void))aio_io, METH_FASTCALL,
     "_io($self, fd, flags, /)\n--\n\nThe loop's reader/writer callback."},
    {"_timeout", (PyCFunction)aio_timeout, METH_NOARGS,
     "_timeout($self, /)\n--\n\nThe loop timer of libcurl."},
    {"_slice", (PyCFunction)aio_slice, METH_NOARGS,
     "_slice($self, /)\n--\n\nThe next loop iteration: the work put off."},
    {"_wake", (PyCFunction)aio_wake, METH_O,
     "_wake($self, future, /)\n--\n\nThe loop timer of a call's WAIT step."},
    {NULL, NULL, 0, NULL}};

static PyType_Slot aio_slots[] = {
    {Py_tp_doc, "AioMulti(transport, limiter, loop)\n--\n\n"
                "The engine's calls on an asyncio event loop: libcurl's "
                "multi socket interface on the loop's readers, writers and "
                "timers. Used from the loop's thread only."},
    {Py_tp_new, aio_tp_new},
    {Py_tp_dealloc, aio_tp_dealloc},
    {Py_tp_traverse, aio_tp_traverse},
    {Py_tp_clear, aio_tp_clear},
    {Py_tp_methods, aio_methods},
    {Py_tp_getset, aio_getset},
    {0, NULL}};

PyType_Spec aio_spec = {
    .name = "b24hook._core.AioMulti",
    .basicsize = sizeof(AioObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = aio_slots,
};

