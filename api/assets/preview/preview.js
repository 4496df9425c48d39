// The live report preview: plain JavaScript on the public API, no build step, nothing fetched
// from elsewhere. The token lives in sessionStorage only; the view (organisation, period,
// language) lives in the URL so that a link opens the same view.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "bufdir.token";
const WRITERS = ["reporter", "admin", "service"];
const HIGHLIGHT_MS = 4000;
const PAYLOAD_VERSION = "bufdir_2025_v2";

const TEXT = {
  nb: {
    skip: "Hopp til rapporten", title: "Bufdir-rapport",
    subtitle: "Forhåndsvisning av rapporten slik Bufdir får den",
    signin: "Logg inn", token: "Tilgangsnøkkel (bearer token)", signin_button: "Logg inn",
    signin_help: "Nøkkelen lagres bare i denne fanen (sessionStorage).",
    organisation: "Organisasjon", period: "Periode", language: "Språk", signout: "Logg ut",
    validation: "Kontroll mot Bufdir", actions: "Eksport og data", format: "Format",
    export: "Start eksport", upload: "Last opp kildedata (CSV eller Excel)", source: "Kilde",
    upload_button: "Last opp", history: "Rapporthistorikk",
    live: "direkte", reconnecting: "kobler til igjen", offline: "frakoblet",
    updated: "Sist oppdatert", field: "Felt", now: "Denne perioden", prior: "Forrige periode",
    change: "Endring", unit: "Enhet", requirement: "Krav", count: "antall", hours: "timer",
    required: "påkrevd", recommended: "anbefalt", optional: "valgfritt", filled: "fylt ut",
    missing: "mangler", status: "Status", aggregated: "Aggregert", fields_filled: "Felt med data",
    valid: "Rapporten kan sendes til Bufdir.", invalid: "Rapporten har feil som må rettes.",
    warnings: "Advarsler", errors: "Feil", no_snapshot: "Ingen rapportdata for perioden ennå.",
    processing: "Rapporten aggregeres …", requested: "Rapportdata bestilt for perioden.",
    export_queued: "Eksport startet", export_done: "Eksporten er klar:", download: "Last ned",
    export_failed: "Eksporten feilet", uploaded: "Lastet opp", records: "poster",
    refused: "Filen ble avvist; ingenting er lagret.", no_history: "Ingen rapporter ennå.",
    type: "Type", generated: "Laget", signin_failed: "Nøkkelen ble ikke godtatt.",
    no_orgs: "Nøkkelen gir ikke tilgang til noen organisasjon.", chart: "Diagram",
    chart_alt: "Denne og forrige periode for", legend_now: "denne perioden", legend_prior: "forrige periode",
    other_issues: "Andre merknader",
    st_current: "gjeldende", st_processing: "aggregeres", st_historical: "historisk", st_failed: "feilet",
    rs_pending: "venter", rs_generating: "lages", rs_completed: "ferdig", rs_failed: "feilet",
    rt_annual_summary: "årsrapport", rt_quarterly_activity: "kvartalsrapport", rt_custom_period: "egen periode",
    signoff: "Godkjenning før innsending", signoff_none: "Organisasjonen krever ingen godkjenning før innsending.",
    signoff_ready: "Godkjent: rapporten kan sendes inn.", signoff_needed: "Mangler godkjenning fra",
    role_approver: "godkjenner", role_auditor: "revisor", roles_approver: "godkjennere", roles_auditor: "revisorer",
    ap_standing: "gjelder", ap_withdrawn: "trukket tilbake", ap_voided: "ugyldig",
    voided_because: "Tidligere godkjenninger gjelder ikke lenger:", approve_as: "Godkjenn som",
    approves_what: "Du godkjenner nøyaktig dette innholdet (sjekksum):", approved_by: "Godkjent av",
    withdraw: "Trekk tilbake", approve: "Godkjenn", approved_msg: "Godkjent.", comment: "Kommentar (valgfri)",
    no_approvals: "Ingen har godkjent rapporten ennå.",
    deadline: "Frist", due: "Frist", dl_upcoming: "kommende", dl_at_risk: "i fare",
    dl_submitted_on_time: "sendt i tide", dl_submitted_late: "sendt for sent", dl_missed: "ikke sendt, fristen er ute",
    in_days: "om {n} dager", in_hours: "om {n} timer", days_ago: "for {n} dager siden", hours_ago: "for {n} timer siden",
    at_risk_because: "Rapporten er i fare fordi:", no_deadline: "Kalenderen har ingen frist for denne perioden.",
    changes: "Endringer siden siste innsending", changes_since: "Endringer siden {when}", changes_none: "Ingen tall er endret.",
    changes_no_submission: "Ingen innsending ennå: ingenting å sammenligne med.", records: "poster", corrected: "korrigert",
    unknown_actor: "ukjent",
  },
  nn: {
    skip: "Hopp til rapporten", title: "Bufdir-rapport",
    subtitle: "Førehandsvising av rapporten slik Bufdir får han",
    signin: "Logg inn", token: "Tilgangsnøkkel (bearer token)", signin_button: "Logg inn",
    signin_help: "Nøkkelen vert berre lagra i denne fana (sessionStorage).",
    organisation: "Organisasjon", period: "Periode", language: "Språk", signout: "Logg ut",
    validation: "Kontroll mot Bufdir", actions: "Eksport og data", format: "Format",
    export: "Start eksport", upload: "Last opp kjeldedata (CSV eller Excel)", source: "Kjelde",
    upload_button: "Last opp", history: "Rapporthistorikk",
    live: "direkte", reconnecting: "koplar til att", offline: "fråkopla",
    updated: "Sist oppdatert", field: "Felt", now: "Denne perioden", prior: "Førre periode",
    change: "Endring", unit: "Eining", requirement: "Krav", count: "tal", hours: "timar",
    required: "påkravd", recommended: "tilrådd", optional: "valfritt", filled: "fylt ut",
    missing: "manglar", status: "Status", aggregated: "Aggregert", fields_filled: "Felt med data",
    valid: "Rapporten kan sendast til Bufdir.", invalid: "Rapporten har feil som må rettast.",
    warnings: "Åtvaringar", errors: "Feil", no_snapshot: "Ingen rapportdata for perioden enno.",
    processing: "Rapporten vert aggregert …", requested: "Rapportdata tinga for perioden.",
    export_queued: "Eksport starta", export_done: "Eksporten er klar:", download: "Last ned",
    export_failed: "Eksporten feila", uploaded: "Lasta opp", records: "postar",
    refused: "Fila vart avvist; ingenting er lagra.", no_history: "Ingen rapportar enno.",
    type: "Type", generated: "Laga", signin_failed: "Nøkkelen vart ikkje godteken.",
    no_orgs: "Nøkkelen gjev ikkje tilgang til nokon organisasjon.", chart: "Diagram",
    chart_alt: "Denne og førre periode for", legend_now: "denne perioden", legend_prior: "førre periode",
    other_issues: "Andre merknader",
    st_current: "gjeldande", st_processing: "vert aggregert", st_historical: "historisk", st_failed: "feila",
    rs_pending: "ventar", rs_generating: "vert laga", rs_completed: "ferdig", rs_failed: "feila",
    rt_annual_summary: "årsrapport", rt_quarterly_activity: "kvartalsrapport", rt_custom_period: "eigen periode",
    signoff: "Godkjenning før innsending", signoff_none: "Organisasjonen krev inga godkjenning før innsending.",
    signoff_ready: "Godkjend: rapporten kan sendast inn.", signoff_needed: "Manglar godkjenning frå",
    role_approver: "godkjennar", role_auditor: "revisor", roles_approver: "godkjennarar", roles_auditor: "revisorar",
    ap_standing: "gjeld", ap_withdrawn: "trekt tilbake", ap_voided: "ugyldig",
    voided_because: "Tidlegare godkjenningar gjeld ikkje lenger:", approve_as: "Godkjenn som",
    approves_what: "Du godkjenner nøyaktig dette innhaldet (sjekksum):", approved_by: "Godkjend av",
    withdraw: "Trekk tilbake", approve: "Godkjenn", approved_msg: "Godkjend.", comment: "Kommentar (valfri)",
    no_approvals: "Ingen har godkjent rapporten enno.",
    deadline: "Frist", due: "Frist", dl_upcoming: "kjem", dl_at_risk: "i fare",
    dl_submitted_on_time: "sendt i tide", dl_submitted_late: "sendt for seint", dl_missed: "ikkje sendt, fristen er ute",
    in_days: "om {n} dagar", in_hours: "om {n} timar", days_ago: "for {n} dagar sidan", hours_ago: "for {n} timar sidan",
    at_risk_because: "Rapporten er i fare fordi:", no_deadline: "Kalenderen har inga frist for denne perioden.",
    changes: "Endringar sidan siste innsending", changes_since: "Endringar sidan {when}", changes_none: "Ingen tal er endra.",
    changes_no_submission: "Inga innsending enno: ingenting å samanlikne med.", records: "postar", corrected: "korrigert",
    unknown_actor: "ukjend",
  },
  en: {
    skip: "Skip to the report", title: "Bufdir report",
    subtitle: "A preview of the report as Bufdir will get it",
    signin: "Sign in", token: "Access token (bearer)", signin_button: "Sign in",
    signin_help: "The token is kept in this tab only (sessionStorage).",
    organisation: "Organisation", period: "Period", language: "Language", signout: "Sign out",
    validation: "Checked against Bufdir", actions: "Exports and data", format: "Format",
    export: "Start export", upload: "Upload source data (CSV or Excel)", source: "Source",
    upload_button: "Upload", history: "Report history",
    live: "live", reconnecting: "reconnecting", offline: "offline",
    updated: "Last updated", field: "Field", now: "This period", prior: "Prior period",
    change: "Change", unit: "Unit", requirement: "Requirement", count: "count", hours: "hours",
    required: "required", recommended: "recommended", optional: "optional", filled: "filled",
    missing: "missing", status: "Status", aggregated: "Aggregated", fields_filled: "Fields with data",
    valid: "The report can be sent to Bufdir.", invalid: "The report has errors to correct.",
    warnings: "Warnings", errors: "Errors", no_snapshot: "No report data for this period yet.",
    processing: "The report is being aggregated …", requested: "Report data requested for the period.",
    export_queued: "Export started", export_done: "The export is ready:", download: "Download",
    export_failed: "The export failed", uploaded: "Uploaded", records: "records",
    refused: "The file was refused; nothing was stored.", no_history: "No reports yet.",
    type: "Type", generated: "Generated", signin_failed: "The token was not accepted.",
    no_orgs: "The token reaches no organisation.", chart: "Chart",
    chart_alt: "This and the prior period for", legend_now: "this period", legend_prior: "prior period",
    other_issues: "Other remarks",
    st_current: "current", st_processing: "being aggregated", st_historical: "historical", st_failed: "failed",
    rs_pending: "pending", rs_generating: "generating", rs_completed: "completed", rs_failed: "failed",
    rt_annual_summary: "annual summary", rt_quarterly_activity: "quarterly report", rt_custom_period: "custom period",
    signoff: "Sign-off before submission", signoff_none: "The organisation needs no sign-off before submission.",
    signoff_ready: "Approved: the report may be submitted.", signoff_needed: "Still needs approval from",
    role_approver: "approver", role_auditor: "auditor", roles_approver: "approvers", roles_auditor: "auditors",
    ap_standing: "standing", ap_withdrawn: "withdrawn", ap_voided: "voided",
    voided_because: "Earlier approvals no longer count:", approve_as: "Approve as",
    approves_what: "You approve exactly this content (checksum):", approved_by: "Approved by",
    withdraw: "Withdraw", approve: "Approve", approved_msg: "Approved.", comment: "Comment (optional)",
    no_approvals: "Nobody has approved the report yet.",
    deadline: "Deadline", due: "Due", dl_upcoming: "upcoming", dl_at_risk: "at risk",
    dl_submitted_on_time: "submitted on time", dl_submitted_late: "submitted late", dl_missed: "not submitted, the deadline has passed",
    in_days: "in {n} days", in_hours: "in {n} hours", days_ago: "{n} days ago", hours_ago: "{n} hours ago",
    at_risk_because: "The report is at risk because:", no_deadline: "The calendar has no deadline for this period.",
    changes: "Changes since the last submission", changes_since: "Changes since {when}", changes_none: "No figure has changed.",
    changes_no_submission: "Nothing submitted yet: nothing to compare with.", records: "records", corrected: "corrected",
    unknown_actor: "unknown",
  },
};
const LOCALE = { nb: "nb-NO", nn: "nn-NO", en: "en-GB" };
const ZONE = "Europe/Oslo";
const SIGNERS = ["approver", "auditor"];

