//! One place decides which error becomes which HTTP answer.
//!
//! Caller's mistakes → 4xx with a stable `{"error":{"code","message"}}`;
//! a dependency's failure → 502/503 with `Retry-After`, the cause in the log.

use crate::lifecycle::{Outcome, OutcomeKind, PowerError};
use crate::ops::OpsError;
use crate::ports::{PlatformError, StoreError};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// The lifecycle core's outcome as an HTTP status (Power, the OCI Function).
pub fn outcome_status(o: &Outcome) -> StatusCode {
    kind_status(&o.kind)
}

/// The stable error code of an outcome that is not a success.
pub fn outcome_code(o: &Outcome) -> &'static str {
    kind_code(&o.kind)
}

/// What a Power call answers over HTTP (the Power function, the OCI Function,
/// a Lambda function URL): the outcome's status, its JSON, and for a failure
/// the error object every other function answers too.
pub fn executed_answer(done: &crate::ops::power::Executed) -> (StatusCode, serde_json::Value) {
    let status = kind_status(done.kind());
    let mut body = done.to_json();
    if status.as_u16() >= 400 {
        body["error"] =
            serde_json::json!({"code": kind_code(done.kind()), "message": done.message()});
    }
    (status, body)
}

/// A result (of one target, or a set's overall one) as an HTTP status.
pub fn kind_status(kind: &OutcomeKind) -> StatusCode {
    match kind {
        OutcomeKind::Succeeded
        | OutcomeKind::NoAction
        | OutcomeKind::Reported
        | OutcomeKind::Accepted => StatusCode::OK,
        OutcomeKind::Refused => StatusCode::CONFLICT,
        OutcomeKind::TimedOut => StatusCode::GATEWAY_TIMEOUT,
        OutcomeKind::Failed => StatusCode::BAD_GATEWAY,
        OutcomeKind::Error(e) => match e {
            PowerError::NotFound(_) => StatusCode::NOT_FOUND,
            PowerError::Rejected(_) => StatusCode::CONFLICT,
            PowerError::Unauthorized(_) | PowerError::Unavailable(_) => StatusCode::BAD_GATEWAY,
            PowerError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
            PowerError::InvalidResource(_) => StatusCode::BAD_REQUEST,
            PowerError::Conflict(_) => StatusCode::CONFLICT,
        },
    }
}

/// The stable error code of a result that is not a success.
pub fn kind_code(kind: &OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Refused => "StateConflict",
        OutcomeKind::TimedOut => "TargetStateNotReached",
        OutcomeKind::Failed => "ProviderOperationFailed",
        OutcomeKind::Error(PowerError::NotFound(_)) => "ResourceNotFound",
        OutcomeKind::Error(PowerError::Unauthorized(_)) => "ProviderAuthenticationFailed",
        OutcomeKind::Error(PowerError::Rejected(_)) => "ProviderRejected",
        OutcomeKind::Error(PowerError::Unavailable(_)) => "ProviderUnavailable",
        OutcomeKind::Error(PowerError::Config(_)) => "ProviderNotConfigured",
        OutcomeKind::Error(PowerError::InvalidResource(_)) => "InvalidResource",
        OutcomeKind::Error(PowerError::Conflict(_)) => "StateConflict",
        _ => "Error",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
    }
    fn retry(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable {
                message,
                retry_after,
            } => {
                tracing::error!(error = %message, "table storage unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "StorageUnavailable",
                    "Table Storage is unavailable; retry later",
                )
                .retry(retry_after.unwrap_or(Duration::from_secs(5)))
            }
            StoreError::TableMissing => {
                tracing::error!("the fleet table does not exist and could not be created");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "StorageUnavailable",
                    "Table Storage is unavailable; retry later",
                )
                .retry(Duration::from_secs(5))
            }
            StoreError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "NotFound", "record not found")
            }
            StoreError::AlreadyExists => ApiError::new(
                StatusCode::CONFLICT,
                "AlreadyExists",
                "record already exists",
            ),
            StoreError::PreconditionFailed => ApiError::new(
                StatusCode::CONFLICT,
                "ConcurrentUpdate",
                "the record changed while this request was applied; retry",
            ),
            StoreError::Rejected { code, message } => {
                tracing::error!(%code, error = %message, "table storage refused a request gamefleet made");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "StorageError",
                    "Table Storage refused the request",
                )
            }
        }
    }
}

impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> Self {
        match e {
            PlatformError::Rejected {
                status,
                code,
                message,
            } => {
                let status = StatusCode::from_u16(status)
                    .ok()
                    .filter(StatusCode::is_client_error)
                    .unwrap_or(StatusCode::BAD_REQUEST);
                ApiError::new(
                    status,
                    code,
                    format!("Azure Resource Manager rejected the request: {message}"),
                )
            }
            PlatformError::Unauthorized {
                status,
                code,
                message,
            } => {
                tracing::error!(status, %code, error = %message, "ARM refused gamefleet's identity: check its role assignment");
                ApiError::new(StatusCode::BAD_GATEWAY, "ArmAuthorizationFailed", "Azure Resource Manager refused gamefleet's identity; the operator must fix its role assignment")
                    .retry(Duration::from_secs(30))
            }
            PlatformError::Throttled { retry_after } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ArmThrottled",
                "Azure Resource Manager is throttling requests; retry later",
            )
            .retry(retry_after.unwrap_or(Duration::from_secs(10))),
            PlatformError::Unavailable { message } => {
                tracing::error!(error = %message, "ARM unavailable");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "ArmUnavailable",
                    "Azure Resource Manager is unavailable; retry later",
                )
                .retry(Duration::from_secs(5))
            }
        }
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::NotFound(key) => ApiError::new(
                StatusCode::NOT_FOUND,
                "GroupNotFound",
                format!("container group {key} is not known to gamefleet"),
            ),
            OpsError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            OpsError::Store(e) => e.into(),
            OpsError::Platform(e) => e.into(),
            OpsError::Unavailable {
                code,
                message,
                retry_after,
            } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message).retry(retry_after),
        }
    }
}

