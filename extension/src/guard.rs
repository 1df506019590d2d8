//! Turns panics into errors at the FFI boundary.
//!
//! duckdb-rs also catches panics, but reports them as "Rust callback panicked" after the
//! default hook has printed a backtrace into the user's terminal. We catch them first and
//! say what to do instead.

use std::error::Error;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Error type every callback returns.
pub type CallResult<T> = Result<T, Box<dyn Error>>;

/// A user-facing error: `kpiscope: <message>`.
pub fn fail(message: impl std::fmt::Display) -> Box<dyn Error> {
    format!("kpiscope: {message}").into()
}

/// Runs `body`, converting a panic into an error that names the function.
pub fn guarded<T>(function: &str, body: impl FnOnce() -> CallResult<T>) -> CallResult<T> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(fail(format!(
                "internal error in {function}: {detail}. Your session is unharmed; please report this with the query"
            )))
        }
    }
}

/// Silences the default panic hook of this library's Rust runtime (it has its own, separate
/// from any other Rust code in the process): every panic is caught by [`guarded`] and
/// reported as a DuckDB error, so printing a backtrace would only clutter the user's shell.
pub fn install_quiet_panic_hook() {
    std::panic::set_hook(Box::new(|_| {}));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_naming_the_function() {
        install_quiet_panic_hook();
        let result: CallResult<()> = guarded("detect_anomalies", || panic!("index out of bounds"));
        let message = result.unwrap_err().to_string();
        assert!(message.starts_with("kpiscope: internal error in detect_anomalies: index out of bounds"), "{message}");
    }

    #[test]
    fn errors_and_values_pass_through() {
        assert_eq!(guarded("f", || Ok(7)).unwrap(), 7);
        let err = guarded::<()>("f", || Err(fail("days must be positive"))).unwrap_err();
        assert_eq!(err.to_string(), "kpiscope: days must be positive");
    }
}
