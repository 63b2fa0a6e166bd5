//! Logging set-up: human-readable lines by default, JSON lines with `--log-format json`;
//! colours only on a terminal (`--color`).

use tracing_subscriber::EnvFilter;

use crate::args::GlobalArgs;
use tradai_settings::{LogFormat, Settings};

/// Installs the global subscriber. Logs go to stderr so stdout stays clean for `--json` output.
pub fn init(settings: &Settings, global: &GlobalArgs) {
    let level = if global.quiet { "warn".to_owned() } else { settings.log_level.clone() };
    let filter = EnvFilter::try_from_env("TRADAI_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    // No ANSI codes in logs redirected to a file or a pipe (or with --color never / NO_COLOR).
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(global.color.stderr());
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.with_target(false).compact().try_init(),
    };
}
