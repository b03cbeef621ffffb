//! `aws-kms`: the AWS KMS JSON API (`TrentService.Encrypt` / `Decrypt` / `CreateKey`),
//! signed with AWS Signature Version 4.
//!
//! The AWS SDK is deliberately not used: it is a large build for three calls. The
//! protocol is small: `POST /` with `Content-Type: application/x-amz-json-1.1` and
//! `X-Amz-Target: TrentService.<Operation>`, a JSON body, and a SigV4 `Authorization`
//! header for service `kms` in the region named by the key's ARN
//! (`arn:aws:kms:REGION:ACCOUNT:key/ID`). Signing is AWS's own `aws-sigv4` crate (the
//! SDK's signer, without the SDK) behind [`sigv4_headers`], which is tested against
//! AWS's published SigV4 test-suite vectors so that it is proven independently of any
//! KMS emulator.
//!
//! Secrets (the secret access key, the session token, DEK plaintext in request and
//! response bodies) are held in zeroizing buffers and never appear in `Debug` output or
//! error messages. The signer is given the body's SHA-256, never the body, so DEK
//! plaintext does not pass through it. (`aws-sigv4` traces the canonical request, session
//! token included, at TRACE level under its own target; `accord`'s log filter turns
//! that target off.) Errors carry AWS's `__type` and message, which name keys but never
//! key material.

use super::{Kms, KmsError};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

/// `AWS_ACCESS_KEY_ID`.
pub const ACCESS_KEY_ID_ENV: &str = "AWS_ACCESS_KEY_ID";
/// `AWS_SECRET_ACCESS_KEY`.
pub const SECRET_ACCESS_KEY_ENV: &str = "AWS_SECRET_ACCESS_KEY";
/// `AWS_SESSION_TOKEN` (temporary credentials).
pub const SESSION_TOKEN_ENV: &str = "AWS_SESSION_TOKEN";
/// Endpoint override for KMS only; wins over [`ENDPOINT_URL_ENV`].
pub const ENDPOINT_URL_KMS_ENV: &str = "AWS_ENDPOINT_URL_KMS";
/// Endpoint override for every AWS service.
pub const ENDPOINT_URL_ENV: &str = "AWS_ENDPOINT_URL";
/// Region for calls that do not name a key ([`AwsKms::create_key`]); then `AWS_DEFAULT_REGION`.
pub const REGION_ENV: &str = "AWS_REGION";
/// Fallback for [`REGION_ENV`].
pub const DEFAULT_REGION_ENV: &str = "AWS_DEFAULT_REGION";

const SERVICE: &str = "kms";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// AWS credentials: an access key pair and, for temporary credentials, a session token.
/// The secret and the token are zeroized on drop (`aws-credential-types` keeps them in
/// zeroizing buffers) and redacted from `Debug`.
#[derive(Clone)]
pub struct AwsCredentials {
    inner: Credentials,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.inner.access_key_id())
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.inner.session_token().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl AwsCredentials {
    /// Long-term (`session_token = None`) or temporary credentials.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Result<Self, KmsError> {
        let access_key_id = access_key_id.into();
        let secret_access_key = Zeroizing::new(secret_access_key.into());
        let session_token = session_token.map(Zeroizing::new);
        if access_key_id.is_empty() || secret_access_key.is_empty() {
            return Err(KmsError::Config(
                "aws-kms credentials need an access key id and a secret access key".to_owned(),
            ));
        }
        if session_token.as_ref().is_some_and(|t| t.is_empty()) {
            return Err(KmsError::Config(
                "aws-kms session token is empty".to_owned(),
            ));
        }
        Ok(AwsCredentials {
            inner: Credentials::new(
                access_key_id,
                secret_access_key.as_str(),
                session_token.as_deref().cloned(),
                None,
                "accord",
            ),
        })
    }

    /// The access key id (not a secret; it names the key pair).
    pub fn access_key_id(&self) -> &str {
        self.inner.access_key_id()
    }
}

/// A KMS key ARN taken apart: the region selects the endpoint and the signing scope.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyArn<'a> {
    partition: &'a str,
    region: &'a str,
}

