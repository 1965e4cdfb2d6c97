"""Table-driven tests of each clinical recognizer: (text, expected (value, label) spans)."""

from __future__ import annotations

import pytest

from medinfer.preprocess.deid import recognizers as R


def found(recognizer, text: str) -> set[tuple[str, str]]:
    return {(text[r.start:r.end], r.entity_type) for r in recognizer.analyze(text, [])}


CASES = [
    # (recognizer, text, spans that must be found, values that must NOT be found)
    (R.MrnRecognizer, "MRN: 00123456, seen today", {("00123456", "MRN")}, set()),
    (R.MrnRecognizer, "MR# AB123456 and Chart #7654321", {("AB123456", "MRN"), ("7654321", "MRN")}, set()),
    (R.MrnRecognizer, "Medical Record Number: 5551234", {("5551234", "MRN")}, set()),
    (R.MrnRecognizer, "the patient has 12345 steps", set(), {"12345"}),
    (R.HealthPlanIdRecognizer, "Member ID XYZ123456789; policy no. QUO0DU0SKS0", {("XYZ123456789", "HEALTH_PLAN_ID"),
                                                                                 ("QUO0DU0SKS0", "HEALTH_PLAN_ID")}, set()),
    (R.HealthPlanIdRecognizer, "Medicare #: 1EG4-TE5-MK73", {("1EG4-TE5-MK73", "HEALTH_PLAN_ID")}, set()),
    (R.AccountNumberRecognizer, "Acct # 332014686, billing account A12345678",
     {("332014686", "ACCOUNT"), ("A12345678", "ACCOUNT")}, set()),
    (R.LicenseNumberRecognizer, "DEA #AB1234567. Medical license MD123456",
     {("AB1234567", "LICENSE"), ("MD123456", "LICENSE")}, set()),
    (R.LicenseNumberRecognizer, "license plate 7ABC123", set(), {"7ABC123"}),
    (R.VehicleIdRecognizer, "VIN 1HGCM82633A004352, license plate 7ABC 123",
     {("1HGCM82633A004352", "VEHICLE_ID"), ("7ABC 123", "VEHICLE_ID")}, set()),
    (R.DeviceIdRecognizer, "Pacemaker serial number PM1234567; S/N: GBFP-IEKA-5532",
     {("PM1234567", "DEVICE_ID"), ("GBFP-IEKA-5532", "DEVICE_ID")}, set()),
    (R.OtherIdRecognizer, "Accession number S21-12345 showed", {("S21-12345", "ID_OTHER")}, set()),
    (R.OtherIdRecognizer, "Hgb 10.2, K 4.1, 2 tabs", set(), {"10.2", "4.1"}),
    (R.SsnRecognizer, "SSN: 123-45-6789 or SSN on file 123 45 6789",
     {("123-45-6789", "SSN"), ("123 45 6789", "SSN")}, set()),
    (R.SsnRecognizer, "call 617-555-0134", set(), {"617-555-0134"}),
    (R.PhoneFaxRecognizer, "Phone: (617) 555-0134  Fax: 617.555.0199",
     {("(617) 555-0134", "PHONE"), ("617.555.0199", "FAX")}, set()),
    (R.PhoneFaxRecognizer, "Please fax records to 1-800-555-0100 attention", {("1-800-555-0100", "FAX")}, set()),
    (R.PhoneFaxRecognizer, "pager +1 617 555 0134 x123", {("+1 617 555 0134 x123", "PHONE")}, set()),
    (R.PhoneFaxRecognizer, "BP 130/85, HR 72, dose 2.5 mg", set(), {"130/85"}),
    (R.EmailAddressRecognizer, "email jane.doe+x@mail.example.org.", {("jane.doe+x@mail.example.org", "EMAIL")}, set()),
    (R.WebAddressRecognizer, "portal https://portal.example.com/p/123 or www.clinic.org",
     {("https://portal.example.com/p/123", "URL"), ("www.clinic.org", "URL")}, set()),
    (R.WebAddressRecognizer, "contact a@b.com", set(), {"b.com"}),
    (R.IpAddressRecognizer, "from 192.168.10.4 and fe80::1ff:fe23:4567:890a",
     {("192.168.10.4", "IP_ADDRESS"), ("fe80::1ff:fe23:4567:890a", "IP_ADDRESS")}, set()),
    (R.IpAddressRecognizer, "version 300.1.1.1", set(), {"300.1.1.1"}),
    (R.ClinicalDateRecognizer, "DOB 03/14/1931, seen 2021-03-14 and March 4th, 2020",
     {("03/14/1931", "DATE"), ("2021-03-14", "DATE"), ("March 4th, 2020", "DATE")}, set()),
    (R.ClinicalDateRecognizer, "on 14-Mar-2021, 14 March 2021, Mar 2019, 3/2019 and 3/14",
     {("14-Mar-2021", "DATE"), ("14 March 2021", "DATE"), ("Mar 2019", "DATE"), ("3/2019", "DATE"), ("3/14", "DATE")},
     set()),
    (R.ClinicalDateRecognizer, "born in 1928; Christmas Eve", {("1928", "DATE"), ("Christmas Eve", "DATE")}, set()),
    (R.ClinicalDateRecognizer, "pain 7/10, BP 120/80, Norco 5/325, diagnosed in 2015", set(),
     {"7/10", "120/80", "5/325", "2015"}),
    (R.AgeOver89Recognizer, "a 92-year-old, 95 yo, aged 101, is now 97. and 93F",
     {("92", "AGE"), ("95", "AGE"), ("101", "AGE"), ("97", "AGE"), ("93", "AGE")}, set()),
    (R.AgeOver89Recognizer, "a 67-year-old with BP 95/60", set(), {"67", "95"}),
    (R.StreetAddressRecognizer, "lives at 786 Timothy Summit Suite 625, Springfield, IL",
     {("786 Timothy Summit Suite 625", "LOCATION"), ("Springfield", "LOCATION")}, set()),
    (R.StreetAddressRecognizer, "P.O. Box 1234; takes 2 Tylenol tablets", {("P.O. Box 1234", "LOCATION")}, {"2 Tylenol"}),
    (R.FacilityNameRecognizer, "seen at St. Mary's Medical Center and Barnes Family Clinic",
     {("St. Mary's Medical Center", "LOCATION"), ("Barnes Family Clinic", "LOCATION")}, set()),
    (R.FacilityNameRecognizer, "seen in Cardiology Clinic at General Hospital", set(),
     {"Cardiology Clinic", "General Hospital"}),
    (R.CityStateZipRecognizer, "Boston, MA 02114-2696; zip code 60601",
     {("Boston", "LOCATION"), ("02114-2696", "LOCATION"), ("60601", "LOCATION")}, {"MA"}),
    (R.CityStateZipRecognizer, "John Smith, MD", set(), {"John Smith"}),
    (R.CityCountyRecognizer, "moved to Green Bay from Hampden County", {("Green Bay", "LOCATION"),
                                                                         ("Hampden County", "LOCATION")}, set()),
    (R.TitledNameRecognizer, "Dr. Jane Roe and Mrs. O'Brien; signed Alan Poe, MD",
     {("Jane Roe", "NAME"), ("O'Brien", "NAME"), ("Alan Poe", "NAME")}, {"Dr. Jane Roe"}),
    (R.ContextNameRecognizer, "Patient Name: Darrell Scott  Medical Record Number: 1\nNAME: REED, AMY  MR#: 1",
     {("Darrell Scott", "NAME"), ("REED, AMY", "NAME")}, set()),
    (R.ContextNameRecognizer, "Her daughter, Maria Lopez, called.", {("Maria Lopez", "NAME")}, set()),
    (R.InitialsRecognizer, "Transcribed: JS  -- PM, RN; discussed with J.S. at 5 P.M.",
     {("JS", "NAME"), ("PM", "NAME"), ("J.S.", "NAME")}, {"P.M."}),
    (R.InitialsRecognizer, "BP stable in the ED", set(), {"BP", "ED"}),
]


@pytest.mark.parametrize(("cls", "text", "expected", "absent"), CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_recognizer_spans(cls, text: str, expected: set, absent: set) -> None:
    got = found(cls(), text)
    assert expected <= got, f"missing {expected - got}"
    values = {v for v, _ in got}
    assert not (absent & values), f"unexpected {absent & values}"


def test_one_recognizer_class_per_module_named_after_it() -> None:
    import importlib
    import re

    for name in R.__all__:
        snake = re.sub(r"(?<!^)(?=[A-Z])|(?<=[a-z])(?=\d)", "_", name).lower()
        module = importlib.import_module(f"medinfer.preprocess.deid.recognizers.{snake}")
        assert getattr(module, name).__module__ == module.__name__
