//! Exchange keys kept in AWS Secrets Manager: the persistent stack's `ExchangeKeysSecret`
//! holds JSON `{"api_key": "...", "api_secret": "..."}`, and a trading node on AWS names it by
//! `exchange.secret_id` (`TRADAI_EXCHANGE__SECRET_ID`: the secret's name or ARN) instead of
//! carrying the keys in its environment.

use crate::{load_sdk_config, AwsError, AwsOverrides};

/// The two keys of an exchange-keys secret. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct ExchangeKeySecret {
    /// API key.
    pub api_key: String,
    /// API secret.
    pub api_secret: String,
}

impl std::fmt::Debug for ExchangeKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExchangeKeySecret { api_key: ********, api_secret: ******** }")
    }
}

/// Reads the secret `secret_id` (name or ARN) and its two keys.
///
/// # Errors
/// [`AwsError`] when the secret cannot be read; [`AwsError::Secret`] when it is not JSON
/// with non-empty `api_key` and `api_secret` strings (the secret's content is never quoted).
pub async fn read_exchange_keys(secret_id: &str, overrides: &AwsOverrides) -> Result<ExchangeKeySecret, AwsError> {
    let cfg = load_sdk_config(overrides).await;
    let client = aws_sdk_secretsmanager::Client::new(&cfg);
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| AwsError::sdk("secretsmanager", "GetSecretValue", secret_id, e))?;
    parse_exchange_keys(secret_id, out.secret_string().unwrap_or_default())
}

/// The keys of a secret's text (see [`read_exchange_keys`]).
///
/// # Errors
/// [`AwsError::Secret`] naming the secret and what is missing, never its content.
pub fn parse_exchange_keys(secret_id: &str, text: &str) -> Result<ExchangeKeySecret, AwsError> {
    let bad = |what: &str| AwsError::Secret { id: secret_id.to_owned(), reason: what.to_owned() };
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|_| bad("is not JSON of the form {\"api_key\": \"...\", \"api_secret\": \"...\"}"))?;
    let get = |name: &str| match v.get(name).and_then(serde_json::Value::as_str) {
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => Err(bad(&format!("has no non-empty {name} string"))),
    };
    Ok(ExchangeKeySecret { api_key: get("api_key")?, api_secret: get("api_secret")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_and_a_bad_secret_is_named_without_its_content() {
        let k = parse_exchange_keys("s", r#"{"api_key":"k1","api_secret":"s3cr3t"}"#).unwrap();
        assert_eq!((k.api_key.as_str(), k.api_secret.as_str()), ("k1", "s3cr3t"));
        assert!(!format!("{k:?}").contains("s3cr3t"));
        // The stack's generated secret before the key is put in: an empty api_key.
        let e = parse_exchange_keys("tradai-dev-exchange", r#"{"api_key":"","api_secret":"s3cr3t"}"#).unwrap_err().to_string();
        assert!(e.contains("tradai-dev-exchange") && e.contains("api_key") && !e.contains("s3cr3t"), "{e}");
        let e = parse_exchange_keys("x", "api_key=s3cr3t").unwrap_err().to_string();
        assert!(e.contains("not JSON") && !e.contains("s3cr3t"), "{e}");
    }
}
