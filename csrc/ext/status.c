/* status.c - the leaf of the extension: core values into Python, using
 * nothing else of csrc/ext (convert.c, errors.c and outcome.c all depend
 * on it; it depends on none of them).
 *  - ext_raise_status(): a core status (enum b24_status) into its Python
 *    exception, the only place that maps one (see errors.c for the other
 *    mapping, an answer's classification into AjaxError);
 *  - ext_text_or_none(): a core C text into str, or None. */
#include "ext.h"

#include <string.h>

PyObject *
ext_raise_status(enum b24_status rc, const char *message, PyObject *refused)
{
    switch (rc) {
    case B24_OK:
        PyErr_SetString(PyExc_SystemError, "core status B24_OK raised");
        break;
    case B24_E_NOMEM:
        if (message != NULL && message[0] != '\0')
            PyErr_SetString(PyExc_MemoryError, message);
        else
            PyErr_NoMemory();
        break;
    case B24_E_USAGE:
    case B24_E_JSON:
    case B24_E_LIMIT:
        PyErr_SetString(refused != NULL ? refused : PyExc_ValueError,
                        message != NULL && message[0] != '\0'
                            ? message
                            : b24_status_name(rc));
        break;
    case B24_E_SYSTEM:
        PyErr_SetString(PyExc_OSError, message != NULL && message[0] != '\0'
                                           ? message
                                           : b24_status_name(rc));
        break;
    default:
        if (message != NULL && message[0] != '\0')
            PyErr_Format(PyExc_RuntimeError, "%s (%s)", message,
                         b24_status_name(rc));
        else
            PyErr_Format(PyExc_RuntimeError, "core failure (%s)",
                         b24_status_name(rc));
        break;
    }
    return NULL;
}

PyObject *
ext_text_or_none(const char *s)
{
    if (s == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}
