//! The foundation stack: the network (a VPC with DNS hostnames, two public and two private
//! subnets in two availability zones, an internet gateway, one NAT gateway for the private
//! subnets) and IAM (the ECS task execution role, the role of tradai's tasks, the Lambda role),
//! with permissions scoped to the persistent stack's resources.

use serde_json::{json, Value};

use crate::template::{get_att, import, r#ref, sub, tags, Resource, Template};
use crate::Deployment;

/// Ports the services listen on inside the VPC (backend-api 8000, data-collection 8002,
/// strategy-service 8003, live 8004, dry-run 8005; MLflow 5000).
const SERVICE_PORTS: [(u16, u16); 2] = [(5000, 5000), (8000, 8005)];

fn subnet(d: &Deployment, az: u32, third_octet: u32, public: bool) -> Resource {
    let o = d.env().profile().vpc_second_octet;
    let kind = if public { "public" } else { "private" };
    Resource::new(
        "AWS::EC2::Subnet",
        json!({
            "VpcId": r#ref("Vpc"),
            "CidrBlock": format!("10.{o}.{third_octet}.0/24"),
            "AvailabilityZone": { "Fn::Select": [az, { "Fn::GetAZs": "" }] },
            "MapPublicIpOnLaunch": public,
            "Tags": tags(&[("Name", &format!("{}-{kind}-{az}", d.cluster()))]),
        }),
    )
}

fn policy_document(statements: &[Value]) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements })
}

