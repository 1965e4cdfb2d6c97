# ruff: noqa: E501  (tables of names, places and sentences: one entry a line reads better than wrapped)
"""Non-English clinical notes and messages (a language gate must refuse them) and short
English clinical texts full of foreign names, places and loanwords (it must not).

Gold spans are marked in both, with the same guideline as the English files.
"""

from __future__ import annotations

from slots import Slots, mark

MONTHS = {
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"],
    "pt": ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
           "novembro", "dezembro"],
    "it": ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
           "ottobre", "novembre", "dicembre"],
}
LOCALES = {"es": ["es_ES", "es_MX", "es_CO", "es_AR"], "fr": ["fr_FR", "fr_CA"], "de": ["de_DE", "de_AT"],
           "pt": ["pt_BR", "pt_PT"], "it": ["it_IT"]}
ADDRESS = {"es_ES": "es_ES", "es_MX": "es_MX", "es_CO": "es_CO", "es_AR": "es_AR", "fr_FR": "fr_FR",
           "fr_CA": "fr_CA", "de_DE": "de_DE", "de_AT": "de_AT", "pt_BR": "pt_BR", "pt_PT": "pt_PT", "it_IT": "it_IT"}
TITLES = {"es": ["Sr.", "Sra.", "Dra.", "Dr."], "fr": ["M.", "Mme", "Dr"], "de": ["Herr", "Frau", "Dr."],
          "pt": ["Sr.", "Sra.", "Dra.", "Dr."], "it": ["Sig.", "Sig.ra", "Dott.", "Dott.ssa"]}
DOCTOR = {"es": "Dra.", "fr": "Dr", "de": "Dr.", "pt": "Dr.", "it": "Dott."}

