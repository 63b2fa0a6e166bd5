//! The pinned linters on what this crate and the repository ship: cfn-lint on every rendered
//! stack of every environment.

use std::process::Command;

use tradai_deploy::{render, Deployment, Environment, DEFAULT_PREFIX};

use crate::linters;

#[test]
fn cfn_lint_accepts_every_stack_of_every_environment() {
    let Some(bin) = linters("lint::cfn_lint") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for env in Environment::ALL {
        for s in render(&Deployment::new(DEFAULT_PREFIX, env).unwrap()) {
            let path = dir.path().join(s.file_name());
            std::fs::write(&path, s.body()).unwrap();
            files.push(path);
        }
    }
    let out = Command::new(bin.join("cfn-lint")).args(["--regions", "eu-central-1", "--"]).args(&files).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cfn-lint found problems:\n{text}");
}
