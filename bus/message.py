"""Typed bus messages: frozen, slotted, keyword-only classes with a wire tag and a version.

Every message that crosses an actor boundary is declared with :func:`message`. The codec
(`bus.codec`) is the one place that turns them into msgpack and back; it validates every field
on decode against the type hints compiled here, so no raw dict ever travels past the edge.

Supported field types: ``str int float bool bytes None``, ``X | None``, ``tuple[X, ...]``,
``dict[str, X]``, ``Literal[...]`` and other messages (records). That is deliberately small:
everything on the wire must be explainable to an operator reading a dead-letter log.
"""

from __future__ import annotations

import dataclasses
import operator
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, dataclass_transform

from bus.errors import FieldError

T = TypeVar("T", bound="Message")

Validator = Callable[[Any, str], Any]


class Message:
    """Base of every bus message and persisted record.

    ``TAG`` is the stable wire name (``"agent.ready"``); ``VERSION`` bumps when fields change
    incompatibly. Both are set by :func:`message`.
    """

    __slots__ = ()
    TAG: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    # Compiled lazily by the codec: [(field name, validator)], in declaration order.
    _FIELDS: ClassVar[tuple[tuple[str, Validator], ...] | None] = None


@dataclass_transform(frozen_default=True, kw_only_default=True)
def message(tag: str, version: int = 1) -> Callable[[type[T]], type[T]]:
    """Declare a message class: ``@message("queue.enqueue")`` above a class body of fields."""

    def wrap(cls: type[T]) -> type[T]:
        if not issubclass(cls, Message):
            raise TypeError(f"{cls.__qualname__} must subclass bus.message.Message")
        dc = dataclasses.dataclass(frozen=True, slots=True, kw_only=True)(cls)
        dc.TAG = tag
        dc.VERSION = version
        dc.__init__ = _fast_init(dc)  # type: ignore[method-assign]
        return dc

    return wrap


_NO_VALUE = object()


def _fast_init(cls: type[Any]) -> Callable[..., None]:
    """A generated ``__init__`` equivalent to the frozen dataclass's, filling the slots
    through their descriptors instead of one ``object.__setattr__`` call per field: messages
    and actor states are built on every step, and this halves what building one costs."""
    ns: dict[str, Any] = {"NO_VALUE": _NO_VALUE}
    params, body = [], []
    for i, f in enumerate(dataclasses.fields(cls)):
        slot = next(k.__dict__[f.name] for k in cls.__mro__ if f.name in k.__dict__)
        ns[f"set{i}"] = slot.__set__
        if f.default is not dataclasses.MISSING:
            ns[f"d{i}"] = f.default
            params.append(f"{f.name}=d{i}")
        elif f.default_factory is not dataclasses.MISSING:
            ns[f"f{i}"] = f.default_factory
            params.append(f"{f.name}=NO_VALUE")
            body.append(f"    if {f.name} is NO_VALUE: {f.name} = f{i}()")
        else:
            params.append(f.name)
        body.append(f"    set{i}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    signature = f"self, *, {', '.join(params)}" if params else "self"
    exec(f"def __init__({signature}):\n" + ("\n".join(body) or "    pass"), ns)
    init: Callable[..., None] = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def field_names(cls: type[Message]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]


def compiled_fields(cls: type[Message]) -> tuple[tuple[str, Validator], ...]:
    """Return ``(name, validator)`` pairs for ``cls``, compiling them once."""
    got = cls.__dict__.get("_COMPILED")
    if got is not None:
        return got  # type: ignore[no-any-return]
    hints = typing.get_type_hints(cls)
    pairs = tuple(
        (f.name, _validator_for(hints[f.name], f"{cls.TAG}.{f.name}"))
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    )
    type.__setattr__(cls, "_COMPILED", pairs)
    return pairs


def _validator_for(hint: Any, where: str) -> Validator:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return lambda v, _p: v
    if hint is type(None):
        return _exact(type(None), "nil", where)
    if hint is bool:
        return _exact(bool, "bool", where)
    if hint is int:
        return _int(where)
    if hint is float:
        return _float(where)
    if hint is str:
        return _exact(str, "str", where)
    if hint is bytes:
        return _bytes(where)
    if isinstance(hint, type) and issubclass(hint, Message):
        return _record(hint, where)
    if origin is typing.Literal:
        allowed = frozenset(args)

        def check_literal(v: Any, path: str) -> Any:
            if v not in allowed:
                raise FieldError(path, f"one of {sorted(map(str, allowed))}", v)
            return v

        return check_literal
    if origin in (typing.Union, types.UnionType):
        nullable = type(None) in args
        others = [a for a in args if a is not type(None)]
        subs = [_validator_for(a, where) for a in others]
        if len(subs) == 1:
            only = subs[0]

            def check_optional(v: Any, path: str) -> Any:
                if v is None and nullable:
                    return None
                return only(v, path)  # keep the inner error: it names the exact place

            return check_optional

        def check_union(v: Any, path: str) -> Any:
            if v is None and nullable:
                return None
            for sub in subs:
                try:
                    return sub(v, path)
                except FieldError:
                    continue
            raise FieldError(path, " | ".join(_name(a) for a in args), v)

        return check_union
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _validator_for(args[0], where)

            def check_tuple(v: Any, path: str) -> Any:
                if not isinstance(v, tuple | list):
                    raise FieldError(path, f"array of {_name(args[0])}", v)
                return tuple(item(x, f"{path}[{i}]") for i, x in enumerate(v))

            return check_tuple
        items = [_validator_for(a, where) for a in args]

        def check_fixed(v: Any, path: str) -> Any:
            if not isinstance(v, tuple | list) or len(v) != len(items):
                raise FieldError(path, f"array of {len(items)} items", v)
            return tuple(
                f(x, f"{path}[{i}]") for i, (f, x) in enumerate(zip(items, v, strict=True))
            )

        return check_fixed
    if origin is dict:
        key = _validator_for(args[0], where)
        val = _validator_for(args[1], where)

        def check_dict(v: Any, path: str) -> Any:
            if not isinstance(v, dict):
                raise FieldError(path, "map", v)
            return {key(k, path): val(x, f"{path}[{k!r}]") for k, x in v.items()}

        return check_dict
    raise TypeError(f"{where}: unsupported field type {hint!r} for a bus message")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)