TEMPLATES = {
    "es": [
        "Paciente {name} de {age} años, ingresa por dolor torácico opresivo de dos horas de evolución. Antecedentes de hipertensión arterial y diabetes mellitus tipo 2.",
        "Hola {first}, le recordamos su cita con {doctor} el {date} a las 10:30 en {facility}. Si no puede asistir, llame al {phone}.",
        "Informe de alta: la paciente {name}, historia clínica {mrn}, evolucionó favorablemente tras tratamiento con amoxicilina. Control en consultas externas en dos semanas.",
        "Se remite a {titled} al servicio de cardiología del {facility} para valoración de fibrilación auricular.",
        "Domicilio: {address}. Teléfono de contacto: {phone}. Familiar responsable: su hija {first}.",
        "Buenos días, doctora. Mi madre {name} sigue con fiebre desde ayer y no tolera la vía oral. ¿Podemos adelantar la cita?",
        "Exploración física: consciente, orientada, eupneica. Auscultación cardiopulmonar sin hallazgos. Abdomen blando y depresible, no doloroso.",
        "Juicio clínico: neumonía adquirida en la comunidad. Plan: ceftriaxona intravenosa, control de constantes y radiografía de tórax en 48 horas.",
        "{name}, nacida el {date} en {city}, acude a urgencias acompañada de su marido por disnea progresiva.",
        "Mensaje para {doctor}: el paciente de la cama 12 tiene una glucemia de 320 mg/dl y refiere mareo. Por favor, avise.",
        "Varón de {age} años con enfermedad de Parkinson, traído desde {city} por caída en domicilio. Niega pérdida de conocimiento.",
        "Se solicita analítica completa con función renal, iones y hemograma. Valorar ecografía abdominal si persiste el dolor.",
    ],
    "fr": [
        "Patient {name}, {age} ans, hospitalisé pour une décompensation cardiaque. Antécédents : hypertension artérielle, fibrillation auriculaire.",
        "Bonjour {first}, votre rendez-vous avec {doctor} est confirmé le {date} à 14h00 au {facility}. En cas d'empêchement, appelez le {phone}.",
        "Compte rendu d'hospitalisation : {titled}, né le {date}, dossier {mrn}, sort ce jour à domicile avec un traitement par furosémide.",
        "Adresse : {address}. Personne de confiance : sa fille {first}, joignable au {phone}.",
        "Examen clinique : patiente consciente, orientée, apyrétique. Auscultation cardio-pulmonaire normale. Abdomen souple, indolore.",
        "Cher confrère, je vous adresse {titled} pour avis concernant une anémie ferriprive. Je vous remercie de votre aide.",
        "Conclusion : pneumopathie communautaire. Antibiothérapie par amoxicilline-acide clavulanique pendant sept jours.",
        "{name} habite à {city} et souhaite être suivie à l'hôpital le plus proche de chez elle.",
        "Message de l'infirmière : la patiente de la chambre 8 se plaint de douleurs thoraciques depuis ce matin. Merci de passer la voir.",
        "Madame, votre résultat d'analyse est disponible. Veuillez contacter le secrétariat du service de néphrologie.",
        "Homme de {age} ans, diabétique de type 2, adressé par son médecin traitant {doctor} pour un ulcère du pied.",
        "Prévoir une échographie cardiaque de contrôle dans trois mois et un bilan biologique avec créatinine et kaliémie.",
    ],
    "de": [
        "Patient {name}, {age} Jahre, stationäre Aufnahme wegen akuter Dyspnoe. Vorerkrankungen: arterielle Hypertonie, Diabetes mellitus Typ 2.",
        "Sehr geehrte Frau Kollegin, wir berichten über {titled}, geb. am {date}, die sich vom {date} bis {date} in unserer Behandlung befand.",
        "Hallo {first}, Ihr Termin bei {doctor} am {date} um 9:15 Uhr im {facility} ist bestätigt. Bei Verhinderung rufen Sie bitte {phone} an.",
        "Anschrift: {address}. Angehörige: Tochter {first}, Telefon {phone}.",
        "Befund: Patientin wach, orientiert, kardiopulmonal kompensiert. Abdomen weich, kein Druckschmerz, Darmgeräusche regelrecht.",
        "Diagnose: ambulant erworbene Pneumonie. Therapie: Ampicillin/Sulbactam i.v., Kontrolle der Entzündungswerte in 48 Stunden.",
        "Die Patientin {name} wohnt in {city} und wünscht eine Weiterbehandlung durch ihren Hausarzt {doctor}.",
        "Nachricht von der Pflege: Der Patient in Zimmer 5 klagt über Brustschmerzen. Bitte zeitnah ansehen.",
        "Wir bitten um eine Kontrolle des Blutbildes und der Nierenwerte in einer Woche beim Hausarzt.",
        "Herr Doktor, meine Mutter hat seit gestern Fieber und isst nichts mehr. Können wir den Termin vorziehen?",
        "{age}-jähriger Patient mit bekanntem Morbus Parkinson, Sturz zu Hause ohne Bewusstseinsverlust. Fallnummer {mrn}.",
        "Empfehlung: Fortführung der Antikoagulation mit Apixaban, Echokardiographie in drei Monaten.",
    ],
    "pt": [
        "Paciente {name}, {age} anos, internado por dor torácica em aperto com duas horas de evolução. Antecedentes de hipertensão arterial.",
        "Olá {first}, lembramos a sua consulta com {doctor} no dia {date} às 11h00 no {facility}. Em caso de impedimento, ligue para {phone}.",
        "Resumo de alta: a paciente {name}, prontuário {mrn}, evoluiu bem após antibioticoterapia. Retorno ao ambulatório em duas semanas.",
        "Endereço: {address}. Contato: filha {first}, telefone {phone}.",
        "Exame físico: consciente, orientada, corada e hidratada. Ausculta cardíaca e pulmonar sem alterações. Abdome flácido, indolor.",
        "Encaminho {titled} ao serviço de cardiologia do {facility} para avaliação de fibrilação atrial.",
        "Hipótese diagnóstica: pneumonia adquirida na comunidade. Conduta: ceftriaxona endovenosa e radiografia de tórax de controle.",
        "{name} mora em {city} e pediu para ser acompanhada na unidade de saúde perto de casa.",
        "Recado da enfermagem: o paciente do leito 7 está com glicemia de 300 mg/dL e queixa de tontura. Favor avaliar.",
        "Bom dia, doutora. A minha mãe continua com febre desde ontem e não consegue comer. Podemos antecipar a consulta?",
        "Homem de {age} anos com doença de Parkinson, trazido de {city} após queda em casa, sem perda de consciência.",
        "Solicito hemograma, função renal e eletrólitos. Reavaliar em 48 horas.",
    ],
    "it": [
        "Paziente {name}, {age} anni, ricoverato per dolore toracico oppressivo insorto da due ore. In anamnesi ipertensione arteriosa e diabete.",
        "Gentile {first}, le ricordiamo l'appuntamento con {doctor} il {date} alle ore 10:00 presso {facility}. In caso di disdetta chiami il {phone}.",
        "Lettera di dimissione: la paziente {name}, cartella clinica {mrn}, è stata dimessa in buone condizioni generali.",
        "Indirizzo: {address}. Familiare di riferimento: la figlia {first}, telefono {phone}.",
        "Esame obiettivo: paziente vigile, orientata, eupnoica. Toni cardiaci validi, murmure vescicolare presente. Addome trattabile, non dolente.",
        "Si invia {titled} all'ambulatorio di cardiologia di {facility} per valutazione di fibrillazione atriale.",
        "Diagnosi: polmonite acquisita in comunità. Terapia: amoxicillina e acido clavulanico per sette giorni, controllo radiografico.",
        "{name} abita a {city} e desidera proseguire le cure presso il medico di base.",
        "Messaggio dell'infermiera: il paziente del letto 3 riferisce dolore toracico da stamattina. Si prega di valutarlo.",
        "Buongiorno dottore, mia madre ha la febbre da ieri e non mangia. Possiamo anticipare la visita?",
        "Uomo di {age} anni affetto da morbo di Parkinson, condotto da {city} per caduta domestica senza perdita di coscienza.",
        "Si richiedono emocromo, funzionalità renale ed elettroliti. Rivalutazione tra 48 ore.",
    ],
}

