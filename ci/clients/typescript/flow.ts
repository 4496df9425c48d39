// The reporting flow end to end through the TypeScript (fetch) client generated from
// openapi/openapi.yaml.
//
// Environment: BUFDIR_URL (the running server), BUFDIR_TOKEN (an admin token), FLOW_ORG_ID and
// FLOW_ORG_NUMBER (an organisation this flow creates; a valid MOD11 number), BUFDIR_SUBMIT_EXAMPLE
// (the contract's, tests/contracts/bufdir-api/submitToBufdir.json). run.sh generates the client into ../.cache/gen/typescript.
//
// Every call goes through the generated client except the Server-Sent Events watch (generated
// clients do not read event streams) and the signed download links (not API operations). Any
// unexpected status, field or value throws, and the process exits non-zero.

import { readFileSync } from "node:fs";

import {
  AggregatedReportDataApi,
  BufdirApi,
  BufdirExportsApi,
  Configuration,
  HealthApi,
  Lang,
  OrganizationsApi,
  type ExportDetail,
  type Reexport,
  type ReportList,
  type ReportRecord,
  ReportHistoryApi,
  ReportReexportsApi,
  ReportType,
  ResponseError,
  type SnapshotDetail,
  SnapshotStatus,
  type SnapshotSummary,
  SourceRecordsApi,
  type SubmissionStatusView,
  type SubmitPayloadVersionEnum,
  type WatchEvent,
  WatchEventFromJSON,
} from "../.cache/gen/typescript";

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new FlowError(`${name} is not set`);
  return value;
}

class FlowError extends Error {}

const BASE = env("BUFDIR_URL").replace(/\/$/, "");
const TOKEN = env("BUFDIR_TOKEN");
const ORG = env("FLOW_ORG_ID");
const ORG_NUMBER = env("FLOW_ORG_NUMBER");
const EXAMPLE = env("BUFDIR_SUBMIT_EXAMPLE");
const PERIOD = "2025";
const TIMEOUT_MS = Number(process.env.FLOW_TIMEOUT_SECONDS ?? "90") * 1000;

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new FlowError(what);
}

