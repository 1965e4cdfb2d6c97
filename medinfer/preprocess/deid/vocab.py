"""Word lists shared by the name and place recognizers.

Capitalised words that are not names are the main source of false positives in
clinical text (section headings, drug brands, eponymous diseases, departments);
these lists let the recognizers drop them without losing recall on real names.
"""

from __future__ import annotations

import re

__all__ = [
    "ABBREVIATIONS",
    "CREDENTIALS",
    "EPONYM_HEADS",
    "GENERIC_FACILITY_WORDS",
    "NAME_TOKEN",
    "NOT_NAME_WORDS",
    "STATE_CODES",
    "STATE_NAMES",
    "cannot_be_name",
    "is_not_name",
    "trim_name",
]

NOT_NAME_WORDS = frozenset(w.lower() for w in """
a an the and or but of in on at to for from with by as is was were be been has had have he she his her
him they them their it its this that these those there here who whom which what when where why how
i me my we our you your pt patient patients name date dob mrn md do rn np pa phd dds dr mr mrs ms miss
prof doctor nurse attending physician provider resident fellow surgeon pcp caller contact re dear
signed electronically dictated transcribed read referred seen cc ordering referring daughter son husband
wife mother father sister brother spouse partner friend niece nephew grandson granddaughter caregiver
guardian emergency history physical hpi ros pmh psh fh sh exam assessment plan impression findings
comparison indication technique procedure diagnosis diagnoses medications medication allergies labs
vitals vital signs disposition discharge admission admitted discharged hospital course follow followup
progress note summary consult consultation report addendum chief complaint review systems social family
past medical surgical general regional memorial community university medical center clinic health
department unit floor icu ed er or pacu ccu micu sicu nicu picu service team dept
tel phone fax pager cell email mobile home work office
monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow
january february march july september october november december
jan feb mar apr jun jul aug sep sept oct nov dec
yes no none denies reports states notes noted negative positive normal abnormal stable unchanged
continue start stop hold increase decrease daily bid tid qid prn po iv im sc qhs
mg mcg ml units tab tabs tablet capsule record number
inr hgb hb cr wbc plt hct bun na cl co2 a1c tsh bnp ldl hdl ast alt alk bili lactate trop troponin
pain discussed vin ef spo2 fio2 gcs nihss ekg dispo code status full started continued held given
pharmacy pharmacist nursing cardiology nephrology neurology oncology surgery urology radiology pathology
hematology rheumatology pulmonology gastroenterology endocrinology psychiatry dermatology ophthalmology
orthopedics ent gi renal pulm heme onc neuro psych anesthesia hospitalist medicine pediatrics obstetrics
babinski romberg kernig brudzinski homans tinel phalen mcmurray lachman apgar glasgow gram ganz
whipple nissen roux billroth hodgkin parkinson alzheimer crohn cushing hashimoto guillain barre kawasaki raynaud
sjogren tourette wernicke korsakoff bence trendelenburg valsalva heimlich kussmaul cheyne korotkoff
lasix coumadin eliquis zofran tylenol norco keflex augmentin xarelto plavix lipitor zoloft prozac
insulin metoprolol lisinopril aspirin heparin warfarin vancomycin zosyn ceftriaxone
ct mri cxr ekg ecg echo us xr pet tee tte
left right bilateral upper lower anterior posterior
medicaid medicare insurance ssn account acct member policy serial device license dea
""".split())

# A capitalised word followed by one of these is an eponym (Parkinson disease), not a person.
EPONYM_HEADS = frozenset("""
disease diseases syndrome palsy lymphoma sign signs esophagus thyroiditis dementia test maneuver
reflex criteria score scale classification fracture phenomenon tumor tumour sarcoma procedure operation
catheter line tube equation formula index law ulcer disorder anomaly node nodes's negative positive stain
""".split())

CREDENTIALS = (
    "M.D.", "MD", "D.O.", "DO", "RN", "R.N.", "NP", "N.P.", "PA-C", "PA", "PhD", "Ph.D.", "MSW", "LCSW",
    "DPM", "PharmD", "CNM", "CRNA", "FNP", "FNP-BC", "APRN", "DDS", "DMD", "LPN", "MBBS", "FACS", "FACP",
    "FACC", "DNP", "OD", "PT", "OT", "RD", "CNA", "MA",
)

