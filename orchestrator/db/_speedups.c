/* The replayer's per-value loops in C: the same answers as the pure-Python code they
 * stand in for (pgoutput._tuple, values.copy_line, values.parse_copy_line,
 * stream._add_text), which stays, is used when this did not build, and is tested to
 * give the same output.
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

/* One pgoutput TupleData at *pos of buf: a tuple of text (decoded from UTF-8), None
 * for NULL, `unchanged` for an unchanged TOAST value; *pos moves past it. NULL with
 * an exception set on a malformed or cut-short message. */
static PyObject *
parse_tuple(const unsigned char *buf, Py_ssize_t size, Py_ssize_t *at, PyObject *unchanged)
{
    Py_ssize_t pos = *at;
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
    *at = pos;
    return values;

truncated:
    PyErr_SetString(PyExc_ValueError, "pgoutput: the message ends inside a row");
    return NULL;
}

/* tuple_values(unchanged, buf, pos) -> (values, end): parse_tuple for Python
 * (pgoutput._tuple). `unchanged` first, so that functools.partial binds it. */
static PyObject *
tuple_values(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "tuple_values(unchanged, buf: bytes, pos: int)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[2]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    PyObject *values = parse_tuple((const unsigned char *)PyBytes_AS_STRING(args[1]),
                                   PyBytes_GET_SIZE(args[1]), &pos, args[0]);
    if (values == NULL)
        return NULL;
    return Py_BuildValue("(Nn)", values, pos);
}

/* The entity of a row of `table`: (table, key), each key value decoded by its
 * decoder as the table's row decoder does (str kept, int parsed here, any other
 * called). */
static PyObject *
entity_of(PyObject *table, PyObject *values, PyObject *key_at, PyObject *decoders)
{
    Py_ssize_t n = PyTuple_GET_SIZE(key_at);
    PyObject *key = PyTuple_New(n);
    if (key == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(key_at, i));
        if (at < 0 || at >= PyTuple_GET_SIZE(values)) {
            Py_DECREF(key);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "pgoutput: a key column past the row's end");
            return NULL;
        }
        PyObject *raw = PyTuple_GET_ITEM(values, at);
        PyObject *dec = PyTuple_GET_ITEM(decoders, i);
        PyObject *value;
        if (dec == (PyObject *)&PyUnicode_Type)
            value = Py_NewRef(raw);
        else if (dec == (PyObject *)&PyLong_Type && PyUnicode_CheckExact(raw))
            value = PyLong_FromUnicodeObject(raw, 10);
        else
            value = PyObject_CallOneArg(dec, raw);
        if (value == NULL) {
            Py_DECREF(key);
            return NULL;
        }
        PyTuple_SET_ITEM(key, i, value);
    }
    PyObject *entity = PyTuple_Pack(2, table, key);
    Py_DECREF(key);
    return entity;
}

static int
holds(PyObject *values, PyObject *item)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(values); i++)
        if (PyTuple_GET_ITEM(values, i) == item)
            return 1;
    return 0;
}

/* One change of a kept-text table into finals and fresh, as stream._add_text does.
 * 0 on success, -1 with an exception set. */
