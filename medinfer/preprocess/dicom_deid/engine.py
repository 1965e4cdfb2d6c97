"""DICOM de-identification: PS3.15 Annex E Basic Application Level Confidentiality
Profile with the Retain Longitudinal Temporal Information with Modified Dates Option.

Per attribute, at every nesting level, the action from ``annex_e.tsv`` is applied
(see ``profile`` for how composite codes resolve). Private attributes (odd groups)
are removed unless their (group, private creator, element offset) is allow-listed.
UIDs are replaced by keyed HMAC UIDs; dates move by a keyed per-patient offset.
The result carries PatientIdentityRemoved=YES, DeidentificationMethod and the
DeidentificationMethodCodeSequence (DCM 113100 and, with shifted dates, 113107).

Pixel data is not altered: burned-in text is handled by policy (``BurnedInAnnotation``)
on the inference path, not by this module.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medinfer.preprocess.dicom_deid.keys import KeyedMapper
from medinfer.preprocess.dicom_deid.profile import AnnexETable, load_annex_e
from medinfer.preprocess.imaging.errors import CorruptImage

__all__ = ["DicomDeidentifier", "DeidReport", "PrivateTag", "parse_private_allowlist"]

METHOD = "DICOM PS3.15 E.1 Basic Profile; Modified Dates Option; medinfer"
_TEXT_VRS = {"PN", "LO", "SH", "LT", "ST", "UT", "UC"}
_DUMMY_TEXT = {"PN": "ANONYMOUS", "AE": "ANONYMIZED", "AS": "000Y", "CS": "ANONYMIZED",
               "DA": "19000101", "DT": "19000101000000", "TM": "000000", "IS": "0", "DS": "0"}


@dataclass(frozen=True)
class PrivateTag:
    """An allow-listed private attribute: odd group, private creator, element offset."""

    group: int
    creator: str
    offset: int


def parse_private_allowlist(entries: list[str] | tuple[str, ...]) -> frozenset[PrivateTag]:
    """Entries look like ``"0029,SIEMENS CSA HEADER,10"`` (hex group, creator, hex offset)."""
    out = set()
    for entry in entries:
        group, creator, offset = _split_entry(entry)
        g, o = int(group, 16), int(offset, 16)
        if g % 2 == 0 or not 0 <= o <= 0xFF:
            raise ValueError("private allow-list entries need an odd group and an offset 00-FF")
        out.add(PrivateTag(g, creator, o))
    return frozenset(out)


def _split_entry(entry: str) -> tuple[str, str, str]:
    head, _, rest = entry.partition(",")
    creator, _, offset = rest.rpartition(",")
    if not head or not creator or not offset:
        raise ValueError("private allow-list entries look like 'gggg,CREATOR,ee'")
    return head.strip(), creator.strip(), offset.strip()


@dataclass
class DeidReport:
    """Counts only (never values), safe to log or return."""

    removed: int = 0
    emptied: int = 0
    dummied: int = 0
    uids_replaced: int = 0
    dates_shifted: int = 0
    private_removed: int = 0
    private_kept: int = 0
    burned_in_annotation: str = "UNKNOWN"
    actions: dict[str, str] = field(default_factory=dict)  # tag -> action, top level


class DicomDeidentifier:
    def __init__(
        self,
        mapper: KeyedMapper,
        *,
        private_allowlist: frozenset[PrivateTag] = frozenset(),
        modified_dates: bool = True,
        table: AnnexETable | None = None,
    ) -> None:
        self.mapper = mapper
        self.private_allowlist = private_allowlist
        self.modified_dates = modified_dates
        self.table = table or load_annex_e()

    # -- public API -------------------------------------------------------------------------
    def deidentify_bytes(self, data: bytes) -> tuple[bytes, DeidReport]:
        """Parse, de-identify and re-encode a Part 10 file held in memory."""
        from medinfer.preprocess.imaging.dicom_pixels import read_dicom

        ds = read_dicom(data)
        report = self.deidentify(ds)
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        except Exception:
            raise CorruptImage("de-identified data set could not be encoded (invalid attributes)") from None
        return buf.getvalue(), report

    def deidentify(self, ds: Dataset) -> DeidReport:
        """De-identify ``ds`` in place and return what was done (counts only)."""
        report = DeidReport()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                patient_key = self._patient_key(ds)
                report.burned_in_annotation = str(ds.get("BurnedInAnnotation", "") or "UNKNOWN").upper()
                shift = self.mapper.date_shift_days(patient_key)
                self._walk(ds, report, shift, top=True)
                self._mark(ds, patient_key, report)
                if getattr(ds, "preamble", None) is not None:
                    # The 128-byte preamble is free-form (applications put names, MRNs, TIFF headers in it)
                    # and no attribute rule covers it: PS3.10 7.1 allows all zeros.
                    ds.preamble = b"\x00" * 128
                meta = getattr(ds, "file_meta", None)
                if meta is not None and "SOPInstanceUID" in ds:
                    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                if meta is not None and "SOPClassUID" in ds and not meta.get("MediaStorageSOPClassUID"):
                    meta.MediaStorageSOPClassUID = ds.SOPClassUID
            except CorruptImage:
                raise
            except Exception:
                raise CorruptImage("DICOM attributes could not be de-identified (malformed values)") from None
        return report

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _patient_key(ds: Dataset) -> str:
        for kw in ("PatientID", "PatientName", "StudyInstanceUID"):
            value = str(ds.get(kw, "") or "").strip()
            if value:
                return f"{kw}:{value}"
        return "unknown-patient"

    def _walk(self, ds: Dataset, report: DeidReport, shift: int, top: bool = False) -> None:
        creators = self._kept_private_creators(ds)
        for elem in list(ds):
            tag = int(elem.tag)
            if elem.tag.is_private:
                self._private(ds, elem, creators, report)
                continue
            rule = self.table.rule_for(tag)
            if rule is None:
                if elem.VR == "SQ":
                    for item in elem.value:
                        self._walk(item, report, shift)
                continue
            action = rule.action
            if top:
                report.actions[f"{tag:08X}"] = action
            if self.modified_dates and rule.modified_dates and elem.VR in ("DA", "DT", "TM"):
                self._shift(ds, elem, shift, report)
            elif action == "X":
                del ds[elem.tag]
                report.removed += 1
            elif action == "Z":
                if elem.VR == "SQ":
                    elem.value = Sequence()
                else:
                    elem.value = "" if elem.VR in _TEXT_VRS or elem.VR in _DUMMY_TEXT or elem.VR == "UI" else None
                report.emptied += 1
            elif action == "U":
                self._replace_uids(elem, report)
            elif action == "D":
                self._dummy(elem, report, shift)
            # "K": keep as is

    def _kept_private_creators(self, ds: Dataset) -> dict[tuple[int, int], str]:
        out = {}
        for elem in ds:
            t = elem.tag
            if t.is_private and 0x0010 <= t.element <= 0x00FF:
                out[(t.group, t.element)] = str(elem.value or "").strip()
        return out

    def _private(self, ds: Dataset, elem: DataElement, creators: dict, report: DeidReport) -> None:
        t = elem.tag
        if t.element < 0x0010:  # group length
            del ds[t]
            return
        if t.element <= 0x00FF:  # creator: kept only if an allowed element uses its block
            block, creator = t.element, str(elem.value or "").strip()
            keep = any(
                e.tag.group == t.group and e.tag.element >> 8 == block
                and PrivateTag(t.group, creator, e.tag.element & 0xFF) in self.private_allowlist
                for e in ds
            )
            if not keep:
                del ds[t]
                report.private_removed += 1
            return
        creator = creators.get((t.group, t.element >> 8))
        if creator is not None and PrivateTag(t.group, creator, t.element & 0xFF) in self.private_allowlist:
            report.private_kept += 1
            return
        del ds[t]
        report.private_removed += 1

    def _replace_uids(self, elem: DataElement, report: DeidReport) -> None:
        if elem.VR != "UI" or elem.value in (None, ""):
            return
        if elem.VM > 1:
            elem.value = [self.mapper.uid(str(v)) for v in elem.value]
        else:
            elem.value = self.mapper.uid(str(elem.value))
        report.uids_replaced += 1

    def _dummy(self, elem: DataElement, report: DeidReport, shift: int) -> None:
        report.dummied += 1
        if elem.VR == "SQ":
            for item in elem.value:
                self._walk(item, report, shift)
                self._blank_text(item)
            return
        if elem.VR == "UI":
            self._replace_uids(elem, report)
        elif elem.VR in _TEXT_VRS:
            elem.value = "ANONYMOUS" if elem.VR == "PN" else "ANONYMIZED"
        elif elem.VR in _DUMMY_TEXT:
            elem.value = _DUMMY_TEXT[elem.VR]
        elif elem.VR in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
            elem.value = 0
        else:
            elem.value = b"\x00\x00"

    def _blank_text(self, item: Dataset) -> None:
        for elem in item:
            if elem.tag.is_private:
                continue
            if elem.VR in _TEXT_VRS and elem.value not in (None, ""):
                elem.value = "ANONYMOUS" if elem.VR == "PN" else "ANONYMIZED"
            elif elem.VR == "SQ":
                for sub in elem.value:
                    self._blank_text(sub)

    def _shift(self, ds: Dataset, elem: DataElement, shift: int, report: DeidReport) -> None:
        if elem.VR == "TM" or elem.value in (None, ""):
            return  # whole-day shifts keep the time of day
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        out = []
        for v in values:
            s = str(v).strip()
            try:
                d = date(int(s[0:4]), int(s[4:6]), int(s[6:8])) + timedelta(days=shift)
            except (ValueError, IndexError):
                del ds[elem.tag]  # an unparseable date is removed, never kept
                report.removed += 1
                return
            out.append(d.strftime("%Y%m%d") + (s[8:] if elem.VR == "DT" else ""))
        elem.value = out if len(out) > 1 else out[0]
        report.dates_shifted += 1

    def _mark(self, ds: Dataset, patient_key: str, report: DeidReport) -> None:
        ds.PatientID = self.mapper.patient_pseudonym(patient_key)
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = METHOD
        codes = [("113100", "Basic Application Confidentiality Profile")]
        if self.modified_dates:
            codes.append(("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        seq = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            seq.append(item)
        ds.DeidentificationMethodCodeSequence = seq
