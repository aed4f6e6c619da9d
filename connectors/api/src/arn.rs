//! Names and ARNs as Step Functions forms and checks them.

use crate::wire::{ApiError, ErrorKind};

/// AWS's rule for state machine, alias and execution names: 1 to `max`
/// characters, none of them refused
/// ([`expressway_engine::validate::refused_in_name`]).
pub fn check_name(name: &str, max: usize) -> Result<(), ApiError> {
    // Lengths are the API model's constraints, checked before the service
    // reads the name: a ValidationException naming the field, as on AWS.
    let len = name.chars().count();
    if len == 0 {
        return Err(ApiError::validation(
            "name",
            &format!("'{name}'"),
            "Member must have length greater than or equal to 1",
        ));
    }
    if len > max {
        return Err(ApiError::validation(
            "name",
            &format!("'{name}'"),
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    if name.chars().any(expressway_engine::validate::refused_in_name) {
        return Err(ApiError::new(ErrorKind::InvalidName, format!("Invalid Name: '{name}'")));
    }
    Ok(())
}

/// Where ARNs are minted: `arn:aws:states:<region>:<account>:…`.
#[derive(Debug, Clone)]
pub struct Partition {
    pub region: String,
    pub account: String,
}

/// What a state machine ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qualifier {
    Latest,
    Version(u64),
    Alias(String),
}

/// A parsed state machine reference, with Step Functions Local's
/// `#TestCaseName` suffix when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineRef {
    pub name: String,
    pub qualifier: Qualifier,
    pub test_case: Option<String>,
}

impl Partition {
    fn prefix(&self) -> String {
        format!("arn:aws:states:{}:{}:", self.region, self.account)
    }

    pub fn machine(&self, name: &str) -> String {
        format!("{}stateMachine:{name}", self.prefix())
    }

    pub fn version(&self, name: &str, version: u64) -> String {
        format!("{}stateMachine:{name}:{version}", self.prefix())
    }

    pub fn alias(&self, name: &str, alias: &str) -> String {
        format!("{}stateMachine:{name}:{alias}", self.prefix())
    }

    pub fn execution(&self, express: bool, machine: &str, execution: &str, id: &str) -> String {
        if express {
            format!("{}express:{machine}:{execution}:{id}", self.prefix())
        } else {
            format!("{}execution:{machine}:{execution}", self.prefix())
        }
    }

    /// Parse a state machine, version or alias ARN of this partition.
    pub fn parse_machine(&self, arn: &str) -> Result<MachineRef, ApiError> {
        let (arn, test_case) = match arn.split_once('#') {
            Some((a, tc)) => (a, Some(tc.to_string())),
            None => (arn, None),
        };
        let invalid = || ApiError::invalid_arn(arn);
        let not_found =
            || ApiError::new(ErrorKind::StateMachineDoesNotExist, format!("State Machine Does Not Exist: '{arn}'"));
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() < 7 || parts[0] != "arn" || parts[2] != "states" {
            return Err(ApiError::new(ErrorKind::InvalidArn, format!("Invalid Arn: 'Invalid ARN prefix: {arn}'")));
        }
        if parts[5] != "stateMachine" || parts.len() > 8 {
            return Err(invalid());
        }
        if parts[3] != self.region || parts[4] != self.account {
            return Err(not_found());
        }
        let name = parts[6].to_string();
        let qualifier = match parts.get(7) {
            None => Qualifier::Latest,
            Some(q) if !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) => {
                Qualifier::Version(q.parse().map_err(|_| invalid())?)
            }
            Some(q) if !q.is_empty() => Qualifier::Alias(q.to_string()),
            Some(_) => return Err(invalid()),
        };
        Ok(MachineRef { name, qualifier, test_case })
    }

    /// Parse an execution ARN of this partition: (machine name, execution name).
    pub fn parse_execution(&self, arn: &str) -> Result<(), ApiError> {
        let parts: Vec<&str> = arn.split(':').collect();
        let ok = parts.len() >= 8
            && parts[0] == "arn"
            && parts[2] == "states"
            && matches!(parts[5], "execution" | "express");
        if ok { Ok(()) } else { Err(ApiError::invalid_arn(arn)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Partition {
        Partition { region: "us-east-1".into(), account: "123456789012".into() }
    }

    #[test]
    fn names_follow_aws_rules() {
        assert!(check_name("orders-v2_final.1", 80).is_ok());
        for bad in ["a b", "a:b", "a/b", "a#b", "a*b", "a\u{7}b", "a{b", "a$b"] {
            assert_eq!(check_name(bad, 80).unwrap_err().kind, ErrorKind::InvalidName, "{bad:?}");
        }
        assert!(check_name(&"x".repeat(80), 80).is_ok());
        // Too long or empty breaks the model's length constraint, which AWS
        // answers with a ValidationException, not InvalidName.
        let long = check_name(&"x".repeat(81), 80).unwrap_err();
        assert_eq!(long.kind, ErrorKind::ValidationException);
        assert_eq!(
            long.message,
            format!(
                "1 validation error detected: Value '{}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 80",
                "x".repeat(81)
            )
        );
        assert_eq!(check_name("", 80).unwrap_err().kind, ErrorKind::ValidationException);
    }

    #[test]
    fn machine_arns_name_versions_aliases_and_test_cases() {
        let p = p();
        let latest = p.parse_machine(&p.machine("m")).unwrap();
        assert_eq!(latest, MachineRef { name: "m".into(), qualifier: Qualifier::Latest, test_case: None });
        assert_eq!(p.parse_machine(&p.version("m", 3)).unwrap().qualifier, Qualifier::Version(3));
        assert_eq!(p.parse_machine(&p.alias("m", "prod")).unwrap().qualifier, Qualifier::Alias("prod".into()));
        let tc = p.parse_machine(&format!("{}#HappyPath", p.machine("m"))).unwrap();
        assert_eq!(tc.test_case.as_deref(), Some("HappyPath"));
        assert_eq!(p.parse_machine("nope").unwrap_err().kind, ErrorKind::InvalidArn);
        let execution = p.execution(false, "m", "e", "");
        assert_eq!(p.parse_machine(&execution).unwrap_err().kind, ErrorKind::InvalidArn);
        let other_account = "arn:aws:states:us-east-1:000000000000:stateMachine:m";
        assert_eq!(p.parse_machine(other_account).unwrap_err().kind, ErrorKind::StateMachineDoesNotExist);
    }
}
