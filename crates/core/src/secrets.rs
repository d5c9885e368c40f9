//! Where secrets live on a user's machine: refresh tokens of remote
//! daemons (and, later, exchange API keys).
//!
//! The system keyring (the Secret Service, through `keyring-core`) when
//! one answers; otherwise an age-encrypted file. Never plain text: the
//! file's key is an age X25519 identity kept apart from it (in the config
//! directory, the secrets in the data directory, both `0600`), so a copy of
//! the data directory or a backup of it does not give the secrets away.
//! Neither store protects a secret from other processes of the same user
//! (an unlocked keyring does not either).
//!
//! `TRADEDESK_SECRET_STORE=keyring|file` picks one (default: the keyring
//! if it answers, else the file); `TRADEDESK_SECRETS_DIR` puts both files
//! of the file store in one directory instead. With a passphrase
//! (`TRADEDESK_SECRETS_PASSPHRASE`, or the systemd credential
//! `tradedesk-secrets-passphrase`) the file is sealed with it (scrypt)
//! and no key file is used.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;

/// The keyring service name entries are stored under.
pub const SERVICE: &str = "tradedesk";
pub const STORE_ENV: &str = "TRADEDESK_SECRET_STORE";
pub const DIR_ENV: &str = "TRADEDESK_SECRETS_DIR";
/// A passphrase for the file store (instead of its key file).
pub const PASSPHRASE_ENV: &str = "TRADEDESK_SECRETS_PASSPHRASE";
/// The same as a systemd credential (`LoadCredential=` /
/// `SetCredentialEncrypted=`), read from `$CREDENTIALS_DIRECTORY`.
pub const PASSPHRASE_CREDENTIAL: &str = "tradedesk-secrets-passphrase";
/// scrypt's work factor (log2 N) for a passphrase-protected file.
const SCRYPT_LOG_N: u8 = 16;
const SECRETS_FILE: &str = "secrets.age";
const KEY_FILE: &str = "secrets.key";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the keyring: {0}")]
    Keyring(String),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{STORE_ENV} must be `keyring` or `file`, not `{0}`")]
    BadChoice(String),
    #[error(transparent)]
    Paths(#[from] crate::paths::PathError),
}

fn file_err(path: &Path, message: impl std::fmt::Display) -> SecretError {
    SecretError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The entries holding a venue's API key and secret (`tradectl venue keys
/// set NAME` writes them, the daemon reads them).
pub fn venue_keys(name: &str) -> (String, String) {
    (format!("{name}.api_key"), format!("{name}.api_secret"))
}

/// A place to keep named secrets.
pub trait SecretStore: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<String>, SecretError>;
    fn set(&self, key: &str, value: &str) -> Result<(), SecretError>;
    /// True when there was something to delete.
    fn delete(&self, key: &str) -> Result<bool, SecretError>;
    /// Where the secrets are, for messages and `tradectl doctor`.
    fn describe(&self) -> String;
}

/// The store this user's secrets go to (see the module's documentation).
pub fn open_default() -> Result<Box<dyn SecretStore>, SecretError> {
    let choice = std::env::var(STORE_ENV).unwrap_or_default();
    match choice.as_str() {
        "keyring" => Ok(Box::new(Keyring::open()?)),
        "file" => Ok(Box::new(AgeFile::default_location()?)),
        "" => match Keyring::open() {
            Ok(k) => Ok(Box::new(k)),
            Err(_) => Ok(Box::new(AgeFile::default_location()?)),
        },
        other => Err(SecretError::BadChoice(other.to_owned())),
    }
}

/// The Secret Service (GNOME Keyring, KWallet…) over D-Bus.
pub struct Keyring {
    store: Arc<keyring_core::CredentialStore>,
}

impl Keyring {
    /// The Secret Service, if one answers on the session bus.
    pub fn open() -> Result<Keyring, SecretError> {
        let store: Arc<keyring_core::CredentialStore> =
            zbus_secret_service_keyring_store::Store::new()
                .map_err(|e| SecretError::Keyring(e.to_string()))?;
        let k = Keyring { store };
        // A store that cannot be searched (no bus, locked) is no store.
        k.get("probe")?;
        Ok(k)
    }

    fn entry(&self, key: &str) -> Result<keyring_core::Entry, SecretError> {
        keyring_core::Entry::new_in_store(&self.store, SERVICE, key)
            .map_err(|e| SecretError::Keyring(e.to_string()))
    }
}

impl SecretStore for Keyring {
    fn get(&self, key: &str) -> Result<Option<String>, SecretError> {
        match self.entry(key)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(SecretError::Keyring(e.to_string())),
        }
    }

    fn set(&self, key: &str, value: &str) -> Result<(), SecretError> {
        self.entry(key)?
            .set_password(value)
            .map_err(|e| SecretError::Keyring(e.to_string()))
    }

    fn delete(&self, key: &str) -> Result<bool, SecretError> {
        match self.entry(key)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(SecretError::Keyring(e.to_string())),
        }
    }

    fn describe(&self) -> String {
        format!("the system keyring (Secret Service, service `{SERVICE}`)")
    }
}

