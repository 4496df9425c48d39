#!/usr/bin/env python3
"""The reporting flow end to end through the Python client generated from openapi/openapi.yaml.

Environment: BUFDIR_URL (the running server), BUFDIR_TOKEN (an admin token), FLOW_ORG_ID and
FLOW_ORG_NUMBER (an organisation this flow creates; a valid MOD11 number), BUFDIR_SUBMIT_EXAMPLE
(the contract's, tests/contracts/bufdir-api/submitToBufdir.json). The generated package `bufdir_client` must be importable.

Every call goes through the generated client except the Server-Sent Events watch (generated
clients do not read event streams) and the signed download links (not API operations). Any
unexpected status, field or value raises, and the process exits non-zero.
"""

from __future__ import annotations

import datetime
import json
import os
import queue
import socket
import sys
import threading
import time
import uuid
from typing import Any, Callable, Optional, TypeVar

import requests

import bufdir_client as bc
from bufdir_client.exceptions import ApiException

T = TypeVar("T")

BASE = os.environ["BUFDIR_URL"].rstrip("/")
TOKEN = os.environ["BUFDIR_TOKEN"]
ORG = os.environ["FLOW_ORG_ID"]
ORG_NUMBER = os.environ["FLOW_ORG_NUMBER"]
EXAMPLE = os.environ["BUFDIR_SUBMIT_EXAMPLE"]
PERIOD = "2025"
TIMEOUT = float(os.environ.get("FLOW_TIMEOUT_SECONDS", "90"))


