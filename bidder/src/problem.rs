//! What is wrong with one key of a configuration: the daemon's file, a
//! protocol's table, a scenario file. One type for all of them, so every
//! refusal an operator reads has the same three parts: where (the key
//! path), what was written (the value, when one was), and why.

use std::fmt;

/// One key's problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key path (`trading.period_ms`, `protocols[1]`), `.` for the
    /// whole file.
    pub key: String,
    /// The value as written, when the problem is with a value (not with a
    /// missing key or the file's syntax).
    pub value: Option<String>,
    /// What is wrong and what would be right.
    pub reason: String,
}

impl ConfigProblem {
    /// A problem with `key` itself (missing, unknown, of the wrong type).
    pub fn at(key: impl Into<String>, reason: impl Into<String>) -> ConfigProblem {
        ConfigProblem {
            key: key.into(),
            value: None,
            reason: reason.into(),
        }
    }

    /// A problem with the value written at `key`.
    pub fn value(
        key: impl Into<String>,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> ConfigProblem {
        ConfigProblem {
            key: key.into(),
            value: Some(value.to_string()),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    /// `key: reason (got value)`: the key first, as operators grep for it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)?;
        match &self.value {
            Some(value) => write!(f, " (got {value})"),
            None => Ok(()),
        }
    }
}

/// `<whose>: <problem>`, a line per problem: how every refusal of a
/// file is printed (`whose` names the file).
pub fn lines(whose: impl fmt::Display, problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|problem| format!("{whose}: {problem}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects the problems of independent checks, so one reading reports
/// every problem rather than the first (`bidder --check` lists them all).
#[derive(Debug, Default)]
pub struct Problems(Vec<ConfigProblem>);

impl Problems {
    /// The value of a check that passed; a failed one is kept for the
    /// report and gives `None`.
    pub fn take<T>(&mut self, checked: Result<T, ConfigProblem>) -> Option<T> {
        checked.map_err(|problem| self.0.push(problem)).ok()
    }

    /// Like [`Problems::take`], for a check that reports several at once.
    pub fn take_all<T>(&mut self, checked: Result<T, Vec<ConfigProblem>>) -> Option<T> {
        checked.map_err(|problems| self.0.extend(problems)).ok()
    }

    /// The checked value when every check passed, else every problem.
    /// `checked` is `None` only where a check failed, and so was kept.
    pub fn finish<T>(self, checked: Option<T>) -> Result<T, Vec<ConfigProblem>> {
        match checked {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(self.0),
        }
    }

    /// Whether every check so far passed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems found, in the order they were found.
    pub fn into_vec(self) -> Vec<ConfigProblem> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_reads_key_reason_and_value() {
        let problem = ConfigProblem::value("trading.period_ms", 0, "must be above 0");
        assert_eq!(
            problem.to_string(),
            "trading.period_ms: must be above 0 (got 0)"
        );
        assert_eq!(
            ConfigProblem::at("zone", "missing field `zone`").to_string(),
            "zone: missing field `zone`"
        );
    }

    #[test]
    fn problems_keep_every_failure_and_pass_every_success() {
        let mut problems = Problems::default();
        assert_eq!(problems.take(Ok::<_, ConfigProblem>(1)), Some(1));
        assert_eq!(problems.take::<u8>(Err(ConfigProblem::at("a", "x"))), None);
        assert_eq!(
            problems.take_all::<u8>(Err(vec![
                ConfigProblem::at("b", "y"),
                ConfigProblem::at("c", "z")
            ])),
            None
        );
        let keys: Vec<String> = problems.into_vec().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }
}