const $ = (id) => document.getElementById(id);
const state = {
  token: null, claims: null, org: null, period: null, lang: "nb",
  snapshot: null, issues: new Map(), otherIssues: [], source: null, retryTimer: null,
  refreshing: null, pendingHighlight: new Set(),
};

function t(key) { return (TEXT[state.lang] || TEXT.nb)[key] || TEXT.en[key] || key; }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

// Numbers and dates in the chosen language. A browser without Nynorsk formats (Chromium's ICU
// has none) would fall back to English; Nynorsk writes numbers and dates as Bokmål does.
function formats() {
  const wanted = LOCALE[state.lang];
  const got = new Intl.DateTimeFormat(wanted).resolvedOptions().locale.split("-")[0];
  const norwegian = ["nb", "nn", "no"];
  if (got === wanted.split("-")[0] || (state.lang !== "en" && norwegian.includes(got))) return wanted;
  return state.lang === "en" ? "en-GB" : "nb-NO";
}

function number(v, digits = 1) {
  if (v === null || v === undefined) return "–";
  return new Intl.NumberFormat(formats(), { maximumFractionDigits: digits }).format(v);
}

// A moment, in Norwegian time.
function time(iso) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(formats(), { dateStyle: "medium", timeStyle: "medium", timeZone: ZONE })
    .format(new Date(iso));
}

