/* errors.c - the one mapping from a core classification to a Python
 * exception.
 *
 * Two kinds of failure leave the core:
 *  - a status of a core function (enum b24_status: out of memory, refused
 *    input, a cap, a transport failure with no outcome): ext_raise_status()
 *    is the only place that turns one into a Python exception (it lives in
 *    the leaf status.c, so convert.c can raise without depending on this
 *    file, which encodes with convert.c);
 *  - the classification of an answer or an exchange (code, message, HTTP
 *    status, libcurl detail, maybe committed): ext_ajax_error() is the only
 *    place that builds the b24hook.AjaxError for it.  The answer rules
 *    themselves (spec §4.4) are b24_envelope_classify(), run on the wire
 *    bytes by the transport and, through answer_error(), on a decoded
 *    answer (a batch sub-answer, an AjaxResult built by hand).
 *
 * AjaxError lives in b24hook/_errors.py (which imports this module), so it
 * is looked up on first use and kept in the module state. */
#include "ext.h"

#include <string.h>

#include "b24_envelope.h"

/* Borrowed: AjaxError.create, imported once per module state. */
static PyObject *
ajax_error_create(struct mod_state *st)
{
    PyObject *mod, *cls;
    if (st->ajax_error_create != NULL)
        return st->ajax_error_create;
    mod = PyImport_ImportModule("b24hook._errors");
    if (mod == NULL)
        return NULL;
    cls = PyObject_GetAttrString(mod, "AjaxError");
    Py_DECREF(mod);
    if (cls == NULL)
        return NULL;
    st->ajax_error_create = PyObject_GetAttrString(cls, "create");
    Py_DECREF(cls);
    return st->ajax_error_create;
}

PyObject *
ext_ajax_error(struct mod_state *st, PyObject *code, PyObject *message,
               long status, PyObject *detail, int maybe_committed,
               PyObject *query)
{
    PyObject *create = ajax_error_create(st);
    PyObject *args[5], *kwnames = NULL, *original = NULL, *res = NULL;
    PyObject *ostatus = NULL, *ocode = NULL;
    if (create == NULL)
        return NULL;
    if (code == NULL || code == Py_None)
        ocode = PyUnicode_FromString("JSSDK_UNKNOWN_ERROR");
    else
        ocode = Py_NewRef(code);
    if (ocode == NULL)
        goto done;
    if (detail != NULL && detail != Py_None) {
        original = PyObject_CallOneArg(PyExc_RuntimeError, detail);
        if (original == NULL)
            goto done;
    }
    ostatus = PyLong_FromLong(status);
    if (ostatus == NULL)
        goto done;
    kwnames = Py_BuildValue("(s)", "maybe_committed");
    if (kwnames == NULL)
        goto done;
    /* create(code, status, description, original_error, request_info,
     *        maybe_committed=...) */
    args[0] = ocode;
    args[1] = ostatus;
    args[2] = message != NULL ? message : Py_None;
    args[3] = original != NULL ? original : Py_None;
    args[4] = query != NULL ? query : Py_None;
    {
        PyObject *all[6] = {args[0], args[1], args[2], args[3], args[4],
                            maybe_committed ? Py_True : Py_False};
        res = PyObject_Vectorcall(create, all, 5, kwnames);
    }
done:
    Py_XDECREF(kwnames);
    Py_XDECREF(ostatus);
    Py_XDECREF(original);
    Py_XDECREF(ocode);
    return res;
}

