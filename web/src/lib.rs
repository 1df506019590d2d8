//! The kpiscope viewer: one page per dashboard tab over a refreshed database.
//!
//! Axum serves, minijinja renders (environment built once, templates compiled into the
//! binary), charts are SVG from `kpiscope-charts` drawn on the server, so every page works
//! with JavaScript off. The database is opened read-only; queries run on the blocking pool,
//! never on the async runtime. The extension, when given, powers the live tabs (RCA for any
//! day, what-if levers, replay); without it those tabs show the precomputed views.

mod context;
mod error;
mod feedback;
mod page;
mod params;
mod store;
mod tabs;

pub use error::AppError;
pub use feedback::Access;
pub use store::{Session, Store};
pub use tabs::TABS;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use context::Context;
use feedback::Submission;
use minijinja::{context as jinja, Environment};
use params::Params;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Rendered pages kept per database generation: a page depends only on the refreshed file
/// and its URL, so a repeated request (50 people watching the same incident) costs a lookup.
const CACHED_PAGES: usize = 256;

/// Shared by all requests.
pub struct AppState {
    store: Store,
    templates: Environment<'static>,
    reports_dir: Option<PathBuf>,
    pages: Mutex<lru::LruCache<String, Arc<str>>>,
    /// Pages rendered at once: more than the cores only makes every request slower.
    renders: tokio::sync::Semaphore,
    /// Confirm / dismiss, and the alert log shown beside the incidents.
    desk: feedback::Desk,
    /// The database, for reports generated from the reports center.
    db: PathBuf,
    /// One report generation at a time.
    generating: tokio::sync::Semaphore,
}

impl AppState {
    /// Opens the database (read-only) and compiles the templates. Feedback is off until
    /// [`AppState::allow_feedback`].
    pub fn new(db: &Path, extension: Option<&Path>, reports_dir: Option<PathBuf>) -> Result<AppState, AppError> {
        let mut templates = Environment::new();
        templates
            .add_template("base.html", include_str!("../templates/base.html"))
            .and_then(|()| templates.add_template("tab.html", include_str!("../templates/tab.html")))
            .map_err(AppError::internal)?;
        // Headers in words for people; CSV downloads keep the column names for tools.
        templates.add_filter("header", |column: String| page::header(&column));
        let cores = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        Ok(AppState {
            store: Store::open(db, extension)?,
            templates,
            reports_dir,
            db: db.to_path_buf(),
            generating: tokio::sync::Semaphore::new(1),
            pages: Mutex::new(lru::LruCache::new(NonZeroUsize::new(CACHED_PAGES).expect("non-zero"))),
            renders: tokio::sync::Semaphore::new(cores),
            desk: feedback::Desk::new(db),
        })
    }

    /// Lets people confirm and dismiss incidents, by the rule `access` (see [`Access::for_listener`]).
    pub fn allow_feedback(&mut self, access: Access) {
        self.desk.allow(access);
    }
}

/// The router; `oneshot`-testable without a socket.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/healthz", get(|| async { "ok" }))
        .route("/csv/{view}", get(csv))
        .route("/feedback", post(give_feedback))
        .route("/reports/files/{name}", get(report_file))
        .route("/reports/generate", post(generate_report))
        .route("/static/{name}", get(static_file))
        .route("/{tab}", get(tab))
        .fallback(|| async { AppError::not_found("no such page") })
        .with_state(state)
}

/// The files pages load, compiled in so the viewer needs no network and serves only these:
/// uPlot from npm (pinned, MIT; `scripts/vendor-uplot.sh` fetches and checks it) and our
/// script that draws the interactive charts with it.
const STATIC_FILES: [(&str, &str, &str); 3] = [
    ("uplot-1.6.32.min.js", "text/javascript", include_str!("../static/vendor/uplot-1.6.32/uPlot.iife.min.js")),
    ("uplot-1.6.32.min.css", "text/css", include_str!("../static/vendor/uplot-1.6.32/uPlot.min.css")),
    ("charts.js", "text/javascript", include_str!("../static/charts.js")),
];

async fn static_file(UrlPath(name): UrlPath<String>) -> Result<Response, AppError> {
    let (_, kind, body) = STATIC_FILES
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or_else(|| AppError::not_found(format!("no static file {name:?}")))?;
    let headers =
        [(header::CONTENT_TYPE, format!("{kind}; charset=utf-8")), (header::CACHE_CONTROL, "max-age=3600".into())];
    Ok((headers, *body).into_response())
}

