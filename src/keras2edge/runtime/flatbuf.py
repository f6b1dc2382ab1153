"""A zero-dependency, bounds-checked flatbuffer table reader driven by ``runtime.schema``.

Reads straight from the caller's bytes through a ``memoryview`` and ``struct``; scalar vectors
come back as ``np.frombuffer`` views (no copies). Every offset, vtable, vector length and string
is checked against the buffer before it is used, the way the flatbuffers verifier does, so a
malformed file raises :class:`RuntimeModelError` naming the table, the field and the byte offset
— never an ``IndexError``/``struct.error`` from deep inside, and never a loop: uoffsets only point
forward, and nesting is capped at :data:`MAX_DEPTH` anyway.

Layout facts used here (flatbuffers binary format): a table starts with an int32 ``soffset``;
its vtable is at ``table - soffset`` and holds ``uint16 vtable_size, uint16 table_size`` then one
``uint16`` field offset per slot (0 = absent, default applies). Offsets to strings, vectors and
sub-tables are ``uint32`` relative to where they are stored. Vectors and strings start with a
``uint32`` element count; strings are UTF-8 followed by a NUL byte.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from .errors import RuntimeModelError
from .schema import NUMPY_DTYPES, SCALARS, TABLES, Field, Table

MAX_DEPTH = 32  # tables nested deeper than this are refused (the TFLite schema needs 6)

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_SCALAR_STRUCTS: dict[str, struct.Struct] = {k: struct.Struct(fmt) for k, (fmt, _) in SCALARS.items()}
_SCALAR_SIZES: dict[str, int] = {k: size for k, (_, size) in SCALARS.items()}


class FlatBuffer:
    """The bytes of one flatbuffer, with checked primitive reads."""

    __slots__ = ("mv", "size")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        mv = memoryview(data)
        if not mv.c_contiguous:
            raise TypeError(f"expected contiguous bytes, got a non-contiguous memoryview of shape {mv.shape}")
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B")
        self.mv = mv
        self.size = mv.nbytes

    # -- primitives -------------------------------------------------------------------------
    def _need(self, pos: int, n: int, what: str) -> None:
        if pos < 0 or pos + n > self.size:
            raise RuntimeModelError(f"{what}: {n} bytes at offset {pos} run past the end of the "
                                    f"{self.size}-byte buffer")

    def u32(self, pos: int, what: str) -> int:
        self._need(pos, 4, what)
        return _U32.unpack_from(self.mv, pos)[0]

    def uoffset(self, pos: int, what: str) -> int:
        """Follow the uoffset stored at ``pos``: the absolute position it points to (checked)."""
        target = pos + self.u32(pos, what)
        if target + 4 > self.size:
            raise RuntimeModelError(f"{what}: offset at {pos} points to {target}, past the end of the "
                                    f"{self.size}-byte buffer")
        return target

    def table(self, pos: int, tdef: Table, what: str, depth: int = 0) -> TableView:
        """The table of type ``tdef`` at ``pos`` (its vtable checked)."""
        if depth > MAX_DEPTH:
            raise RuntimeModelError(f"{what}: tables nested more than {MAX_DEPTH} deep at offset {pos}")
        self._need(pos, 4, f"{what} ({tdef.name} table)")
        vt = pos - _I32.unpack_from(self.mv, pos)[0]
        if vt < 0 or vt + 4 > self.size:
            raise RuntimeModelError(f"{what}: {tdef.name} table at offset {pos} has its vtable at {vt}, "
                                    f"outside the {self.size}-byte buffer")
        vt_size, t_size = struct.unpack_from("<HH", self.mv, vt)
        if vt_size < 4 or vt_size & 1 or vt + vt_size > self.size:
            raise RuntimeModelError(f"{what}: {tdef.name} vtable at offset {vt} declares {vt_size} bytes "
                                    f"(buffer is {self.size} bytes)")
        if t_size < 4 or pos + t_size > self.size:
            raise RuntimeModelError(f"{what}: {tdef.name} table at offset {pos} declares {t_size} bytes, "
                                    f"past the end of the {self.size}-byte buffer")
        return TableView(self, pos, tdef, vt, vt_size, t_size, what, depth)

    def root(self, tdef: Table, identifier: bytes | None = None) -> TableView:
        """The root table; checks the 4-byte file identifier (bytes 4..7) if given."""
        if self.size < 8:
            raise RuntimeModelError(f"file is {self.size} bytes: too short for a flatbuffer "
                                    "(root offset and file identifier need 8)")
        if identifier is not None and bytes(self.mv[4:8]) != identifier:
            raise RuntimeModelError(f"file identifier is {bytes(self.mv[4:8])!r}, expected {identifier!r} "
                                    "(bytes 4..7): not a .tflite flatbuffer")
        return self.table(self.uoffset(0, "root offset"), tdef, tdef.name)


class TableView:
    """One table in a :class:`FlatBuffer`, read field by field (by schema field name)."""

    __slots__ = ("buf", "pos", "tdef", "vt", "vt_size", "t_size", "what", "depth")

    def __init__(self, buf: FlatBuffer, pos: int, tdef: Table, vt: int, vt_size: int, t_size: int,
                 what: str, depth: int) -> None:
        self.buf, self.pos, self.tdef, self.vt = buf, pos, tdef, vt
        self.vt_size, self.t_size, self.what, self.depth = vt_size, t_size, what, depth

    def _path(self, f: Field) -> str:
        return f"{self.what}.{f.name}"

    def _where(self, f: Field) -> str:
        return f"{self.what}.{f.name} ({self.tdef.name}.{f.name})"

    def _field_pos(self, f: Field, size: int) -> int:
        """Absolute position of field ``f`` (``size`` bytes inline), or 0 if it is absent."""
        off = 4 + 2 * f.slot
        if off + 2 > self.vt_size:
            return 0
        fo = _U16.unpack_from(self.buf.mv, self.vt + off)[0]
        if fo == 0:
            return 0
        if fo < 4 or fo + size > self.t_size:
            raise RuntimeModelError(f"{self._where(f)} at table offset {self.pos}: field offset {fo} lies "
                                    f"outside the {self.t_size}-byte table")
        return self.pos + fo

    def field(self, name: str) -> Field:
        try:
            return self.tdef.by_name[name]
        except KeyError:
            raise KeyError(f"{self.tdef.name} has no field {name!r}") from None

    def has(self, name: str) -> bool:
        f = self.field(name)
        return self._field_pos(f, _SCALAR_SIZES.get(f.kind, 4)) != 0

    # -- typed accessors ----------------------------------------------------------------------
    def scalar(self, name: str) -> Any:
        """A scalar field (bool as bool, floats as float); the schema default if absent."""
        f = self.field(name)
        kind = "ubyte" if f.kind == "union_type" else f.kind
        p = self._field_pos(f, _SCALAR_SIZES[kind])
        if not p:
            return f.default
        v = _SCALAR_STRUCTS[kind].unpack_from(self.buf.mv, p)[0]
        return bool(v) if kind == "bool" else v

    def _ref(self, f: Field) -> int:
        """Absolute position an offset field points to, or 0 if absent."""
        p = self._field_pos(f, 4)
        return self.buf.uoffset(p, self._where(f)) if p else 0

    def string(self, name: str) -> str | None:
        f = self.field(name)
        p = self._ref(f)
        return None if not p else self._read_string(p, self._where(f))

    def _read_string(self, p: int, where: str) -> str:
        n = self.buf.u32(p, where)
        if p + 4 + n + 1 > self.buf.size:
            raise RuntimeModelError(f"{where}: string of {n} bytes at offset {p} runs past the end of the "
                                    f"{self.buf.size}-byte buffer")
        if self.buf.mv[p + 4 + n] != 0:
            raise RuntimeModelError(f"{where}: string at offset {p} is not NUL-terminated")
        try:
            return str(self.buf.mv[p + 4:p + 4 + n], "utf-8")
        except UnicodeDecodeError as e:
            raise RuntimeModelError(f"{where}: string at offset {p} is not valid UTF-8 ({e.reason})") from None

    def _vector(self, f: Field, elem_size: int) -> tuple[int, int]:
        """(start of elements, count) of a vector field; (0, -1) if absent."""
        p = self._ref(f)
        if not p:
            return 0, -1
        n = self.buf.u32(p, self._where(f))
        if p + 4 + n * elem_size > self.buf.size:
            raise RuntimeModelError(f"{self._where(f)}: vector of {n} x {elem_size}-byte elements at offset "
                                    f"{p} runs past the end of the {self.buf.size}-byte buffer")
        return p + 4, n

    def array(self, name: str) -> np.ndarray | None:
        """A vector of scalars as a zero-copy little-endian NumPy view; None if absent."""
        f = self.field(name)
        if f.kind != "vector" or f.elem not in SCALARS:
            raise TypeError(f"{self.tdef.name}.{name} is not a vector of scalars")
        start, n = self._vector(f, _SCALAR_SIZES[f.elem])
        if n < 0:
            return None
        dt = np.dtype(NUMPY_DTYPES[f.elem])
        return np.frombuffer(self.buf.mv, dtype=dt, count=n, offset=start)

    def ints(self, name: str) -> tuple[int, ...] | None:
        """A vector of integers as a tuple of Python ints; None if absent."""
        f = self.field(name)
        if f.kind != "vector" or f.elem not in SCALARS or f.elem in ("float", "double"):
            raise TypeError(f"{self.tdef.name}.{name} is not a vector of integers")
        start, n = self._vector(f, _SCALAR_SIZES[f.elem])
        if n < 0:
            return None
        return struct.unpack_from(f"<{n}{SCALARS[f.elem][0][1]}", self.buf.mv, start)

    def tables(self, name: str) -> list[TableView] | None:
        """A vector of tables; None if absent."""
        f = self.field(name)
        if f.kind != "vector" or f.elem not in TABLES:
            raise TypeError(f"{self.tdef.name}.{name} is not a vector of tables")
        start, n = self._vector(f, 4)
        if n < 0:
            return None
        tdef = TABLES[f.elem]
        path = self._path(f)
        return [self.buf.table(self.buf.uoffset(start + 4 * i, f"{path}[{i}]"), tdef, f"{path}[{i}]",
                               self.depth + 1) for i in range(n)]

    def strings(self, name: str) -> list[str] | None:
        """A vector of strings; None if absent."""
        f = self.field(name)
        start, n = self._vector(f, 4)
        if n < 0:
            return None
        where = self._where(f)
        return [self._read_string(self.buf.uoffset(start + 4 * i, f"{where}[{i}]"), f"{where}[{i}]")
                for i in range(n)]

    def table(self, name: str) -> TableView | None:
        """A sub-table field; None if absent."""
        f = self.field(name)
        if f.kind != "table":
            raise TypeError(f"{self.tdef.name}.{name} is not a table field")
        p = self._ref(f)
        if not p:
            return None
        return self.buf.table(p, TABLES[f.ref], self._path(f), self.depth + 1)

    def union(self, name: str, members: tuple[str, ...]) -> tuple[int, TableView | None]:
        """``(tag, table or None)`` of a union field; the tag must name one of ``members``."""
        f = self.field(name)
        tag = self.scalar(f"{name}_type")
        if tag == 0:
            return 0, None
        if tag > len(members):
            raise RuntimeModelError(f"{self._where(f)}: unknown union type tag {tag} "
                                    f"({len(members)} {f.ref} members are known)")
        p = self._ref(f)
        if not p:
            return tag, None
        return tag, self.buf.table(p, TABLES[members[tag - 1]], self._path(f), self.depth + 1)

    def decode(self) -> dict[str, Any]:
        """Every live scalar/string/scalar-vector field by name, defaults applied for absent ones.

        Vectors of scalars come back as lists of Python numbers (None if absent). Used for the
        option tables, whose fields are all of those kinds; other kinds raise TypeError.
        """
        out: dict[str, Any] = {}
        for f in self.tdef.fields:
            if f.deprecated:
                continue
            if f.kind in SCALARS:
                out[f.name] = self.scalar(f.name)
            elif f.kind == "string":
                out[f.name] = self.string(f.name)
            elif f.kind == "vector" and f.elem in SCALARS:
                a = self.array(f.name)
                out[f.name] = None if a is None else a.tolist()
            else:
                raise TypeError(f"{self.tdef.name}.{f.name}: decode() handles scalars, strings and scalar "
                                "vectors only")
        return out
