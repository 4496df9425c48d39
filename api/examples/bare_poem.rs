//! The ceiling for the load benchmark (`api/benches/load/run.sh`): a poem server with one
//! handler that answers a small JSON body and does nothing else, on the same runtime settings
//! as the service. Whatever the service loses against it is our own code and the database.

use poem::listener::TcpListener;
use poem::web::Json;
use poem::{Route, Server, get, handler};

#[handler]
fn bare() -> Json<serde_json::Value> {
    Json(serde_json::json!({"org_id": "org-demo", "name": "Demo"}))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".into());
    Server::new(TcpListener::bind(bind))
        .run(Route::new().at("/bare", get(bare)))
        .await
}
