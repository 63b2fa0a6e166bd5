//! Cheap conventions enforced over the whole workspace: the dependency direction written in
//! docs/ARCHITECTURE.md, and the `//!` header every source file must start with.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Dependencies (normal, not dev) of every workspace crate, by package name.
fn crate_deps() -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(workspace_root().join("crates")).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&manifest) else { continue };
        let doc: toml::Table = toml::from_str(&text).unwrap();
        let name = doc["package"]["name"].as_str().unwrap().to_owned();
        let mut deps: Vec<String> = Vec::new();
        if let Some(t) = doc.get("dependencies").and_then(toml::Value::as_table) {
            deps.extend(t.keys().cloned());
        }
        out.insert(name, deps);
    }
    out
}

/// Domain crates must not know about HTTP, the CLI, terminals or AWS.
const DOMAIN: [&str; 14] = [
    "tradai-core",
    "tradai-store",
    "tradai-indicators",
    "tradai-engine",
    "tradai-metrics",
    "tradai-settings",
    "tradai-jobs",
    "tradai-app",
    "tradai-hyperopt",
    "tradai-ml",
    "tradai-python",
    "tradai-declarative",
    "tradai-analysis",
    "tradai-strategies",
];
const ENTRY_POINT_OR_TRANSPORT: [&str; 14] = [
    "tradai-cli",
    "tradai-aws",
    "tradai-server",
    "tradai-exchange",
    "clap",
    "indicatif",
    "axum",
    "hyper",
    "tower",
    "tower-http",
    "reqwest",
    "aws-config",
    "aws-sdk-s3",
    "aws-sdk-sqs",
];

#[test]
fn domain_crates_do_not_depend_on_entry_points() {
    let deps = crate_deps();
    let mut bad = Vec::new();
    for (name, ds) in &deps {
        if !DOMAIN.contains(&name.as_str()) {
            continue;
        }
        for d in ds {
            if ENTRY_POINT_OR_TRANSPORT.contains(&d.as_str()) || d.starts_with("aws-sdk-") {
                bad.push(format!("{name} -> {d}"));
            }
        }
    }
    assert!(bad.is_empty(), "forbidden dependency edges (see docs/ARCHITECTURE.md): {bad:?}");
}

#[test]
fn engine_knows_no_storage_nor_metrics_and_indicators_know_nothing() {
    let deps = crate_deps();
    let engine = &deps["tradai-engine"];
    assert!(
        !engine.iter().any(|d| d == "tradai-store" || d == "parquet" || d == "object_store"),
        "tradai-engine must not read storage: {engine:?}"
    );
    // Results go out of the engine, never back in: tradai-metrics summarises a run, so the
    // engine must not depend on it (nor on anything above it).
    assert!(
        !engine.iter().any(|d| ["tradai-metrics", "tradai-hyperopt", "tradai-app"].contains(&d.as_str())),
        "tradai-engine must not know where its results go: {engine:?}"
    );
    let ind = &deps["tradai-indicators"];
    assert!(ind.iter().all(|d| !d.starts_with("tradai-")), "tradai-indicators must stay standalone: {ind:?}");
}

#[test]
fn strategy_sources_plug_into_the_engine_not_the_reverse() {
    // Strategy files (Python, TOML) and the analyses implement or use the engine's `Strategy`;
    // the engine, the use cases and hyperopt never know them, and the Python bridge pulls in no
    // other strategy source.
    let deps = crate_deps();
    let sources = ["tradai-python", "tradai-declarative", "tradai-analysis"];
    let mut bad = Vec::new();
    for (name, ds) in &deps {
        // tradai-strategies is the one resolver of strategy sources; the CLI still uses the
        // analyses directly.
        if sources.contains(&name.as_str()) || name == "tradai-cli" || name == "tradai-strategies" {
            continue;
        }
        bad.extend(ds.iter().filter(|d| sources.contains(&d.as_str())).map(|d| format!("{name} -> {d}")));
    }
    for s in sources {
        let allowed = ["tradai-core", "tradai-engine", "tradai-indicators"];
        bad.extend(deps[s].iter().filter(|d| d.starts_with("tradai-") && !allowed.contains(&d.as_str())).map(|d| format!("{s} -> {d}")));
    }
    let resolver = ["tradai-core", "tradai-engine", "tradai-app", "tradai-python", "tradai-declarative"];
    bad.extend(
        deps["tradai-strategies"]
            .iter()
            .filter(|d| d.starts_with("tradai-") && !resolver.contains(&d.as_str()))
            .map(|d| format!("tradai-strategies -> {d}")),
    );
    for user in ["tradai-engine", "tradai-app", "tradai-hyperopt"] {
        if deps[user].iter().any(|d| d == "tradai-strategies") {
            bad.push(format!("{user} -> tradai-strategies"));
        }
    }
    assert!(bad.is_empty(), "forbidden dependency edges (see docs/ARCHITECTURE.md): {bad:?}");
}

