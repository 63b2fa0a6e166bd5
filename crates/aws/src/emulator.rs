//! What the strategy container's ECS tasks need on moto's emulator (`scripts/moto-server.sh`),
//! for the tests and for trying the `ecs` executor without an AWS account: a VPC with DNS
//! hostnames, a subnet and a security group in the emulator's EC2 (moto refuses an awsvpc
//! `RunTask` without them), a cluster whose default capacity provider is Fargate (as the compute
//! stack's), and a task definition of the strategy container with memory set on the container.
//!
//! The emulator never runs a container and, by default, moves a task to STOPPED the first time
//! it is described; [`pin_ecs_tasks`] makes tasks stay RUNNING until `StopTask` (moto's state
//! manager, `manual` progression). The network calls go to moto's EC2 query API directly: this
//! crate has no EC2 client, and moto does not check signatures.

use std::io::{Read, Write};

use aws_sdk_ecs::types::{CapacityProviderStrategyItem, Compatibility, ContainerDefinition, NetworkMode};

use crate::{AwsError, EcsTaskSpec};

/// A POST to the emulator at `endpoint` (`http://127.0.0.1:PORT`); returns the status line and
/// the body.
fn post(endpoint: &str, path: &str, content_type: &str, extra_headers: &str, body: &str) -> Result<(String, String), AwsError> {
    let host = endpoint.trim().trim_end_matches('/').trim_start_matches("http://");
    let err = |e: std::io::Error| AwsError::Runtime(format!("emulator at {endpoint}: {e}"));
    let mut s = std::net::TcpStream::connect(host).map_err(err)?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(err)?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(err)?;
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    let ok = status.split_whitespace().nth(1).is_some_and(|code| code.starts_with('2'));
    if !ok {
        return Err(AwsError::Runtime(format!("emulator at {endpoint}: {path} answered {status}: {body}")));
    }
    Ok((status, body))
}

/// One EC2 query API call; returns the text of the first `<tag>` of the answer.
fn ec2(endpoint: &str, params: &[(&str, &str)], tag: &str) -> Result<String, AwsError> {
    let mut body = String::from("Version=2016-11-15");
    for (k, v) in params {
        body.push('&');
        body.push_str(k);
        body.push('=');
        body.push_str(&v.replace('/', "%2F").replace(' ', "%20"));
    }
    // moto routes on the credential scope's service and region.
    let auth =
        "Authorization: AWS4-HMAC-SHA256 Credential=tradai-test/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n";
    let (_, answer) = post(endpoint, "/", "application/x-www-form-urlencoded", auth, &body)?;
    if tag.is_empty() {
        return Ok(String::new());
    }
    let open = format!("<{tag}>");
    let start = answer.find(&open).map(|i| i + open.len());
    let value = start.and_then(|s| answer[s..].find(&format!("</{tag}>")).map(|e| answer[s..s + e].to_owned()));
    value.ok_or_else(|| AwsError::Runtime(format!("emulator EC2 answer has no <{tag}>: {answer}")))
}

/// Makes the emulator keep ECS tasks RUNNING until they are stopped (instead of STOPPED at the
/// first `DescribeTasks`). Applies to the whole emulator.
///
/// # Errors
/// [`AwsError::Runtime`] when the emulator does not answer.
pub fn pin_ecs_tasks(endpoint: &str) -> Result<(), AwsError> {
    let body = r#"{"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000000}}"#;
    post(endpoint, "/moto-api/state-manager/set-transition", "application/json", "", body).map(|_| ())
}

/// A VPC with DNS hostnames, one subnet and one security group in the emulator's EC2; returns
/// `(subnet id, security group id)`.
///
/// # Errors
/// [`AwsError::Runtime`] when the emulator refuses a call.
pub fn ecs_network(endpoint: &str, name: &str) -> Result<(String, String), AwsError> {
    let vpc = ec2(endpoint, &[("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/16")], "vpcId")?;
    ec2(endpoint, &[("Action", "ModifyVpcAttribute"), ("VpcId", &vpc), ("EnableDnsHostnames.Value", "true")], "")?;
    let subnet = ec2(endpoint, &[("Action", "CreateSubnet"), ("VpcId", &vpc), ("CidrBlock", "10.0.1.0/24")], "subnetId")?;
    let group = ec2(
        endpoint,
        &[("Action", "CreateSecurityGroup"), ("VpcId", &vpc), ("GroupName", name), ("GroupDescription", "tradai strategy containers")],
        "groupId",
    )?;
    Ok((subnet, group))
}

/// Everything an `ecs` executor needs on the emulator, named after `name`: the network, a
/// cluster `name` (Fargate by default) and the strategy container's task definition `name`
/// (container `container`, running `tradai strategy-container`); tasks are pinned RUNNING.
/// Returns the spec to start tasks with.
///
/// # Errors
/// [`AwsError`] when the emulator refuses a call.
pub async fn ecs_fixture(config: &aws_config::SdkConfig, endpoint: &str, name: &str, container: &str) -> Result<EcsTaskSpec, AwsError> {
    pin_ecs_tasks(endpoint)?;
    let (subnet, group) = ecs_network(endpoint, name)?;
    let ecs = aws_sdk_ecs::Client::new(config);
    let fargate = CapacityProviderStrategyItem::builder()
        .capacity_provider("FARGATE")
        .weight(1)
        .build()
        .map_err(|e| AwsError::Runtime(format!("capacity provider strategy: {e}")))?;
    ecs.create_cluster()
        .cluster_name(name)
        .capacity_providers("FARGATE")
        .default_capacity_provider_strategy(fargate)
        .send()
        .await
        .map_err(|e| AwsError::sdk("ecs", "CreateCluster", name, e))?;
    let definition = ContainerDefinition::builder()
        .name(container)
        .image("tradai:emulator")
        .essential(true)
        // moto, like ECS's validation, wants memory on the container.
        .memory(512)
        .command("strategy-container")
        .build();
    ecs.register_task_definition()
        .family(name)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(definition)
        .send()
        .await
        .map_err(|e| AwsError::sdk("ecs", "RegisterTaskDefinition", name, e))?;
    Ok(EcsTaskSpec {
        cluster: name.to_owned(),
        task_definition: name.to_owned(),
        container_name: container.to_owned(),
        subnets: vec![subnet],
        security_groups: vec![group],
        assign_public_ip: false,
        launch_type: None,
    })
}
