"""Burned-in text: which images get OCR (policy), which OCR words are PHI, and the masks.

Policy, per modality (settings) or per request (``burned_in``):

- ``mask``: OCR the display-ready frame(s), fill every PHI word box (default for US, SC,
  OT, XC, ES, DOC, secondary-capture SOP classes, and PNG/JPEG uploads);
- ``refuse``: 422 when the header declares ``BurnedInAnnotation YES`` or OCR finds PHI;
- ``auto``: trust the header: OCR and mask only when ``BurnedInAnnotation`` is YES or
  unreadable (default for CT, MR and the rest, so they pay nothing);
- ``off``: no OCR at all, only where the setting ``image_burned_in_allow_off`` says so.

Which words are PHI: the OCR text of a frame (one line per detected line) goes through
the text de-identifier (``DeidEngine.analyze``); entity spans are mapped back to the
word boxes they overlap. For DICOM the header's own identifiers (patient name parts,
IDs, accession, birth and study dates in common spellings, institution and staff
names) are matched against the words too, before the header is de-identified: text on
an ultrasound usually repeats them. With ``scope="all"`` (or no text engine) every word
is masked. Nothing here logs or raises with the text it reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from medinfer.common.errors import ValidationFailed
from medinfer.preprocess.deid.vocab import cannot_be_name
from medinfer.preprocess.imaging.errors import BurnedInAnnotationRefused
from medinfer.preprocess.imaging.ocr import TesseractOcr, Word

__all__ = ["POLICIES", "BurnedInPolicy", "PhiTextFinder", "Box", "header_terms", "flagged",
           "to_gray8", "mask_unit_frame", "BurnedInOutcome"]

POLICIES = ("mask", "refuse", "auto", "off")
DEFAULT_MASK_MODALITIES = ("US", "SC", "OT", "XC", "ES", "DOC", "GM", "SM")
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # and its multi-frame children .7.1-.7.4
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_NAME_KEYWORDS = ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
                  "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
                  "NameOfPhysiciansReadingStudy", "RequestingPhysician")
_ID_KEYWORDS = ("PatientID", "OtherPatientIDs", "AccessionNumber", "IssuerOfPatientID", "StudyID",
                "MedicalRecordLocator", "InstitutionName", "InstitutionAddress", "PatientAddress",
                "PatientTelephoneNumbers", "StationName")
_DATE_KEYWORDS = ("PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")

Box = tuple[int, int, int, int]  # left, top, width, height in frame pixels


@dataclass
class BurnedInOutcome:
    """PHI-free facts about what the burned-in step did (counts only)."""

    policy: str
    ocr: bool = False
    frames_read: int = 0
    words: int = 0
    boxes: list[Box] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {"policy": self.policy, "ocr": self.ocr, "frames_read": self.frames_read,
                "words": self.words, "masked_boxes": len(self.boxes)}


class BurnedInPolicy:
    """Resolves the effective policy for one image from settings and the request."""

    def __init__(self, by_modality: dict[str, str] | None = None, *, default: str = "auto",
                 raster: str = "mask", allow_off: bool = False) -> None:
        table = {m: "mask" for m in DEFAULT_MASK_MODALITIES} if by_modality is None else {}
        table.update({k.upper(): v for k, v in (by_modality or {}).items()})
        for value in (*table.values(), default, raster):
            if value not in POLICIES:
                raise ValueError(f"burned-in policy must be one of {POLICIES}")
            if value == "off" and not allow_off:
                raise ValueError("burned-in policy 'off' needs image_burned_in_allow_off")
        self.by_modality, self.default, self.raster, self.allow_off = table, default, raster, allow_off

    def check_request(self, requested: object) -> str | None:
        if requested in (None, ""):
            return None
        if requested not in ("mask", "refuse", "off"):
            raise ValidationFailed("'burned_in' must be mask, refuse or off", field="burned_in")
        if requested == "off" and not self.allow_off:
            raise ValidationFailed("'burned_in' off is not allowed by this deployment", field="burned_in",
                                   code="burned-in-off-not-allowed")
        return str(requested)

    def resolve(self, *, raster: bool, modality: str = "", sop_class: str = "",
                requested: object = None) -> str:
        asked = self.check_request(requested)
        if asked is not None:
            return asked
        if raster:
            return self.raster
        if sop_class.startswith(_SECONDARY_CAPTURE) and "SC" in self.by_modality:
            return self.by_modality["SC"]
        return self.by_modality.get(modality.strip().upper(), self.default)


def flagged(ds: Dataset) -> bool:
    """BurnedInAnnotation YES, or a flag that cannot be read (fail closed)."""
    try:
        return str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
    except Exception:
        return True


def needs_ocr(policy: str, is_flagged: bool) -> bool:
    if policy == "refuse" and is_flagged:
        raise BurnedInAnnotationRefused("BurnedInAnnotation is YES and the burned-in policy is refuse",
                                        field="BurnedInAnnotation")
    return policy in ("mask", "refuse") or (policy == "auto" and is_flagged)


def _date_spellings(value: str) -> set[str]:
    s = value.strip()[:8]
    try:
        d = date(int(s[0:4]), int(s[4:6]), int(s[6:8]))
    except (ValueError, IndexError):
        return set()
    y, m, dd, yy = f"{d.year:04d}", f"{d.month:02d}", f"{d.day:02d}", f"{d.year % 100:02d}"
    return {y + m + dd, m + dd + y, dd + m + y, m + dd + yy, dd + m + yy,
            f"{d.month}{d.day}{y}", f"{d.day}{d.month}{y}"}


def header_terms(ds: Dataset) -> frozenset[str]:
    """Upper-case alphanumeric tokens of the header's identifiers (read before de-identification)."""
    terms: set[str] = set()

    def values(kw: str) -> Iterable[str]:
        try:
            v = ds.get(kw)
        except Exception:
            return ()
        if v is None or v == "":
            return ()
        return [str(x) for x in v] if isinstance(v, (list, tuple, MultiValue)) else [str(v)]

    for kw in _NAME_KEYWORDS + _ID_KEYWORDS:
        for v in values(kw):
            tokens = [t.upper() for t in _TOKEN.findall(v)]
            terms.update(t for t in tokens if len(t) >= 2 and t not in _STOP)
            joined = "".join(tokens)
            if len(joined) >= 4:
                terms.add(joined)
    for kw in _DATE_KEYWORDS:
        for v in values(kw):
            terms.update(_date_spellings(v))
    return frozenset(terms)