impl From<crate::schedule::ScheduleError> for ApiError {
    fn from(e: crate::schedule::ScheduleError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, e.code, e.to_string())
    }
}

impl From<crate::ops::schedules::ScheduleOpsError> for ApiError {
    fn from(e: crate::ops::schedules::ScheduleOpsError) -> Self {
        use crate::ops::schedules::ScheduleOpsError;
        match e {
            ScheduleOpsError::Invalid(e) => e.into(),
            ScheduleOpsError::NotFound(name) => ApiError::new(
                StatusCode::NOT_FOUND,
                "ScheduleNotFound",
                format!("no schedule named {name:?}"),
            ),
            ScheduleOpsError::Store(e) => e.into(),
        }
    }
}

impl From<crate::ops::fleets::FleetOpsError> for ApiError {
    fn from(e: crate::ops::fleets::FleetOpsError) -> Self {
        use crate::ops::fleets::FleetOpsError;
        match e {
            FleetOpsError::Invalid(e) => {
                ApiError::new(StatusCode::BAD_REQUEST, "InvalidFleet", e.to_string())
            }
            FleetOpsError::NotFound(name) => ApiError::new(
                StatusCode::NOT_FOUND,
                "FleetNotFound",
                format!("no fleet named {name:?}"),
            ),
            FleetOpsError::Store(e) => e.into(),
        }
    }
}

impl From<crate::ops::dashboard::DashboardError> for ApiError {
    fn from(e: crate::ops::dashboard::DashboardError) -> Self {
        use crate::ops::dashboard::DashboardError;
        match e {
            DashboardError::Store(e) => e.into(),
            DashboardError::Ops(e) => e.into(),
            DashboardError::Fleets(e) => e.into(),
            DashboardError::Schedules(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(ra) = self.retry_after {
            let secs = ra.as_secs() + u64::from(ra.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{ContainerGroupName, GroupKey, ResourceGroup};

    /// The mapping table, as a table.
    #[test]
    fn error_to_status_table() {
        let key = GroupKey::new(
            ResourceGroup::parse("rg").unwrap(),
            ContainerGroupName::parse("cg").unwrap(),
        );
        let cases: Vec<(ApiError, u16, &str, Option<u64>)> = vec![
            (OpsError::NotFound(key).into(), 404, "GroupNotFound", None),
            (
                OpsError::Conflict {
                    code: "GroupExists",
                    message: "m".into(),
                }
                .into(),
                409,
                "GroupExists",
                None,
            ),
            (
                StoreError::Unavailable {
                    message: "down".into(),
                    retry_after: None,
                }
                .into(),
                503,
                "StorageUnavailable",
                Some(5),
            ),
            (
                StoreError::Unavailable {
                    message: "down".into(),
                    retry_after: Some(Duration::from_millis(1500)),
                }
                .into(),
                503,
                "StorageUnavailable",
                Some(2),
            ),
            (
                StoreError::PreconditionFailed.into(),
                409,
                "ConcurrentUpdate",
                None,
            ),
            (
                StoreError::Rejected {
                    code: "InvalidInput".into(),
                    message: "m".into(),
                }
                .into(),
                500,
                "StorageError",
                None,
            ),
            (
                PlatformError::Rejected {
                    status: 400,
                    code: "InvalidImage".into(),
                    message: "m".into(),
                }
                .into(),
                400,
                "InvalidImage",
                None,
            ),
            (
                PlatformError::Rejected {
                    status: 404,
                    code: "ResourceGroupNotFound".into(),
                    message: "m".into(),
                }
                .into(),
                404,
                "ResourceGroupNotFound",
                None,
            ),
            (
                PlatformError::Rejected {
                    status: 409,
                    code: "Conflict".into(),
                    message: "m".into(),
                }
                .into(),
                409,
                "Conflict",
                None,
            ),
            (
                PlatformError::Unauthorized {
                    status: 403,
                    code: "AuthorizationFailed".into(),
                    message: "m".into(),
                }
                .into(),
                502,
                "ArmAuthorizationFailed",
                Some(30),
            ),
            (
                PlatformError::Throttled {
                    retry_after: Some(Duration::from_secs(17)),
                }
                .into(),
                503,
                "ArmThrottled",
                Some(17),
            ),
            (
                PlatformError::Unavailable {
                    message: "m".into(),
                }
                .into(),
                502,
                "ArmUnavailable",
                Some(5),
            ),
        ];
        use crate::ops::schedules::ScheduleOpsError;
        let mut cases = cases;
        cases.extend([
            (
                ScheduleOpsError::Invalid(crate::schedule::ScheduleError::new("cron", "bad"))
                    .into(),
                400,
                "InvalidSchedule",
                None,
            ),
            (
                ScheduleOpsError::NotFound("night".into()).into(),
                404,
                "ScheduleNotFound",
                None,
            ),
            (
                ScheduleOpsError::Store(StoreError::Unavailable {
                    message: "down".into(),
                    retry_after: None,
                })
                .into(),
                503,
                "StorageUnavailable",
                Some(5),
            ),
        ]);
        for (e, status, code, retry) in cases {
            let resp = e.clone().into_response();
            assert_eq!(resp.status().as_u16(), status, "{e:?}");
            assert_eq!(e.code, code);
            let ra = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            assert_eq!(ra, retry, "{e:?}");
        }
    }
}
