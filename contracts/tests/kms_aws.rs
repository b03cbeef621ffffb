//! The `aws-kms` provider against moto's KMS (`ACCORD_TEST_MOTO_URL`, e.g.
//! `http://127.0.0.1:4566`; `.ci/run` starts one). Without it every test prints
//! "SKIPPED: ..." and passes, unless `ACCORD_REQUIRE_MOTO=1`, when it fails.
//!
//! moto accepts any credentials and does not check signatures; the signer is proven by
//! the SigV4 test-suite vectors in `src/kms/aws.rs`. These tests prove the protocol:
//! targets, JSON shapes, base64, the KeyId check on Decrypt and the error mapping.

use accord_contracts::kms::aws::{AwsCredentials, AwsKms};
use accord_contracts::kms::{Kms, KmsError, KmsRegistry};
use std::sync::Arc;

const REGION: &str = "us-east-1";

/// A provider pointed at moto, or `None` (after saying so) when moto is not configured.
fn moto(test: &str) -> Option<AwsKms> {
    let url = match std::env::var("ACCORD_TEST_MOTO_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            if std::env::var("ACCORD_REQUIRE_MOTO").as_deref() == Ok("1") {
                panic!("ACCORD_REQUIRE_MOTO=1 but ACCORD_TEST_MOTO_URL is not set");
            }
            eprintln!("SKIPPED: {test}: set ACCORD_TEST_MOTO_URL to a moto server (see .ci/run)");
            return None;
        }
    };
    // moto accepts any key pair; a session token exercises the x-amz-security-token path.
    let creds = AwsCredentials::new("AKIDEXAMPLE", "moto-secret", Some("moto-token".into()))
        .expect("credentials");
    Some(
        AwsKms::new(creds, Some(&url))
            .expect("provider")
            .with_region(REGION),
    )
}

async fn create_key(kms: &AwsKms, what: &str) -> String {
    let arn = kms
        .create_key(&format!("accord kms_aws test: {what}"))
        .await
        .expect("CreateKey against moto");
    assert!(
        arn.starts_with(&format!("arn:aws:kms:{REGION}:")) && arn.contains(":key/"),
        "{arn}"
    );
    arn
}

fn dek() -> Vec<u8> {
    // 34 bytes: the size of a serialized Tink AES-256-GCM key proto.
    (0u8..34).map(|i| i.wrapping_mul(37) ^ 0x5a).collect()
}

#[tokio::test]
async fn wrap_then_unwrap_a_34_byte_dek() {
    let Some(kms) = moto("wrap_then_unwrap_a_34_byte_dek") else {
        return;
    };
    let arn = create_key(&kms, "round trip").await;
    let dek = dek();
    let wrapped = kms.wrap(&arn, &dek).await.expect("Encrypt");
    assert!(
        !wrapped.windows(dek.len()).any(|w| w == dek.as_slice()),
        "the wrapped blob must not contain the DEK"
    );
    let unwrapped = kms.unwrap(&arn, &wrapped).await.expect("Decrypt");
    assert_eq!(unwrapped.as_slice(), dek.as_slice());
}

#[tokio::test]
async fn a_blob_from_key_1_does_not_unwrap_under_key_2() {
    let Some(kms) = moto("a_blob_from_key_1_does_not_unwrap_under_key_2") else {
        return;
    };
    let k1 = create_key(&kms, "key 1").await;
    let k2 = create_key(&kms, "key 2").await;
    let wrapped = kms.wrap(&k1, &dek()).await.expect("Encrypt");
    let r = kms.unwrap(&k2, &wrapped).await;
    // Real KMS answers IncorrectKeyException (-> Unwrap); moto answers
    // AccessDeniedException with an empty message (-> Refused).
    assert!(
        matches!(r, Err(KmsError::Unwrap(_) | KmsError::Refused(_))),
        "{r:?}"
    );
    // Still fine under its own key.
    assert_eq!(
        kms.unwrap(&k1, &wrapped).await.expect("Decrypt").as_slice(),
        dek().as_slice()
    );
}

#[tokio::test]
async fn a_tampered_blob_fails() {
    let Some(kms) = moto("a_tampered_blob_fails") else {
        return;
    };
    let arn = create_key(&kms, "tamper").await;
    let mut wrapped = kms.wrap(&arn, &dek()).await.expect("Encrypt");
    let last = wrapped.len() - 1;
    wrapped[last] ^= 0x01;
    let r = kms.unwrap(&arn, &wrapped).await;
    assert!(
        matches!(&r, Err(KmsError::Unwrap(m)) if m.contains("InvalidCiphertextException")),
        "{r:?}"
    );
    let r = kms.unwrap(&arn, &wrapped[..10]).await;
    assert!(r.is_err(), "a truncated blob must fail: {r:?}");
}

