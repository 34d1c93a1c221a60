//! The refusal a control-plane operation answers with: the cloud's error code plus a
//! sentence naming the rule that refused it and how to fix it.

use std::fmt;

/// Ends the message of every refusal whose code vpcsim chose itself.
pub const OWN_CODE_NOTE: &str =
    "(vpcsim's own code: the API reference publishes none for this case)";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiError {
    /// The OpenAPI error code, e.g. `InvalidOperation.AvailabilityZoneMismatch`.
    pub code: String,
    /// Which rule refused the call and how to fix it.
    pub message: String,
}

impl ApiError {
    pub fn new(code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// A refusal whose situation has no published code in the API reference: the code is
    /// vpcsim's choice, and the message says so (docs/RULES.md marks it too).
    pub fn own(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(code, format!("{} {OWN_CODE_NOTE}", message.into()))
    }

    /// Whether the code is vpcsim's own choice rather than the cloud's published one.
    pub fn is_own(&self) -> bool {
        self.message.ends_with(OWN_CODE_NOTE)
    }

    pub fn not_found(code: &str, what: &str, id: &str) -> ApiError {
        ApiError::new(
            code,
            format!("{what} `{id}` does not exist in this scenario; check the id (ids are case-sensitive)"),
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;
