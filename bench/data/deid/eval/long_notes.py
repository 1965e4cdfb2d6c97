# ruff: noqa: E501  (tables of names, places and sentences: one entry a line reads better than wrapped)
"""Long multi-section notes: discharge summaries, referral letters, radiology reports,
nursing notes, consults and ED notes, with letterheads, tables, signatures and cc lines.

Each note has one patient context (the same person named in several forms) and
mostly clinical text that is not PHI. Structure differs from the one-line queries.
"""

from __future__ import annotations

from datetime import timedelta

from fill import DRUGS, EPONYMS, Filler
from slots import Slots, mark

HPI = [
    "{pt_title} is a {age}-year-old with a history of {eponym} and hypertension who presented with {cond}.",
    "{pt_first} reports three days of worsening dyspnea, orthopnea and bilateral leg swelling.",
    "The patient was in usual health until {onset}, when she developed fever, chills and dysuria.",
    "He was brought in by EMS from {home_city} after a witnessed fall with brief loss of consciousness.",
    "{pt_title} describes substernal chest pressure radiating to the left arm, worse with exertion.",
    "She denies melena, hematochezia, hematemesis, chest pain or palpitations.",
    "There is no recent travel, sick contact or new medication apart from {drug}.",
    "Family history is notable for {eponym} in a parent and colon cancer in a sibling.",
    "He quit smoking in {year} after a 30 pack-year history; drinks alcohol socially.",
    "Of note, she was admitted to {outside} in {month_year} with a similar presentation.",
]
COURSE = [
    "She was started on IV {drug} with improvement in symptoms over 48 hours.",
    "Blood cultures grew pan-sensitive E. coli; antibiotics were narrowed to ceftriaxone.",
    "Diuresis with IV furosemide achieved net negative 4 L; weight fell from 84 to 80 kg.",
    "Troponin peaked at 0.84; cardiology ({consultant}) recommended medical management.",
    "A swallow evaluation was passed on hospital day 2 and diet was advanced as tolerated.",
    "Physical therapy recommended discharge home with a rolling walker and home PT.",
    "Renal function returned to baseline (creatinine 1.1) after holding lisinopril.",
    "Glucose was managed with basal-bolus insulin; A1c 8.9.",
    "Pain was controlled with acetaminophen and low-dose oxycodone, weaned before discharge.",
    "Delirium resolved with reorientation, sleep hygiene and removal of the Foley catheter.",
    "Case discussed with {pcp}, who agrees to see her within a week.",
    "On {event_date} she had a brief run of NSVT, asymptomatic; electrolytes repleted.",
]
PLAN = [
    "Follow up with {pcp} in 1-2 weeks; repeat BMP at that visit.",
    "Continue {drug} and {drug2}; stop aspirin.",
    "Return to the ED for chest pain, shortness of breath, fever or bleeding.",
    "Outpatient echocardiogram in 3 months; cardiology clinic to call with a date.",
    "Home health nursing for medication teaching and weekly INR checks.",
    "Smoking cessation counseling provided; nicotine patch prescribed.",
    "Diet: 2 g sodium, 1.5 L fluid restriction. Activity as tolerated.",
    "Code status: full code, confirmed with the patient and {nok_rel} {nok}.",
]
RAD_FINDINGS = [
    "Heart size is normal. No focal consolidation, pleural effusion or pneumothorax.",
    "There is a 6 mm ground-glass nodule in the right upper lobe (series 3, image 42).",
    "Mild degenerative changes of the lower thoracic spine. No acute osseous abnormality.",
    "Liver is normal in size with no focal lesion. Gallbladder contains several small stones.",
    "No hydronephrosis. Kidneys measure 11.2 cm (right) and 11.5 cm (left).",
    "No acute intracranial hemorrhage, mass effect or midline shift. Gray-white differentiation preserved.",
    "Small bilateral pleural effusions with adjacent atelectasis.",
    "Interval increase in the size of the left adrenal nodule, now 2.1 cm.",
    "Appendix is normal. No free air or free fluid.",
]
NURSING = [
    "Alert and oriented x3, follows commands, speech clear.",
    "Lungs with fine crackles at bases; on 2 L NC, SpO2 95%.",
    "Skin intact except stage 2 pressure injury to sacrum, dressing changed per protocol.",
    "Voiding without difficulty; output 1200 mL this shift.",
    "Tolerating cardiac diet, ate 75% of dinner.",
    "Ambulated in the hallway twice with a walker and standby assist.",
    "Pain 3/10 after PRN acetaminophen at 14:00.",
    "Fall precautions in place, bed alarm on, call light within reach.",
    "IV site L forearm clean, dry and intact; saline lock flushed.",
]
CONSULT_Q = ["evaluation of {cond}", "management of {eponym}", "anticoagulation in the setting of {cond}",
             "perioperative risk before hip surgery", "abnormal liver tests", "refractory hypertension"]


