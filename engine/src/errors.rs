//! The error names Step Functions defines and how `ErrorEquals` matches them.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorName {
    All,
    TaskFailed,
    Timeout,
    HeartbeatTimeout,
    Runtime,
    ResultPathMatchFailure,
    ParameterPathFailure,
    IntrinsicFailure,
    BranchFailed,
    NoChoiceMatched,
    ExceedToleratedFailureThreshold,
    DataLimitExceeded,
    ItemReaderFailed,
    ResultWriterFailed,
    QueryEvaluationError,
}

impl ErrorName {
    pub const ALL: [ErrorName; 15] = [
        ErrorName::All,
        ErrorName::TaskFailed,
        ErrorName::Timeout,
        ErrorName::HeartbeatTimeout,
        ErrorName::Runtime,
        ErrorName::ResultPathMatchFailure,
        ErrorName::ParameterPathFailure,
        ErrorName::IntrinsicFailure,
        ErrorName::BranchFailed,
        ErrorName::NoChoiceMatched,
        ErrorName::ExceedToleratedFailureThreshold,
        ErrorName::DataLimitExceeded,
        ErrorName::ItemReaderFailed,
        ErrorName::ResultWriterFailed,
        ErrorName::QueryEvaluationError,
    ];

    /// The error Step Functions defines under `name` (`States.Timeout`).
    pub fn parse(name: &str) -> Option<ErrorName> {
        ErrorName::ALL.into_iter().find(|e| e.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::All => "States.ALL",
            ErrorName::TaskFailed => "States.TaskFailed",
            ErrorName::Timeout => "States.Timeout",
            ErrorName::HeartbeatTimeout => "States.HeartbeatTimeout",
            ErrorName::Runtime => "States.Runtime",
            ErrorName::ResultPathMatchFailure => "States.ResultPathMatchFailure",
            ErrorName::ParameterPathFailure => "States.ParameterPathFailure",
            ErrorName::IntrinsicFailure => "States.IntrinsicFailure",
            ErrorName::BranchFailed => "States.BranchFailed",
            ErrorName::NoChoiceMatched => "States.NoChoiceMatched",
            ErrorName::ExceedToleratedFailureThreshold => "States.ExceedToleratedFailureThreshold",
            ErrorName::DataLimitExceeded => "States.DataLimitExceeded",
            ErrorName::ItemReaderFailed => "States.ItemReaderFailed",
            ErrorName::ResultWriterFailed => "States.ResultWriterFailed",
            ErrorName::QueryEvaluationError => "States.QueryEvaluationError",
        }
    }
}

/// Does a Retry/Catch `ErrorEquals` list match `error`?
///
/// `States.ALL` matches everything but `States.Runtime` (which is never
/// recoverable and filtered before this is asked); `States.TaskFailed`
/// matches everything except `States.Timeout`.
pub fn matches(error_equals: &[String], error: &str) -> bool {
    error_equals.iter().any(|e| {
        e == error
            || e == ErrorName::All.as_str()
            || (e == ErrorName::TaskFailed.as_str()
                && error != ErrorName::Timeout.as_str()
                && !error.starts_with("States.")
                || (e == ErrorName::TaskFailed.as_str() && error == ErrorName::DataLimitExceeded.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcards() {
        assert!(matches(&v(&["States.ALL"]), "Custom"));
        assert!(matches(&v(&["States.ALL"]), "States.Timeout"));
        assert!(matches(&v(&["States.TaskFailed"]), "Lambda.Unknown"));
        assert!(!matches(&v(&["States.TaskFailed"]), "States.Timeout"));
        assert!(matches(&v(&["A", "B"]), "B"));
        assert!(!matches(&v(&["A"]), "B"));
    }
}