def _exact(kind: type, label: str, where: str) -> Validator:
    def check(v: Any, path: str) -> Any:
        if type(v) is not kind:
            raise FieldError(path, label, v)
        return v

    return check


def _int(where: str) -> Validator:
    def check(v: Any, path: str) -> Any:
        if type(v) is not int:
            raise FieldError(path, "int", v)
        return v

    return check


def _float(where: str) -> Validator:
    def check(v: Any, path: str) -> Any:
        if type(v) is float:
            return v
        if type(v) is int:
            return float(v)
        raise FieldError(path, "float", v)

    return check


def _bytes(where: str) -> Validator:
    def check(v: Any, path: str) -> Any:
        if type(v) is bytes:
            return v
        if type(v) in (bytearray, memoryview):
            return bytes(v)
        raise FieldError(path, "bytes", v)

    return check


def _record(cls: type[Message], where: str) -> Validator:
    def check(v: Any, path: str) -> Any:
        if isinstance(v, cls):
            return v
        if not isinstance(v, tuple | list):
            raise FieldError(path, f"record {cls.TAG}", v)
        return build(cls, v, path)

    return check


def build(cls: type[T], values: Any, path: str = "") -> T:
    """Construct ``cls`` from a positional wire array, validating every field."""
    builder = cls.__dict__.get("_BUILDER") or _compile_builder(cls)
    return builder(values, path or cls.TAG)  # type: ignore[no-any-return]


_FAST_TYPES: dict[Any, str] = {int: "int", str: "str", bool: "bool", bytes: "bytes", float: "float"}


