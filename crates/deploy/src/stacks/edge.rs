//! The edge stack: what operators look at from outside — a CloudWatch dashboard of the queue,
//! the handlers' errors and the trading alarms' metrics. (The seeds' API Gateway and WAF sit
//! here too; they need the services behind a load balancer, which these stacks do not declare.)

use serde_json::json;

use crate::catalog::LAMBDAS;
use crate::template::{sub, Resource, Template};
use crate::Deployment;

/// The edge stack of `d`.
#[must_use]
pub fn template(d: &Deployment) -> Template {
    let mut t = Template::new(format!("TradAI {} edge stack: the operations dashboard", d.env()));
    let errors: Vec<_> = LAMBDAS.iter().map(|l| json!(["AWS/Lambda", "Errors", "FunctionName", d.function(l.name)])).collect();
    let env = d.env().as_str();
    let widget = |x: u32, y: u32, title: &str, metrics: serde_json::Value, stat: &str| {
        json!({ "type": "metric", "x": x, "y": y, "width": 12, "height": 6,
                "properties": { "title": title, "metrics": metrics, "stat": stat, "period": 300, "region": "${AWS::Region}" } })
    };
    let body = json!({ "widgets": [
        widget(0, 0, "Backtest queue", json!([["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", d.queue()], ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", d.dead_letter_queue()]]), "Maximum"),
        widget(12, 0, "Handler errors", json!(errors), "Sum"),
        widget(0, 6, "Trading", json!([["TradAI/Trading", "DrawdownPct", "Environment", env], ["TradAI/Trading", "MissingHeartbeats", "Environment", env]]), "Maximum"),
        widget(12, 6, "Jobs", json!([["TradAI/Backtests", "OrphanedJobs", "Environment", env]]), "Sum"),
    ]});
    // `Fn::Sub` fills in the region; the body is a JSON string, as CloudWatch wants it.
    let text = serde_json::to_string(&body).expect("a JSON value always prints");
    t.add(
        "Dashboard",
        Resource::new("AWS::CloudWatch::Dashboard", json!({ "DashboardName": d.name("operations"), "DashboardBody": sub(&text) })),
    );
    t
}