/// `arn:PARTITION:kms:REGION:ACCOUNT:key/ID` or `.../alias/NAME`; anything else is a
/// configuration error (the KEK's `kmsKeyId` is wrong, retrying cannot help).
fn parse_key_arn(key_id: &str) -> Result<KeyArn<'_>, KmsError> {
    let bad = |why: &str| KmsError::Config(format!("aws-kms key id '{key_id}' {why}"));
    let parts: Vec<&str> = key_id.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else {
        return Err(bad(
            "is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)",
        ));
    };
    if arn != "arn" || !partition.starts_with("aws") || service != "kms" {
        return Err(bad(
            "is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)",
        ));
    }
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("has no valid region"));
    }
    if account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("has no valid account id"));
    }
    let name = resource
        .strip_prefix("key/")
        .or_else(|| resource.strip_prefix("alias/"));
    if name.is_none_or(str::is_empty) {
        return Err(bad("names neither key/ID nor alias/NAME"));
    }
    Ok(KeyArn { partition, region })
}

fn default_endpoint(partition: &str, region: &str) -> String {
    let domain = if partition == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://kms.{region}.{domain}")
}

/// The `aws-kms` provider.
pub struct AwsKms {
    credentials: AwsCredentials,
    endpoint: Option<reqwest::Url>,
    region: Option<String>,
    http: reqwest::Client,
}

impl fmt::Debug for AwsKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKms")
            .field("credentials", &self.credentials)
            .field("endpoint", &self.endpoint.as_ref().map(|u| u.as_str()))
            .field("region", &self.region)
            .finish()
    }
}

impl AwsKms {
    /// A provider with these credentials. `endpoint` overrides
    /// `https://kms.{region}.amazonaws.com` (an emulator, a VPC endpoint, FIPS).
    pub fn new(credentials: AwsCredentials, endpoint: Option<&str>) -> Result<Self, KmsError> {
        let endpoint = endpoint
            .map(|e| {
                let url = reqwest::Url::parse(e).map_err(|err| {
                    KmsError::Config(format!("aws-kms endpoint '{e}' is not a URL: {err}"))
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(KmsError::Config(format!(
                        "aws-kms endpoint '{e}' is not an http(s) URL with a host"
                    )));
                }
                Ok(url)
            })
            .transpose()?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| KmsError::Config(format!("aws-kms HTTP client: {e}")))?;
        Ok(AwsKms {
            credentials,
            endpoint,
            region: None,
            http,
        })
    }

