//! Loading runs' strategies from the built-ins and from declarative files.

use std::path::{Path, PathBuf};

use tradai_app::{BacktestRequest, RunSpec};
use tradai_strategies::{StrategySource, StrategySourceError};

fn strategies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/strategies")
}

fn run(strategy: &str, file: Option<&str>) -> RunSpec {
    RunSpec::try_from(BacktestRequest {
        strategy: Some(strategy.into()),
        pairs: Some(vec!["ETH/BTC".into()]),
        strategy_file: file.map(Into::into),
        ..BacktestRequest::default()
    })
    .unwrap()
}

#[test]
fn a_run_without_a_file_uses_the_builtins() {
    let src = StrategySource::of_run(&run("EmaCross", None), None).unwrap();
    assert_eq!(src, StrategySource::Builtin);
    assert!(src.registry("EmaCross").unwrap().get("EmaCross").is_ok());
}

#[test]
fn a_toml_file_of_a_run_loads_from_the_strategy_folder_alone() {
    let dir = strategies_dir();
    let src = StrategySource::of_run(&run("EmaCrossToml", Some("EmaCrossToml.toml")), Some(&dir)).unwrap();
    assert_eq!(src, StrategySource::Declarative(dir.join("EmaCrossToml.toml")));
    let registry = src.registry("EmaCrossToml").unwrap();
    assert_eq!(registry.names(), vec!["EmaCrossToml"], "a file's strategy replaces the built-ins");
}

#[test]
fn wrong_files_name_what_is_wrong() {
    let dir = strategies_dir();
    let e = StrategySource::of_run(&run("X", Some("EmaCrossToml.toml")), None).unwrap_err();
    assert!(matches!(e, StrategySourceError::NoStrategyDir { .. }), "{e}");
    let e = StrategySource::of_run(&run("X", Some("nope.toml")), Some(&dir)).unwrap().registry("X").unwrap_err();
    assert!(e.to_string().contains("nope.toml"), "{e}");
    let e = StrategySource::of_run(&run("EmaCross", Some("EmaCrossToml.toml")), Some(&dir)).unwrap().registry("EmaCross").unwrap_err();
    assert!(e.to_string().contains("defines strategy 'EmaCrossToml', not 'EmaCross'"), "{e}");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("bad.toml"), "name = 3").unwrap();
    let e = StrategySource::Declarative(tmp.path().join("bad.toml")).registry("bad").unwrap_err();
    assert!(matches!(e, StrategySourceError::Declarative { .. }), "{e}");
}
