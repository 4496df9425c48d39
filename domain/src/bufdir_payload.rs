//! The payload Bufdir receives, and the one validator that judges it: our validate endpoint, our
//! submissions and the Bufdir sandbox all call [`validate`], so they can never disagree.
//!
//! The validator reads raw JSON rather than a typed struct: a payload with a wrong type in it
//! gets an error that points at that value (a JSON pointer), instead of a parse failure that
//! names nothing. It never panics, whatever the input (property-tested below).

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::schema::{self, ReportingSchema, Requirement, Unit};
use crate::{OrgNumber, PeriodId};

/// The payload versions this build understands.
pub const KNOWN_VERSIONS: &[&str] = &[schema::BUFDIR_2025_V2];

/// An activity takes at most a day: more hours than that per activity is a typing error.
pub(crate) const MAX_HOURS_PER_ACTIVITY: u64 = 24;

/// The largest figure accepted. Norway has about 1.1 million children; beyond ten million a
/// figure is a mistake, and the bound keeps sums far from overflow.
pub(crate) const MAX_FIGURE: u64 = 10_000_000;

/// Validation stops collecting after this many errors, so a huge wrong payload gets a bounded
/// answer.
pub(crate) const MAX_ERRORS: usize = 100;

/// One finding, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// An RFC 6901 JSON pointer into the request (`/payload/aktiviteter/0/timer`).
    pub pointer: String,
    /// Stable and machine-readable; clients branch on it.
    pub code: &'static str,
    pub message_nb: String,
    /// Nynorsk.
    pub message_nn: String,
    pub message_en: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Validation {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    fn error(&mut self, pointer: &Pointer, code: &'static str, nb: String, nn: String, en: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(issue(pointer, code, nb, nn, en));
        } else if self.errors.len() == MAX_ERRORS {
            self.errors.push(issue(
                &Pointer::root(),
                "too_many_errors",
                format!("Mer enn {MAX_ERRORS} feil; resten er ikke listet."),
                format!("Meir enn {MAX_ERRORS} feil; resten er ikkje lista."),
                format!("More than {MAX_ERRORS} errors; the rest are not listed."),
            ));
        }
    }

    fn warning(
        &mut self,
        pointer: &Pointer,
        code: &'static str,
        nb: String,
        nn: String,
        en: String,
    ) {
        if self.warnings.len() < MAX_ERRORS {
            self.warnings.push(issue(pointer, code, nb, nn, en));
        }
    }
}

fn issue(pointer: &Pointer, code: &'static str, nb: String, nn: String, en: String) -> Issue {
    Issue {
        pointer: pointer.0.clone(),
        code,
        message_nb: nb,
        message_nn: nn,
        message_en: en,
    }
}

/// A JSON pointer under construction; keys are escaped as RFC 6901 says (`~` and `/`).
#[derive(Clone)]
struct Pointer(String);

impl Pointer {
    fn root() -> Self {
        Pointer(String::new())
    }

    fn key(&self, key: &str) -> Self {
        Pointer(format!(
            "{}/{}",
            self.0,
            key.replace('~', "~0").replace('/', "~1")
        ))
    }

    fn index(&self, i: usize) -> Self {
        Pointer(format!("{}/{i}", self.0))
    }
}

/// Validates `payload` as [`validate`] does, and as the submission of organisation `org_id`,
/// registered with `registered_number`: a valid payload must carry that organisasjonsnummer.
pub fn validate_for_organisation(
    payload_version: &str,
    payload: &Value,
    today: NaiveDate,
    org_id: &crate::OrgId,
    registered_number: &str,
) -> Validation {
    let mut v = validate(payload_version, payload, today);
    let number = payload.get("organisasjonsnummer").and_then(Value::as_str);
    if v.is_valid() && number != Some(registered_number) {
        v.errors.push(Issue {
            pointer: "/payload/organisasjonsnummer".into(),
            code: "organisasjonsnummer_mismatch",
            message_nb: format!("Organisasjonsnummeret er ikke {org_id}s ({registered_number})."),
            message_nn: format!(
                "Organisasjonsnummeret er ikkje det {org_id} har ({registered_number})."
            ),
            message_en: format!("The organisasjonsnummer is not {org_id}'s ({registered_number})."),
        });
    }
    v
}

