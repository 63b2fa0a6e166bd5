//! The pinned linters on what this crate and the repository ship: cfn-lint on every rendered
//! stack of every environment, hadolint on the Dockerfile, and compose.yaml against the compose
//! spec; each with a check that the linter does refuse a bad file.

use std::path::{Path, PathBuf};
use std::process::Command;

use tradai_deploy::{render, Deployment, Environment, Inputs, DEFAULT_PREFIX};

use crate::linters;

/// The three linters, each with the arguments that come before the files.
#[derive(Clone, Copy)]
enum Linter {
    CfnLint,
    Hadolint,
    ComposeSpec,
}

impl Linter {
    /// Runs the linter of `bin` on `files`: `Ok` when it accepts them, else its findings.
    fn check(self, bin: &Path, files: &[PathBuf]) -> Result<(), String> {
        let (tool, args): (&str, &[&str]) = match self {
            Self::CfnLint => ("cfn-lint", &["--regions", "eu-central-1", "--"]),
            Self::Hadolint => ("hadolint", &["--no-color"]),
            // The schema ships inside the pinned check-jsonschema: nothing is fetched.
            Self::ComposeSpec => ("check-jsonschema", &["--builtin-schema", "vendor.compose-spec"]),
        };
        let out = Command::new(bin.join(tool)).args(args).args(files).output().unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
        }
    }
}

#[test]
fn cfn_lint_accepts_every_stack_of_every_environment() {
    let Some(bin) = linters("lint::cfn_lint") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    // Every environment without the workflow, and prod with it (the state machine's role and
    // definition are linted too).
    let prod_with_workflow = (Environment::Prod, "workflow-", Inputs { backtest_workflow: Some(crate::sample_workflow()) });
    let all = Environment::ALL.into_iter().map(|env| (env, "", Inputs::default())).chain([prod_with_workflow]);
    for (env, tag, inputs) in all {
        for s in render(&Deployment::new(DEFAULT_PREFIX, env).unwrap(), &inputs) {
            let path = dir.path().join(format!("{tag}{}", s.file_name()));
            std::fs::write(&path, s.body()).unwrap();
            files.push(path);
        }
    }
    if let Err(findings) = Linter::CfnLint.check(&bin, &files) {
        panic!("cfn-lint found problems:\n{findings}");
    }
}

#[test]
fn hadolint_accepts_the_dockerfile() {
    let Some(bin) = linters("lint::hadolint") else { return };
    if let Err(findings) = Linter::Hadolint.check(&bin, &[crate::workspace_root().join("Dockerfile")]) {
        panic!("hadolint found problems:\n{findings}");
    }
}

#[test]
fn compose_yaml_follows_the_compose_spec() {
    let Some(bin) = linters("lint::compose_spec") else { return };
    if let Err(findings) = Linter::ComposeSpec.check(&bin, &[crate::workspace_root().join("compose.yaml")]) {
        panic!("compose.yaml breaks the compose spec:\n{findings}");
    }
}

#[test]
fn the_linters_catch_what_they_are_here_to_catch() {
    // A guard against a linter that passes everything (wrong flags, an empty schema).
    let Some(bin) = linters("lint::the_linters_catch") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        (Linter::ComposeSpec, "compose.yaml", "services:\n  api:\n    image: x\n    ports: 8000\n    restart: sometimes\n"),
        (Linter::Hadolint, "Dockerfile", "FROM debian:latest\nRUN apt-get install curl\n"),
        (
            Linter::CfnLint,
            "bad.json",
            r#"{"AWSTemplateFormatVersion":"2010-09-09","Resources":{"Q":{"Type":"AWS::SQS::Queue","Properties":{"VisibilityTimeout":"soon"}}}}"#,
        ),
    ];
    for (linter, name, text) in bad {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        assert!(linter.check(&bin, &[path]).is_err(), "the linter passed a bad {name}");
    }
}