# Words that make a facility name generic ("Cardiology Clinic") rather than identifying.
GENERIC_FACILITY_WORDS = frozenset(w.lower() for w in """
the of and a an at in general regional memorial community university medical health center centre
clinic hospital hospitals care urgent family children's childrens women's womens cardiology oncology
surgery surgical rehabilitation rehab nursing home hospice cancer institute heart eye dialysis pharmacy
pediatric pediatrics primary specialty outpatient inpatient emergency department main our your his her
their this that same local county state veterans va skilled facility behavioral mental psychiatric
orthopedic orthopaedic neurology dermatology endocrine gi pulmonary renal transplant infusion wound
sleep pain imaging radiology laboratory lab heart failure lung kidney liver breast spine sports travel allergy
asthma stroke epilepsy headache lipid anticoagulation coumadin hypertension diabetes memory bone marrow vascular
vein fertility obesity bariatric weight management geriatric geriatrics hematology rheumatology urology
gastroenterology hepatology nephrology endocrinology ophthalmology otolaryngology podiatry physical therapy
occupational speech
""".split())

# USPS state, district, territory and military codes.
STATE_CODES = tuple("""AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH
NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR AS GU MP VI FM MH PW AA AE AP""".split())

# States are not PHI under Safe Harbor (only units smaller than a state are).
STATE_NAMES = frozenset(n.lower() for n in """Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|
Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|
Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|
North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|
Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico|District of Columbia|
United States|USA|America""".replace("\n", "").split("|"))

# Upper-case tokens that look like initials but are clinical abbreviations.
ABBREVIATIONS = frozenset("""
AM PM US UK ED ER OR ICU CCU MD DO RN NP PA PT OT BP HR RR CT MR MRI EKG ECG EEG EMG GI GU HEENT CV
IV IM PO PR SC SQ TID BID QID QD HS NPO DNR DNI CPR COPD CHF CAD CKD ESRD DM HTN HLD MI PE DVT UTI
URI SOB CP ABD NT ND NAD AOX VS WBC RBC HGB HCT PLT INR PTT BMP CMP LFT TSH UA CXR KUB US TTE TEE
EF LV RV LA RA AV MV TV IVC SVC OK NA NS LR DC AMA SNF LTAC PCP ID HIV HCV HBV TB RX DX HX SX TX FX
MVC ICD CRT EP OB GYN ENT ID AKI ARF ATN GERD IBS IBD RA SLE MS ALS PD AD CVA TIA SAH SDH ICH
MRSA MSSA VRE ESBL CRE HFREF HFPEF NSTEMI STEMI COVID HCAP VAP CAUTI CLABSI MDRO
NC RA FIO PEEP ABG VBG ETT NGT OGT PICC CVC JP ROS HPI PMH PSH FH SH CC II III IV VI
IT OK NO ON IN AT TO BY OF AN AS IS IF OR WE HE ME MY SO UP VIN DEA NPI SSN MRN EF CR PRN NKDA
""".split())


def is_not_name(word: str) -> bool:
    """True when a capitalised word is known not to be (part of) a person's name."""
    return word.lower().strip(".,'’") in NOT_NAME_WORDS


# Generic drug-name endings: a word with one of these is a medicine, not a person or place.
_DRUG_SUFFIX = re.compile(r"(?i)(?:mycin|micin|cillin|cef\w+|pril|olol|statin|sartan|azole|floxacin|cycline|parin|"
                          r"dipine|tidine|prazole|mab|nib|vir|tide|zepam|zolam|oxetine|triptyline|done|codone|"
                          r"morphone|profen|afil|gliptin|gliflozin|glitazone|semide|thiazide|lukast|terol|sone|"
                          r"lone|asone|olone|umab|imab|ximab|kinra|penem|bactam|azepine|peridol|apine|idone)$")


def cannot_be_name(word: str) -> bool:
    """A word that cannot be part of a person or place name: digits, lower case, a known
    non-name or an abbreviation. Used both to trim NER spans and to skip NER on text whose
    every word is such a word (any entity there would be trimmed away)."""
    w = word.strip(".,;:()'’\"")
    return (not w or any(c.isdigit() for c in w) or not w[0].isupper() or is_not_name(w)
            or w in ABBREVIATIONS or w.upper() in ABBREVIATIONS and w.isupper()
            or (w.isupper() and len(w) <= 3 and not w.endswith(".")) or bool(_DRUG_SUFFIX.search(w)))


# A name token: Title-case (O'Brien, McDonald, Smith-Jones), ALL CAPS, or an initial "J."
NAME_TOKEN = r"(?:[A-Z][a-z]*[’'][A-Z]?[a-z]+|Ma?c[A-Z][a-z]+|[A-Z][a-z]+(?:-[A-Z][a-z]+)?|[A-Z]{2,}(?:-[A-Z]{2,})?|[A-Z]\.)"


def trim_name(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop leading/trailing words that are known non-names ('Patient', 'MD', 'Hospital')."""
    words = list(re.finditer(r"\S+", text[start:end]))
    while words and is_not_name(words[-1].group()):
        words.pop()
    while words and is_not_name(words[0].group()):
        words.pop(0)
    if not words:
        return start, start
    return start + words[0].start(), start + words[-1].end()