class NoteContext:
    """One patient and the people around them; every slot returns marked text."""

    def __init__(self, s: Slots) -> None:
        self.s = s
        c = s.choice
        self.first, self.last = s.person()
        self.title = c(["Mr.", "Ms.", "Mrs."])
        self.dob = s.date(c(["us", "iso", "long"]))
        self.mrn = s.mrn()
        admitted = s._day()
        style = c(["us", "long", "d_mon_y", "iso"])
        self.admit = s.date(style, admitted)
        self.disch = s.date(style, admitted + timedelta(days=s.rng.randrange(1, 15)))
        self.signed = s.date("us", admitted + timedelta(days=s.rng.randrange(1, 20)))
        self.attending = s.doctor()
        self.pcp_last = s.person()[1]
        self.pcp = mark("NAME", c([f"Dr. {self.pcp_last}", f"Dr {s.person()[0]} {self.pcp_last}"]))
        self.consultant = s.doctor()
        self.facility = s.facility()
        self.outside = s.facility()
        self.home = s.address("en_US") if s.rng.random() < 0.7 else s.address(c(["en_GB", "de_DE", "fr_FR", "es_MX", "en_IN"]))
        self.home_city = s.city()
        self.nok = s.name(form=c(["full", "first"]))
        self.nok_rel = c(["daughter", "son", "wife", "husband", "sister", "partner"])
        self.phone = s.us_phone()
        self.fax = s.us_phone("FAX")
        self.pager = s.pager()
        self.acct = s.account()
        self.plan = s.plan()
        self.age90 = s.rng.random() < 0.15

    def slots(self) -> dict:
        s, c = self.s, self.s.choice
        return {
            "pt_full": lambda: mark("NAME", c([f"{self.first} {self.last}", f"{self.last}, {self.first}",
                                                f"{self.first} {self.last}".upper()])),
            "pt_title": lambda: mark("NAME", c([f"{self.title} {self.last}", f"{self.first} {self.last}", self.first])),
            "pt_first": lambda: mark("NAME", self.first),
            "age": (lambda: s.age90()) if self.age90 else s.age,
            "dob": lambda: self.dob, "mrn": lambda: self.mrn, "admit": lambda: self.admit,
            "disch": lambda: self.disch, "attending": lambda: self.attending, "pcp": lambda: self.pcp,
            "consultant": lambda: self.consultant, "facility": lambda: self.facility,
            "outside": lambda: self.outside, "home": lambda: self.home, "home_city": lambda: self.home_city,
            "nok": lambda: self.nok, "nok_rel": lambda: self.nok_rel, "pt_phone": lambda: self.phone,
            "fac_fax": lambda: self.fax, "pg": lambda: self.pager, "pt_acct": lambda: self.acct,
            "pt_plan": lambda: self.plan, "onset": lambda: s.date(c(["md", "mon_d", "us_short"])),
            "event_date": lambda: s.date(c(["us_short", "mon_d"])), "drug2": lambda: c(DRUGS),
            "signed": lambda: self.signed, "eponym": lambda: c(EPONYMS),
        }


def _pick(s: Slots, pool: list[str], k: int) -> list[str]:
    return s.rng.sample(pool, min(k, len(pool)))


def discharge(s: Slots) -> str:
    c = s.choice
    body = [
        "{facility}\nDISCHARGE SUMMARY",
        "Patient: {pt_full}    MRN: {mrn}    DOB: {dob}",
        "Admission date: {admit}    Discharge date: {disch}",
        "Attending: {attending}    PCP: {pcp}",
        "", "PRINCIPAL DIAGNOSIS: {cond}", "SECONDARY DIAGNOSES: hypertension; type 2 diabetes; {eponym}",
        "", "HISTORY OF PRESENT ILLNESS:", " ".join(_pick(s, HPI, 4)),
        "", "HOSPITAL COURSE:", " ".join(_pick(s, COURSE, 5)),
        "", "DISCHARGE MEDICATIONS:",
        "| Medication | Dose | Frequency |", "|---|---|---|",
        *[f"| {d} | {c(['5 mg', '10 mg', '20 mg', '40 mg', '500 mg', '25 mcg'])} | {c(['daily', 'BID', 'TID', 'at bedtime', 'every 8 h PRN'])} |"
          for d in _pick(s, DRUGS, 4)],
        "", "DISPOSITION: home with {nok_rel} {nok}. Contact: {pt_phone}. Address on file: {home}.",
        "", "FOLLOW-UP:", "\n".join("- " + p for p in _pick(s, PLAN, 3)),
        "", "Electronically signed by {attending}, MD on {signed} 16:42. Pager {pg}.",
        c(["cc: {pcp}; {outside}", "cc: {pcp}, fax {fac_fax}", "CC: {consultant} (cardiology)"]),
    ]
    return "\n".join(body)


