//! Everything the binaries print for their reader goes through here, so a
//! reader that goes away (`market watch --json | head -3`) ends the
//! command quietly, as it ends any Unix tool.
//!
//! Rust ignores SIGPIPE, so a write to a pipe whose reader has gone fails
//! with `BrokenPipe` instead of killing the process, and `println!` panics
//! on it. Restoring the signal's default needs `unsafe`, which the
//! workspace forbids; instead [`write_fmt`] (through [`out!`] and
//! [`outln!`]) reports it as [`OutputError::ReaderGone`], which a
//! command passes up with `?` and its binary's `main` turns into exit
//! status [`READER_GONE`] without a word. Any other failure to write (a
//! full disk behind `> file`) is [`OutputError::Failed`], for the person.

use std::fmt;
use std::io::{self, Write};

/// The exit status of a command whose reader went away: 128 + SIGPIPE,
/// what a shell reports for a writer the signal killed, so a script under
/// `set -o pipefail` sees what it sees from any other tool.
pub const READER_GONE: u8 = 141;

/// Why what a command printed did not reach stdout.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader closed its end of the pipe: nobody wants the rest.
    #[error("the reader of stdout has gone")]
    ReaderGone,
    /// stdout refused the text for another reason.
    #[error("cannot write to stdout: {0}")]
    Failed(#[source] io::Error),
}

impl From<io::Error> for OutputError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            OutputError::ReaderGone
        } else {
            OutputError::Failed(error)
        }
    }
}

/// The exit status of a command that printed through here: its own, 141
/// without a word when the reader went away, 1 saying so when stdout
/// failed otherwise. `program` names the binary in that message.
pub fn exit_code(
    program: &str,
    printed: Result<std::process::ExitCode, OutputError>,
) -> std::process::ExitCode {
    match printed {
        Ok(code) => code,
        // Nobody reads any more (`| head` has what it wanted): nothing
        // went wrong that a person must hear about.
        Err(OutputError::ReaderGone) => {
            tracing::debug!("stdout's reader has gone; stopping");
            std::process::ExitCode::from(READER_GONE)
        }
        Err(e @ OutputError::Failed(_)) => {
            eprintln!("{program}: {e}; what it printed is incomplete");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Writes `text` on stdout and flushes it, so a reader that has gone is
/// noticed at this write rather than lost at exit. Use [`out!`] and
/// [`outln!`] rather than calling it.
pub fn write_fmt(text: fmt::Arguments<'_>) -> Result<(), OutputError> {
    write_to(&mut io::stdout().lock(), text)
}

/// [`write_fmt`] to any writer: what the tests can drive.
fn write_to(out: &mut impl Write, text: fmt::Arguments<'_>) -> Result<(), OutputError> {
    out.write_fmt(text)?;
    out.flush()?;
    Ok(())
}

/// `print!` that returns `Result<(), OutputError>` instead of panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_fmt(format_args!($($arg)*))
    };
}

/// `println!` that returns `Result<(), OutputError>` instead of panicking.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_whose_reader_has_gone_is_reader_gone() {
        let (reader, mut writer) = io::pipe().unwrap();
        drop(reader);
        let result = write_to(&mut writer, format_args!("line\n"));
        assert!(matches!(result, Err(OutputError::ReaderGone)), "{result:?}");
    }

    #[test]
    fn a_full_disk_is_a_failure_with_its_reason() {
        let mut full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let result = write_to(&mut full, format_args!("line\n"));
        let Err(error @ OutputError::Failed(_)) = result else {
            panic!("{result:?}");
        };
        assert!(error.to_string().contains("No space left"), "{error}");
    }

    #[test]
    fn a_reader_gets_the_text() {
        let (mut reader, mut writer) = io::pipe().unwrap();
        write_to(&mut writer, format_args!("{} {}\n", "one", 2)).unwrap();
        drop(writer);
        let mut text = String::new();
        io::Read::read_to_string(&mut reader, &mut text).unwrap();
        assert_eq!(text, "one 2\n");
    }
}
