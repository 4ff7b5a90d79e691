"""Faster answers from moto's serializer: the same bytes, in less of a call's time.

moto turns a backend's result into an answer in two passes: it walks the operation's output
shape, looking every member up on the result's objects, into nested dicts; then xmltodict writes
those dicts out as XML through the SAX package's XMLGenerator. Profiles of the sandbox under one
boto3 client's loop (bench/sandbox_speed.py) put a fifth of a describe_vpcs call and of a
list_buckets call in them:

- Looking a member up: for every attribute of every object, moto works out which names to try
  (the shape's name, snake case, the class or shape name stripped as a prefix, an alias in the
  class's Meta), and wraps each lookup in a context object carrying the dotted path to it.
  `quicker_value_picking` works each list of names out once per attribute, shape, parent shape and
  object class, and looks the value up without the context where moto's usual picker is used
  (the object without a Meta of its own).
- Writing the XML: a SAX event and a method call per element, attribute and text. `xml_text`
  writes the same text from the dicts directly, for the dicts moto makes (str keys, lists, text,
  attributes); for anything else (pretty printing, comments, namespace maps, an invalid name) it
  hands the dicts to xmltodict, which then answers, or raises, as before.

tests/test_sandbox_speedups.py compares both against moto's own, byte for byte.
"""

from __future__ import annotations

import threading
from typing import Any

import xmltodict

TEXT, ATTRIBUTE = "#text", "@"
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


class _Unusual(Exception):
    """Dicts `xml_text` leaves to xmltodict."""


class _Xmltodict:
    """What moto's serializer calls `xmltodict`: its `unparse` is `xml_text`, the rest the module's own."""

    def __getattr__(self, name):
        return getattr(xmltodict, name)

    @staticmethod
    def unparse(input_dict, output=None, encoding="utf-8", full_document=True, short_empty_elements=False,
                **options):
        if output is None and encoding == "utf-8" and not any(options.values()):  # pretty=False and no others
            try:
                return xml_text(input_dict, full_document, short_empty_elements)
            except _Unusual:
                pass
        return xmltodict.unparse(input_dict, output, encoding, full_document, short_empty_elements, **options)


def xml_text(document: dict, full_document: bool = True, short_empty_elements: bool = False) -> str:
    """The XML xmltodict.unparse writes for these dicts (utf-8, not pretty); `_Unusual` if it might differ."""
    if not isinstance(document, dict):
        raise _Unusual
    out: list[str] = [DECLARATION] if full_document else []
    roots = 0
    for name, value in document.items():
        if name == "#comment":
            raise _Unusual
        roots += 1
        if full_document and (roots > 1 or (isinstance(value, (list, tuple)) and len(value) > 1)):
            raise _Unusual  # xmltodict's "one root" error
        _element(out, name, value, short_empty_elements)
    if full_document and roots != 1:
        raise _Unusual
    return "".join(out)


_NAMES: set[str] = set()  # element and attribute names found valid
_NAMES_LOCK = threading.Lock()


def _checked(name: Any) -> str:
    if name in _NAMES:
        return name
    if not isinstance(name, str) or name == "#comment":
        raise _Unusual
    try:
        xmltodict._validate_name(name, "element")
    except ValueError:
        raise _Unusual from None
    with _NAMES_LOCK:
        if len(_NAMES) < 50_000:
            _NAMES.add(name)
    return name