def referral(s: Slots) -> str:
    c = s.choice
    body = [
        "{facility}\n{fac_street}\n{fac_city}, {state_code} {fac_zip}\nTel {fac_phone}  Fax {fac_fax}",
        "", "{signed}", "", "{pcp}", "{outside}", "",
        c(["Re: {pt_full}, DOB {dob}, MRN {mrn}", "RE: {pt_full} (DOB {dob})", "Re: {pt_title}, born {dob}"]),
        "", c(["Dear {pcp_salute},", "Dear Colleague,", "Dear {pcp_salute}"]),
        "Thank you for referring {pt_title} for " + c(CONSULT_Q) + ". I saw {pt_first} in clinic today with {nok_rel}.",
        " ".join(_pick(s, HPI, 3)),
        "On examination: BP 138/82, HR 74 regular, BMI 31. Heart sounds normal, chest clear, no edema.",
        "Investigations: Hb 12.4, creatinine 96 umol/L, eGFR 71, HbA1c 58 mmol/mol, LDL 3.1.",
        "Impression: " + " ".join(_pick(s, COURSE, 2)),
        "Plan: " + " ".join(_pick(s, PLAN, 3)),
        "I will see {pt_title} again in three months. Please do not hesitate to contact me on {fac_phone} or page {pg}.",
        "", "Yours sincerely,", "", "{attending}", c(["Consultant Cardiologist", "Attending Physician, Endocrinology",
                                                       "Consultant Nephrologist", "Neurology Fellow"]),
        c(["cc: {pt_full}, {home}", "cc: patient; {consultant}", "Copy to: {pt_title}, {home}"]),
    ]
    return "\n".join(body)


def radiology(s: Slots) -> str:
    c = s.choice
    exam = c(["CT CHEST WITH CONTRAST", "CT ABDOMEN/PELVIS WITHOUT CONTRAST", "MRI BRAIN WITHOUT AND WITH CONTRAST",
              "CHEST RADIOGRAPH, 2 VIEWS", "US RENAL", "CT HEAD WITHOUT CONTRAST"])
    body = [
        f"EXAM: {exam}", "PATIENT: {pt_full}   MRN: {mrn}   ACC: {accession}",
        "DATE OF SERVICE: {admit}    ORDERING: {pcp}",
        "LOCATION: {facility}, CT suite 2",
        "", "CLINICAL INDICATION: {cond}. Evaluate for " + c(["pneumonia", "PE", "obstruction", "metastatic disease", "stroke"]) + ".",
        "", "COMPARISON: " + c(["{prior_date} from {outside}.", "None.", "Chest radiograph {prior_date}."]),
        "", "TECHNIQUE: Axial images were obtained per protocol. Dose length product 412 mGy-cm.",
        "", "FINDINGS:", "\n".join(_pick(s, RAD_FINDINGS, 4)),
        "", "IMPRESSION:", "1. " + c(RAD_FINDINGS), "2. Follow-up per Fleischner Society guidelines.",
        "", "Critical result called to {consultant} at 09:14 on {prior_date2} by {attending}.",
        "Dictated by: {attending}  Signed: {signed}  Workstation {ip}",
    ]
    return "\n".join(body)


