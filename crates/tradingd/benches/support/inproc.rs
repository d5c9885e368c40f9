//! A daemon in the bench's own process, on a manual clock that starts on a
//! whole hour, with its market moving only when the bench says so.
#![allow(dead_code)] // each bench uses part of it

use std::path::PathBuf;
use std::sync::Arc;

use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tradedesk_core::time::Timestamp;
use tradingd::config::Config;
use tradingd::context::Ctx;
use tradingd::{Daemon, Options};

pub struct InProc {
    pub ctx: Arc<Ctx>,
    pub socket: PathBuf,
    /// The manual clock's start.
    pub start: Timestamp,
    token: CancellationToken,
    done: tokio::task::JoinHandle<Result<(), tradingd::store::StoreError>>,
    rt: tokio::runtime::Runtime,
    _dir: TempDir,
}

impl InProc {
    pub fn start(tweak: impl FnOnce(&mut Config)) -> InProc {
        InProc::start_with(tweak, Options::default())
    }

    /// As `start`, with the daemon's options (the clock is always manual).
    pub fn start_with(tweak: impl FnOnce(&mut Config), options: Options) -> InProc {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::for_dir(dir.path());
        config.sim.spec.tick_ms = 60_000;
        tweak(&mut config);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let start =
            Timestamp(chrono::Utc::now().timestamp_millis().div_euclid(3_600_000) * 3_600_000);
        let daemon = rt
            .block_on(Daemon::start_with(
                config,
                Options {
                    manual_clock: Some(start),
                    ..options
                },
            ))
            .expect("daemon");
        let ctx = Arc::clone(daemon.ctx());
        let socket = daemon.socket_path().to_path_buf();
        let token = daemon.shutdown_token();
        let done = rt.spawn(daemon.run());
        InProc {
            ctx,
            socket,
            start,
            token,
            done,
            rt,
            _dir: dir,
        }
    }

    pub fn stop(self) {
        self.token.cancel();
        let _ = self.rt.block_on(self.done);
    }
}
