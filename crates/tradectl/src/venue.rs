//! `tradectl venue keys`: a venue's API key and secret in the secret
//! store (the system keyring, or the encrypted file on a headless machine),
//! where the daemon reads them. Both are read from a prompt without echo,
//! never from the command line; `show` shows the key's last 4 characters
//! only, and never the secret.

use std::io::IsTerminal as _;

use clap::Subcommand;
use tradedesk_core::secrets::{self, SecretStore};

use crate::users::read_password;
use crate::{Ctx, Failure};

#[derive(Subcommand, Debug)]
pub enum Venue {
    /// A venue's API keys (default venue: binance).
    Keys {
        /// Keep them in the encrypted file protected by a passphrase (asked
        /// for; the daemon then reads it from TRADEDESK_SECRETS_PASSPHRASE
        /// or the systemd credential tradedesk-secrets-passphrase).
        #[arg(long, global = true)]
        passphrase: bool,
        #[command(subcommand)]
        cmd: Keys,
    },
}

#[derive(Subcommand, Debug)]
pub enum Keys {
    /// Store the API key and secret (asked for without echo; on a pipe, two
    /// lines: the key, then the secret).
    Set {
        #[arg(default_value = "binance")]
        name: String,
    },
    /// Show which key is stored: its last 4 characters.
    Show {
        #[arg(default_value = "binance")]
        name: String,
    },
    /// Forget the key and secret.
    Delete {
        #[arg(default_value = "binance")]
        name: String,
    },
}

fn store(passphrase: bool, confirm: bool) -> Result<Box<dyn SecretStore>, Failure> {
    let err = |e: secrets::SecretError| Failure::Usage(format!("the secret store: {e}"));
    if !passphrase {
        return secrets::open_default().map_err(err);
    }
    let file = secrets::AgeFile::at_default_paths().map_err(err)?;
    let p = match secrets::passphrase_from_env() {
        Some(p) => p,
        None => read_password("passphrase for the secrets file: ", confirm)?
            .expose()
            .to_owned()
            .into(),
    };
    Ok(Box::new(file.with_passphrase(p)))
}

fn check_name(name: &str) -> Result<(), Failure> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Failure::Usage(format!(
            "`{name}` is not a venue key name (letters, digits, - and _)"
        )));
    }
    Ok(())
}

/// The last 4 characters of a key, the rest hidden.
pub fn masked(key: &str) -> String {
    let n = key.chars().count();
    let tail: String = key.chars().skip(n.saturating_sub(4)).collect();
    format!("…{tail}")
}

#[derive(serde::Serialize)]
struct Shown {
    name: String,
    key: Option<String>,
    secret_set: bool,
    store: String,
}

pub fn venue(ctx: &Ctx, cmd: Venue) -> Result<(), Failure> {
    let Venue::Keys { passphrase, cmd } = cmd;
    match cmd {
        Keys::Set { name } => {
            check_name(&name)?;
            let store = store(passphrase, true)?;
            let (key_entry, secret_entry) = secrets::venue_keys(&name);
            if std::io::stdin().is_terminal() {
                eprintln!(
                    "the keys are read without echo and stored in {}",
                    store.describe()
                );
            }
            let key = read_password(&format!("{name} API key: "), false)?;
            let secret = read_password(&format!("{name} API secret: "), false)?;
            for (what, v) in [("API key", key.expose()), ("API secret", secret.expose())] {
                if v.trim().is_empty() || v.contains(char::is_whitespace) {
                    return Err(Failure::Usage(format!("the {what} is empty or has spaces")));
                }
            }
            let save = |entry: &str, v: &str| {
                store
                    .set(entry, v)
                    .map_err(|e| Failure::Usage(format!("the secret store: {e}")))
            };
            save(&key_entry, key.expose())?;
            save(&secret_entry, secret.expose())?;
            ctx.emit(
                &serde_json::json!({ "name": name, "key": masked(key.expose()) }),
                || {
                    outln!(
                        "stored {name}'s key {} and its secret in {}",
                        masked(key.expose()),
                        store.describe()
                    );
                },
            );
        }
        Keys::Show { name } => {
            check_name(&name)?;
            let store = store(passphrase, false)?;
            let (key_entry, secret_entry) = secrets::venue_keys(&name);
            let err = |e: secrets::SecretError| Failure::Usage(format!("the secret store: {e}"));
            let shown = Shown {
                key: store.get(&key_entry).map_err(err)?.map(|k| masked(&k)),
                secret_set: store.get(&secret_entry).map_err(err)?.is_some(),
                store: store.describe(),
                name,
            };
            ctx.emit(&shown, || match &shown.key {
                Some(k) => outln!(
                    "{}: key {k}, secret {} ({})",
                    shown.name,
                    if shown.secret_set { "set" } else { "missing" },
                    shown.store
                ),
                None => outln!("{}: no key in {}", shown.name, shown.store),
            });
        }
        Keys::Delete { name } => {
            check_name(&name)?;
            let store = store(passphrase, false)?;
            let (key_entry, secret_entry) = secrets::venue_keys(&name);
            let err = |e: secrets::SecretError| Failure::Usage(format!("the secret store: {e}"));
            let gone = store.delete(&key_entry).map_err(err)?
                | store.delete(&secret_entry).map_err(err)?;
            ctx.emit(
                &serde_json::json!({ "name": name, "deleted": gone }),
                || {
                    outln!(
                        "{}",
                        if gone {
                            format!("forgot {name}'s keys")
                        } else {
                            format!("{name} had no keys")
                        }
                    );
                },
            );
        }
    }
    Ok(())
}