def _text(value: Any) -> str:
    """A value as xmltodict writes it: text as it is, booleans in lower case, bytes decoded."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;") if text else text


def _attribute(text: str) -> str:
    """An attribute value quoted as the SAX generator quotes it."""
    text = text.translate(ATTRIBUTE_ESCAPES)
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    return '"' + text.replace('"', "&quot;") + '"'


def _element(out: list[str], name: Any, value: Any, short: bool) -> None:
    """One name's elements (one for each item of a list) onto `out`."""
    name = _checked(name)
    if isinstance(value, (list, tuple)):
        items = value
    elif isinstance(value, (str, bytes, bytearray, memoryview, dict)) or not hasattr(value, "__iter__"):
        items = (value,)
    else:  # another iterable (a generator, a set): left to xmltodict
        raise _Unusual
    for item in items:
        if isinstance(item, str):  # text alone, the commonest element
            if item:
                out.append(f"<{name}>{_escaped(item)}</{name}>")
            else:
                out.append(f"<{name}/>" if short else f"<{name}></{name}>")
            continue
        if item is None:
            item = {}
        elif isinstance(item, str):
            item = {TEXT: item}
        elif not isinstance(item, dict):
            item = {TEXT: _text(item)}
        text = None
        attributes: dict[str, str] = {}
        children = []
        for key, child in item.items():
            if key == TEXT:
                text = None if child is None else _text(child)
            elif isinstance(key, str) and key.startswith(ATTRIBUTE):
                if key == "@xmlns" and isinstance(child, dict):
                    raise _Unusual  # a namespace map
                attributes[_checked(key[1:])] = "" if child is None else _text(child)
            elif not (isinstance(child, (list, tuple)) and not child):  # nor does an empty list or tuple
                children.append((key, child))
        start = "<" + name + "".join(f" {key}={_attribute(val)}" for key, val in attributes.items()) \
            if attributes else "<" + name
        if children or text:
            out.append(start + ">")
            for key, child in children:
                _element(out, key, child, short)
            if text:
                out.append(_escaped(text))
            out.append(f"</{name}>")
        else:
            out.append(start + ("/>" if short else f"></{name}>"))


def quicker_xml_bodies() -> None:
    """Make moto's serializer write XML answers with `xml_text` (see the module's docstring)."""
    from moto.core import serialize

    if isinstance(serialize.xmltodict, _Xmltodict):
        return
    serialize.xmltodict = _Xmltodict()


def quicker_value_picking() -> None:
    """moto's serializer's candidate names for an attribute worked out once per attribute, shape, parent
    shape and object class (the answers' objects are of a few hundred classes and shapes), and the value
    looked up and transformed as moto's usual picker does, without a context object for each."""
    from moto.core import serialize
    from moto.core.utils import MISSING, get_value as value_of

    picker = serialize.XFormedAttributePicker
    if getattr(picker.get_possible_keys, "remembered", False):
        return
    work_out, moto_get_value = picker.get_possible_keys, serialize.ResponseSerializer.get_value
    names: dict[tuple, tuple[str, ...]] = {}

    def usual(picking, obj) -> bool:
        return (type(picking) is picker and picking.alias_providers is serialize.DEFAULT_ALIAS_PROVIDERS
                and "Meta" not in getattr(obj, "__dict__", ()))  # an object's own Meta: worked out each time

    def get_possible_keys(self, context):
        obj, shape = context.obj, context.shape
        if not usual(self, obj):
            return work_out(self, context)
        key = (context.key, shape, getattr(shape, "parent", None), type(obj))
        found = names.get(key)
        if found is None:
            if len(names) > 100_000:  # models made anew would hold on to their shapes here: start again
                names.clear()
            found = names[key] = tuple(work_out(self, context))
        return found

    def get_value(self, value, key, shape):
        picking = self._value_picker
        keys = names.get((key, shape, getattr(shape, "parent", None), type(value))) if usual(picking, value) else None
        if keys is None:  # the first time (its names are remembered on the way), or an unusual picker
            return moto_get_value(self, value, key, shape)
        for name in keys:
            found = value_of(value, name, MISSING)
            if found is not MISSING:
                break
        else:
            found = None
        transformers = picking.response_transformers
        if transformers and may_transform(transformers, key):  # the first whose path ends the value's path
            path = f"{'.'.join(self.path)}.{key}"                 # changes it, as in moto's picker
            for ending, transform in transformers.items():
                if path.endswith(ending):
                    return transform(found)
        return found

    endings: dict[int, tuple[dict, int, dict[str, bool]]] = {}  # id of a table: (it, its size, key: may match)

    def may_transform(transformers: dict, key: str) -> bool:
        """Whether a path that ends in ".key" could end in one of the table's paths: one that is a suffix
        of the key, or that ends in ".key". moto only adds to its tables; a table that grew is read anew."""
        kept = endings.get(id(transformers))
        if kept is None or kept[0] is not transformers or kept[1] != len(transformers):
            if len(endings) > 1000:
                endings.clear()
            kept = endings[id(transformers)] = (transformers, len(transformers), {})
        answer = kept[2].get(key)
        if answer is None:
            dotted = "." + key
            answer = kept[2][key] = any(key.endswith(ending) or ending.endswith(dotted) for ending in transformers)
        return answer

    get_possible_keys.remembered = True
    picker.get_possible_keys = get_possible_keys
    serialize.ResponseSerializer.get_value = get_value
