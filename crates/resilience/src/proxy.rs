//! Proxies from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, and `NO_PROXY`), as
//! every HTTP tool honours them, with one rule added: loopback is never proxied, so the local
//! services and test fakes on 127.0.0.1 are reached directly whatever the environment says.

/// Hosts that never go through a proxy, whatever `NO_PROXY` says.
pub const ALWAYS_DIRECT: &str = "localhost,127.0.0.0/8,::1";

/// The proxy settings the environment gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// Proxy of `https://` requests.
    pub https: Option<String>,
    /// Proxy of `http://` requests.
    pub http: Option<String>,
    /// Proxy of every request without a scheme-specific one.
    pub all: Option<String>,
    /// Hosts reached directly: `NO_PROXY` plus [`ALWAYS_DIRECT`].
    pub no_proxy: String,
}

impl ProxyEnv {
    /// Reads the variables through `var` (upper case first, then lower case, as curl does).
    #[must_use]
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| var(name).or_else(|| var(&name.to_lowercase())).filter(|v| !v.trim().is_empty());
        let no_proxy = match get("NO_PROXY") {
            Some(n) => format!("{},{ALWAYS_DIRECT}", n.trim().trim_end_matches(',')),
            None => ALWAYS_DIRECT.to_owned(),
        };
        Self { https: get("HTTPS_PROXY"), http: get("HTTP_PROXY"), all: get("ALL_PROXY"), no_proxy }
    }

    /// [`ProxyEnv::from_vars`] on the process environment.
    #[must_use]
    pub fn from_process() -> Self {
        Self::from_vars(|n| std::env::var(n).ok())
    }

    /// `builder` with these proxies (and nothing implicit): what every TradAI HTTP client calls.
    #[cfg(feature = "http")]
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let mut b = builder.no_proxy();
        type MakeProxy = fn(String) -> reqwest::Result<reqwest::Proxy>;
        let make: [(Option<&String>, MakeProxy); 3] = [
            (self.https.as_ref(), |u| reqwest::Proxy::https(u)),
            (self.http.as_ref(), |u| reqwest::Proxy::http(u)),
            (self.all.as_ref(), |u| reqwest::Proxy::all(u)),
        ];
        for (url, proxy) in make {
            match url.map(|u| proxy(u.clone())) {
                Some(Ok(p)) => b = b.proxy(p.no_proxy(reqwest::NoProxy::from_string(&self.no_proxy))),
                Some(Err(e)) => tracing::warn!(error = %e, "ignoring a proxy variable that is not a URL"),
                None => {}
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_read_and_loopback_stays_direct() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned())
        };
        let p = ProxyEnv::from_vars(env(&[("https_proxy", "http://proxy:3128"), ("NO_PROXY", "example.com,")]));
        assert_eq!(p.https.as_deref(), Some("http://proxy:3128"));
        assert_eq!(p.http, None);
        assert_eq!(p.no_proxy, format!("example.com,{ALWAYS_DIRECT}"));
        assert_eq!(ProxyEnv::from_vars(env(&[])).no_proxy, ALWAYS_DIRECT);
    }
}
