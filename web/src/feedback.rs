//! Confirm / dismiss: the one thing the viewer writes, and only to the feedback store beside
//! the database (`kpiscope_db::feedback`), never to the database itself.
//!
//! Who may write: anyone who can load the page when the viewer listens on loopback; beyond
//! loopback only with the shared secret (`KPISCOPE_VIEWER_SECRET`), typed into the form, and
//! without one feedback is off. Every form carries a token drawn at start-up, so another site
//! cannot post on a visitor's behalf (it cannot read the token); a cross-site `Origin` or
//! `Sec-Fetch-Site` is refused as well. A post names an incident of the current generation
//! and a verdict from a fixed list; the note is cleaned and cut, so nothing else can be written.

use crate::error::AppError;
use axum::http::{HeaderMap, StatusCode};
use kpiscope_db::feedback::{self, clean_note, Record, Verdict};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Who may give feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone who can load the page (the viewer listens on loopback only).
    Open,
    /// Whoever types this secret into the form.
    Secret(String),
    /// Nobody; the reason is shown instead of the forms.
    Off(String),
}

impl Access {
    /// The rule for a viewer listening on an address: open on loopback, else the secret if
    /// one is given, else off.
    pub fn for_listener(loopback: bool, secret: Option<String>) -> Access {
        match (loopback, secret.filter(|s| !s.is_empty())) {
            (_, Some(secret)) => Access::Secret(secret),
            (true, None) => Access::Open,
            (false, None) => Access::Off(
                "Feedback is off: the viewer listens beyond loopback; set KPISCOPE_VIEWER_SECRET to allow it.".into(),
            ),
        }
    }
}

/// The feedback side of the viewer: the store, the alert log shown beside it, the rule.
pub struct Desk {
    store: PathBuf,
    log: PathBuf,
    access: Access,
    token: String,
    /// Appends of this process, one at a time (records must not interleave).
    writing: Mutex<()>,
}

/// What an incident row's form needs.
#[derive(Debug, Clone, Serialize)]
pub struct Form {
    /// KPI key.
    pub kpi: String,
    /// First time step, as the database prints it.
    pub start: String,
    /// `up` or `down`.
    pub direction: String,
    /// The anti-forgery token.
    pub token: String,
    /// Whether the form asks for the viewer secret.
    pub secret: bool,
    /// The current verdict, if any (then the form offers to clear it).
    pub verdict: Option<String>,
}

/// A submitted form.
#[derive(Debug, Deserialize)]
pub struct Submission {
    kpi: String,
    start: String,
    direction: String,
    verdict: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    secret: String,
}

impl Desk {
    /// The desk of database `db`, feedback off until [`Desk::allow`].
    pub fn new(db: &Path) -> Desk {
        let mut bytes = [0u8; 16];
        // Without the OS's randomness no token is safe, so feedback stays off.
        let (token, access) = match getrandom::fill(&mut bytes) {
            Ok(()) => (bytes.iter().map(|b| format!("{b:02x}")).collect(), Access::Off("Feedback is off.".into())),
            Err(e) => (String::new(), Access::Off(format!("Feedback is off: no randomness for its token ({e})."))),
        };
        Desk { store: feedback::path(db), log: kpiscope_alerts::log_path(db), access, token, writing: Mutex::new(()) }
    }

    /// Sets who may give feedback (kept off when no token could be drawn).
    pub fn allow(&mut self, access: Access) {
        if !self.token.is_empty() {
            self.access = access;
        }
    }

    /// Why feedback is off, if it is.
    pub fn off(&self) -> Option<&str> {
        match &self.access {
            Access::Off(why) => Some(why),
            _ => None,
        }
    }

    /// The form of one incident, or none when feedback is off.
    pub fn form(&self, kpi: &str, start: &str, direction: &str, verdict: Option<&str>) -> Option<Form> {
        self.writer().map(|(token, secret)| Form {
            kpi: kpi.into(),
            start: start.into(),
            direction: direction.into(),
            token,
            secret,
            verdict: verdict.map(str::to_string),
        })
    }

