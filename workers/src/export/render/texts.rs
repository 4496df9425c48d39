//! The fixed texts of the rendered files, one table per locale: Norwegian bokmål, Norwegian
//! nynorsk and British English. Titles and labels from the schema come in the document, already
//! in its locale; everything else a reader sees comes from here, so a new text is a new field
//! and the compiler asks for it in every language.
//!
//! Texts with figures in them are templates with `{name}` placeholders, filled by [`fill`]; the
//! figures are formatted by the caller, in the locale's way.

use commands::diffs::Contribution;
use domain::Locale;
use domain::schema::Unit;

use super::format;

pub struct Texts {
    // Excel sheet names (still put through the sheet-name rules in xlsx.rs).
    pub cover_sheet: &'static str,
    pub activities: &'static str,
    pub validation_sheet: &'static str,
    pub first_annex_sheet: &'static str,
    /// `{n}`: the sheet's number, from 2 on.
    pub further_annex_sheet: &'static str,
    /// For a section whose title has nothing left once Excel's forbidden characters are gone.
    pub fallback_sheet: &'static str,

    /// `{org}`: the organisation's name.
    pub report_title: &'static str,
    pub organisation: &'static str,
    pub organisation_id: &'static str,
    pub organisation_number: &'static str,
    pub period: &'static str,
    pub payload_version: &'static str,
    pub log_position: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub generated: &'static str,
    pub export_id: &'static str,
    /// The workbook's comment property. `{export}`, `{position}`.
    pub workbook_comment: &'static str,

