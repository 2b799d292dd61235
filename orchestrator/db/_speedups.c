/* The replayer's per-value loops in C: the same answers as the pure-Python code they
 * stand in for (pgoutput._tuple, values.copy_line, values.parse_copy_line), which
 * stays, is used when this did not build, and is tested to give the same output.
 *
 * These three run once per column of every replayed or copied row; in Python they
 * were most of the replayer's time (docs/PERFORMANCE.md). Nothing here knows a
 * type: values stay PostgreSQL's text, and anything but text, NULL and int is
 * handed back to Python's own encoder.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static PyObject *NULL_FIELD; /* "\\N" */

/* tuple_values(unchanged, buf, pos) -> (values, end): one pgoutput TupleData at
 * `pos`: text columns decoded from UTF-8, None for NULL, `unchanged` for an
 * unchanged TOAST value. (`unchanged` first, so that functools.partial binds it.) */
static PyObject *
tuple_values(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "tuple_values(unchanged, buf: bytes, pos: int)");
        return NULL;
    }
    PyObject *unchanged = args[0];
    const unsigned char *buf = (const unsigned char *)PyBytes_AS_STRING(args[1]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[1]);
    Py_ssize_t pos = PyLong_AsSsize_t(args[2]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    if (pos < 0 || pos + 2 > size)
        goto truncated;
    int ncols = (int16_t)((buf[pos] << 8) | buf[pos + 1]);
    pos += 2;
    if (ncols < 0)
        ncols = 0;
    PyObject *values = PyTuple_New(ncols);
    if (values == NULL)
        return NULL;
    for (int i = 0; i < ncols; i++) {
        if (pos >= size) {
            Py_DECREF(values);
            goto truncated;
        }
        unsigned char kind = buf[pos];
        PyObject *value;
        if (kind == 't') {
            if (pos + 5 > size) {
                Py_DECREF(values);
                goto truncated;
            }
            int32_t len = (int32_t)(((uint32_t)buf[pos + 1] << 24) | ((uint32_t)buf[pos + 2] << 16) |
                                    ((uint32_t)buf[pos + 3] << 8) | (uint32_t)buf[pos + 4]);
            if (len < 0 || pos + 5 + (Py_ssize_t)len > size) {
                Py_DECREF(values);
                goto truncated;
            }
            value = PyUnicode_DecodeUTF8((const char *)buf + pos + 5, len, "strict");
            if (value == NULL) {
                Py_DECREF(values);
                return NULL;
            }
            pos += 5 + len;
        } else if (kind == 'n') {
            value = Py_NewRef(Py_None);
            pos += 1;
        } else if (kind == 'u') {
            value = Py_NewRef(unchanged);
            pos += 1;
        } else {
            PyObject *ch = PyUnicode_FromOrdinal(kind);
            if (ch != NULL) {
                PyErr_Format(PyExc_ValueError, "pgoutput: unsupported column kind %R", ch);
                Py_DECREF(ch);
            }
            Py_DECREF(values);
            return NULL;
        }
        PyTuple_SET_ITEM(values, i, value);
    }
    return Py_BuildValue("(Nn)", values, pos);

truncated:
    PyErr_SetString(PyExc_ValueError, "pgoutput: the message ends inside a row");
    return NULL;
}

static int
is_special(Py_UCS4 ch)
{
    return ch == '\\' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* One text field of COPY's text format: backslash, tab, newline and carriage
 * return escaped; the string itself when it has none (the common case). */
static PyObject *
text_field(PyObject *value)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(value);
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    Py_ssize_t specials = 0;
    for (Py_ssize_t i = 0; i < len; i++)
        specials += is_special(PyUnicode_READ(kind, data, i));
    if (specials == 0)
        return Py_NewRef(value);
    PyObject *out = PyUnicode_New(len + specials, PyUnicode_MAX_CHAR_VALUE(value));
    if (out == NULL)
        return NULL;
    int okind = PyUnicode_KIND(out);
    void *odata = PyUnicode_DATA(out);
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (!is_special(ch)) {
            PyUnicode_WRITE(okind, odata, o++, ch);
            continue;
        }
        PyUnicode_WRITE(okind, odata, o++, '\\');
        PyUnicode_WRITE(okind, odata, o++, ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : '\\');
    }
    return out;
}

/* copy_line(field, values) -> one line of COPY's text format, newline included.
 * Text and NULL are encoded here, an exact int by str(); any other value by
 * `field` (values.copy_field), which must return the field already escaped. */