_STOP = frozenset({"DR", "MD", "MR", "MRS", "MS", "THE", "OF", "AND", "DE", "ST", "HOSPITAL", "CLINIC",
                   "CENTER", "CENTRE", "MEDICAL", "UNIVERSITY", "DEPT", "RADIOLOGY"})


def _word_matches(word: str, terms: frozenset[str]) -> bool:
    tokens = [t.upper() for t in _TOKEN.findall(word)]
    if not tokens:
        return False
    if "".join(tokens) in terms or any(t in terms for t in tokens if len(t) >= 2):
        return True
    digits = "".join(ch for ch in word if ch.isdigit())
    return len(digits) >= 6 and digits in terms


class PhiTextFinder:
    """OCR words -> the boxes that carry PHI."""

    def __init__(self, ocr: TesseractOcr, text_engine: Callable[[], object | None] | None = None, *,
                 scope: str = "phi", pad_px: int = 2) -> None:
        if scope not in ("phi", "all"):
            raise ValueError("burned-in scope must be 'phi' or 'all'")
        self.ocr, self.text_engine, self.scope, self.pad_px = ocr, text_engine, scope, pad_px

    def phi_words(self, words: list[Word], terms: frozenset[str] = frozenset()) -> list[Word]:
        words = [w for w in words if any(ch.isalnum() for ch in w.text)]
        engine = self.text_engine() if self.text_engine is not None else None
        if self.scope == "all" or engine is None:
            return words
        hit = {i for i, w in enumerate(words) if terms and _word_matches(w.text, terms)}
        # dates and long identifiers are PHI wherever they appear on an image (Safe Harbor)
        hit.update(i for i, w in enumerate(words) if w.conf >= _RULE_CONF and _identifier_or_date(w.text))
        lines = _lines(words)
        text, spans = _layout(words, lines)
        if text.strip():
            for ent in engine.analyze(text):
                hit.update(i for i, (s, e) in spans.items() if s < ent.end and ent.start < e)
        # A line shaped like a bare name ("KOWALSKI^MARTA", "DOE, JANE") has no context for
        # the NER; read it as the name field it almost always is on an overlay.
        for line in lines:
            if words[line[0]].text.endswith(":") and len(line) > 1:
                line = line[1:]  # "Name:", "Pt:" labels
            parts = [_analysis_text(words[i].text) for i in line]
            if not _NAME_LINE.match(" ".join(parts)) or all(cannot_be_name(p.strip("^,")) for p in parts):
                continue
            name_words = [p for part in parts for p in re.split(r"[\^, ]+", part) if p]
            if (len(name_words) >= 2 and not any(cannot_be_name(p.capitalize()) for p in name_words)
                    and all(words[i].conf >= _NAME_CONF for i in line)):
                hit.update(line)  # two to four plain name words alone on a line: a name, NER or not
                continue
            prefix, pos, local = _NAME_CONTEXT, len(_NAME_CONTEXT), {}
            for i, part in zip(line, parts):
                local[i] = (pos, pos + len(part))
                pos += len(part) + 1
            sentence = prefix + " ".join(parts)
            for ent in engine.analyze(sentence):
                if ent.label == "NAME":
                    hit.update(i for i, (s, e) in local.items() if s < ent.end and ent.start < e)
        _extend_names(words, lines, hit)
        return [w for i, w in enumerate(words) if i in hit]

    def find(self, gray: np.ndarray, terms: frozenset[str] = frozenset()) -> tuple[list[Box], int]:
        """(padded PHI boxes clipped to the frame, number of words read)."""
        words = self.ocr.words(gray)
        rows, cols = gray.shape
        boxes = []
        for w in self.phi_words(words, terms):
            pad = self.pad_px + w.height // 5
            left, top = max(0, w.left - pad), max(0, w.top - pad)
            right, bottom = min(cols, w.left + w.width + pad), min(rows, w.top + w.height + pad)
            if right > left and bottom > top:
                boxes.append((left, top, right - left, bottom - top))
        return boxes, len(words)


