//! The Bufdir payload validator: each rule by example, and no input that makes it panic.

use chrono::NaiveDate;
use domain::bufdir_payload::{Validation, canonical, validate, validate_for_organisation};
use domain::schema::{self, Requirement};
use proptest::prelude::*;
use serde_json::{Value, json};

const V2: &str = "bufdir_2025_v2";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

/// A payload that passes: every required field, every recommended one, a contact person.
fn valid() -> Value {
    let felter: serde_json::Map<String, Value> = schema::bufdir_2025_v2()
        .fields()
        .filter(|(_, f)| f.requirement != Requirement::Optional)
        .map(|(_, f)| (f.key.clone(), json!(12)))
        .collect();
    json!({
        "organisasjonsnummer": "986128433",
        "rapporteringsperiode": "2025",
        "aktiviteter": [
            {"kategori": "individual_mentoring", "antall": 842, "timer": 6740},
            {"kategori": "group_session", "antall": 10, "timer": 20}
        ],
        "kontaktperson": {"navn": "Kari Nordmann", "epost": "kari@example.no", "telefon": "+47 912 34 567"},
        "felter": felter,
    })
}

fn codes(v: &Validation) -> Vec<(&str, &str)> {
    v.errors
        .iter()
        .map(|i| (i.pointer.as_str(), i.code))
        .collect()
}

fn with(mut payload: Value, pointer: &str, value: Value) -> Value {
    *payload.pointer_mut(pointer).expect("pointer exists") = value;
    payload
}

