//! The handlers' ports on AWS, on the emulator, driven by the real handlers: health-check's
//! alert published to SNS (read back from a subscribed SQS queue, severity as a message
//! attribute, deduplicated by the same notifier as the webhook sinks), the invocations'
//! metrics stored with PutMetricData, handler state in DynamoDB, and update-nat-routes
//! pointing a private route table's default route at a new NAT instance through EC2's Query API.

use std::sync::Arc;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};
use tradai_aws::query::{first_text, QueryClient, QueryService};
use tradai_aws::{load_sdk_config, AwsOverrides, CloudWatchMetrics, DynamoJobRepository, Ec2RouteTables, SnsNotifier};
use tradai_handlers::notify::{Notification, Outcome, Severity};
use tradai_handlers::settings::Vars;
use tradai_handlers::{Deps, Handlers};

use crate::{emulator, unique_table};

/// Handlers over the emulator's DynamoDB table (jobs and state) with `vars` and a pinned clock.
fn handlers(o: &AwsOverrides, vars: &[(&str, &str)], now_ms: i64, customize: impl FnOnce(&mut Deps)) -> Handlers {
    let repo = Arc::new(DynamoJobRepository::connect(&unique_table("handlers"), o, true).unwrap());
    let mut deps = Deps::minimal();
    deps.tasks = Some(Arc::new(tradai_handlers::local::JobQueueLauncher::new(repo.clone())));
    deps.jobs = Some(repo.clone());
    deps.state = Some(repo);
    deps.clock = Arc::new(move || now_ms);
    customize(&mut deps);
    let mut v = Vars::default().with("ENVIRONMENT", "test");
    for (k, val) in vars {
        v = v.with(k, *val);
    }
    Handlers::new(deps, v, &serde_json::Map::new(), Vec::new()).unwrap()
}

/// A topic with an SQS queue subscribed; returns the topic ARN and the queue URL.
async fn topic_with_queue(o: &AwsOverrides) -> (String, String) {
    let cfg = load_sdk_config(o).await;
    let sns = aws_sdk_sns::Client::new(&cfg);
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let topic = sns.create_topic().name(unique_table("alerts")).send().await.unwrap().topic_arn.unwrap();
    let url = sqs.create_queue().queue_name(unique_table("alerts")).send().await.unwrap().queue_url.unwrap();
    let attrs = sqs.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::QueueArn).send().await.unwrap();
    let queue_arn = attrs.attributes.unwrap()[&QueueAttributeName::QueueArn].clone();
    sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(queue_arn).send().await.unwrap();
    (topic, url)
}

/// Every message of a queue (the SNS envelopes, as JSON).
async fn drain(o: &AwsOverrides, url: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&load_sdk_config(o).await);
    let mut out = Vec::new();
    loop {
        let got = sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send().await.unwrap();
        let msgs = got.messages.unwrap_or_default();
        if msgs.is_empty() {
            return out;
        }
        for m in msgs {
            out.push(serde_json::from_str(m.body.as_deref().unwrap()).unwrap());
            sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle.unwrap()).send().await.unwrap();
        }
    }
}

/// A time no other run of this test used (CloudWatch keeps two weeks of past data points).
fn unique_minute() -> i64 {
    let now = chrono::Utc::now().timestamp_millis() / 60_000 * 60_000;
    let r = i64::from(u16::from_str_radix(&uuid::Uuid::new_v4().simple().to_string()[..4], 16).unwrap());
    now - (r % 10_000 + 60) * 60_000
}

