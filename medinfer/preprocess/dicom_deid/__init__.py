"""DICOM de-identification (PS3.15 Annex E Basic Profile, keyed UIDs and date shifts)."""

from medinfer.preprocess.dicom_deid.engine import (
    DeidReport,
    DicomDeidentifier,
    PrivateTag,
    parse_private_allowlist,
)
from medinfer.preprocess.dicom_deid.keys import KeyedMapper
from medinfer.preprocess.dicom_deid.profile import AnnexETable, ProfileRule, load_annex_e

__all__ = [
    "DicomDeidentifier",
    "DeidReport",
    "PrivateTag",
    "parse_private_allowlist",
    "KeyedMapper",
    "AnnexETable",
    "ProfileRule",
    "load_annex_e",
]
