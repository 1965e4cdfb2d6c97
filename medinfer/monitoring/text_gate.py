"""Heuristic gate for clinical free text, applied *after* de-identification.

This is a deliberately small, transparent rule set, not a learned classifier;
its limits are documented in docs/monitoring.md. It answers four questions,
in order, with a reason code from ``OOD_REASONS``:

- ``empty``: nothing but whitespace, punctuation or de-identification
  placeholders (``<PERSON>``, ``[DATE]``...) is left;
- ``too-short``: fewer than ``min_words`` words, too little for a note model;
- ``prompt-injection``: phrases that address an instruction-following model
  ("ignore previous instructions", "you are now", chat-template tokens...)
  which have no place in a clinical note and target downstream LLM use;
- ``non-clinical``: mostly non-alphabetic content (code, base64, numbers
  only), or a long text with no clinical vocabulary at all (neither a term
  from a small lexicon nor a medical affix such as ``-itis``/``-ectomy``, nor
  a dose unit).

The gate returns reason codes only; it never stores, logs or echoes the text.
"""

from __future__ import annotations

import re

from medinfer.monitoring.gate import IN_DISTRIBUTION, OodDecision

__all__ = ["TextGate", "CLINICAL_TERMS", "INJECTION_PATTERNS"]

_PLACEHOLDER = re.compile(r"<[A-Z_]+>|\[[A-Z_]+\]|\{[A-Z_]+\}")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")

INJECTION_PATTERNS: tuple[str, ...] = (
    r"\bignore\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier)\s+(?:instructions|prompts?|rules)",
    r"\bdisregard\s+(?:all\s+|the\s+)?(?:previous|prior|above|system)\b",
    r"\byou\s+are\s+now\s+(?:a|an|in)\b",
    r"\b(?:system|developer)\s+prompt\b",
    r"\bact\s+as\s+(?:a|an)\s+(?:unrestricted|jailbroken|different)\b",
    r"\bjailbreak\b|\bDAN\s+mode\b|\bdeveloper\s+mode\b",
    r"<\|(?:im_start|im_end|system|user|assistant|endoftext)\|>",
    r"\[/?INST\]|<</?SYS>>|^[^\S\n]*+###\s*+(?:instruction|system)\b",
    r"\b(?:reveal|print|output)\s+(?:your|the)\s+(?:system\s+)?(?:prompt|instructions)\b",
    r"\bdo\s+not\s+follow\s+(?:your|the)\s+(?:rules|guidelines|instructions)\b",
)
_INJECTION = re.compile("|".join(f"(?:{p})" for p in INJECTION_PATTERNS), re.IGNORECASE | re.MULTILINE)
# "forget ... you/your/previous" followed later on the same line by "instructions/rules/told".
# As one regex (``forget…\b.*\b(?:instructions…)``) every "forget" rescans the rest of its line:
# quadratic ("forget you " * 2000 took 0.47 s). ``_forget_injection`` scans each line once.
_FORGET = re.compile(r"\bforget\s++(?:all\s++|everything\s++)?(?:you|your|previous)\b", re.IGNORECASE)
_FORGET_OBJECT = re.compile(r"\b(?:instructions|rules|told)\b", re.IGNORECASE)


def _forget_injection(text: str) -> bool:
    """Same matches as the single regex above, in linear time: after a "forget" phrase only the
    part of its line not already searched is searched for the object word."""
    searched_to = -1
    m = _FORGET.search(text)
    while m is not None:
        line_end = text.find("\n", m.end())
        line_end = len(text) if line_end < 0 else line_end
        if line_end > searched_to:
            if _FORGET_OBJECT.search(text, max(m.end(), searched_to), line_end):
                return True
            searched_to = line_end
        m = _FORGET.search(text, m.start() + 1)
    return False