#[test]
fn core_depends_on_no_other_workspace_crate() {
    let deps = crate_deps();
    let core = &deps["tradai-core"];
    assert!(core.iter().all(|d| !d.starts_with("tradai-")), "tradai-core must stay at the bottom: {core:?}");
}

#[test]
fn tracking_is_an_http_client_not_an_entry_point() {
    // tradai-tracking may use reqwest (its MLflow client) but no CLI, terminal or server crate,
    // and of the workspace only tradai-settings (for `Secret`), tradai-resilience (proxies) and
    // tradai-sqlite (its files).
    assert_no_dependency(&crate_deps(), "tradai-tracking", |d| {
        ["clap", "indicatif", "axum", "hyper", "tower-http"].contains(&d)
            || (d.starts_with("tradai-") && !["tradai-settings", "tradai-resilience", "tradai-sqlite"].contains(&d))
    });
}

/// Fails naming the dependencies of `krate` that `forbidden` picks.
fn assert_no_dependency(deps: &BTreeMap<String, Vec<String>>, krate: &str, forbidden: impl Fn(&str) -> bool) {
    let bad: Vec<_> = deps[krate].iter().filter(|d| forbidden(d)).collect();
    assert!(bad.is_empty(), "forbidden dependencies of {krate} (see docs/ARCHITECTURE.md): {bad:?}");
}

/// Fails naming the domain crates that depend on `krate`.
fn assert_no_domain_user(deps: &BTreeMap<String, Vec<String>>, krate: &str) {
    let users: Vec<_> =
        deps.iter().filter(|(n, ds)| DOMAIN.contains(&n.as_str()) && ds.iter().any(|d| d == krate)).map(|(n, _)| n).collect();
    assert!(users.is_empty(), "domain crates must not depend on {krate}: {users:?}");
}

/// Whether a dependency is part of the AWS SDK.
fn is_aws_sdk(d: &str) -> bool {
    d == "aws-config" || d.starts_with("aws-sdk-") || d.starts_with("aws-smithy-") || d.starts_with("aws-types")
}

#[test]
fn only_tradai_aws_depends_on_the_aws_sdk() {
    let deps = crate_deps();
    let bad: Vec<String> = deps
        .iter()
        .filter(|(name, _)| name.as_str() != "tradai-aws")
        .flat_map(|(name, ds)| ds.iter().filter(|d| is_aws_sdk(d)).map(move |d| format!("{name} -> {d}")))
        .collect();
    assert!(bad.is_empty(), "only tradai-aws may use the AWS SDK (see docs/ARCHITECTURE.md): {bad:?}");
    // And it is a back end: no CLI, terminal or server crates, no entry points.
    assert_no_dependency(&deps, "tradai-aws", |d| {
        ["clap", "indicatif", "axum", "hyper", "tower-http", "tradai-cli", "tradai-server", "tradai-app", "tradai-engine"].contains(&d)
    });
}

#[test]
fn deploy_templates_are_pure() {
    // tradai-deploy generates templates and compares them: no I/O, runtime, SDK or CLI crate,
    // and no other workspace crate (the CLI and tradai-aws do the I/O around it).
    assert_no_dependency(&crate_deps(), "tradai-deploy", |d| !["serde", "serde_json", "thiserror"].contains(&d));
}

#[test]
fn executor_runs_jobs_without_serving_http() {
    // tradai-executor is job orchestration: the HTTP services depend on it, never the reverse,
    // and it holds no HTTP-server, CLI or terminal crate (it may reach exchanges and trackers
    // through their client crates).
    let deps = crate_deps();
    assert_no_dependency(&deps, "tradai-executor", |d| {
        ["tradai-server", "tradai-cli", "clap", "indicatif", "axum", "hyper", "hyper-util", "tower", "tower-http", "utoipa"].contains(&d)
    });
    assert_no_domain_user(&deps, "tradai-executor");
}