#[test]
fn a_health_alert_goes_to_sns_once_with_its_severity_and_the_metrics_to_cloudwatch() {
    let Some(o) = emulator("handlers::a_health_alert_goes_to_sns_once_with_its_severity_and_the_metrics_to_cloudwatch") else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (topic, queue) = rt.block_on(topic_with_queue(&o));
    let at = unique_minute();
    let vars = [
        ("SERVICES", "backend-api=http://127.0.0.1:9/api/v1/health"),
        ("CONSECUTIVE_FAILURE_THRESHOLD", "1"),
        ("HEALTH_TIMEOUT_SECONDS", "2"),
    ];
    let h = handlers(&o, &vars, at, |_| {})
        .with_notification_sink(Arc::new(SnsNotifier::new(&topic, o.clone())))
        .with_metric_sink(Arc::new(CloudWatchMetrics::new(o.clone())));
    assert_eq!(h.notifier().describe(), [format!("sns {topic}")]);
    rt.block_on(async {
        let r = h.invoke("health-check", json!({})).await.unwrap().response;
        assert_eq!(r.body["summary"]["alerts_sent"], 1, "{:?}", r.body);
        // The same alert again within the dedup window: the notifier drops it before SNS.
        let again = Notification {
            severity: Severity::Critical,
            source: "health-check".into(),
            subject: "Service unhealthy: backend-api".into(),
            message: "again".into(),
            dedup_key: "health-check:backend-api:down".into(),
            environment: "test".into(),
            timestamp: String::new(),
            details: serde_json::Map::new(),
        };
        assert_eq!(h.notifier().send(&again, at + 1000).await, Outcome::Deduplicated);
        let received = drain(&o, &queue).await;
        assert_eq!(received.len(), 1, "{received:?}");
        let m = &received[0];
        assert_eq!(m["Subject"], "[CRITICAL] Service unhealthy: backend-api (test)");
        assert_eq!(m["MessageAttributes"]["severity"]["Value"], "CRITICAL", "{m}");
        assert_eq!(m["MessageAttributes"]["source"]["Value"], "health-check");
        let body: Value = serde_json::from_str(m["Message"].as_str().unwrap()).unwrap();
        assert_eq!(
            (body["dedup_key"].as_str(), body["details"]["service"].as_str()),
            (Some("health-check:backend-api:down"), Some("backend-api"))
        );

        // orphan-scanner emits the orphaned-jobs alarm's metric beside its invocation metrics.
        assert_eq!(h.invoke("orphan-scanner", json!({})).await.unwrap().response.status_code, 200);
        let cw = aws_sdk_cloudwatch::Client::new(&load_sdk_config(&o).await);
        let sum = |ns: &'static str, name: &'static str, dim: (&'static str, &'static str)| {
            let cw = cw.clone();
            async move {
                let d = aws_sdk_cloudwatch::types::Dimension::builder().name(dim.0).value(dim.1).build();
                let stats = cw
                    .get_metric_statistics()
                    .namespace(ns)
                    .metric_name(name)
                    .dimensions(d)
                    .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_millis(at))
                    .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_millis(at + 60_000))
                    .period(60)
                    .statistics(aws_sdk_cloudwatch::types::Statistic::Sum)
                    .send()
                    .await
                    .unwrap();
                stats.datapoints.unwrap_or_default().iter().filter_map(|p| p.sum).sum::<f64>()
            }
        };
        assert_eq!(sum("TradAI/ServiceHealth", "Invocations", ("Handler", "health-check")).await, 1.0);
        assert_eq!(sum("TradAI/ServiceHealth", "Errors", ("Handler", "health-check")).await, 0.0);
        assert_eq!(sum("TradAI/OrphanScanning", "Invocations", ("Handler", "orphan-scanner")).await, 1.0);
        let listed = cw.list_metrics().namespace("TradAI/Backtests").metric_name("OrphanedJobs").send().await.unwrap();
        let dims: Vec<_> = listed.metrics.unwrap_or_default().iter().flat_map(|m| m.dimensions().to_vec()).collect();
        assert!(dims.iter().any(|d| d.name() == Some("Environment") && d.value() == Some("test")), "{dims:?}");
    });
}