// A calendar date (YYYY-MM-DD), as the day it names.
function day(date) {
  if (!date) return "–";
  return new Intl.DateTimeFormat(formats(), { dateStyle: "medium", timeZone: "UTC" })
    .format(new Date(`${date}T00:00:00Z`));
}

// A validator's finding in the chosen language.
function inLanguage(issue) {
  if (state.lang === "en") return issue.message;
  if (state.lang === "nn") return issue.message_nn || issue.message_nb || issue.message;
  return issue.message_nb || issue.message;
}

// ---- talking to the API -------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  headers.Authorization = `Bearer ${state.token}`;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  if ((options.method || "GET") === "POST") headers["Idempotency-Key"] = crypto.randomUUID();
  const res = await fetch(path, { method: options.method || "GET", headers, body: options.body });
  const text = await res.text();
  const body = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch (_) {
    return null;
  }
}

function canWrite() {
  return !!state.claims && (state.claims.roles || []).some((r) => WRITERS.includes(r));
}

// ---- messages and the connection state ----------------------------------------------------

function message(text, kind = "error") {
  const box = $("message");
  box.hidden = !text;
  box.className = kind === "info" ? "info" : "";
  box.textContent = text || "";
}

function connection(name) {
  const node = $("connection");
  node.dataset.state = name;
  $("connection-text").textContent = t(name);
}

function touched() {
  $("last-updated").dataset.at = new Date().toISOString();
  $("last-updated").textContent = `${t("updated")}: ${time($("last-updated").dataset.at)}`;
}

// ---- the URL holds the view ---------------------------------------------------------------

function readUrl() {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    params.delete("token");
  }
  state.org = params.get("org");
  state.period = params.get("period");
  const lang = params.get("lang");
  if (lang && TEXT[lang]) state.lang = lang;
  // The version the changes are shown against: the last submission unless the link names one
  // (a time, `position:N`, `snapshot:ID`, `submission:ID`).
  state.since = params.get("since");
  writeUrl(params);
}