def nursing(s: Slots) -> str:
    c = s.choice
    body = [
        "NURSING PROGRESS NOTE - " + c(["NIGHT SHIFT", "DAY SHIFT", "19:00-07:00"]),
        "Pt: {pt_full}  Rm " + c(["4B", "12", "318-2", "ICU 6"]) + "  MRN {mrn}",
        "Allergies: " + c(["NKDA", "penicillin (rash)", "sulfa, latex", "morphine (itching)"]),
        "", "ASSESSMENT:", "\n".join("- " + n for n in _pick(s, NURSING, 5)),
        "", "VITALS 0400: T 37.2  HR 88  BP 128/76  RR 18  SpO2 96% 2L",
        "", "EVENTS: " + c(["Pt called out at 02:30 requesting pain medication; given as ordered.",
                             "Pt confused at 01:00, reoriented; {nok_rel} {nok} called at {pt_phone} and updated.",
                             "Rapid response not required. {attending} aware of soft BP, 500 mL bolus given."]),
        "{nok_rel_cap} {nok} visited and asked about discharge; referred to case manager.",
        "Plan: continue to monitor, fall precautions, reassess pain q4h.",
        "", c(["-- {rn}, RN", "Signed {rn}, BSN, RN {signed} 06:45", "{rn} RN ext {pg}"]),
    ]
    return "\n".join(body)


def consult(s: Slots) -> str:
    c = s.choice
    body = [
        c(["INFECTIOUS DISEASE CONSULT", "NEPHROLOGY CONSULTATION", "GERIATRICS CONSULT NOTE", "PSYCHIATRY C/L NOTE"]),
        "Requested by: {attending}    Reason: " + c(CONSULT_Q),
        "Patient: {pt_title}  ({mrn})  Insurance: member {pt_plan}",
        "", "HPI: " + " ".join(_pick(s, HPI, 4)),
        "", "SOCIAL HISTORY: Lives at {home} with {nok_rel} {nok}. Retired " + c(["teacher", "electrician", "nurse", "farmer", "bus driver"]) + ".",
        "Drives a " + c(["pickup", "sedan", "van"]) + " (plate {plate}); no firearms at home.",
        "", "LABS:", "WBC   14.2  H", "Hgb   10.1  L", "Plt   312", "Cr    1.9   H   (baseline 1.1 on {prior_date})",
        "", "ASSESSMENT/RECOMMENDATIONS:", "\n".join(f"{i + 1}. " + p for i, p in enumerate(_pick(s, COURSE + PLAN, 4))),
        "", "Thank you for this consult. We will follow. Discussed with {consultant}.",
        "{consultant}, pager {pg} | {fac_email}",
    ]
    return "\n".join(body)


def ed_note(s: Slots) -> str:
    c = s.choice
    body = [
        "ED PROVIDER NOTE", "Arrival: {admit} 23:12 by " + c(["EMS", "private vehicle", "police"]),
        "Name: {pt_full}   Age: {age}   Acct: {pt_acct}",
        "CC: " + c(["chest pain", "fall", "abdominal pain", "shortness of breath", "headache"]),
        "HPI: " + " ".join(_pick(s, HPI, 3)),
        "ROS: otherwise negative in 10 systems.", "PMH: {eponym}, HTN, HLD. PSH: appendectomy.",
        "EXAM: NAD. RRR, no murmur. Lungs CTA. Abdomen soft, NT. Neuro nonfocal.",
        "MDM: ECG NSR without ischemic changes. HEART score 3. " + c(COURSE),
        "DISPO: " + c(["discharged home", "admitted to medicine", "transferred to {outside}", "observation"]) + ".",
        "Patient prefers contact by email ({pt_email}) or phone {pt_phone}.",
        "{attending} / {scribe} (scribe)",
    ]
    return "\n".join(body)


KINDS = {"discharge_summary": discharge, "referral_letter": referral, "radiology_report": radiology,
         "nursing_note": nursing, "consult_note": consult, "ed_note": ed_note}


def build(s: Slots, per_kind: int = 25) -> list[tuple[str, str]]:
    filler = Filler(s)
    notes = []
    for _ in range(per_kind):
        for kind, make in KINDS.items():
            ctx = NoteContext(s)
            street, city, state, zip_ = s.us_address()
            extra = ctx.slots() | {
                "fac_street": lambda v=street: v, "fac_city": lambda v=city: v, "state_code": lambda v=state: v,
                "fac_zip": lambda v=zip_: v, "fac_phone": s.us_phone, "accession": s.accession,
                "prior_date": lambda: s.date(s.choice(["us", "iso"])), "prior_date2": lambda: s.date("us_short"),
                "plate": s.vehicle,
                "rn": lambda: s.name(form=s.choice(["full", "initial", "first_initial_last"])),
                "scribe": lambda: s.name(form="full"), "fac_email": s.email,
                "pt_email": lambda: s.email(ctx.first, ctx.last),
                "pcp_salute": lambda: mark("NAME", f"Dr {ctx.pcp_last}"),
                "nok_rel_cap": lambda: ctx.nok_rel.capitalize(),
            }
            notes.append((kind, filler.fill(make(s), extra)))
    return notes
