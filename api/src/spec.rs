//! The OpenAPI service: one place that lists every API, so the served spec, `/docs` and the
//! committed `openapi/openapi.yaml` cannot drift apart.

use poem_openapi::OpenApiService;

use crate::routes::audit::AuditApi;
use crate::routes::bufdir_api::BufdirApi;
use crate::routes::exports::ExportsApi;
use crate::routes::health::HealthApi;
use crate::routes::organizations::OrganizationsApi;
use crate::routes::reexports::ReexportsApi;
use crate::routes::report_data::ReportDataApi;
use crate::routes::report_history::ReportHistoryApi;
use crate::routes::source_records::SourceRecordsApi;
use crate::routes::watch::WatchApi;
use crate::routes::webhooks::WebhooksApi;

pub type Apis = (
    OrganizationsApi,
    SourceRecordsApi,
    WatchApi,
    ReportDataApi,
    BufdirApi,
    ExportsApi,
    ReportHistoryApi,
    ReexportsApi,
    WebhooksApi,
    AuditApi,
    HealthApi,
);

pub fn service() -> OpenApiService<Apis, ()> {
    let apis = (
        OrganizationsApi,
        SourceRecordsApi,
        WatchApi,
        ReportDataApi,
        BufdirApi,
        ExportsApi,
        ReportHistoryApi,
        ReexportsApi,
        WebhooksApi,
        AuditApi,
        HealthApi,
    );
    OpenApiService::new(apis, "Bufdir reporting API", env!("CARGO_PKG_VERSION"))
    .license(env!("CARGO_PKG_LICENSE"))
    .description(
        "Reporting to Bufdir (Barne-, ungdoms- og familiedirektoratet): source data, aggregated \
             report snapshots, exports, submission and report history. Errors are \
             application/problem+json (RFC 9457). Authenticate with `Authorization: Bearer <JWT>`.",
    )
    .server("/")
}

/// The spec as committed in `openapi/openapi.yaml`.
pub fn yaml() -> String {
    service().spec_yaml()
}
