//! The sandbox's behaviour as flags and environment, for `bufdir-sandbox` and for the sandbox
//! `serve` and `worker --own-sandbox` start.

use clap::Args;
use workers::secret::Secret;

/// The Bufdir sandbox's behaviour, for `bufdir-sandbox` and for the one `serve` starts.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// A registered test client, `ID:SECRET` (repeatable). Default: `eircodex_org_482:s3cr3t_token_here`
    /// and `demo-client:demo-secret`.
    #[arg(
        long = "sandbox-client",
        env = "BUFDIR_SANDBOX_CLIENTS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub clients: Vec<Secret>,
    /// Lifetime of issued tokens, in seconds.
    #[arg(
        long = "sandbox-token-ttl",
        env = "BUFDIR_SANDBOX_TOKEN_TTL",
        default_value_t = 3600
    )]
    pub token_ttl: u64,
    /// How long a submission stays `received` before its verdict, in milliseconds.
    #[arg(
        long = "sandbox-processing-delay-ms",
        env = "BUFDIR_SANDBOX_PROCESSING_DELAY_MS",
        default_value_t = 30_000
    )]
    pub processing_delay_ms: u64,
    /// The share (0 to 1) of submissions rejected instead of accepted.
    #[arg(
        long = "sandbox-reject-share",
        env = "BUFDIR_SANDBOX_REJECT_SHARE",
        default_value_t = 0.0
    )]
    pub reject_share: f64,
    /// Latency added to every answer, in milliseconds.
    #[arg(
        long = "sandbox-latency-ms",
        env = "BUFDIR_SANDBOX_LATENCY_MS",
        default_value_t = 0
    )]
    pub latency_ms: u64,
    /// The share (0 to 1) of requests answered 503.
    #[arg(
        long = "sandbox-fail-share",
        env = "BUFDIR_SANDBOX_FAIL_SHARE",
        default_value_t = 0.0
    )]
    pub fail_share: f64,
    /// The share (0 to 1) of requests handled and then cut off before the answer.
    #[arg(
        long = "sandbox-drop-share",
        env = "BUFDIR_SANDBOX_DROP_SHARE",
        default_value_t = 0.0
    )]
    pub drop_share: f64,
}

impl SandboxArgs {
    pub fn config(&self) -> anyhow::Result<crate::SandboxConfig> {
        let clients = if self.clients.is_empty() {
            crate::default_clients()
        } else {
            self.clients
                .iter()
                .map(|c| {
                    c.expose()
                        .split_once(':')
                        .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
                        .map(|(id, secret)| (id.to_string(), secret.to_string()))
                        .ok_or_else(|| {
                            // Not the value itself: it may hold a secret.
                            anyhow::anyhow!("--sandbox-client takes ID:SECRET, with both parts")
                        })
                })
                .collect::<anyhow::Result<_>>()?
        };
        for share in [self.reject_share, self.fail_share, self.drop_share] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&share),
                "shares are between 0 and 1, got {share}"
            );
        }
        Ok(crate::SandboxConfig {
            clients,
            token_ttl: self.token_ttl,
            processing_delay: std::time::Duration::from_millis(self.processing_delay_ms),
            reject_share: self.reject_share,
            faults: crate::Faults {
                latency_ms: self.latency_ms,
                fail_share: self.fail_share,
                drop_share: self.drop_share,
                ..Default::default()
            },
        })
    }
}
