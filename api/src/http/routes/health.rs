//! Liveness and readiness for orchestrators: alive while the process answers, ready while the
//! store answers and every projection is close enough to the log for reads to be current.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use crate::http::routes::ApiTags;
use crate::http::state::AppState;

pub struct HealthApi;

/// A projection is "ready" while it is fewer than this many events behind the log.
const READY_LAG: usize = 1000;

/// How long readiness waits for the store and the checkpoints before answering "not ready".
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// `ok`: the process answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum Liveness {
    Ok,
}

/// `ready`, or `not_ready` while the store does not answer or a projection lags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ReadyStatus {
    Ready,
    NotReady,
}

#[derive(Debug, Object)]
pub(crate) struct Alive {
    pub status: Liveness,
}

#[derive(Debug, Object)]
pub(crate) struct Readiness {
    pub status: ReadyStatus,
    pub store: StoreStatus,
    pub projections: Vec<ProjectionStatus>,
    /// The identity providers (`OIDC_ISSUER`) and whether their keys could be fetched last
    /// time. An unreachable one does not make the service unready: the keys it has keep
    /// working.
    pub identity_providers: Vec<IdentityProviderStatus>,
}

#[derive(Debug, Object)]
pub(crate) struct IdentityProviderStatus {
    pub issuer: String,
    pub reachable: bool,
}

#[derive(Debug, Object)]
pub(crate) struct StoreStatus {
    pub backend: String,
    pub reachable: bool,
    /// The newest position in the log, as an opaque string.
    #[oai(nullable)]
    pub head: Option<String>,
}

#[derive(Debug, Object)]
pub(crate) struct ProjectionStatus {
    pub name: String,
    #[oai(nullable)]
    pub checkpoint: Option<String>,
    /// Events still to apply (counted up to 1000).
    pub lag: u64,
}

#[derive(ApiResponse)]
pub(crate) enum ReadyResponse {
    /// The store is reachable and every projection is within the lag bound.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// Not ready: the body says what is wrong.
    #[oai(status = 503)]
    NotReady(Json<Readiness>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: the process answers.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<Alive> {
        Json(Alive {
            status: Liveness::Ok,
        })
    }

    /// Readiness: the store answers and the projections are current.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(
        &self,
        state: Data<&AppState>,
        keys: Data<&crate::http::auth::Keys>,
    ) -> ReadyResponse {
        // A database that is down may not refuse at once (a pool waiting for a connection): a
        // load balancer needs its answer now, and "not ready" is the answer.
        let checked = tokio::time::timeout(READY_WITHIN, async {
            (state.db.events.head().await, state.projections.lag().await)
        })
        .await;
        let (head, lags) = match checked {
            Ok((head, lags)) => (head.ok(), lags.ok()),
            Err(_) => (None, None),
        };
        let reachable = head.is_some() && lags.is_some();
        let projections: Vec<ProjectionStatus> = lags
            .unwrap_or_default()
            .into_iter()
            .map(|l| ProjectionStatus {
                name: l.name.to_string(),
                checkpoint: l.checkpoint.map(|p| p.to_string()),
                lag: l.behind as u64,
            })
            .collect();
        let ready = reachable && projections.iter().all(|p| (p.lag as usize) < READY_LAG);
        let body = Readiness {
            status: if ready {
                ReadyStatus::Ready
            } else {
                ReadyStatus::NotReady
            },
            store: StoreStatus {
                backend: state.db.events.backend_name().into(),
                reachable,
                head: head.flatten().map(|p| p.to_string()),
            },
            projections,
            identity_providers: keys
                .issuers()
                .map(|i| i.reachable())
                .unwrap_or_default()
                .into_iter()
                .map(|(issuer, reachable)| IdentityProviderStatus { issuer, reachable })
                .collect(),
        };
        if ready {
            ReadyResponse::Ready(Json(body))
        } else {
            ReadyResponse::NotReady(Json(body))
        }
    }
}