function writeUrl(params = new URLSearchParams()) {
  for (const [k, v] of [["org", state.org], ["period", state.period], ["lang", state.lang], ["since", state.since]]) {
    if (v) params.set(k, v); else params.delete(k);
  }
  const query = params.toString();
  history.replaceState(null, "", query ? `${location.pathname}?${query}` : location.pathname);
}

// ---- texts in the chosen language ---------------------------------------------------------

function translate() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  $("controls").setAttribute("aria-label", t("organisation"));
  connection($("connection").dataset.state);
  if ($("last-updated").dataset.at) touched();
}

// ---- choosing organisation and period -----------------------------------------------------

function periods(existing) {
  const now = new Date();
  const year = now.getFullYear();
  const quarter = Math.floor(now.getMonth() / 3) + 1;
  const all = new Set(existing);
  for (let y = year; y >= year - 2; y--) {
    all.add(String(y));
    for (let q = 4; q >= 1; q--) if (y < year || q <= quarter) all.add(`${y}-Q${q}`);
  }
  return [...all].sort((a, b) => (a < b ? 1 : -1));
}

async function loadOrganisations() {
  const list = await api(`${API}/organizations?limit=100`);
  const select = $("org");
  select.replaceChildren(...list.data.map((o) => el("option", { value: o.org_id, text: `${o.name} (${o.org_id})` })));
  if (!list.data.length) throw new Error(t("no_orgs"));
  if (!list.data.some((o) => o.org_id === state.org)) state.org = list.data[0].org_id;
  select.value = state.org;
}

async function loadPeriods() {
  const list = await api(`${API}/aggregated-report-data?organization_id=${encodeURIComponent(state.org)}&limit=100`);
  const existing = list.data.map((s) => s.period_id);
  const options = periods(existing);
  if (!state.period || !options.includes(state.period)) {
    state.period = existing[0] || String(new Date().getFullYear() - 1);
    if (!options.includes(state.period)) options.push(state.period);
  }
  $("period").replaceChildren(...options.map((p) => el("option", { value: p, text: p })));
  $("period").value = state.period;
}

// ---- the snapshot -------------------------------------------------------------------------

async function findSnapshot() {
  const q = `organization_id=${encodeURIComponent(state.org)}&period_id=${encodeURIComponent(state.period)}`;
  const list = await api(`${API}/aggregated-report-data?${q}&limit=20`);
  return list.data.find((s) => s.snapshot_status === "current")
    || list.data.find((s) => s.snapshot_status === "processing")
    || null;
}

async function refresh(highlight = []) {
  for (const key of highlight) state.pendingHighlight.add(key);
  // One refresh at a time; a change announced meanwhile is picked up by one more round.
  if (state.refreshing) { state.again = true; return state.refreshing; }
  state.refreshing = (async () => {
    do {
      state.again = false;
      await refreshOnce();
    } while (state.again);
  })().finally(() => { state.refreshing = null; });
  return state.refreshing;
}

async function refreshOnce() {
  let summary = await findSnapshot();
  if (!summary) {
    if (!canWrite()) {
      state.snapshot = null;
      render();
      message(t("no_snapshot"), "info");
      return;
    }
    await api(`${API}/aggregated-report-data`, {
      method: "POST", json: { organization_id: state.org, period_id: state.period, force_reaggregate: false },
    });
    message(t("requested"), "info");
    summary = await findSnapshot();
    if (!summary) return;
  }
  const snapshot = await api(`${API}/aggregated-report-data/${encodeURIComponent(summary.snapshot_id)}?lang=${state.lang}`);
  state.snapshot = snapshot;
  if (snapshot.snapshot_status === "processing") {
    message(t("processing"), "info");
    // The watch announces the status change; this is only the fallback if that is missed.
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(() => refresh(), 2000);
  } else {
    message("");
  }
  await Promise.all([validate(snapshot), loadSignOff(), loadDeadline(), loadChanges()]);
  render();
  touched();
}

// ---- the deadline ---------------------------------------------------------------------------

async function loadDeadline() {
  state.deadline = null;
  if (!state.org || !state.period) return;
  const end = periodRange(state.period)[1];
  const q = new URLSearchParams({ period_from: end, period_to: end });
  const list = await api(`${API}/organizations/${encodeURIComponent(state.org)}/deadlines?${q}`);
  state.deadline = list.data.find((d) => d.period_id === state.period) || "none";
}

// "in 12 days", "3 hours ago": in the page's own words, so Nynorsk is Nynorsk in any browser.
function countdown(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  const hours = Math.round(Math.abs(ms) / 3600000);
  const [n, unit] = hours >= 48 ? [Math.round(hours / 24), "days"] : [hours, "hours"];
  const key = ms >= 0 ? `in_${unit}` : `${unit}_ago`;
  return t(key).replace("{n}", number(n, 0));
}

