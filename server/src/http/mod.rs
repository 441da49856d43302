//! The HTTPS analysis service: routes, the error boundary, request ids, metrics and logs.
//!
//! The service knows nothing of matching: it hands files to the engine on a CPU pool and
//! serialises what comes back. [`configure`] builds the whole app, so tests drive it
//! in-process with `actix_web::test::init_service` as well as over TLS.

pub mod analyze;
pub mod api;
pub mod auth;
pub mod body;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod registry;
pub mod routes;
pub mod state;
pub mod tls;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};

use error::ApiError;
use state::AppState;

/// The request id header, echoed or generated.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Adds every route of the service to `cfg`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use actix_web::http::Method;
    cfg.service(
        web::scope("/v1")
            .service(only("/analyze", Method::POST, analyze::analyze_handler))
            .service(only("/playbooks/validate", Method::POST, routes::validate))
            .service(only("/playbooks", Method::GET, routes::list_playbooks))
            .service(only("/playbooks/{id}", Method::GET, routes::get_playbook))
            .service(only("/info", Method::GET, routes::info)),
    )
    .service(only("/healthz", Method::GET, routes::healthz))
    .service(only("/readyz", Method::GET, routes::readyz))
    .service(only("/metrics", Method::GET, routes::metrics))
    .service(only("/openapi.json", Method::GET, routes::openapi_json))
    .default_service(web::to(|| async {
        ApiError::not_found(
            "not_found",
            "no such endpoint; GET /openapi.json lists them",
        )
        .error_response()
    }));
}

/// An endpoint answering `method` with `handler`; any other method gets 405 with `Allow`.
fn only<F, Args>(path: &str, method: actix_web::http::Method, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let allow = method.as_str().to_string();
    web::resource(path)
        .route(web::method(method).to(handler))
        .default_service(web::to(move || {
            let error = ApiError::method_not_allowed(&allow);
            async move { error.error_response() }
        }))
}

fn request_id(req: &ServiceRequest) -> String {
    let given = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()));
    match given {
        Some(id) => id.to_string(),
        None => {
            use std::sync::atomic::{AtomicU64, Ordering};
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            format!("{:x}-{n:x}", t & 0xffff_ffff_ffff)
        }
    }
}

/// Whether a route needs an API key (health, readiness, metrics and the document stay open).
fn is_open(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/openapi.json")
}

/// Authentication, rate limit, request id, metrics and the access log, around every route.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let endpoint = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let early = state
        .as_ref()
        .and_then(|state| check_access(state, &req).err());
    let mut response = match early {
        Some(error) => {
            let (request, _) = req.into_parts();
            ServiceResponse::new(request, error.error_response()).map_into_right_body()
        }
        None => {
            req.extensions_mut().insert(RequestId(id.clone()));
            next.call(req).await?.map_into_left_body()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(state) = &state {
        state
            .metrics
            .requests
            .with_label_values(&[&endpoint, &status.to_string()])
            .inc();
        state
            .metrics
            .request_duration
            .with_label_values(&[&endpoint])
            .observe(elapsed.as_secs_f64());
    }
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %endpoint,
        status,
        duration_ms = elapsed.as_millis() as u64,
        "request"
    );
    Ok(response)
}

/// The request id of a request, for handlers that log.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn check_access(state: &AppState, req: &ServiceRequest) -> Result<(), ApiError> {
    if is_open(req.path()) {
        return Ok(());
    }
    let keys = state.keys.load();
    if !keys.enabled() {
        return Ok(());
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(digest) = token.and_then(|t| keys.check(t)) else {
        state
            .metrics
            .rejected
            .with_label_values(&["unauthorized"])
            .inc();
        return Err(ApiError::unauthorized());
    };
    if let Some(limiter) = &state.rate
        && let Err(wait) = limiter.take(digest)
    {
        state
            .metrics
            .rejected
            .with_label_values(&["rate_limited"])
            .inc();
        return Err(ApiError::rate_limited(wait));
    }
    Ok(())
}