/// Secrets as one age-encrypted JSON map: to an identity kept in another
/// file, or with a passphrase (scrypt) given by an environment variable,
/// a systemd credential or a prompt. Every change rewrites the file whole
/// (a new file renamed over the old), so a crash leaves the old secrets or
/// the new ones.
pub struct AgeFile {
    secrets: PathBuf,
    key: PathBuf,
    passphrase: Option<age::secrecy::SecretString>,
}

/// The file store's passphrase from `TRADEDESK_SECRETS_PASSPHRASE` or the
/// systemd credential `tradedesk-secrets-passphrase`, when either is set.
pub fn passphrase_from_env() -> Option<age::secrecy::SecretString> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV)
        && !p.is_empty()
    {
        return Some(p.into());
    }
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
    let text = std::fs::read_to_string(Path::new(&dir).join(PASSPHRASE_CREDENTIAL)).ok()?;
    let text = text.trim_end_matches(['\n', '\r']);
    (!text.is_empty()).then(|| text.to_owned().into())
}

impl AgeFile {
    pub fn new(secrets: PathBuf, key: PathBuf) -> AgeFile {
        AgeFile {
            secrets,
            key,
            passphrase: None,
        }
    }

    /// The same file protected by a passphrase instead of the key file.
    #[must_use]
    pub fn with_passphrase(mut self, passphrase: age::secrecy::SecretString) -> AgeFile {
        self.passphrase = Some(passphrase);
        self
    }

    /// `TRADEDESK_SECRETS_DIR`, else the data dir (secrets) and the config
    /// dir (key).
    pub fn default_location() -> Result<AgeFile, SecretError> {
        let file = Self::at_default_paths()?;
        Ok(match passphrase_from_env() {
            Some(p) => file.with_passphrase(p),
            None => file,
        })
    }

    /// The default files (see [`Self::default_location`]), protected by
    /// their key file until [`Self::with_passphrase`].
    pub fn at_default_paths() -> Result<AgeFile, SecretError> {
        if let Some(dir) = std::env::var_os(DIR_ENV) {
            let dir = PathBuf::from(dir);
            return Ok(AgeFile::new(dir.join(SECRETS_FILE), dir.join(KEY_FILE)));
        }
        let data = crate::paths::default_data_dir()?;
        let config = crate::paths::default_config_file()?;
        let config_dir = config
            .parent()
            .map_or_else(|| data.clone(), Path::to_path_buf);
        Ok(AgeFile::new(
            data.join(SECRETS_FILE),
            config_dir.join(KEY_FILE),
        ))
    }

