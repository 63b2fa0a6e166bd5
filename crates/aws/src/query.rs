//! [`QueryClient`]: AWS's Query protocol (a form-encoded POST, an XML answer) signed with
//! SigV4, for the EC2 calls of NAT failover. aws-sdk-ec2 would take minutes to compile for three
//! operations; the signing, credentials and endpoint settings here are the SDK's own
//! (`aws-sigv4`, the standard credential chain, `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>`).

use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use crate::{AwsError, AwsOverrides};

/// A service spoken to in the Query protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryService {
    /// EC2 (API version 2016-11-15).
    Ec2,
}

impl QueryService {
    /// The signing name and endpoint prefix (`ec2`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Ec2 => "ec2",
        }
    }

    fn version(self) -> &'static str {
        match self {
            Self::Ec2 => "2016-11-15",
        }
    }

    /// The service's own endpoint variable (`AWS_ENDPOINT_URL_EC2`).
    fn endpoint_var(self) -> &'static str {
        match self {
            Self::Ec2 => "AWS_ENDPOINT_URL_EC2",
        }
    }
}

/// Signed Query-protocol calls to one service.
#[derive(Clone)]
pub struct QueryClient {
    service: QueryService,
    endpoint: String,
    region: String,
    credentials: SharedCredentialsProvider,
    http: reqwest::Client,
}

impl std::fmt::Debug for QueryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryClient")
            .field("service", &self.service)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish()
    }
}

impl QueryClient {
    /// A client with the SDK's configuration: region and credentials from the standard chain
    /// (or `overrides`), the endpoint from `overrides`, `AWS_ENDPOINT_URL_<SERVICE>`,
    /// `AWS_ENDPOINT_URL`, else the service's public one in the region.
    ///
    /// # Errors
    /// [`AwsError::Service`] with code `MissingRegion` or `MissingCredentials`.
    pub async fn connect(service: QueryService, overrides: &AwsOverrides) -> Result<Self, AwsError> {
        let config = crate::load_sdk_config(overrides).await;
        let missing = |code: &str, message: &str| AwsError::Service {
            service: service.name(),
            operation: "connect",
            resource: String::new(),
            code: code.to_owned(),
            message: message.to_owned(),
            source: message.to_owned().into(),
        };
        let region = config.region().map(ToString::to_string).ok_or_else(|| missing("MissingRegion", "no AWS region (set AWS_REGION)"))?;
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| missing("MissingCredentials", "no AWS credentials provider (set AWS_ACCESS_KEY_ID or a profile)"))?;
        let own = std::env::var(service.endpoint_var()).ok().filter(|u| !u.trim().is_empty());
        let endpoint = overrides
            .endpoint_url
            .clone()
            .or(own)
            .or_else(|| config.endpoint_url().map(str::to_owned))
            .unwrap_or_else(|| format!("https://{}.{region}.amazonaws.com", service.name()));
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| AwsError::Runtime(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { service, endpoint: endpoint.trim_end_matches('/').to_owned() + "/", region, credentials, http })
    }

    /// Calls `action` with `params` and returns the answer's XML.
    ///
    /// # Errors
    /// [`AwsError::Unreachable`] without an answer, [`AwsError::Service`] with the error's code
    /// and message, naming `resource`.
    pub async fn call(&self, action: &'static str, resource: &str, params: &[(&str, &str)]) -> Result<String, AwsError> {
        let service = self.service.name();
        let unreachable = |e: Box<dyn std::error::Error + Send + Sync>| AwsError::Unreachable {
            service,
            operation: action,
            resource: resource.to_owned(),
            source: e,
        };
        let unreachable_at = |e: reqwest::Error| unreachable(Box::new(e.without_url()) as Box<dyn std::error::Error + Send + Sync>);
        let mut form = reqwest::Url::parse("http://form/").map_err(|e| AwsError::Runtime(e.to_string()))?;
        form.query_pairs_mut().append_pair("Action", action).append_pair("Version", self.service.version()).extend_pairs(params);
        let body = form.query().unwrap_or_default().to_owned();
        let identity = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| unreachable(Box::new(e) as Box<dyn std::error::Error + Send + Sync>))?
            .into();
        let signing = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| AwsError::Runtime(format!("signing {action}: {e}")))?
            .into();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let signable = SignableRequest::new(
            "POST",
            &self.endpoint,
            [("content-type", content_type)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| AwsError::Runtime(format!("signing {action}: {e}")))?;
        let (instructions, _) = sign(signable, &signing).map_err(|e| AwsError::Runtime(format!("signing {action}: {e}")))?.into_parts();
        let mut req = self.http.post(&self.endpoint).header("content-type", content_type);
        for (name, value) in instructions.headers() {
            req = req.header(name, value);
        }
        let resp = req.body(body).send().await.map_err(unreachable_at)?;
        let status = resp.status();
        let text = resp.text().await.map_err(unreachable_at)?;
        if status.is_success() {
            return Ok(text);
        }
        let code = first_text(&text, "Code").unwrap_or_else(|| format!("HTTP{}", status.as_u16()));
        let message = first_text(&text, "Message").unwrap_or_else(|| text.chars().take(200).collect());
        Err(AwsError::Service {
            service,
            operation: action,
            resource: resource.to_owned(),
            code,
            message: message.clone(),
            source: format!("HTTP {status}: {message}").into(),
        })
    }
}

/// The text of the first `<tag>` element of `xml` (unescaped), if any.
#[must_use]
pub fn first_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    let raw = &xml[start..end];
    Some(quick_xml::escape::unescape(raw).map_or_else(|_| raw.to_owned(), std::borrow::Cow::into_owned))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_first_element_and_unescapes_it() {
        let xml = "<Response><Errors><Error><Code>InvalidRouteTableID.NotFound</Code><Message>The routeTable ID &apos;rtb-1&apos; does not exist</Message></Error></Errors></Response>";
        assert_eq!(super::first_text(xml, "Code").as_deref(), Some("InvalidRouteTableID.NotFound"));
        assert_eq!(super::first_text(xml, "Message").as_deref(), Some("The routeTable ID 'rtb-1' does not exist"));
        assert_eq!(super::first_text(xml, "Nope"), None);
    }
}
