//! The fault-injection endpoint, `/api/v1/admin/faults` (librarians only; routed only with
//! `BIBLIO_FAULT_INJECTION=on`): list, set and clear the faults of [`crate::faults`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::ApiJson;
use crate::domain::member::Caller;
use crate::error::Error;
use crate::faults::{Fault, Faults};

pub async fn list(State(faults): State<Faults>, caller: Caller) -> Result<Json<Vec<Fault>>, Error> {
    caller.require_librarian()?;
    Ok(Json(faults.list()))
}

pub async fn set(
    State(faults): State<Faults>,
    caller: Caller,
    ApiJson(fault): ApiJson<Fault>,
) -> Result<Json<Vec<Fault>>, Error> {
    caller.require_librarian()?;
    let fault = fault.parse()?;
    tracing::warn!(route = %fault.route, error_rate = fault.error_rate, latency_ms = fault.latency_ms, "fault injection set");
    faults.set(fault);
    Ok(Json(faults.list()))
}

pub async fn clear(State(faults): State<Faults>, caller: Caller) -> Result<StatusCode, Error> {
    caller.require_librarian()?;
    faults.clear();
    tracing::warn!("fault injection cleared");
    Ok(StatusCode::NO_CONTENT)
}
