//! The OpenID Connect relying party (openidconnect): discovery, authorization code flow
//! with PKCE, state and nonce, and ID token verification against the provider's JWKS
//! (EdDSA, ES256 and RS256 only), issuer and audience. The `acr` check is the caller's:
//! `acr_values` in the request is only a wish.

use crate::config::OidcSettings;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the identity provider could not be reached or described itself wrongly: {0}")]
    Discovery(String),
    #[error("the login configuration is invalid: {0}")]
    Config(String),
    #[error("the identity provider refused the code: {0}")]
    Exchange(String),
    #[error("the ID token did not verify: {0}")]
    IdToken(String),
}

/// What a verified ID token says about the person.
#[derive(Clone, Debug)]
pub struct VerifiedIdentity {
    pub issuer: String,
    pub subject: String,
    pub acr: Option<String>,
    pub name: Option<String>,
    pub national_id: Option<String>,
    /// When the person authenticated at the provider, if the ID token says.
    pub auth_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// Where to send the browser, and what to remember until it comes back.
#[derive(Debug)]
pub struct LoginStart {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: Zeroizing<String>,
}

#[derive(Debug)]
pub struct RelyingParty {
    settings: OidcSettings,
    redirect: String,
    http: openidconnect::reqwest::Client,
    client: OnceCell<DiscoveredClient>,
}

impl RelyingParty {
    pub fn new(settings: OidcSettings, redirect: String) -> Result<Self, LoginError> {
        // No redirects: a provider must not bounce our back-channel calls elsewhere (SSRF).
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| LoginError::Config(e.to_string()))?;
        Ok(Self {
            settings,
            redirect,
            http,
            client: OnceCell::new(),
        })
    }

    /// Discovers the provider on first use; a failure is not remembered.
    async fn client(&self) -> Result<&DiscoveredClient, LoginError> {
        self.client
            .get_or_try_init(|| async {
                let issuer = IssuerUrl::new(self.settings.issuer.clone())
                    .map_err(|e| LoginError::Config(e.to_string()))?;
                let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| LoginError::Discovery(e.to_string()))?;
                let redirect = RedirectUrl::new(self.redirect.clone())
                    .map_err(|e| LoginError::Config(e.to_string()))?;
                Ok(CoreClient::from_provider_metadata(
                    metadata,
                    ClientId::new(self.settings.client_id.clone()),
                    self.settings.client_secret.clone().map(ClientSecret::new),
                )
                .set_redirect_uri(redirect))
            })
            .await
    }

    pub async fn start(
        &self,
        login_hint: Option<&str>,
        acr_wish: &[String],
        reauthenticate: bool,
    ) -> Result<LoginStart, LoginError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge);
        for acr in acr_wish {
            request = request.add_auth_context_value(AuthenticationContextClass::new(acr.clone()));
        }
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        if reauthenticate {
            // Ask for a fresh authentication; the callback checks `auth_time` anyway.
            request = request.add_prompt(openidconnect::core::CoreAuthPrompt::Login);
        }
        let (url, state, nonce) = request.url();
        Ok(LoginStart {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: Zeroizing::new(verifier.secret().clone()),
        })
    }

    pub async fn finish(
        &self,
        code: String,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<VerifiedIdentity, LoginError> {
        let client = self.client().await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| LoginError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| LoginError::Exchange(e.to_string()))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| LoginError::IdToken("the provider returned no ID token".into()))?;
        let verifier = client.id_token_verifier().set_allowed_algs(vec![
            CoreJwsSigningAlgorithm::EdDsa,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        ]);
        let claims = id_token
            .claims(&verifier, &Nonce::new(nonce.to_owned()))
            .map_err(|e| LoginError::IdToken(e.to_string()))?;
        // The signature is verified; read the one claim the core types do not model.
        let national_id = id_token
            .to_string()
            .split('.')
            .nth(1)
            .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|v| {
                v.get("personal_identity_code")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned)
            });
        Ok(VerifiedIdentity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            acr: claims.auth_context_ref().map(|acr| acr.to_string()),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.to_string()),
            national_id,
            auth_time: claims.auth_time(),
        })
    }
}
