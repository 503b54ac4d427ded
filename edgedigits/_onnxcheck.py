"""Find the external-data files an ONNX model names, without the ``onnx`` package.

An ONNX tensor may keep its bytes in another file ("external data"): the tensor then carries
``external_data`` key/value entries whose ``location`` is a path relative to the model's folder,
which the runtime opens and reads as weights. A model from an untrusted bundle could name any
file on the device that way, so :mod:`edgedigits.bundle` checks every location before a backend
opens the model. Devices have no ``onnx`` package, so this module reads the protobuf wire format
itself: it walks only the messages that can hold tensors, never trusts a length beyond the end
of the enclosing message, and bounds the nesting depth. Field numbers follow ``onnx.proto``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# For each message that can (directly or through sub-messages) hold a TensorProto: the field
# numbers of those sub-messages and their types. Every other field is skipped unread.
_CHILDREN: dict[str, dict[int, str]] = {
    "ModelProto": {7: "GraphProto", 20: "TrainingInfoProto", 25: "FunctionProto"},
    "TrainingInfoProto": {1: "GraphProto", 2: "GraphProto"},  # initialization, algorithm
    "FunctionProto": {7: "NodeProto", 11: "AttributeProto"},  # node, attribute_proto
    "GraphProto": {1: "NodeProto", 5: "TensorProto", 15: "SparseTensorProto"},
    "NodeProto": {5: "AttributeProto"},
    # t, g, tensors, graphs, sparse_tensor, sparse_tensors
    "AttributeProto": {
        5: "TensorProto",
        6: "GraphProto",
        10: "TensorProto",
        11: "GraphProto",
        22: "SparseTensorProto",
        23: "SparseTensorProto",
    },
    "SparseTensorProto": {1: "TensorProto", 2: "TensorProto"},  # values, indices
}
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 8, 13, 14
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_ENTRY_KEY, _ENTRY_VALUE = 1, 2  # StringStringEntryProto
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5

#: Deepest nesting of messages accepted (protobuf's own parsers stop at 100 too).
MAX_DEPTH = 100


class MalformedModel(ValueError):
    """The bytes are not a well-formed protobuf message (the reason is the message)."""


@dataclass
class ExternalTensor:
    """A tensor that names external data: its name, the locations it gives, whether it is marked EXTERNAL."""

    name: str
    locations: list[str] = field(default_factory=list)
    marked_external: bool = False


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise MalformedModel("a number runs past the end of its message")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise MalformedModel("a number is longer than ten bytes")


def _fields(buf, start: int, end: int):
    """(field number, wire type, value) of each field in ``buf[start:end]``.

    ``value`` is the integer of a varint, the (start, end) span of a length-delimited field, and
    None for fixed-width fields.
    """
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise MalformedModel("a field has number 0")
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
        elif wire == _LENGTH:
            length, pos = _varint(buf, pos, end)
            if length > end - pos:
                raise MalformedModel("a field is longer than the message holding it")
            value, pos = (pos, pos + length), pos + length
        elif wire in (_FIXED64, _FIXED32):
            value, pos = None, pos + (8 if wire == _FIXED64 else 4)
            if pos > end:
                raise MalformedModel("a field runs past the end of its message")
        else:  # 3/4 are groups, which ONNX never uses; 6/7 do not exist
            raise MalformedModel(f"a field has wire type {wire}, which ONNX models do not use")
        yield number, wire, value


def _text(buf, span: tuple[int, int], what: str) -> str:
    try:
        return bytes(buf[span[0] : span[1]]).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedModel(f"{what} is not UTF-8 text") from None


def _entry(buf, span: tuple[int, int]) -> tuple[bytes, tuple[int, int] | None]:
    """(key bytes, span of the value) of a StringStringEntryProto; the last of each field wins."""
    key, value = b"", None
    for number, wire, v in _fields(buf, *span):
        if wire != _LENGTH:
            continue
        if number == _ENTRY_KEY:
            key = bytes(buf[v[0] : v[1]])
        elif number == _ENTRY_VALUE:
            value = v
    return key, value


def _tensor(buf, start: int, end: int) -> ExternalTensor | None:
    found = ExternalTensor("")
    for number, wire, value in _fields(buf, start, end):
        if number == _TENSOR_NAME and wire == _LENGTH:
            found.name = bytes(buf[value[0] : value[1]]).decode("utf-8", "replace")
        elif number == _TENSOR_EXTERNAL_DATA and wire == _LENGTH:
            key, span = _entry(buf, value)
            if key == b"location":
                found.locations.append(_text(buf, span, "an external data location") if span else "")
        elif number == _TENSOR_DATA_LOCATION and wire == _VARINT:
            found.marked_external = value == _EXTERNAL
    return found if found.locations or found.marked_external else None


def external_tensors(buf) -> list[ExternalTensor]:
    """Every tensor of the serialised ModelProto ``buf`` (bytes or mmap) that names external data.

    Looks in graph initializers and sparse initializers, node attributes (``t``, ``tensors``,
    sparse tensors), subgraphs at any depth, training graphs and model-local functions.

    Raises:
        MalformedModel: ``buf`` is not a well-formed protobuf message, or nests deeper than
            :data:`MAX_DEPTH`.
    """
    found: list[ExternalTensor] = []
    todo = [("ModelProto", 0, len(buf), 0)]  # an explicit stack: no Python recursion limit to hit
    while todo:
        kind, start, end, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise MalformedModel(f"messages are nested more than {MAX_DEPTH} deep")
        if kind == "TensorProto":
            tensor = _tensor(buf, start, end)
            if tensor is not None:
                found.append(tensor)
            continue
        children = _CHILDREN[kind]
        for number, wire, value in _fields(buf, start, end):
            child = children.get(number)
            if child is not None and wire == _LENGTH:
                todo.append((child, value[0], value[1], depth + 1))
    return found