#[test]
fn a_complete_payload_is_valid_without_warnings() {
    let v = validate(V2, &valid(), today());
    assert!(v.is_valid(), "{:?}", v.errors);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[test]
fn an_unknown_version_lists_the_known_ones() {
    let v = validate("bufdir_2019_v1", &valid(), today());
    assert_eq!(codes(&v), [("/payload_version", "unknown_payload_version")]);
    assert!(v.errors[0].message_en.contains("bufdir_2025_v2"));
    assert!(v.errors[0].message_nb.contains("bufdir_2025_v2"));
}

#[test]
fn the_organisation_number_must_pass_mod11() {
    for bad in ["912345678", "988077918", "12345678", "98612843x"] {
        let v = validate(
            V2,
            &with(valid(), "/organisasjonsnummer", json!(bad)),
            today(),
        );
        assert_eq!(
            codes(&v),
            [(
                "/payload/organisasjonsnummer",
                "invalid_organisasjonsnummer"
            )]
        );
    }
    let v = validate(
        V2,
        &with(valid(), "/organisasjonsnummer", json!(986128433)),
        today(),
    );
    assert_eq!(
        codes(&v),
        [("/payload/organisasjonsnummer", "invalid_type")]
    );
}

#[test]
fn a_submission_carries_its_own_organisations_number() {
    let org = domain::OrgId::parse("org-1").unwrap();
    let own = validate_for_organisation(V2, &valid(), today(), &org, "986128433");
    assert!(own.is_valid(), "{:?}", own.errors);
    let other = validate_for_organisation(V2, &valid(), today(), &org, "991825827");
    assert_eq!(
        codes(&other),
        [(
            "/payload/organisasjonsnummer",
            "organisasjonsnummer_mismatch"
        )]
    );
    assert_eq!(
        other.errors[0].message_nb,
        "Organisasjonsnummeret er ikke org-1s (991825827)."
    );
    assert_eq!(
        other.errors[0].message_en,
        "The organisasjonsnummer is not org-1's (991825827)."
    );
    // An invalid payload is refused for what is wrong with it, not for the number as well.
    let broken = with(valid(), "/rapporteringsperiode", json!("2025-13"));
    let refused = validate_for_organisation(V2, &broken, today(), &org, "991825827");
    assert!(
        codes(&refused)
            .iter()
            .all(|(_, code)| *code != "organisasjonsnummer_mismatch"),
        "{:?}",
        codes(&refused)
    );
}

#[test]
fn periods_are_years_or_quarters_and_an_unfinished_one_warns() {
    let v = validate(
        V2,
        &with(valid(), "/rapporteringsperiode", json!("2025-Q5")),
        today(),
    );
    assert_eq!(
        codes(&v),
        [("/payload/rapporteringsperiode", "invalid_period")]
    );
    let v = validate(
        V2,
        &with(valid(), "/rapporteringsperiode", json!("2026")),
        today(),
    );
    assert!(v.is_valid());
    assert_eq!(v.warnings[0].code, "period_not_ended");
}

#[test]
fn activities_need_known_unique_categories_and_whole_non_negative_figures() {
    let p = with(
        valid(),
        "/aktiviteter/1/kategori",
        json!("individual_mentoring"),
    );
    assert_eq!(
        codes(&validate(V2, &p, today())),
        [("/payload/aktiviteter/1/kategori", "duplicate_category")]
    );
    let p = with(valid(), "/aktiviteter/0/kategori", json!("chess"));
    assert_eq!(
        codes(&validate(V2, &p, today())),
        [("/payload/aktiviteter/0/kategori", "unknown_category")]
    );
    let p = with(valid(), "/aktiviteter/0/antall", json!(-1));
    assert_eq!(
        codes(&validate(V2, &p, today())),
        [("/payload/aktiviteter/0/antall", "negative")]
    );
    let p = with(valid(), "/aktiviteter/0/antall", json!(1.5));
    assert_eq!(
        codes(&validate(V2, &p, today())),
        [("/payload/aktiviteter/0/antall", "not_an_integer")]
    );
    let p = with(valid(), "/aktiviteter/0/timer", json!("6740"));
    assert_eq!(
        codes(&validate(V2, &p, today())),
        [("/payload/aktiviteter/0/timer", "invalid_type")]
    );
    let p = with(valid(), "/aktiviteter", json!([]));
    assert_eq!(
        codes(&validate(V2, &p, today())),
        [("/payload/aktiviteter", "empty")]
    );
}

#[test]
fn hours_per_activity_must_be_plausible() {
    let p = with(valid(), "/aktiviteter/1/timer", json!(241));
    assert_eq!(
        codes(&validate(V2, &p, today())),
        [("/payload/aktiviteter/1/timer", "implausible_hours")]
    );
    let p = with(valid(), "/aktiviteter/1/timer", json!(240));
    assert!(validate(V2, &p, today()).is_valid());
    let p = with(valid(), "/aktiviteter/1/antall", json!(0));
    assert_eq!(
        codes(&validate(V2, &p, today())),
        [("/payload/aktiviteter/1/timer", "hours_without_activities")]
    );
}

#[test]
fn a_missing_contact_person_is_a_warning_in_both_languages() {
    let mut p = valid();
    p.as_object_mut().unwrap().remove("kontaktperson");
    let v = validate(V2, &p, today());
    assert!(v.is_valid());
    assert_eq!(v.warnings.len(), 1);
    assert_eq!(v.warnings[0].pointer, "/payload/kontaktperson");
    assert_eq!(v.warnings[0].code, "recommended_missing");
    assert_eq!(
        v.warnings[0].message_en,
        "Field 'kontaktperson' is recommended but not present."
    );
    assert!(v.warnings[0].message_nb.contains("anbefales"));
    let p = with(valid(), "/kontaktperson/epost", json!("kari.example.no"));
    assert_eq!(
        codes(&validate(V2, &p, today())),
        [("/payload/kontaktperson/epost", "invalid_email")]
    );
}

#[test]
fn required_schema_fields_must_be_present_and_unknown_ones_are_named() {
    let mut p = valid();
    let felter = p["felter"].as_object_mut().unwrap();
    felter.remove("antall_barn_under_omsorg");
    felter.insert("antall_drager".into(), json!(1));
    let v = validate(V2, &p, today());
    assert_eq!(
        codes(&v),
        [
            ("/payload/felter/antall_drager", "unknown_field"),
            (
                "/payload/felter/antall_barn_under_omsorg",
                "required_field_missing"
            ),
        ]
    );
}

#[test]
fn the_contracts_payload_without_felter_is_valid_with_only_the_contact_warning() {
    // The contracts' example, with a valid organisation number in place of 912345678 (which
    // has no valid MOD11 check digit).
    let p = json!({
        "organisasjonsnummer": "986128433",
        "rapporteringsperiode": "2025",
        "aktiviteter": [{"kategori": "individual_mentoring", "antall": 842, "timer": 6740}]
    });
    let v = validate(V2, &p, today());
    assert!(v.is_valid(), "{:?}", v.errors);
    let warnings: Vec<&str> = v.warnings.iter().map(|w| w.message_en.as_str()).collect();
    assert_eq!(
        warnings,
        ["Field 'kontaktperson' is recommended but not present."]
    );
    // The example's own number is refused for its check digit, and only for that.
    let example = with(p, "/organisasjonsnummer", json!("912345678"));
    assert_eq!(
        codes(&validate(V2, &example, today())),
        [(
            "/payload/organisasjonsnummer",
            "invalid_organisasjonsnummer"
        )]
    );
}

#[test]
fn pointers_escape_slashes_and_tildes() {
    let p = with(valid(), "/felter", {
        let mut f = valid()["felter"].clone();
        f["a/b~c"] = json!(1);
        f
    });
    assert_eq!(
        codes(&validate(V2, &p, today())),
        [("/payload/felter/a~1b~0c", "unknown_field")]
    );
}

#[test]
fn errors_are_bounded() {
    let many: Vec<Value> = (0..10_000)
        .map(|_| json!({"kategori": "outreach", "antall": 1, "timer": 1}))
        .collect();
    let v = validate(V2, &with(valid(), "/aktiviteter", json!(many)), today());
    assert_eq!(v.errors.len(), 101);
    assert_eq!(v.errors[100].code, "too_many_errors");
}

#[test]
fn the_canonical_form_ignores_key_order() {
    let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"a": {"x": "s", "y": [1, 2]}, "b": 1}"#).unwrap();
    assert_eq!(canonical(&a), canonical(&b));
    assert_ne!(canonical(&a), canonical(&json!({"b": 1})));
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("986128433"),
            Just("2025"),
            Just("2025-Q3"),
            Just("individual_mentoring"),
            Just("antall_barn_under_omsorg"),
            Just("a@b.no")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("organisasjonsnummer".to_string()),
            Just("rapporteringsperiode".to_string()),
            Just("aktiviteter".to_string()),
            Just("kategori".to_string()),
            Just("antall".to_string()),
            Just("timer".to_string()),
            Just("kontaktperson".to_string()),
            Just("felter".to_string()),
            ".{0,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever arrives, the validator answers, and every finding points into the request.
    #[test]
    fn no_input_makes_it_panic(payload in any_json(), version in prop_oneof![Just(V2.to_string()), ".{0,10}"]) {
        let v = validate(&version, &payload, today());
        for issue in v.errors.iter().chain(&v.warnings) {
            prop_assert!(issue.pointer.is_empty() || issue.pointer.starts_with('/'));
            prop_assert!(!issue.message_nb.is_empty() && !issue.message_en.is_empty());
        }
    }

    /// Mutating one value of a valid payload never panics either, and a payload is valid exactly
    /// when it has no errors.
    #[test]
    fn mutations_of_a_valid_payload(path in prop::sample::select(vec![
        "/organisasjonsnummer", "/rapporteringsperiode", "/aktiviteter", "/aktiviteter/0",
        "/aktiviteter/0/antall", "/aktiviteter/1/timer", "/kontaktperson", "/kontaktperson/telefon",
        "/felter", "/felter/antall_barn_under_omsorg",
    ]), value in any_json()) {
        let p = with(valid(), path, value);
        let v = validate(V2, &p, today());
        prop_assert_eq!(v.is_valid(), v.errors.is_empty());
    }
}

/// The example request of `docs/api.md` is a valid submission.
#[test]
fn the_documented_example_is_valid() {
    let text = include_str!("../../docs/examples/bufdir-submit.json");
    let body: Value = serde_json::from_str(text).unwrap();
    let v = validate(
        body["payload_version"].as_str().unwrap(),
        &body["payload"],
        today(),
    );
    assert!(v.is_valid(), "{:?}", v.errors);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}