function step(text: string): void {
  console.log(`typescript flow: ${text}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Calls `probe` until it returns something other than undefined. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new FlowError(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

function fieldValue(snapshot: SnapshotDetail, fieldKey: string): number | null | undefined {
  for (const section of snapshot.sections) {
    const field = section.fields.find((f) => f.fieldKey === fieldKey);
    if (field) {
      // A count comes as an integer (the spec says `integer`); hours may have a fraction.
      if (field.unit === "count" && field.value != null) check(Number.isInteger(field.value), `${fieldKey} is a count but ${field.value}`);
      return field.value;
    }
  }
  throw new FlowError(`snapshot ${snapshot.snapshotId} has no field ${fieldKey}`);
}

async function download(url: string): Promise<Buffer> {
  const response = await fetch(url);
  check(response.status === 200, `download answered ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/** A minimal Server-Sent Events reader over fetch's body stream. */
class Watch {
  private readonly abort = new AbortController();
  private buffer = "";
  private queue: SseMessage[] = [];
  private reader?: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private message: Partial<SseMessage> = {};
  connected = false;

  async open(url: string): Promise<void> {
    const response = await fetch(url, {
      headers: { Authorization: `Bearer ${TOKEN}`, Accept: "text/event-stream" },
      signal: this.abort.signal,
    });
    if (response.status !== 200) throw new FlowError(`watch answered ${response.status}: ${await response.text()}`);
    const contentType = response.headers.get("content-type") ?? "";
    check(contentType.startsWith("text/event-stream"), `watch content type ${contentType}`);
    check(response.body !== null, "watch has no body");
    this.reader = response.body.getReader();
    // The server's first line is `retry:`: from then on the subscription is live.
    while (!this.connected) await this.read();
  }

  private async read(): Promise<void> {
    const { value, done } = await this.reader!.read();
    if (done) throw new FlowError("the watch stream ended");
    this.buffer += this.decoder.decode(value, { stream: true });
    let newline: number;
    while ((newline = this.buffer.search(/\r?\n/)) >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + (this.buffer[newline] === "\r" ? 2 : 1));
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === "") {
      if (this.message.data !== undefined) this.queue.push(this.message as SseMessage);
      this.message = {};
      return;
    }
    if (line.startsWith(":")) return; // a comment (heartbeat)
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "retry") this.connected = true;
    else if (name === "data") this.message.data = this.message.data === undefined ? value : `${this.message.data}\n${value}`;
    else if (name === "id") this.message.id = value;
    else if (name === "event") this.message.event = value;
  }

  async next(deadline: number): Promise<SseMessage> {
    while (this.queue.length === 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new FlowError("no watch event in time");
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new FlowError("no watch event in time")), remaining);
      });
      try {
        await Promise.race([this.read(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    }
    return this.queue.shift()!;
  }

  close(): void {
    this.abort.abort();
  }
}

async function main(): Promise<void> {
  const config = new Configuration({ basePath: BASE, accessToken: TOKEN });
  const organizations = new OrganizationsApi(config);
  const sourceRecords = new SourceRecordsApi(config);
  const reportData = new AggregatedReportDataApi(config);
  const bufdir = new BufdirApi(config);
  const exportsApi = new BufdirExportsApi(config);
  const history = new ReportHistoryApi(config);
  const reexports = new ReportReexportsApi(config);
  const health = new HealthApi(config);

  check((await health.healthz()).status === "ok", "healthz is not ok");

  // 1. An organisation.
  const createdRaw = await organizations.createOrganizationRaw({
    createOrganization: { orgId: ORG, name: "Flyt (TypeScript-klient)", organisasjonsnummer: ORG_NUMBER },
    idempotencyKey: crypto.randomUUID(),
  });
  check(createdRaw.raw.status === 201, `create organisation: ${createdRaw.raw.status}`);
  const created = await createdRaw.value();
  check(created.orgId === ORG && created.organisasjonsnummer === ORG_NUMBER, `created ${JSON.stringify(created)}`);
  check(created.createdAt instanceof Date && !Number.isNaN(created.createdAt.getTime()), "created_at is a date");
  check((await organizations.getOrganization({ orgId: ORG })).name === "Flyt (TypeScript-klient)", "read back");
  step(`created organisation ${ORG}`);

  // An error comes back as a problem document.
  try {
    await organizations.getOrganization({ orgId: `${ORG}-missing` });
    throw new FlowError("an unknown organisation was found");
  } catch (e) {
    if (!(e instanceof ResponseError)) throw e;
    check(e.response.status === 404, `unknown organisation: ${e.response.status}`);
    check((e.response.headers.get("content-type") ?? "").startsWith("application/problem+json"), "problem type");
    const problem = (await e.response.json()) as { status: number; title: string };
    check(problem.status === 404 && problem.title === "Not Found", `problem ${JSON.stringify(problem)}`);
  }

  // 2. Source records.
  const imported = await sourceRecords.importSourceRecords({
    importRecords: {
      organizationId: ORG,
      dataSource: "flow-typescript",
      records: [
        { recordId: "t-1", occurredOn: "2025-03-01", metric: "emergency_placements", value: 2 },
        { recordId: "t-2", occurredOn: "2025-04-15", metric: "foster_home_placements", value: 3 },
        { recordId: "t-3", occurredOn: "2024-05-01", metric: "emergency_placements", value: 1 },
      ],
    },
    idempotencyKey: crypto.randomUUID(),
  });
  check(imported.recordsImported === 3, `imported ${imported.recordsImported}`);
  for (const period of ["2024", "2025", "2025-Q1", "2025-Q2"]) check(imported.periods.includes(period), `period ${period}`);
  const listed = await sourceRecords.listSourceRecords({ organizationId: ORG, periodId: PERIOD });
  check(listed.pagination.total === 2, `2025 records: ${listed.pagination.total}`);
  step("imported 3 source records");

  // 3. A snapshot: POST, then the GET until it is current.
  const jobRaw = await reportData.triggerAggregationRaw({
    triggerAggregation: { organizationId: ORG, periodId: PERIOD, forceReaggregate: true },
  });
  check([200, 202].includes(jobRaw.raw.status), `trigger aggregation: ${jobRaw.raw.status}`);
  const job = await jobRaw.value();
  const snapshot = await waitFor("the snapshot to be current", async () => {
    const current = await reportData.getSnapshot({ id: job.snapshotId, lang: Lang.En });
    check(current.snapshotStatus !== SnapshotStatus.Failed, `aggregation failed: ${current.errorMessage}`);
    return current.snapshotStatus === SnapshotStatus.Current && current.cacheValid ? current : undefined;
  });
  check(fieldValue(snapshot, "antall_akuttplasseringer") === 2, "2025 emergency placements");
  check(snapshot.priorPeriod.periodId === "2024", `prior period ${snapshot.priorPeriod.periodId}`);
  step(`snapshot ${snapshot.snapshotId} is current`);

  // 4. The live watch (bearer header), then a second import that must show up as data_updated.
  const watch = new Watch();
  const query = new URLSearchParams({ organization_id: ORG, period_id: PERIOD });
  let eventId = "";
  await watch.open(`${BASE}/api/v1/aggregated-report-data/watch?${query}`);
  try {
    const second = await sourceRecords.importSourceRecords({
      importRecords: {
        organizationId: ORG,
        dataSource: "flow-typescript",
        records: [{ recordId: "t-4", occurredOn: "2025-06-01", metric: "emergency_placements", value: 5 }],
      },
    });
    check(second.recordsImported === 1, "second import");
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const message = await watch.next(deadline);
      check(/^\d+$/.test(message.id ?? ""), `event id ${message.id}`);
      const event: WatchEvent = WatchEventFromJSON(JSON.parse(message.data));
      check(event.event === message.event, `event ${JSON.stringify(message)}`);
      check(event.organizationId === ORG && event.periodId === PERIOD, `event for ${JSON.stringify(event)}`);
      if (event.event === "data_updated") {
        check(event.changedFieldKeys.includes("antall_akuttplasseringer"), `changed ${event.changedFieldKeys}`);
        eventId = message.id!;
        break;
      }
      check(event.event === "snapshot_status_changed", `unknown event ${message.event}`);
    }
  } finally {
    watch.close();
  }
  step(`watch delivered data_updated (event id ${eventId})`);

  const current = await waitFor<SnapshotSummary>("the re-aggregated snapshot", async () => {
    const page = await reportData.listSnapshots({
      organizationId: ORG,
      periodId: PERIOD,
      snapshotStatus: SnapshotStatus.Current,
    });
    return page.data.find((s) => s.cacheValid);
  });
  const refreshed = await reportData.getSnapshot({ id: current.snapshotId });
  check(fieldValue(refreshed, "antall_akuttplasseringer") === 7, "figure after the second import");

  // 5. An Excel export to completion, and its file.
  const queuedRaw = await exportsApi.createExportRaw({
    createExport: {
      orgId: ORG,
      format: "excel",
      periodFrom: new Date("2025-01-01"),
      periodTo: new Date("2025-12-31"),
      activityTypes: [],
      includeAttachments: true,
      submitToBufdirApi: false,
    },
    idempotencyKey: crypto.randomUUID(),
  });
  check(queuedRaw.raw.status === 202, `create export: ${queuedRaw.raw.status}`);
  const exportId = (await queuedRaw.value()).exportId;
  const exported = await waitFor<ExportDetail>("the export to complete", async () => {
    const detail = await exportsApi.getExport({ exportId });
    check(!["failed", "cancelled"].includes(detail.status), `export ${detail.status}: ${detail.errorMessage}`);
    return detail.status === "completed" ? detail : undefined;
  });
  check(exported.progress.total > 0 && exported.progress.done === exported.progress.total, "export progress");
  check(typeof exported.fileUrl === "string" && (exported.fileName ?? "").endsWith(".xlsx"), "export file");
  const file = await download(exported.fileUrl!);
  check(file.subarray(0, 2).toString("latin1") === "PK", "the Excel file does not start with PK");
  check(file.length === exported.fileSizeBytes, "file size");
  const tampered = await fetch(exported.fileUrl!.replace(/signature=([0-9a-f])/, (_, c) => `signature=${c === "0" ? "1" : "0"}`));
  check(tampered.status === 403, `a tampered link answered ${tampered.status}`);
  step(`export ${exportId} completed (${file.length} bytes)`);

  // 6. Bufdir: validate, credentials, submit, status.
  // The contract's own example payload, with this organisation's number in place of its
  // 912345678 (which has no valid MOD11 check digit).
  const example = (JSON.parse(readFileSync(EXAMPLE, "utf8")) as { request: { payload_version: string; payload: Record<string, unknown> } }).request;
  const payload = { ...example.payload, organisasjonsnummer: ORG_NUMBER };
  const verdict = await bufdir.validateBufdirPayload({
    validatePayload: { payloadVersion: example.payload_version, payload },
  });
  check(verdict.isValid && verdict.errors.length === 0, `payload invalid: ${JSON.stringify(verdict.errors)}`);
  check(
    JSON.stringify(verdict.warnings) === JSON.stringify(["Field 'kontaktperson' is recommended but not present."]),
    `warnings ${JSON.stringify(verdict.warnings)}`,
  );
  const token = await bufdir.authenticateBufdir({
    authenticate: { clientId: "demo-client", clientSecret: "demo-secret", orgId: ORG },
  });
  check(token.orgId === ORG && token.expiresIn > 0 && token.accessToken.length > 0, "Bufdir token");
  const receiptRaw = await bufdir.submitToBufdirRaw({
    submit: { reportId: exportId, orgId: ORG, payloadVersion: example.payload_version as SubmitPayloadVersionEnum, payload },
    idempotencyKey: crypto.randomUUID(),
  });
  check([200, 202].includes(receiptRaw.raw.status), `submit: ${receiptRaw.raw.status}`);
  const receipt = await receiptRaw.value();
  check(receipt.orgId === ORG && receipt.reportId === exportId, `receipt ${JSON.stringify(receipt)}`);
  const status = await waitFor<SubmissionStatusView>("Bufdir to accept the submission", async () => {
    const current = await bufdir.getBufdirSubmissionStatus({ referenceId: receipt.submissionId });
    check(!["rejected", "failed"].includes(current.status), `submission ${current.status}: ${current.lastError}`);
    return current.status === "accepted" ? current : undefined;
  });
  check(typeof status.referenceId === "string", "no Bufdir reference");
  const byReference = await bufdir.getBufdirSubmissionStatus({ referenceId: status.referenceId! });
  check(byReference.submissionId === receipt.submissionId, "status by Bufdir's reference");
  step(`submission ${receipt.submissionId} accepted as ${status.referenceId}`);

  // 7. The export's report in the history, and a re-export of it.
  const report = await waitFor<ReportRecord>("the export's report in the history", async () => {
    const page = await history.listReportHistory({ orgId: ORG, reportType: ReportType.AnnualSummary });
    return page.data.find((r) => r.exportId === exportId && r.status === "completed");
  });
  const day = (d: Date) => d.toISOString().slice(0, 10);
  check(day(report.periodFrom) === "2025-01-01" && day(report.periodTo) === "2025-12-31", `report ${JSON.stringify(report)}`);
  const link = await history.getReportDownloadUrl({ reportId: report.reportId });
  check((await download(link.downloadUrl)).subarray(0, 2).toString("latin1") === "PK", "report file");

  const reexportRaw = await reexports.createReexportRaw({
    createReexport: {
      reportId: report.reportId,
      exportParams: { format: "csv", includeAnnexes: true, locale: "en-GB" },
      notifyOnCompletion: false,
    },
    idempotencyKey: crypto.randomUUID(),
  });
  check(reexportRaw.raw.status === 202, `create re-export: ${reexportRaw.raw.status}`);
  const reexport = await reexportRaw.value();
  check(reexport.reportId === report.reportId && reexport.exportParams.format === "csv", "re-export params");
  const done = await waitFor<Reexport>("the re-export to complete", async () => {
    const current = await reexports.getReexport({ reexportId: reexport.reexportId });
    check(!["failed", "cancelled"].includes(current.status), `re-export ${current.status}: ${current.errorMessage}`);
    return current.status === "completed" ? current : undefined;
  });
  check(typeof done.outputFileRef === "string" && (done.outputFileSizeBytes ?? 0) > 0, "re-export file");
  check(done.asOfPosition === report.sourcePosition, "re-export read the log as of the report");
  step(`re-export ${done.reexportId} completed`);

  // 8. The history: the export's report and the re-export's.
  const page = await waitFor<ReportList>("the re-export's report in the history", async () => {
    const list = await history.listReportHistory({ orgId: ORG });
    return list.pagination.total >= 2 ? list : undefined;
  });
  const made = page.data.map((r) => r.exportId);
  check(made.includes(exportId) && made.includes(done.reexportId), `history holds ${made}`);
  const csv = page.data.find((r) => r.exportId === done.reexportId)!;
  check((await history.getReportHistory({ reportId: csv.reportId })).status === "completed", "re-export's report");
  const csvLink = await history.getReportDownloadUrl({ reportId: csv.reportId });
  const csvText = (await download(csvLink.downloadUrl)).toString("utf8");
  check(csvText.includes(","), "the English re-export is a comma-separated file");
  step(`history holds ${page.pagination.total} reports`);
  console.log("typescript flow: OK");
}

main().catch(async (e: unknown) => {
  const detail =
    e instanceof ResponseError
      ? `HTTP ${e.response.status} from ${e.response.url}: ${await e.response.text().catch(() => "")}`
      : String(e);
  console.error(`typescript flow: FAILED: ${detail}`);
  if (!(e instanceof FlowError) && e instanceof Error) console.error(e.stack);
  process.exit(1);
});
