//! The SDK configuration every AWS client of TradAI is built from.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Settings that replace what the standard chain would find. Empty by default: production
/// uses the chain alone; tests point at the emulator without touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct AwsOverrides {
    /// One endpoint for every service (what `AWS_ENDPOINT_URL` does).
    pub endpoint_url: Option<String>,
    /// The region (what `AWS_REGION` does).
    pub region: Option<String>,
    /// Static access key id and secret, for emulators that accept any.
    pub static_credentials: Option<(String, String)>,
}

/// Loads the SDK configuration: the standard chain (environment, `~/.aws/config` and
/// `credentials` profiles, web identity, ECS and EC2 instance roles, `credential_process`),
/// including `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`, then `overrides`.
///
/// Must run inside a tokio runtime (the chain may call the instance metadata service).
pub async fn load_sdk_config(overrides: &AwsOverrides) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = &overrides.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &overrides.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some((id, secret)) = &overrides.static_credentials {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(id, secret, None, None, "tradai-overrides"));
    }
    loader.load().await
}
