//! The DynamoDB job repository: every case of `tradai_jobs::suite` on a fresh table, and the
//! cases only a shared remote table has (two processes' repositories on one table, the table's
//! schema, items the code did not write).

use std::sync::Arc;

use tradai_aws::{DynamoJobRepository, STATUS_INDEX};
use tradai_jobs::{JobRepository, JobStatus, RepoError};

use crate::{emulator, unique_table};

fn fresh(o: &tradai_aws::AwsOverrides, prefix: &str) -> DynamoJobRepository {
    DynamoJobRepository::connect(&unique_table(prefix), o, true).unwrap()
}

/// Every case of the shared suite, each on a table of its own.
#[test]
fn shared_suite() {
    let Some(o) = emulator("dynamodb::shared_suite") else { return };
    for (name, case) in tradai_jobs::suite::CASES {
        eprintln!("dynamodb: {name}");
        case(Arc::new(fresh(&o, "suite")));
    }
}

/// The handler-state suite on one shared table (keys are unique per case), and state items
/// stay out of the job listings and counts that share the status index.
#[test]
fn state_suite() {
    let Some(o) = emulator("dynamodb::state_suite") else { return };
    let repo = Arc::new(fresh(&o, "state"));
    for (name, case) in tradai_jobs::suite::STATE_CASES {
        eprintln!("dynamodb: {name}");
        case(repo.clone());
    }
    assert!(repo.list(&tradai_jobs::JobFilter::default()).unwrap().items.is_empty(), "a state is not a job");
    assert!(repo.count_by_status().unwrap().iter().all(|(_, n)| *n == 0));
    assert!(matches!(repo.get("state#HEALTH#x"), Err(RepoError::NotFound(_))));
}

/// Two repositories (two worker processes) on one table never claim the same job, and a job
/// one of them creates the other sees at once.
#[test]
fn two_repositories_share_one_table() {
    let Some(o) = emulator("dynamodb::two_repositories_share_one_table") else { return };
    let table = unique_table("shared");
    let a = Arc::new(DynamoJobRepository::connect(&table, &o, true).unwrap());
    let b = Arc::new(DynamoJobRepository::connect(&table, &o, false).unwrap());
    let mut created = Vec::new();
    for _ in 0..10 {
        created.push(a.create(tradai_jobs::suite::new_job(None)).unwrap().0.id);
    }
    assert_eq!(b.get(&created[3]).unwrap().status, JobStatus::Pending);
    let claim_all = |repo: Arc<DynamoJobRepository>, me: &'static str| {
        std::thread::spawn(move || {
            let mut mine = Vec::new();
            while let Some(j) = repo.claim_next(&["backtest"], me).unwrap() {
                repo.transition(&j.id, JobStatus::Completed, Some(serde_json::json!({"by": me})), None).unwrap();
                mine.push(j.id);
            }
            mine
        })
    };
    let (ha, hb) = (claim_all(Arc::clone(&a), "a"), claim_all(Arc::clone(&b), "b"));
    let mut all = ha.join().unwrap();
    all.extend(hb.join().unwrap());
    all.sort();
    created.sort();
    assert_eq!(all, created, "each job completed exactly once");
    assert_eq!(a.count_by_status().unwrap(), vec![(JobStatus::Completed, 10)]);
}

/// `connect` without `create` names a missing table; creating an existing table is a no-op.
#[test]
fn missing_tables_are_named_and_creation_is_idempotent() {
    let Some(o) = emulator("dynamodb::missing_tables_are_named_and_creation_is_idempotent") else { return };
    let name = unique_table("missing");
    let e = DynamoJobRepository::connect(&name, &o, false).unwrap_err();
    assert!(e.to_string().contains(&name) && e.to_string().contains("ResourceNotFoundException"), "{e}");
    assert!(!e.is_retryable(), "a missing table does not appear by retrying: {e:?}");
    let repo = DynamoJobRepository::connect(&name, &o, true).unwrap();
    let (j, _) = repo.create(tradai_jobs::suite::new_job(None)).unwrap();
    repo.create_table().unwrap();
    assert_eq!(repo.get(&j.id).unwrap().id, j.id, "creating it again keeps the data");
    repo.ping().unwrap();
    assert_eq!(repo.table(), name);
}

/// An unreachable endpoint is a retryable storage error naming the table.
#[test]
fn an_unreachable_endpoint_is_retryable() {
    let Some(mut o) = emulator("dynamodb::an_unreachable_endpoint_is_retryable") else { return };
    let good = fresh(&o, "unreachable");
    o.endpoint_url = Some("http://127.0.0.1:1".into());
    let e = DynamoJobRepository::connect(good.table(), &o, false).unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(e.to_string().contains(good.table()), "{e}");
}

/// The table's schema is what the CloudFormation template will declare: key `job_id`, the
/// status index with every attribute; idempotency items stay out of the index, and a job
/// item edited into an unknown status is reported, not skipped.
#[test]
fn schema_and_foreign_items() {
    let Some(o) = emulator("dynamodb::schema_and_foreign_items") else { return };
    let repo = fresh(&o, "schema");
    let (j, _) = repo.create(tradai_jobs::suite::new_job(Some("k-schema"))).unwrap();
    let table = repo.table().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = tradai_aws::load_sdk_config(&o).await;
        let c = aws_sdk_dynamodb::Client::new(&cfg);
        let d = c.describe_table().table_name(&table).send().await.unwrap();
        let t = d.table().unwrap();
        assert_eq!(t.key_schema()[0].attribute_name(), "job_id");
        let gsi = &t.global_secondary_indexes()[0];
        assert_eq!(gsi.index_name(), Some(STATUS_INDEX));
        let keys: Vec<&str> = gsi.key_schema().iter().map(|k| k.attribute_name()).collect();
        assert_eq!(keys, vec!["status", "created_at"]);
        let items = c.scan().table_name(&table).send().await.unwrap();
        assert_eq!(items.count(), 2, "the job and its idempotency item");
        let idx = c
            .query()
            .table_name(&table)
            .index_name(STATUS_INDEX)
            .key_condition_expression("#s = :s")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", aws_sdk_dynamodb::types::AttributeValue::S("PENDING".into()))
            .send()
            .await
            .unwrap();
        assert_eq!(idx.count(), 1, "only the job is in the index");
        c.update_item()
            .table_name(&table)
            .key("job_id", aws_sdk_dynamodb::types::AttributeValue::S(j.id.clone()))
            .update_expression("SET attempts = :bad")
            .expression_attribute_values(":bad", aws_sdk_dynamodb::types::AttributeValue::S("three".into()))
            .send()
            .await
            .unwrap();
    });
    match repo.get(&j.id) {
        Err(e @ RepoError::Storage(_)) => {
            let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
            assert!(chain.contains(&j.id) && chain.contains("attempts"), "{chain}");
        }
        other => panic!("expected a storage error, got {other:?}"),
    }
    assert!(matches!(repo.get("idempotency#k-schema"), Err(RepoError::NotFound(_))));
}