#[test]
fn handlers_are_no_server_and_know_no_aws_sdk() {
    // tradai-handlers speaks HTTP only as a client; AWS comes in through its traits (the
    // `ecs` mode's launcher uses the executor's task submitter, which knows no AWS either).
    let deps = crate_deps();
    let server_or_cli = ["clap", "indicatif", "axum", "hyper", "tower", "tower-http", "utoipa", "tradai-server", "tradai-cli"];
    let aws = |d: &str| d == "tradai-aws" || is_aws_sdk(d);
    assert_no_dependency(&deps, "tradai-handlers", |d| server_or_cli.contains(&d) || aws(d));
    assert_no_domain_user(&deps, "tradai-handlers");
}

#[test]
fn sqlite_is_a_leaf_of_storage_plumbing() {
    // tradai-sqlite opens, checks and migrates files: it knows no other workspace crate and
    // nothing of HTTP, the CLI or the domain.
    let deps = crate_deps();
    let sqlite = &deps["tradai-sqlite"];
    assert!(sqlite.iter().all(|d| d == "rusqlite" || d == "thiserror"), "tradai-sqlite must stay a leaf: {sqlite:?}");
}

#[test]
fn the_dashboard_is_files_only_and_only_the_server_serves_it() {
    // tradai-dashboard is the embedded page: no dependency at all (the page reaches the
    // platform through /api/v1 like any client), and only backend-api mounts it.
    let deps = crate_deps();
    assert!(deps["tradai-dashboard"].is_empty(), "tradai-dashboard must have no dependencies: {:?}", deps["tradai-dashboard"]);
    let users: Vec<_> = deps.iter().filter(|(_, ds)| ds.iter().any(|d| d == "tradai-dashboard")).map(|(n, _)| n.as_str()).collect();
    assert_eq!(users, ["tradai-server"], "only tradai-server may depend on tradai-dashboard");
}

#[test]
fn trading_nodes_know_no_cli_terminal_or_service() {
    // tradai-trading is the node's domain: the rules come from tradai-engine, progress and
    // stop are callbacks, commands come through NodeControl; the CLI and the services call it,
    // never the other way round. The node's REST API is tradai-server's (`node_api`), so no
    // HTTP server here either.
    let deps = crate_deps();
    let trading = &deps["tradai-trading"];
    let forbidden = ["clap", "indicatif", "tradai-cli", "tradai-server", "tower-http", "axum", "hyper", "hyper-util", "utoipa"];
    let bad: Vec<_> = trading.iter().filter(|d| forbidden.contains(&d.as_str())).collect();
    assert!(bad.is_empty(), "forbidden dependencies of tradai-trading (see docs/ARCHITECTURE.md): {bad:?}");
    for (name, ds) in &deps {
        if DOMAIN.contains(&name.as_str()) {
            assert!(!ds.iter().any(|d| d == "tradai-trading"), "domain crate {name} must not depend on tradai-trading");
        }
    }
}

#[test]
fn models_stay_out_of_the_engine_and_the_store_out_of_ml() {
    // The engine runs `MlSignal` as any strategy; it must not learn about models or the
    // registry. tradai-ml gets candles as values (no store) and speaks no HTTP itself.
    let deps = crate_deps();
    let engine = &deps["tradai-engine"];
    assert!(!engine.iter().any(|d| d == "tradai-ml" || d == "tradai-tracking"), "tradai-engine must not know models: {engine:?}");
    let ml = &deps["tradai-ml"];
    assert!(!ml.iter().any(|d| d == "tradai-store" || d == "tradai-app" || d == "reqwest"), "tradai-ml must not read storage: {ml:?}");
}

