"""Burned-in PHI removed from DICOM pixel data (PS3.15 Clean Pixel Data Option).

OCR reads display-ready frames (the same decode and LUT chain as inference:
``decode_frame`` + ``to_unit_range``); the PHI boxes found on any frame read are
filled in *every* frame, in the stored pixel value domain, with the stored value of
the frame's darkest displayed pixel (so the box shows as black-level on any VOI, and
MONOCHROME1 or palette images get the right value). Cine loops are read on up to
``max_ocr_frames`` frames spread evenly over the loop (overlay text is static in
practice; text that appears only between sampled frames is not seen).

The masked pixels are written back uncompressed (``Dataset.set_pixel_data``), so the
transfer syntax becomes Explicit VR Little Endian; YBR colour decoded by pydicom is
written as RGB. A lossy source keeps ``LossyImageCompression`` = 01.
"""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID

from medinfer.preprocess.imaging.burned_in import (
    Box,
    BurnedInOutcome,
    BurnedInPolicy,
    PhiTextFinder,
    flagged,
    header_terms,
    needs_ocr,
    to_gray8,
)
from medinfer.preprocess.imaging.dicom_pixels import check_header, decode_frame, to_unit_range
from medinfer.preprocess.imaging.errors import BurnedInAnnotationRefused, CorruptImage, ImageTooLarge
from medinfer.preprocess.imaging.limits import ImageLimits

__all__ = ["DicomPixelCleaner", "CLEAN_PIXEL_CODE", "frames_to_read"]

CLEAN_PIXEL_CODE = ("113101", "Clean Pixel Data Option")
_LOSSY = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81",
          "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203", "1.2.840.10008.1.2.4.100",
          "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103"}


def frames_to_read(frames: int, limit: int) -> list[int]:
    if frames <= limit:
        return list(range(frames))
    return sorted({round(i * (frames - 1) / (limit - 1)) for i in range(limit)})


class DicomPixelCleaner:
    """``clean(ds, requested)`` applies the burned-in policy to a parsed data set in place."""

    def __init__(self, finder: PhiTextFinder, policy: BurnedInPolicy, limits: ImageLimits,
                 *, max_ocr_frames: int = 8) -> None:
        self.finder, self.policy, self.limits, self.max_ocr_frames = finder, policy, limits, max(2, max_ocr_frames)

    def clean(self, ds: Dataset, requested: object = None) -> BurnedInOutcome:
        header = check_header(ds, self.limits)
        policy = self.policy.resolve(raster=False, modality=header.modality,
                                     sop_class=str(ds.get("SOPClassUID", "") or ""), requested=requested)
        outcome = BurnedInOutcome(policy)
        if not needs_ocr(policy, flagged(ds)):
            return outcome
        terms = header_terms(ds)
        boxes: list[Box] = []
        fill = None
        for index in frames_to_read(header.frames, self.max_ocr_frames):
            arr, view = decode_frame(ds, header, index)
            unit = to_unit_range(arr, ds, view, header)
            gray = to_gray8(unit)
            found, words = self.finder.find(gray, terms)
            boxes.extend(found)
            outcome.frames_read += 1
            outcome.words += words
            if fill is None:
                fill = arr[np.unravel_index(int(np.argmin(gray)), gray.shape)]
        outcome.ocr = True
        outcome.boxes = sorted(set(boxes))
        if not outcome.boxes:
            return outcome
        if policy == "refuse":
            raise BurnedInAnnotationRefused("text that looks like PHI is burned into the pixels; "
                                            "the burned-in policy is refuse", field="PixelData")
        self._mask(ds, header, outcome.boxes, fill)
        return outcome

    def _mask(self, ds: Dataset, header, boxes: list[Box], fill) -> None:
        if header.bits_allocated not in (8, 16, 32) or "PixelData" not in ds:
            raise CorruptImage("burned-in masking needs integer pixel data of 8, 16 or 32 bits",
                               field="BitsAllocated", code="unmaskable-pixel-data")
        tsuid = str(ds.file_meta.TransferSyntaxUID)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = np.array(pydicom.pixels.pixel_array(ds), copy=True)
        except MemoryError:
            raise ImageTooLarge("decoded pixel data does not fit the memory limit") from None
        except Exception:
            raise CorruptImage("pixel data could not be decoded (truncated or corrupt)") from None
        frames = arr if header.frames > 1 else arr[None]
        for left, top, width, height in boxes:
            frames[:, top:top + height, left:left + width] = fill
        photometric = "RGB" if header.samples == 3 else header.photometric
        bits_stored = int(ds.get("BitsStored", header.bits_allocated) or header.bits_allocated)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.set_pixel_data(arr, photometric, bits_stored, generate_instance_uid=False)
        except Exception:
            raise CorruptImage("masked pixel data could not be encoded", code="unmaskable-pixel-data") from None
        if tsuid in _LOSSY or UID(tsuid).is_compressed and str(ds.get("LossyImageCompression", "")) == "01":
            ds.LossyImageCompression = "01"
        ds.BurnedInAnnotation = "NO"