/// Validates `payload` as version `payload_version`, with pointers under `/payload` as in the
/// submit and validate requests. `today` decides whether the period has ended.
pub fn validate(payload_version: &str, payload: &Value, today: NaiveDate) -> Validation {
    let mut v = Validation::default();
    let Some(schema) = KNOWN_VERSIONS
        .contains(&payload_version)
        .then(|| schema::by_id(payload_version))
        .flatten()
    else {
        let known = KNOWN_VERSIONS.join(", ");
        v.error(
            &Pointer::root().key("payload_version"),
            "unknown_payload_version",
            format!("Ukjent payload_version «{payload_version}». Kjente versjoner: {known}."),
            format!("Ukjend payload_version «{payload_version}». Kjende versjonar: {known}."),
            format!("Unknown payload_version '{payload_version}'. Known versions: {known}."),
        );
        return v;
    };
    let at = Pointer::root().key("payload");
    let Some(object) = payload.as_object() else {
        v.error(
            &at,
            "invalid_type",
            "payload må være et JSON-objekt.".into(),
            "payload må vere eit JSON-objekt.".into(),
            "payload must be a JSON object.".into(),
        );
        return v;
    };
    unknown_properties(
        &mut v,
        &at,
        object,
        &[
            "organisasjonsnummer",
            "rapporteringsperiode",
            "aktiviteter",
            "kontaktperson",
            "felter",
        ],
    );
    organisasjonsnummer(&mut v, &at, object);
    rapporteringsperiode(&mut v, &at, object, today);
    aktiviteter(&mut v, &at, object, schema);
    kontaktperson(&mut v, &at, object);
    felter(&mut v, &at, object, schema);
    v
}

fn unknown_properties(
    v: &mut Validation,
    at: &Pointer,
    object: &Map<String, Value>,
    known: &[&str],
) {
    for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
        v.error(
            &at.key(key),
            "unknown_property",
            format!("Ukjent felt «{key}». Tillatte felt: {}.", known.join(", ")),
            format!("Ukjent felt «{key}». Tillatne felt: {}.", known.join(", ")),
            format!("Unknown property '{key}'. Allowed: {}.", known.join(", ")),
        );
    }
}

/// The string at `key`, or an error for a missing or non-string value.
fn required_string<'a>(
    v: &mut Validation,
    at: &Pointer,
    object: &'a Map<String, Value>,
    key: &str,
) -> Option<&'a str> {
    match object.get(key) {
        None | Some(Value::Null) => {
            v.error(
                &at.key(key),
                "required",
                format!("Feltet «{key}» mangler."),
                format!("Feltet «{key}» manglar."),
                format!("Field '{key}' is required."),
            );
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            type_error(v, &at.key(key), key, "tekst", "tekst", "a string");
            None
        }
    }
}

fn type_error(v: &mut Validation, at: &Pointer, key: &str, nb: &str, nn: &str, en: &str) {
    v.error(
        at,
        "invalid_type",
        format!("«{key}» må være {nb}."),
        format!("«{key}» må vere {nn}."),
        format!("'{key}' must be {en}."),
    );
}

fn organisasjonsnummer(v: &mut Validation, at: &Pointer, object: &Map<String, Value>) {
    let key = "organisasjonsnummer";
    if let Some(s) = required_string(v, at, object, key)
        && OrgNumber::parse(s).is_err()
    {
        v.error(
            &at.key(key),
            "invalid_organisasjonsnummer",
            format!(
                "«{s}» er ikke et gyldig organisasjonsnummer (ni sifre med MOD11-kontrollsiffer)."
            ),
            format!(
                "«{s}» er ikkje eit gyldig organisasjonsnummer (ni siffer med MOD11-kontrollsiffer)."
            ),
            format!(
                "'{s}' is not a valid organisasjonsnummer (nine digits with a MOD11 check digit)."
            ),
        );
    }
}