static int
collapse_one(const unsigned char *buf, Py_ssize_t size, PyObject *how, PyObject *finals,
             PyObject *fresh, PyObject *unchanged, PyObject *fetch)
{
    PyObject *table = PyTuple_GET_ITEM(how, 0), *key_at = PyTuple_GET_ITEM(how, 1);
    PyObject *decoders = PyTuple_GET_ITEM(how, 2);
    unsigned char kind = buf[0];
    Py_ssize_t pos = 5;
    PyObject *old = NULL, *new = NULL, *entity = NULL, *old_entity = NULL;
    int rc = -1;
    if (size < 6) {
        PyErr_SetString(PyExc_ValueError, "pgoutput: the message ends inside a row");
        return -1;
    }
    if (kind == 'D' || (kind == 'U' && (buf[5] == 'K' || buf[5] == 'O'))) {
        pos = 6;
        old = parse_tuple(buf, size, &pos, unchanged);
        if (old == NULL)
            return -1;
        if (kind == 'D') {
            entity = entity_of(table, old, key_at, decoders);
            rc = entity == NULL ? -1 : PyDict_SetItem(finals, entity, Py_None);
            goto done;
        }
    }
    if (pos >= size || buf[pos] != 'N') {
        PyErr_SetString(PyExc_ValueError, "pgoutput: a change without its new row");
        goto done;
    }
    pos += 1;
    new = parse_tuple(buf, size, &pos, unchanged);
    if (new == NULL || (entity = entity_of(table, new, key_at, decoders)) == NULL)
        goto done;
    if (kind == 'I') {
        int seen = PyDict_Contains(finals, entity);
        if (seen < 0 || (!seen && PySet_Add(fresh, entity) < 0))
            goto done;
    } else if (old != NULL) {
        if ((old_entity = entity_of(table, old, key_at, decoders)) == NULL)
            goto done;
        int moved = PyObject_RichCompareBool(old_entity, entity, Py_NE);
        /* the key changed: the old entity is gone */
        if (moved < 0 || (moved && PyDict_SetItem(finals, old_entity, Py_None) < 0))
            goto done;
    }
    rc = PyDict_SetItem(finals, entity, holds(new, unchanged) ? fetch : new);
done:
    Py_XDECREF(old);
    Py_XDECREF(new);
    Py_XDECREF(entity);
    Py_XDECREF(old_entity);
    return rc;
}

/* collapse_text(changes, start, tables, finals, fresh, unchanged, fetch) -> end
 * changes: one transaction's pgoutput change messages (bytes), in order. From
 * `start`, each insert, update or delete of a relation in `tables` ({oid: (table,
 * key columns' places, their decoders)}: the tables whose rows stay text) goes into
 * finals and fresh as stream._add_text would put it. Stops at the first change it
 * leaves to Python (another table's, a truncate) and returns its index, or
 * len(changes). */
static PyObject *
collapse_text(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7 || !PyList_Check(args[0]) || !PyDict_Check(args[2]) ||
        !PyDict_Check(args[3]) || !PySet_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "collapse_text(changes: list, start: int, tables: dict,"
                                         " finals: dict, fresh: set, unchanged, fetch)");
        return NULL;
    }
    PyObject *changes = args[0], *tables = args[2], *finals = args[3], *fresh = args[4];
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    for (; i < PyList_GET_SIZE(changes); i++) {
        PyObject *msg = PyList_GET_ITEM(changes, i);
        if (!PyBytes_Check(msg) || PyBytes_GET_SIZE(msg) < 5)
            break;
        const unsigned char *buf = (const unsigned char *)PyBytes_AS_STRING(msg);
        if (buf[0] != 'I' && buf[0] != 'U' && buf[0] != 'D')
            break;
        unsigned long oid = ((unsigned long)buf[1] << 24) | ((unsigned long)buf[2] << 16) |
                            ((unsigned long)buf[3] << 8) | (unsigned long)buf[4];
        PyObject *key = PyLong_FromUnsignedLong(oid);
        if (key == NULL)
            return NULL;
        PyObject *how = PyDict_GetItemWithError(tables, key);
        Py_DECREF(key);
        if (how == NULL) {
            if (PyErr_Occurred())
                return NULL;
            break;
        }
        if (!PyTuple_Check(how) || PyTuple_GET_SIZE(how) != 3) {
            PyErr_SetString(PyExc_TypeError, "collapse_text: tables' values are (table, places, decoders)");
            return NULL;
        }
        if (collapse_one(buf, PyBytes_GET_SIZE(msg), how, finals, fresh, args[5], args[6]) < 0)
            return NULL;
    }
    return PyLong_FromSsize_t(i);
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
    {"collapse_text", (PyCFunction)(void (*)(void))collapse_text, METH_FASTCALL,
     "A transaction's changes of kept-text tables, collapsed per entity."},
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