    /// The region [`AwsKms::create_key`] creates keys in (wrap and unwrap use the
    /// region of the key's ARN).
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Configuration from the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// optional `AWS_SESSION_TOKEN`, endpoint `AWS_ENDPOINT_URL_KMS` then
    /// `AWS_ENDPOINT_URL`, region `AWS_REGION` then `AWS_DEFAULT_REGION`.
    /// `Ok(None)` when no access key id is set; an error when it is set but the
    /// secret is not.
    pub fn from_env() -> Result<Option<Self>, KmsError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, KmsError> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let Some(access_key_id) = var(ACCESS_KEY_ID_ENV) else {
            return Ok(None);
        };
        let secret = Zeroizing::new(var(SECRET_ACCESS_KEY_ENV).ok_or_else(|| {
            KmsError::Config(format!(
                "{ACCESS_KEY_ID_ENV} is set but {SECRET_ACCESS_KEY_ENV} is not"
            ))
        })?);
        let credentials =
            AwsCredentials::new(access_key_id, secret.as_str(), var(SESSION_TOKEN_ENV))?;
        let endpoint = var(ENDPOINT_URL_KMS_ENV).or_else(|| var(ENDPOINT_URL_ENV));
        let mut kms = Self::new(credentials, endpoint.as_deref())?;
        kms.region = var(REGION_ENV).or_else(|| var(DEFAULT_REGION_ENV));
        Ok(Some(kms))
    }

    /// Creates a symmetric encryption key (KMS `CreateKey`) in the configured region and
    /// returns its ARN, ready to be a KEK's `kmsKeyId`.
    pub async fn create_key(&self, description: &str) -> Result<String, KmsError> {
        let region = self.region.as_deref().ok_or_else(|| {
            KmsError::Config(format!(
                "aws-kms has no region for CreateKey: set {REGION_ENV} or use with_region"
            ))
        })?;
        let body = serde_json::to_vec(&serde_json::json!({
            "Description": description,
            "KeySpec": "SYMMETRIC_DEFAULT",
            "KeyUsage": "ENCRYPT_DECRYPT",
        }))
        .map_err(|e| KmsError::Config(format!("aws-kms CreateKey request: {e}")))?;
        let resp = self
            .call("aws", region, "CreateKey", Bytes::from(body))
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&resp)
            .map_err(|e| KmsError::Unavailable(format!("aws-kms CreateKey response: {e}")))?;
        v.pointer("/KeyMetadata/Arn")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                KmsError::Unavailable("aws-kms CreateKey response has no KeyMetadata.Arn".into())
            })
    }

    async fn encrypt(&self, key_id: &str, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
        let arn = parse_key_arn(key_id)?;
        let plaintext_b64 = Zeroizing::new(B64.encode(plaintext));
        let capacity = 2 * key_id.len() + plaintext_b64.len() + 64;
        let body = zeroizing_json(
            &EncryptRequest {
                key_id,
                plaintext: &plaintext_b64,
            },
            capacity,
        )?;
        let resp = self
            .call(arn.partition, arn.region, "Encrypt", body)
            .await?;
        let parsed: CiphertextResponse = serde_json::from_slice(&resp)
            .map_err(|e| KmsError::Unavailable(format!("aws-kms Encrypt response: {e}")))?;
        B64.decode(parsed.ciphertext_blob.as_bytes())
            .map_err(|e| KmsError::Unavailable(format!("aws-kms Encrypt response: {e}")))
    }

    async fn decrypt(&self, key_id: &str, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let arn = parse_key_arn(key_id)?;
        let blob = B64.encode(wrapped);
        let body = serde_json::to_vec(&DecryptRequest {
            key_id,
            ciphertext_blob: &blob,
        })
        .map_err(|e| KmsError::Config(format!("aws-kms Decrypt request: {e}")))?;
        let resp = self
            .call(arn.partition, arn.region, "Decrypt", Bytes::from(body))
            .await?;
        let parsed: PlaintextResponse = serde_json::from_slice(&resp)
            .map_err(|_| KmsError::Unavailable("aws-kms Decrypt response is not JSON".into()))?;
        let plaintext_b64 = Zeroizing::new(parsed.plaintext);
        // KMS checks the KeyId parameter itself; checking the answer again costs nothing
        // and guards against an endpoint that ignores it. Aliases resolve to a key ARN,
        // so only a key ARN can be compared.
        if key_id.contains(":key/") && parsed.key_id.as_deref().is_some_and(|k| k != key_id) {
            return Err(KmsError::Unwrap(format!(
                "aws-kms decrypted with key '{}', not '{key_id}'",
                parsed.key_id.unwrap_or_default()
            )));
        }
        let mut out = Zeroizing::new(Vec::with_capacity(plaintext_b64.len()));
        B64.decode_vec(plaintext_b64.as_bytes(), &mut out)
            .map_err(|_| KmsError::Unavailable("aws-kms Decrypt plaintext is not base64".into()))?;
        Ok(out)
    }

    /// One signed `TrentService.<operation>` call; the response body on 2xx.
    async fn call(
        &self,
        partition: &str,
        region: &str,
        operation: &str,
        body: Bytes,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let url = match &self.endpoint {
            Some(u) => u.clone(),
            None => reqwest::Url::parse(&default_endpoint(partition, region))
                .map_err(|e| KmsError::Config(format!("aws-kms endpoint for {region}: {e}")))?,
        };
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => {
                return Err(KmsError::Config(format!(
                    "aws-kms endpoint {url} has no host"
                )))
            }
        };
        let target = format!("TrentService.{operation}");
        let headers: [(&str, &str); 3] = [
            ("content-type", CONTENT_TYPE),
            ("host", &host),
            ("x-amz-target", &target),
        ];
        let signed = sigv4_headers(
            &SigningRequest {
                method: "POST",
                url: url.as_str(),
                headers: &headers,
                payload: &body,
                region,
                service: SERVICE,
                time: SystemTime::now(),
            },
            &self.credentials,
        )?;
        let mut req = self.http.post(url.clone());
        for (name, value) in headers {
            req = req.header(name, value);
        }
        for (name, value) in signed {
            req = req.header(name, value);
        }
        let resp =
            req.body(body).send().await.map_err(|e| {
                KmsError::Unavailable(format!("aws-kms {operation} at {host}: {e}"))
            })?;
        let status = resp.status();
        let header_type = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await.map_err(|e| {
            KmsError::Unavailable(format!(
                "aws-kms {operation} at {host}: reading the answer: {e}"
            ))
        })?;
        // Vec::from(Bytes) reuses the buffer when it is not shared, so the plaintext
        // of a Decrypt answer is zeroized with it. (hyper's own read buffers are out
        // of reach; TLS keeps them off the wire, not out of this process's memory.)
        let bytes = Zeroizing::new(Vec::from(bytes));
        if status.is_success() {
            return Ok(bytes);
        }
        Err(map_error(operation, status.as_u16(), header_type, &bytes))
    }
}