fn rapporteringsperiode(
    v: &mut Validation,
    at: &Pointer,
    object: &Map<String, Value>,
    today: NaiveDate,
) {
    let key = "rapporteringsperiode";
    let Some(s) = required_string(v, at, object, key) else {
        return;
    };
    match PeriodId::parse(s) {
        Err(_) => v.error(
            &at.key(key),
            "invalid_period",
            format!("«{s}» er ikke en periode: bruk et år (2025) eller et kvartal (2025-Q1)."),
            format!("«{s}» er ikkje ein periode: bruk eit år (2025) eller eit kvartal (2025-Q1)."),
            format!("'{s}' is not a period: use a year (2025) or a quarter (2025-Q1)."),
        ),
        Ok(period) if period.end() >= today => v.warning(
            &at.key(key),
            "period_not_ended",
            format!("Perioden {period} er ikke avsluttet; tallene kan endre seg."),
            format!("Perioden {period} er ikkje avslutta; tala kan endre seg."),
            format!("Period {period} has not ended yet; the figures may still change."),
        ),
        Ok(_) => {}
    }
}

fn aktiviteter(
    v: &mut Validation,
    at: &Pointer,
    object: &Map<String, Value>,
    schema: &ReportingSchema,
) {
    let key = "aktiviteter";
    let list = match object.get(key) {
        None | Some(Value::Null) => {
            v.error(
                &at.key(key),
                "required",
                format!("Feltet «{key}» mangler."),
                format!("Feltet «{key}» manglar."),
                format!("Field '{key}' is required."),
            );
            return;
        }
        Some(Value::Array(list)) => list,
        Some(_) => return type_error(v, &at.key(key), key, "en liste", "ei liste", "an array"),
    };
    if list.is_empty() {
        v.error(
            &at.key(key),
            "empty",
            "Rapporten må ha minst én aktivitet.".into(),
            "Rapporten må ha minst éin aktivitet.".into(),
            "The report must list at least one activity.".into(),
        );
    }
    let mut seen = HashSet::new();
    for (i, item) in list.iter().enumerate() {
        let at = at.key(key).index(i);
        let Some(item) = item.as_object() else {
            type_error(
                v,
                &at,
                "aktiviteter[]",
                "et objekt",
                "eit objekt",
                "an object",
            );
            continue;
        };
        unknown_properties(v, &at, item, &["kategori", "antall", "timer"]);
        if let Some(kategori) = required_string(v, &at, item, "kategori") {
            if !schema.is_activity_category(kategori) {
                let known: Vec<&str> = schema
                    .activity_categories
                    .iter()
                    .map(|c| c.key.as_str())
                    .collect();
                v.error(
                    &at.key("kategori"),
                    "unknown_category",
                    format!(
                        "Ukjent kategori «{kategori}». Kjente: {}.",
                        known.join(", ")
                    ),
                    format!(
                        "Ukjend kategori «{kategori}». Kjende: {}.",
                        known.join(", ")
                    ),
                    format!(
                        "Unknown category '{kategori}'. Known: {}.",
                        known.join(", ")
                    ),
                );
            } else if !seen.insert(kategori) {
                v.error(
                    &at.key("kategori"),
                    "duplicate_category",
                    format!("Kategorien «{kategori}» står mer enn én gang."),
                    format!("Kategorien «{kategori}» står meir enn éin gong."),
                    format!("Category '{kategori}' appears more than once."),
                );
            }
        }
        let antall = figure(v, &at, item, "antall", Unit::Count, true);
        let timer = figure(v, &at, item, "timer", Unit::Hours, true);
        if let (Some(antall), Some(timer)) = (antall, timer) {
            plausible_hours(v, &at.key("timer"), antall, timer);
        }
    }
}