function renderDeadline() {
  const box = $("deadline-result");
  const d = state.deadline;
  if (!d) { box.replaceChildren(); return; }
  if (d === "none") { box.replaceChildren(el("p", { class: "muted", text: t("no_deadline") })); return; }
  const cls = d.status === "at_risk" || d.status === "missed" ? "issue error" : d.status === "submitted_late" ? "issue warning" : "ok";
  const parts = [
    el("p", { id: "deadline-state", "data-status": d.status, class: cls },
      `${t("due")} ${day(d.due_on)} · ${t(`dl_${d.status}`)}`,
      d.received_at ? "" : el("span", { id: "deadline-countdown", text: ` · ${countdown(d.due_at)}` })),
  ];
  if (d.reasons.length) {
    parts.push(el("p", { text: t("at_risk_because") }));
    parts.push(el("ul", { id: "deadline-reasons" }, d.reasons.map((r) => el("li", { class: "issue error" }, `${inLanguage(r)} `, r.field ? el("code", { text: r.field }) : ""))));
  }
  box.replaceChildren(...parts);
}

// ---- changes since the last submission -----------------------------------------------------

async function loadChanges() {
  state.changes = null;
  if (!state.org || !state.period) return;
  const q = state.since ? `?${new URLSearchParams({ from_version: state.since })}` : "";
  const path = `${API}/organizations/${encodeURIComponent(state.org)}/report-diffs/${encodeURIComponent(state.period)}${q}`;
  try {
    state.changes = await api(path);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    state.changes = "none";
  }
}

function signed(n) {
  return `${n > 0 ? "+" : ""}${number(n, 3)}`;
}

function label(field) {
  return state.lang === "en" ? field.label_en : state.lang === "nn" ? field.label_nn : field.label_nb;
}

// Each changed field opens to the imports that moved it: "+43 · 12. mars 2026 … · case-system (fagsystem) · 43 poster".
function renderChanges() {
  const box = $("changes-result");
  const c = state.changes;
  if (!c) { box.replaceChildren(); return; }
  if (c === "none") { box.replaceChildren(el("p", { id: "changes-state", class: "muted", text: t("changes_no_submission") })); return; }
  $("changes-title").textContent = state.since
    ? t("changes_since").replace("{when}", Number.isNaN(Date.parse(state.since)) ? state.since : time(state.since))
    : t("changes");
  if (!c.fields.length) { box.replaceChildren(el("p", { id: "changes-state", class: "ok", text: t("changes_none") })); return; }
  const fields = c.fields.map((f) => el("details", { class: "change", "data-field-key": f.key },
    el("summary", {}, `${label(f)}: ${number(f.before, 3)} → ${number(f.after, 3)} `,
      el("span", { class: f.change > 0 ? "up" : "down", text: `(${signed(f.change)})` })),
    el("ul", { class: "lineage" }, f.lineage.map((l) => el("li", { "data-position": l.position },
      `${signed(l.change)} · ${time(l.imported_at)} · ${l.actor || t("unknown_actor")} (${l.data_source}) · `
      + `${number(l.records_added, 0)} ${t("records")}`
      + (l.records_replaced ? `, ${number(l.records_replaced, 0)} ${t("corrected")}` : ""))))));
  box.replaceChildren(el("div", { id: "changes-list" }, fields));
}

// ---- sign-off -----------------------------------------------------------------------------

function canSign() {
  return !!state.claims && (state.claims.roles || []).some((r) => SIGNERS.includes(r));
}

async function loadSignOff() {
  state.signOff = null;
  if (!state.org || !state.period) return;
  state.signOff = await api(`${API}/organizations/${encodeURIComponent(state.org)}/sign-offs/${encodeURIComponent(state.period)}`);
}

function roleCount(r) {
  return `${r.count} ${t(r.count === 1 ? `role_${r.role}` : `roles_${r.role}`)}`;
}

function renderSignOff() {
  const box = $("signoff-result");
  const s = state.signOff;
  if (!s) { box.replaceChildren(); return; }
  const parts = [];
  if (!s.policy.requirements.length) {
    parts.push(el("p", { id: "signoff-state", "data-ready": "true", class: "muted", text: t("signoff_none") }));
  } else if (s.ready) {
    parts.push(el("p", { id: "signoff-state", "data-ready": "true", class: "ok", text: t("signoff_ready") }));
  } else {
    parts.push(el("p", { id: "signoff-state", "data-ready": "false", class: "issue warning",
      text: `${t("signoff_needed")} ${s.missing.map(roleCount).join(", ")}.` }));
  }
  if (s.voided_reason && !s.ready) {
    parts.push(el("p", { class: "issue error", id: "signoff-voided", text: `${t("voided_because")} ${s.voided_reason}` }));
  }
  const mine = (a) => state.claims && a.subject === state.claims.sub && a.status === "standing";
  if (s.approvals.length) {
    parts.push(el("ul", { id: "approvals" }, s.approvals.map((a) => el("li", {
      class: `approval ${a.status}`, "data-approval-id": a.approval_id, "data-status": a.status },
      `${t("approved_by")} ${a.subject} (${t(`role_${a.role}`)}), ${time(a.approved_at)} · ${t(`ap_${a.status}`)}`,
      a.comment ? el("q", { text: a.comment }) : null,
      a.void_reason ? el("span", { class: "muted", text: ` ${a.void_reason}` }) : null,
      mine(a) ? el("button", { type: "button", class: "secondary withdraw", "data-approval": a.approval_id, text: t("withdraw") }) : null,
    ))));
  } else if (s.policy.requirements.length) {
    parts.push(el("p", { class: "muted", text: t("no_approvals") }));
  }
  const held = ((state.claims && state.claims.roles) || []).filter((r) => SIGNERS.includes(r));
  if (s.policy.requirements.length && held.length) {
    parts.push(el("form", { id: "approve-form", class: "row" },
      el("p", { class: "muted" }, `${t("approves_what")} `, el("code", { id: "approve-digest", text: s.payload_digest.slice(0, 16) })),
      el("label", { for: "approve-role", text: t("approve_as") }),
      el("select", { id: "approve-role" }, held.map((r) => el("option", { value: r, text: t(`role_${r}`) }))),
      el("label", { for: "approve-comment", text: t("comment") }),
      el("input", { id: "approve-comment", maxlength: "1000" }),
      el("button", { type: "submit", id: "approve-button", text: t("approve") }),
    ));
  }
  box.replaceChildren(...parts);
  const form = $("approve-form");
  if (form) form.addEventListener("submit", (e) => approve(e).catch(show));
  for (const b of box.querySelectorAll("button.withdraw")) {
    b.addEventListener("click", () => withdraw(b.dataset.approval).catch(show));
  }
}

