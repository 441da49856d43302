//! Optional API keys (SHA-256 digests, compared in constant time) and a per-key rate
//! limit.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The accepted keys, as SHA-256 digests. Empty means keys are not required.
#[derive(Debug, Default, Clone)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl ApiKeys {
    /// Reads digests: one per line in `file` (blank lines and `#` comments ignored) and a
    /// comma-separated list from `env`.
    pub fn load(file: Option<&Path>, env: Option<&str>) -> Result<ApiKeys, String> {
        let mut digests = Vec::new();
        if let Some(file) = file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("{}: cannot read API keys: {e}", file.display()))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                digests.push(parse_digest(line).ok_or_else(|| {
                    format!(
                        "{}:{}: not a SHA-256 hex digest (64 hex digits)",
                        file.display(),
                        n + 1
                    )
                })?);
            }
        }
        if let Some(env) = env {
            for (n, item) in env
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .enumerate()
            {
                digests.push(parse_digest(item).ok_or_else(|| {
                    format!(
                        "VOLATILE_API_KEYS entry {}: not a SHA-256 hex digest",
                        n + 1
                    )
                })?);
            }
        }
        Ok(ApiKeys { digests })
    }

    /// Whether keys are required.
    pub fn enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// The digest of an accepted key, checked in constant time against every digest.
    pub fn check(&self, key: &str) -> Option<[u8; 32]> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        for d in &self.digests {
            found |= d.ct_eq(&digest);
        }
        bool::from(found).then_some(digest)
    }
}

/// A token bucket per key: `rate` requests per second, bursts up to `rate`.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    buckets: Mutex<HashMap<[u8; 32], (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter allowing `rate` requests per second per key.
    pub fn new(rate: f64) -> RateLimiter {
        RateLimiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`; `Err(seconds)` to wait when there is none.
    pub fn take(&self, key: [u8; 32]) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (tokens, last) = buckets.entry(key).or_insert((self.rate, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Parses `--rate-limit N/s`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.strip_suffix("/s").unwrap_or(text);
    match number.trim().parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok(n),
        _ => Err(format!("`{text}` is not a rate like `20/s`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_by_digest() {
        let digest: String = Sha256::digest(b"s3cret")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let keys = ApiKeys::load(None, Some(&format!(" {digest} ,"))).unwrap_or_default();
        assert!(keys.enabled());
        assert!(keys.check("s3cret").is_some());
        assert!(keys.check("other").is_none());
        assert!(ApiKeys::load(None, Some("xyz")).is_err());
    }

    #[test]
    fn rate_limit_refills() {
        let limiter = RateLimiter::new(2.0);
        assert!(limiter.take([1; 32]).is_ok());
        assert!(limiter.take([1; 32]).is_ok());
        assert!(limiter.take([1; 32]).is_err());
        assert!(limiter.take([2; 32]).is_ok(), "keys have separate buckets");
        assert_eq!(parse_rate("20/s"), Ok(20.0));
        assert!(parse_rate("fast").is_err());
    }
}