/// Maps a non-2xx KMS answer onto [`KmsError`] with AWS's `__type` and message.
fn map_error(operation: &str, status: u16, header_type: Option<String>, body: &[u8]) -> KmsError {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    // `__type` may be namespaced (`com.amazonaws.kms#NotFoundException`); the header
    // may carry a `:`-separated suffix.
    // Errors raised before the KMS service (signature, credentials) may come as the
    // query protocol's XML: `<Code>SignatureDoesNotMatch</Code><Message>...</Message>`.
    let xml = |tag: &str| {
        let text = std::str::from_utf8(body).ok()?;
        let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
        let len = text[start..].find(&format!("</{tag}>"))?;
        Some(text[start..start + len].to_owned())
    };
    let error_type = field("__type")
        .or(header_type)
        .or_else(|| xml("Code"))
        .map(|t| {
            let t = t.split(':').next().unwrap_or_default();
            t.rsplit('#').next().unwrap_or_default().to_owned()
        })
        .filter(|t| !t.is_empty());
    let message = field("message")
        .or_else(|| field("Message"))
        .or_else(|| xml("Message"))
        .filter(|m| !m.is_empty());
    let detail = match (&error_type, &message) {
        (Some(t), Some(m)) => format!("aws-kms {operation}: {t}: {m}"),
        (Some(t), None) => format!("aws-kms {operation}: {t}"),
        (None, Some(m)) => format!("aws-kms {operation}: HTTP {status}: {m}"),
        (None, None) => format!("aws-kms {operation}: HTTP {status}"),
    };
    match error_type.as_deref() {
        Some("InvalidCiphertextException" | "IncorrectKeyException") => KmsError::Unwrap(detail),
        Some(
            "ThrottlingException"
            | "LimitExceededException"
            | "KMSInternalException"
            | "DependencyTimeoutException"
            | "KeyUnavailableException",
        ) => KmsError::Unavailable(detail),
        _ if status >= 500 || status == 429 => KmsError::Unavailable(detail),
        _ => KmsError::Refused(detail),
    }
}

#[derive(serde::Serialize)]
struct EncryptRequest<'a> {
    #[serde(rename = "KeyId")]
    key_id: &'a str,
    #[serde(rename = "Plaintext")]
    plaintext: &'a str,
}

#[derive(serde::Serialize)]
struct DecryptRequest<'a> {
    #[serde(rename = "KeyId")]
    key_id: &'a str,
    #[serde(rename = "CiphertextBlob")]
    ciphertext_blob: &'a str,
}

#[derive(serde::Deserialize)]
struct CiphertextResponse {
    #[serde(rename = "CiphertextBlob")]
    ciphertext_blob: String,
}

#[derive(serde::Deserialize)]
struct PlaintextResponse {
    #[serde(rename = "Plaintext")]
    plaintext: String,
    #[serde(rename = "KeyId")]
    key_id: Option<String>,
}

/// Serializes a request that carries key material into a buffer that is zeroized when
/// the HTTP stack drops the body (not only when this function returns).
/// `capacity` should fit the JSON so the buffer never reallocates (which would leave an
/// unzeroized copy behind).
fn zeroizing_json<T: serde::Serialize>(value: &T, capacity: usize) -> Result<Bytes, KmsError> {
    let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *buf, value)
        .map_err(|e| KmsError::Config(format!("aws-kms request: {e}")))?;
    Ok(Bytes::from_owner(ZeroizingBody(buf)))
}

struct ZeroizingBody(Zeroizing<Vec<u8>>);

impl AsRef<[u8]> for ZeroizingBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Kms for AwsKms {
    fn kms_type(&self) -> &str {
        "aws-kms"
    }

    fn wrap<'a>(
        &'a self,
        key_id: &'a str,
        plaintext: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<u8>, KmsError>> {
        Box::pin(self.encrypt(key_id, plaintext))
    }

    fn unwrap<'a>(
        &'a self,
        key_id: &'a str,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>, KmsError>> {
        Box::pin(self.decrypt(key_id, wrapped))
    }
}

