# ruff: noqa: E501  (tables of names, places and sentences: one entry a line reads better than wrapped)
"""Template filling: ``{slot}`` draws a fresh value, ``{slot@k}`` reuses the k-th draw.

Non-PHI vocabulary (drugs, findings, eponyms, roles, relative times, states, countries)
lives here too, so templates mix identifiers with clinical text that must stay.
"""

from __future__ import annotations

import re

from slots import COUNTRIES, US_STATES, Slots

DRUGS = ["metformin", "lisinopril", "apixaban", "warfarin", "atorvastatin", "amlodipine", "furosemide",
         "insulin glargine", "levothyroxine", "prednisone", "vancomycin", "ceftriaxone", "piperacillin-tazobactam",
         "heparin", "enoxaparin", "gabapentin", "sertraline", "quetiapine", "oxycodone", "hydromorphone",
         "ondansetron", "pantoprazole", "tamsulosin", "spironolactone", "carvedilol", "Eliquis", "Lasix",
         "Keppra", "Zosyn", "Coumadin", "Jardiance", "Ozempic", "Tylenol", "Norco", "Humira", "Entresto"]
CONDS = ["CHF exacerbation", "COPD flare", "sepsis", "pyelonephritis", "community-acquired pneumonia",
         "DKA", "atrial fibrillation with RVR", "acute kidney injury", "cellulitis of the left leg",
         "a GI bleed", "syncope", "a hip fracture", "new-onset seizure", "an NSTEMI", "a PE",
         "hyponatremia", "alcohol withdrawal", "a UTI", "migraine", "low back pain", "asthma exacerbation",
         "a small bowel obstruction", "C. diff colitis", "delirium", "a stage 3 sacral ulcer"]
EPONYMS = ["Parkinson disease", "Hodgkin lymphoma", "Crohn's disease", "Graves disease", "Bell's palsy",
           "Alzheimer dementia", "Hashimoto thyroiditis", "Cushing syndrome", "Addison disease",
           "Guillain-Barré syndrome", "Barrett esophagus", "Lyme disease", "Wilson disease",
           "Raynaud phenomenon", "Sjogren syndrome", "Meniere disease", "Kawasaki disease",
           "Marfan syndrome", "Down syndrome", "Tourette syndrome", "Huntington disease", "Paget disease"]
LABS = ["INR", "potassium", "creatinine", "troponin", "lactate", "hemoglobin", "TSH", "A1c", "BNP",
        "lipase", "ferritin", "magnesium", "CRP", "procalcitonin", "platelet count", "ammonia"]
ROLES = ["the hospitalist", "the charge nurse", "the PCP", "case management", "the attending",
         "the night resident", "pharmacy", "social work", "the on-call fellow", "the covering NP",
         "the unit clerk", "PT", "the dietitian", "infection control", "the rapid response team"]
PLACES = ["the ER", "the ED", "the ICU", "a clinic", "urgent care", "the floor", "the cath lab",
          "the infusion center", "a nursing home", "rehab", "the OR", "the step-down unit", "PACU"]
REL = ["yesterday", "this morning", "last night", "two days ago", "last week", "on admission",
       "post-op day 2", "three weeks ago", "earlier today", "over the weekend", "last month", "tonight"]
NUMS = ["142/88", "5/325", "20/40", "98.6", "7.2", "3+", "2 L", "40 mg", "10 units", "12 mm", "4.1"]

SLOT = re.compile(r"\{(\w+)(?:@(\d+))?\}")


class Filler:
    def __init__(self, slots: Slots) -> None:
        s = self.s = slots
        c = s.choice
        self.table = {
            "name": lambda: s.name(), "full": lambda: s.name(form="full"), "initial": lambda: s.name(form="initial"),
            "titled": lambda: s.name(form="title"), "first": lambda: s.name(form="first"),
            "lower": lambda: s.name(form="lower"), "mid": lambda: s.name(form="mid"),
            "lastfirst": lambda: s.name(form="last_first"), "doctor": s.doctor,
            "western": lambda: s.name(c(["en_US", "en_GB", "en_AU", "en_IE"])),
            "city": s.city, "county": s.county, "facility": s.facility,
            "address": lambda: s.address("en_US"), "intl_address": lambda: s.address(c(sorted(
                {"en_GB", "de_DE", "fr_FR", "es_MX", "pt_BR", "en_AU", "en_IN", "it_IT", "nl_NL", "pl_PL"}))),
            "zip": lambda: s.us_address()[3], "street": lambda: s.us_address()[0],
            "date": s.date, "date_long": lambda: s.date(c(["long", "dmy_long", "md", "ordinal_of"])),
            "month_year": lambda: s.date("month_year"), "short_date": lambda: s.date(c(["us_short", "mon_d"])),
            "year": s.year, "age90": s.age90, "age": s.age,
            "mrn": s.mrn, "acct": s.account, "plan": s.plan, "license": s.license, "device": s.device,
            "vehicle": s.vehicle, "ssn": s.ssn, "other_id": s.other_id, "dea": s.dea, "npi": s.npi,
            "dl": s.driver_license, "passport": s.passport, "employee": s.employee, "claim": s.claim,
            "accession": s.accession,
            "phone": s.us_phone, "intl_phone": s.phone, "fax": lambda: s.us_phone("FAX"), "pager": s.pager,
            "email": s.email, "url": s.url, "ip": s.ip,
            "drug": lambda: c(DRUGS), "cond": lambda: c(CONDS), "eponym": lambda: c(EPONYMS),
            "lab": lambda: c(LABS), "role": lambda: c(ROLES), "place": lambda: c(PLACES), "rel": lambda: c(REL),
            "num": lambda: c(NUMS), "state": lambda: c(US_STATES), "country": lambda: c(COUNTRIES),
        }

    def fill(self, template: str, extra: dict | None = None) -> str:
        table = dict(self.table, **(extra or {}))
        memo: dict[str, str] = {}

        def sub(m: re.Match) -> str:
            key, ref = m.group(1), m.group(2)
            if ref is not None:
                if f"{key}@{ref}" not in memo:
                    memo[f"{key}@{ref}"] = table[key]()
                return memo[f"{key}@{ref}"]
            return table[key]()

        out = SLOT.sub(sub, template)
        # A template that opens with a lower-case slot value (a drug, a role) starts a sentence.
        return out[0].upper() + out[1:] if template.startswith("{") and out[:1].islower() else out