fn plausible_hours(v: &mut Validation, at: &Pointer, antall: f64, timer: f64) {
    if antall == 0.0 && timer > 0.0 {
        v.error(
            at,
            "hours_without_activities",
            format!("{timer} timer er ført uten noen aktiviteter (antall er 0)."),
            format!("{timer} timar er førte utan nokon aktivitetar (antall er 0)."),
            format!("{timer} hours are reported without any activities (antall is 0)."),
        );
    } else if timer > antall * MAX_HOURS_PER_ACTIVITY as f64 {
        v.error(
            at,
            "implausible_hours",
            format!(
                "{timer} timer på {antall} aktiviteter er mer enn {MAX_HOURS_PER_ACTIVITY} timer per aktivitet."
            ),
            format!(
                "{timer} timar på {antall} aktivitetar er meir enn {MAX_HOURS_PER_ACTIVITY} timar per aktivitet."
            ),
            format!(
                "{timer} hours over {antall} activities is more than {MAX_HOURS_PER_ACTIVITY} hours per activity."
            ),
        );
    }
}

/// A non-negative figure at `key`: an integer for counts, any number for hours outside the
/// activities (where hours are whole). Returns it when it is acceptable.
fn figure(
    v: &mut Validation,
    at: &Pointer,
    object: &Map<String, Value>,
    key: &str,
    unit: Unit,
    whole: bool,
) -> Option<f64> {
    let at = at.key(key);
    let number = match object.get(key) {
        None | Some(Value::Null) => {
            v.error(
                &at,
                "required",
                format!("Feltet «{key}» mangler."),
                format!("Feltet «{key}» manglar."),
                format!("Field '{key}' is required."),
            );
            return None;
        }
        Some(Value::Number(n)) => n.as_f64()?,
        Some(_) => {
            type_error(v, &at, key, "et tall", "eit tal", "a number");
            return None;
        }
    };
    let must_be_whole = whole || unit == Unit::Count;
    if number < 0.0 {
        v.error(
            &at,
            "negative",
            format!("«{key}» kan ikke være negativ ({number})."),
            format!("«{key}» kan ikkje vere negativ ({number})."),
            format!("'{key}' cannot be negative ({number})."),
        );
    } else if must_be_whole && number.fract() != 0.0 {
        v.error(
            &at,
            "not_an_integer",
            format!("«{key}» må være et heltall ({number})."),
            format!("«{key}» må vere eit heiltal ({number})."),
            format!("'{key}' must be a whole number ({number})."),
        );
    } else if number > MAX_FIGURE as f64 {
        v.error(
            &at,
            "too_large",
            format!("«{key}» er urimelig stor ({number}); grensen er {MAX_FIGURE}."),
            format!("«{key}» er urimeleg stor ({number}); grensa er {MAX_FIGURE}."),
            format!("'{key}' is implausibly large ({number}); the limit is {MAX_FIGURE}."),
        );
    } else {
        return Some(number);
    }
    None
}

