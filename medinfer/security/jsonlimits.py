"""Bounds on parsed JSON: nesting depth, array length, object size.

The body-size limit caps bytes; these cap shapes that are cheap to send and
expensive to process (deeply nested or very wide documents). The gateway calls
:func:`check_json_shape` right after parsing. Errors name the limit, never the content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medinfer.common.errors import ValidationFailed

__all__ = ["JsonLimits", "check_json_shape"]


@dataclass(frozen=True)
class JsonLimits:
    max_depth: int = 32
    max_array_len: int = 1_000_000
    max_object_keys: int = 1_000
    max_string_len: int = 1_000_000


def check_json_shape(doc: Any, limits: JsonLimits = JsonLimits()) -> None:
    """Iterative walk (no recursion, so no RecursionError on hostile nesting)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > limits.max_depth:
                raise ValidationFailed(f"JSON nesting deeper than {limits.max_depth} levels")
            if len(node) > limits.max_object_keys:
                raise ValidationFailed(f"JSON object with more than {limits.max_object_keys} keys")
            for value in node.values():
                if isinstance(value, (dict, list)):
                    stack.append((value, depth + 1))
                elif isinstance(value, str) and len(value) > limits.max_string_len:
                    raise ValidationFailed(f"JSON string longer than {limits.max_string_len} characters")
        elif isinstance(node, list):
            if depth > limits.max_depth:
                raise ValidationFailed(f"JSON nesting deeper than {limits.max_depth} levels")
            if len(node) > limits.max_array_len:
                raise ValidationFailed(f"JSON array longer than {limits.max_array_len} elements")
            for value in node:
                if isinstance(value, (dict, list)):
                    stack.append((value, depth + 1))
                elif isinstance(value, str) and len(value) > limits.max_string_len:
                    raise ValidationFailed(f"JSON string longer than {limits.max_string_len} characters")
        elif isinstance(node, str) and len(node) > limits.max_string_len:
            raise ValidationFailed(f"JSON string longer than {limits.max_string_len} characters")