    /// The identity, made on first use.
    fn identity(&self, create: bool) -> Result<Option<age::x25519::Identity>, SecretError> {
        match std::fs::read_to_string(&self.key) {
            Ok(text) => age::x25519::Identity::from_str(text.trim())
                .map(Some)
                .map_err(|e| file_err(&self.key, format!("not an age identity: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let id = age::x25519::Identity::generate();
                let text = {
                    use age::secrecy::ExposeSecret as _;
                    id.to_string().expose_secret().to_owned()
                };
                write_private(&self.key, text.as_bytes())?;
                Ok(Some(id))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(file_err(&self.key, e)),
        }
    }

    fn load(&self) -> Result<BTreeMap<String, String>, SecretError> {
        let bytes = match std::fs::read(&self.secrets) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(file_err(&self.secrets, e)),
        };
        if let Some(p) = &self.passphrase {
            let mut id = age::scrypt::Identity::new(p.clone());
            id.set_max_work_factor(SCRYPT_LOG_N.saturating_add(4));
            let plain = age::decrypt(&id, &bytes).map_err(|e| {
                file_err(
                    &self.secrets,
                    format!("cannot decrypt with the passphrase given: {e}"),
                )
            })?;
            return serde_json::from_slice(&plain).map_err(|e| file_err(&self.secrets, e));
        }
        let Some(id) = self.identity(false)? else {
            return Err(file_err(
                &self.key,
                format!(
                    "missing: without it {} cannot be read (if it is protected by a \
                     passphrase instead, give it in {PASSPHRASE_ENV} or the systemd \
                     credential {PASSPHRASE_CREDENTIAL})",
                    self.secrets.display()
                ),
            ));
        };
        let plain = age::decrypt(&id, &bytes).map_err(|e| {
            file_err(
                &self.secrets,
                format!(
                    "cannot decrypt: {e} (a file protected by a passphrase needs it in \
                     {PASSPHRASE_ENV} or the systemd credential {PASSPHRASE_CREDENTIAL})"
                ),
            )
        })?;
        serde_json::from_slice(&plain).map_err(|e| file_err(&self.secrets, e))
    }

    fn save(&self, map: &BTreeMap<String, String>) -> Result<(), SecretError> {
        if let Some(p) = &self.passphrase {
            let plain = serde_json::to_vec(map).map_err(|e| file_err(&self.secrets, e))?;
            let mut to = age::scrypt::Recipient::new(p.clone());
            to.set_work_factor(SCRYPT_LOG_N);
            let sealed = age::encrypt(&to, &plain)
                .map_err(|e| file_err(&self.secrets, format!("cannot encrypt: {e}")))?;
            return write_private(&self.secrets, &sealed);
        }
        let id = self
            .identity(true)?
            .ok_or_else(|| file_err(&self.key, "cannot be created"))?;
        let plain = serde_json::to_vec(map).map_err(|e| file_err(&self.secrets, e))?;
        let sealed = age::encrypt(&id.to_public(), &plain)
            .map_err(|e| file_err(&self.secrets, format!("cannot encrypt: {e}")))?;
        write_private(&self.secrets, &sealed)
    }
}

impl SecretStore for AgeFile {
    fn get(&self, key: &str) -> Result<Option<String>, SecretError> {
        Ok(self.load()?.remove(key))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), SecretError> {
        let mut map = self.load()?;
        map.insert(key.to_owned(), value.to_owned());
        self.save(&map)
    }

    fn delete(&self, key: &str) -> Result<bool, SecretError> {
        let mut map = self.load()?;
        let had = map.remove(key).is_some();
        if had {
            self.save(&map)?;
        }
        Ok(had)
    }

    fn describe(&self) -> String {
        if self.passphrase.is_some() {
            return format!(
                "{} (age-encrypted with a passphrase)",
                self.secrets.display()
            );
        }
        format!(
            "{} (age-encrypted to the key in {})",
            self.secrets.display(),
            self.key.display()
        )
    }
}

/// Writes a file readable by its owner only: a new file beside it, synced,
/// renamed over the old one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SecretError> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| file_err(dir, e))?;
    }
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| file_err(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| file_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_protects_the_file_without_a_key_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("data/s.age");
        let key = dir.path().join("cfg/s.key");
        let store = AgeFile::new(path.clone(), key.clone())
            .with_passphrase("correct horse".to_owned().into());
        store.set("binance.api_secret", "canary-7f3a").expect("set");
        assert!(!key.exists(), "no key file with a passphrase");
        assert!(store.describe().contains("passphrase"));
        let sealed = std::fs::read(&path).expect("file");
        assert!(!sealed.windows(11).any(|w| w == b"canary-7f3a"));
        let again = AgeFile::new(path.clone(), key.clone())
            .with_passphrase("correct horse".to_owned().into());
        assert_eq!(
            again.get("binance.api_secret").expect("get").as_deref(),
            Some("canary-7f3a")
        );
        // The wrong passphrase, or none, reads nothing and says why.
        let wrong =
            AgeFile::new(path.clone(), key.clone()).with_passphrase("wrong".to_owned().into());
        assert!(
            wrong
                .get("binance.api_secret")
                .unwrap_err()
                .to_string()
                .contains("passphrase")
        );
        let none = AgeFile::new(path, key);
        let err = none.get("binance.api_secret").unwrap_err().to_string();
        assert!(err.contains(PASSPHRASE_ENV), "{err}");
    }

    #[test]
    fn the_file_store_keeps_secrets_encrypted_and_private() {
        let dir = tempfile::tempdir().expect("dir");
        let store = AgeFile::new(dir.path().join("data/s.age"), dir.path().join("cfg/s.key"));
        assert_eq!(store.get("a").expect("get"), None);
        assert!(!store.delete("a").expect("delete"));
        store.set("a", "refresh-token-1").expect("set");
        store.set("b", "two").expect("set");
        assert_eq!(
            store.get("a").expect("get").as_deref(),
            Some("refresh-token-1")
        );
        // Not in plain text, and only the owner may read either file.
        let sealed = std::fs::read(dir.path().join("data/s.age")).expect("file");
        assert!(!sealed.windows(15).any(|w| w == b"refresh-token-1"));
        for f in ["data/s.age", "cfg/s.key"] {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(f))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} is {mode:o}");
        }
        assert!(store.delete("a").expect("delete"));
        assert_eq!(store.get("a").expect("get"), None);
        assert_eq!(store.get("b").expect("get").as_deref(), Some("two"));
        // Without its key the file is unreadable, and says why.
        std::fs::remove_file(dir.path().join("cfg/s.key")).expect("rm");
        let e = store.get("b").expect_err("no key");
        assert!(e.to_string().contains("missing"), "{e}");
        // Another key cannot read it either.
        let other = AgeFile::new(dir.path().join("data/s.age"), dir.path().join("cfg/o.key"));
        AgeFile::new(dir.path().join("x.age"), dir.path().join("cfg/o.key"))
            .set("x", "y")
            .expect("make a key");
        assert!(other.get("b").is_err());
    }
}