fn nat_event(instance: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/handlers/update-nat-routes.json");
    let mut ev: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    ev["detail"]["EC2InstanceId"] = json!(instance);
    ev
}

async fn ec2(q: &QueryClient, action: &'static str, params: &[(&str, &str)], field: &str) -> String {
    let xml = q.call(action, "test setup", params).await.unwrap();
    first_text(&xml, field).unwrap_or_else(|| panic!("{action} answered no {field}: {xml}"))
}

#[test]
fn a_new_nat_instance_takes_the_private_default_route() {
    let Some(o) = emulator("handlers::a_new_nat_instance_takes_the_private_default_route") else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tag = unique_table("private");
    let (table, old, new) = rt.block_on(async {
        let q = QueryClient::connect(QueryService::Ec2, &o).await.unwrap();
        let vpc = ec2(&q, "CreateVpc", &[("CidrBlock", "10.20.0.0/16")], "vpcId").await;
        let subnet = ec2(&q, "CreateSubnet", &[("VpcId", vpc.as_str()), ("CidrBlock", "10.20.1.0/24")], "subnetId").await;
        let table = ec2(&q, "CreateRouteTable", &[("VpcId", vpc.as_str())], "routeTableId").await;
        q.call("CreateTags", &table, &[("ResourceId.1", table.as_str()), ("Tag.1.Key", "Name"), ("Tag.1.Value", tag.as_str())])
            .await
            .unwrap();
        let image = ec2(&q, "DescribeImages", &[], "imageId").await;
        let launch =
            [("ImageId", image.as_str()), ("MinCount", "1"), ("MaxCount", "1"), ("InstanceType", "t3.nano"), ("SubnetId", subnet.as_str())];
        let old = ec2(&q, "RunInstances", &launch, "instanceId").await;
        let new = ec2(&q, "RunInstances", &launch, "instanceId").await;
        (table, old, new)
    });
    let tag_setting = format!("Name={tag}");
    let h = handlers(&o, &[("ROUTE_TABLE_TAG", tag_setting.as_str())], 0, |d| d.routes = Some(Arc::new(Ec2RouteTables::new(o.clone()))));
    let routes = Ec2RouteTables::new(o.clone());
    let default_route = || {
        rt.block_on(routes.describe(&[table.as_str()], None))
            .unwrap()
            .remove(0)
            .routes()
            .iter()
            .find(|r| r.destination.as_deref() == Some("0.0.0.0/0"))
            .and_then(|r| r.instance_id.clone())
    };
    assert_eq!(default_route(), None);
    // The first NAT instance: the table has no default route yet.
    let r = rt.block_on(h.invoke("update-nat-routes", nat_event(&old))).unwrap().response;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    assert_eq!(r.body["routes"], json!([{"route_table_id": table, "action": "created"}]));
    assert_eq!(default_route().as_deref(), Some(old.as_str()));
    // Its replacement: the route is moved.
    let r = rt.block_on(h.invoke("update-nat-routes", nat_event(&new))).unwrap().response;
    assert_eq!(r.body["routes"], json!([{"route_table_id": table, "action": "replaced"}]), "{:?}", r.body);
    assert_eq!(default_route().as_deref(), Some(new.as_str()));
    // A table that does not exist: EC2's error, named, as a dependency failure.
    let missing =
        handlers(&o, &[("ROUTE_TABLE_IDS", "rtb-00000000000000000")], 0, |d| d.routes = Some(Arc::new(Ec2RouteTables::new(o.clone()))));
    let r = rt.block_on(missing.invoke("update-nat-routes", nat_event(&new))).unwrap().response;
    assert_eq!((r.status_code, r.body["error_type"].as_str()), (500, Some("DependencyError")), "{:?}", r.body);
    let error = r.body["error"].as_str().unwrap();
    assert!(
        error.contains("ec2 route tables") && error.contains("rtb-00000000000000000") && error.contains("InvalidRouteTableID"),
        "{error}"
    );
}
