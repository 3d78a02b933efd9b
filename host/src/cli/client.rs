//! The command line's side of `wasmstream serve`: which server and token
//! (flags, then `WASMSTREAM_SERVER` and `WASMSTREAM_TOKEN`, then the file
//! `wasmstream login` writes), and a small blocking HTTP client that turns
//! the server's JSON errors into plain ones.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::serve::wire::ApiError;

/// Where `wasmstream serve` listens when not told.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

/// Which server, and the token to show it.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// The server's URL [default: $WASMSTREAM_SERVER, then `wasmstream login`'s, then http://127.0.0.1:7070]
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The API token [default: $WASMSTREAM_TOKEN, then `wasmstream login`'s]
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
}

/// What `wasmstream login` keeps.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    /// The server's URL.
    pub server: Option<String>,
    /// The token.
    pub token: Option<String>,
}

impl Saved {
    /// The file: `wasmstream/config.toml` in the user's config folder.
    pub fn file() -> Result<PathBuf> {
        let dir =
            dirs::config_dir().context("cannot find the user's config folder (is HOME set?)")?;
        Ok(dir.join("wasmstream").join("config.toml"))
    }

    /// What was saved, if anything.
    pub fn load() -> Result<Saved> {
        let file = Saved::file()?;
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("cannot read {}", file.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Saved::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
        }
    }

    /// Writes it, readable by the user alone.
    pub fn store(&self) -> Result<PathBuf> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = Saved::file()?;
        std::fs::create_dir_all(file.parent().expect("the file is in a folder"))?;
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&file)
            .with_context(|| format!("cannot write {}", file.display()))?;
        std::io::Write::write_all(&mut out, toml::to_string(self)?.as_bytes())?;
        Ok(file)
    }
}

impl Connection {
    /// A client for the server, with the token found first.
    pub fn client(&self) -> Result<Client> {
        let (server, token) = self.found()?;
        let token = token
            .context("no token: pass --token, set WASMSTREAM_TOKEN, or run `wasmstream login`")?;
        Ok(Client::new(&server, &token))
    }

    /// A client for the server, with the token found first if there is
    /// one: a local run's metrics address needs none.
    pub fn client_without_token(&self) -> Result<Client> {
        let (server, token) = self.found()?;
        Ok(Client::new(&server, &token.unwrap_or_default()))
    }

    /// The server, and the token if any: flags, then the environment, then
    /// what `wasmstream login` saved.
    fn found(&self) -> Result<(String, Option<String>)> {
        let saved = Saved::load()?;
        let server = (self.server.clone())
            .or_else(|| std::env::var("WASMSTREAM_SERVER").ok())
            .or(saved.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let token = (self.token.clone())
            .or_else(|| std::env::var("WASMSTREAM_TOKEN").ok())
            .or(saved.token);
        Ok((server, token))
    }
}

/// A blocking client of one server.
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// A request's outcome: the status, and the body read as text.
type Answer = (u16, String);

impl Client {
    /// A client of `server` showing `token`.
    pub fn new(server: &str, token: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Client {
            base: server.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            agent,
        }
    }

    /// The server's URL.
    pub fn server(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn answer(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer> {
        let mut response =
            sent.map_err(|e| anyhow::anyhow!("cannot reach the server at {}: {e}", self.base))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .with_context(|| format!("cannot read the answer of {}", self.base))?;
        Ok((status, text))
    }

    /// The body of a 2xx answer as `T`, or the server's error.
    fn expect<T: DeserializeOwned>(&self, (status, text): Answer) -> Result<T> {
        if !(200..300).contains(&status) {
            match serde_json::from_str::<ApiError>(&text) {
                Ok(e) => bail!("{}", e.error),
                Err(_) => bail!("the server answered {status}: {text}"),
            }
        }
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text)
            .with_context(|| format!("the server's answer is not what was expected: {text}"))
    }

    /// `GET path`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let sent = self
            .agent
            .get(self.url(path))
            .header("Authorization", self.auth())
            .call();
        let answer = self.answer(sent)?;
        self.expect(answer)
    }

    /// `POST path` with a JSON body.
    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let sent = self
            .agent
            .post(self.url(path))
            .header("Authorization", self.auth())
            .send_json(body);
        let answer = self.answer(sent)?;
        self.expect(answer)
    }

    /// `PUT path` with a JSON body.
    pub fn put<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let sent = self
            .agent
            .put(self.url(path))
            .header("Authorization", self.auth())
            .send_json(body);
        let answer = self.answer(sent)?;
        self.expect(answer)
    }

    /// `PUT path` with `length` bytes from `body`.
    pub fn upload(&self, path: &str, length: u64, body: &mut dyn Read) -> Result<()> {
        let sent = self
            .agent
            .put(self.url(path))
            .header("Authorization", self.auth())
            .header("Content-Type", "application/wasm")
            .header("Content-Length", length.to_string())
            .send(ureq::SendBody::from_reader(body));
        let answer = self.answer(sent)?;
        self.expect::<serde::de::IgnoredAny>(answer).map(drop)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<()> {
        let sent = self
            .agent
            .delete(self.url(path))
            .header("Authorization", self.auth())
            .call();
        let answer = self.answer(sent)?;
        self.expect::<serde::de::IgnoredAny>(answer).map(drop)
    }

    /// `HEAD path`: whether it exists (200) or not (404).
    pub fn exists(&self, path: &str) -> Result<bool> {
        let sent = self
            .agent
            .head(self.url(path))
            .header("Authorization", self.auth())
            .call();
        match self.answer(sent)? {
            (200, _) => Ok(true),
            (404, _) => Ok(false),
            (401, _) => bail!("the server refused the token (is it revoked or mistyped?)"),
            (status, _) => bail!("the server answered {status} to HEAD {path}"),
        }
    }
}