fn assume(service: &str) -> Value {
    policy_document(&[json!({ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" })])
}

/// The exchange-keys secret, whatever suffix Secrets Manager gave it.
fn secret_arns(d: &Deployment) -> Value {
    sub(&format!("{}-*", d.secret_arn_sub()))
}

/// What tradai's own code does with the persistent resources: the candle store and results
/// (S3), jobs (DynamoDB and its index), the queue, alerts, the exchange keys, and — for the
/// executors, the orphan scan and the handlers — ECS tasks.
fn app_statements(d: &Deployment) -> Vec<Value> {
    let ex = |o: &str| import(&d.export(o));
    let objects = |o: &str| json!({ "Fn::Join": ["", [ex(o), "/*"]] });
    vec![
        json!({ "Sid": "Buckets", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": [ex("DataBucketArn"), ex("ResultsBucketArn")] }),
        json!({ "Sid": "Objects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": [objects("DataBucketArn"), objects("ResultsBucketArn")] }),
        json!({
            "Sid": "Jobs",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"],
            "Resource": [ex("TableArn"), { "Fn::Join": ["", [ex("TableArn"), "/index/*"]] }],
        }),
        json!({
            "Sid": "Queue",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
            "Resource": ex("QueueArn"),
        }),
        json!({ "Sid": "Alerts", "Effect": "Allow", "Action": "sns:Publish", "Resource": ex("AlertsTopicArn") }),
        json!({ "Sid": "ExchangeKeys", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arns(d) }),
        json!({
            "Sid": "Tasks",
            "Effect": "Allow",
            "Action": ["ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks", "ecs:ListTasks"],
            "Resource": "*",
            "Condition": { "ArnEquals": { "ecs:cluster": sub(&format!("arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:cluster/{}", d.cluster())) } },
        }),
        json!({ "Sid": "Metrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*" }),
    ]
}

/// The foundation stack of `d`.
#[must_use]
pub fn template(d: &Deployment) -> Template {
    let o = d.env().profile().vpc_second_octet;
    let mut t = Template::new(format!("TradAI {} foundation stack: network, security groups, IAM roles", d.env()));

    t.add(
        "Vpc",
        Resource::new(
            "AWS::EC2::VPC",
            // DNS hostnames: ECS tasks with awsvpc networking need them (and the emulator refuses
            // RunTask without).
            json!({ "CidrBlock": format!("10.{o}.0.0/16"), "EnableDnsSupport": true, "EnableDnsHostnames": true, "Tags": tags(&[("Name", &d.cluster())]) }),
        ),
    );
    t.add("PublicSubnet0", subnet(d, 0, 0, true));
    t.add("PublicSubnet1", subnet(d, 1, 1, true));
    t.add("PrivateSubnet0", subnet(d, 0, 10, false));
    t.add("PrivateSubnet1", subnet(d, 1, 11, false));

    t.add("InternetGateway", Resource::new("AWS::EC2::InternetGateway", json!({ "Tags": tags(&[("Name", &d.cluster())]) })));
    t.add(
        "GatewayAttachment",
        Resource::new("AWS::EC2::VPCGatewayAttachment", json!({ "VpcId": r#ref("Vpc"), "InternetGatewayId": r#ref("InternetGateway") })),
    );
    t.add("PublicRouteTable", Resource::new("AWS::EC2::RouteTable", json!({ "VpcId": r#ref("Vpc") })));
    t.add(
        "PublicDefaultRoute",
        Resource::new(
            "AWS::EC2::Route",
            json!({ "RouteTableId": r#ref("PublicRouteTable"), "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": r#ref("InternetGateway") }),
        )
        .depends_on("GatewayAttachment"),
    );
    t.add("NatAddress", Resource::new("AWS::EC2::EIP", json!({ "Domain": "vpc" })).depends_on("GatewayAttachment"));
    t.add(
        "NatGateway",
        Resource::new(
            "AWS::EC2::NatGateway",
            json!({ "AllocationId": get_att("NatAddress", "AllocationId"), "SubnetId": r#ref("PublicSubnet0") }),
        ),
    );
    t.add("PrivateRouteTable", Resource::new("AWS::EC2::RouteTable", json!({ "VpcId": r#ref("Vpc") })));
    t.add(
        "PrivateDefaultRoute",
        Resource::new(
            "AWS::EC2::Route",
            json!({ "RouteTableId": r#ref("PrivateRouteTable"), "DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": r#ref("NatGateway") }),
        ),
    );
    for (subnet, table) in [
        ("PublicSubnet0", "PublicRouteTable"),
        ("PublicSubnet1", "PublicRouteTable"),
        ("PrivateSubnet0", "PrivateRouteTable"),
        ("PrivateSubnet1", "PrivateRouteTable"),
    ] {
        t.add(
            &format!("{subnet}Routes"),
            Resource::new("AWS::EC2::SubnetRouteTableAssociation", json!({ "SubnetId": r#ref(subnet), "RouteTableId": r#ref(table) })),
        );
    }

    let egress = json!([{ "IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "AWS APIs, exchanges, ECR" }]);
    let ingress: Vec<Value> = SERVICE_PORTS
        .iter()
        .map(|(from, to)| json!({ "IpProtocol": "tcp", "FromPort": from, "ToPort": to, "CidrIp": format!("10.{o}.0.0/16"), "Description": "services, from inside the VPC" }))
        .collect();
    t.add(
        "ServicesSecurityGroup",
        Resource::new(
            "AWS::EC2::SecurityGroup",
            json!({ "GroupDescription": "TradAI services: reachable from inside the VPC only", "VpcId": r#ref("Vpc"), "SecurityGroupIngress": ingress, "SecurityGroupEgress": egress }),
        ),
    );
    t.add(
        "TasksSecurityGroup",
        Resource::new(
            "AWS::EC2::SecurityGroup",
            json!({ "GroupDescription": "TradAI strategy containers and Lambdas: outbound only", "VpcId": r#ref("Vpc"), "SecurityGroupEgress": egress }),
        ),
    );

    let managed = |name: &str| sub(&format!("arn:${{AWS::Partition}}:iam::aws:policy/{name}"));
    t.add(
        "TaskExecutionRole",
        Resource::new(
            "AWS::IAM::Role",
            json!({
                "AssumeRolePolicyDocument": assume("ecs-tasks.amazonaws.com"),
                "ManagedPolicyArns": [managed("service-role/AmazonECSTaskExecutionRolePolicy")],
                "Policies": [ { "PolicyName": "exchange-keys", "PolicyDocument": policy_document(&[json!({ "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arns(d) })]) } ],
            }),
        ),
    );
    t.add(
        "TaskRole",
        Resource::new(
            "AWS::IAM::Role",
            json!({ "AssumeRolePolicyDocument": assume("ecs-tasks.amazonaws.com"), "Policies": [ { "PolicyName": "tradai", "PolicyDocument": policy_document(&app_statements(d)) } ] }),
        ),
    );
    let mut lambda = app_statements(d);
    lambda.push(json!({ "Sid": "Stacks", "Effect": "Allow", "Action": ["cloudformation:DescribeStacks", "cloudformation:GetTemplate", "cloudformation:DetectStackDrift", "cloudformation:DescribeStackDriftDetectionStatus", "cloudformation:DescribeStackResourceDrifts"], "Resource": "*" }));
    lambda.push(json!({ "Sid": "NatRoutes", "Effect": "Allow", "Action": ["ec2:ReplaceRoute", "ec2:CreateRoute", "ec2:DescribeRouteTables"], "Resource": "*" }));
    t.add(
        "LambdaRole",
        Resource::new(
            "AWS::IAM::Role",
            json!({
                "AssumeRolePolicyDocument": assume("lambda.amazonaws.com"),
                "ManagedPolicyArns": [managed("service-role/AWSLambdaVPCAccessExecutionRole")],
                "Policies": [ { "PolicyName": "tradai", "PolicyDocument": policy_document(&lambda) } ],
            }),
        ),
    );

    // backend-api's ECS executor and the consumer Lambdas start strategy-container tasks, which
    // run with the two task roles. A policy of its own: inside TaskRole it would name itself.
    t.add(
        "PassTaskRolesPolicy",
        Resource::new(
            "AWS::IAM::Policy",
            json!({
                "PolicyName": "pass-task-roles",
                "PolicyDocument": policy_document(&[json!({ "Effect": "Allow", "Action": "iam:PassRole", "Resource": [get_att("TaskRole", "Arn"), get_att("TaskExecutionRole", "Arn")] })]),
                "Roles": [r#ref("TaskRole"), r#ref("LambdaRole")],
            }),
        ),
    );

    let out = |t: &mut Template, id: &str, desc: &str, v: Value| t.output(id, desc, v, Some(d.export(id)));
    out(&mut t, "VpcId", "The VPC", r#ref("Vpc"));
    out(
        &mut t,
        "PrivateSubnets",
        "Private subnets, comma-separated (BACKEND_ECS_SUBNETS)",
        json!({ "Fn::Join": [",", [r#ref("PrivateSubnet0"), r#ref("PrivateSubnet1")]] }),
    );
    out(
        &mut t,
        "PublicSubnets",
        "Public subnets, comma-separated",
        json!({ "Fn::Join": [",", [r#ref("PublicSubnet0"), r#ref("PublicSubnet1")]] }),
    );
    out(&mut t, "ServicesSecurityGroup", "Security group of the services", r#ref("ServicesSecurityGroup"));
    out(
        &mut t,
        "TasksSecurityGroup",
        "Security group of strategy containers and Lambdas (BACKEND_ECS_SECURITY_GROUPS)",
        r#ref("TasksSecurityGroup"),
    );
    out(&mut t, "TaskExecutionRoleArn", "ECS task execution role", get_att("TaskExecutionRole", "Arn"));
    out(&mut t, "TaskRoleArn", "Role of tradai's ECS tasks", get_att("TaskRole", "Arn"));
    out(&mut t, "LambdaRoleArn", "Role of the Lambda handlers", get_att("LambdaRole", "Arn"));
    t
}
