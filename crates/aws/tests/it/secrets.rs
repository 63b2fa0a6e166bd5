//! Exchange keys from Secrets Manager on the emulator: the stack's secret shape is read, a
//! missing secret is named, and a secret without a key is named without its content.

use crate::{emulator, unique_table};

#[test]
fn exchange_keys_are_read_from_a_secret_and_bad_ones_are_named() {
    let Some(o) = emulator("secrets::exchange_keys_are_read_from_a_secret_and_bad_ones_are_named") else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (good, empty) = (unique_table("keys"), unique_table("keys-empty"));
    rt.block_on(async {
        let cfg = tradai_aws::load_sdk_config(&o).await;
        let sm = aws_sdk_secretsmanager::Client::new(&cfg);
        for (name, text) in
            [(&good, r#"{"api_key":"k-123","api_secret":"s3cr3t-abc"}"#), (&empty, r#"{"api_key":"","api_secret":"s3cr3t-abc"}"#)]
        {
            sm.create_secret().name(name.as_str()).secret_string(text).send().await.unwrap();
        }
        let k = tradai_aws::read_exchange_keys(&good, &o).await.unwrap();
        assert_eq!((k.api_key.as_str(), k.api_secret.as_str()), ("k-123", "s3cr3t-abc"));
        let e = tradai_aws::read_exchange_keys(&empty, &o).await.unwrap_err().to_string();
        assert!(e.contains(empty.as_str()) && e.contains("api_key") && !e.contains("s3cr3t"), "{e}");
        let e = tradai_aws::read_exchange_keys("no-such-secret", &o).await.unwrap_err().to_string();
        assert!(e.contains("no-such-secret") && e.contains("ResourceNotFound"), "{e}");
    });
}
