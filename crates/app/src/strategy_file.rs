//! A strategy file a run names: a path relative to the user strategy folder the server (or
//! executor) is configured with, checked once at the edge so no request can read outside it.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backtest::BacktestFailure;
use crate::spec::field;

/// What a strategy file holds, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyFileKind {
    /// A declarative strategy (`.toml`): `tradai backtest --strategy-file`.
    Declarative,
    /// A Freqtrade strategy (`.py`): `tradai backtest --strategy-path`.
    Python,
}

/// A strategy file name, relative to the user strategy folder: no absolute path, no `..`,
/// ending in `.toml` or `.py`. Serialises as the name the client gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StrategyFile {
    name: String,
    kind: StrategyFileKind,
}

impl StrategyFile {
    /// The name as given (relative to the strategy folder).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Declarative (TOML) or Python.
    #[must_use]
    pub fn kind(&self) -> StrategyFileKind {
        self.kind
    }

    /// The file inside `dir`.
    #[must_use]
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(&self.name)
    }

    /// The `tradai backtest` flag and value that load this file from `dir`.
    #[must_use]
    pub fn flags_in(&self, dir: &Path) -> [String; 2] {
        let flag = match self.kind {
            StrategyFileKind::Declarative => "--strategy-file",
            StrategyFileKind::Python => "--strategy-path",
        };
        [flag.to_owned(), self.path_in(dir).display().to_string()]
    }
}

impl TryFrom<String> for StrategyFile {
    type Error = BacktestFailure;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let name = raw.trim().to_owned();
        if name.is_empty() {
            return Err(field("strategy_file", "an empty strategy file name"));
        }
        let path = Path::new(&name);
        // A request names a file inside the configured folder; anything that could leave it
        // (an absolute path, a drive prefix, `..`) is refused before any file is touched.
        if path.is_absolute() || name.starts_with('/') || name.starts_with('\\') {
            return Err(field("strategy_file", format!("'{name}' is absolute: give a name relative to the strategy folder")));
        }
        if path.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) || name.split(['/', '\\']).any(|s| s == "..") {
            return Err(field("strategy_file", format!("'{name}' leaves the strategy folder ('..' is not allowed)")));
        }
        let kind = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => StrategyFileKind::Declarative,
            Some("py") => StrategyFileKind::Python,
            _ => return Err(field("strategy_file", format!("'{name}' is neither a .toml nor a .py strategy file"))),
        };
        Ok(Self { name, kind })
    }
}

impl From<StrategyFile> for String {
    fn from(f: StrategyFile) -> Self {
        f.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<StrategyFile, String> {
        StrategyFile::try_from(s.to_owned()).map_err(|e| e.to_string())
    }

    #[test]
    fn names_inside_the_folder_pass_and_keep_their_kind() {
        assert_eq!(parse("ema.toml").unwrap().kind(), StrategyFileKind::Declarative);
        assert_eq!(parse("sub/mine.py").unwrap().kind(), StrategyFileKind::Python);
        assert_eq!(
            parse("ema.toml").unwrap().flags_in(Path::new("/srv/st")),
            ["--strategy-file".to_owned(), "/srv/st/ema.toml".to_owned()]
        );
    }

    #[test]
    fn paths_leaving_the_folder_are_refused_naming_the_field() {
        for bad in ["../x.toml", "a/../../x.toml", "/etc/x.toml", "a\\..\\x.toml", "x.txt", " "] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("strategy_file"), "{bad}: {e}");
        }
    }
}
