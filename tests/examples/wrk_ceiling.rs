//! The ceiling for `tests/wrk/run.sh`: a minimal axum app that answers every GET with a
//! fixed JSON body the size of a typical `GET /schemas/ids/{id}` answer, on the same
//! runtime setup as `accord serve` (tokio's multi-thread runtime). Whatever Accord
//! spends above this, per request, is its own overhead.
//!
//! Run: `cargo run --release -p accord-tests --example wrk_ceiling -- 127.0.0.1:18081`.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const BODY: &str = r#"{"schema":"{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"com.acme\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"customer\",\"type\":\"string\"},{\"name\":\"amount\",\"type\":\"double\"}]}"}"#;

async fn fixed() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/vnd.schemaregistry.v1+json",
        )],
        BODY,
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".to_string());
    let app = axum::Router::new().fallback(get(fixed));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("ceiling listening on {addr}");
    axum::serve(listener, app).await
}