static PyObject *
copy_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "copy_line(field, values)");
        return NULL;
    }
    PyObject *field = args[0];
    PyObject *seq = PySequence_Fast(args[1], "copy_line: values must be a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *parts = PyTuple_New(n);
    if (parts == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    Py_ssize_t total = n > 0 ? n : 1; /* the tabs between fields, and the newline */
    Py_UCS4 maxchar = 127;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        PyObject *part;
        if (v == Py_None)
            part = Py_NewRef(NULL_FIELD);
        else if (PyUnicode_CheckExact(v))
            part = text_field(v);
        else if (PyLong_CheckExact(v))
            part = PyObject_Str(v);
        else {
            part = PyObject_CallOneArg(field, v);
            if (part != NULL && !PyUnicode_Check(part)) {
                PyErr_Format(PyExc_TypeError, "copy_line: field() returned %s, not str",
                             Py_TYPE(part)->tp_name);
                Py_CLEAR(part);
            }
        }
        if (part == NULL) {
            Py_DECREF(parts);
            Py_DECREF(seq);
            return NULL;
        }
        total += PyUnicode_GET_LENGTH(part);
        Py_UCS4 m = PyUnicode_MAX_CHAR_VALUE(part);
        if (m > maxchar)
            maxchar = m;
        PyTuple_SET_ITEM(parts, i, part);
    }
    Py_DECREF(seq);
    PyObject *out = PyUnicode_New(total, maxchar);
    if (out == NULL) {
        Py_DECREF(parts);
        return NULL;
    }
    int kind = PyUnicode_KIND(out);
    void *data = PyUnicode_DATA(out);
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i)
            PyUnicode_WRITE(kind, data, o++, '\t');
        PyObject *part = PyTuple_GET_ITEM(parts, i);
        Py_ssize_t len = PyUnicode_GET_LENGTH(part);
        if (PyUnicode_CopyCharacters(out, o, part, 0, len) < 0) {
            Py_DECREF(parts);
            Py_DECREF(out);
            return NULL;
        }
        o += len;
    }
    PyUnicode_WRITE(kind, data, o, '\n');
    Py_DECREF(parts);
    return out;
}

/* One field of a COPY text line, unescaped, as values._unescape does it: the
 * escapes COPY TO writes (\\ \t \n \r \b \f \v and \ooo octal); any other backslash
 * is kept as it is. */
static PyObject *
unescape(PyObject *line, Py_ssize_t start, Py_ssize_t end)
{
    int kind = PyUnicode_KIND(line);
    const void *data = PyUnicode_DATA(line);
    if (end - start == 2 && PyUnicode_READ(kind, data, start) == '\\' &&
        PyUnicode_READ(kind, data, start + 1) == 'N')
        return Py_NewRef(Py_None);
    Py_UCS4 *buf = PyMem_Malloc(sizeof(Py_UCS4) * (end - start + 1));
    if (buf == NULL)
        return PyErr_NoMemory();
    Py_ssize_t o = 0;
    Py_ssize_t i = start;
    while (i < end) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch == '\\' && i + 1 < end) {
            Py_UCS4 nxt = PyUnicode_READ(kind, data, i + 1);
            const char *simple = strchr("\\tnrbfv", (int)nxt);
            if (nxt != 0 && nxt < 128 && simple != NULL) {
                static const Py_UCS4 to[] = {'\\', '\t', '\n', '\r', '\b', '\f', '\v'};
                buf[o++] = to[simple - "\\tnrbfv"];
                i += 2;
                continue;
            }
            if (nxt >= '0' && nxt <= '7') {
                Py_UCS4 code = 0;
                Py_ssize_t j = i + 1;
                while (j < end && j < i + 4) {
                    Py_UCS4 d = PyUnicode_READ(kind, data, j);
                    if (d < '0' || d > '7')
                        break;
                    code = code * 8 + (d - '0');
                    j++;
                }
                buf[o++] = code;
                i = j;
                continue;
            }
            if (Py_UNICODE_ISDIGIT(nxt)) {
                PyMem_Free(buf);
                PyErr_SetString(PyExc_ValueError, "COPY text: a backslash before a digit that is not octal");
                return NULL;
            }
        }
        buf[o++] = ch;
        i++;
    }
    PyObject *out = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, o);
    PyMem_Free(buf);
    return out;
}

/* parse_copy_line(line) -> the fields of one COPY text line, unescaped, None for \N. */
static PyObject *
parse_copy_line(PyObject *self, PyObject *line)
{
    if (!PyUnicode_Check(line)) {
        PyErr_SetString(PyExc_TypeError, "parse_copy_line(line: str)");
        return NULL;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(line);
    int kind = PyUnicode_KIND(line);
    const void *data = PyUnicode_DATA(line);
    if (len && PyUnicode_READ(kind, data, len - 1) == '\n')
        len--;
    PyObject *fields = PyList_New(0);
    if (fields == NULL)
        return NULL;
    Py_ssize_t start = 0;
    int escaped = 0;
    for (Py_ssize_t i = 0; i <= len; i++) {
        Py_UCS4 ch = i < len ? PyUnicode_READ(kind, data, i) : '\t';
        if (ch == '\\') {
            escaped = 1;
            continue;
        }
        if (ch != '\t')
            continue;
        PyObject *f = escaped ? unescape(line, start, i) : PyUnicode_Substring(line, start, i);
        if (f == NULL || PyList_Append(fields, f) < 0) {
            Py_XDECREF(f);
            Py_DECREF(fields);
            return NULL;
        }
        Py_DECREF(f);
        start = i + 1;
        escaped = 0;
    }
    return fields;
}

static PyMethodDef methods[] = {
    {"tuple_values", (PyCFunction)(void (*)(void))tuple_values, METH_FASTCALL,
     "One pgoutput TupleData: (values, end)."},
    {"copy_line", (PyCFunction)(void (*)(void))copy_line, METH_FASTCALL,
     "One COPY text line of values, newline included."},
    {"parse_copy_line", parse_copy_line, METH_O, "The fields of one COPY text line."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "greenswap's per-value loops in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    NULL_FIELD = PyUnicode_InternFromString("\\N");
    if (NULL_FIELD == NULL)
        return NULL;
    return PyModule_Create(&module);
}
