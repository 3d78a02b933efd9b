//! API tokens: `wst_<id>_<secret>`, random, shown once. The registry keeps
//! the id and the SHA-256 of the secret; a token presented is found by its
//! id and its secret's hash compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::registry::TokenRecord;

const PREFIX: &str = "wst_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A new token for `tenant` (`None`: the admin): the token to hand out
/// once, and the record to store.
pub fn new(tenant: Option<String>) -> anyhow::Result<(String, TokenRecord)> {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let record = TokenRecord {
        hash: hash(&secret),
        id: id.clone(),
        tenant,
    };
    Ok((format!("{PREFIX}{id}_{secret}"), record))
}

/// A token split into its id and secret.
#[derive(Debug)]
pub struct Presented<'a> {
    /// The public half.
    pub id: &'a str,
    /// The secret half.
    pub secret: &'a str,
}

/// Splits `token`, or says it is not shaped like one.
pub fn parse(token: &str) -> Result<Presented<'_>, &'static str> {
    let hex_of =
        |s: &str, bytes: usize| s.len() == bytes * 2 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let rest = token
        .strip_prefix(PREFIX)
        .ok_or("it does not start with `wst_`")?;
    let (id, secret) = rest
        .split_once('_')
        .ok_or("it is not `wst_<id>_<secret>`")?;
    if !hex_of(id, ID_BYTES) || !hex_of(secret, SECRET_BYTES) {
        return Err("it is not `wst_<id>_<secret>` in hex digits");
    }
    Ok(Presented { id, secret })
}

/// Whether `secret` is the one `record` was made with, compared in
/// constant time.
pub fn matches(record: &TokenRecord, secret: &str) -> bool {
    hash(secret).as_bytes().ct_eq(record.hash.as_bytes()).into()
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_its_record_and_no_other_secret() {
        let (token, record) = new(Some("a".into())).unwrap();
        let presented = parse(&token).unwrap();
        assert_eq!(presented.id, record.id);
        assert!(matches(&record, presented.secret));
        let (other, _) = new(None).unwrap();
        assert!(!matches(&record, parse(&other).unwrap().secret));
        assert!(!record.hash.contains(presented.secret));
    }

    #[test]
    fn malformed_tokens_say_what_shape_is_wanted() {
        assert!(parse("Bearer x").unwrap_err().contains("wst_"));
        assert!(parse("wst_abc").unwrap_err().contains("<secret>"));
        assert!(parse("wst_zz_yy").unwrap_err().contains("hex"));
    }
}
