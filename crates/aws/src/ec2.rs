//! [`Ec2RouteTables`]: update-nat-routes' [`RouteTables`] on EC2 (DescribeRouteTables,
//! ReplaceRoute, CreateRoute), over the signed Query API of [`crate::query`].

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::OnceCell;
use tradai_handlers::ports::{RouteChange, RouteTables};
use tradai_handlers::HandlerError;

use crate::query::{QueryClient, QueryService};
use crate::{AwsError, AwsOverrides};

const DEFAULT_ROUTE: &str = "0.0.0.0/0";

/// A list of `<item>`s, as EC2 answers sets.
#[derive(Debug, Clone, Deserialize)]
struct Items<T> {
    #[serde(rename = "item", default = "Vec::new")]
    items: Vec<T>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

#[derive(Debug, Deserialize)]
struct DescribeRouteTablesResponse {
    #[serde(rename = "routeTableSet", default)]
    tables: Items<RouteTableXml>,
}

/// A route table as DescribeRouteTables answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct RouteTableXml {
    /// `rtb-...`.
    #[serde(rename = "routeTableId")]
    pub id: String,
    #[serde(rename = "routeSet", default)]
    routes: Items<RouteXml>,
}

/// One route of a table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RouteXml {
    /// The destination (`0.0.0.0/0`).
    #[serde(rename = "destinationCidrBlock", default)]
    pub destination: Option<String>,
    /// The instance it points at, for instance routes.
    #[serde(rename = "instanceId", default)]
    pub instance_id: Option<String>,
    /// The gateway it points at (`igw-...`, `local`).
    #[serde(rename = "gatewayId", default)]
    pub gateway_id: Option<String>,
    /// The NAT gateway it points at.
    #[serde(rename = "natGatewayId", default)]
    pub nat_gateway_id: Option<String>,
}

impl RouteTableXml {
    /// Its routes.
    #[must_use]
    pub fn routes(&self) -> &[RouteXml] {
        &self.routes.items
    }
}

/// EC2's route tables, connected on first use (a Lambda function's cold start does not pay for
/// handlers that never change a route).
#[derive(Debug)]
pub struct Ec2RouteTables {
    overrides: AwsOverrides,
    client: OnceCell<QueryClient>,
}

impl Ec2RouteTables {
    /// Route tables reached with the SDK's configuration and `overrides`.
    #[must_use]
    pub fn new(overrides: AwsOverrides) -> Self {
        Self { overrides, client: OnceCell::new() }
    }

    async fn client(&self) -> Result<&QueryClient, AwsError> {
        self.client.get_or_try_init(|| QueryClient::connect(QueryService::Ec2, &self.overrides)).await
    }

    /// The route tables with the given ids, or tagged `key=value` when `ids` is empty.
    ///
    /// # Errors
    /// [`AwsError`] (a missing table is `InvalidRouteTableID.NotFound`).
    pub async fn describe(&self, ids: &[&str], tag: Option<(&str, &str)>) -> Result<Vec<RouteTableXml>, AwsError> {
        let mut params: Vec<(String, String)> =
            ids.iter().enumerate().map(|(i, id)| (format!("RouteTableId.{}", i + 1), (*id).to_owned())).collect();
        if let Some((k, v)) = tag {
            params.push(("Filter.1.Name".into(), format!("tag:{k}")));
            params.push(("Filter.1.Value.1".into(), v.to_owned()));
        }
        let resource = if ids.is_empty() { tag.map(|(k, v)| format!("tag {k}={v}")).unwrap_or_default() } else { ids.join(",") };
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let xml = self.client().await?.call("DescribeRouteTables", &resource, &pairs).await?;
        let parsed: DescribeRouteTablesResponse = quick_xml::de::from_str(&xml).map_err(|e| AwsError::Service {
            service: "ec2",
            operation: "DescribeRouteTables",
            resource: resource.clone(),
            code: "MalformedResponse".into(),
            message: e.to_string(),
            source: Box::new(e),
        })?;
        Ok(parsed.tables.items)
    }
}

fn dependency(e: AwsError) -> HandlerError {
    let retryable = e.is_retryable();
    HandlerError::dependency("ec2 route tables", retryable, e)
}

#[async_trait]
impl RouteTables for Ec2RouteTables {
    async fn point_default_route(&self, route_table_id: &str, instance_id: &str) -> Result<RouteChange, HandlerError> {
        let table = self.describe(&[route_table_id], None).await.map_err(dependency)?;
        let has_default = table.iter().flat_map(RouteTableXml::routes).any(|r| r.destination.as_deref() == Some(DEFAULT_ROUTE));
        let action = if has_default { "ReplaceRoute" } else { "CreateRoute" };
        let params = [("RouteTableId", route_table_id), ("DestinationCidrBlock", DEFAULT_ROUTE), ("InstanceId", instance_id)];
        self.client().await.map_err(dependency)?.call(action, route_table_id, &params).await.map_err(dependency)?;
        tracing::info!(route_table = route_table_id, instance = instance_id, action, "default route points at the NAT instance");
        Ok(RouteChange { route_table_id: route_table_id.to_owned(), action: if has_default { "replaced" } else { "created" }.to_owned() })
    }

    async fn tables_tagged(&self, key: &str, value: &str) -> Result<Vec<String>, HandlerError> {
        Ok(self.describe(&[], Some((key, value))).await.map_err(dependency)?.into_iter().map(|t| t.id).collect())
    }
}
