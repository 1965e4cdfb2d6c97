"""Split ``dev``: H&P / progress-note style templates. The recognizers were tuned on this split."""

from __future__ import annotations

HEADERS = [
    "Patient: {NAME:pfull}\nMRN: {MRN:mrn}\nDOB: {DATE:date_mdy}\nAdmission Date: {DATE:date}\nAttending: Dr. {NAME:dfull}\n",
    "NAME: {NAME:pupper}    MR#: {MRN:mrn}    DATE OF SERVICE: {DATE:date_mdy}\n{LOCATION:hospital}\n",
    "{LOCATION:hospital}\n{LOCATION:street}, {LOCATION:city}, {~state} {LOCATION:zip}\nPhone: {PHONE:phone}  Fax: {FAX:phone}\n\nPROGRESS NOTE\nPatient Name: {NAME:pfull}  Medical Record Number: {MRN:mrn}\n",
    "HISTORY AND PHYSICAL\nDate: {DATE:date_long}\nPt: {NAME:pfull} (MRN {MRN:mrn}), Acct # {ACCOUNT:account}\n",
]

BODY = [
    "{NAME:pfirst} is a {~age}-year-old woman with {~dx} who presents with {~dur} of dyspnea.",
    "Mr. {NAME:plast} is a {~age} yo man with a history of {~dx} and {~dx}.",
    "Ms. {NAME:plast} is a {AGE:age90}-year-old female admitted from {LOCATION:hospital} on {DATE:date_mdy}.",
    "The patient is a {AGE:age90} y/o man seen in clinic on {DATE:date_long}.",
    "She was last seen by Dr. {NAME:last} at {LOCATION:hospital} in {DATE:date_my}.",
    "Home medications include {~med} and {~med}.",
    "Labs on {DATE:date_mdy}: {~lab}, {~lab}, {~lab}.",
    "Vitals at {~time}: {~lab}, {~lab}. Pain {~pain}.",
    "Pain is {~pain} and worse at night; she was started on {~med}.",
    "Prior {~dx} diagnosed in {~year}, treated with {~med}.",
    "Her daughter, {NAME:full}, can be reached at {PHONE:phone}.",
    "Please fax records to {FAX:phone} attention {NAME:full}.",
    "Contact: {NAME:full} (son) {PHONE:phone}, email {EMAIL:email}.",
    "She lives alone at {LOCATION:street}, {LOCATION:city}, {~state} {LOCATION:zip}.",
    "He moved to {LOCATION:city} from {LOCATION:county} in {~year}.",
    "SSN: {SSN:ssn}. Insurance: Medicaid, Member ID {HEALTH_PLAN_ID:plan}.",
    "Health plan beneficiary number {HEALTH_PLAN_ID:plan}; billing account {ACCOUNT:account}.",
    "Pacemaker (serial number {DEVICE_ID:device}) was interrogated on {DATE:date_iso}.",
    "Insulin pump device ID: {DEVICE_ID:device}.",
    "Patient was the driver; vehicle VIN {VEHICLE_ID:vin}, license plate {VEHICLE_ID:plate}.",
    "Surgical pathology accession number {ID_OTHER:idother} showed {~dx}.",
    "Signed: {NAME:dfull}, MD (license #{LICENSE:license}) {DATE:date_mdy} {~time}",
    "Electronically signed by Dr. {NAME:dlast} on {DATE:date_long}.",
    "Follow up with {NAME:dfull}, NP at {LOCATION:hospital} on {DATE:date_md}.",
    "Patient portal: {URL:url}. Login from IP {IP_ADDRESS:ip} was noted by IT.",
    "Discussed with {NAME:initials} (pharmacy) and {NAME:mi}, RN.",
    "Transferred to {LOCATION:hospital} Room {~room} on {DATE:date_mdy} at {~time}.",
    "Next appointment {DATE:date_md} at {~time} with Dr. {NAME:last}.",
    "INR goal 2-3; current INR {~lab}. Continue {~med}.",
    "Assessment: {~dx}, stable. Plan: {~med}, recheck {~lab} in {~dur}.",
    "DEA #{LICENSE:license}. Rx sent to pharmacy at {PHONE:phone}.",
    "Mrs. {NAME:plast} reports her husband {NAME:first} helps with medications.",
    "Her {AGE:age90}th birthday is next week.",
    "Seen in the ED at {LOCATION:hospital} on {DATE:date_mdy} for {~dx}.",
    "{NAME:pfirst} tolerated the procedure well. EBL minimal.",
    "Echo {DATE:date_my}: {~lab}, moderate MR.",
]

FOOTERS = [
    "\n{NAME:dfull}, MD\n{LOCATION:hospital}\n",
    "\nDictated by: {NAME:dfull}, MD  Transcribed: {NAME:initials}  {DATE:date_mdy}\n",
    "\ncc: Dr. {NAME:full}, {LOCATION:hospital}, fax {FAX:phone}\n",
]


def make_template(rng) -> str:
    body = " ".join(rng.sample(BODY, rng.randint(6, 10)))
    return rng.choice(HEADERS) + "\n" + body + "\n" + rng.choice(FOOTERS)