    /// Field, key, value, prior period, change, unit.
    pub section_columns: [&'static str; 6],
    /// The unit column's words for [`domain::schema::Unit::Count`] and `Hours`.
    pub count: &'static str,
    pub hours: &'static str,
    /// Category, activity, count, hours.
    pub activity_columns: [&'static str; 4],
    /// Record id, date, metric, value, hours, data source. Kept close to the import's own field
    /// names, since people match the annex against what they imported.
    pub annex_columns: [&'static str; 6],
    /// The CSV's header names: lower case and without spaces, as import tools like them.
    pub csv_section_columns: [&'static str; 7],
    pub csv_activity_columns: [&'static str; 4],

    /// Kind, pointer, code, Norwegian message, English message.
    pub validation_columns: [&'static str; 5],
    pub error: &'static str,
    pub warning: &'static str,
    pub valid: &'static str,
    /// `{warnings}`.
    pub valid_with_warnings: &'static str,
    /// `{errors}`.
    pub invalid: &'static str,

    /// The PDF's line under the title. `{number}`, `{period}`, `{generated}`.
    pub pdf_meta: &'static str,
    pub pdf_valid: &'static str,
    /// `{warnings}`.
    pub pdf_valid_with_warnings: &'static str,
    /// `{errors}`, `{warnings}`.
    pub pdf_invalid: &'static str,
    /// The PDF's narrower figure columns: value, prior, change.
    pub pdf_figure_columns: [&'static str; 3],
    /// `{records}`.
    pub pdf_annex_note: &'static str,
    /// `{page}`, `{pages}`.
    pub page_footer: &'static str,

    /// The sheet of changes since the last submission: its name, and its title (`{when}`: when
    /// that submission was made).
    pub changes_sheet: &'static str,
    pub changes_title: &'static str,
    /// Field, key, at the last submission, now, change, source of the change.
    pub changes_columns: [&'static str; 6],
    /// The CSV's block of changes: one row per import behind each changed field.
    pub csv_change_columns: [&'static str; 11],
    /// A lineage row: `{when}`, `{who}`, `{source}`, `{records}`.
    pub change_source: &'static str,
    /// Added to a lineage row that corrected records: `{corrected}`.
    pub change_corrected: &'static str,
    pub unknown_actor: &'static str,
}

const BOKMAL: Texts = Texts {
    cover_sheet: "Forside",
    activities: "Aktiviteter",
    validation_sheet: "Validering",
    first_annex_sheet: "Vedlegg kilderecords",
    further_annex_sheet: "Vedlegg {n}",
    fallback_sheet: "Ark",

    report_title: "Rapport til Bufdir – {org}",
    organisation: "Organisasjon",
    organisation_id: "Organisasjons-ID",
    organisation_number: "Organisasjonsnummer",
    period: "Periode",
    payload_version: "Payload-versjon",
    log_position: "Hendelseslogg-posisjon",
    from: "Fra",
    to: "Til",
    generated: "Generert",
    export_id: "Eksport-ID",
    workbook_comment: "Eksport {export}; hendelseslogg-posisjon {position}",

    section_columns: [
        "Felt",
        "Nøkkel",
        "Verdi",
        "Forrige periode",
        "Endring",
        "Enhet",
    ],
    count: "antall",
    hours: "timer",
    activity_columns: ["Kategori", "Aktivitet", "Antall", "Timer"],
    annex_columns: ["record_id", "dato", "metric", "verdi", "timer", "datakilde"],
    csv_section_columns: [
        "seksjon",
        "felt",
        "nøkkel",
        "verdi",
        "forrige_periode",
        "endring",
        "enhet",
    ],
    csv_activity_columns: ["kategori", "aktivitet", "antall", "timer"],

    validation_columns: ["Type", "Peker", "Kode", "Melding", "Message"],
    error: "feil",
    warning: "advarsel",
    valid: "Payloaden er gyldig, uten advarsler.",
    valid_with_warnings: "Payloaden er gyldig, med {warnings} advarsel(er).",
    invalid: "Payloaden er ikke gyldig: {errors} feil.",

    pdf_meta: "Organisasjonsnummer {number} · periode {period} · generert {generated}",
    pdf_valid: "Validering: payloaden er gyldig.",
    pdf_valid_with_warnings: "Validering: payloaden er gyldig, med {warnings} advarsel(er).",
    pdf_invalid: "Validering: payloaden er ikke gyldig ({errors} feil, {warnings} advarsel(er)).",
    pdf_figure_columns: ["Verdi", "Forrige", "Endring"],
    pdf_annex_note: "Vedlegg: {records} kilderecords (de står i Excel- og CSV-eksporten, ikke i \
                     denne PDF-en).",
    page_footer: "Side {page} av {pages}",
    csv_change_columns: [
        "felt",
        "nokkel",
        "ved_siste_innsending",
        "naa",
        "endring",
        "posisjon",
        "importert",
        "av",
        "kilde",
        "poster",
        "korrigert",
    ],
    changes_sheet: "Endringer",
    changes_title: "Endringer siden siste innsending ({when})",
    changes_columns: [
        "Felt",
        "Nøkkel",
        "Ved siste innsending",
        "Nå",
        "Endring",
        "Kilde til endringen",
    ],
    change_source: "Import {when} av {who} ({source}), {records} poster",
    change_corrected: ", {corrected} korrigert",
    unknown_actor: "ukjent",
};

const NYNORSK: Texts = Texts {
    cover_sheet: "Framside",
    activities: "Aktivitetar",
    validation_sheet: "Validering",
    first_annex_sheet: "Vedlegg kjeldepostar",
    further_annex_sheet: "Vedlegg {n}",
    fallback_sheet: "Ark",

    report_title: "Rapport til Bufdir – {org}",
    organisation: "Organisasjon",
    organisation_id: "Organisasjons-ID",
    organisation_number: "Organisasjonsnummer",
    period: "Periode",
    payload_version: "Payload-versjon",
    log_position: "Hendingslogg-posisjon",
    from: "Frå",
    to: "Til",
    generated: "Generert",
    export_id: "Eksport-ID",
    workbook_comment: "Eksport {export}; hendingslogg-posisjon {position}",

    section_columns: [
        "Felt",
        "Nøkkel",
        "Verdi",
        "Førre periode",
        "Endring",
        "Eining",
    ],
    count: "antal",
    hours: "timar",
    activity_columns: ["Kategori", "Aktivitet", "Antal", "Timar"],
    annex_columns: [
        "record_id",
        "dato",
        "metric",
        "verdi",
        "timar",
        "datakjelde",
    ],
    csv_section_columns: [
        "seksjon",
        "felt",
        "nøkkel",
        "verdi",
        "førre_periode",
        "endring",
        "eining",
    ],
    csv_activity_columns: ["kategori", "aktivitet", "antal", "timar"],

    // The issues carry a bokmål and an English message, no nynorsk one, so the headers say which
    // is which.
    validation_columns: [
        "Type",
        "Peikar",
        "Kode",
        "Melding (bokmål)",
        "Melding (engelsk)",
    ],
    error: "feil",
    warning: "åtvaring",
    valid: "Payloaden er gyldig, utan åtvaringar.",
    valid_with_warnings: "Payloaden er gyldig, med {warnings} åtvaring(ar).",
    invalid: "Payloaden er ikkje gyldig: {errors} feil.",

    pdf_meta: "Organisasjonsnummer {number} · periode {period} · generert {generated}",
    pdf_valid: "Validering: payloaden er gyldig.",
    pdf_valid_with_warnings: "Validering: payloaden er gyldig, med {warnings} åtvaring(ar).",
    pdf_invalid: "Validering: payloaden er ikkje gyldig ({errors} feil, {warnings} åtvaring(ar)).",
    pdf_figure_columns: ["Verdi", "Førre", "Endring"],
    pdf_annex_note: "Vedlegg: {records} kjeldepostar (dei står i Excel- og CSV-eksporten, ikkje i \
                     denne PDF-en).",
    page_footer: "Side {page} av {pages}",
    csv_change_columns: [
        "felt",
        "nokkel",
        "ved_siste_innsending",
        "no",
        "endring",
        "posisjon",
        "importert",
        "av",
        "kjelde",
        "postar",
        "korrigert",
    ],
    changes_sheet: "Endringar",
    changes_title: "Endringar sidan siste innsending ({when})",
    changes_columns: [
        "Felt",
        "Nøkkel",
        "Ved siste innsending",
        "No",
        "Endring",
        "Kjelde til endringa",
    ],
    change_source: "Import {when} av {who} ({source}), {records} postar",
    change_corrected: ", {corrected} korrigerte",
    unknown_actor: "ukjend",
};

const ENGLISH: Texts = Texts {
    cover_sheet: "Cover",
    activities: "Activities",
    validation_sheet: "Validation",
    first_annex_sheet: "Annex source records",
    further_annex_sheet: "Annex {n}",
    fallback_sheet: "Sheet",

    report_title: "Report to Bufdir – {org}",
    organisation: "Organisation",
    organisation_id: "Organisation ID",
    organisation_number: "Organisation number",
    period: "Period",
    payload_version: "Payload version",
    log_position: "Event log position",
    from: "From",
    to: "To",
    generated: "Generated",
    export_id: "Export ID",
    workbook_comment: "Export {export}; event log position {position}",

    section_columns: ["Field", "Key", "Value", "Previous period", "Change", "Unit"],
    count: "count",
    hours: "hours",
    activity_columns: ["Category", "Activity", "Count", "Hours"],
    annex_columns: [
        "record_id",
        "date",
        "metric",
        "value",
        "hours",
        "data_source",
    ],
    csv_section_columns: [
        "section",
        "field",
        "key",
        "value",
        "previous_period",
        "change",
        "unit",
    ],
    csv_activity_columns: ["category", "activity", "count", "hours"],

    validation_columns: ["Type", "Pointer", "Code", "Message (Norwegian)", "Message"],
    error: "error",
    warning: "warning",
    valid: "The payload is valid, with no warnings.",
    valid_with_warnings: "The payload is valid, with {warnings} warning(s).",
    invalid: "The payload is not valid: {errors} error(s).",

    pdf_meta: "Organisation number {number} · period {period} · generated {generated}",
    pdf_valid: "Validation: the payload is valid.",
    pdf_valid_with_warnings: "Validation: the payload is valid, with {warnings} warning(s).",
    pdf_invalid: "Validation: the payload is not valid ({errors} error(s), {warnings} warning(s)).",
    pdf_figure_columns: ["Value", "Previous", "Change"],
    pdf_annex_note: "Annex: {records} source records (they are in the Excel and CSV exports, not \
                     in this PDF).",
    page_footer: "Page {page} of {pages}",
    csv_change_columns: [
        "field",
        "key",
        "at_last_submission",
        "now",
        "change",
        "position",
        "imported_at",
        "by",
        "source",
        "records",
        "corrected",
    ],
    changes_sheet: "Changes",
    changes_title: "Changes since the last submission ({when})",
    changes_columns: [
        "Field",
        "Key",
        "At the last submission",
        "Now",
        "Change",
        "Source of the change",
    ],
    change_source: "Import {when} by {who} ({source}), {records} records",
    change_corrected: ", {corrected} corrected",
    unknown_actor: "unknown",
};

impl Texts {
    /// The word for a figure's unit, as in the unit column.
    pub fn unit(&self, unit: Unit) -> &'static str {
        match unit {
            Unit::Count => self.count,
            Unit::Hours => self.hours,
        }
    }
}

/// "Import 12.03.2026 11:00 av kari (korrigering), 3 poster, 3 korrigert": one import behind a
/// changed figure, in the locale's words, numbers and Norwegian time.
pub fn change_source_line(locale: Locale, t: &Texts, source: &Contribution) -> String {
    let count = |n: i64| format::grouped(locale, n.max(0) as f64);
    let mut line = fill(
        t.change_source,
        &[
            ("when", &format::timestamp(locale, source.imported_at)),
            ("who", source.actor.as_deref().unwrap_or(t.unknown_actor)),
            ("source", &source.data_source),
            ("records", &count(source.records_added)),
        ],
    );
    if source.records_replaced > 0 {
        let corrected = count(source.records_replaced);
        line.push_str(&fill(t.change_corrected, &[("corrected", &corrected)]));
    }
    line
}

pub fn texts(locale: Locale) -> &'static Texts {
    match locale {
        Locale::NbNo => &BOKMAL,
        Locale::NnNo => &NYNORSK,
        Locale::EnGb => &ENGLISH,
    }
}

/// Puts each `(name, value)` in place of `{name}` in `template`.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every template with the placeholders its callers fill.
    fn templates(t: &Texts) -> Vec<(&'static str, &'static [&'static str])> {
        vec![
            (t.further_annex_sheet, &["n"]),
            (t.report_title, &["org"]),
            (t.workbook_comment, &["export", "position"]),
            (t.valid_with_warnings, &["warnings"]),
            (t.invalid, &["errors"]),
            (t.pdf_meta, &["number", "period", "generated"]),
            (t.pdf_valid_with_warnings, &["warnings"]),
            (t.pdf_invalid, &["errors", "warnings"]),
            (t.pdf_annex_note, &["records"]),
            (t.page_footer, &["page", "pages"]),
        ]
    }

    #[test]
    fn every_template_uses_exactly_the_placeholders_its_callers_fill() {
        for locale in Locale::ALL {
            for (template, names) in templates(texts(locale)) {
                for name in names {
                    let placeholder = format!("{{{name}}}");
                    assert!(template.contains(&placeholder), "{locale:?}: {template}");
                }
                let values: Vec<(&str, &str)> = names.iter().map(|n| (*n, "x")).collect();
                let filled = fill(template, &values);
                assert!(!filled.contains(['{', '}']), "{locale:?}: {filled}");
            }
        }
    }

    #[test]
    fn fill_replaces_every_occurrence() {
        assert_eq!(
            fill("{a} og {b}, {a}", &[("a", "1"), ("b", "2")]),
            "1 og 2, 1"
        );
        assert_eq!(fill("ingen", &[("a", "1")]), "ingen");
    }

    /// Every text of a table, for checks across all of them.
    fn all(t: &Texts) -> Vec<&'static str> {
        let mut out = vec![
            t.cover_sheet,
            t.activities,
            t.validation_sheet,
            t.first_annex_sheet,
            t.further_annex_sheet,
            t.fallback_sheet,
            t.report_title,
            t.organisation,
            t.organisation_id,
            t.organisation_number,
            t.period,
            t.payload_version,
            t.log_position,
            t.from,
            t.to,
            t.generated,
            t.export_id,
            t.workbook_comment,
            t.count,
            t.hours,
            t.error,
            t.warning,
            t.valid,
            t.valid_with_warnings,
            t.invalid,
            t.pdf_meta,
            t.pdf_valid,
            t.pdf_valid_with_warnings,
            t.pdf_invalid,
            t.pdf_annex_note,
            t.page_footer,
        ];
        out.extend(t.section_columns);
        out.extend(t.activity_columns);
        out.extend(t.annex_columns);
        out.extend(t.csv_section_columns);
        out.extend(t.csv_activity_columns);
        out.extend(t.pdf_figure_columns);
        out.extend(t.validation_columns);
        out
    }

    #[test]
    fn nynorsk_has_no_bokmal_forms_and_english_no_norwegian_ones() {
        let words = |t: &Texts| -> Vec<String> {
            all(t)
                .iter()
                .flat_map(|s| s.split(|c: char| !c.is_alphanumeric() && c != '_'))
                .map(str::to_lowercase)
                .filter(|w| !w.is_empty())
                .collect()
        };
        let nn = words(texts(Locale::NnNo));
        for bokmal in [
            "ikke",
            "uten",
            "fra",
            "forrige",
            "enhet",
            "antall",
            "timer",
            "advarsel",
            "advarsler",
            "aktiviteter",
            "kilderecords",
            "datakilde",
            "hendelseslogg",
            "peker",
            "forside",
            "de",
        ] {
            assert!(!nn.contains(&bokmal.to_string()), "nynorsk has «{bokmal}»");
        }
        let en = words(texts(Locale::EnGb));
        for norwegian in [
            "og", "av", "side", "felt", "verdi", "periode", "gyldig", "feil", "vedlegg", "ark",
        ] {
            assert!(
                !en.contains(&norwegian.to_string()),
                "English has «{norwegian}»"
            );
        }
        assert!(
            all(texts(Locale::EnGb))
                .iter()
                .all(|s| !s.contains(['æ', 'ø', 'å']))
        );
    }

    #[test]
    fn no_text_is_empty_and_the_languages_differ() {
        for locale in Locale::ALL {
            assert!(all(texts(locale)).iter().all(|s| !s.trim().is_empty()));
        }
        let nb = texts(Locale::NbNo);
        let nn = texts(Locale::NnNo);
        assert_eq!(nb.section_columns[3], "Forrige periode");
        assert_eq!(nn.section_columns[3], "Førre periode");
        assert_ne!(nb.pdf_annex_note, nn.pdf_annex_note);
        assert_ne!(all(nb), all(texts(Locale::EnGb)));
    }
}
