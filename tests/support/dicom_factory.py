"""Build DICOM Part 10 files in memory for tests and benchmarks (pydicom, no fixtures on disk)."""

from __future__ import annotations

import io

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

# Deterministic-looking but fake identifiers: every value a de-identifier must remove.
PHI = {
    "PatientName": "Doe^Jane", "PatientID": "MRN-0042-7731", "PatientBirthDate": "19610412",
    "AccessionNumber": "ACC-99812", "InstitutionName": "Saint Example Hospital",
    "ReferringPhysicianName": "House^Gregory", "StudyDate": "20240315", "SeriesDate": "20240315",
    "AcquisitionDate": "20240315", "ContentDate": "20240316", "StudyTime": "101500",
    "StudyID": "STUDY-7", "OperatorsName": "Tech^Tom", "StationName": "CT-ROOM-3",
    "PatientAddress": "12 Main Street, Springfield", "OtherPatientIDs": "OLD-123",
    "InstitutionAddress": "1 Hospital Road", "PerformingPhysicianName": "Grey^Meredith",
}


def make_dicom(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    slope: float | None = None,
    intercept: float | None = None,
    window: tuple[float, float] | None = None,
    modality: str = "CT",
    study_uid: str | None = None,
    burned_in: str | None = None,
    phi: bool = True,
    extra: dict | None = None,
    private: bool = False,
    declared: dict | None = None,
) -> bytes:
    """``pixels``: [rows, cols] or [frames, rows, cols] (int16/uint16/uint8) or [rows, cols, 3] uint8 RGB."""
    rgb = pixels.ndim == 3 and pixels.shape[-1] == 3 and photometric == "RGB"
    frames = pixels.shape[0] if (pixels.ndim == 3 and not rgb) else 1
    rows, cols = (pixels.shape[1:3] if frames > 1 or (pixels.ndim == 3 and not rgb) else pixels.shape[:2])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    sop = generate_uid()
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = modality
    if phi:
        for k, v in PHI.items():
            setattr(ds, k, v)
    ds.Rows, ds.Columns = int(rows), int(cols)
    ds.SamplesPerPixel = 3 if rgb else 1
    ds.PhotometricInterpretation = photometric
    if rgb:
        ds.PlanarConfiguration = 0
    itemsize = pixels.dtype.itemsize
    ds.BitsAllocated = itemsize * 8
    ds.BitsStored = itemsize * 8
    ds.HighBit = itemsize * 8 - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept or 0
        ds.RescaleType = "HU"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    if private:
        block = ds.private_block(0x0011, "ACME IMAGING", create=True)
        block.add_new(0x01, "LO", "private patient note")
        block.add_new(0x02, "DS", "1.5")
    for k, v in (extra or {}).items():
        setattr(ds, k, v)
    for k, v in (declared or {}).items():
        setattr(ds, k, v)
    ds.PixelData = np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def ct_slice(size: int = 512, seed: int = 0) -> np.ndarray:
    """A CT-like int16 slice in stored values (HU + 1024): air, a body disc, bone ring."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2) / (size / 2)
    hu = np.where(r < 0.8, 40.0, -1000.0) + np.where((r > 0.7) & (r < 0.8), 900.0, 0.0)
    hu += rng.normal(0, 10, hu.shape)
    return (hu + 1024).astype(np.int16)


def radiograph(size: int = 2048, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    base = 2000 + 1500 * np.sin(xx / size * np.pi) * np.cos(yy / size * np.pi / 2)
    return (base + rng.normal(0, 30, base.shape)).clip(0, 4095).astype(np.uint16)
