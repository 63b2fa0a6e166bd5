//! [`Deployment`]: one environment of one installation, and every name derived from it —
//! stacks, tables, queues, buckets, exports — so the stacks, the CLI and the tests agree on
//! them without passing strings around.

use std::fmt;

use crate::{DeployError, Environment};

/// The seeds' four stacks, in the order they are deployed (each imports from the ones before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// Data that outlives everything: buckets, the job table, the queue, the alerts topic, the
    /// exchange-keys secret, the image repository.
    Persistent,
    /// Network and IAM: VPC, subnets, NAT, security groups, roles.
    Foundation,
    /// What runs: the ECS cluster and task definitions, the Lambda functions, their schedules
    /// and the alarms.
    Compute,
    /// What watches from outside: the CloudWatch dashboard.
    Edge,
}

impl Layer {
    /// Every layer, in deployment order.
    pub const ALL: [Self; 4] = [Self::Persistent, Self::Foundation, Self::Compute, Self::Edge];

    /// `persistent`, `foundation`, `compute` or `edge`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Persistent => "persistent",
            Self::Foundation => "foundation",
            Self::Compute => "compute",
            Self::Edge => "edge",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The default stack prefix: stacks `tradai-dev-persistent`, table `tradai-workflow-state-dev`.
pub const DEFAULT_PREFIX: &str = "tradai";

/// One environment of one installation: `prefix` makes every name (stacks, buckets, queues,
/// exports) its own, so several installations share an account (or an emulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    prefix: String,
    env: Environment,
}

impl Deployment {
    /// The deployment of `env` under `prefix`.
    ///
    /// # Errors
    /// [`DeployError::BadPrefix`] unless the prefix is 1–20 characters of `a-z`, `0-9` and
    /// `-`, starting with a letter and not ending in `-` (it goes into S3 bucket names, which
    /// allow nothing else, and into Lambda names of at most 64 characters).
    pub fn new(prefix: &str, env: Environment) -> Result<Self, DeployError> {
        let bad = |reason| Err(DeployError::BadPrefix { prefix: prefix.to_owned(), reason });
        if prefix.is_empty() || prefix.len() > 20 {
            return bad("it must have 1 to 20 characters");
        }
        if !prefix.starts_with(|c: char| c.is_ascii_lowercase()) || prefix.ends_with('-') {
            return bad("it must start with a lower-case letter and not end with '-'");
        }
        if !prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return bad("only lower-case letters, digits and '-' are allowed (it is part of S3 bucket names)");
        }
        Ok(Self { prefix: prefix.to_owned(), env })
    }

    /// The environment.
    #[must_use]
    pub fn env(&self) -> Environment {
        self.env
    }

    /// The prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>-<env>-<layer>`.
    #[must_use]
    pub fn stack_name(&self, layer: Layer) -> String {
        format!("{}-{}-{}", self.prefix, self.env, layer)
    }

    /// `<prefix>-<env>-<output>`: the export a stack's output is imported by.
    #[must_use]
    pub fn export(&self, output: &str) -> String {
        format!("{}-{}-{}", self.prefix, self.env, output)
    }

    /// `<prefix>-<what>-<env>`, the seeds' pattern (`tradai-workflow-state-dev`).
    #[must_use]
    pub fn name(&self, what: &str) -> String {
        format!("{}-{}-{}", self.prefix, what, self.env)
    }

    /// The job table (the seeds' workflow-state table).
    #[must_use]
    pub fn table(&self) -> String {
        self.name("workflow-state")
    }

    /// The backtest queue (FIFO, as in the seeds).
    #[must_use]
    pub fn queue(&self) -> String {
        format!("{}.fifo", self.name("backtest-queue"))
    }

    /// The dead-letter queue of the backtest queue.
    #[must_use]
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.fifo", self.name("backtest-dlq"))
    }

    /// A bucket name; bucket names are global across accounts, so the account id ends it
    /// (a `Fn::Sub` text).
    #[must_use]
    pub fn bucket_sub(&self, what: &str) -> String {
        format!("{}-${{AWS::AccountId}}", self.name(what))
    }

    /// The exchange-keys secret (`tradai/dev/exchange-keys`).
    #[must_use]
    pub fn secret(&self) -> String {
        format!("{}/{}/exchange-keys", self.prefix, self.env)
    }

    /// The secret's ARN without the random suffix Secrets Manager appends (a `Fn::Sub` text).
    /// IAM policies match it with a trailing `-*`; ECS and `GetSecretValue` accept it as it is.
    /// Built from the name rather than imported, so the stacks deploy where the secret's
    /// resource type is not modelled (the emulator).
    #[must_use]
    pub fn secret_arn_sub(&self) -> String {
        format!("arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{}", self.secret())
    }

    /// The ECS cluster (`tradai-dev`, as in the seeds).
    #[must_use]
    pub fn cluster(&self) -> String {
        format!("{}-{}", self.prefix, self.env)
    }

    /// A Lambda function's name.
    #[must_use]
    pub fn function(&self, handler: &str) -> String {
        self.name(handler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_seeds() {
        let d = Deployment::new(DEFAULT_PREFIX, Environment::Dev).unwrap();
        assert_eq!(d.stack_name(Layer::Persistent), "tradai-dev-persistent");
        assert_eq!(d.table(), "tradai-workflow-state-dev");
        assert_eq!(d.queue(), "tradai-backtest-queue-dev.fifo");
        assert_eq!(d.cluster(), "tradai-dev");
        assert_eq!(d.bucket_sub("data"), "tradai-data-dev-${AWS::AccountId}");
    }

    #[test]
    fn prefixes_that_break_bucket_names_are_refused_by_name() {
        for p in ["", "Tradai", "trad_ai", "-x", "x-", "a234567890123456789012"] {
            let e = Deployment::new(p, Environment::Dev).unwrap_err().to_string();
            assert!(e.contains(&format!("'{p}'")), "{e}");
        }
        // The longest Lambda name stays within AWS's 64 characters.
        let d = Deployment::new("a2345678901234567890", Environment::Staging).unwrap();
        assert!(d.function("trading-heartbeat-check").len() <= 64);
    }
}
