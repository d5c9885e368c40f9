//! Authentication for the network transports: passwords (argon2id), access
//! tokens (JWT, HS256 pinned, short-lived) and refresh tokens (opaque,
//! single-use, stored hashed, in families), and login throttling.
//!
//! - The signing secret is 32 random bytes in `<data_dir>/jwt.secret`
//!   (mode 0600), made on first start and never logged.
//! - An access token names the user by id; each request re-reads the user,
//!   so a disabled user, or one whose role or password changed after the
//!   token was issued, is refused at once.
//! - A refresh token used twice ends its family (the login it came from):
//!   whoever replayed it and whoever holds the newest one both log in again.
//! - A wrong user name and a wrong password are the same error and cost the
//!   same time. After 5 failures for a user or an address, further attempts
//!   are refused for 1 s, doubling per failure up to 15 minutes.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::Argon2;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tradedesk_core::api::auth::{Secret, Tokens};
use tradedesk_core::api::{ApiError, Caller, ErrorCode, Transport};
use tradedesk_core::time::Timestamp;

use crate::store::users::{self as db, UserRow};
use crate::store::{Store, StoreError};

pub const SECRET_FILE: &str = "jwt.secret";
const ISSUER: &str = "tradingd";
const AUDIENCE: &str = "tradedesk";
const ACCESS: &str = "access";
/// Failures before attempts are refused for a while.
const FREE_FAILURES: u32 = 5;
const MAX_BLOCK_MS: i64 = 15 * 60 * 1000;
pub const MIN_PASSWORD: usize = 12;
pub const MAX_PASSWORD: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{0}: the signing secret is damaged (expected 64 hex digits); remove it to make a new one, which logs everyone out"
    )]
    BadSecret(String),
    #[error("no randomness for the signing secret: {0}")]
    Random(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's id.
    sub: String,
    typ: String,
    iss: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    /// `iat` in milliseconds, compared with the user's `tokens_valid_from`.
    iat_ms: i64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Failures {
    count: u32,
    last_ms: i64,
    blocked_until_ms: i64,
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl_s: u64,
    pub refresh_ttl_s: u64,
    failures: Mutex<HashMap<String, Failures>>,
    /// Users read for token checks (a leaf lock).
    users: Mutex<HashMap<u64, Arc<UserRow>>>,
    /// Bumped by every [`Auth::forget`]: a read that raced a change is not
    /// kept.
    generation: std::sync::atomic::AtomicU64,
    /// A hash to verify against when the user does not exist, so that the
    /// answer takes as long as for a wrong password. Made at first need: a
    /// daemon nobody logs into never allocates the hasher's buffer.
    decoy: std::sync::OnceLock<String>,
    hasher: Hasher,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
    Ok(b)
}

use crate::hex::{decode as unhex, encode as hex};

/// The signing secret, made on first start.
fn load_secret(data_dir: &Path) -> Result<Vec<u8>, AuthSetupError> {
    let path = data_dir.join(SECRET_FILE);
    let io = |source| AuthSetupError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => match unhex(text.trim()) {
            Some(b) if b.len() == 32 => Ok(b),
            _ => Err(AuthSetupError::BadSecret(path.display().to_string())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = random_bytes::<32>().map_err(AuthSetupError::Random)?;
            let mut f = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io)?
            };
            f.write_all(hex(&secret).as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
            Ok(secret.to_vec())
        }
        Err(e) => Err(io(e)),
    }
}

/// Argon2id as OWASP's fifth equivalent setting: 7 MiB, 5 passes, one
/// lane. Hashes and checks run one at a time (the lock below): the daemon's
/// memory stays bounded however many logins arrive at once.
const ARGON_M_KIB: u32 = 7168;
const ARGON_T: u32 = 5;
const ARGON_P: u32 = 1;
/// The largest memory cost a stored hash may ask for (64 MiB).
const ARGON_MAX_M_KIB: u32 = 65_536;

/// A hash's working memory is reserved with room for this many blocks
/// (32 MiB and one block) though only `m` of them are touched: glibc's
/// malloc always maps a request above 32 MiB afresh and unmaps it when
/// freed, whereas a smaller one, after the first, is carved from the heap
/// and stays resident for the daemon's life. So the 7 MiB a login needs
/// are given back as soon as it is checked. (Untouched pages of the
/// reservation cost no memory; other allocators map large requests too.)
const ARGON_RESERVE_BLOCKS: usize = 32 * 1024 + 1;

struct Hasher {
    one_at_a_time: Mutex<()>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD_NO_PAD
}

