//! Executor modes: where backtests and hyperopt runs run (`server.executor`).

use std::str::FromStr;

use crate::error::ExecutorError;

/// Where backtests and hyperopt runs run (syncs always run in this process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorMode {
    /// A pool of threads in this process.
    Local,
    /// One `tradai backtest` / `tradai hyperopt` child process per job.
    Subprocess,
}

impl ExecutorMode {
    /// The settings name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Subprocess => "subprocess",
        }
    }
}

impl FromStr for ExecutorMode {
    type Err = ExecutorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" => Ok(Self::Local),
            "subprocess" => Ok(Self::Subprocess),
            "sqs" | "ecs" | "stepfunctions" | "step_functions" => Err(ExecutorError::Config(format!(
                "executor mode '{s}' needs the AWS back end, which this build does not have (server.executor: use local or subprocess)"
            ))),
            _ => Err(ExecutorError::Config(format!("unknown executor mode '{s}' (server.executor: expected local or subprocess)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_aws_modes_say_why_not() {
        assert_eq!("local".parse::<ExecutorMode>().unwrap(), ExecutorMode::Local);
        assert_eq!("Subprocess".parse::<ExecutorMode>().unwrap(), ExecutorMode::Subprocess);
        let e = "sqs".parse::<ExecutorMode>().unwrap_err().to_string();
        assert!(e.contains("AWS") && e.contains("server.executor"), "{e}");
        let e = "docker".parse::<ExecutorMode>().unwrap_err().to_string();
        assert!(e.contains("'docker'"), "{e}");
    }
}
