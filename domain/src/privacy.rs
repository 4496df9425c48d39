//! Personal data that can be erased although the log is append-only (crypto-shredding). The
//! contact person of a submission (`kontaktperson`: name, e-mail, phone) is the personal data
//! our events carry; it is stored encrypted with a key per data subject kept outside the log, so
//! destroying the key erases it everywhere the log is replayed, and the log (its hashes and
//! seals) stays as it was. The name and e-mail of the person behind a request, as their
//! identity provider's token gives them, are kept in event metadata the same way. Who a person
//! is: their e-mail address, else their name.
//!
//! Erasure is refused while a report that needs the data is retained (bokføringsloven § 13, as
//! for report history), unless an administrator forces it and says why.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::report::retained_until;

/// The field of a Bufdir payload that holds personal data.
pub const CONTACT: &str = "kontaktperson";

/// Where encrypted personal data sits in place of the plain: `{"encrypted": {"subject",
/// "data"}}`.
pub const ENCRYPTED: &str = "encrypted";

/// The data subject whose key the contact person of a stored payload is encrypted under.
pub fn encrypted_subject(payload: &Value) -> Option<&str> {
    payload
        .get(CONTACT)?
        .get(ENCRYPTED)?
        .get("subject")?
        .as_str()
}

/// Who the contact person in `payload` is, normalised (`None` when there is none): the
/// e-mail address, else the name.
pub fn subject_of(payload: &Value) -> Option<String> {
    identify(payload.get(CONTACT)?, ["epost", "navn"])
}

/// Who the person behind a request is (`{"name", "email"}` from their identity provider's
/// token), normalised the same way: the same person as contact and as actor is one subject,
/// erased at once.
pub fn subject_of_actor(person: &Value) -> Option<String> {
    identify(person, ["email", "name"])
}

fn identify(person: &Value, keys: [&str; 2]) -> Option<String> {
    let person = person.as_object()?;
    keys.iter().find_map(|key| {
        let text = person.get(*key)?.as_str()?.trim();
        (!text.is_empty()).then(|| text.to_lowercase())
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum PrivacyEvent {
    /// A data subject's key was destroyed: their personal data in the log reads as erased.
    PersonalDataErased {
        subject_id: String,
        /// Submissions that still carried the data within their retention, when forced.
        retained: Vec<String>,
        forced: bool,
        reason: Option<String>,
        erased_at: DateTime<Utc>,
    },
}

/// The stream of one data subject's privacy events.
pub fn stream(subject_id: &str) -> String {
    format!("privacy-{subject_id}")
}

/// A submission that carries the subject's data, and until when it is retained.
#[derive(Debug, Clone, PartialEq)]
pub struct Retained {
    pub submission_id: String,
    pub until: NaiveDate,
}

/// Until when a submission's report is kept: five years after the end of the year it reports
/// (its `rapporteringsperiode`, else the year it was made).
pub fn retained_until_for(payload: &Value, requested_at: DateTime<Utc>) -> NaiveDate {
    use chrono::Datelike;
    let year = payload
        .get("rapporteringsperiode")
        .and_then(Value::as_str)
        .and_then(|p| p.get(..4)?.parse::<i32>().ok())
        .unwrap_or_else(|| requested_at.year());
    retained_until(NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(NaiveDate::MAX))
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErasureRefused {
    #[error("{} submission(s) that need the data are retained (the first until {}); force it and give a reason", .0.len(), .0.iter().map(|r| r.until).min().map_or_else(String::new, |d| d.to_string()))]
    Retained(Vec<Retained>),
    #[error("a forced erasure needs a reason")]
    NoReason,
}

/// Decides an erasure: the event to record, or why not.
pub fn erase(
    subject_id: &str,
    carrying: Vec<Retained>,
    today: NaiveDate,
    force_reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<PrivacyEvent, ErasureRefused> {
    let retained: Vec<Retained> = carrying.into_iter().filter(|r| r.until >= today).collect();
    let reason = force_reason.map(str::trim);
    if reason == Some("") {
        return Err(ErasureRefused::NoReason);
    }
    if !retained.is_empty() && reason.is_none() {
        return Err(ErasureRefused::Retained(retained));
    }
    Ok(PrivacyEvent::PersonalDataErased {
        subject_id: subject_id.to_string(),
        forced: !retained.is_empty(),
        retained: retained.into_iter().map(|r| r.submission_id).collect(),
        reason: reason.map(str::to_string),
        erased_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_subject_is_the_email_else_the_name() {
        let p = json!({"kontaktperson": {"navn": "Kari", "epost": " Kari@Example.no "}});
        assert_eq!(subject_of(&p).as_deref(), Some("kari@example.no"));
        let p = json!({"kontaktperson": {"navn": "Kari Nordmann"}});
        assert_eq!(subject_of(&p).as_deref(), Some("kari nordmann"));
        assert_eq!(subject_of(&json!({})), None);
        let actor = json!({"name": "Kari Nordmann", "email": "KARI@example.no"});
        assert_eq!(subject_of_actor(&actor).as_deref(), Some("kari@example.no"));
        assert_eq!(
            subject_of_actor(&json!({"name": "Kari Nordmann"})).as_deref(),
            Some("kari nordmann")
        );
    }

    #[test]
    fn erasure_waits_for_retention_unless_forced_with_a_reason() {
        let now = Utc::now();
        let today = now.date_naive();
        let retained = |until| Retained {
            submission_id: "sub_1".into(),
            until,
        };
        let later = today.succ_opt().unwrap();
        assert!(matches!(
            erase("subj_1", vec![retained(later)], today, None, now),
            Err(ErasureRefused::Retained(_))
        ));
        assert_eq!(
            erase("subj_1", vec![retained(later)], today, Some(" "), now),
            Err(ErasureRefused::NoReason)
        );
        let Ok(PrivacyEvent::PersonalDataErased {
            forced,
            retained: kept,
            ..
        }) = erase(
            "subj_1",
            vec![retained(later)],
            today,
            Some("court order"),
            now,
        )
        else {
            panic!("forced with a reason");
        };
        assert!(forced);
        assert_eq!(kept, vec!["sub_1".to_string()]);
        let past = today.pred_opt().unwrap();
        assert!(erase("subj_1", vec![retained(past)], today, None, now).is_ok());
    }

    #[test]
    fn a_report_is_kept_five_years_after_the_year_it_reports() {
        let at = Utc::now();
        assert_eq!(
            retained_until_for(&json!({"rapporteringsperiode": "2025"}), at),
            NaiveDate::from_ymd_opt(2030, 12, 31).unwrap()
        );
    }
}
