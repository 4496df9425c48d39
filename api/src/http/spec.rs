//! The OpenAPI service: one place that lists every API, so the served spec, `/docs` and the
//! committed `openapi/openapi.yaml` cannot drift apart.

use poem_openapi::OpenApiService;

use crate::http::routes::audit::AuditApi;
use crate::http::routes::bufdir_api::BufdirApi;
use crate::http::routes::deadlines::DeadlinesApi;
use crate::http::routes::deadlines::calendar::CalendarApi;
use crate::http::routes::deadlines::feeds::FeedsApi;
use crate::http::routes::exports::ExportsApi;
use crate::http::routes::health::HealthApi;
use crate::http::routes::organizations::OrganizationsApi;
use crate::http::routes::reexports::ReexportsApi;
use crate::http::routes::report_data::ReportDataApi;
use crate::http::routes::report_diffs::ReportDiffsApi;
use crate::http::routes::report_history::ReportHistoryApi;
use crate::http::routes::sign_offs::SignOffsApi;
use crate::http::routes::source_records::SourceRecordsApi;
use crate::http::routes::watch::WatchApi;
use crate::http::routes::webhooks::WebhooksApi;

pub type Apis = (
    OrganizationsApi,
    SourceRecordsApi,
    WatchApi,
    ReportDataApi,
    ReportDiffsApi,
    SignOffsApi,
    DeadlinesApi,
    CalendarApi,
    FeedsApi,
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
        ReportDiffsApi,
        SignOffsApi,
        DeadlinesApi,
        CalendarApi,
        FeedsApi,
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

/// The operations of the API, as the router and the spec know them.
pub fn meta() -> Vec<poem_openapi::registry::MetaApi> {
    <Apis as poem_openapi::OpenApi>::meta()
}

/// The spec as committed in `openapi/openapi.yaml`.
pub fn yaml() -> String {
    serde_yaml::to_string(&finished(&service())).expect("the spec serialises")
}

/// The generated spec with what poem-openapi cannot say: an optional query parameter may be
/// sent empty (`allowEmptyValue`), and is then not given (`empty_query`), whatever its type.
fn finished(api: &OpenApiService<Apis, ()>) -> serde_yaml::Value {
    let mut spec: serde_yaml::Value =
        serde_yaml::from_str(&api.spec_yaml()).expect("the generated spec is YAML");
    let operations = spec
        .get_mut("paths")
        .and_then(serde_yaml::Value::as_mapping_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_yaml::Value::as_mapping_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let parameters = operation
            .get_mut("parameters")
            .and_then(serde_yaml::Value::as_sequence_mut);
        for parameter in parameters.into_iter().flatten() {
            let optional_query = parameter.get("in").and_then(serde_yaml::Value::as_str)
                == Some("query")
                && parameter
                    .get("required")
                    .and_then(serde_yaml::Value::as_bool)
                    != Some(true);
            if let (true, Some(parameter)) = (optional_query, parameter.as_mapping_mut()) {
                parameter.insert("allowEmptyValue".into(), true.into());
            }
        }
    }
    spec
}

/// The spec as this process serves it (`/openapi.json`, `/openapi.yaml`, `/docs`).
pub struct Served {
    pub json: String,
    pub yaml: String,
    /// Swagger UI's page with this spec in it.
    pub docs: Option<String>,
}

/// The committed spec; or, when identity providers are configured, the committed spec with an
/// `openIdConnect` scheme for each, which every operation accepts beside the local bearer
/// tokens (or instead of them, with `LOCAL_TOKENS=false`). Clients generated from it then know
/// where their tokens come from.
pub fn served(keys: &crate::http::auth::Keys) -> Served {
    let api = service();
    let mut spec = finished(&api);
    if let Some(issuers) = keys.issuers() {
        let schemes = oidc_schemes(issuers);
        with_schemes(&mut spec, &schemes, keys.local_tokens());
    }
    let json = serde_json::to_string_pretty(&spec).expect("the spec serialises");
    let page = api.swagger_ui_html();
    // poem's page embeds the spec text as it generates it; ours goes in its place.
    let docs = page.replacen(&api.spec(), &json, 1);
    debug_assert_ne!(docs, page, "the spec is embedded in Swagger UI's page");
    Served {
        yaml: serde_yaml::to_string(&spec).expect("the spec serialises"),
        json,
        docs: Some(docs),
    }
}

/// The scheme name and definition of each identity provider.
fn oidc_schemes(issuers: &crate::http::auth::oidc::Issuers) -> Vec<(String, serde_yaml::Value)> {
    let names = issuers.names();
    let settings = issuers.settings();
    names
        .iter()
        .enumerate()
        .map(|(n, issuer)| {
            let name = if names.len() == 1 {
                "OpenIdConnect".to_string()
            } else {
                format!("OpenIdConnect{}", n + 1)
            };
            let audience = settings
                .audience
                .as_deref()
                .map_or_else(String::new, |aud| format!(" for the audience `{aud}`"));
            let description = format!(
                "`Authorization: Bearer <JWT>` with a token of the identity provider {issuer}{audience}: \
                 roles (`viewer`, `reporter`, `admin`, `service`) in the claim `{}`, organisations \
                 in the claim `{}`.",
                settings.roles_claim, settings.orgs_claim
            );
            let scheme = serde_yaml::to_value(serde_json::json!({
                "type": "openIdConnect",
                "description": description,
                "openIdConnectUrl": format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                ),
            }))
            .expect("a scheme is YAML");
            (name, scheme)
        })
        .collect()
}

const BEARER: &str = "BearerAuth";

/// Adds `schemes` to the spec's security schemes and, wherever an operation accepts the
/// bearer scheme, as alternatives before it; without `local`, the bearer scheme goes.
fn with_schemes(
    spec: &mut serde_yaml::Value,
    schemes: &[(String, serde_yaml::Value)],
    local: bool,
) {
    use serde_yaml::Value;
    let defined = &mut spec["components"]["securitySchemes"];
    if let Value::Mapping(defined) = defined {
        if !local {
            defined.remove(BEARER);
        }
        for (name, scheme) in schemes {
            defined.insert(Value::from(name.as_str()), scheme.clone());
        }
    }
    let Value::Mapping(paths) = &mut spec["paths"] else {
        return;
    };
    for (_, operations) in paths.iter_mut() {
        let Value::Mapping(operations) = operations else {
            continue;
        };
        for (_, operation) in operations.iter_mut() {
            let Some(Value::Sequence(security)) = operation.get_mut("security") else {
                continue;
            };
            let mut accepted = Vec::new();
            for requirement in security.drain(..) {
                if requirement.get(BEARER).is_some() {
                    for (name, _) in schemes {
                        let mut one = serde_yaml::Mapping::new();
                        one.insert(Value::from(name.as_str()), Value::Sequence(vec![]));
                        accepted.push(Value::Mapping(one));
                    }
                    if !local {
                        continue;
                    }
                }
                accepted.push(requirement);
            }
            *security = accepted;
        }
    }
}
