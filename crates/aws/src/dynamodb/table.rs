//! The job table: created by [`create_job_table`] (tests, `tradai` on an emulator) with the
//! same schema the CloudFormation template declares.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

use super::item::KEY;
use crate::AwsError;

/// The global secondary index on (`status`, `created_at`): listings by status, claims of the
/// oldest PENDING job and the orphan scan read it, never a table scan. The seeds' name.
pub const STATUS_INDEX: &str = "status-created_at-index";

fn built<T, E: std::error::Error + Send + Sync + 'static>(r: Result<T, E>) -> Result<T, AwsError> {
    r.map_err(|e| AwsError::Runtime(format!("building a request: {e}")))
}

/// Creates the job table `table` (on-demand billing; key `job_id`; GSI [`STATUS_INDEX`] with
/// every attribute projected) and waits until it is ACTIVE. An existing table is left as it is.
///
/// # Errors
/// [`AwsError`] when AWS refuses (permissions, a table of that name being deleted).
pub async fn create_job_table(client: &Client, table: &str) -> Result<(), AwsError> {
    let attr = |name: &str, t: ScalarAttributeType| built(AttributeDefinition::builder().attribute_name(name).attribute_type(t).build());
    let key = |name: &str, t: KeyType| built(KeySchemaElement::builder().attribute_name(name).key_type(t).build());
    let gsi = built(
        GlobalSecondaryIndex::builder()
            .index_name(STATUS_INDEX)
            .key_schema(key("status", KeyType::Hash)?)
            .key_schema(key("created_at", KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build(),
    )?;
    let out = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(KEY, ScalarAttributeType::S)?)
        .attribute_definitions(attr("status", ScalarAttributeType::S)?)
        .attribute_definitions(attr("created_at", ScalarAttributeType::N)?)
        .key_schema(key(KEY, KeyType::Hash)?)
        .global_secondary_indexes(gsi)
        .send()
        .await;
    match out {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(aws_sdk_dynamodb::operation::create_table::CreateTableError::is_resource_in_use_exception) => {}
        Err(e) => return Err(AwsError::sdk("dynamodb", "CreateTable", table, e)),
    }
    // Real DynamoDB takes seconds to make a table ACTIVE; the emulator does it at once.
    for _ in 0..120 {
        let d = client.describe_table().table_name(table).send().await.map_err(|e| AwsError::sdk("dynamodb", "DescribeTable", table, e))?;
        let status = d.table().and_then(|t| t.table_status().cloned());
        if status == Some(aws_sdk_dynamodb::types::TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(AwsError::Runtime(format!("table '{table}' did not become ACTIVE within 60 s")))
}
