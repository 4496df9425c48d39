//! Excel export with a large annex against rust_xlsxwriter writing the same cells directly, and
//! peak memory as the annex grows.
//!
//! `cargo bench -p workers --bench export_xlsx` runs every case in a child process of its own
//! (so peak memory is the case's alone) and prints time and peak RSS side by side. One case:
//! `cargo bench -p workers --bench export_xlsx -- --case render --rows 1000000`.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use domain::bufdir_payload::Validation;
use rust_xlsxwriter::{Format, Workbook};
use workers::export::document::{AnnexRow, ReportDocument};
use workers::export::render::{self, Format as FileFormat};

fn annex(rows: u64) -> impl Iterator<Item = AnnexRow> {
    let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    (0..rows).map(move |i| AnnexRow {
        record_id: format!("rec-{i:08}"),
        occurred_on: start + chrono::Days::new(i % 365),
        metric: "children_in_care".into(),
        value: (i % 97) as f64,
        hours: (i % 3 == 0).then_some(1.5),
        data_source: "fagsystem-cis".into(),
    })
}

fn document() -> ReportDocument {
    ReportDocument {
        export_id: "exp_bench".into(),
        org_id: "org-bench".into(),
        organization_name: "Benchmark".into(),
        organisasjonsnummer: "986128433".into(),
        period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        period_label: "2025".into(),
        generated_at: Utc::now(),
        locale: domain::Locale::NbNo,
        payload_version: "bufdir_2025_v2".into(),
        source_position: "1".into(),
        sections: vec![],
        activities: vec![],
        payload: serde_json::json!({}),
        validation: Validation::default(),
        changes: None,
    }
}

/// The same annex cells, written straight with rust_xlsxwriter in constant-memory mode.
fn direct(rows: u64, path: &Path) {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet_with_constant_memory().unwrap();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for (col, name) in ["record_id", "dato", "metric", "verdi", "timer", "datakilde"]
        .into_iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, name).unwrap();
    }
    for (i, r) in annex(rows).enumerate() {
        let row = i as u32 + 1;
        sheet.write_string(row, 0, &r.record_id).unwrap();
        sheet
            .write_date_with_format(row, 1, r.occurred_on, &date)
            .unwrap();
        sheet.write_string(row, 2, &r.metric).unwrap();
        sheet.write_number(row, 3, r.value).unwrap();
        if let Some(h) = r.hours {
            sheet.write_number(row, 4, h).unwrap();
        }
        sheet.write_string(row, 5, &r.data_source).unwrap();
    }
    book.save(path).unwrap();
}

fn ours(rows: u64, path: &Path) {
    let mut rows = annex(rows);
    let cancelled = AtomicBool::new(false);
    render::render(
        FileFormat::Excel,
        &document(),
        Some(&mut rows),
        path,
        &cancelled,
        &mut |_, _| {},
    )
    .unwrap();
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn run_case(case: &str, rows: u64) {
    let dir = std::env::temp_dir().join(format!("export-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.xlsx");
    let started = Instant::now();
    match case {
        "direct" => direct(rows, &path),
        _ => ours(rows, &path),
    }
    let elapsed = started.elapsed();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    std::fs::remove_dir_all(&dir).ok();
    println!(
        "{case} {rows} {:.3} {} {}",
        elapsed.as_secs_f64(),
        peak_rss_kib(),
        size
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(case) = arg("--case") {
        let rows = arg("--rows")
            .and_then(|r| r.parse().ok())
            .unwrap_or(100_000);
        run_case(&case, rows);
        return;
    }
    let me = std::env::current_exe().unwrap();
    println!(
        "{:<8} {:>9} {:>9} {:>14} {:>10}",
        "case", "rows", "seconds", "peak RSS MiB", "file MiB"
    );
    let mut results = vec![];
    for rows in [100_000u64, 1_000_000] {
        // Alternate the two so machine noise hits both alike.
        for case in ["direct", "render", "direct", "render"] {
            let out = Command::new(&me)
                .args(["--case", case, "--rows", &rows.to_string()])
                .output()
                .unwrap();
            let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let f: Vec<&str> = line.split_whitespace().collect();
            let (secs, rss, size): (f64, u64, u64) = (
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            );
            println!(
                "{:<8} {:>9} {:>9.3} {:>14.1} {:>10.1}",
                case,
                rows,
                secs,
                rss as f64 / 1024.0,
                size as f64 / 1_048_576.0
            );
            results.push((case, rows, secs));
        }
    }
    for rows in [100_000u64, 1_000_000] {
        let best = |case: &str| {
            results
                .iter()
                .filter(|r| r.0 == case && r.1 == rows)
                .map(|r| r.2)
                .fold(f64::INFINITY, f64::min)
        };
        println!(
            "rows {rows}: render / direct = {:.3} (best of two each)",
            best("render") / best("direct")
        );
    }
}
