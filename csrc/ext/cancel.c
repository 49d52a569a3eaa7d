/* cancel.c - the CancelToken heap type: an atomic flag bound to OS
 * threads through a C thread-local; Transport.call() takes the calling
 * thread's token at start and polls it without the GIL (docs/decisions.md,
 * "Cancelling the export's shard threads"). */
#include "ext.h"

#include <stdatomic.h>

typedef struct {
    PyObject_HEAD
    atomic_int cancelled;
} CancelObject;

/* The token bound to this OS thread (a strong reference), or NULL. */
static _Thread_local CancelObject *tl_cancel;

static PyObject *
cancel_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    CancelObject *self;
    if (PyTuple_GET_SIZE(args) != 0 || (kwds && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "CancelToken() takes no arguments");
        return NULL;
    }
    self = (CancelObject *)type->tp_alloc(type, 0);
    if (self != NULL)
        atomic_init(&self->cancelled, 0);
    return (PyObject *)self;
}

static void
cancel_tp_dealloc(CancelObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
cancel_cancel(CancelObject *self, PyObject *Py_UNUSED(ignored))
{
    atomic_store(&self->cancelled, 1);
    Py_RETURN_NONE;
}

static PyObject *
cancel_bind(CancelObject *self, PyObject *Py_UNUSED(ignored))
{
    CancelObject *old = tl_cancel;
    tl_cancel = (CancelObject *)Py_NewRef(self);
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyObject *
cancel_unbind(CancelObject *self, PyObject *Py_UNUSED(ignored))
{
    if (tl_cancel == self) {
        tl_cancel = NULL;
        Py_DECREF(self);
    }
    Py_RETURN_NONE;
}

static PyObject *
cancel_get_cancelled(CancelObject *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(atomic_load(&self->cancelled));
}

static PyMethodDef cancel_methods[] = {
    {"cancel", (PyCFunction)cancel_cancel, METH_NOARGS,
     "cancel($self, /)\n--\n\nStop every call of the threads this token is "
     "bound to\n(within a few tens of ms; any thread may cancel)."},
    {"bind", (PyCFunction)cancel_bind, METH_NOARGS,
     "bind($self, /)\n--\n\nBind the token to the calling thread (replaces "
     "its previous one)."},
    {"unbind", (PyCFunction)cancel_unbind, METH_NOARGS,
     "unbind($self, /)\n--\n\nUnbind it from the calling thread (if bound "
     "there)."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef cancel_getset[] = {
    {"cancelled", (getter)cancel_get_cancelled, NULL, "True after cancel().",
     NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot cancel_slots[] = {
    {Py_tp_doc, "CancelToken()\n--\n\nA flag that Transport.call() polls "
                "in its waits and transfers\n(no GIL needed): once cancelled, "
                "a call on a thread the token\nis bound to stops and raises "
                "CancelledError."},
    {Py_tp_new, cancel_tp_new},
    {Py_tp_dealloc, cancel_tp_dealloc},
    {Py_tp_methods, cancel_methods},
    {Py_tp_getset, cancel_getset},
    {0, NULL}};

PyType_Spec cancel_spec = {
    .name = "b24hook._core.CancelToken",
    .basicsize = sizeof(CancelObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = cancel_slots,
};

PyObject *
cancel_bound_token(void)
{
    return Py_XNewRef((PyObject *)tl_cancel);
}

int
cancel_token_is_set(PyObject *token)
{
    return token != NULL && atomic_load(&((CancelObject *)token)->cancelled);
}