ENGLISH_SHORT = [
    "Pt {name} from {city} speaks only Portuguese; daughter {first} interprets at the bedside.",
    "{es_senora} reports fever since yesterday, says \"me duele mucho\" pointing to the RLQ.",
    "{de_titled} is a visiting engineer from {de_city} with a swollen left calf after a long flight.",
    "{fr_titled} prefers French; consent form reviewed with the interpreter line.",
    "Abuela lives with the family in {city}; she manages her own insulin.",
    "Traveled to {city} for a wedding, ate street food, now has diarrhea for three days.",
    "{name} is a student from {city} with a sore throat and fever; rapid strep negative.",
    "Mother {first} says the baby has not fed well since {date}.",
    "Patient {name}, recently arrived from {country}, needs TB screening and vaccines.",
    "{it_titled} was on holiday in {it_city} when the chest pain started; ECG from there reviewed.",
    "Café au lait spots noted on the trunk; refer to genetics.",
    "Per the family, {name} drinks mate daily and takes no herbal remedies.",
    "{name} wants a note in Spanish for her employer; letter provided.",
    "Patient returned from visiting family in {city} with a rash on both legs.",
    "{de_herr} is {age} and has no allergies; BP 150/90 in clinic.",
    "{first} (patient's nieta) will bring the medication list tomorrow.",
    "Pt states \"no tengo dolor\" but grimaces on palpation of the epigastrium.",
    "{name} fasted during Ramadan and now has hypoglycemia episodes.",
    "Seen with a Mandarin interpreter; {zh_name} understands the plan.",
    "Pt {pt_name} is visiting from {de_city}, insured through a German plan; self-pay for today.",
    "The dentist in {city} extracted a molar; now facial swelling and trismus.",
    "Family brought tamales and pan dulce; reminded about the diabetic diet.",
    "Rash consistent with pityriasis rosea; no treatment needed.",
    "Lives in {city} with her husband; works as a tour guide.",
    "{ja_name} is a visiting professor with a migraine; no red flags.",
    "Per {doctor}, the patient can resume tai chi and yoga next week.",
    "{fr_mme} had a fall at the hotel; x-ray shows a distal radius fracture.",
    "Denies recent travel to {country}; no sick contacts.",
    "{name}'s son called from {city} asking for an update.",
    "Pt from {city}, {age} yo, with a hacking cough for a month; CXR clear.",
]


def _date(s: Slots, lang: str) -> str:
    d = s._day()
    months = MONTHS[lang]
    v = s.choice([f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day}.{d.month}.{d.year}" if lang == "de" else f"{d.day}/{d.month}/{d.year}",
                  {"es": f"{d.day} de {months[d.month - 1]} de {d.year}", "pt": f"{d.day} de {months[d.month - 1]} de {d.year}",
                   "fr": f"{d.day} {months[d.month - 1]} {d.year}", "de": f"{d.day}. {months[d.month - 1]} {d.year}",
                   "it": f"{d.day} {months[d.month - 1]} {d.year}"}[lang]])
    return mark("DATE", v)


