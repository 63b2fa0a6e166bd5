//! Executor modes: where backtests and hyperopt runs run (`server.executor`, or the seeds'
//! `EXECUTOR_MODE`).

use std::str::FromStr;

use crate::error::ExecutorError;

/// Where backtests and hyperopt runs run (syncs always run in this process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorMode {
    /// A pool of threads in this process.
    Local,
    /// One `tradai backtest` / `tradai hyperopt` child process per job.
    Subprocess,
    /// Each job becomes a queue message; `tradai worker` processes run them.
    Sqs,
    /// Each job runs as an ECS task of the strategy container.
    Ecs,
    /// Each job starts an execution of the backtest state machine.
    StepFunctions,
}

impl ExecutorMode {
    /// The settings name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Subprocess => "subprocess",
            Self::Sqs => "sqs",
            Self::Ecs => "ecs",
            Self::StepFunctions => "stepfunctions",
        }
    }

    /// Whether jobs run outside this process's pool, through a submitter the entry point
    /// builds (this crate knows no cloud service).
    #[must_use]
    pub fn is_remote(self) -> bool {
        matches!(self, Self::Sqs | Self::Ecs | Self::StepFunctions)
    }
}

impl FromStr for ExecutorMode {
    type Err = ExecutorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" => Ok(Self::Local),
            "subprocess" => Ok(Self::Subprocess),
            "sqs" => Ok(Self::Sqs),
            "ecs" => Ok(Self::Ecs),
            "stepfunctions" | "step_functions" => Ok(Self::StepFunctions),
            _ => Err(ExecutorError::Config(format!(
                "unknown executor mode '{s}' (server.executor or EXECUTOR_MODE: expected local, subprocess, sqs, ecs or stepfunctions)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_unknown_ones_are_named() {
        assert_eq!("local".parse::<ExecutorMode>().unwrap(), ExecutorMode::Local);
        assert_eq!("Subprocess".parse::<ExecutorMode>().unwrap(), ExecutorMode::Subprocess);
        assert_eq!("SQS".parse::<ExecutorMode>().unwrap(), ExecutorMode::Sqs);
        assert_eq!("step_functions".parse::<ExecutorMode>().unwrap(), ExecutorMode::StepFunctions);
        assert!(ExecutorMode::Ecs.is_remote() && !ExecutorMode::Subprocess.is_remote());
        for m in [ExecutorMode::Local, ExecutorMode::Subprocess, ExecutorMode::Sqs, ExecutorMode::Ecs, ExecutorMode::StepFunctions] {
            assert_eq!(m.as_str().parse::<ExecutorMode>().unwrap(), m);
        }
        let e = "docker".parse::<ExecutorMode>().unwrap_err().to_string();
        assert!(e.contains("'docker'") && e.contains("EXECUTOR_MODE"), "{e}");
    }
}
