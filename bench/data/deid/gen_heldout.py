"""Split ``heldout``: letters, telephone encounters, radiology and nursing notes.

Written before any recognizer existed and never used to tune rules: its sentence
templates, header layouts and phrasings differ from ``gen_dev``.
"""

from __future__ import annotations

DOCS = [
    # referral letter
    "{LOCATION:hospital}\n{LOCATION:street}\n{LOCATION:city}, {~state} {LOCATION:zip}\nTel {PHONE:phone} | Fax {FAX:phone}\n\n"
    "{DATE:date_long}\n\nDear Dr. {NAME:last},\n\nThank you for referring {NAME:pfull}, date of birth {DATE:date_mdy}, "
    "whom I saw today in consultation for {~dx}. {BODY}\n\nSincerely,\n\n{NAME:dfull}, M.D.\n",
    # telephone encounter
    "TELEPHONE ENCOUNTER  {DATE:date_mdy} {~time}\nCaller: {NAME:full} (wife)  Callback #: {PHONE:phone}\n"
    "Re: {NAME:pfull}  Chart #{MRN:mrn}\n{BODY}\nRoute to: {NAME:dfull}, PA-C\n",
    # radiology
    "EXAM: CT chest with contrast\nACCESSION: {ID_OTHER:idother}   MRN: {MRN:mrn}\nPATIENT: {NAME:pupper}\n"
    "EXAM DATE: {DATE:date_iso}\nORDERING PHYSICIAN: {NAME:dfull}\nCOMPARISON: {DATE:date_mdy}.\n"
    "FINDINGS: {BODY}\nIMPRESSION: {~dx}.\nRead by {NAME:full}, MD at {LOCATION:hospital}.\n",
    # discharge summary
    "DISCHARGE SUMMARY\n{LOCATION:hospital}\nAdmitted: {DATE:date_mdy}   Discharged: {DATE:date_mdy}\n"
    "Patient {NAME:pfull}, {AGE:age90} years old, unit no. {MRN:mrn}\n\nHOSPITAL COURSE: {BODY}\n\n"
    "DISPOSITION: home with services to {LOCATION:street}, {LOCATION:city}.\n",
    # nursing note
    "Nursing note {DATE:date_mdy} {~time}. {BODY} -- {NAME:initials}, RN\n",
]

BODY = [
    "{NAME:pfirst} was born on {DATE:date_long} and is now {AGE:age90}.",
    "Pt's daughter {NAME:full} called from {PHONE:phone} asking about discharge.",
    "The patient, a {~age}-year-old retired teacher from {LOCATION:city}, reports {~dur} of cough.",
    "He was seen at {LOCATION:hospital} on {DATE:date_long} and discharged on {~med}.",
    "Records were faxed over from {LOCATION:hospital} (fax {FAX:phone}).",
    "Blood cultures drawn {DATE:date_md}; {~lab}.",
    "Started {~med} and {~med}; {~lab} this AM.",
    "Reports pain {~pain}, improved from {~pain} yesterday.",
    "Known {~dx} since {~year}.",
    "Insurance card shows policy no. {HEALTH_PLAN_ID:plan}; SSN on file {SSN:ssn}.",
    "Billing questions to acct. {ACCOUNT:account}.",
    "ICD serial no. {DEVICE_ID:device} checked, normal function.",
    "Involved in MVC; car registration plate {VEHICLE_ID:plate}.",
    "Per Dr. {NAME:dlast}, hold {~med} until {DATE:date_md}.",
    "Results released to patient portal at {URL:url}.",
    "She emailed the office at {EMAIL:email} on {DATE:date_mdy}.",
    "Her son {NAME:first} lives in {LOCATION:county} and visits weekly.",
    "Prior films from {DATE:date_my} reviewed; {~dx} unchanged.",
    "Lives with husband {NAME:full} at {LOCATION:street}.",
    "Mr. {NAME:plast} ({AGE:age90} y.o.) ambulated with walker.",
    "Dr. {NAME:full} from cardiology (pager {PHONE:phone}) agreed with plan.",
    "Medical license {LICENSE:license} verified for prescriber.",
    "Remote monitoring login from {IP_ADDRESS:ip}.",
    "Vital signs {~lab}, {~lab}, afebrile at {~time}.",
    "Follow-up in {~dur} at {LOCATION:hospital}.",
]


def make_template(rng) -> str:
    body = " ".join(rng.sample(BODY, rng.randint(5, 8)))
    return rng.choice(DOCS).replace("{BODY}", body)