impl Hasher {
    fn run(
        &self,
        m: u32,
        t: u32,
        p: u32,
        pwd: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), String> {
        let params = argon2::Params::new(m, t, p, Some(out.len())).map_err(|e| e.to_string())?;
        let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let _turn = self
            .one_at_a_time
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let blocks = usize::try_from(m).map_err(|e| e.to_string())?;
        let mut memory = Vec::with_capacity(blocks.max(ARGON_RESERVE_BLOCKS));
        memory.resize(blocks, argon2::Block::default());
        argon
            .hash_password_into_with_memory(pwd, salt, out, memory.as_mut_slice())
            .map_err(|e| e.to_string())
    }

    /// A PHC string: `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`.
    fn hash(&self, password: &str) -> Result<String, String> {
        let salt = random_bytes::<16>()?;
        let mut out = [0u8; 32];
        self.run(
            ARGON_M_KIB,
            ARGON_T,
            ARGON_P,
            password.as_bytes(),
            &salt,
            &mut out,
        )?;
        Ok(format!(
            "$argon2id$v=19$m={ARGON_M_KIB},t={ARGON_T},p={ARGON_P}${}${}",
            b64().encode(salt),
            b64().encode(out)
        ))
    }

    fn verify(&self, phc: &str, password: &str) -> bool {
        let parts: Vec<&str> = phc.split('$').collect();
        let [_, "argon2id", "v=19", params, salt, hash] = parts.as_slice() else {
            return false;
        };
        let mut m = 0;
        let mut t = 0;
        let mut p = 0;
        for kv in params.split(',') {
            match kv.split_once('=') {
                Some(("m", v)) => m = v.parse().unwrap_or(0),
                Some(("t", v)) => t = v.parse().unwrap_or(0),
                Some(("p", v)) => p = v.parse().unwrap_or(0),
                _ => return false,
            }
        }
        let (Ok(salt), Ok(expected)) = (b64().decode(salt), b64().decode(hash)) else {
            return false;
        };
        if m == 0 || m > ARGON_MAX_M_KIB || expected.is_empty() {
            return false;
        }
        let mut out = vec![0u8; expected.len()];
        if self
            .run(m, t, p, password.as_bytes(), &salt, &mut out)
            .is_err()
        {
            return false;
        }
        // Compared in full, whatever differs first.
        out.iter()
            .zip(&expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// A password as the policy wants it, or the field's error.
pub fn check_password(field: &str, password: &Secret) -> Result<(), ApiError> {
    let n = password.expose().chars().count();
    if n < MIN_PASSWORD {
        return Err(ApiError::bad_field(
            field,
            format!("must be at least {MIN_PASSWORD} characters"),
        ));
    }
    if password.expose().len() > MAX_PASSWORD {
        return Err(ApiError::bad_field(
            field,
            format!("must be at most {MAX_PASSWORD} bytes"),
        ));
    }
    Ok(())
}

pub fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, message)
}

fn store_err(e: &StoreError) -> ApiError {
    crate::services::exchange::store_err(e)
}

impl Auth {
    pub fn open(
        data_dir: &Path,
        access_ttl_s: u64,
        refresh_ttl_s: u64,
    ) -> Result<Auth, AuthSetupError> {
        let secret = load_secret(data_dir)?;
        let bad = |e: jsonwebtoken::errors::Error| {
            AuthSetupError::Random(format!("the signing key: {e}"))
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        let hasher = Hasher {
            one_at_a_time: Mutex::new(()),
        };
        let decoy = std::sync::OnceLock::new();
        Ok(Auth {
            encoding: EncodingKey::from_secret(&secret).map_err(bad)?,
            decoding: DecodingKey::from_secret(&secret).map_err(bad)?,
            validation,
            access_ttl_s,
            refresh_ttl_s,
            failures: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
            decoy,
            hasher,
        })
    }

    fn decoy(&self) -> &str {
        self.decoy.get_or_init(|| {
            self.hasher
                .hash("a decoy password nobody has")
                .unwrap_or_default()
        })
    }

    pub fn hash(&self, password: &Secret) -> Result<String, ApiError> {
        self.hasher
            .hash(password.expose())
            .map_err(|e| ApiError::internal(format!("cannot hash the password: {e}")))
    }

    fn verify(&self, hash: &str, password: &Secret) -> bool {
        self.hasher.verify(hash, password.expose())
    }

    fn keys(user: &str, peer: Option<IpAddr>) -> Vec<String> {
        let mut keys = vec![format!("user:{}", user.to_lowercase())];
        if let Some(ip) = peer {
            keys.push(format!("ip:{ip}"));
        }
        keys
    }

    /// Refuses an attempt while its user or address is blocked.
    fn check_throttle(&self, keys: &[String], now: Timestamp) -> Result<(), ApiError> {
        let map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let until = keys
            .iter()
            .filter_map(|k| map.get(k))
            .map(|f| f.blocked_until_ms)
            .max()
            .unwrap_or(0);
        if until > now.millis() {
            let secs = until
                .saturating_sub(now.millis())
                .div_euclid(1000)
                .saturating_add(1);
            return Err(ApiError::new(
                ErrorCode::Throttled,
                format!("too many failed logins; try again in {secs} s"),
            )
            .with_data(serde_json::json!({ "retry_after_s": secs })));
        }
        Ok(())
    }

    fn record_failure(&self, keys: &[String], now: Timestamp) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, f| f.blocked_until_ms > now.millis());
        }
        for k in keys {
            let f = map.entry(k.clone()).or_default();
            // An hour without failures forgives the earlier ones.
            if now.millis().saturating_sub(f.last_ms) > 3_600_000 {
                *f = Failures::default();
            }
            f.count = f.count.saturating_add(1);
            f.last_ms = now.millis();
            if f.count >= FREE_FAILURES {
                let shift = f.count.saturating_sub(FREE_FAILURES).min(20);
                let block = 1000i64.saturating_mul(1 << shift).min(MAX_BLOCK_MS);
                f.blocked_until_ms = now.millis().saturating_add(block);
            }
        }
    }

    fn forgive(&self, user: &str) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(&format!("user:{}", user.to_lowercase()));
    }

    /// Checks a user's password; the user, or one error for every failure.
    ///
    /// The store is locked only to read the user; the password is checked
    /// (tens of milliseconds of argon2) with no lock but the hasher's own,
    /// so logins never stall the market, orders or jobs.
    pub fn login(
        &self,
        store: &crate::lock_order::OrderedMutex<Store>,
        user: &str,
        password: &Secret,
        peer: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<UserRow, ApiError> {
        let keys = Self::keys(user, peer);
        self.check_throttle(&keys, now)?;
        let row = db::by_name(store.lock().conn(), user).map_err(|e| store_err(&e))?;
        let ok = match &row {
            Some(r) => {
                let hash = r.password_hash.as_deref().unwrap_or_else(|| self.decoy());
                self.verify(hash, password) && r.password_hash.is_some() && !r.view.disabled
            }
            None => {
                let _ = self.verify(self.decoy(), password);
                false
            }
        };
        match row {
            Some(r) if ok => {
                self.forgive(user);
                Ok(r)
            }
            _ => {
                self.record_failure(&keys, now);
                Err(unauthenticated("invalid user name or password"))
            }
        }
    }

    /// A new access token and a new refresh token in `family` (a new
    /// family for a login). The caller writes in a transaction.
    pub fn issue(
        &self,
        tx: &rusqlite::Connection,
        user: &UserRow,
        family: Option<&str>,
        now: Timestamp,
    ) -> Result<Tokens, ApiError> {
        let secs = u64::try_from(now.millis().div_euclid(1000)).unwrap_or(0);
        let claims = Claims {
            sub: user.view.id.to_string(),
            typ: ACCESS.to_owned(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            exp: secs.saturating_add(self.access_ttl_s),
            nbf: secs,
            iat: secs,
            iat_ms: now.millis(),
        };
        let access = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("cannot sign a token: {e}")))?;
        let refresh = opaque_token("rt_")?;
        let family = match family {
            Some(f) => f.to_owned(),
            None => hex(&random_bytes::<16>().map_err(ApiError::internal)?),
        };
        let ttl_ms = i64::try_from(self.refresh_ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        db::insert_refresh(
            tx,
            &token_hash(&refresh),
            user.view.id,
            &family,
            now,
            Timestamp(now.millis().saturating_add(ttl_ms)),
        )
        .map_err(|e| store_err(&e))?;
        Ok(Tokens {
            access_token: Secret::new(access),
            token_type: "Bearer".to_owned(),
            expires_in: self.access_ttl_s,
            refresh_token: Secret::new(refresh),
            refresh_expires_in: self.refresh_ttl_s,
        })
    }

    /// The user id, issue time (ms) and expiry (s) an access token carries,
    /// if it is one of ours, unexpired and an access token. Needs no store.
    pub fn verify_access(&self, token: &str) -> Result<(u64, i64, u64), ApiError> {
        let invalid = || unauthenticated("the access token is invalid or has expired");
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| invalid())?;
        let c = data.claims;
        if c.typ != ACCESS {
            return Err(invalid());
        }
        let id: u64 = c.sub.parse().map_err(|_| invalid())?;
        Ok((id, c.iat_ms, c.exp))
    }

    /// A user as authentication sees it, from memory when it was read
    /// before (every change of a user goes through [`Auth::forget`]).
    pub fn cached(&self, id: u64) -> Option<Arc<UserRow>> {
        self.users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Reads a user into memory.
    pub fn load(&self, store: &Store, id: u64) -> Result<Option<Arc<UserRow>>, ApiError> {
        use std::sync::atomic::Ordering;
        let before = self.generation.load(Ordering::SeqCst);
        let Some(row) = db::by_id(store.conn(), id).map_err(|e| store_err(&e))? else {
            return Ok(None);
        };
        let row = Arc::new(row);
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        // A change since the read began may not be in this row: use it for
        // this request, keep nothing.
        if self.generation.load(Ordering::SeqCst) == before {
            if users.len() >= 10_000 {
                users.clear();
            }
            users.insert(id, Arc::clone(&row));
        }
        Ok(Some(row))
    }

    /// Drops a changed user from memory (after its change is written); the
    /// next request reads it again.
    pub fn forget(&self, id: u64) {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        users.remove(&id);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// The caller a verified token stands for, checked against the user as
    /// it is now.
    pub fn caller_for(
        user: Option<&UserRow>,
        issued_ms: i64,
        peer: Option<IpAddr>,
    ) -> Result<Caller, ApiError> {
        let invalid = || unauthenticated("the access token is invalid or has expired");
        let user = user.ok_or_else(invalid)?;
        if user.view.disabled || issued_ms < user.tokens_valid_from.millis() {
            return Err(invalid());
        }
        Ok(Caller {
            user: user.view.name.clone(),
            scope: user.view.role.scope(),
            transport: Transport::Http,
            connection: None,
            peer,
        })
    }
}

impl Auth {
    /// A new personal access token (`pat_…`), to store hashed.
    pub fn new_access_token(&self) -> Result<String, ApiError> {
        opaque_token(PAT_PREFIX)
    }

    /// The caller a personal access token stands for: live, unexpired, its
    /// user enabled; the scope the narrower of the token's and the role's.
    pub fn pat_caller(
        &self,
        store: &Store,
        token: &str,
        peer: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<Caller, ApiError> {
        let invalid = || unauthenticated("the access token is invalid, revoked or has expired");
        let pat = db::token_by_hash(store.conn(), &token_hash(token))
            .map_err(|e| store_err(&e))?
            .ok_or_else(invalid)?;
        if pat.view.revoked || pat.view.expires <= now {
            return Err(invalid());
        }
        let user = db::by_id(store.conn(), pat.user_id)
            .map_err(|e| store_err(&e))?
            .ok_or_else(invalid)?;
        if user.view.disabled {
            return Err(invalid());
        }
        Ok(Caller {
            user: user.view.name,
            scope: pat.view.scope.min(user.view.role.scope()),
            transport: Transport::Http,
            connection: None,
            peer,
        })
    }
}

/// 32 random bytes behind `prefix`, URL-safe: a refresh or personal token.
pub(crate) fn opaque_token(prefix: &str) -> Result<String, ApiError> {
    let raw = random_bytes::<32>().map_err(ApiError::internal)?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    ))
}

/// Personal access tokens start so; access tokens (JWTs) never do.
pub const PAT_PREFIX: &str = "pat_";

/// How a refresh token is stored: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_to_phc_strings_and_check_only_with_the_password() {
        let h = Hasher {
            one_at_a_time: Mutex::new(()),
        };
        let phc = h.hash("correct horse battery").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
        assert!(h.verify(&phc, "correct horse battery"));
        assert!(!h.verify(&phc, "correct horse batterz"));
        // Salted: the same password hashes differently.
        assert_ne!(phc, h.hash("correct horse battery").expect("hash"));
        // Damaged or hostile strings never verify (nor allocate beyond the cap).
        assert!(!h.verify(&phc.replace("t=5", "t=4"), "correct horse battery"));
        assert!(!h.verify(
            &phc.replace("m=7168", "m=99999999"),
            "correct horse battery"
        ));
        assert!(!h.verify("$argon2i$v=19$m=8,t=1,p=1$AAAA$AAAA", "x"));
        assert!(!h.verify("", "x"));
    }
}