def _facility(s: Slots, lang: str, loc: str) -> str:
    city = s.faker(loc).city()
    v = s.choice({
        "es": [f"Hospital Universitario de {city}", f"Centro de Salud {city}", f"Hospital San Rafael", f"Clínica Santa Elena"],
        "fr": [f"Centre Hospitalier de {city}", f"CHU de {city}", "Clinique Saint-Jean", f"Hôpital de {city}"],
        "de": [f"Klinikum {city}", f"Universitätsklinikum {city}", "St. Marien-Krankenhaus", f"Praxis am {city}er Tor"],
        "pt": [f"Hospital de {city}", "Hospital São Lucas", f"Unidade Básica de Saúde {city}", "Santa Casa de Misericórdia"],
        "it": [f"Ospedale di {city}", f"Policlinico di {city}", "Ospedale San Raffaele", f"Casa di Cura {city}"],
    }[lang])
    return mark("LOCATION", v)


def non_english(s: Slots, per_lang: int = 40) -> list[tuple[str, str]]:
    out, seen = [], set()
    for lang, templates in TEMPLATES.items():
        for i in range(per_lang):
            loc = LOCALES[lang][i % len(LOCALES[lang])]
            f = s.faker(loc)

            def person():
                return f.first_name(), f.last_name()
            table = {
                "name": lambda: mark("NAME", " ".join(person())), "first": lambda: mark("NAME", f.first_name()),
                "titled": lambda: mark("NAME", f"{s.choice(TITLES[lang])} {f.last_name()}"),
                "doctor": lambda: mark("NAME", f"{DOCTOR[lang]} {f.last_name()}"),
                "age": lambda: s.age90() if s.rng.random() < 0.1 else str(s.rng.randrange(20, 90)),
                "date": lambda: _date(s, lang), "facility": lambda: _facility(s, lang, loc),
                "phone": lambda: mark("PHONE", f.phone_number()), "mrn": s.mrn,
                "address": lambda: s.address(ADDRESS[loc], with_country=False),
                "city": lambda: mark("LOCATION", f.city()),
            }
            while True:  # one to three sentences; no two items alike
                k = 1 if i < len(templates) else s.choice([1, 2, 2, 3])
                parts = [templates[i]] if i < len(templates) else s.rng.sample(templates, k)
                text = " ".join(_fill(t, table) for t in parts)
                if text not in seen:
                    break
            seen.add(text)
            out.append((lang, text))
    return out


def english_short(s: Slots, total: int = 200) -> list[str]:
    from fill import Filler
    filler = Filler(s)

    def loc_city(loc):
        return lambda: mark("LOCATION", s.faker(loc).city())

    def titled(loc, titles):
        return lambda: mark("NAME", f"{s.choice(titles)} {s.faker(loc).last_name()}")
    extra = {
        "es_senora": titled("es_MX", ["Señora", "Sra."]), "de_herr": titled("de_DE", ["Herr"]),
        "fr_mme": titled("fr_FR", ["Mme"]),
        "de_titled": titled("de_DE", ["Herr", "Frau", "Dr."]), "fr_titled": titled("fr_FR", ["M.", "Mme", "Madame"]),
        "it_titled": titled("it_IT", ["Sig.", "Signora", "Dott."]),
        "de_city": loc_city("de_DE"), "it_city": loc_city("it_IT"),
        "zh_name": lambda: s.name("zh_CN", "full"), "ja_name": lambda: s.name("ja_JP", "full"),
        "pt_name": lambda: s.name("de_DE", "full"),
        "name": lambda: s.name(s.choice(["es_MX", "pt_BR", "de_DE", "fr_FR", "it_IT", "pl_PL", "tr_TR", "vi_VN", None])),
        "city": lambda: mark("LOCATION", s.faker(s.choice(["es_MX", "pt_BR", "de_DE", "fr_FR", "it_IT", "pl_PL", "es_CO"])).city()),
    }
    out: list[str] = []
    while len(out) < total:
        i = len(out)
        parts = [ENGLISH_SHORT[i]] if i < len(ENGLISH_SHORT) else s.rng.sample(ENGLISH_SHORT, s.choice([1, 2, 2]))
        text = " ".join(filler.fill(t, extra) for t in parts)
        if text not in out:
            out.append(text)
    return out


def _fill(template: str, table: dict) -> str:
    import re
    return re.sub(r"\{(\w+)\}", lambda m: table[m.group(1)](), template)
