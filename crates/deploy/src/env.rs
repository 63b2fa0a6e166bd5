//! [`Environment`] (dev, staging, prod) and what differs between them: sizes, retention and
//! protection. One table, so a reviewer sees every difference at once.

use std::fmt;
use std::str::FromStr;

use crate::DeployError;

/// A deployment environment of the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Environment {
    /// One developer's or CI's playground: small, short retention, easy to tear down.
    Dev,
    /// Production-shaped, smaller.
    Staging,
    /// Real money: long retention, deletion protection, two backend tasks.
    Prod,
}

impl Environment {
    /// Every environment, in promotion order.
    pub const ALL: [Self; 3] = [Self::Dev, Self::Staging, Self::Prod];

    /// `dev`, `staging` or `prod`: the seeds' spelling, used in every resource name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Staging => "staging",
            Self::Prod => "prod",
        }
    }

    /// The sizes and retention of this environment.
    #[must_use]
    pub fn profile(self) -> EnvProfile {
        match self {
            Self::Dev => EnvProfile {
                log_retention_days: 30,
                results_expire_days: Some(30),
                backend_desired_count: 1,
                protect_data: false,
                queue_retention_secs: 4 * 24 * 3600,
                vpc_second_octet: 0,
                drawdown_alarm_pct: 25.0,
            },
            // Staging is dev with results kept longer, its own network and a tighter alarm.
            Self::Staging => {
                EnvProfile { results_expire_days: Some(90), vpc_second_octet: 1, drawdown_alarm_pct: 20.0, ..Self::Dev.profile() }
            }
            Self::Prod => EnvProfile {
                log_retention_days: 90,
                results_expire_days: None,
                backend_desired_count: 2,
                protect_data: true,
                queue_retention_secs: 14 * 24 * 3600,
                vpc_second_octet: 2,
                drawdown_alarm_pct: 15.0,
            },
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = DeployError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|e| e.as_str() == s).ok_or_else(|| DeployError::UnknownEnvironment(s.to_owned()))
    }
}

/// What differs between environments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvProfile {
    /// CloudWatch log retention of the ECS services and Lambdas (seeds: 30 days dev/staging,
    /// 90 prod).
    pub log_retention_days: u32,
    /// Job results (exports, reports, plots) expire after this many days; prod keeps them.
    pub results_expire_days: Option<u32>,
    /// backend-api tasks (seeds: 1 dev/staging, 2 prod).
    pub backend_desired_count: u32,
    /// Point-in-time recovery and deletion protection on the table, `Retain` on buckets and
    /// table: prod's data outlives its stack.
    pub protect_data: bool,
    /// How long an unprocessed backtest message stays in the queue.
    pub queue_retention_secs: u32,
    /// The VPC is `10.<this>.0.0/16`, so environments can be peered without overlap.
    pub vpc_second_octet: u8,
    /// Drawdown (percent) of a trading node that raises the high-drawdown alarm.
    pub drawdown_alarm_pct: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_quoted() {
        for e in Environment::ALL {
            assert_eq!(e.as_str().parse::<Environment>().unwrap(), e);
        }
        assert_eq!("Prod".parse::<Environment>().unwrap_err().to_string(), "unknown environment 'Prod' (expected dev, staging or prod)");
    }

    #[test]
    fn prod_keeps_more_and_protects_its_data() {
        let (dev, prod) = (Environment::Dev.profile(), Environment::Prod.profile());
        assert!(prod.log_retention_days > dev.log_retention_days && prod.protect_data && !dev.protect_data);
        assert_eq!(prod.results_expire_days, None);
        assert_ne!(dev.vpc_second_octet, prod.vpc_second_octet);
    }
}