#[tokio::test]
async fn an_unknown_key_arn_is_refused() {
    let Some(kms) = moto("an_unknown_key_arn_is_refused") else {
        return;
    };
    let known = create_key(&kms, "account probe").await;
    let account = known.split(':').nth(4).expect("account in ARN");
    let unknown =
        format!("arn:aws:kms:{REGION}:{account}:key/00000000-0000-4000-8000-000000000000");
    let r = kms.wrap(&unknown, &dek()).await;
    assert!(
        matches!(&r, Err(KmsError::Refused(m)) if m.contains("NotFoundException")),
        "{r:?}"
    );
    let r = kms.unwrap(&unknown, b"whatever").await;
    assert!(
        matches!(r, Err(KmsError::Refused(_) | KmsError::Unwrap(_))),
        "{r:?}"
    );
}

#[tokio::test]
async fn the_registry_resolves_aws_spellings_to_the_provider() {
    let Some(kms) = moto("the_registry_resolves_aws_spellings_to_the_provider") else {
        return;
    };
    let arn = create_key(&kms, "registry").await;
    let registry = KmsRegistry::new().with(Arc::new(kms));
    for spelling in ["aws", "AWS-KMS", "aws-kms"] {
        let p = registry.get(spelling).expect(spelling);
        assert_eq!(p.kms_type(), "aws-kms");
    }
    let p = registry.get("aws").expect("aws");
    let wrapped = p.wrap(&arn, &dek()).await.expect("Encrypt via registry");
    assert_eq!(
        p.unwrap(&arn, &wrapped).await.expect("Decrypt").as_slice(),
        dek().as_slice()
    );
    assert!(matches!(
        registry.get("local-kms"),
        Err(KmsError::UnknownType(_))
    ));
}

/// `AwsKms` counting its calls (KMS has no batch Encrypt: batching is ours to prove).
#[derive(Debug)]
struct Counting {
    inner: AwsKms,
    calls: std::sync::atomic::AtomicUsize,
}

impl Kms for Counting {
    fn kms_type(&self) -> &str {
        self.inner.kms_type()
    }

    fn wrap<'a>(
        &'a self,
        key_id: &'a str,
        plaintext: &'a [u8],
    ) -> futures::future::BoxFuture<'a, Result<Vec<u8>, KmsError>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.wrap(key_id, plaintext)
    }

    fn unwrap<'a>(
        &'a self,
        key_id: &'a str,
        wrapped: &'a [u8],
    ) -> futures::future::BoxFuture<'a, Result<zeroize::Zeroizing<Vec<u8>>, KmsError>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.unwrap(key_id, wrapped)
    }
}

/// 100 keys wrapped with one Encrypt, released by a cold process with one Decrypt, and
/// again within the TTL with none.
#[tokio::test]
async fn a_batch_of_keys_costs_one_encrypt_and_its_releases_one_decrypt() {
    use accord_contracts::kms::CachingWrapper;
    use std::sync::atomic::Ordering::SeqCst;
    use std::time::Duration;
    let Some(kms) = moto("a_batch_of_keys_costs_one_encrypt_and_its_releases_one_decrypt") else {
        return;
    };
    let arn = create_key(&kms, "batch").await;
    let kms = Counting {
        inner: kms,
        calls: Default::default(),
    };
    let keys: Vec<Vec<u8>> = (0..100u8)
        .map(|i| dek().into_iter().map(|b| b ^ i).collect())
        .collect();
    let plain: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let writer = CachingWrapper::new(Duration::from_secs(30), 1000);
    let wrapped = writer.wrap_batch(&kms, &arn, &plain).await.expect("batch");
    assert_eq!(kms.calls.swap(0, SeqCst), 1, "one Encrypt for 100 keys");
    let reader = CachingWrapper::new(Duration::from_secs(30), 1000);
    for _ in 0..2 {
        for (m, k) in wrapped.iter().zip(&keys) {
            let got = reader.unwrap(&kms, &arn, m).await.expect("unwrap");
            assert_eq!(got.as_slice(), k.as_slice());
        }
    }
    assert_eq!(kms.calls.swap(0, SeqCst), 1, "one Decrypt for 200 releases");
}
