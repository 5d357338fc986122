"""Protobuf messages to and from the JSON the HTTP API speaks, as protojson (Cerbos's HTTP gateway) maps them.

The same mapping as ``google.protobuf.json_format`` (``MessageToDict`` and ``ParseDict`` with
``ignore_unknown_fields``), and a test holds them equal, for the field types Cerbos's check and plan
messages use: strings, booleans, 32-bit integers, enums (by name), messages, maps, repeated fields and
``google.protobuf.Value``/``Struct``/``ListValue``. It walks only the fields that are set, in C, and
costs a fraction of json_format's per-field Python dispatch (the gRPC check's largest cost after the
decision itself). A message with any other field type (64-bit integers, bytes, other well-known types)
goes through json_format. Integral ``Value`` numbers become integers, as protojson prints them.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from chamberlain.engine.wire import json_number
from chamberlain.server.http import bad_request

_VALUE, _STRUCT, _LIST = "google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue"
_WELL_KNOWN = (_VALUE, _STRUCT, _LIST)
# Messages and descriptors are typed Any below: their fields and options are read by reflection,
# which protobuf's stubs cannot describe.
_SIMPLE_TYPES = {
    FieldDescriptor.TYPE_STRING,
    FieldDescriptor.TYPE_BOOL,
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_ENUM,
    FieldDescriptor.TYPE_MESSAGE,
}


@functools.cache
def _simple(descriptor: Any) -> bool:
    """Whether every field of ``descriptor`` (and of the messages it holds) is one this module maps."""
    return _walk(descriptor, set())


def _walk(descriptor: Any, seen: set[str]) -> bool:
    if descriptor.full_name in _WELL_KNOWN or descriptor.full_name in seen:
        return True
    if descriptor.full_name.startswith("google.protobuf."):
        return False
    seen.add(descriptor.full_name)
    for field in descriptor.fields:
        if field.type not in _SIMPLE_TYPES:
            return False
        if field.message_type is not None and not _walk(field.message_type, seen):
            return False
    return True


@functools.cache
def _is_map(field: Any) -> bool:
    message = field.message_type
    return message is not None and message.GetOptions().map_entry


def to_json(message: Any) -> dict[str, Any]:
    """``message`` as protojson's JSON object (``MessageToDict``, integral Value numbers as integers)."""
    if not _simple(message.DESCRIPTOR):
        return json_number(json_format.MessageToDict(message))  # type: ignore[no-any-return]
    return _message_json(message)


def _message_json(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            out[field.json_name] = {str(k): _scalar_json(value_field, v) for k, v in value.items()}
        elif field.is_repeated:
            out[field.json_name] = [_scalar_json(field, v) for v in value]
        else:
            out[field.json_name] = _scalar_json(field, value)
    return out


def _scalar_json(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        name = field.message_type.full_name
        if name == _VALUE:
            return _value_json(value)
        if name == _STRUCT:
            return {k: _value_json(v) for k, v in value.fields.items()}
        if name == _LIST:
            return [_value_json(v) for v in value.values]
        return _message_json(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    return value


def _value_json(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise bad_request(f"invalid attribute value {number}: NaN and Infinity are not JSON numbers")
        return json_number(number)
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return {k: _value_json(v) for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_value_json(v) for v in value.list_value.values]
    return None  # null_value, or no kind at all (protojson: null)


def from_json(data: dict[str, Any], message: Any) -> tuple[Any, dict[str, Any]]:
    """``data`` parsed into ``message`` (unknown fields ignored) and the top-level fields it had no place for."""
    descriptor = message.DESCRIPTOR
    extras = {k: v for k, v in data.items() if k not in descriptor.fields_by_camelcase_name}
    if _simple(descriptor):
        try:
            _fill(message, data)
            return message, extras
        except (TypeError, ValueError, KeyError, AttributeError):  # json_format decides, with its own errors
            message.Clear()
    json_format.ParseDict(data, message, ignore_unknown_fields=True)
    return message, extras


def _fill(message: Any, data: dict[str, Any]) -> None:
    fields = message.DESCRIPTOR.fields_by_camelcase_name
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            continue
        target = getattr(message, field.name)
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            for k, v in value.items():
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    _set_message(value_field, target[k], v)
                else:
                    target[k] = _scalar(value_field, v)
        elif field.is_repeated:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value:
                    _set_message(field, target.add(), item)
            else:
                target.extend(_scalar(field, v) for v in value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            target.SetInParent()
            _set_message(field, target, value)
        elif value is not None:
            setattr(message, field.name, _scalar(field, value))


def _set_message(field: Any, target: Any, value: Any) -> None:
    name = field.message_type.full_name
    if name == _VALUE:
        _set_value(target, value)
    elif name == _STRUCT:
        target.update(value)
    elif name == _LIST:
        target.extend(value)
    else:
        _fill(target, value)


def _set_value(target: Any, value: Any) -> None:
    if value is None:
        target.null_value = 0
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int | float):
        target.number_value = float(value)
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, dict):
        target.struct_value.SetInParent()
        target.struct_value.update(value)
    elif isinstance(value, list):
        target.list_value.SetInParent()
        target.list_value.extend(value)
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


def _scalar(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM and isinstance(value, str):
        return field.enum_type.values_by_name[value].number
    return value