async function approve(event) {
  event.preventDefault();
  const s = state.signOff;
  const comment = $("approve-comment").value.trim();
  await api(`${API}/organizations/${encodeURIComponent(state.org)}/sign-offs/${encodeURIComponent(state.period)}/approvals`, {
    method: "POST", json: { role: $("approve-role").value, payload_digest: s.payload_digest, comment: comment || null },
  });
  message(t("approved_msg"), "info");
  await loadSignOff();
  renderSignOff();
}

async function withdraw(id) {
  await api(`${API}/organizations/${encodeURIComponent(state.org)}/sign-offs/${encodeURIComponent(state.period)}/approvals/${encodeURIComponent(id)}`, { method: "DELETE" });
  await loadSignOff();
  renderSignOff();
}

async function validate(snapshot) {
  state.issues = new Map();
  state.otherIssues = [];
  state.validity = null;
  if (snapshot.snapshot_status !== "current") return;
  const payload = await api(`${API}/aggregated-report-data/${encodeURIComponent(snapshot.snapshot_id)}/bufdir-payload`);
  const result = await api(`${API}/bufdir-api/validate-payload`, {
    method: "POST", json: { payload_version: PAYLOAD_VERSION, payload },
  });
  state.validity = result.is_valid;
  const note = (issue, kind) => {
    const match = /^\/payload\/felter\/([^/]+)/.exec(issue.field || "");
    const entry = { kind, text: inLanguage(issue) };
    if (match) {
      const key = match[1].replace(/~1/g, "/").replace(/~0/g, "~");
      if (!state.issues.has(key)) state.issues.set(key, []);
      state.issues.get(key).push(entry);
    } else {
      state.otherIssues.push(Object.assign({ field: issue.field }, entry));
    }
  };
  result.errors.forEach((i) => note(i, "error"));
  result.warning_details.forEach((i) => note(i, "warning"));
}

// ---- drawing ------------------------------------------------------------------------------

function render() {
  const s = state.snapshot;
  $("report").hidden = !s;
  $("actions").hidden = !s;
  $("history").hidden = !state.org;
  $("export-block").hidden = !canWrite();
  $("upload-form").hidden = !canWrite();
  if (!s) return;
  $("report-title").textContent = `${s.organization_name || s.organization_id} · ${s.period_id}`;
  $("summary").replaceChildren(
    el("dt", { text: t("status") }), el("dd", { id: "snapshot-status", "data-status": s.snapshot_status, text: t(`st_${s.snapshot_status}`) }),
    el("dt", { text: t("aggregated") }), el("dd", { text: time(s.aggregated_at) }),
    el("dt", { text: t("fields_filled") }), el("dd", { text: `${s.populated_field_count} / ${s.field_count}` }),
    el("dt", { text: t("prior") }), el("dd", { text: s.prior_period ? s.prior_period.period_id : "–" }),
  );
  renderValidation();
  renderDeadline();
  renderChanges();
  renderSignOff();
  $("sections").replaceChildren(...s.sections.map(renderSection));
  const changed = [...state.pendingHighlight];
  state.pendingHighlight.clear();
  for (const key of changed) {
    const row = document.querySelector(`tr[data-field-key="${CSS.escape(key)}"]`);
    if (!row) continue;
    row.classList.add("changed");
    row.dataset.changed = "true";
    setTimeout(() => { row.classList.remove("changed"); delete row.dataset.changed; }, HIGHLIGHT_MS);
  }
}

function renderValidation() {
  const box = $("validation-result");
  if (state.validity === null || state.validity === undefined) { box.replaceChildren(); return; }
  const parts = [el("p", { id: "validity", class: state.validity ? "ok" : "issue error", "data-valid": String(state.validity), text: state.validity ? t("valid") : t("invalid") })];
  if (state.otherIssues.length) {
    parts.push(el("h3", { text: t("other_issues") }));
    parts.push(el("ul", {}, state.otherIssues.map((i) => el("li", { class: `issue ${i.kind}` }, `${i.text} `, el("code", { text: i.field })))));
  }
  box.replaceChildren(...parts);
}

function change(now, prior) {
  if (now === null || prior === null || now === undefined || prior === undefined) return el("span", { text: "–" });
  const diff = now - prior;
  const pct = prior !== 0 ? ` (${diff > 0 ? "+" : ""}${number((diff / prior) * 100)} %)` : "";
  const cls = diff > 0 ? "up" : diff < 0 ? "down" : "";
  return el("span", { class: cls, text: `${diff > 0 ? "+" : ""}${number(diff)}${pct}` });
}