// ---------------------------------------------------------------------------------------
// Signature Version 4
// ---------------------------------------------------------------------------------------

/// What SigV4 signs. `headers` are the headers to sign besides the ones the signer adds
/// (`x-amz-date`, `x-amz-security-token`); `url` is the full, already URI-encoded URL
/// (its path and query are signed; `host` is taken from it unless given in `headers`).
pub struct SigningRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// The request URL.
    pub url: &'a str,
    /// Headers to sign.
    pub headers: &'a [(&'a str, &'a str)],
    /// Request body.
    pub payload: &'a [u8],
    /// Region of the credential scope.
    pub region: &'a str,
    /// Service of the credential scope (`kms`).
    pub service: &'a str,
    /// The signing time (`x-amz-date`, and the date of the credential scope).
    pub time: SystemTime,
}

impl std::fmt::Debug for SigningRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The payload (a DEK on its way to be wrapped) is not printed.
        f.debug_struct("SigningRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("payload", &format_args!("<{} bytes>", self.payload.len()))
            .field("region", &self.region)
            .field("service", &self.service)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// The headers that sign `req` with AWS Signature Version 4 (AWS4-HMAC-SHA256, by
/// `aws-sigv4` with its default settings): `x-amz-date`, `x-amz-security-token` for
/// temporary credentials, and `authorization`, to send along with `req.headers`.
pub fn sigv4_headers(
    req: &SigningRequest<'_>,
    credentials: &AwsCredentials,
) -> Result<Vec<(&'static str, String)>, KmsError> {
    let config = |e: &dyn fmt::Display| KmsError::Config(format!("aws-kms signing: {e}"));
    let identity = credentials.inner.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(req.region)
        .name(req.service)
        .time(req.time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| config(&e))?
        .into();
    // The signer gets the body's hash, not the body: DEK plaintext stays out of it.
    let payload_hash = hex::encode(Sha256::digest(req.payload));
    let signable = SignableRequest::new(
        req.method,
        req.url,
        req.headers.iter().copied(),
        SignableBody::Precomputed(payload_hash),
    )
    .map_err(|e| config(&e))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| config(&e))?
        .into_parts();
    let (headers, _query) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    // AWS's SigV4 test suite (aws-sig-v4-test-suite, as published in the AWS General
    // Reference): credentials, date, region and service shared by every case.
    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";
    /// [`DATE`] as a time.
    fn suite_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160) // 2015-08-30T12:36:00Z
    }

    /// The value of header `name` among `signed`.
    fn header<'a>(signed: &'a [(&'static str, String)], name: &str) -> &'a str {
        signed
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} among {signed:?}"))
    }

    fn sign_with(
        credentials: &AwsCredentials,
        method: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Vec<(&'static str, String)> {
        sigv4_headers(
            &SigningRequest {
                method,
                url: "https://example.amazonaws.com/",
                headers,
                payload,
                region: "us-east-1",
                service: "service",
                time: suite_time(),
            },
            credentials,
        )
        .unwrap()
    }

    fn suite(method: &str, headers: &[(&str, &str)], payload: &[u8]) -> String {
        let credentials = AwsCredentials::new(AKID, SECRET, None).unwrap();
        let signed = sign_with(&credentials, method, headers, payload);
        assert_eq!(header(&signed, "x-amz-date"), DATE);
        header(&signed, "authorization").to_owned()
    }

    #[test]
    fn sigv4_get_vanilla() {
        let h = [("host", "example.amazonaws.com"), ("x-amz-date", DATE)];
        assert_eq!(
            suite("GET", &h, b""),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        // The signer adds x-amz-date itself: the same request without it signs the same.
        assert_eq!(suite("GET", &h[..1], b""), suite("GET", &h, b""),);
    }

    #[test]
    fn sigv4_post_vanilla() {
        let h = [("host", "example.amazonaws.com"), ("x-amz-date", DATE)];
        assert_eq!(
            suite("POST", &h, b""),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
    }

    #[test]
    fn sigv4_post_header_key_sort() {
        // Names are lower-cased and sorted whatever order they come in.
        let h = [
            ("X-Amz-Date", DATE),
            ("My-Header1", "value1"),
            ("Host", "example.amazonaws.com"),
        ];
        assert!(suite("POST", &h, b"").ends_with(
            "SignedHeaders=host;my-header1;x-amz-date, \
             Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"
        ));
    }

    #[test]
    fn sigv4_post_sts_header_before() {
        // Temporary credentials: the session token is a signed header.
        let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
        let h = [("host", "example.amazonaws.com"), ("x-amz-date", DATE)];
        let credentials = AwsCredentials::new(AKID, SECRET, Some(token.to_owned())).unwrap();
        let signed = sign_with(&credentials, "POST", &h, b"");
        assert_eq!(header(&signed, "x-amz-security-token"), token);
        assert!(header(&signed, "authorization").ends_with(
            "SignedHeaders=host;x-amz-date;x-amz-security-token, \
             Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"
        ));
    }

    #[test]
    fn sigv4_kms_json_request_matches_botocore() {
        // A KMS Encrypt request with a JSON body, signed by botocore 1.43's SigV4Auth
        // with the test-suite credentials at the test-suite date (the suite itself has
        // no JSON-body case).
        let body = br#"{"KeyId":"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","Plaintext":"AAECAw=="}"#;
        let h = [
            ("content-type", CONTENT_TYPE),
            ("host", "127.0.0.1:4566"),
            ("x-amz-target", "TrentService.Encrypt"),
        ];
        let req = SigningRequest {
            method: "POST",
            url: "http://127.0.0.1:4566/",
            headers: &h,
            payload: body,
            region: "eu-west-1",
            service: "kms",
            time: suite_time(),
        };
        let credentials = AwsCredentials::new(AKID, SECRET, None).unwrap();
        let signed = sigv4_headers(&req, &credentials).unwrap();
        assert_eq!(
            header(&signed, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/kms/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
             Signature=81fff732fc677cdda6becf347dfaf7a59dd4164eea2b850427b15846f8acc066"
        );
        let shown = format!("{req:?} {credentials:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("AAECAw=="),
            "{shown}"
        );
    }

    #[test]
    fn amz_date_formats_utc() {
        let date = |t: SystemTime| {
            let credentials = AwsCredentials::new(AKID, SECRET, None).unwrap();
            let h = [("host", "example.amazonaws.com")];
            let signed = sigv4_headers(
                &SigningRequest {
                    method: "GET",
                    url: "https://example.amazonaws.com/",
                    headers: &h,
                    payload: b"",
                    region: "us-east-1",
                    service: "service",
                    time: t,
                },
                &credentials,
            )
            .unwrap();
            header(&signed, "x-amz-date").to_owned()
        };
        assert_eq!(date(suite_time()), DATE);
        assert_eq!(date(UNIX_EPOCH), "19700101T000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(date(leap), "20000229T000000Z");
    }

    #[test]
    fn arns_are_parsed_or_refused_as_config() {
        let a = parse_key_arn("arn:aws:kms:eu-west-1:111122223333:key/1234abcd").unwrap();
        assert_eq!(a.region, "eu-west-1");
        assert!(parse_key_arn("arn:aws:kms:us-east-1:111122223333:alias/orders").is_ok());
        for bad in [
            "",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:s3:us-east-1:111122223333:key/x",
            "arn:aws:kms::111122223333:key/x",
            "arn:aws:kms:US_EAST:111122223333:key/x",
            "arn:aws:kms:us-east-1:acct:key/x",
            "arn:aws:kms:us-east-1:111122223333:key/",
            "arn:aws:kms:us-east-1:111122223333:grant/x",
        ] {
            assert!(
                matches!(parse_key_arn(bad), Err(KmsError::Config(_))),
                "{bad:?} should be a Config error"
            );
        }
    }

    #[test]
    fn errors_map_by_type_and_status() {
        let e = |status, body: &str| map_error("Decrypt", status, None, body.as_bytes());
        assert!(matches!(
            e(400, r#"{"__type":"InvalidCiphertextException","message":""}"#),
            KmsError::Unwrap(m) if m == "aws-kms Decrypt: InvalidCiphertextException"
        ));
        assert!(matches!(
            e(
                400,
                r#"{"__type":"com.amazonaws.kms#IncorrectKeyException"}"#
            ),
            KmsError::Unwrap(_)
        ));
        assert!(matches!(
            e(400, r#"{"__type":"NotFoundException","message":"Key 'k' does not exist"}"#),
            KmsError::Refused(m) if m == "aws-kms Decrypt: NotFoundException: Key 'k' does not exist"
        ));
        assert!(matches!(
            e(400, r#"{"__type":"AccessDeniedException","Message":"no"}"#),
            KmsError::Refused(_)
        ));
        assert!(matches!(
            e(400, r#"{"__type":"DisabledException"}"#),
            KmsError::Refused(_)
        ));
        assert!(matches!(
            e(400, r#"{"__type":"ThrottlingException"}"#),
            KmsError::Unavailable(_)
        ));
        assert!(
            matches!(e(500, "<html>boom</html>"), KmsError::Unavailable(m) if m == "aws-kms Decrypt: HTTP 500")
        );
        assert!(matches!(e(403, ""), KmsError::Refused(_)));
        assert!(matches!(
            e(403, "<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code>\
                    <Message>The request signature we calculated does not match</Message>\
                    </Error></Errors></ErrorResponse>"),
            KmsError::Refused(m) if m == "aws-kms Decrypt: SignatureDoesNotMatch: \
                The request signature we calculated does not match"
        ));
        let h = map_error(
            "Encrypt",
            400,
            Some("UnrecognizedClientException:http://internal".into()),
            b"",
        );
        assert_eq!(
            h,
            KmsError::Refused("aws-kms Encrypt: UnrecognizedClientException".into())
        );
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn config_from_environment() {
        assert!(AwsKms::from_vars(vars(&[])).unwrap().is_none());
        assert!(matches!(
            AwsKms::from_vars(vars(&[(ACCESS_KEY_ID_ENV, "AKID")])),
            Err(KmsError::Config(_))
        ));
        let kms = AwsKms::from_vars(vars(&[
            (ACCESS_KEY_ID_ENV, "AKID"),
            (SECRET_ACCESS_KEY_ENV, "very-secret-key"),
            (SESSION_TOKEN_ENV, "very-secret-token"),
            (ENDPOINT_URL_ENV, "http://generic:1"),
            (ENDPOINT_URL_KMS_ENV, "http://kms-only:2"),
            (DEFAULT_REGION_ENV, "eu-central-1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            kms.endpoint.as_ref().unwrap().as_str(),
            "http://kms-only:2/"
        );
        assert_eq!(kms.region.as_deref(), Some("eu-central-1"));
        let generic = AwsKms::from_vars(vars(&[
            (ACCESS_KEY_ID_ENV, "AKID"),
            (SECRET_ACCESS_KEY_ENV, "s"),
            (ENDPOINT_URL_KMS_ENV, ""),
            (ENDPOINT_URL_ENV, "http://generic:1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(generic.endpoint.unwrap().as_str(), "http://generic:1/");
        // Secrets never reach Debug output.
        let dbg = format!("{kms:?}");
        assert!(dbg.contains("AKID") && dbg.contains("<redacted>"), "{dbg}");
        assert!(!dbg.contains("very-secret"), "{dbg}");
        assert!(matches!(
            AwsKms::new(
                AwsCredentials::new("a", "b", None).unwrap(),
                Some("ftp://x")
            ),
            Err(KmsError::Config(_))
        ));
    }

    #[test]
    fn default_endpoints_follow_the_partition() {
        assert_eq!(
            default_endpoint("aws", "eu-west-1"),
            "https://kms.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            default_endpoint("aws-cn", "cn-north-1"),
            "https://kms.cn-north-1.amazonaws.com.cn"
        );
    }

    #[tokio::test]
    async fn malformed_arn_fails_before_any_request() {
        // The endpoint is unroutable: a Config error proves no request was attempted.
        let kms = AwsKms::new(
            AwsCredentials::new("a", "b", None).unwrap(),
            Some("http://127.0.0.1:9"),
        )
        .unwrap();
        assert!(matches!(
            kms.wrap("not-an-arn", b"k").await,
            Err(KmsError::Config(_))
        ));
        assert!(matches!(
            kms.unwrap("arn:aws:kms:eu-west-1:1:key", b"k").await,
            Err(KmsError::Config(_))
        ));
        assert!(matches!(
            kms.create_key("no region").await,
            Err(KmsError::Config(_))
        ));
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_unavailable() {
        let kms = AwsKms::new(
            AwsCredentials::new("a", "b", None).unwrap(),
            Some("http://127.0.0.1:9"),
        )
        .unwrap();
        let r = kms
            .wrap("arn:aws:kms:eu-west-1:111122223333:key/x", b"k")
            .await;
        assert!(matches!(r, Err(KmsError::Unavailable(_))), "{r:?}");
    }
}
