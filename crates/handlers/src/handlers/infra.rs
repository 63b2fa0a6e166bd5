//! Infrastructure and data: pulumi-drift-detector (infrastructure drift), update-nat-routes
//! (NAT instance failover) and data-collection-proxy.

use serde::Deserialize;
use serde_json::{json, Value};

use super::scheduled_overrides;
use crate::context::Ctx;
use crate::notify::Severity;
use crate::ports::RouteTables;
use crate::HandlerError;

pub(super) async fn infra_drift(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    scheduled_overrides(event)?;
    let infra = ctx.infra()?;
    let changes = infra.diff().await?;
    if !changes.is_empty() {
        let list: Vec<String> = changes.iter().map(|c| format!("{} {}", c.action, c.resource)).collect();
        ctx.notify(
            Severity::Warning,
            &format!("{}:{}", infra.stack(), list.join(",")),
            format!("Infrastructure drift in {}", infra.stack()),
            format!("{} change(s) between the deployed stack and the template: {}", changes.len(), list.join(", ")),
            json!({"stack": infra.stack(), "changes": changes.len()}),
        )
        .await;
    }
    Ok(json!({"stack": infra.stack(), "drift_detected": !changes.is_empty(), "changes": changes}))
}

/// An Auto Scaling lifecycle action as EventBridge delivers it.
#[derive(Debug, Deserialize)]
struct LifecycleEvent {
    detail: LifecycleDetail,
}

#[derive(Debug, Deserialize)]
struct LifecycleDetail {
    #[serde(rename = "EC2InstanceId")]
    instance_id: String,
    #[serde(rename = "LifecycleTransition")]
    transition: String,
    #[serde(rename = "AutoScalingGroupName", default)]
    group: Option<String>,
}

/// The route tables to point: `ROUTE_TABLE_IDS` (comma-separated), else those tagged
/// `ROUTE_TABLE_TAG` (`key=value`, as `Name=tradai-dev-private`).
async fn private_tables(ctx: &Ctx<'_>, routes: &dyn RouteTables) -> Result<Vec<String>, HandlerError> {
    let ids = ctx.vars.list("ROUTE_TABLE_IDS");
    if !ids.is_empty() {
        return Ok(ids);
    }
    let missing = |value: &str, message: &str| HandlerError::Setting {
        name: "ROUTE_TABLE_TAG".into(),
        value: value.to_owned(),
        message: message.to_owned(),
    };
    let Some(tag) = ctx.vars.get("ROUTE_TABLE_TAG") else {
        return Err(missing(
            "",
            "set ROUTE_TABLE_IDS (rtb-..., comma-separated) or ROUTE_TABLE_TAG (key=value) to name the private route tables",
        ));
    };
    let Some((key, value)) = tag.split_once('=').filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty()) else {
        return Err(missing(tag, "expected key=value, as Name=tradai-dev-private"));
    };
    let found = routes.tables_tagged(key.trim(), value.trim()).await?;
    if found.is_empty() {
        return Err(missing(tag, "no route table carries this tag"));
    }
    Ok(found)
}

pub(super) async fn update_nat_routes(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let ev: LifecycleEvent =
        ctx.event(event, "an Auto Scaling lifecycle event {\"detail\": {\"EC2InstanceId\", \"LifecycleTransition\", ...}}")?;
    let d = ev.detail;
    if !d.instance_id.starts_with("i-") {
        return Err(HandlerError::bad_event(format!("`detail.EC2InstanceId` '{}' is not an instance id", d.instance_id)));
    }
    if d.transition != "autoscaling:EC2_INSTANCE_LAUNCHING" {
        return Ok(
            json!({"updated": false, "instance_id": d.instance_id, "reason": format!("transition {} needs no route change", d.transition)}),
        );
    }
    let routes = ctx.routes()?;
    let tables = private_tables(ctx, routes.as_ref()).await?;
    let mut changes = Vec::new();
    for t in &tables {
        changes.push(routes.point_default_route(t, &d.instance_id).await?);
    }
    Ok(json!({"updated": true, "instance_id": d.instance_id, "auto_scaling_group": d.group, "routes": changes}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxyEvent {
    /// `symbols`, `freshness`, `validate`, `sync` or `sync_status`.
    action: String,
    /// The request body of `freshness`, `validate` and `sync`.
    #[serde(default)]
    payload: Option<Value>,
    /// The sync job of `sync_status`.
    #[serde(default)]
    job_id: Option<String>,
}

pub(super) async fn data_collection_proxy(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let ev: ProxyEvent = ctx.event(event, "{\"action\": symbols|freshness|validate|sync|sync_status, \"payload\"?, \"job_id\"?}")?;
    let base = crate::services::service_url(&ctx.vars, "DATA_COLLECTION_URL", "data-collection", 8002, &ctx.settings.environment);
    let payload = || ev.payload.clone().ok_or_else(|| HandlerError::bad_event(format!("action '{}' needs a `payload`", ev.action)));
    let (url, body) = match ev.action.as_str() {
        "symbols" => (format!("{base}/api/v1/data/symbols"), None),
        "freshness" => (format!("{base}/api/v1/data/freshness"), Some(payload()?)),
        "validate" => (format!("{base}/api/v1/data/validate"), Some(payload()?)),
        "sync" => (format!("{base}/api/v1/data/sync"), Some(payload()?)),
        "sync_status" => {
            let id = ev.job_id.as_deref().filter(|i| !i.is_empty() && !i.contains('/'));
            let id = id.ok_or_else(|| HandlerError::bad_event("action 'sync_status' needs a `job_id`"))?;
            (format!("{base}/api/v1/data/sync/{id}"), None)
        }
        other => {
            return Err(HandlerError::bad_event(format!(
                "`action` '{other}' is not one of symbols, freshness, validate, sync, sync_status"
            )))
        }
    };
    let timeout = std::time::Duration::from_secs(ctx.vars.parse_or("PROXY_TIMEOUT_SECONDS", 170)?);
    let answer = crate::services::call("data-collection", &url, body.as_ref(), timeout).await?;
    Ok(json!({"action": ev.action, "result": answer}))
}