/// Serves until Ctrl-C; prints the URL once listening (port 0 picks a free port).
pub async fn serve(state: AppState, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("kpiscope: serving http://{}/ (Ctrl-C stops)", listener.local_addr()?);
    axum::serve(listener, app(Arc::new(state)))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

async fn overview(state: State<Arc<AppState>>, uri: Uri, params: Query<Params>) -> Result<Response, AppError> {
    render_tab(state.0, "overview".into(), uri, params.0).await
}

async fn tab(
    State(state): State<Arc<AppState>>,
    UrlPath(slug): UrlPath<String>,
    uri: Uri,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    if !TABS.iter().any(|(s, _)| *s == slug) {
        return Err(AppError::not_found(format!("no tab {slug:?}")));
    }
    render_tab(state, slug, uri, params).await
}

/// Runs a closure with a session (the given one, or a new one) and the context on the
/// blocking pool.
async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    session: Option<Session>,
    work: impl FnOnce(&AppState, &Session, &Context) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || {
        let session = match session {
            Some(session) => session,
            None => state.store.connection()?,
        };
        let context = context::load(&session)?;
        work(&state, &session, &context)
    })
    .await
    .map_err(AppError::internal)?
}

async fn render_tab(state: Arc<AppState>, slug: String, uri: Uri, params: Params) -> Result<Response, AppError> {
    let lookup = Arc::clone(&state);
    let (session, key, cached) = tokio::task::spawn_blocking(move || {
        let session = lookup.store.connection()?;
        let key = format!("{}\n{uri}", session.generation());
        let cached = lookup.pages.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
        Ok::<_, AppError>((session, key, cached))
    })
    .await
    .map_err(AppError::internal)??;
    // The reports tab lists files, the anomalies tab feedback and sent alerts, that change
    // without a refresh; every other page is a function of the database generation and the URL.
    let cacheable = slug != "reports" && slug != "anomalies";
    if let Some(page) = cached.filter(|_| cacheable) {
        return Ok(Html(page.to_string()).into_response());
    }
    let _permit = state.renders.acquire().await.map_err(AppError::internal)?;
    // While this request waited for its turn, another one may have rendered the same page.
    if let Some(page) = state.pages.lock().unwrap_or_else(|p| p.into_inner()).get(&key).filter(|_| cacheable) {
        return Ok(Html(page.to_string()).into_response());
    }
    let html = blocking(&state, Some(session), move |state, connection, context| {
        let request = tabs::Request {
            connection,
            context,
            params: &params,
            live: state.store.has_extension(),
            reports_dir: state.reports_dir.as_deref(),
            desk: &state.desk,
        };
        let page = tabs::build(&slug, &request)?;
        let template = state.templates.get_template("tab.html").map_err(AppError::internal)?;
        template
            .render(jinja! {
                page => page,
                tabs => TABS,
                data_from => context.show(context.data_from),
                data_to => context.show(context.data_to),
                refreshed_at => context.refreshed_at,
                title => context.title,
            })
            .map_err(AppError::internal)
    })
    .await?;
    if cacheable {
        state.pages.lock().unwrap_or_else(|p| p.into_inner()).put(key, Arc::from(html.as_str()));
    }
    Ok(Html(html).into_response())
}

/// Records a verdict on an incident, then shows its KPI's anomalies again (post, redirect, get).
async fn give_feedback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<Submission>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|e| AppError::bad_request(format!("not a feedback form: {e}")))?;
    let (token, secret) = form.credentials();
    state.desk.admit(&headers, token, secret)?;
    let kpi = blocking(&state, None, move |state, connection, context| {
        let (kpi, start, direction) = form.incident();
        let kpi = context.kpi(kpi).ok_or_else(|| AppError::bad_request(format!("unknown KPI {kpi:?}")))?.key.clone();
        let found = kpiscope_db::read::query(
            connection,
            "SELECT CAST(end_ts AS VARCHAR) FROM kpi_incidents WHERE kpi = ? AND CAST(start_ts AS VARCHAR) = ? AND direction = ?",
            &[&kpi, &start, &direction],
        )?;
        let end = found.rows.first().map(|r| r[0].to_string()).ok_or_else(|| {
            AppError::not_found(format!("{kpi} has no incident starting {start} going {direction}"))
        })?;
        state.desk.record(&form, end)?;
        Ok(kpi)
    })
    .await?;
    Ok(Redirect::to(&page::url("/anomalies", &[("kpi", &kpi)])).into_response())
}

/// The views a CSV can be downloaded from (names are matched, never spliced from input).
const CSV_VIEWS: [&str; 19] = [
    "tab_kpi_overview",
    "tab_top_movers",
    "tab_anomalies",
    "tab_root_cause",
    "tab_reports",
    "tab_ml_rca",
    "tab_ml_rca_importance",
    "tab_change_points",
    "tab_correlation",
    "tab_forecast",
    "tab_trends",
    "tab_date_comparison",
    "tab_what_if",
    "tab_model_comparison",
    "tab_detector_comparison",
    "tab_alert_budget",
    "tab_replay",
    "tab_actions",
    "tab_incidents",
];

