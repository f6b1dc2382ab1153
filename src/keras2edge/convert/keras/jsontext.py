"""Parse a JSON document from a model file (a model config, ``metadata.json``) within bounds.

Bounds, checked before and after ``json.loads``:
- size: at most ``MAX_CONFIG_BYTES`` of text (the largest real Keras configs are a few MB);
- objects: parsed JSON takes far more memory than its text (``[],`` is 3 bytes of text and a
  56-byte list plus a pointer), so the number of containers and items, counted from the
  brackets and commas in the text, is charged at ``BYTES_PER_ITEM`` against ``Limits``;
- depth: at most ``MAX_JSON_DEPTH`` levels of nesting (real configs use about 10; deeper ones
  would exhaust the recursion of the parser and of every later walk of the config).
"""

from __future__ import annotations

import json
from typing import Any

from ...errors import ModelFormatError
from ...runtime.limits import Limits

MAX_CONFIG_BYTES = 16 << 20
MAX_JSON_DEPTH = 100
#: Upper bound of the memory one JSON item (a container or a value) takes once parsed.
BYTES_PER_ITEM = 96


def json_depth(obj: Any) -> int:
    """The nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in node if isinstance(child, (dict, list)))
    return deepest


def parse_json(text: str | bytes, where: str, limits: Limits) -> Any:
    """``json.loads(text)`` within the bounds of the module docstring; errors name ``where``."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ModelFormatError(f"{where}: a JSON document of {len(text)} bytes; at most {MAX_CONFIG_BYTES} "
                               "expected for a Keras config")
    raw = text.encode("utf-8", errors="replace") if isinstance(text, str) else text
    items = raw.count(b"[") + raw.count(b"{") + raw.count(b",") + 1
    limits.check(items * BYTES_PER_ITEM, f"{where}: JSON with {items} items once parsed")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ModelFormatError(f"{where}: JSON nested deeper than Python can parse; a Keras config nests "
                               f"at most {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFormatError(f"{where}: not valid JSON ({e})") from None
    depth = json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise ModelFormatError(f"{where}: JSON nested {depth} levels deep; a Keras config nests at most "
                               f"{MAX_JSON_DEPTH}")
    return value
