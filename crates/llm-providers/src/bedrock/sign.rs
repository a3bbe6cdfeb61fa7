//! SigV4 request signing through the `aws-sigv4` crate.

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::AwsCredentials;

/// A signing failure; it never quotes the credentials.
#[derive(Debug, thiserror::Error)]
#[error("failed to sign the request: {0}")]
pub(crate) struct SignError(String);

/// The region, service and time that a signature is valid for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    pub(crate) time: SystemTime,
}

/// Signs a request and returns the headers to add: `authorization`,
/// `x-amz-date` and, for temporary credentials, `x-amz-security-token`.
///
/// `url` must already be percent-encoded; `headers` are the other headers to
/// sign besides `host`, which is taken from the URL.
pub(crate) fn signing_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: &AwsCredentials,
    scope: Scope<'_>,
) -> Result<Vec<(String, String)>, SignError> {
    let identity: Identity = credentials.to_aws().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(scope.time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|error| SignError(error.to_string()))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|error| SignError(error.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|error| SignError(error.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::SecretString;

    use super::*;

    const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/aws-sigv4"
    );

    fn read(case: &str, file: &str) -> String {
        std::fs::read_to_string(format!("{VECTORS}/{case}/{file}")).unwrap()
    }

    /// Signs the test-suite case with its context's credentials, region,
    /// service and time, and returns the `authorization` header.
    fn sign_vector(case: &str) -> (String, Vec<(String, String)>) {
        let context: serde_json::Value = serde_json::from_str(&read(case, "context.json")).unwrap();
        let credentials = AwsCredentials::new(
            context["credentials"]["access_key_id"].as_str().unwrap(),
            SecretString::from(
                context["credentials"]["secret_access_key"]
                    .as_str()
                    .unwrap(),
            ),
            None,
        );
        let request = read(case, "request.txt");
        let method = request.split_whitespace().next().unwrap();
        // 2015-08-30T12:36:00Z, the context's timestamp.
        assert_eq!(context["timestamp"], "2015-08-30T12:36:00Z");
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let headers = signing_headers(
            method,
            "https://example.amazonaws.com/",
            &[],
            b"",
            &credentials,
            Scope {
                region: context["region"].as_str().unwrap(),
                service: context["service"].as_str().unwrap(),
                time,
            },
        )
        .unwrap();
        let authorization = headers
            .iter()
            .find(|(name, _)| name == "authorization")
            .map(|(_, value)| value.clone())
            .unwrap();
        (authorization, headers)
    }

    #[test]
    fn sigv4_vectors_match_signatures() {
        for case in ["get-vanilla", "post-vanilla"] {
            let (authorization, headers) = sign_vector(case);
            let expected_signature = read(case, "header-signature.txt");
            assert!(
                authorization.ends_with(&format!("Signature={}", expected_signature.trim())),
                "{case}: {authorization}"
            );
            let signed_request = read(case, "header-signed-request.txt");
            let expected_authorization = signed_request
                .lines()
                .find_map(|line| line.strip_prefix("Authorization:"))
                .unwrap();
            assert_eq!(authorization, expected_authorization, "{case}");
            assert!(
                headers
                    .iter()
                    .any(|(name, value)| name == "x-amz-date" && value == "20150830T123600Z"),
                "{case}: x-amz-date missing"
            );
        }
    }

    #[test]
    fn session_token_is_signed_and_sent() {
        let credentials = AwsCredentials::new(
            "AKIDEXAMPLE",
            SecretString::from("secret"),
            Some(SecretString::from("token-value")),
        );
        let headers = signing_headers(
            "POST",
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse",
            &[("content-type", "application/json")],
            b"{}",
            &credentials,
            Scope {
                region: "us-east-1",
                service: "bedrock",
                time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            },
        )
        .unwrap();
        assert!(
            headers
                .iter()
                .any(|(name, value)| name == "x-amz-security-token" && value == "token-value")
        );
        let authorization = &headers
            .iter()
            .find(|(name, _)| name == "authorization")
            .unwrap()
            .1;
        assert!(authorization.contains("/us-east-1/bedrock/aws4_request"));
        assert!(authorization.contains("content-type"));
    }
}