async fn csv(
    State(state): State<Arc<AppState>>,
    UrlPath(view): UrlPath<String>,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let Some(view) = CSV_VIEWS.iter().find(|v| **v == view).copied() else {
        return Err(AppError::not_found(format!("no view {view:?} to download")));
    };
    let body = blocking(&state, None, move |_, connection, context| {
        let has_kpi = kpiscope_db::read::query(
            connection,
            "SELECT count(*) FROM duckdb_columns()
             WHERE database_name = current_database() AND table_name = ? AND column_name = 'kpi'",
            &[&view],
        )?
        .rows[0][0]
            == kpiscope_db::read::Cell::Int(1);
        let table = match params.get("kpi") {
            Some(_) if has_kpi => {
                let kpi = params.kpi(context)?;
                kpiscope_db::read::query(connection, &format!("SELECT * FROM {view} WHERE kpi = ?"), &[&kpi.key])?
            }
            _ => kpiscope_db::read::query(connection, &format!("SELECT * FROM {view}"), &[])?,
        };
        Ok(table.to_csv())
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{view}.csv\"")),
        ],
        body,
    )
        .into_response())
}

/// A file in the report directory.
#[derive(Debug, Clone)]
pub(crate) struct ReportFile {
    pub(crate) name: String,
    pub(crate) bytes: u64,
    pub(crate) modified: String,
}

/// The reports in `dir` (`kpiscope-report_*` files; nothing else there is served).
pub(crate) fn report_files(dir: Option<&Path>) -> Vec<ReportFile> {
    let Some(entries) = dir.and_then(|d| std::fs::read_dir(d).ok()) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let meta = entry.metadata().ok().filter(|m| m.is_file())?;
            let allowed =
                name.starts_with("kpiscope-report_") && [".md", ".pdf", ".zip"].iter().any(|ext| name.ends_with(ext));
            let modified = meta
                .modified()
                .ok()
                .map(chrono::DateTime::<chrono::Utc>::from)
                .map_or(String::new(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
            allowed.then_some(ReportFile { name, bytes: meta.len(), modified })
        })
        .collect()
}

/// `?inline=1` shows a report in the browser (the reports center's preview) instead of
/// downloading it.
#[derive(Debug, serde::Deserialize)]
struct Disposition {
    #[serde(default)]
    inline: Option<String>,
}

async fn report_file(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    Query(disposition): Query<Disposition>,
) -> Result<Response, AppError> {
    let dir = state.reports_dir.clone();
    let file = report_files(dir.as_deref())
        .into_iter()
        .find(|f| f.name == name)
        .ok_or_else(|| AppError::not_found(format!("no report named {name:?}")))?;
    let path = dir.expect("a listed file has a directory").join(&file.name);
    let bytes = tokio::fs::read(&path).await.map_err(AppError::internal)?;
    let inline = disposition.inline.is_some();
    let kind = match file.name.rsplit('.').next() {
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        // Browsers download text/markdown; as plain text it reads in place.
        _ if inline => "text/plain; charset=utf-8",
        _ => "text/markdown; charset=utf-8",
    };
    let disposition = if inline { "inline" } else { "attachment" };
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_DISPOSITION, format!("{disposition}; filename=\"{}\"", file.name)),
        ],
        bytes,
    )
        .into_response())
}

/// The reports center's generate button.
#[derive(Debug, serde::Deserialize)]
struct Generate {
    #[serde(default)]
    token: String,
    #[serde(default)]
    secret: String,
}

/// Writes the report (Markdown, PDF, ZIP) as of the last time step into the report directory,
/// under the same rule as feedback; one at a time.
async fn generate_report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<Generate>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|e| AppError::bad_request(format!("not a report form: {e}")))?;
    state.desk.admit(&headers, &form.token, &form.secret)?;
    let Some(out) = state.reports_dir.clone() else {
        return Err(AppError::bad_request("the viewer was started without --reports: no directory to write to"));
    };
    let _one = state.generating.try_acquire().map_err(|_| AppError {
        status: StatusCode::CONFLICT,
        message: "a report is being generated; reload the reports center in a moment".into(),
    })?;
    let options = kpiscope_reports::Options {
        db: state.db.clone(),
        out,
        as_of: None,
        kpis: Vec::new(),
        formats: vec![kpiscope_reports::Format::Markdown, kpiscope_reports::Format::Pdf, kpiscope_reports::Format::Zip],
    };
    tokio::task::spawn_blocking(move || kpiscope_reports::export(&options))
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("no report written: {e}"),
        })?;
    // The listing shows the new files first.
    Ok(Redirect::to("/reports").into_response())
}
