"""Clinical recognizers, one class per module (named after the class, as in Presidio)."""

from medinfer.preprocess.deid.recognizers.account_number_recognizer import AccountNumberRecognizer
from medinfer.preprocess.deid.recognizers.age_over_89_recognizer import AgeOver89Recognizer
from medinfer.preprocess.deid.recognizers.alphanumeric_id_recognizer import AlphanumericIdRecognizer
from medinfer.preprocess.deid.recognizers.city_county_recognizer import CityCountyRecognizer
from medinfer.preprocess.deid.recognizers.city_state_zip_recognizer import CityStateZipRecognizer
from medinfer.preprocess.deid.recognizers.clinical_date_recognizer import ClinicalDateRecognizer
from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer
from medinfer.preprocess.deid.recognizers.context_name_recognizer import ContextNameRecognizer
from medinfer.preprocess.deid.recognizers.device_id_recognizer import DeviceIdRecognizer
from medinfer.preprocess.deid.recognizers.email_address_recognizer import EmailAddressRecognizer
from medinfer.preprocess.deid.recognizers.facility_name_recognizer import FacilityNameRecognizer
from medinfer.preprocess.deid.recognizers.health_plan_id_recognizer import HealthPlanIdRecognizer
from medinfer.preprocess.deid.recognizers.initials_recognizer import InitialsRecognizer
from medinfer.preprocess.deid.recognizers.international_address_recognizer import InternationalAddressRecognizer
from medinfer.preprocess.deid.recognizers.international_phone_recognizer import InternationalPhoneRecognizer
from medinfer.preprocess.deid.recognizers.ip_address_recognizer import IpAddressRecognizer
from medinfer.preprocess.deid.recognizers.license_number_recognizer import LicenseNumberRecognizer
from medinfer.preprocess.deid.recognizers.mrn_recognizer import MrnRecognizer
from medinfer.preprocess.deid.recognizers.name_gazetteer_recognizer import NameGazetteerRecognizer
from medinfer.preprocess.deid.recognizers.other_id_recognizer import OtherIdRecognizer
from medinfer.preprocess.deid.recognizers.phone_fax_recognizer import PhoneFaxRecognizer
from medinfer.preprocess.deid.recognizers.place_gazetteer_recognizer import PlaceGazetteerRecognizer
from medinfer.preprocess.deid.recognizers.safe_list_recognizer import SafeListRecognizer
from medinfer.preprocess.deid.recognizers.spacy_ner_recognizer import SpacyNerRecognizer
from medinfer.preprocess.deid.recognizers.ssn_recognizer import SsnRecognizer
from medinfer.preprocess.deid.recognizers.street_address_recognizer import StreetAddressRecognizer
from medinfer.preprocess.deid.recognizers.titled_name_recognizer import TitledNameRecognizer
from medinfer.preprocess.deid.recognizers.vehicle_id_recognizer import VehicleIdRecognizer
from medinfer.preprocess.deid.recognizers.web_address_recognizer import WebAddressRecognizer
from medinfer.preprocess.deid.recognizers.written_date_recognizer import WrittenDateRecognizer

__all__ = [
    "AccountNumberRecognizer",
    "AgeOver89Recognizer",
    "AlphanumericIdRecognizer",
    "CityCountyRecognizer",
    "CityStateZipRecognizer",
    "ClinicalDateRecognizer",
    "ClinicalRegexRecognizer",
    "ContextNameRecognizer",
    "DeviceIdRecognizer",
    "EmailAddressRecognizer",
    "FacilityNameRecognizer",
    "HealthPlanIdRecognizer",
    "InitialsRecognizer",
    "InternationalAddressRecognizer",
    "InternationalPhoneRecognizer",
    "IpAddressRecognizer",
    "LicenseNumberRecognizer",
    "MrnRecognizer",
    "NameGazetteerRecognizer",
    "OtherIdRecognizer",
    "PhoneFaxRecognizer",
    "PlaceGazetteerRecognizer",
    "SafeListRecognizer",
    "SpacyNerRecognizer",
    "SsnRecognizer",
    "StreetAddressRecognizer",
    "TitledNameRecognizer",
    "VehicleIdRecognizer",
    "WebAddressRecognizer",
    "WrittenDateRecognizer",
]
