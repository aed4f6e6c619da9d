//! What the validator reports: a [`Diagnostic`] with a stable [`Code`] and the JSON Pointer of the field.

use serde::Serialize;
use std::fmt;

/// Stable diagnostic codes. The string form is part of the CLI's JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    NotAnObject,
    MissingField,
    UnknownField,
    WrongType,
    BadValue,
    OutOfRange,
    UnknownStateType,
    MissingState,
    UnreachableState,
    EndAndNext,
    NoTransition,
    AllNotLast,
    BadJsonPath,
    BadIntrinsic,
    BadChoiceRule,
    ExclusiveFields,
    DuplicateState,
    NoTerminalState,
    DuplicateKey,
    Unsupported,
    BadJsonata,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::NotAnObject => "NOT_AN_OBJECT",
            Code::MissingField => "MISSING_FIELD",
            Code::UnknownField => "UNKNOWN_FIELD",
            Code::WrongType => "WRONG_TYPE",
            Code::BadValue => "BAD_VALUE",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::UnknownStateType => "UNKNOWN_STATE_TYPE",
            Code::MissingState => "MISSING_STATE",
            Code::UnreachableState => "UNREACHABLE_STATE",
            Code::EndAndNext => "END_AND_NEXT",
            Code::NoTransition => "NO_TRANSITION",
            Code::AllNotLast => "ALL_NOT_LAST",
            Code::BadJsonPath => "BAD_JSONPATH",
            Code::BadIntrinsic => "BAD_INTRINSIC",
            Code::BadChoiceRule => "BAD_CHOICE_RULE",
            Code::ExclusiveFields => "EXCLUSIVE_FIELDS",
            Code::DuplicateState => "DUPLICATE_STATE",
            Code::NoTerminalState => "NO_TERMINAL_STATE",
            Code::DuplicateKey => "DUPLICATE_KEY",
            Code::Unsupported => "UNSUPPORTED",
            Code::BadJsonata => "BAD_JSONATA",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error[{}]: {}\n  --> {}",
            self.code.as_str(),
            self.message,
            if self.pointer.is_empty() { "/" } else { &self.pointer }
        )
    }
}