def _compile_builder(cls: type[Message]) -> Callable[[Any, str], Any]:
    """Generate a decoder for ``cls``: inline exact-type checks for scalar fields (the hot
    case), the general validator otherwise; slots are filled directly, skipping the frozen
    dataclass ``__init__`` (which costs a ``object.__setattr__`` call per field)."""
    pairs = compiled_fields(cls)
    hints = typing.get_type_hints(cls)
    n = len(pairs)
    ns: dict[str, Any] = {"FieldError": FieldError, "new": object.__new__, "cls": cls}
    ns["short"] = _short_array(cls, n)
    lines = [
        "def builder(values, where):",
        "    kind = values.__class__",
        f"    if kind is not tuple and kind is not list or len(values) != {n}:",
        "        values = short(values, where)",
        "    obj = new(cls)",
    ]
    for i, (name, check) in enumerate(pairs):
        ns[f"check{i}"] = check
        ns[f"set{i}"] = cls.__dict__[name].__set__
        fast = hints[name] if hints[name] in _FAST_TYPES else None
        lines.append(f"    v = values[{i}]")
        if fast is float:
            lines.append(f"    if v.__class__ is not float: v = check{i}(v, where + '.{name}')")
        elif fast is not None:
            ns[f"t{i}"] = fast
            lines.append(f"    if v.__class__ is not t{i}: v = check{i}(v, where + '.{name}')")
        else:
            lines.append(f"    v = check{i}(v, where + '.{name}')")
        lines.append(f"    set{i}(obj, v)")
    lines.append("    return obj")
    exec("\n".join(lines), ns)
    builder: Callable[[Any, str], Any] = ns["builder"]
    type.__setattr__(cls, "_BUILDER", builder)
    return builder


def _short_array(cls: type[Message], n: int) -> Callable[[Any, str], list[Any]]:
    """Pad an array that lacks trailing fields with defaults, so that a record written
    before those fields were added (a snapshot, a peer not yet upgraded) still decodes;
    anything else is a :class:`FieldError`. Fields may only ever be added at the end, with a
    default."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    missing = dataclasses.MISSING
    least = max((i + 1 for i, f in enumerate(fields)
                 if f.default is missing and f.default_factory is missing), default=0)
    expected = f"array of {n} fields" if least == n else f"array of {least} to {n} fields"

    def pad(values: Any, where: str) -> list[Any]:
        if not isinstance(values, tuple | list) or not least <= len(values) <= n:
            raise FieldError(where, expected, values)
        tail = [_plain(f.default if f.default is not missing
                       else f.default_factory())  # type: ignore[operator]
                for f in fields[len(values):]]
        return [*values, *tail]

    return pad


def to_wire(msg: Message) -> list[Any]:
    """Positional array of ``msg``'s fields, with nested records flattened the same way."""
    cls = type(msg)
    encoder = cls.__dict__.get("_ENCODER") or _compile_encoder(cls)
    return encoder(msg)


def _plain_kind(hint: Any, json: bool = False) -> str:
    """How a field of type ``hint`` is made plain: ``"as is"`` (scalars: str, int, float,
    bool, None, literals - and bytes unless ``json``), ``"record"``, ``"optional record"``,
    ``"records by key"`` (``dict[str, Record]``), else ``"any"`` (the generic walk)."""
    scalars = (str, int, float, bool, type(None)) if json else (*_FAST_TYPES, type(None))
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint in scalars or origin is typing.Literal:
        return "as is"
    if origin in (typing.Union, types.UnionType):
        kinds = {_plain_kind(a, json) for a in args if a is not type(None)}
        if kinds == {"as is"}:
            return "as is"
        if kinds == {"record"} and len(args) == 2 and type(None) in args:
            return "optional record"
        return "any"
    if isinstance(hint, type) and issubclass(hint, Message):
        return "record"
    if origin is dict and _plain_kind(args[1], json) == "record":
        return "records by key"
    return "any"


def _compile_encoder(cls: type[Message]) -> Callable[[Any], list[Any]]:
    # Fields are converted by what their type says they hold: no per-value type tests for
    # the scalars that make most of a record (snapshots encode whole call states).
    hints = typing.get_type_hints(cls)
    parts = []
    for name, _check in compiled_fields(cls):
        kind = _plain_kind(hints[name])
        if kind == "as is":
            parts.append(f"m.{name}")
        elif kind == "record":
            parts.append(f"to_wire(m.{name})")
        elif kind == "optional record":
            parts.append(f"(None if m.{name} is None else to_wire(m.{name}))")
        elif kind == "records by key":
            parts.append(f"{{k: to_wire(x) for k, x in m.{name}.items()}}")
        else:
            parts.append(f"plain(m.{name})")
    ns: dict[str, Any] = {"plain": _plain, "to_wire": to_wire}
    exec(f"def encoder(m):\n    return [{', '.join(parts)}]", ns)
    encoder: Callable[[Any], list[Any]] = ns["encoder"]
    type.__setattr__(cls, "_ENCODER", encoder)
    return encoder


