//! The pinned linters on what this crate and the repository ship: cfn-lint on every rendered
//! stack of every environment, hadolint on the Dockerfile, and compose.yaml against the compose
//! spec; each with a check that the linter does refuse a bad file.

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

#[test]
fn hadolint_accepts_the_dockerfile() {
    let Some(bin) = linters("lint::hadolint") else { return };
    let dockerfile = crate::workspace_root().join("Dockerfile");
    let out = Command::new(bin.join("hadolint")).args(["--no-color"]).arg(&dockerfile).output().unwrap();
    assert!(
        out.status.success(),
        "hadolint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compose_yaml_follows_the_compose_spec() {
    let Some(bin) = linters("lint::compose_spec") else { return };
    let compose = crate::workspace_root().join("compose.yaml");
    // The schema ships inside the pinned check-jsonschema: nothing is fetched.
    let out = Command::new(bin.join("check-jsonschema")).args(["--builtin-schema", "vendor.compose-spec"]).arg(&compose).output().unwrap();
    assert!(
        out.status.success(),
        "compose.yaml breaks the compose spec:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_linters_catch_what_they_are_here_to_catch() {
    // A guard against a linter that passes everything (wrong flags, an empty schema).
    let Some(bin) = linters("lint::the_linters_catch") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bad_compose = dir.path().join("compose.yaml");
    std::fs::write(&bad_compose, "services:\n  api:\n    image: x\n    ports: 8000\n    restart: sometimes\n").unwrap();
    let out =
        Command::new(bin.join("check-jsonschema")).args(["--builtin-schema", "vendor.compose-spec"]).arg(&bad_compose).output().unwrap();
    assert!(!out.status.success(), "a compose file with a scalar ports list passed");
    let bad_docker = dir.path().join("Dockerfile");
    std::fs::write(&bad_docker, "FROM debian:latest\nRUN apt-get install curl\n").unwrap();
    let out = Command::new(bin.join("hadolint")).args(["--no-color"]).arg(&bad_docker).output().unwrap();
    assert!(!out.status.success(), "a Dockerfile with an unpinned :latest base passed");
    let bad_cfn = dir.path().join("bad.json");
    std::fs::write(&bad_cfn, r#"{"AWSTemplateFormatVersion":"2010-09-09","Resources":{"Q":{"Type":"AWS::SQS::Queue","Properties":{"VisibilityTimeout":"soon"}}}}"#).unwrap();
    let out = Command::new(bin.join("cfn-lint")).arg(&bad_cfn).output().unwrap();
    assert!(!out.status.success(), "a template with a non-numeric VisibilityTimeout passed");
}
