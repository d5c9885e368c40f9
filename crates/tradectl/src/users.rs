//! `tradectl user`: the HTTP API's users, managed by the local
//! administrator over the socket. Passwords are read from the terminal
//! without echo (asked twice), or as one line from standard input when it
//! is not a terminal; never from the command line, where other users of the
//! machine could read them.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use tradedesk_core::api::auth::{Role, Secret};
use tradedesk_core::api::paging::Page;
use tradedesk_core::api::users::{
    PasswordReset, RoleChange, UserCreate, UserId, UserView, UsersCreate, UsersDisable,
    UsersEnable, UsersList, UsersResetPassword, UsersSetRole,
};

use crate::format::{Table, ts};
use crate::{Ctx, Failure};

#[derive(Debug, Subcommand)]
pub enum User {
    /// Create a user (asks for its password).
    Add {
        name: String,
        #[arg(long, value_enum, default_value = "trader")]
        role: Role,
    },
    /// List the users.
    List,
    /// Disable a user: its tokens stop working at once.
    Disable { id: u64 },
    /// Enable a disabled user.
    Enable { id: u64 },
    /// Change a user's role (its sessions end).
    Role {
        id: u64,
        #[arg(value_enum)]
        role: Role,
    },
    /// Set a user's password (asks for it; its sessions end).
    Passwd { id: u64 },
}

/// Reads a password: from the terminal without echo (twice when `confirm`);
/// or one line of standard input.
pub fn read_password(prompt: &str, confirm: bool) -> Result<Secret, Failure> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::Usage(format!("cannot read the password: {e}")))?;
        return Ok(Secret::new(line.trim_end_matches(['\n', '\r'])));
    }
    let ask = |text: &str| -> Result<String, Failure> {
        eprint!("{text}");
        let _ = std::io::stderr().flush();
        let fd = std::io::stdin();
        let before = rustix::termios::tcgetattr(&fd)
            .map_err(|e| Failure::Usage(format!("cannot read the terminal: {e}")))?;
        let mut quiet = before.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &quiet);
        let mut line = String::new();
        let read = fd.lock().read_line(&mut line);
        let _ = rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &before);
        eprintln!();
        read.map_err(|e| Failure::Usage(format!("cannot read the password: {e}")))?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    };
    let first = ask(prompt)?;
    if !confirm {
        return Ok(Secret::new(first));
    }
    let again = ask("again: ")?;
    if first != again {
        return Err(Failure::Usage("the two passwords differ".into()));
    }
    Ok(Secret::new(first))
}

fn show(ctx: &Ctx, u: &UserView) {
    ctx.emit(u, || {
        outln!(
            "user {} `{}` — {}{}",
            u.id,
            u.name,
            u.role.as_str(),
            if u.disabled { " (disabled)" } else { "" }
        );
    });
}

pub fn user(ctx: &Ctx, cmd: User) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    match cmd {
        User::Add { name, role } => {
            let password = read_password(&format!("password for {name}: "), true)?;
            let u = c.call::<UsersCreate>(&UserCreate {
                name,
                password,
                role: Some(role),
            })?;
            show(ctx, &u);
        }
        User::List => {
            let users = Page::whole(c.all::<UsersList, _>()?);
            ctx.emit(&users, || {
                let mut t = Table::new(&["id", "name", "role", "disabled", "created"]);
                for u in &users.items {
                    t.row(vec![
                        u.id.to_string(),
                        u.name.clone(),
                        u.role.as_str().to_owned(),
                        if u.disabled { "yes" } else { "" }.to_owned(),
                        ts(u.created),
                    ]);
                }
                out!("{t}");
            });
        }
        User::Disable { id } => show(ctx, &c.call::<UsersDisable>(&UserId { id })?),
        User::Enable { id } => show(ctx, &c.call::<UsersEnable>(&UserId { id })?),
        User::Role { id, role } => show(ctx, &c.call::<UsersSetRole>(&RoleChange { id, role })?),
        User::Passwd { id } => {
            let password = read_password(&format!("new password for user {id}: "), true)?;
            show(
                ctx,
                &c.call::<UsersResetPassword>(&PasswordReset { id, password })?,
            );
        }
    }
    Ok(())
}