_NAME_CONTEXT = "Patient name: "
_NAME_LINE = re.compile(r"^[^\W\d_][^\W\d_'’-]*(?:[ ,^]+[^\W\d_][^\W\d_'’-]*){1,3}$")
_RULE_CONF, _NAME_CONF = 0.0, 60.0
_LABELS = frozenset({"MRN", "DOB", "ID", "PID", "ACC", "ACC#", "NAME", "PT", "PATIENT", "BORN", "DATE", "SEX", "AGE"})
_DATE = re.compile(r"^(?:\d{1,4}[./:°-]\d{1,2}[./:°-]\d{2,4}|\d{0,2}[ .-]?[A-Za-z]{3,9}[ .-]?\d{4}|"
                   r"(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))$")
_LONG_ID = re.compile(r"^(?=(?:\D*\d){5})[A-Za-z0-9#-]{5,}$")


def _identifier_or_date(word: str) -> bool:
    w = word.strip("()[]{}.,;:'\"“”")
    return bool(_DATE.match(w) or _LONG_ID.match(w))
_OCR_SEPARATORS = str.maketrans({"*": "^", "“": "^", "”": "^", '"': "^", "|": "^", "~": "^"})


def _is_name_part(text: str) -> bool:
    core = text.strip("()[]{}'‘’\"“”,^*")
    return (bool(core) and not any(c.isdigit() for c in core) and any(c.isalpha() for c in core)
            and not core.endswith(":") and core.upper().rstrip(".") not in _LABELS)


def _extend_names(words: list[Word], lines: list[list[int]], hit: set[int]) -> None:
    """A name hit spreads to the alphabetic words next to it on its line: OCR often splits
    or garbles a name's other half ("Petit, Be"), and half a name still identifies."""
    for line in lines:
        changed = True
        while changed:
            changed = False
            for k, i in enumerate(line):
                if i not in hit or not _is_name_part(words[i].text):
                    continue
                for j in (line[k - 1] if k else None, line[k + 1] if k + 1 < len(line) else None):
                    if j is None or j in hit or not _is_name_part(words[j].text):
                        continue
                    gap = max(words[j].left - (words[i].left + words[i].width),
                              words[i].left - (words[j].left + words[j].width))
                    if gap <= 1.5 * max(words[i].height, words[j].height):
                        hit.add(j)
                        changed = True


def _analysis_text(word: str) -> str:
    """OCR reads DICOM's '^' as '*' or a quote; brackets at word ends are noise."""
    return word.translate(_OCR_SEPARATORS).strip("()[]{}'‘’").strip("^") or word


def _lines(words: list[Word]) -> list[list[int]]:
    """Word indices grouped into lines by vertical overlap, each line left to right."""
    lines: list[list[int]] = []
    for i in sorted(range(len(words)), key=lambda i: (words[i].top, words[i].left)):
        w = words[i]
        for line in lines:
            ref = words[line[0]]
            overlap = min(w.top + w.height, ref.top + ref.height) - max(w.top, ref.top)
            if overlap > 0.5 * min(w.height, ref.height):
                line.append(i)
                break
        else:
            lines.append([i])
    return [sorted(line, key=lambda i: words[i].left) for line in lines]


def _layout(words: list[Word], lines: list[list[int]]) -> tuple[str, dict[int, tuple[int, int]]]:
    """The page as text (spaces within a line, newlines between) and each word's span."""
    parts, spans, pos = [], {}, 0
    for n, line in enumerate(lines):
        if n:
            parts.append("\n")
            pos += 1
        for k, i in enumerate(line):
            if k:
                parts.append(" ")
                pos += 1
            text = _analysis_text(words[i].text)
            spans[i] = (pos, pos + len(text))
            parts.append(text)
            pos += len(text)
    return "".join(parts), spans


def to_gray8(unit: np.ndarray) -> np.ndarray:
    """A [0, 1] display frame (H x W or H x W x 3) as 8-bit luma for OCR."""
    if unit.ndim == 3:
        unit = 0.299 * unit[..., 0] + 0.587 * unit[..., 1] + 0.114 * unit[..., 2]
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)


def mask_unit_frame(unit: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """Fill boxes of a display frame with its darkest value (black on a normal display)."""
    if not boxes:
        return unit
    out = unit.copy()
    fill = float(out.min())
    for left, top, width, height in boxes:
        out[top:top + height, left:left + width] = fill
    return out