function renderSection(section) {
  const headId = `section-${section.section_id}`;
  const rows = section.fields.map((f) => {
    const filled = f.value !== null && f.value !== undefined;
    const issues = state.issues.get(f.field_key) || [];
    return el("tr", { "data-field-key": f.field_key },
      el("th", { scope: "row" }, f.label, el("span", { class: "key", text: f.field_key }),
        issues.map((i) => el("span", { class: `issue ${i.kind}`, text: i.text }))),
      el("td", { class: "num value", "data-value": filled ? String(f.value) : "" }, number(f.value)),
      el("td", { class: "num prior", "data-value": f.prior_period_value ?? "" }, number(f.prior_period_value)),
      el("td", { class: "num" }, change(f.value, f.prior_period_value)),
      el("td", { class: "hide-narrow", text: t(f.unit) }),
      el("td", { class: `req ${filled ? "filled" : f.requirement === "optional" ? "" : "missing"}` },
        `${t(f.requirement)} · ${filled ? t("filled") : t("missing")}`),
    );
  });
  const table = el("table", {},
    el("caption", { class: "visually-hidden", text: section.section_title }),
    el("thead", {}, el("tr", {},
      el("th", { scope: "col", text: t("field") }), el("th", { scope: "col", class: "num", text: t("now") }),
      el("th", { scope: "col", class: "num", text: t("prior") }), el("th", { scope: "col", class: "num", text: t("change") }),
      el("th", { scope: "col", class: "hide-narrow", text: t("unit") }), el("th", { scope: "col", text: t("requirement") }))),
    el("tbody", {}, rows));
  return el("section", { class: "card section", "aria-labelledby": headId, "data-section-id": section.section_id },
    el("h2", { id: headId, text: section.section_title }),
    el("div", { class: "section-body" }, el("div", { class: "table-wrap" }, table), chart(section)));
}