fn kontaktperson(v: &mut Validation, at: &Pointer, object: &Map<String, Value>) {
    let key = "kontaktperson";
    let person = match object.get(key) {
        None | Some(Value::Null) => {
            v.warning(
                &at.key(key),
                "recommended_missing",
                format!("Feltet «{key}» anbefales, men mangler."),
                format!("Feltet «{key}» er tilrådd, men manglar."),
                format!("Field '{key}' is recommended but not present."),
            );
            return;
        }
        Some(Value::Object(person)) => person,
        Some(_) => return type_error(v, &at.key(key), key, "et objekt", "eit objekt", "an object"),
    };
    let at = at.key(key);
    unknown_properties(v, &at, person, &["navn", "epost", "telefon"]);
    if let Some(navn) = required_string(v, &at, person, "navn")
        && navn.trim().is_empty()
    {
        v.error(
            &at.key("navn"),
            "empty",
            "Navnet er tomt.".into(),
            "Namnet er tomt.".into(),
            "The name is empty.".into(),
        );
    }
    if let Some(epost) = required_string(v, &at, person, "epost")
        && !plausible_email(epost)
    {
        v.error(
            &at.key("epost"),
            "invalid_email",
            format!("«{epost}» er ikke en e-postadresse."),
            format!("«{epost}» er ikkje ei e-postadresse."),
            format!("'{epost}' is not an email address."),
        );
    }
    match person.get("telefon") {
        None | Some(Value::Null) => {}
        Some(Value::String(telefon)) if plausible_phone(telefon) => {}
        Some(Value::String(telefon)) => v.error(
            &at.key("telefon"),
            "invalid_phone",
            format!("«{telefon}» er ikke et telefonnummer (8 til 15 sifre, gjerne med +landkode)."),
            format!(
                "«{telefon}» er ikkje eit telefonnummer (8 til 15 siffer, gjerne med +landskode)."
            ),
            format!(
                "'{telefon}' is not a phone number (8 to 15 digits, optionally +country code)."
            ),
        ),
        Some(_) => type_error(
            v,
            &at.key("telefon"),
            "telefon",
            "tekst",
            "tekst",
            "a string",
        ),
    }
}

fn plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
        && !domain.contains('@')
        && s.len() <= 254
}

fn plausible_phone(s: &str) -> bool {
    let rest = s.strip_prefix('+').unwrap_or(s);
    let digits = rest.chars().filter(char::is_ascii_digit).count();
    rest.chars().all(|c| c.is_ascii_digit() || c == ' ') && (8..=15).contains(&digits)
}

fn felter(v: &mut Validation, at: &Pointer, object: &Map<String, Value>, schema: &ReportingSchema) {
    let key = "felter";
    let fields = match object.get(key) {
        // The contracts' payload has no `felter`: the activities alone are a whole report.
        // When a payload does carry the schema's fields, they are checked in full.
        None | Some(Value::Null) => return,
        Some(Value::Object(fields)) => fields,
        Some(_) => return type_error(v, &at.key(key), key, "et objekt", "eit objekt", "an object"),
    };
    let at = at.key(key);
    for name in fields.keys() {
        if schema.field(name).is_none() {
            v.error(
                &at.key(name),
                "unknown_field",
                format!("Skjemaet {} har ikke feltet «{name}».", schema.id),
                format!("Skjemaet {} har ikkje feltet «{name}».", schema.id),
                format!("Schema {} has no field '{name}'.", schema.id),
            );
        }
    }
    for (_, field) in schema.fields() {
        let present = !matches!(fields.get(&field.key), None | Some(Value::Null));
        match (present, field.requirement) {
            (true, _) => {
                figure(v, &at, fields, &field.key, field.unit, false);
            }
            (false, Requirement::Required) => v.error(
                &at.key(&field.key),
                "required_field_missing",
                format!(
                    "Det påkrevde feltet «{}» ({}) mangler.",
                    field.key, field.labels.nb
                ),
                format!(
                    "Det påkravde feltet «{}» ({}) manglar.",
                    field.key, field.labels.nn
                ),
                format!(
                    "Required field '{}' ({}) is missing.",
                    field.key, field.labels.en
                ),
            ),
            (false, Requirement::Recommended) => v.warning(
                &at.key(&field.key),
                "recommended_missing",
                format!("Feltet «{}» anbefales, men mangler.", field.key),
                format!("Feltet «{}» er tilrådd, men manglar.", field.key),
                format!("Field '{}' is recommended but not present.", field.key),
            ),
            (false, _) => {}
        }
    }
}

/// A digest of the payload that does not depend on key order or whitespace: two submissions are
/// "the same payload" exactly when their digests are equal.
pub fn canonical(payload: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(payload, &mut out);
    out
}
