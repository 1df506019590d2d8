//! Errors a request can end in, and the page each one shows.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// A failed request: the status and a message for the user.
#[derive(Debug)]
pub struct AppError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, in words the user can act on.
    pub message: String,
}

impl AppError {
    /// A parameter the user can fix (400).
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// Nothing here (404).
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    /// The database cannot be read right now (503).
    pub fn unavailable(message: impl Into<String>) -> AppError {
        AppError { status: StatusCode::SERVICE_UNAVAILABLE, message: message.into() }
    }

    /// A fault of ours (500); the detail goes to the log.
    pub fn internal(error: impl std::fmt::Display) -> AppError {
        eprintln!("kpiscope serve: internal error: {error}");
        AppError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "internal error (see the server log)".into() }
    }
}

impl From<duckdb::Error> for AppError {
    fn from(error: duckdb::Error) -> AppError {
        AppError::internal(error)
    }
}

/// The error page, inside the site's layout (navigation included), escaped by minijinja.
fn page(status: StatusCode, message: &str) -> Option<String> {
    static TEMPLATES: std::sync::OnceLock<Option<minijinja::Environment<'static>>> = std::sync::OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        env.add_template("base.html", include_str!("../templates/base.html")).ok()?;
        env.add_template("error.html", include_str!("../templates/error.html")).ok()?;
        Some(env)
    });
    let template = templates.as_ref()?.get_template("error.html").ok()?;
    template
        .render(minijinja::context! {
            status => status.to_string(),
            message => message,
            tabs => crate::TABS,
            page => minijinja::context! { tab => "" },
        })
        .ok()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = page(self.status, &self.message).unwrap_or_else(|| {
            // The templates are compiled into the binary; this plain page is only a fallback.
            let message = self.message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            format!(
                "<!doctype html><title>kpiscope: {}</title><h1>{}</h1><p class=\"error\">{message}</p>",
                self.status, self.status
            )
        });
        (self.status, Html(body)).into_response()
    }
}