// Two bars per field (this period, prior period) on one scale per section.
function chart(section) {
  const ns = "http://www.w3.org/2000/svg";
  const fields = section.fields;
  const max = Math.max(1, ...fields.flatMap((f) => [f.value || 0, f.prior_period_value || 0]));
  const rowH = 34, labelW = 0, width = 320, barW = width - 70;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${fields.length * rowH + 6}`);
  svg.setAttribute("role", "img");
  const desc = fields.map((f) => `${f.label}: ${number(f.value)} (${number(f.prior_period_value)})`).join("; ");
  svg.setAttribute("aria-label", `${t("chart_alt")} ${section.section_title}: ${desc}`);
  const title = document.createElementNS(ns, "title");
  title.textContent = `${t("chart_alt")} ${section.section_title}`;
  svg.append(title);
  fields.forEach((f, i) => {
    const y = i * rowH + 4;
    for (const [v, cls, dy] of [[f.value, "bar-now", 0], [f.prior_period_value, "bar-prior", 13]]) {
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", labelW);
      rect.setAttribute("y", y + dy);
      rect.setAttribute("height", 11);
      rect.setAttribute("width", Math.max(0, ((v || 0) / max) * barW));
      rect.setAttribute("class", cls);
      svg.append(rect);
      const text = document.createElementNS(ns, "text");
      text.setAttribute("x", labelW + Math.max(0, ((v || 0) / max) * barW) + 4);
      text.setAttribute("y", y + dy + 10);
      text.textContent = number(v);
      svg.append(text);
    }
  });
  return el("figure", { class: "chart" }, svg,
    el("figcaption", { class: "legend" }, el("span", { class: "now", text: t("legend_now") }), el("span", { class: "prior", text: t("legend_prior") })));
}

// ---- live ---------------------------------------------------------------------------------

function watch() {
  if (state.source) state.source.close();
  clearTimeout(state.reopenTimer);
  const q = new URLSearchParams({ organization_id: state.org, period_id: state.period, access_token: state.token });
  const source = new EventSource(`${API}/aggregated-report-data/watch?${q}`);
  state.source = source;
  connection("reconnecting");
  source.onopen = () => {
    connection("live");
    // Whatever changed while the stream was down is in the snapshot.
    refresh().catch(show);
  };
  source.addEventListener("data_updated", (e) => {
    const data = JSON.parse(e.data);
    refresh(data.changed_field_keys || []).catch(show);
  });
  source.addEventListener("snapshot_status_changed", () => refresh().catch(show));
  source.onerror = () => {
    if (!navigator.onLine) connection("offline");
    else connection("reconnecting");
    // The browser retries by itself (with Last-Event-ID) unless the answer was an HTTP error;
    // then it gives up, and we open a new stream a little later.
    if (source.readyState === EventSource.CLOSED) {
      state.reopenTimer = setTimeout(() => { if (state.source === source) watch(); }, 3000);
    }
  };
}

window.addEventListener("offline", () => connection("offline"));
window.addEventListener("online", () => { if (state.token && state.org) watch(); });

// ---- exports, uploads, history ------------------------------------------------------------

function periodRange(period) {
  const m = /^(\d{4})(?:-Q([1-4]))?$/.exec(period);
  const year = Number(m[1]);
  if (!m[2]) return [`${year}-01-01`, `${year}-12-31`];
  const q = Number(m[2]);
  const end = new Date(Date.UTC(year, q * 3, 0)).getUTCDate();
  const mm = (n) => String(n).padStart(2, "0");
  return [`${year}-${mm(q * 3 - 2)}-01`, `${year}-${mm(q * 3)}-${mm(end)}`];
}

async function startExport(event) {
  event.preventDefault();
  const [from, to] = periodRange(state.period);
  const button = $("export-button");
  button.disabled = true;
  try {
    const job = await api(`${API}/bufdir-exports`, {
      method: "POST",
      json: { org_id: state.org, format: $("export-format").value, period_from: from, period_to: to, locale: LOCALE[state.lang] },
    });
    followExport(job.export_id);
  } catch (e) {
    show(e);
    button.disabled = false;
  }
}

async function followExport(id) {
  const box = $("export-status");
  const bar = el("progress", { max: 1, value: 0, "aria-label": t("export_queued") });
  box.replaceChildren(el("span", { text: `${t("export_queued")} ` }), bar);
  for (;;) {
    const e = await api(`${API}/bufdir-exports/${encodeURIComponent(id)}`);
    if (e.progress && e.progress.total) { bar.max = e.progress.total; bar.value = e.progress.done; }
    if (e.status === "completed" && e.file_url) {
      box.replaceChildren(el("span", { text: `${t("export_done")} ` }),
        el("a", { id: "export-link", href: e.file_url, text: e.file_name || t("download") }));
      break;
    }
    if (e.status === "failed" || e.status === "cancelled") {
      box.replaceChildren(el("span", { class: "issue error", text: `${t("export_failed")}: ${e.error_message || e.status}` }));
      break;
    }
    await new Promise((r) => setTimeout(r, 700));
  }
  $("export-button").disabled = false;
  loadHistory().catch(show);
}

async function upload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  if (!file) return;
  const xlsx = /\.xlsx$/i.test(file.name);
  const type = xlsx ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : "text/csv";
  const q = new URLSearchParams({ organization_id: state.org, data_source: $("upload-source").value });
  const box = $("upload-status");
  try {
    const result = await api(`${API}/source-records?${q}`, { method: "POST", body: file, headers: { "Content-Type": type } });
    box.replaceChildren(el("p", { class: "ok", text: `${t("uploaded")}: ${result.records_imported} ${t("records")}` }));
  } catch (e) {
    const errors = (e.problem && e.problem.errors) || [];
    box.replaceChildren(el("p", { class: "issue error", text: `${t("refused")} ${e.message}` }),
      el("ul", { class: "errors", id: "upload-errors" }, errors.map((x) => el("li", {}, el("code", { text: x.field }), ` ${x.message}`))));
  }
}

async function loadHistory() {
  const list = await api(`${API}/report-history?org_id=${encodeURIComponent(state.org)}&limit=20`);
  const box = $("history-list");
  if (!list.data.length) { box.replaceChildren(el("p", { class: "muted", text: t("no_history") })); return; }
  box.replaceChildren(el("table", {},
    el("thead", {}, el("tr", {}, [t("period"), t("type"), t("status"), t("generated"), ""].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, list.data.map((r) => el("tr", {},
      el("td", { text: `${day(r.period_from)} – ${day(r.period_to)}` }), el("td", { text: t(`rt_${r.report_type}`) }),
      el("td", { text: t(`rs_${r.status}`) }), el("td", { text: time(r.generated_at) }),
      el("td", {}, r.file_ref ? el("button", { type: "button", class: "secondary", "data-report": r.report_id, text: t("download") }) : "")))),
  ));
}

async function download(event) {
  const id = event.target.dataset && event.target.dataset.report;
  if (!id) return;
  const link = await api(`${API}/report-history/${encodeURIComponent(id)}/download-url`);
  location.assign(link.download_url);
}

// ---- start --------------------------------------------------------------------------------

function show(e) {
  if (e instanceof ApiError && e.status === 401) { signOut(t("signin_failed")); return; }
  message(e.message || String(e));
}

async function open() {
  writeUrl();
  state.snapshot = null;
  render();
  await loadPeriods();
  writeUrl();
  watch();
  await Promise.all([refresh(), loadHistory()]);
}

async function signIn(token) {
  state.token = token;
  state.claims = claimsOf(token);
  $("signin").hidden = true;
  $("controls").hidden = false;
  await loadOrganisations();
  await open();
}

function signOut(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (state.source) state.source.close();
  state.token = null;
  state.snapshot = null;
  render();
  $("history").hidden = true;
  $("controls").hidden = true;
  $("signin").hidden = false;
  connection("offline");
  message(why || "", why ? "error" : "info");
}

document.addEventListener("DOMContentLoaded", () => {
  readUrl();
  $("lang").value = state.lang;
  translate();
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = $("token-input").value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    signIn(token).catch(show);
  });
  $("signout").addEventListener("click", () => signOut());
  $("org").addEventListener("change", () => { state.org = $("org").value; state.period = null; open().catch(show); });
  $("period").addEventListener("change", () => { state.period = $("period").value; open().catch(show); });
  $("lang").addEventListener("change", () => { state.lang = $("lang").value; writeUrl(); translate(); refresh().catch(show); loadHistory().catch(show); });
  $("export-form").addEventListener("submit", startExport);
  $("upload-form").addEventListener("submit", upload);
  $("history-list").addEventListener("click", (e) => download(e).catch(show));
  // The countdown moves on by itself.
  setInterval(renderDeadline, 60000);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token).catch(show); else signOut();
});
