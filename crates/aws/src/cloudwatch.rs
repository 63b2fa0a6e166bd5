//! [`CloudWatchMetrics`]: the handlers' metrics stored with PutMetricData, for handlers running
//! inside `tradai up` on AWS (`METRICS_SINK=cloudwatch`), where stdout is no log group and the
//! Embedded Metric Format of the Lambda functions would go nowhere.

use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use tokio::sync::OnceCell;
use tradai_handlers::metrics::{Datum, MetricSink, Unit};
use tradai_handlers::notify::SinkError;

use crate::{AwsError, AwsOverrides};

/// Data per PutMetricData call (CloudWatch takes up to 1000; small calls keep requests small).
const BATCH: usize = 20;

/// Stores metrics in CloudWatch, one PutMetricData call per namespace and batch.
#[derive(Debug)]
pub struct CloudWatchMetrics {
    overrides: AwsOverrides,
    client: OnceCell<aws_sdk_cloudwatch::Client>,
}

impl CloudWatchMetrics {
    /// A sink connected on first use.
    #[must_use]
    pub fn new(overrides: AwsOverrides) -> Self {
        Self { overrides, client: OnceCell::new() }
    }

    async fn put_all(&self, data: &[Datum]) -> Result<(), AwsError> {
        let client =
            self.client.get_or_init(|| async { aws_sdk_cloudwatch::Client::new(&crate::load_sdk_config(&self.overrides).await) }).await;
        let mut namespaces: Vec<&str> = data.iter().map(|d| d.namespace.as_str()).collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        for ns in namespaces {
            let of_ns: Vec<MetricDatum> = data.iter().filter(|d| d.namespace == ns).map(datum).collect();
            for chunk in of_ns.chunks(BATCH) {
                client
                    .put_metric_data()
                    .namespace(ns)
                    .set_metric_data(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| AwsError::sdk("cloudwatch", "PutMetricData", ns, e))?;
            }
        }
        Ok(())
    }
}

fn datum(d: &Datum) -> MetricDatum {
    let unit = match d.unit {
        Unit::Count => StandardUnit::Count,
        Unit::Milliseconds => StandardUnit::Milliseconds,
    };
    let dims = d.dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect();
    MetricDatum::builder()
        .metric_name(&d.name)
        .value(d.value)
        .unit(unit)
        .timestamp(DateTime::from_millis(d.timestamp_ms))
        .set_dimensions(Some(dims))
        .build()
}

#[async_trait]
impl MetricSink for CloudWatchMetrics {
    fn describe(&self) -> String {
        "cloudwatch PutMetricData".into()
    }

    async fn put(&self, data: &[Datum]) -> Result<(), SinkError> {
        self.put_all(data).await.map_err(|e| SinkError { sink: self.describe(), source: Box::new(e) })
    }
}