CLINICAL_TERMS: frozenset[str] = frozenset("""
patient pt history hx presents presented presenting complains complaint denies reports admitted admission
discharge discharged diagnosis dx assessment plan exam examination physical vitals vital temperature afebrile
febrile fever pulse pressure bp hr rr sats saturation oxygen pain chest abdomen abdominal heart cardiac lung
lungs pulmonary respiratory breath breathing dyspnea cough wheeze wheezing nausea vomiting diarrhea
constipation headache dizziness syncope fatigue weakness rash edema swelling tenderness mass lesion nodule
tumor tumour cancer carcinoma malignant benign biopsy pathology imaging ct mri xray x-ray ultrasound
mammogram mammography scan contrast lab labs laboratory blood serum glucose sodium potassium creatinine
hemoglobin hgb wbc platelets culture urine urinalysis medication medications meds dose doses dosage mg mcg
ml tablet tablets daily bid tid qid prn iv oral po im sc injection infusion prescribed started continue
continued stopped allergy allergies allergic nkda surgery surgical operative postoperative procedure
anesthesia diabetes diabetic hypertension hypertensive asthma copd pneumonia infection sepsis stroke
seizure fracture injury trauma wound pregnancy pregnant prenatal gestation clinic clinical hospital ward icu
emergency ed er physician nurse doctor md consult consultation referral follow-up followup symptoms symptom
signs acute chronic mild moderate severe bilateral unilateral left right anterior posterior lateral
medial proximal distal normal abnormal unremarkable stable improved worsening negative positive noted
impression findings finding therapy treatment treated chemotherapy radiotherapy radiation antibiotics
insulin metformin aspirin heparin warfarin statin smoker smoking alcohol tobacco weight height bmi
""".split())
_AFFIX = re.compile(
    r"(?:itis|ectomy|otomy|ostomy|plasty|emia|aemia|osis|algia|ology|ologist|oma|pathy|scopy|gram|uria|"
    r"penia|cyte|cytes|ectasis|plegia|trophy)$|^(?:cardio|neuro|gastro|hepat|nephr|pulmon|derm|onco|hemat|"
    r"haemat|osteo|arthr|endo|peri|hyper|hypo|tachy|brady)",
)
_BLOB = re.compile(r"[A-Za-z0-9+/=_\-]{60,}")
_DOSE = re.compile(r"\b\d+(?:\.\d+)?\s?(?:mg|mcg|ml|mmhg|bpm|kg|cm|mm|mmol|meq|units?|iu|%)\b", re.IGNORECASE)


class TextGate:
    """Reason-coded checks on de-identified text; see the module docstring."""

    def __init__(self, min_words: int = 3, min_alpha_ratio: float = 0.5, lexicon_min_words: int = 8) -> None:
        self.min_words = min_words
        self.min_alpha_ratio = min_alpha_ratio
        self.lexicon_min_words = lexicon_min_words

    @staticmethod
    def _is_clinical_word(word: str) -> bool:
        w = word.lower().strip("'-")
        return w in CLINICAL_TERMS or (len(w) > 5 and _AFFIX.search(w) is not None)

    def check(self, text: str) -> OodDecision:
        stripped = _PLACEHOLDER.sub(" ", text or "")
        words = _WORD.findall(stripped)
        if not words:
            return OodDecision(True, "empty")
        if _INJECTION.search(stripped) or _forget_injection(stripped):
            return OodDecision(True, "prompt-injection")
        if len(words) < self.min_words:
            return OodDecision(True, "too-short")
        visible = [c for c in stripped if not c.isspace()]
        alpha = sum(c.isalpha() for c in visible) / max(1, len(visible))
        if alpha < self.min_alpha_ratio or _BLOB.search(stripped):
            # code, base64 blobs, tables of numbers: not a note
            return OodDecision(True, "non-clinical")
        if len(words) >= self.lexicon_min_words and not _DOSE.search(stripped):
            if not any(self._is_clinical_word(w) for w in words):
                return OodDecision(True, "non-clinical")
        return IN_DISTRIBUTION