/* answer_error(answer, query, status=200, /) -> AjaxError | None */
static PyObject *
err_answer_error(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    struct mod_state *st = (struct mod_state *)PyModule_GetState(module);
    PyObject *answer, *query = Py_None, *err, *desc, *env = NULL;
    PyObject *code = NULL, *msg = NULL, *res = NULL;
    struct b24_outcome o;
    struct b24_buf text;
    enum b24_status rc;
    long status = 200;

    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError,
                        "answer_error(answer, query=None, status=200)");
        return NULL;
    }
    answer = args[0];
    if (nargs > 1)
        query = args[1];
    if (nargs > 2) {
        status = PyLong_AsLong(args[2]);
        if (status == -1 && PyErr_Occurred())
            return NULL;
    }
    if (!PyDict_Check(answer))
        Py_RETURN_NONE;
    err = PyDict_GetItemString(answer, "error"); /* borrowed */
    /* only an object or a non-empty string can carry an error (§4.4 A) */
    if (err == NULL ||
        !(PyDict_Check(err) ||
          (PyUnicode_Check(err) && PyUnicode_GET_LENGTH(err) > 0)))
        Py_RETURN_NONE;
    desc = PyDict_GetItemString(answer, "error_description"); /* borrowed */

    /* The members the rules read, as JSON text, classified by the same
     * code as a wire answer (the status of a 2xx: rule A). */
    env = PyDict_New();
    if (env == NULL)
        return NULL;
    if (PyDict_SetItemString(env, "error", err) < 0 ||
        (desc != NULL && PyDict_SetItemString(env, "error_description",
                                              desc) < 0)) {
        Py_DECREF(env);
        return NULL;
    }
    b24_buf_init(&text, 0);
    b24_outcome_init(&o);
    if (conv_encode(st, env, &text, 0) < 0)
        goto done;
    rc = b24_envelope_classify(&o, 200, b24_buf_cstr(&text), text.len);
    if (rc != B24_OK) {
        ext_raise_status(rc, NULL, NULL);
        goto done;
    }
    if (o.kind != B24_KIND_FAILED) {
        res = Py_NewRef(Py_None);
        goto done;
    }
    code = ext_text_or_none(o.code);
    msg = code ? ext_text_or_none(o.message) : NULL;
    if (msg != NULL)
        res = ext_ajax_error(st, code, msg, status, NULL, 0, query);
done:
    Py_XDECREF(code);
    Py_XDECREF(msg);
    Py_DECREF(env);
    b24_buf_free(&text);
    b24_outcome_clear(&o);
    return res;
}

/* outcome_error(outcome, query, /, *, is_write=False) -> AjaxError | None */
static PyObject *
err_outcome_error(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"", "", "is_write", NULL};
    struct mod_state *st = (struct mod_state *)PyModule_GetState(module);
    PyObject *outcome, *query, *code, *msg;
    long kind, status;
    int is_write = 0, maybe_sent;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O|$p:outcome_error",
                                     kwlist, st->outcome_type, &outcome,
                                     &query, &is_write))
        return NULL;
#define FIELD(f_) ext_outcome_field(outcome, (f_)) /* borrowed */
    kind = PyLong_AsLong(FIELD(OUTCOME_KIND));
    if (kind == -1 && PyErr_Occurred())
        return NULL;
    if (kind == B24_KIND_OK)
        Py_RETURN_NONE;
    status = PyLong_AsLong(FIELD(OUTCOME_STATUS));
    if (status == -1 && PyErr_Occurred())
        return NULL;
    code = FIELD(OUTCOME_CODE);
    msg = FIELD(OUTCOME_MESSAGE);
    if (kind == B24_KIND_FAILED) /* a 2xx answer: nothing was lost */
        return ext_ajax_error(st, code, msg, status, NULL, 0, query);
    maybe_sent = PyObject_IsTrue(FIELD(OUTCOME_MAYBE_SENT));
    if (maybe_sent < 0)
        return NULL;
    return ext_ajax_error(st, code, msg, status, FIELD(OUTCOME_DETAIL),
                          maybe_sent && is_write, query);
#undef FIELD
}

static PyMethodDef err_methods[] = {
    {"answer_error", (PyCFunction)(void (*)(void))err_answer_error,
     METH_FASTCALL,
     "answer_error(answer, query=None, status=200, /)\n--\n\n"
     "The AjaxError a decoded answer carries (spec 4.4 A, the core's "
     "rules), or None."},
    {"outcome_error", (PyCFunction)(void (*)(void))err_outcome_error,
     METH_VARARGS | METH_KEYWORDS,
     "outcome_error(outcome, query, /, *, is_write=False)\n--\n\n"
     "The AjaxError of a FAILED or ERROR Outcome, or None for OK."},
    {NULL, NULL, 0, NULL}};

int
errors_register(PyObject *module)
{
    return PyModule_AddFunctions(module, err_methods);
}
