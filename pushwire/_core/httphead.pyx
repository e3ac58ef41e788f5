# cython: language_level=3, embedsignature=True, boundscheck=False, wraparound=False
"""The fast path of the HTTP/1.x request head parser: one C pass over a well-formed head.

Layer 1 of pushwire (``docs/architecture.md``): pure computation on bytes. Every connection starts with a head
(a WebSocket upgrade, an SSE stream, a publish), so its parse is on the path of every connect and of every
``POST``. :func:`parse_head` accepts exactly the heads that ``pushwire.protocol.http11``'s line-by-line checks
accept without error and returns None for anything else: the Python parser then runs those checks and says
precisely what is wrong. Hence no error is raised here, and the two paths are tested for agreement.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.list cimport PyList_Append
from cpython.ref cimport PyObject
from libc.string cimport memcmp

__all__ = ["parse_head"]


cdef extern from "Python.h":
    object PyUnicode_DecodeLatin1(const char* s, Py_ssize_t size, const char* errors)


# RFC 9110 5.6.2 tchar, and the field-value bytes RFC 9110 5.5 allows (HTAB, SP, VCHAR, obs-text)
cdef unsigned char _TOKEN[256]
cdef unsigned char _VALUE[256]


cdef void _init_tables() noexcept:
    cdef int c
    cdef bytes extra = b"!#$%&'*+-.^_`|~"
    for c in range(256):
        _TOKEN[c] = (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)
        _VALUE[c] = c == 9 or (32 <= c <= 126) or c >= 128
    for c in extra:
        _TOKEN[c] = 1


_init_tables()

cdef str _HTTP11 = "HTTP/1.1"
cdef str _HTTP10 = "HTTP/1.0"
#: field name as sent -> lower-cased (clients use few spellings; bounded so that junk names cannot grow it)
cdef dict _LOWER = {}
cdef Py_ssize_t _LOWER_MAX = 1024


cdef inline str _latin1(const unsigned char* p, Py_ssize_t start, Py_ssize_t end):
    return PyUnicode_DecodeLatin1(<const char*>p + start, end - start, NULL)


cdef inline str _lower(str name):
    cdef PyObject* cached = PyDict_GetItem(_LOWER, name)
    if cached is not NULL:
        return <str>cached
    lower = name.lower()
    if len(_LOWER) < _LOWER_MAX:
        PyDict_SetItem(_LOWER, name, lower)
    return lower


def parse_head(bytes head):
    """Parse a complete request head (through its blank line) that is well-formed.

    Returns:
        ``(method, target, version, items, index)``: ``items`` the ``(name, value)`` fields in order (values
        decoded as Latin-1, stripped of spaces and tabs), ``index`` lower-cased name -> list of values; or None
        when the head is not a well-formed HTTP/1.0 or HTTP/1.1 head (the caller finds out why).
    """
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(head)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(head)
    cdef Py_ssize_t i = 0, start, name_end, vs, ve
    cdef PyObject* values
    # request line: method SP target SP version CRLF
    while i < n and _TOKEN[p[i]]:
        i += 1
    if i == 0 or i >= n or p[i] != 32:
        return None
    method = _latin1(p, 0, i)
    i += 1
    start = i
    while i < n and 0x21 <= p[i] <= 0x7e:
        i += 1
    if i == start or i >= n or p[i] != 32:
        return None
    target = _latin1(p, start, i)
    i += 1
    if n - i < 10 or memcmp(p + i, b"HTTP/1.", 7) != 0 or p[i + 8] != 13 or p[i + 9] != 10:
        return None
    if p[i + 7] == 49:
        version = _HTTP11
    elif p[i + 7] == 48:
        version = _HTTP10
    else:
        return None
    i += 10
    cdef list items = []
    cdef dict index = {}
    # fields: name ":" OWS value OWS CRLF, until the blank line that must end the head
    while True:
        if i + 1 < n and p[i] == 13 and p[i + 1] == 10:
            i += 2
            break
        start = i
        while i < n and _TOKEN[p[i]]:
            i += 1
        if i == start or i >= n or p[i] != 58:
            return None
        name_end = i
        i += 1
        vs = i
        while i < n and _VALUE[p[i]]:
            i += 1
        if i + 1 >= n or p[i] != 13 or p[i + 1] != 10:
            return None
        ve = i
        i += 2
        while vs < ve and (p[vs] == 32 or p[vs] == 9):
            vs += 1
        while ve > vs and (p[ve - 1] == 32 or p[ve - 1] == 9):
            ve -= 1
        name = _latin1(p, start, name_end)
        value = _latin1(p, vs, ve)
        PyList_Append(items, (name, value))
        lower = _lower(name)
        values = PyDict_GetItem(index, lower)
        if values is NULL:
            PyDict_SetItem(index, lower, [value])
        else:
            PyList_Append(<list>values, value)
    if i != n:
        return None
    return method, target, version, items, index