    /// The verdicts given so far (read on every page: they change without a refresh).
    pub fn verdicts(&self) -> feedback::Feedback {
        feedback::read(&self.store).unwrap_or_else(|e| {
            eprintln!("kpiscope serve: {e}");
            feedback::Feedback::default()
        })
    }

    /// What the alert log says was sent, or why it cannot be read right now.
    pub fn sent(&self) -> Result<Vec<kpiscope_alerts::Sent>, String> {
        kpiscope_alerts::sent(&self.log).map_err(|_| "the alert log is being written; reload to see it".to_string())
    }

    /// The token and whether a secret is asked, for a form that writes (feedback, a report).
    pub fn writer(&self) -> Option<(String, bool)> {
        self.off().is_none().then(|| (self.token.clone(), matches!(self.access, Access::Secret(_))))
    }

    /// Checks a form's origin, token and secret: the request may write. Feedback and report
    /// generation share the rule (loopback, or the secret beyond it).
    pub fn admit(&self, headers: &HeaderMap, token: &str, given_secret: &str) -> Result<(), AppError> {
        let forbidden = |message: &str| AppError { status: StatusCode::FORBIDDEN, message: message.into() };
        if let Some(why) = self.off() {
            return Err(forbidden(why));
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let host = header("host").unwrap_or_default();
        let foreign_origin =
            header("origin").is_some_and(|o| o != "null" && o.split_once("://").map(|(_, rest)| rest) != Some(host));
        if foreign_origin || header("sec-fetch-site") == Some("cross-site") {
            return Err(forbidden("forms are accepted only from the viewer's own pages"));
        }
        if !same(token, &self.token) {
            return Err(forbidden("the form is out of date (the viewer restarted): reload the page and try again"));
        }
        if let Access::Secret(secret) = &self.access {
            if !same(given_secret, secret) {
                return Err(forbidden("wrong viewer secret"));
            }
        }
        Ok(())
    }

    /// Records a verdict on an incident whose last time step is `end` (the caller found it).
    pub fn record(&self, form: &Submission, end: String) -> Result<Record, AppError> {
        let verdict = Verdict::parse(&form.verdict).ok_or_else(|| {
            AppError::bad_request(format!("unknown verdict {:?}: confirmed, dismissed or cleared", form.verdict))
        })?;
        let record = Record {
            at: chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
            kpi: form.kpi.clone(),
            start: form.start.clone(),
            end,
            direction: form.direction.clone(),
            verdict,
            note: clean_note(&form.note),
        };
        let _one_at_a_time = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        feedback::append(&self.store, &record).map_err(AppError::internal)?;
        Ok(record)
    }
}

impl Submission {
    /// Its token and secret, for [`Desk::admit`].
    pub fn credentials(&self) -> (&str, &str) {
        (&self.token, &self.secret)
    }

    /// The incident it names: KPI, first time step, direction.
    pub fn incident(&self) -> (&str, &str, &str) {
        (&self.kpi, &self.start, &self.direction)
    }
}

/// Compares without stopping at the first difference, so the time taken does not tell an
/// attacker how much of a guess was right.
fn same(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_is_open_on_loopback_and_needs_the_secret_beyond_it() {
        assert_eq!(Access::for_listener(true, None), Access::Open);
        assert_eq!(Access::for_listener(false, Some("s".into())), Access::Secret("s".into()));
        assert_eq!(Access::for_listener(true, Some("s".into())), Access::Secret("s".into()));
        assert!(matches!(Access::for_listener(false, None), Access::Off(_)));
        assert!(matches!(Access::for_listener(false, Some(String::new())), Access::Off(_)));
    }

    #[test]
    fn tokens_compare_in_full() {
        assert!(same("abc", "abc"));
        assert!(!same("abd", "abc"));
        assert!(!same("ab", "abc"));
    }
}
