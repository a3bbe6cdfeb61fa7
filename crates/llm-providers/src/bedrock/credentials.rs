//! AWS credentials read from the environment, never from a metadata service.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::ConfigError;

/// Static AWS credentials for SigV4 signing.
///
/// `Debug` shows neither the secret key nor the session token.
///
/// ```
/// use llm_providers::bedrock::AwsCredentials;
/// use secrecy::SecretString;
///
/// let credentials = AwsCredentials::new("AKIDEXAMPLE", SecretString::from("wJalrXUtnFEMI"), None);
/// assert!(!format!("{credentials:?}").contains("wJalrXUtnFEMI"));
/// ```
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: SecretString,
    session_token: Option<SecretString>,
}

impl AwsCredentials {
    /// Creates credentials from their parts. `session_token` is set for
    /// temporary credentials.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: SecretString,
        session_token: Option<SecretString>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key,
            session_token,
        }
    }

    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and the optional
    /// `AWS_SESSION_TOKEN`.
    ///
    /// Only these variables are read: no profile file, no instance metadata
    /// service.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::Missing`] naming the first variable that is unset
    /// or empty.
    pub fn from_env() -> Result<Self, ConfigError> {
        let read = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        let access_key_id =
            read("AWS_ACCESS_KEY_ID").ok_or(ConfigError::Missing("AWS_ACCESS_KEY_ID"))?;
        let secret_access_key =
            read("AWS_SECRET_ACCESS_KEY").ok_or(ConfigError::Missing("AWS_SECRET_ACCESS_KEY"))?;
        Ok(Self::new(
            access_key_id,
            SecretString::from(secret_access_key),
            read("AWS_SESSION_TOKEN").map(SecretString::from),
        ))
    }

    /// Converts to the signer's credential type.
    pub(crate) fn to_aws(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.expose_secret().to_owned(),
            self.session_token
                .as_ref()
                .map(|token| token.expose_secret().to_owned()),
            None,
            "hello-ship-static",
        )
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &"***")
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}
