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

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let message = self.message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>kpiscope: {code}</title></head>\
             <body><h1>{code}</h1><p class=\"error\">{message}</p><p><a href=\"/\">Back to the overview</a></p></body></html>",
            code = self.status
        );
        (self.status, Html(body)).into_response()
    }
}
