//! Standard output for every command. A reader that goes away (`tradectl
//! … | head`) is the reader's choice, not an error: a write that meets a
//! closed pipe ends the process quietly with the status a shell reports
//! for SIGPIPE, as Unix tools do. Any other write error is reported.

use std::fmt;
use std::io::{self, Write};

/// Exit status when the reader of our output went away: 128 + SIGPIPE.
pub const BROKEN_PIPE_EXIT: i32 = 141;
/// Exit status when standard output cannot be written (sysexits' EX_IOERR).
const IO_ERROR_EXIT: i32 = 74;

/// Writes `args` (and a newline when `newline`) to standard output.
pub fn write(args: fmt::Arguments<'_>, newline: bool) {
    let mut out = io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    if let Err(e) = written {
        exit_on(&e);
    }
}

fn exit_on(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(BROKEN_PIPE_EXIT);
    }
    eprintln!("error: cannot write the output: {e}");
    std::process::exit(IO_ERROR_EXIT);
}

/// `print!` that ends quietly on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*), false)
    };
}

/// `println!` that ends quietly on a closed pipe.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*), true)
    };
}
