"""DICOM de-identification: every Annex E row handled, keyed UIDs and dates, private tags."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from medinfer.preprocess.dicom_deid import (
    DicomDeidentifier,
    KeyedMapper,
    load_annex_e,
    parse_private_allowlist,
)
from medinfer.preprocess.dicom_deid.profile import resolve_action
from medinfer.preprocess.imaging.errors import CorruptImage
from tests.support.dicom_factory import PHI, ct_slice, make_dicom

SECRET = "test-secret-0123456789abcdef"
TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"


def deid(secret: str = SECRET, **kw) -> DicomDeidentifier:
    return DicomDeidentifier(KeyedMapper(secret), **kw)


def _value_for(vr: str):
    return {
        "DA": "20240315", "DT": "20240315101500", "TM": "101500", "PN": "Doe^Jane", "UI": generate_uid(),
        "US": 1, "SS": 1, "UL": 1, "SL": 1, "FL": 1.0, "FD": 1.0, "DS": "1.5", "IS": "1", "AS": "045Y",
        "CS": "ABC", "AT": 0x00100010, "OB": b"\x01\x02", "OW": b"\x01\x02", "UN": b"\x01\x02",
        "OF": b"\x01\x02\x03\x04", "UV": 1, "SV": 1,
    }.get(vr, "identifying text")


def _full_dataset() -> tuple[Dataset, dict[int, object]]:
    """A data set holding every attribute of the Annex E table that has a fixed tag."""
    ds = Dataset()
    ds.PatientID = "MRN-1"
    originals = {}
    table = load_annex_e()
    for tag, rule in table.exact.items():
        if tag >> 16 in (0x0000, 0x0002):
            continue  # command and file-meta groups are not data set attributes
        vr = dictionary_VR(tag).split(" or ")[0]
        if vr == "SQ":
            item = Dataset()
            item.PatientName = "Doe^Jane"
            item.CodeMeaning = "identifying text"
            value = [item]
        else:
            value = _value_for(vr)
        ds.add_new(tag, vr, value)
        originals[tag] = value
    ds.PatientID = "MRN-1"  # the patient key the date shift derives from
    ds.add_new(0x50003000, "OW", b"\x01\x02")  # Curve Data (50xx,xxxx)
    ds.add_new(0x60003000, "OW", b"\x01\x02")  # Overlay Data (60xx,3000)
    ds.add_new(0x60024000, "LT", "overlay comment")  # Overlay Comments (60xx,4000)
    return ds, originals


def test_table_is_the_standards_size_and_every_code_resolves():
    table = load_annex_e()
    assert len(table) > 400
    assert {rule.action for rule in table.rules()} == {"X", "Z", "D", "U"}
    assert resolve_action("X/Z/U*") == "X" and resolve_action("Z/D") == "Z" and resolve_action("U") == "U"
    assert table.rule_for(0x00100010).code == "Z"  # Patient's Name
    assert table.rule_for(0x0020000D).code == "U"  # Study Instance UID
    assert table.rule_for(0x50101234).name == "Curve Data"
    assert table.rule_for(0x601E3000).name == "Overlay Data"


def test_every_annex_e_attribute_is_handled():
    ds, originals = _full_dataset()
    shift = KeyedMapper(SECRET).date_shift_days("PatientID:MRN-1")
    deid().deidentify(ds)
    table = load_annex_e()
    checked = 0
    for tag, original in originals.items():
        rule = table.exact[tag]
        vr = dictionary_VR(tag).split(" or ")[0]
        present = tag in ds
        if tag == 0x00100020:  # Patient ID: Z, replaced by the keyed pseudonym
            assert ds.PatientID.startswith("ANON-")
        elif rule.modified_dates and vr in ("DA", "DT"):
            assert present and str(ds[tag].value)[:8] != str(original)[:8]
            shifted = date(2024, 3, 15).toordinal() + shift
            assert str(ds[tag].value)[:8] == date.fromordinal(shifted).strftime("%Y%m%d")
        elif rule.modified_dates and vr == "TM":
            assert present and ds[tag].value == original
        elif rule.action == "X":
            assert not present, rule.name
        elif rule.action == "Z":
            assert present and (ds[tag].value in ("", None, b"") or len(ds[tag].value) == 0), rule.name
        elif rule.action == "U":
            assert present and ds[tag].value != original and str(ds[tag].value).startswith("2.25."), rule.name
        elif rule.action == "D":
            assert present, rule.name
            if vr == "SQ":
                assert all(str(it.PatientName) != "Doe^Jane" for it in ds[tag].value), rule.name
            elif vr not in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
                assert ds[tag].value != original, rule.name
        checked += 1
    assert checked == len(originals) > 400
    for tag in (0x50003000, 0x60003000, 0x60024000):
        assert tag not in ds
    assert ds.PatientIdentityRemoved == "YES"
    codes = [it.CodeValue for it in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113107"]
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"


def _instance(study_uid: str, patient: str = "MRN-0042-7731", ref: str | None = None) -> bytes:
    extra = {"PatientID": patient}
    if ref:
        item = Dataset()
        item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        item.ReferencedSOPInstanceUID = ref
        extra["SourceImageSequence"] = [item]
        item2 = Dataset()
        item2.ReferencedSOPInstanceUID = ref
        extra["ReferencedInstanceSequence"] = [item2]
    return make_dicom(ct_slice(16), study_uid=study_uid, private=True, extra=extra)


def _read(raw: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(raw))


def test_uids_consistent_within_a_study_and_different_across_keys():
    study = generate_uid()
    a_raw = _instance(study)
    a_in = _read(a_raw)
    b_raw = _instance(study, ref=a_in.SOPInstanceUID)
    a, _ = deid().deidentify_bytes(a_raw)
    b, _ = deid().deidentify_bytes(b_raw)
    a, b = _read(a), _read(b)
    assert a.StudyInstanceUID == b.StudyInstanceUID != study
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    # A reference inside a sequence follows its target to the same new UID.
    assert b.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == a.SOPInstanceUID
    other, _ = deid("another-secret-0123456789").deidentify_bytes(a_raw)
    other = _read(other)
    assert other.StudyInstanceUID != a.StudyInstanceUID
    assert len(a.StudyInstanceUID) <= 64 and a.SOPClassUID == a_in.SOPClassUID


def test_dates_shifted_consistently_per_patient():
    s1, _ = deid().deidentify_bytes(_instance(generate_uid(), patient="P-1"))
    s2, _ = deid().deidentify_bytes(_instance(generate_uid(), patient="P-1"))
    s3, _ = deid().deidentify_bytes(_instance(generate_uid(), patient="P-2"))
    d1, d2, d3 = (_read(x) for x in (s1, s2, s3))
    assert d1.StudyDate == d2.StudyDate != "20240315"
    assert d1.PatientID == d2.PatientID != d3.PatientID
    # StudyDate 20240315, ContentDate 20240316: the interval survives the shift.
    assert date.fromisoformat(_iso(d1.ContentDate)) - date.fromisoformat(_iso(d1.StudyDate)) == (
        date(2024, 3, 16) - date(2024, 3, 15))
    m = KeyedMapper(SECRET)
    assert m.date_shift_days("PatientID:P-1") != m.date_shift_days("PatientID:P-2")
    assert -365 <= m.date_shift_days("PatientID:P-1") <= -1


def _iso(da: str) -> str:
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}"


def test_phi_and_private_tags_removed_from_the_bytes():
    raw = _instance(generate_uid())
    out, report = deid().deidentify_bytes(raw)
    for key, value in PHI.items():
        if key == "StudyTime":
            continue  # the Modified Dates Option keeps times of day (dates move by whole days)
        assert value.encode() not in out, key
    assert b"private patient note" not in out and b"ACME IMAGING" not in out
    ds = _read(out)
    assert not any(e.tag.is_private for e in ds)
    assert report.private_removed >= 3
    assert ds.PixelData == _read(raw).PixelData  # pixels untouched


def test_allow_listed_private_tag_is_kept():
    allow = parse_private_allowlist(["0011,ACME IMAGING,02"])
    out, report = deid(private_allowlist=allow).deidentify_bytes(_instance(generate_uid()))
    ds = _read(out)
    block = ds.private_block(0x0011, "ACME IMAGING")
    assert block[0x02].value == "1.5"
    assert 0x00111001 not in ds  # the offset-01 note is not allow-listed
    assert report.private_kept == 1


def test_creator_removed_when_its_allowed_offset_is_absent():
    allow = parse_private_allowlist(["0011,ACME IMAGING,7F"])  # nothing at offset 7F
    out, _ = deid(private_allowlist=allow).deidentify_bytes(_instance(generate_uid()))
    assert not any(e.tag.is_private for e in _read(out))


def test_allowlist_syntax_is_validated():
    with pytest.raises(ValueError):
        parse_private_allowlist(["0010,X,01"])  # even group is not private
    with pytest.raises(ValueError):
        parse_private_allowlist(["bad"])


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "test-SR.dcm", "examples_overlay.dcm",
                                  "JPEG2000.dcm"])
def test_pydicom_files_deidentify_and_reread(name):
    raw = (TEST_FILES / name).read_bytes()
    original = _read(raw)
    out, _ = deid().deidentify_bytes(raw)
    ds = _read(out)
    assert ds.PatientIdentityRemoved == "YES"
    assert "PatientName" not in ds or str(ds.PatientName) == ""
    name_value = str(original.get("PatientName", "")).encode()
    if len(name_value) > 3:
        assert name_value not in out
    if "StudyInstanceUID" in original:
        assert ds.StudyInstanceUID != original.StudyInstanceUID


def test_weak_secret_refused_and_bad_file_is_422():
    with pytest.raises(ValueError):
        KeyedMapper("short")
    with pytest.raises(CorruptImage):
        deid().deidentify_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 20)


def test_preamble_is_zeroed():
    """The 128-byte preamble is free-form: a file that carried a name and MRN there keeps neither."""
    raw = bytearray(_instance(generate_uid()))
    assert raw[128:132] == b"DICM"
    leaked = b"SMITH JOHN MRN 00123456 DOB 1961-02-03".ljust(128, b" ")
    raw[:128] = leaked
    out, _ = deid().deidentify_bytes(bytes(raw))
    assert out[:128] == b"\x00" * 128 and out[128:132] == b"DICM"
    assert b"SMITH" not in out and b"00123456" not in out
    ds = pydicom.dcmread(io.BytesIO(bytes(raw)))
    deid().deidentify(ds)  # the in-place API (the CLI's) zeroes it as well
    assert ds.preamble == b"\x00" * 128