class FlowError(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise FlowError(what)


def step(text: str) -> None:
    print(f"python flow: {text}", flush=True)


def wait_for(what: str, probe: Callable[[], Optional[T]], timeout: float = TIMEOUT) -> T:
    """Calls `probe` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise FlowError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def expect_status(response: Any, *statuses: int) -> Any:
    check(
        response.status_code in statuses,
        f"expected HTTP {statuses}, got {response.status_code}: {response.data!r}",
    )
    return response.data


def field_value(snapshot: bc.SnapshotDetail, field_key: str) -> Optional[float]:
    """A field's figure; a count must come as an integer (the spec says `integer`)."""
    for section in snapshot.sections:
        for wrapper in section.fields:
            field = wrapper.actual_instance  # a count or an hours field (oneOf on `unit`)
            if field.field_key == field_key:
                if field.unit == "count" and field.value is not None:
                    check(type(field.value) is int, f"{field_key} is a count but {field.value!r}")
                return field.value
    raise FlowError(f"snapshot {snapshot.snapshot_id} has no field {field_key}")


def unexpected_fields(model: Any, raw: Any, path: str = "") -> list[str]:
    """The JSON members the generated model does not declare (the spec does not know them)."""
    if isinstance(raw, list) and isinstance(model, list):
        return [f for i, (m, r) in enumerate(zip(model, raw)) for f in unexpected_fields(m, r, f"{path}/{i}")]
    actual = getattr(model, "actual_instance", None)  # a oneOf wrapper
    if actual is not None:
        return unexpected_fields(actual, raw, path)
    declared = getattr(type(model), f"_{type(model).__name__}__properties", None)
    if declared is None or not isinstance(raw, dict):
        return []
    found = [f"{path}/{key}" for key in raw if key not in declared]
    for key in declared:
        if key in raw and hasattr(model, key):
            found += unexpected_fields(getattr(model, key), raw[key], f"{path}/{key}")
    return found


class StrictApiClient(bc.ApiClient):
    """The generated client, failing on response members the spec does not declare."""

    def deserialize(self, response_text: str, response_type: str, content_type: Optional[str]) -> Any:
        result = super().deserialize(response_text, response_type, content_type)
        if response_text and content_type and "json" in content_type:
            extra = unexpected_fields(result, json.loads(response_text))
            check(not extra, f"{response_type} has members the spec does not declare: {extra}")
        return result


class Watch:
    """A minimal Server-Sent Events reader on its own thread: each message goes to a queue."""

    def __init__(self, url: str, params: dict[str, str]) -> None:
        self.events: queue.Queue[dict[str, str]] = queue.Queue()
        self.connected = threading.Event()
        self.error: Optional[BaseException] = None
        self.response = requests.get(
            url, params=params, stream=True, timeout=(5, 60), headers={"Accept": "text/event-stream"}
        )
        if self.response.status_code != 200:  # (the body of a 200 never ends: read it only here)
            raise FlowError(f"watch answered {self.response.status_code}: {self.response.text}")
        content_type = self.response.headers.get("content-type", "")
        check(content_type.startswith("text/event-stream"), f"watch content type {content_type!r}")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        message: dict[str, str] = {}
        try:
            # chunk_size=None: each HTTP chunk as it arrives (a fixed size would wait for it to fill).
            for raw in self.response.iter_lines(chunk_size=None, decode_unicode=True):
                line = raw if raw is not None else ""
                if line == "":
                    if "data" in message:
                        self.events.put(message)
                    message = {}
                    continue
                if line.startswith(":"):
                    continue  # a comment (heartbeat)
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "retry":
                    self.connected.set()  # the server's first line: the subscription is live
                elif name == "data":
                    message["data"] = message["data"] + "\n" + value if "data" in message else value
                else:
                    message[name] = value
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            if not self.closed:
                self.error = e
        finally:
            self.connected.set()

    closed = False

    def next(self, timeout: float) -> dict[str, str]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise FlowError(f"no event within {timeout:.0f} s (reader error: {self.error!r})") from None

    def close(self) -> None:
        self.closed = True
        # The reader thread is blocked in a read of the socket, holding the buffer's lock that
        # close() needs; shutting the socket down first ends that read (else close() waits for the
        # next heartbeat).
        sock = getattr(getattr(self.response.raw, "_connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.response.close()
        self.thread.join(5)


def main() -> None:
    config = bc.Configuration(host=BASE, access_token=TOKEN)
    client = StrictApiClient(config)
    organizations = bc.OrganizationsApi(client)
    source_records = bc.SourceRecordsApi(client)
    report_data = bc.AggregatedReportDataApi(client)
    bufdir = bc.BufdirApi(client)
    exports = bc.BufdirExportsApi(client)
    history = bc.ReportHistoryApi(client)
    reexports = bc.ReportReexportsApi(client)
    health = bc.HealthApi(client)

    check(health.healthz().status == "ok", "healthz is not ok")

    # 1. An organisation.
    created = expect_status(
        organizations.create_organization_with_http_info(
            bc.CreateOrganization(org_id=ORG, name="Flyt (Python-klient)", organisasjonsnummer=ORG_NUMBER),
            idempotency_key=str(uuid.uuid4()),
        ),
        201,
    )
    check(created.org_id == ORG and created.organisasjonsnummer == ORG_NUMBER, f"created {created!r}")
    check(organizations.get_organization(ORG).name == "Flyt (Python-klient)", "organisation read back")
    step(f"created organisation {ORG}")

    # An error comes back as a Problem the client can read.
    try:
        organizations.get_organization(f"{ORG}-missing")
        raise FlowError("an unknown organisation was found")
    except ApiException as e:
        check(e.status == 404, f"unknown organisation: {e.status}")
        problem = bc.Problem.from_json(e.body)
        check(problem.status == 404 and problem.title == "Not Found", f"problem {problem!r}")
        check((e.headers or {}).get("content-type", "").startswith("application/problem+json"), "problem content type")

    # 2. Source records.
    imported = source_records.import_source_records(
        bc.ImportRecords(
            organization_id=ORG,
            data_source="flow-python",
            records=[
                bc.RecordInput(record_id="p-1", occurred_on="2025-03-01", metric="emergency_placements", value=2),
                bc.RecordInput(record_id="p-2", occurred_on="2025-04-15", metric="foster_home_placements", value=3),
                bc.RecordInput(record_id="p-3", occurred_on="2024-05-01", metric="emergency_placements", value=1),
            ],
        ),
        idempotency_key=str(uuid.uuid4()),
    )
    check(imported.records_imported == 3, f"imported {imported.records_imported}")
    check({"2025", "2025-Q1", "2025-Q2", "2024"} <= set(imported.periods), f"periods {imported.periods}")
    listed = source_records.list_source_records(organization_id=ORG, period_id=PERIOD)
    check(listed.pagination.total == 2, f"2025 records: {listed.pagination.total}")
    step("imported 3 source records")

    # 3. A snapshot: POST, then the GET until it is current.
    job = expect_status(
        report_data.trigger_aggregation_with_http_info(
            bc.TriggerAggregation(organization_id=ORG, period_id=PERIOD, force_reaggregate=True)
        ),
        200,
        202,
    )
    check(job.organization_id == ORG and job.period_id == PERIOD, f"job {job!r}")

    def current_snapshot() -> Optional[bc.SnapshotDetail]:
        snapshot = report_data.get_snapshot(job.snapshot_id, lang=bc.Lang.EN)
        check(snapshot.snapshot_status != bc.SnapshotStatus.FAILED, f"aggregation failed: {snapshot.error_message}")
        ok = snapshot.snapshot_status == bc.SnapshotStatus.CURRENT and snapshot.cache_valid
        return snapshot if ok else None

    snapshot = wait_for("the snapshot to be current", current_snapshot)
    check(field_value(snapshot, "antall_akuttplasseringer") == 2, "2025 emergency placements")
    check(snapshot.prior_period.period_id == "2024", f"prior period {snapshot.prior_period.period_id}")
    step(f"snapshot {snapshot.snapshot_id} is current")

    # 4. The live watch (query token), then a second import that must show up as data_updated.
    watch = Watch(
        f"{BASE}/api/v1/aggregated-report-data/watch",
        {"organization_id": ORG, "period_id": PERIOD, "access_token": TOKEN},
    )
    try:
        check(watch.connected.wait(10) and watch.error is None, f"watch did not start: {watch.error!r}")
        second = source_records.import_source_records(
            bc.ImportRecords(
                organization_id=ORG,
                data_source="flow-python",
                records=[
                    bc.RecordInput(record_id="p-4", occurred_on="2025-06-01", metric="emergency_placements", value=5)
                ],
            )
        )
        check(second.records_imported == 1, "second import")
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = watch.next(max(1.0, deadline - time.monotonic()))
            check(message.get("id", "").isdigit(), f"event id {message.get('id')!r}")
            event = bc.WatchEvent.from_json(message["data"]).actual_instance
            check(event is not None and event.event == message.get("event"), f"event {message!r}")
            check(event.organization_id == ORG and event.period_id == PERIOD, f"event for {event!r}")
            if isinstance(event, bc.WatchEventDataUpdated):
                check("antall_akuttplasseringer" in event.changed_field_keys, f"changed {event.changed_field_keys}")
                break
            check(isinstance(event, bc.WatchEventSnapshotStatusChanged), f"unknown event {event!r}")
    finally:
        watch.close()
    step(f"watch delivered data_updated (event id {message['id']})")

    def refreshed() -> Optional[bc.SnapshotSummary]:
        page = report_data.list_snapshots(
            organization_id=ORG, period_id=PERIOD, snapshot_status=bc.SnapshotStatus.CURRENT
        )
        return next((s for s in page.data if s.cache_valid), None)

    current = wait_for("the re-aggregated snapshot", refreshed)
    check(field_value(report_data.get_snapshot(current.snapshot_id), "antall_akuttplasseringer") == 7, "figure after import")

    # 5. An Excel export to completion, and its file.
    queued = expect_status(
        exports.create_export_with_http_info(
            bc.CreateExport(
                org_id=ORG,
                format="excel",
                period_from=datetime.date(2025, 1, 1),
                period_to=datetime.date(2025, 12, 31),
                activity_types=[],
                include_attachments=True,
                submit_to_bufdir_api=False,
            ),
            idempotency_key=str(uuid.uuid4()),
        ),
        202,
    )
    export_id = queued.export_id

    def completed_export() -> Optional[bc.ExportDetail]:
        export = exports.get_export(export_id)
        check(export.status not in ("failed", "cancelled"), f"export {export.status}: {export.error_message}")
        return export if export.status == "completed" else None

    export = wait_for("the export to complete", completed_export)
    check(export.progress.total > 0 and export.progress.done == export.progress.total, f"progress {export.progress}")
    check(export.file_url is not None and export.file_name.endswith(".xlsx"), f"file {export.file_name}")
    file = requests.get(export.file_url, timeout=30)
    check(file.status_code == 200, f"download answered {file.status_code}")
    check(file.content[:2] == b"PK", "the Excel file does not start with PK")
    check(len(file.content) == export.file_size_bytes, "file size")
    expires = export.file_url.split("expires=")[1].split("&")[0]
    tampered = requests.get(export.file_url.replace(f"expires={expires}", f"expires={int(expires) + 1}"), timeout=30)
    check(tampered.status_code == 403, f"a tampered link answered {tampered.status_code}")
    check(tampered.headers.get("content-type", "").startswith("application/problem+json"), "tampered link problem")
    step(f"export {export_id} completed ({len(file.content)} bytes)")

    # 6. Bufdir: validate, credentials, submit, status.
    # The contract's own example payload, with this organisation's number in place of its
    # 912345678 (which has no valid MOD11 check digit).
    with open(EXAMPLE, encoding="utf-8") as f:
        example = json.load(f)["request"]
    payload = example["payload"]
    payload["organisasjonsnummer"] = ORG_NUMBER
    verdict = bufdir.validate_bufdir_payload(
        bc.ValidatePayload(payload_version=example["payload_version"], payload=payload)
    )
    check(verdict.is_valid and not verdict.errors, f"payload invalid: {verdict.errors}")
    check(
        verdict.warnings == ["Field 'kontaktperson' is recommended but not present."],
        f"warnings {verdict.warnings}",
    )
    token = bufdir.authenticate_bufdir(
        bc.Authenticate(client_id="demo-client", client_secret="demo-secret", org_id=ORG)
    )
    check(token.org_id == ORG and token.expires_in > 0 and token.access_token, f"token {token.token_type}")
    receipt = expect_status(
        bufdir.submit_to_bufdir_with_http_info(
            bc.Submit(report_id=export_id, org_id=ORG, payload_version=example["payload_version"], payload=payload),
            idempotency_key=str(uuid.uuid4()),
        ),
        200,
        202,
    )
    check(receipt.org_id == ORG and receipt.report_id == export_id, f"receipt {receipt!r}")
    check(receipt.status in ("pending", "received", "accepted"), f"submission {receipt.status}: {receipt.last_error}")

    def accepted() -> Optional[bc.SubmissionStatusView]:
        status = bufdir.get_bufdir_submission_status(receipt.submission_id)
        check(status.status not in ("rejected", "failed"), f"submission {status.status}: {status.last_error}")
        return status if status.status == "accepted" else None

    status = wait_for("Bufdir to accept the submission", accepted)
    check(status.reference_id is not None, "no Bufdir reference")
    by_reference = bufdir.get_bufdir_submission_status(status.reference_id)
    check(by_reference.submission_id == receipt.submission_id, "status by Bufdir's reference")
    step(f"submission {receipt.submission_id} accepted as {status.reference_id}")

    # 7. The export's report in the history, and a re-export of it.
    def recorded() -> Optional[bc.ReportRecord]:
        page = history.list_report_history(org_id=ORG, report_type=bc.ReportType.ANNUAL_SUMMARY)
        return next((r for r in page.data if r.export_id == export_id and r.status == "completed"), None)

    report = wait_for("the export's report in the history", recorded)
    check(
        report.period_from == datetime.date(2025, 1, 1) and report.period_to == datetime.date(2025, 12, 31),
        f"report {report!r}",
    )
    link = history.get_report_download_url(report.report_id)
    check(requests.get(link.download_url, timeout=30).content[:2] == b"PK", "report file is not the Excel file")

    reexport = expect_status(
        reexports.create_reexport_with_http_info(
            bc.CreateReexport(
                report_id=report.report_id,
                export_params=bc.ExportParams(format="pdf", include_annexes=False, locale="en-GB"),
                notify_on_completion=False,
            ),
            idempotency_key=str(uuid.uuid4()),
        ),
        202,
    )
    check(reexport.report_id == report.report_id and reexport.export_params.format == "pdf", f"re-export {reexport!r}")

    def reexported() -> Optional[bc.Reexport]:
        current = reexports.get_reexport(reexport.reexport_id)
        check(current.status not in ("failed", "cancelled"), f"re-export {current.status}: {current.error_message}")
        return current if current.status == "completed" else None

    done = wait_for("the re-export to complete", reexported)
    check(done.output_file_ref is not None and (done.output_file_size_bytes or 0) > 0, f"re-export {done!r}")
    check(done.as_of_position == report.source_position, "re-export read the log as of the report")
    step(f"re-export {done.reexport_id} completed")

    # 8. The history: the export's report and the re-export's.
    def both() -> Optional[bc.ReportList]:
        page = history.list_report_history(org_id=ORG)
        return page if page.pagination.total >= 2 else None

    page = both() or wait_for("the re-export's report in the history", both)
    ids = {r.export_id for r in page.data}
    check({export_id, done.reexport_id} <= ids, f"history holds {ids}")
    pdf = next(r for r in page.data if r.export_id == done.reexport_id)
    check(history.get_report_history(pdf.report_id).status == "completed", "re-export's report")
    pdf_link = history.get_report_download_url(pdf.report_id)
    check(requests.get(pdf_link.download_url, timeout=30).content[:4] == b"%PDF", "re-export file is not a PDF")
    step(f"history holds {page.pagination.total} reports")
    print("python flow: OK", flush=True)


if __name__ == "__main__":
    try:
        main()
    except (FlowError, ApiException) as e:
        print(f"python flow: FAILED: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