#[test]
fn every_crate_is_in_the_architecture_doc() {
    let doc = fs::read_to_string(workspace_root().join("docs/ARCHITECTURE.md")).unwrap();
    for name in crate_deps().keys() {
        assert!(doc.contains(&format!("`{name}`")), "docs/ARCHITECTURE.md has no code-map entry for {name}");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let mut files = Vec::new();
    rust_files(&workspace_root().join("crates"), &mut files);
    // The cargo-fuzz targets live outside the workspace but follow its conventions.
    rust_files(&workspace_root().join("fuzz"), &mut files);
    let missing: Vec<_> =
        files.iter().filter(|f| !fs::read_to_string(f).unwrap().trim_start().starts_with("//!")).map(|f| f.display().to_string()).collect();
    assert!(missing.is_empty(), "files without a leading //! line: {missing:?}");
}

/// A fresh clone must stand alone: no test, script or CI step may read the `shared/` folder
/// that sits beside the checkout on a developer's machine. What the tests need is copied into
/// `testdata/`.
#[test]
fn nothing_reads_outside_the_repository() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    for dir in ["scripts", ".ci"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
    }
    let needle = ["../", "shared"].concat();
    let bad: Vec<_> = files
        .iter()
        .filter(|f| fs::read(f).is_ok_and(|b| String::from_utf8_lossy(&b).contains(&needle)))
        .map(|f| f.display().to_string())
        .collect();
    assert!(bad.is_empty(), "files that reach outside the repository for '{needle}': {bad:?}");
}

/// tradai-resilience is shared by every client: its only transport is reqwest, optional
/// (the `http` feature), and it knows no entry point.
#[test]
fn resilience_pulls_no_transport_in_by_default() {
    let text = fs::read_to_string(workspace_root().join("crates/resilience/Cargo.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    for (name, spec) in doc["dependencies"].as_table().unwrap() {
        let optional = spec.get("optional").and_then(toml::Value::as_bool) == Some(true);
        assert!(
            optional || !ENTRY_POINT_OR_TRANSPORT.contains(&name.as_str()),
            "tradai-resilience must not depend on {name} unconditionally"
        );
    }
}

/// The CLI's modules import one way: `args` (the top of the parser) imports the commands, the
/// commands import `flags` and `output`, never `args` — no import loops.
#[test]
fn cli_commands_do_not_import_the_top_of_the_parser() {
    let dir = workspace_root().join("crates/cli/src/cmd");
    let mut bad = Vec::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("crate::args") {
                bad.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(bad.is_empty(), "cmd modules must not import crate::args:\n{}", bad.join("\n"));
}

/// The crate graph written in docs/ARCHITECTURE.md ("Crate graph": `- `tradai-x`: a, b`).
fn documented_graph() -> BTreeMap<String, Vec<String>> {
    let doc = fs::read_to_string(workspace_root().join("docs/ARCHITECTURE.md")).unwrap();
    let section = doc.split("## Crate graph").nth(1).expect("docs/ARCHITECTURE.md has a '## Crate graph' section");
    let section = section.split("\n## ").next().unwrap();
    let mut out = BTreeMap::new();
    for line in section.lines().filter_map(|l| l.strip_prefix("- `")) {
        let (name, rest) = line.split_once("`:").unwrap_or_else(|| panic!("malformed crate graph line: '{line}'"));
        let deps: Vec<String> = match rest.trim() {
            "none" => Vec::new(),
            list => list.split(',').map(|d| format!("tradai-{}", d.trim())).collect(),
        };
        out.insert(name.to_owned(), deps);
    }
    out
}

/// The manifests' workspace edges are exactly the documented ones.
#[test]
fn the_crate_graph_matches_the_architecture_doc() {
    let documented = documented_graph();
    let actual: BTreeMap<String, Vec<String>> =
        crate_deps().into_iter().map(|(name, deps)| (name, deps.into_iter().filter(|d| d.starts_with("tradai-")).collect())).collect();
    let mut problems = Vec::new();
    for (name, deps) in &actual {
        let Some(allowed) = documented.get(name) else {
            problems.push(format!("{name} is not in the crate graph"));
            continue;
        };
        for d in deps.iter().filter(|d| !allowed.contains(d)) {
            problems.push(format!("{name} -> {d} is not in the crate graph"));
        }
        for d in allowed.iter().filter(|d| !deps.contains(d)) {
            problems.push(format!("the crate graph lists {name} -> {d}, which no manifest has"));
        }
    }
    for name in documented.keys().filter(|n| !actual.contains_key(*n)) {
        problems.push(format!("the crate graph names {name}, which is not a workspace crate"));
    }
    assert!(problems.is_empty(), "docs/ARCHITECTURE.md's crate graph and the manifests disagree:\n{}", problems.join("\n"));
}