def _plain(v: Any) -> Any:
    if isinstance(v, Message):
        return to_wire(v)
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def as_dict(msg: Message) -> dict[str, Any]:
    """A JSON-ready view of ``msg`` for the journal and for people (bytes as hex)."""
    cls = type(msg)
    view = cls.__dict__.get("_AS_DICT") or _compile_as_dict(cls)
    return view(msg)


def _compile_as_dict(cls: type[Message]) -> Callable[[Any], dict[str, Any]]:
    hints = typing.get_type_hints(cls)
    items = []
    for name, _check in compiled_fields(cls):
        direct = _plain_kind(hints[name], json=True) == "as is"
        items.append(f"{name!r}: m.{name}" if direct else f"{name!r}: jsonable(m.{name})")
    ns: dict[str, Any] = {"jsonable": _jsonable}
    exec(f"def as_dict(m):\n    return {{{', '.join(items)}}}", ns)
    view: Callable[[Any], dict[str, Any]] = ns["as_dict"]
    type.__setattr__(cls, "_AS_DICT", view)
    return view


def _jsonable(v: Any) -> Any:
    if isinstance(v, Message):
        return as_dict(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Inverse of :func:`as_dict`: rebuild (and validate) a message from its JSON view."""
    hints = typing.get_type_hints(cls)
    values = []
    for name, _check in compiled_fields(cls):
        if name not in data:
            raise FieldError(f"{cls.TAG}.{name}", "a value", None)
        values.append(_from_jsonable(hints[name], data[name]))
    return build(cls, values)


def _from_jsonable(hint: Any, v: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if isinstance(hint, type) and issubclass(hint, Message) and isinstance(v, dict):
        return to_wire(from_dict(hint, v))
    if hint is bytes and isinstance(v, str):
        try:
            return bytes.fromhex(v)
        except ValueError:
            return v
    if origin in (typing.Union, types.UnionType) and v is not None:
        for a in args:
            if a is type(None):
                continue
            try:
                return _from_jsonable(a, v)
            except (FieldError, TypeError):
                continue
        return v
    if origin is tuple and isinstance(v, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return [_from_jsonable(args[0], x) for x in v]
        return [_from_jsonable(a, x) for a, x in zip(args, v, strict=False)]
    if origin is dict and isinstance(v, dict):
        return {k: _from_jsonable(args[1], x) for k, x in v.items()}
    return v


def evolve(obj: T, **changes: Any) -> T:
    """``dataclasses.replace`` for messages and actor states, without re-running ``__init__``
    over every field: a generated copy of the slots with the changes applied (names checked)."""
    cls = type(obj)
    copier = cls.__dict__.get("_EVOLVE") or _compile_evolve(cls)
    new: T = copier(obj, changes)
    return new


def _compile_evolve(cls: type[Any]) -> Callable[[Any, dict[str, Any]], Any]:
    # One C call reads every field (attrgetter); each slot is then set through its
    # descriptor, and the changed ones once more - cheaper than a lookup per field.
    names = [f.name for f in dataclasses.fields(cls)]
    setters: dict[str, Callable[[Any, Any], None]] = {}
    ns: dict[str, Any] = {"cls": cls, "new": object.__new__, "SET": setters,
                          "unknown": _unknown_fields}
    lines = ["def evolve(obj, changes):", "    out = new(cls)"]
    values = [f"v{i}" for i in range(len(names))]
    if names:
        ns["get_all"] = operator.attrgetter(*names)
        lines.append(f"    {', '.join(values)}, = get_all(obj)" if len(names) > 1
                     else "    v0 = get_all(obj)")
    for i, name in enumerate(names):
        slot = next(k.__dict__[name] for k in cls.__mro__ if name in k.__dict__)
        ns[f"set{i}"] = setters[name] = slot.__set__
        lines.append(f"    set{i}(out, v{i})")
    lines += ["    if changes:",
              "        for name, value in changes.items():",
              "            setter = SET.get(name)",
              "            if setter is None:",
              "                unknown(cls, changes)",
              "            setter(out, value)",
              "    return out"]
    exec("\n".join(lines), ns)
    copier: Callable[[Any, dict[str, Any]], Any] = ns["evolve"]
    type.__setattr__(cls, "_EVOLVE", copier)
    return copier


def _unknown_fields(cls: type[Any], changes: dict[str, Any]) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(name for name in changes if name not in known)
    raise TypeError(f"{cls.__qualname__} has no field(s) {', '.join(unknown)}")
