//! The persistent stack: what holds data and must outlive the others — the data and results
//! buckets, the workflow-state job table, the backtest queue and its dead-letter queue, the
//! alerts topic, the exchange-keys secret and the image repository.

use serde_json::{json, Value};

use crate::template::{get_att, r#ref, sub, Resource, Template};
use crate::Deployment;

/// The GSI the job repository lists, claims and scans by (tradai-aws's `STATUS_INDEX`).
pub const STATUS_INDEX: &str = "status-created_at-index";

/// Messages received this often without being deleted go to the dead-letter queue.
const MAX_RECEIVES: u32 = 5;
/// A worker extends a message's visibility while it runs; this is the first lease.
const VISIBILITY_SECS: u32 = 300;

fn bucket(d: &Deployment, what: &str, expire_days: Option<u32>) -> Resource {
    let mut rules = vec![
        json!({ "Id": "abort-incomplete-uploads", "Status": "Enabled", "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 7 } }),
    ];
    if let Some(days) = expire_days {
        rules.push(json!({ "Id": "expire-results", "Status": "Enabled", "ExpirationInDays": days }));
    }
    Resource::new(
        "AWS::S3::Bucket",
        json!({
            "BucketName": sub(&d.bucket_sub(what)),
            "BucketEncryption": { "ServerSideEncryptionConfiguration": [ { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } } ] },
            "PublicAccessBlockConfiguration": { "BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true },
            "VersioningConfiguration": { "Status": "Enabled" },
            "LifecycleConfiguration": { "Rules": rules },
        }),
    )
}

/// The persistent stack of `d`.
#[must_use]
pub fn template(d: &Deployment) -> Template {
    let p = d.env().profile();
    let mut t = Template::new(format!("TradAI {} persistent stack: buckets, job table, backtest queue, alerts topic, secrets", d.env()));

    // Candles: kept in every environment (they are expensive to fetch again).
    t.add("DataBucket", bucket(d, "data", None).retained(p.protect_data));
    t.add("ResultsBucket", bucket(d, "results", p.results_expire_days).retained(p.protect_data));

    let attr = |name: &str, kind: &str| json!({ "AttributeName": name, "AttributeType": kind });
    let mut table = json!({
        "TableName": d.table(),
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [attr("job_id", "S"), attr("status", "S"), attr("created_at", "N")],
        "KeySchema": [ { "AttributeName": "job_id", "KeyType": "HASH" } ],
        "GlobalSecondaryIndexes": [ {
            "IndexName": STATUS_INDEX,
            "KeySchema": [ { "AttributeName": "status", "KeyType": "HASH" }, { "AttributeName": "created_at", "KeyType": "RANGE" } ],
            "Projection": { "ProjectionType": "ALL" },
        } ],
        "SSESpecification": { "SSEEnabled": true },
    });
    if p.protect_data {
        table["PointInTimeRecoverySpecification"] = json!({ "PointInTimeRecoveryEnabled": true });
        table["DeletionProtectionEnabled"] = Value::Bool(true);
    }
    t.add("WorkflowStateTable", Resource::new("AWS::DynamoDB::Table", table).retained(p.protect_data));

    t.add(
        "BacktestDeadLetterQueue",
        Resource::new(
            "AWS::SQS::Queue",
            json!({ "QueueName": d.dead_letter_queue(), "FifoQueue": true, "MessageRetentionPeriod": 14 * 24 * 3600 }),
        ),
    );
    t.add(
        "BacktestQueue",
        Resource::new(
            "AWS::SQS::Queue",
            json!({
                "QueueName": d.queue(),
                "FifoQueue": true,
                "ContentBasedDeduplication": true,
                "VisibilityTimeout": VISIBILITY_SECS,
                "MessageRetentionPeriod": p.queue_retention_secs,
                "RedrivePolicy": { "deadLetterTargetArn": get_att("BacktestDeadLetterQueue", "Arn"), "maxReceiveCount": MAX_RECEIVES },
            }),
        ),
    );

    t.add("AlertsTopic", Resource::new("AWS::SNS::Topic", json!({ "TopicName": d.name("alerts"), "DisplayName": "TradAI alerts" })));

    // The value is generated, never written in a template: operators put the real keys in with
    // `aws secretsmanager put-secret-value` after the first deploy.
    t.add(
        "ExchangeKeysSecret",
        Resource::new(
            "AWS::SecretsManager::Secret",
            json!({
                "Name": d.secret(),
                "Description": "Exchange API key and secret of the trading nodes (JSON: api_key, api_secret)",
                "GenerateSecretString": { "SecretStringTemplate": "{\"api_key\":\"\"}", "GenerateStringKey": "api_secret", "PasswordLength": 32, "ExcludePunctuation": true },
            }),
        ),
    );

    t.add(
        "ImageRepository",
        Resource::new(
            "AWS::ECR::Repository",
            json!({
                "RepositoryName": d.name("tradai"),
                "ImageScanningConfiguration": { "ScanOnPush": true },
                "LifecyclePolicy": { "LifecyclePolicyText": "{\"rules\":[{\"rulePriority\":1,\"description\":\"keep the last 30 images\",\"selection\":{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\",\"countNumber\":30},\"action\":{\"type\":\"expire\"}}]}" },
            }),
        ),
    );

    let out = |t: &mut Template, id: &str, desc: &str, v: Value| t.output(id, desc, v, Some(d.export(id)));
    out(&mut t, "DataBucket", "Candle store bucket (TRADAI_DATA_DIR=s3://<it>/data)", r#ref("DataBucket"));
    out(&mut t, "DataBucketArn", "Candle store bucket ARN", get_att("DataBucket", "Arn"));
    out(&mut t, "ResultsBucket", "Job exports, reports and plots", r#ref("ResultsBucket"));
    out(&mut t, "ResultsBucketArn", "Results bucket ARN", get_att("ResultsBucket", "Arn"));
    out(&mut t, "TableName", "Job table (DYNAMODB_TABLE_NAME)", r#ref("WorkflowStateTable"));
    out(&mut t, "TableArn", "Job table ARN", get_att("WorkflowStateTable", "Arn"));
    out(&mut t, "QueueUrl", "Backtest queue (BACKEND_BACKTEST_QUEUE_URL)", r#ref("BacktestQueue"));
    out(&mut t, "QueueArn", "Backtest queue ARN", get_att("BacktestQueue", "Arn"));
    out(&mut t, "DeadLetterQueueUrl", "Messages that failed too often", r#ref("BacktestDeadLetterQueue"));
    out(&mut t, "DeadLetterQueueName", "Dead-letter queue name (its alarm's dimension)", get_att("BacktestDeadLetterQueue", "QueueName"));
    out(&mut t, "AlertsTopicArn", "Alerts topic (SNS_ALERTS_TOPIC_ARN)", r#ref("AlertsTopic"));
    out(&mut t, "ExchangeKeysSecretArn", "Exchange keys secret", r#ref("ExchangeKeysSecret"));
    out(&mut t, "ImageRepositoryName", "ECR repository of the tradai image", r#ref("ImageRepository"));
    t
}
