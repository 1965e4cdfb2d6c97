"""UCUM unit codes checked and converted with pint.

FHIR ``Quantity.code`` carries a UCUM code (system ``http://unitsofmeasure.org``).
pint does not read UCUM syntax directly, so :func:`to_pint` translates the
common forms: implicit exponents (``mm2`` -> ``mm**2``), ``.`` products,
``%``, ``10*n`` powers, the unity ``1`` and curly-brace annotations (which
UCUM defines as unity; medinfer maps the few it declares itself, such as
``{pixel}``, to units of their own dimension so they never silently equal 1).
Conversion errors name the expected unit only, never the received value.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pint

from medinfer.common.errors import ValidationFailed

__all__ = ["UCUM_SYSTEM", "convert", "registry", "to_pint"]

UCUM_SYSTEM = "http://unitsofmeasure.org"

# Annotations medinfer gives a dimension: WDBC morphometry is measured on the digitized image,
# in pixels of unknown physical size, so it must not convert to (or from) a length.
_ANNOTATIONS = {"{pixel}": "wdbc_pixel", "{pixel2}": "wdbc_pixel**2", "{gray}": "wdbc_gray_level"}
_SIMPLE = {"%": "percent", "1": "dimensionless", "[in_i]": "inch", "[lb_av]": "pound", "[ft_i]": "foot",
           "Cel": "degC", "[degF]": "degF", "um": "micrometer", "g": "gram"}
_ATOM = re.compile(r"^(\[[^\]]+\]|[A-Za-z%]+)(-?\d+)?$")


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    reg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    reg.define("wdbc_pixel = [wdbc_image_length]")
    reg.define("wdbc_gray_level = [wdbc_gray]")
    return reg


def to_pint(code: str) -> str:
    """A pint expression for a UCUM code; ``ValidationFailed`` (``unknown-unit``) when it is not one we read."""
    if not isinstance(code, str) or not code or len(code) > 64:
        raise ValidationFailed("a Quantity needs a UCUM unit code", code="unknown-unit")
    if code in _ANNOTATIONS:
        return _ANNOTATIONS[code]
    stripped = re.sub(r"\{[^}]*\}", "", code)  # other annotations are unity, as UCUM says
    if stripped in ("", "1"):
        return "dimensionless"
    parts = []
    for i, chunk in enumerate(re.split(r"(/)", stripped)):
        if chunk == "/":
            parts.append("/")
            continue
        factors = []
        for atom in chunk.split("."):
            if re.fullmatch(r"10\*-?\d+", atom):
                factors.append(f"1e{atom[3:]}")
                continue
            m = _ATOM.fullmatch(atom)
            if not m:
                raise ValidationFailed("unit code is not a UCUM code medinfer reads", code="unknown-unit")
            unit, exp = m.group(1), m.group(2)
            unit = _SIMPLE.get(unit, unit)
            factors.append(f"({unit})**{exp}" if exp else unit)
        parts.append("(" + "*".join(factors) + ")")
    return "".join(parts)


def convert(value: float, code: str, target: str) -> float:
    """``value`` in UCUM ``code`` expressed in UCUM ``target``; 422 when the units are unknown or incompatible.

    pint conversions are affine (``a * x + b``; ``b`` is non-zero only for offset units such as
    Cel -> [degF]), so each unit pair is solved with pint once and cached: pint costs ~0.3 ms a
    call and a Bundle holds dozens of Observations.
    """
    a, b = _affine(code, target)
    return a * value + b


@lru_cache(maxsize=1024)
def _affine(code: str, target: str) -> tuple[float, float]:
    zero = _convert(0.0, code, target)
    return _convert(1.0, code, target) - zero, zero


def _convert(value: float, code: str, target: str) -> float:
    reg = registry()
    src, dst = to_pint(code), to_pint(target)
    try:
        s_q, d_q = reg.parse_expression(src), reg.parse_expression(dst)  # may carry a 10*n factor
        qty = reg.Quantity(value * float(s_q.magnitude), s_q.units)
        unit, scale = d_q.units, float(d_q.magnitude)
    except (pint.errors.PintError, AttributeError, TypeError, ValueError, SyntaxError):
        raise ValidationFailed("unit code is not a UCUM code medinfer reads", code="unknown-unit") from None
    try:
        return float(qty.to(unit).magnitude) / scale
    except pint.errors.DimensionalityError:
        raise ValidationFailed(f"unit is not convertible to '{target}'", code="unit-incompatible",
                               extra={"expected_unit": target}) from None
