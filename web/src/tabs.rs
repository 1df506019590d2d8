//! The thirteen tabs. Each reads its view in `sql/views.sql` (plain tables, no extension);
//! the interactive ones (RCA for any time step, what-if levers, replay) call the extension when
//! the server loaded it. KPIs, dimensions and levers come from the catalogue, so every tab
//! works for any KPI model. Every value from the request is validated in `params` and bound,
//! never spliced into SQL.

use crate::context::{Context, Kpi};
use crate::error::AppError;
use crate::feedback::Desk;
use crate::page::{url, CellView, Chart, Control, GenerateForm, Link, Page, Section, TableView};
use crate::params::Params;
use crate::store::Session;
use chrono::{Duration, NaiveDateTime};
use duckdb::ToSql;
use kpiscope_charts::plot::Range;
use kpiscope_charts::{
    bar_chart, compact, heatmap, lines_chart, lines_plot, percent, time_chart, time_plot, tree_chart, Bar, HeatCell,
    TimePoint, TreeNode,
};
use kpiscope_db::catalog::{Grain, Moment};
use kpiscope_db::read::{query, Cell, Table};
use kpiscope_model::quote_literal;
use std::path::Path;

/// Everything a tab builder reads.
pub struct Request<'a> {
    /// Connection to the current database.
    pub connection: &'a Session,
    /// Catalogue and stamp.
    pub context: &'a Context,
    /// The query parameters.
    pub params: &'a Params,
    /// The extension is loaded: live analyses are possible.
    pub live: bool,
    /// Where exported reports are.
    pub reports_dir: Option<&'a Path>,
    /// Feedback forms and the alert log.
    pub desk: &'a Desk,
}

/// Tab slugs and titles, in navigation order.
pub const TABS: [(&str, &str); 13] = [
    ("overview", "KPI overview"),
    ("anomalies", "Anomalies & severity"),
    ("rca", "Root-cause analysis"),
    ("reports", "Reports center"),
    ("ml-rca", "ML-based RCA"),
    ("change-points", "Change points & correlation"),
    ("forecast", "Forecasting"),
    ("trends", "Trends by dimension"),
    ("compare", "Date comparison"),
    ("what-if", "What-if simulator"),
    ("models", "Model comparison"),
    ("replay", "Anomaly replay"),
    ("actions", "Actions"),
];

const WIDE: f64 = 900.0;
const TALL: f64 = 280.0;

/// Builds the page of tab `slug`.
pub fn build(slug: &str, request: &Request) -> Result<Page, AppError> {
    match slug {
        "overview" => overview(request),
        "anomalies" => anomalies(request),
        "rca" => rca(request),
        "reports" => reports(request),
        "ml-rca" => ml_rca(request),
        "change-points" => change_points(request),
        "forecast" => forecast(request),
        "trends" => trends(request),
        "compare" => compare(request),
        "what-if" => what_if(request),
        "models" => models(request),
        "replay" => replay(request),
        "actions" => actions(request),
        other => Err(AppError::not_found(format!("no tab {other:?}"))),
    }
}

fn page(slug: &'static str, intro: &str) -> Page {
    let title = TABS.iter().find(|(s, _)| *s == slug).map_or(slug, |(_, t)| t);
    Page::new(slug, title, intro)
}

fn kpi_picker(request: &Request, kpi: &Kpi) -> Control {
    let options = request.context.kpis.iter().map(|k| (k.key.clone(), k.label.clone())).collect();
    Control::select("kpi", "KPI", &kpi.key, options)
}

/// A time picker bounded by the data: a date, or a date and hour for hourly data.
fn time_picker(request: &Request, name: &str, label: &str, t: NaiveDateTime) -> Control {
    let c = request.context;
    if c.grain == Grain::Hourly {
        let f = |t: NaiveDateTime| t.format("%Y-%m-%dT%H:%M").to_string();
        Control::datetime(name, label, &f(t), &f(c.data_from), &f(c.data_to))
    } else {
        let f = |t: NaiveDateTime| t.date().to_string();
        Control::date(name, label, &f(t), &f(c.data_from), &f(c.data_to))
    }
}

fn dimension_picker(request: &Request, dimension: &str) -> Control {
    let options = std::iter::once("all")
        .chain(request.context.dimensions.iter().map(String::as_str))
        .map(|d| (d.into(), d.into()));
    Control::select("dimension", "Dimension", dimension, options.collect())
}

fn csv(view: &str, kpi: Option<&Kpi>) -> String {
    url(&format!("/csv/{view}"), &[("kpi", kpi.map_or("", |k| k.key.as_str()))])
}

/// The span of history a chart shows: 90 days (14 for hourly data, 2 years for weekly).
fn history(context: &Context) -> Duration {
    match context.grain {
        Grain::Hourly => Duration::days(14),
        Grain::Daily => Duration::days(90),
        Grain::Weekly => Duration::days(728),
    }
}

/// Bars from result rows: the length from column `value`, label, text and emphasis from the row.
fn bars<'a>(
    rows: impl IntoIterator<Item = &'a Vec<Cell>>,
    label: impl Fn(&[Cell]) -> String,
    value: usize,
    text: impl Fn(&[Cell]) -> String,
    highlight: impl Fn(&[Cell]) -> bool,
) -> Vec<Bar> {
    rows.into_iter()
        .map(|r| Bar {
            label: label(r),
            value: r[value].as_f64().unwrap_or(0.0),
            text: text(r),
            highlight: highlight(r),
        })
        .collect()
}

/// A cell as a signed percentage.
fn pct(cell: &Cell) -> String {
    percent(cell.as_f64().unwrap_or(f64::NAN))
}

/// A cell as a compact number.
fn number(cell: &Cell) -> String {
    compact(cell.as_f64().unwrap_or(f64::NAN))
}

/// A cell in the KPI's unit.
fn in_unit(kpi: &Kpi, cell: &Cell) -> String {
    kpi.format(cell.as_f64().unwrap_or(f64::NAN))
}

/// Points for [`time_chart`] from a result with columns ts, actual, expected, lower, upper,
/// severity (NULL when normal) and forecast.
fn time_points(context: &Context, table: &Table) -> Vec<TimePoint> {
    table
        .rows
        .iter()
        .map(|row| {
            let number = |name: &str| table.get(row, name).as_f64();
            let ts = table.get(row, "ts");
            TimePoint {
                label: ts.as_moment().map_or_else(|| ts.to_string(), |t| context.axis(t)),
                actual: number("actual"),
                expected: number("expected"),
                lower: number("lower"),
                upper: number("upper"),
                severity: match table.get(row, "severity") {
                    Cell::Text(s) => Some(s.clone()),
                    _ => None,
                },
                forecast: matches!(table.get(row, "forecast"), Cell::Bool(true)),
            }
        })
        .collect()
}

/// A result as a table, KPI values in the unit of the row's `kpi` column, else of `kpi`.
fn table_view(c: &Context, kpi: Option<&Kpi>, table: &Table) -> TableView {
    let column = table.column("kpi");
    TableView::in_units(table, &|row| column.and_then(|i| c.kpi(&row[i].to_string())).or(kpi).map(|k| k.unit.clone()))
}

/// Markers on a time chart: what a click on one opens.
enum Markers {
    /// Flagged steps; a click opens the step's root causes.
    Anomalies,
    /// Change points or a marked step; nothing to open.
    Inert,
}

/// A KPI over time as a chart: the SVG (the no-JavaScript fallback, the geometry the PDF
/// draws) and the same points as an interactive plot with hover values in the KPI's unit,
/// range pickers and markers that open their root causes.
fn time_figure(c: &Context, kpi: &Kpi, title: &str, table: &Table, points: &[TimePoint], markers: Markers) -> Chart {
    let moments: Vec<Option<NaiveDateTime>> = table.rows.iter().map(|r| table.get(r, "ts").as_moment()).collect();
    let times =
        moments.iter().zip(&table.rows).map(|(t, r)| t.map_or_else(|| table.get(r, "ts").to_string(), |t| c.show(t)));
    let link = |i: usize| match markers {
        Markers::Anomalies => moments[i].map(|t| url("/rca", &[("kpi", &kpi.key), ("day", &c.show(t))])),
        Markers::Inert => None,
    };
    let plot = time_plot(title, points, times.collect(), &kpi.unit, &|v| kpi.format(v), &link);
    let future = points.iter().filter(|p| p.forecast).count();
    let plot = plot.with_ranges(ranges(c.grain, points.len(), future));
    Chart { figure: time_chart(title, points, (WIDE, TALL), &|v| kpi.short(v)), plot: Some(plot) }
}

/// The ranges offered above a time chart: history windows that fit in `steps`, then forecast
/// horizons shorter than the `future` steps stored.
fn ranges(grain: Grain, steps: usize, future: usize) -> Vec<Range> {
    type Choices = &'static [(&'static str, usize)];
    let (windows, horizons): (Choices, Choices) = match grain {
        Grain::Hourly => {
            (&[("2 days", 48), ("1 week", 168), ("4 weeks", 672)], &[("next 24 hours", 24), ("next 3 days", 72)])
        }
        Grain::Daily => {
            (&[("30 days", 30), ("90 days", 90), ("1 year", 365)], &[("next 7 days", 7), ("next 14 days", 14)])
        }
        Grain::Weekly => (&[("13 weeks", 13), ("1 year", 52)], &[("next 4 weeks", 4), ("next 13 weeks", 13)]),
    };
    let history = steps - future;
    let window = |(label, steps): &(&str, usize)| Range { label: label.to_string(), steps: *steps, future: false };
    let horizon = |(label, steps): &(&str, usize)| Range { label: label.to_string(), steps: *steps, future: true };
    let mut out: Vec<Range> = windows.iter().filter(|(_, n)| *n < history).map(window).collect();
    out.extend(horizons.iter().filter(|(_, n)| *n < future).map(horizon));
    if !out.is_empty() {
        out.push(Range { label: "all".to_string(), steps, future: false });
    }
    out
}

fn kpi_series(request: &Request, kpi: &Kpi, from: NaiveDateTime, to: NaiveDateTime) -> Result<Table, AppError> {
    let c = request.context;
    Ok(query(
        request.connection,
        "SELECT ts, value AS actual, expected, lower, upper, CASE WHEN is_anomaly THEN severity END AS severity,
                false AS forecast
         FROM tab_anomalies WHERE kpi = ? AND ts BETWEEN ? AND ? ORDER BY ts",
        &[&kpi.key, &c.moment(from), &c.moment(to)],
    )?)
}

fn severity_counts(request: &Request, kpi: &Kpi) -> Result<String, AppError> {
    let counts = query(
        request.connection,
        "SELECT count(*) FILTER (severity = 'critical'), count(*) FILTER (severity = 'major'),
                count(*) FILTER (severity = 'minor'), count(*) FILTER (is_anomaly), count(*)
         FROM tab_anomalies WHERE kpi = ?",
        &[&kpi.key],
    )?;
    let r = &counts.rows[0];
    let step = request.context.grain.step_name();
    Ok(format!("{} of {} {step}s flagged: {} critical, {} major, {} minor.", r[3], r[4], r[0], r[1], r[2]))
}

fn overview(request: &Request) -> Result<Page, AppError> {
    let kpi = request.params.kpi(request.context)?;
    let mut page = page("overview", "Every KPI at the latest time step against what was expected, its trend with the forecast, and the segments that moved most.");
    page.controls.push(kpi_picker(request, kpi));
    let cards = query(
        request.connection,
        "SELECT label, kpi, ts, value, expected, vs_expected_pct, day_over_day_pct, week_over_week_pct,
                anomalies_30d, severity FROM tab_kpi_overview ORDER BY position",
        &[],
    )?;
    let view = table_view(request.context, None, &cards)
        .link(&cards, "label", |row| url("/anomalies", &[("kpi", &row[1].to_string())]));
    page.sections.push(Section::new("KPIs at the latest time step").table(view).csv(csv("tab_kpi_overview", None)));

    let series = query(
        request.connection,
        "SELECT f.ts, f.actual, f.yhat AS expected, f.yhat_lower AS lower, f.yhat_upper AS upper,
                CASE WHEN a.is_anomaly THEN a.severity END AS severity, f.is_forecast AS forecast
         FROM tab_forecast f LEFT JOIN tab_anomalies a ON a.kpi = f.kpi AND a.ts = f.ts
         WHERE f.kpi = ? ORDER BY f.ts",
        &[&kpi.key],
    )?;
    let title = format!("{}: recent history and forecast", kpi.label);
    let points = time_points(request.context, &series);
    let chart = time_figure(request.context, kpi, &title, &series, &points, Markers::Anomalies);
    page.sections.push(Section::new(format!("{} trend", kpi.label)).chart(chart));

    let movers = query(
        request.connection,
        "SELECT dimension || '=' || member AS segment, last_period, previous_period, change, change_pct
         FROM tab_top_movers WHERE kpi = ? ORDER BY rank LIMIT 12",
        &[&kpi.key],
    )?;
    let bars = bars(&movers.rows, |r| r[0].to_string(), 4, |r| pct(&r[4]), |_| false);
    page.sections.push(
        Section::new(format!("Top movers: {}, last period against the one before", kpi.label))
            .chart(bar_chart("Relative change by segment", &bars, WIDE))
            .table(table_view(request.context, Some(kpi), &movers))
            .csv(csv("tab_top_movers", Some(kpi))),
    );
    Ok(page)
}

fn anomalies(request: &Request) -> Result<Page, AppError> {
    let kpi = request.params.kpi(request.context)?;
    let mut page = page("anomalies", "Each time step judged only from the steps before it; the band is the expected range, markers are coloured by severity (minor, major, critical).");
    page.controls.push(kpi_picker(request, kpi));
    let c = request.context;
    let series = kpi_series(request, kpi, c.data_from, c.data_to)?;
    let title = format!("{} with expected band", kpi.label);
    let chart = time_figure(c, kpi, &title, &series, &time_points(c, &series), Markers::Anomalies);
    page.sections.push(Section::new(kpi.label.clone()).text(severity_counts(request, kpi)?).chart(chart));
    let flagged = query(
        request.connection,
        "SELECT ts, value, expected, deviation_pct, score, severity, incident_id, explanation
         FROM tab_anomalies WHERE kpi = ? AND is_anomaly ORDER BY ts DESC",
        &[&kpi.key],
    )?;
    let runs = incidents(request, Some(kpi))?;
    let desk = request.desk;
    let (verdicts, sent) = (desk.verdicts(), desk.sent());
    let (mut alerts, mut said, mut forms) = (Vec::new(), Vec::new(), Vec::new());
    for row in &runs.rows {
        let key = runs.get(row, "incident_key").to_string();
        let refreshed = runs.get(row, "refreshed_verdict").to_string();
        alerts.push(CellView::text(match &sent {
            Ok(sent) => kpiscope_alerts::describe(sent, &key),
            Err(why) => why.clone(),
        }));
        let verdict = verdicts.of(&key);
        said.push(CellView::text(match verdict {
            Some(v) => {
                let note = if v.note.is_empty() { String::new() } else { format!(": {}", v.note) };
                let pending = if refreshed == v.verdict.name() { "" } else { " (applies at the next refresh)" };
                format!("{} {}{note}{pending}", v.verdict.name(), v.at)
            }
            None => runs.get(row, "suppression").to_string(),
        }));
        let start = runs.get(row, "start_key").to_string();
        let direction = runs.get(row, "direction").to_string();
        let form = desk.form(&kpi.key, &start, &direction, verdict.map(|v| v.verdict.name()));
        forms.push(CellView { form, ..CellView::text("") });
    }
    let view = incident_view(request, &runs)
        .without("suppression")
        .with_column("alerts sent", alerts)
        .with_column("feedback", said);
    let view = if desk.off().is_some() { view } else { view.with_column("confirm or dismiss", forms) };
    let explained = match desk.off() {
        Some(why) => format!(" {why}"),
        None => " Confirm an incident (a real anomaly: its steps become labels the detectors are scored against) or \
                  dismiss it (noise: later incidents of the same segment and shape are suppressed, and no alert goes \
                  out for them); the next refresh applies it."
            .to_string(),
    };
    page.sections.push(
        Section::new(format!("Incidents of {}", kpi.label))
            .text(format!(
                "{} incidents: runs of time steps on one side of the band with at least one flag, most severe first.{explained}",
                runs.rows.len()
            ))
            .table(view)
            .csv(csv("tab_incidents", Some(kpi))),
    );
    let key = kpi.key.clone();
    let view = table_view(c, Some(kpi), &flagged).link(&flagged, "ts", |row| {
        let t = row[0].as_moment().map_or_else(|| row[0].to_string(), |t| c.show(t));
        url("/rca", &[("kpi", &key), ("day", &t)])
    });
    page.sections.push(
        Section::new("Anomalous time steps (click one for its root causes)")
            .table(view)
            .csv(csv("tab_anomalies", Some(kpi))),
    );
    Ok(page)
}

/// A parenthesised query over one KPI's leaves in the current generation, for the extension.
fn leaves_source(request: &Request, kpi: &Kpi) -> String {
    format!("(SELECT * FROM {} WHERE kpi = {})", request.connection.source("kpi_leaves"), quote_literal(&kpi.key))
}

/// Where [`contributions`] found rows that refresh stored.
const STORED: &str = "stored by refresh";

/// The contribution rows of `kpi` at `t`: stored by refresh, or computed live the same way
/// (the same leaves, the same baseline: the same time of the four weeks before).
fn contributions(request: &Request, kpi: &Kpi, t: NaiveDateTime) -> Result<(Table, &'static str), AppError> {
    let moment = request.context.moment(t);
    let stored = query(
        request.connection,
        "SELECT rank, segment, baseline, actual, delta, contribution, surprise, explanatory_power, is_root_cause
         FROM tab_root_cause WHERE kpi = ? AND ts = ? ORDER BY rank",
        &[&kpi.key, &moment],
    )?;
    if !stored.rows.is_empty() {
        return Ok((stored, STORED));
    }
    if !request.live {
        return Ok((stored, "not stored for this time step, and the server runs without the extension"));
    }
    if request.context.dimensions.is_empty() {
        return Ok((stored, "not available: the model has no dimensions"));
    }
    let dimensions: Vec<String> = request.context.dimensions.iter().map(|d| quote_literal(d)).collect();
    let measure = if kpi.is_ratio() { "numerator := 'num', denominator := 'den'" } else { "metric := 'num'" };
    let table = query(
        request.connection,
        &format!(
            "SELECT row_number() OVER (ORDER BY is_root_cause DESC, abs(contribution) DESC) AS rank, segment, baseline,
                    actual, delta, contribution, surprise, explanatory_power, is_root_cause
             FROM rca_contributions({}, ts := 'ts', dimensions := [{}], test := ?, baseline := 'same_weekday_4w', {measure})
             ORDER BY rank LIMIT 10",
            quote_literal(&leaves_source(request, kpi)),
            dimensions.join(", ")
        ),
        &[&Moment::Time(t)],
    )?;
    Ok((table, "computed live by the extension"))
}

fn rca(request: &Request) -> Result<Page, AppError> {
    let params = request.params;
    let c = request.context;
    let kpi = params.kpi(c)?;
    let latest =
        query(request.connection, "SELECT max(ts) FROM tab_anomalies WHERE kpi = ? AND is_anomaly", &[&kpi.key])?
            .rows
            .first()
            .and_then(|r| r[0].as_moment());
    let t = params.time("day", c)?.or(latest).unwrap_or(c.data_to);
    let mut page = page("rca", "Which segments moved the KPI at a time step: each segment's share of the gap between actual and the same time of the four weeks before, and the localised root-cause combination.");
    page.controls.push(kpi_picker(request, kpi));
    page.controls.push(time_picker(request, "day", "Time step", t));

    let verdict = query(
        request.connection,
        "SELECT value, expected, deviation_pct, severity, score FROM tab_anomalies WHERE kpi = ? AND ts = ?",
        &[&kpi.key, &c.moment(t)],
    )?;
    let (table, origin) = contributions(request, kpi, t)?;
    let root = table.rows.iter().find(|r| matches!(table.get(r, "is_root_cause"), Cell::Bool(true)));
    let shown = c.show(t);
    let mut summary = match verdict.rows.first() {
        Some(v) => {
            let gap = v[2].as_f64().unwrap_or(f64::NAN);
            let side = if gap < 0.0 { "below" } else { "above" };
            format!(
                "{} was {} ({:.1}% {side} the expected {}) at {shown} (severity {}, score {}).",
                kpi.label,
                in_unit(kpi, &v[0]),
                gap.abs() * 100.0,
                in_unit(kpi, &v[1]),
                v[3],
                v[4]
            )
        }
        None => format!("No verdict for {} at {shown}.", kpi.label),
    };
    if let Some(r) = root {
        summary.push_str(&format!(
            " {} of the gap comes from {}.",
            percent(table.get(r, "contribution").as_f64().unwrap_or(f64::NAN)).trim_start_matches('+'),
            table.get(r, "segment")
        ));
    }
    summary.push_str(&format!(" Contributions {origin}."));
    let incident = query(
        request.connection,
        "SELECT incident, start_ts, end_ts, duration, direction, main_cause, action FROM tab_incidents
         WHERE kpi = ? AND ? BETWEEN start_ts AND end_ts",
        &[&kpi.key, &c.moment(t)],
    )?;
    if let Some(i) = incident.rows.first() {
        let show = |cell: &Cell| cell.as_moment().map_or_else(|| cell.to_string(), |t| c.show(t));
        summary.push_str(&format!(
            " Part of incident {} ({} {}, {} to {}, {}).",
            i[0],
            kpi.label,
            i[4],
            show(&i[1]),
            show(&i[2]),
            i[3]
        ));
        match &i[5] {
            Cell::Null => summary.push_str(" RCA named no root cause over the incident."),
            cause => summary.push_str(&format!(" Its root cause: {cause}. {}", i[6])),
        }
    }
    let contribution = table.column("contribution").unwrap_or(0);
    let bars = bars(
        &table.rows,
        |r| table.get(r, "segment").to_string(),
        contribution,
        |r| pct(&r[contribution]),
        |r| matches!(table.get(r, "is_root_cause"), Cell::Bool(true)),
    );
    let key = kpi.key.clone();
    let view = table_view(request.context, Some(kpi), &table)
        .link(&table, "segment", |r| url("/rca", &[("kpi", &key), ("day", &shown), ("segment", &r[1].to_string())]));
    let section = Section::new(format!("Contributions at {shown}"))
        .text(summary)
        .chart(bar_chart("Share of the change by segment", &bars, WIDE))
        .table(view);
    // Only stored rows can be downloaded: the CSV must be the rows on the page.
    page.sections.push(if origin == STORED { section.csv(csv("tab_root_cause", Some(kpi))) } else { section });

    // Drill-down: the trend of the chosen (or root-cause) segment around the time step.
    let chosen = params.segment(c)?;
    let mut options = vec![(String::new(), "root cause".to_string())];
    options
        .extend(table.rows.iter().map(|r| (table.get(r, "segment").to_string(), table.get(r, "segment").to_string())));
    if let Some(s) = chosen.as_ref().filter(|s| !options.iter().any(|(v, _)| v == *s)) {
        options.push((s.clone(), s.clone()));
    }
    page.controls.push(Control::select("segment", "Segment trend", chosen.as_deref().unwrap_or(""), options));
    let segment = chosen.or_else(|| root.map(|r| table.get(r, "segment").to_string()));
    if let Some(segment) = segment {
        let value = if kpi.is_ratio() { "sum(num) / nullif(sum(den), 0)" } else { "sum(num)" };
        let span = history(c);
        let trend = query(
            request.connection,
            &format!(
                "SELECT ts, {value} AS actual FROM kpi_leaves
                 WHERE kpi = ? AND list_has_all(string_split(segment, ' & '), string_split(?, ' & '))
                   AND ts BETWEEN ? AND ? GROUP BY ts ORDER BY ts"
            ),
            &[&kpi.key, &segment, &c.moment(t - span * 2 / 3), &c.moment(t + span / 6)],
        )?;
        if trend.rows.is_empty() {
            // Name what the data holds for the segment's dimensions, so the fix is in the message.
            let dimensions: Vec<&str> =
                segment.split(" & ").filter_map(|t| t.split_once('=').map(|(d, _)| d)).collect();
            let known = query(
                request.connection,
                "SELECT DISTINCT term FROM (SELECT unnest(string_split(segment, ' & ')) AS term FROM kpi_leaves WHERE kpi = ?)
                 WHERE list_contains(?::VARCHAR[], split_part(term, '=', 1)) ORDER BY term LIMIT 20",
                &[&kpi.key, &format!("[{}]", dimensions.iter().map(|d| quote_literal(d)).collect::<Vec<_>>().join(", "))],
            )?;
            let terms: Vec<String> = known.rows.iter().map(|r| r[0].to_string()).collect();
            return Err(AppError::bad_request(format!(
                "no segment {segment:?} in the data of {}; the data holds {}",
                kpi.label,
                if terms.is_empty() { "no such values".to_string() } else { terms.join(", ") }
            )));
        }
        let mut points = time_points(c, &trend);
        if let Some(i) = trend.rows.iter().position(|r| r[0].as_moment() == Some(t)) {
            points[i].severity = Some("this step".into());
        }
        let title = format!("{}: {segment}", kpi.label);
        page.sections.push(
            Section::new(format!("Trend of {segment}"))
                .text(format!("{} of {segment} around {shown} (the step is marked).", kpi.label))
                .chart(time_figure(c, kpi, &title, &trend, &points, Markers::Inert)),
        );
    }
    Ok(page)
}

fn reports(request: &Request) -> Result<Page, AppError> {
    let mut page = page("reports", "Reports written by kpiscope report (Markdown, PDF, ZIP), newest first.");
    let mut files = crate::report_files(request.reports_dir);
    files.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.name.cmp(&b.name)));
    let table = Table {
        columns: ["report", "format", "as_of", "size", "written", "download"].map(String::from).to_vec(),
        rows: files
            .iter()
            .map(|f| {
                let (stem, format) = f.name.rsplit_once('.').unwrap_or((&f.name, ""));
                let as_of = stem.strip_prefix("kpiscope-report_").unwrap_or(stem);
                [f.name.as_str(), format, as_of, &human_bytes(f.bytes), &f.modified, "download"]
                    .map(|t| Cell::Text(t.to_string()))
                    .to_vec()
            })
            .collect(),
    };
    let view = TableView::of(&table)
        .link(&table, "report", |r| url(&format!("/reports/files/{}", r[0]), &[("inline", "1")]))
        .link(&table, "download", |r| format!("/reports/files/{}", r[0]));
    let text = match request.reports_dir {
        Some(_) => format!("{} files. The report name opens it here; download saves it.", files.len()),
        None => "The server was started without --reports DIR; no report directory to list.".to_string(),
    };
    let mut listing = Section::new("Exported reports").text(text).table(view);
    match (request.reports_dir, request.desk.writer()) {
        (Some(_), Some((token, secret))) => listing.generate = Some(GenerateForm { token, secret }),
        (Some(_), None) => {
            let why = request.desk.off().unwrap_or_default();
            listing.text = Some(format!("{} Generating from here is off: {why}", listing.text.unwrap_or_default()));
        }
        (None, _) => {}
    }
    page.sections.push(listing);
    if let Some(newest) = files.iter().find(|f| f.name.ends_with(".pdf")) {
        let mut preview = Section::new(format!("Preview: {}", newest.name));
        preview.embed = Some(url(&format!("/reports/files/{}", newest.name), &[("inline", "1")]));
        page.sections.push(preview);
    }
    let registered = query(
        request.connection,
        "SELECT file, format, as_of, bytes, sha256, created_at FROM tab_reports ORDER BY created_at DESC",
        &[],
    )?;
    page.sections.push(
        Section::new("Reports registered in the database")
            .text("Checksums (SHA-256) are in the CSV.")
            .table(TableView::of(&registered).without("sha256"))
            .csv(csv("tab_reports", None)),
    );
    Ok(page)
}

/// A size for people: `812 B`, `12.3 kB`, `4.1 MB`.
fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

fn ml_rca(request: &Request) -> Result<Page, AppError> {
    let kpi = request.params.kpi(request.context)?;
    let dims = request.context.dimensions.join(", ");
    let mut page = page("ml-rca", &format!("A decision tree over the dimensions ({dims}) that separates anomalous segment time steps from normal ones: the branches with a high anomalous share are where the problems live."));
    page.controls.push(kpi_picker(request, kpi));
    let nodes = query(
        request.connection,
        "SELECT node_id, parent_id, depth, rule, path, samples, anomalous, anomalous_share, impurity, is_leaf
         FROM tab_ml_rca WHERE kpi = ? ORDER BY node_id",
        &[&kpi.key],
    )?;
    let tree: Vec<TreeNode> = nodes
        .rows
        .iter()
        .map(|r| TreeNode {
            id: r[0].as_f64().unwrap_or(0.0) as i64,
            parent: r[1].as_f64().map(|p| p as i64),
            rule: r[3].to_string(),
            samples: r[5].as_f64().unwrap_or(0.0) as i64,
            anomalous: r[6].as_f64().unwrap_or(0.0) as i64,
        })
        .collect();
    page.sections.push(
        Section::new(format!("Decision tree ({})", kpi.label))
            .chart(tree_chart("Where anomalous segment time steps concentrate", &tree))
            .table(TableView::of(&nodes))
            .csv(csv("tab_ml_rca", Some(kpi))),
    );
    let importance = query(
        request.connection,
        "SELECT dimension, importance FROM tab_ml_rca_importance WHERE kpi = ? ORDER BY importance DESC",
        &[&kpi.key],
    )?;
    let bars = bars(&importance.rows, |r| r[0].to_string(), 1, |r| pct(&r[1]), |_| true);
    page.sections.push(
        Section::new("Dimension importance")
            .chart(bar_chart("Importance", &bars, WIDE))
            .table(TableView::of(&importance))
            .csv(csv("tab_ml_rca_importance", Some(kpi))),
    );
    Ok(page)
}

fn change_points(request: &Request) -> Result<Page, AppError> {
    let kpi = request.params.kpi(request.context)?;
    let mut page = page(
        "change-points",
        "Structural breaks in each KPI (Bayesian online change-point detection) and how the KPIs move together.",
    );
    page.controls.push(kpi_picker(request, kpi));
    let series = query(
        request.connection,
        "SELECT ts, value AS actual, CASE WHEN is_change_point THEN 'change point' END AS severity
         FROM tab_change_points WHERE kpi = ? ORDER BY ts",
        &[&kpi.key],
    )?;
    let breaks = query(
        request.connection,
        "SELECT ts, probability, mean_before, mean_after, shift_pct FROM tab_change_points
         WHERE kpi = ? AND is_change_point ORDER BY ts",
        &[&kpi.key],
    )?;
    page.sections.push(
        Section::new(format!("{}: change points", kpi.label))
            .text(format!("{} change points; markers show where a new regime starts.", breaks.rows.len()))
            .chart(time_figure(
                request.context,
                kpi,
                &format!("{} with change points", kpi.label),
                &series,
                &time_points(request.context, &series),
                Markers::Inert,
            ))
            .table(table_view(request.context, Some(kpi), &breaks))
            .csv(csv("tab_change_points", Some(kpi))),
    );
    let matrix =
        query(request.connection, "SELECT kpi_x, kpi_y, correlation FROM tab_correlation ORDER BY kpi_x, kpi_y", &[])?;
    let labels: Vec<String> = request.context.kpis.iter().map(|k| k.key.clone()).collect();
    let index = |cell: &Cell| labels.iter().position(|l| *l == cell.to_string());
    let cells: Vec<HeatCell> = matrix
        .rows
        .iter()
        .filter_map(|r| Some(HeatCell { row: index(&r[0])?, col: index(&r[1])?, value: r[2].as_f64()? }))
        .collect();
    page.sections.push(
        Section::new("Correlation matrix of the KPI totals")
            .chart(heatmap("Pearson correlation", &labels, &cells))
            .table(TableView::of(&matrix))
            .csv(csv("tab_correlation", None)),
    );
    Ok(page)
}

fn forecast(request: &Request) -> Result<Page, AppError> {
    let kpi = request.params.kpi(request.context)?;
    let mut page = page(
        "forecast",
        "The next steps with a 90% prediction interval, from the model that won the rolling-origin backtest.",
    );
    page.controls.push(kpi_picker(request, kpi));
    let series = query(
        request.connection,
        "SELECT ts, actual, yhat AS expected, yhat_lower AS lower, yhat_upper AS upper, NULL AS severity,
                is_forecast AS forecast
         FROM tab_forecast WHERE kpi = ? ORDER BY ts",
        &[&kpi.key],
    )?;
    let rows = query(
        request.connection,
        "SELECT ts, yhat, yhat_lower, yhat_upper, model FROM tab_forecast WHERE kpi = ? AND is_forecast ORDER BY ts",
        &[&kpi.key],
    )?;
    let model = rows.rows.first().map_or("no forecast stored".to_string(), |r| format!("Model: {}.", r[4]));
    page.sections.push(
        Section::new(format!("{} forecast", kpi.label))
            .text(model)
            .chart(time_figure(
                request.context,
                kpi,
                &format!("{}: history and forecast", kpi.label),
                &series,
                &time_points(request.context, &series),
                Markers::Inert,
            ))
            .table(table_view(request.context, Some(kpi), &rows))
            .csv(csv("tab_forecast", Some(kpi))),
    );
    Ok(page)
}

fn trends(request: &Request) -> Result<Page, AppError> {
    let c = request.context;
    let kpi = request.params.kpi(c)?;
    let dimension = request.params.dimension(c)?;
    let mut page = page("trends", "Each KPI per member of a dimension over time.");
    page.controls.push(kpi_picker(request, kpi));
    page.controls.push(dimension_picker(request, dimension));
    let data = query(
        request.connection,
        "SELECT member, ts, value AS actual FROM tab_trends WHERE kpi = ? AND dimension = ? AND ts >= ?
         ORDER BY member, ts",
        &[&kpi.key, &dimension, &c.moment(c.data_to - history(c))],
    )?;
    let mut members: Vec<String> = data.rows.iter().map(|r| r[0].to_string()).collect();
    members.dedup();
    let mut steps: Vec<NaiveDateTime> = data.rows.iter().filter_map(|r| r[1].as_moment()).collect();
    steps.sort();
    steps.dedup();
    let shown = members.len().min(kpiscope_charts::plot::PALETTE.len());
    let lines: Vec<(String, Vec<Option<f64>>)> = members[..shown]
        .iter()
        .map(|member| {
            let mut values = vec![None; steps.len()];
            for r in data.rows.iter().filter(|r| r[0].to_string() == *member) {
                if let Some(i) = r[1].as_moment().and_then(|t| steps.binary_search(&t).ok()) {
                    values[i] = r[2].as_f64();
                }
            }
            (format!("{dimension}={member}"), values)
        })
        .collect();
    let title = format!("{} by {dimension}", kpi.label);
    let axis: Vec<String> = steps.iter().map(|t| c.axis(*t)).collect();
    let times: Vec<String> = steps.iter().map(|t| c.show(*t)).collect();
    let plot = lines_plot(&title, times, lines.clone(), &kpi.unit, &|v| kpi.format(v)).with_ranges(ranges(
        c.grain,
        steps.len(),
        0,
    ));
    let figure = lines_chart(&title, &axis, &lines, (WIDE, TALL), &|v| kpi.short(v));
    let text = if shown < members.len() {
        format!("The first {shown} of {} members, on one scale.", members.len())
    } else {
        format!("Every member of {dimension}, on one scale.")
    };
    page.sections.push(Section::new(title).text(text).chart(Chart { figure, plot: Some(plot) }));
    let (recent, previous) = (c.data_to - Duration::days(28), c.data_to - Duration::days(56));
    let (recent, previous) = (c.moment(recent), c.moment(previous));
    let summary = query(
        request.connection,
        "SELECT member, avg(value) FILTER (ts > ?) AS avg_last_28d,
                avg(value) FILTER (ts <= ? AND ts > ?) AS avg_previous_28d,
                avg(value) FILTER (ts > ?) / nullif(avg(value) FILTER (ts <= ? AND ts > ?), 0) - 1 AS change_pct
         FROM tab_trends WHERE kpi = ? AND dimension = ? GROUP BY member ORDER BY member",
        &[&recent, &recent, &previous, &recent, &recent, &previous, &kpi.key, &dimension],
    )?;
    page.sections.push(
        Section::new("Last 28 days against the 28 before")
            .text(format!(
                "{} members{}.",
                members.len(),
                if members.len() > 12 { " (charts for the first 12)" } else { "" }
            ))
            .table(table_view(c, Some(kpi), &summary))
            .csv(csv("tab_trends", Some(kpi))),
    );
    Ok(page)
}

fn compare(request: &Request) -> Result<Page, AppError> {
    let c = request.context;
    let kpi = request.params.kpi(c)?;
    let dimension = request.params.dimension(c)?;
    let t = request.params.time("day", c)?.unwrap_or(c.data_to);
    let against = request.params.time("compare", c)?.unwrap_or_else(|| (t - Duration::days(7)).max(c.data_from));
    let mut page = page(
        "compare",
        "Any two time steps side by side, per member of a dimension (default: the same time a week earlier).",
    );
    page.controls.push(kpi_picker(request, kpi));
    page.controls.push(time_picker(request, "day", "Time step", t));
    page.controls.push(time_picker(request, "compare", "Against", against));
    page.controls.push(dimension_picker(request, dimension));
    let table = query(
        request.connection,
        "SELECT a.dimension, a.member, a.value, b.value AS compare_value, a.value - b.value AS delta,
                a.value / nullif(b.value, 0) - 1 AS delta_pct
         FROM tab_trends a JOIN tab_trends b USING (kpi, dimension, member)
         WHERE a.kpi = ? AND a.dimension IN ('all', ?) AND a.ts = ? AND b.ts = ?
         ORDER BY a.dimension = 'all' DESC, abs(a.value / nullif(b.value, 0) - 1) DESC NULLS LAST",
        &[&kpi.key, &dimension, &c.moment(t), &c.moment(against)],
    )?;
    let is_total = |r: &[Cell]| r[0].to_string() == "all";
    let label = |r: &[Cell]| if is_total(r) { "total".to_string() } else { format!("{}={}", r[0], r[1]) };
    let bars = bars(&table.rows, label, 5, |r| pct(&r[5]), is_total);
    page.sections.push(
        Section::new(format!("{} at {} against {}", kpi.label, c.show(t), c.show(against)))
            .chart(bar_chart("Relative change by segment", &bars, WIDE))
            .table(table_view(c, Some(kpi), &table))
            .csv(csv("tab_date_comparison", Some(kpi))),
    );
    Ok(page)
}

fn what_if(request: &Request) -> Result<Page, AppError> {
    let c = request.context;
    let Some(root) = c.tree_root.as_deref() else {
        let mut page = page("what-if", "Move the drivers of a KPI and see the result.");
        page.notice = Some(
            "The KPI model has no driver tree: add [[drivers]] to kpiscope.toml (a root KPI and its levers with their \
             expressions) and refresh."
                .into(),
        );
        return Ok(page);
    };
    let levers = request.params.levers(c)?;
    let names: Vec<&str> = c.levers.iter().map(|l| l.name.as_str()).collect();
    let mut page = page(
        "what-if",
        &format!(
            "{root} = {} (the model's driver tree). Move the levers (percent) to see {root} against the last 28 days.",
            names.join(" × ")
        ),
    );
    for lever in &c.levers {
        let value =
            levers.iter().find(|(n, _)| *n == lever.name).map_or(String::new(), |(_, v)| format!("{}", v * 100.0));
        page.controls.push(Control::number(&format!("lever_{}", lever.name), &format!("{} %", lever.name), &value));
    }
    if !levers.is_empty() {
        if request.live {
            let map = levers.iter().map(|(name, _)| format!("{}: ?::DOUBLE", quote_literal(name))).collect::<Vec<_>>();
            let values: Vec<&dyn ToSql> = levers.iter().map(|(_, v)| v as &dyn ToSql).collect();
            let result = query(
                request.connection,
                &format!(
                    "SELECT kpi, baseline, scenario, delta, delta_pct, lever, contribution
                     FROM what_if({}, ts := {}, tree := {}, levers := MAP {{{}}})",
                    quote_literal(&request.connection.source("kpi_facts")),
                    quote_literal(&c.time_column),
                    quote_literal(&request.connection.source("kpi_drivers")),
                    map.join(", ")
                ),
                &values,
            )?;
            let moved = result.rows.iter().filter(|r| r[6].as_f64().is_some());
            let bars = bars(moved, |r| r[0].to_string(), 6, |r| number(&r[6]), |_| true);
            let text = result.rows.iter().find(|r| r[0].to_string() == root).map_or(String::new(), |r| {
                format!(
                    "{root} {} → {} ({}).",
                    compact(r[1].as_f64().unwrap_or(f64::NAN)),
                    compact(r[2].as_f64().unwrap_or(f64::NAN)),
                    percent(r[4].as_f64().unwrap_or(f64::NAN))
                )
            });
            page.sections.push(
                Section::new("Your scenario")
                    .text(text)
                    .chart(bar_chart(&format!("Each lever's part of the change of {root}"), &bars, WIDE))
                    .table(TableView::of(&result)),
            );
        } else {
            page.notice = Some(
                "Custom scenarios need the extension; the server runs without it. The grid below is precomputed."
                    .into(),
            );
        }
    }
    let grid = query(
        request.connection,
        "SELECT scenario, lever_name, lever_change, baseline, scenario_value, delta, delta_pct
         FROM tab_what_if WHERE kpi = ? ORDER BY lever_name, lever_change",
        &[&root],
    )?;
    let up_ten = grid.rows.iter().filter(|r| r[2].as_f64().is_some_and(|c| c > 0.09));
    let bars = bars(up_ten, |r| r[0].to_string(), 5, |r| number(&r[5]), |_| false);
    page.sections.push(
        Section::new(format!("Baseline scenario grid ({root})"))
            .chart(bar_chart(&format!("Change of {root} at +10% of each lever"), &bars, WIDE))
            .table(table_view(c, c.kpi(root), &grid))
            .csv(csv("tab_what_if", None)),
    );
    Ok(page)
}

fn models(request: &Request) -> Result<Page, AppError> {
    let mut page = page(
        "models",
        "Every forecasting model backtested on rolling origins (3 folds), the lowest MASE winning; \
         and every detection method scored against the labelled anomalies.",
    );
    let table = query(
        request.connection,
        "SELECT kpi, model, rank, mase, smape, mae, rmse, coverage, folds FROM tab_model_comparison ORDER BY kpi, rank",
        &[],
    )?;
    let mase = bars(
        &table.rows,
        |r| format!("{} ({})", r[1], r[0]),
        3,
        |r| format!("MASE {}", r[3]),
        |r| r[2].as_f64() == Some(1.0),
    );
    page.sections.push(
        Section::new("Backtest scores")
            .chart(bar_chart("MASE (lower is better)", &mase, WIDE))
            .table(table_view(request.context, None, &table))
            .csv(csv("tab_model_comparison", None)),
    );
    let detectors = query(
        request.connection,
        "SELECT kpi, method, rank, f1, point_adjusted_f1, precision, recall, tp, fp, fn \
         FROM tab_detector_comparison ORDER BY kpi, rank",
        &[],
    )?;
    let mut section = Section::new("Detectors against the labelled anomalies");
    if detectors.rows.is_empty() {
        section = section.text("No labelled anomalies yet: add confirmed ones to kpi_anomaly_labels and refresh.");
    } else {
        let f1 =
            bars(&detectors.rows, |r| r[1].to_string(), 3, |r| format!("F1 {}", r[3]), |r| r[2].as_f64() == Some(1.0));
        section = section.chart(bar_chart("F1 per detection method (higher is better)", &f1, WIDE));
    }
    page.sections
        .push(section.table(table_view(request.context, None, &detectors)).csv(csv("tab_detector_comparison", None)));
    let budget = query(
        request.connection,
        "SELECT label AS kpi, sensitivity, incidents, per_month, budget, meets_budget, in_use, chosen_by_budget \
         FROM tab_alert_budget",
        &[],
    )?;
    page.sections.push(
        Section::new("Alert budget: alerts over the history per sensitivity")
            .text(
                "Each incident is one alert per channel. Set alert_budget = \"2 per month\" in a KPI's detection \
                 settings to see every sensitivity against it; without a sensitivity of its own, refresh then runs \
                 the most sensitive level that keeps to the budget.",
            )
            .table(table_view(request.context, None, &budget))
            .csv(csv("tab_alert_budget", None)),
    );
    Ok(page)
}

fn replay(request: &Request) -> Result<Page, AppError> {
    let c = request.context;
    let kpi = request.params.kpi(c)?;
    let as_of = request.params.time("as_of", c)?.unwrap_or(c.data_to);
    let mut page = page("replay", "What the detector said at a past time step, knowing only the data up to then. Step through to replay an incident.");
    page.controls.push(kpi_picker(request, kpi));
    page.controls.push(time_picker(request, "as_of", "As of", as_of));
    let step = match c.grain {
        Grain::Hourly => Duration::hours(1),
        Grain::Daily => Duration::days(1),
        Grain::Weekly => Duration::days(7),
    };
    for (label, t) in [("← previous step", as_of - step), ("next step →", as_of + step)] {
        if t >= c.data_from && t <= c.data_to {
            page.links
                .push(Link { label: label.into(), href: url("/replay", &[("kpi", &kpi.key), ("as_of", &c.show(t))]) });
        }
    }
    let from = (as_of - history(c)).max(c.data_from);
    let (series, origin) = if request.live {
        let live = query(
            request.connection,
            &format!(
                "SELECT ts, value AS actual, expected, lower, upper, CASE WHEN is_anomaly THEN severity END AS severity,
                        false AS forecast, is_anomaly, score
                 FROM detect_anomalies({}, ts := {}, value := ?, as_of := ?, events := {}{}) WHERE ts >= ? ORDER BY ts",
                quote_literal(&request.connection.source("kpi_facts")),
                quote_literal(&c.time_column),
                quote_literal(&request.connection.source(&c.events)),
                kpi.detection
            ),
            &[&kpi.expression, &Moment::Time(as_of), &c.moment(from)],
        )?;
        (live, "replayed live by the extension with data up to then")
    } else {
        (kpi_series(request, kpi, from, as_of)?, "read from the stored walk-forward verdicts")
    };
    let stored = query(
        request.connection,
        "SELECT is_anomaly, severity, score, alerts_to_date FROM tab_replay WHERE kpi = ? AND as_of = ?",
        &[&kpi.key, &c.moment(as_of)],
    )?;
    let verdict =
        |flagged: bool, severity: &Cell| if flagged { format!("{severity} anomaly") } else { "normal".into() };
    let replayed = series.rows.last().map(|last| {
        let severity = series.get(last, "severity");
        verdict(matches!(severity, Cell::Text(_)), severity)
    });
    let shown = c.show(as_of);
    let mut text = format!("Verdict at {shown}, {origin}: {}.", replayed.clone().unwrap_or_else(|| "none".into()));
    if let Some(s) = stored.rows.first() {
        let stored = verdict(s[0] == Cell::Bool(true), &s[1]);
        let agreement = if replayed.as_ref() == Some(&stored) {
            "the same as the stored walk-forward verdict".to_string()
        } else {
            format!("the stored verdict says {stored} (the data changed since the last refresh?)")
        };
        text.push_str(&format!(" That is {agreement}. Alerts raised up to then: {}.", s[3]));
    }
    let recent = query(
        request.connection,
        "SELECT as_of, value, expected, score, severity, alerts_to_date FROM tab_replay
         WHERE kpi = ? AND as_of BETWEEN ? AND ? ORDER BY as_of DESC",
        &[&kpi.key, &c.moment(as_of - step * 13), &c.moment(as_of)],
    )?;
    page.sections.push(
        Section::new(format!("{} as of {shown}", kpi.label))
            .text(text)
            .chart(time_figure(
                c,
                kpi,
                &format!("{} known at {shown}", kpi.label),
                &series,
                &time_points(c, &series),
                Markers::Anomalies,
            ))
            .table(table_view(c, Some(kpi), &recent))
            .csv(csv("tab_replay", Some(kpi))),
    );
    Ok(page)
}

fn actions(request: &Request) -> Result<Page, AppError> {
    let mut page = page(
        "actions",
        "Incidents and what to check: each run of anomalous time steps of a KPI, its root cause, the driver that moved most there and the suggested next step.",
    );
    let table = incidents(request, None)?;
    let bars = bars(
        &table.rows,
        |r| format!("#{} {} ({})", table.get(r, "incident"), table.get(r, "kpi"), table.get(r, "main_cause")),
        table.column("worst_deviation_pct").unwrap_or(0),
        |r| pct(table.get(r, "worst_deviation_pct")),
        |r| table.get(r, "severity").to_string() == "critical",
    );
    page.sections.push(
        Section::new("Incidents and suggested actions")
            .text(format!(
                "{} incidents, most severe first; click a start for the root causes where the main cause was first named.",
                table.rows.len()
            ))
            .chart(bar_chart("Worst deviation from expected by incident", &bars, WIDE))
            .table(incident_view(request, &table))
            .csv(csv("tab_incidents", None)),
    );
    Ok(page)
}

/// The incidents of one KPI (or of all), most severe first.
fn incidents(request: &Request, kpi: Option<&Kpi>) -> Result<Table, AppError> {
    Ok(query(
        request.connection,
        "SELECT incident, kpi, start_ts, end_ts, duration, direction, peak_severity AS severity, worst_deviation_pct,
                main_cause, lever, lever_change_pct, action, cause_ts, suppression,
                kpi || '|' || CAST(start_ts AS VARCHAR) || '|' || direction AS incident_key,
                CAST(start_ts AS VARCHAR) AS start_key, feedback AS refreshed_verdict
         FROM tab_incidents WHERE ? IS NULL OR kpi = ? ORDER BY peak_score DESC, start_ts DESC, incident",
        &[&kpi.map(|k| k.key.clone()), &kpi.map(|k| k.key.clone())],
    )?)
}

/// A table of [`incidents`] whose start links to the RCA of the step that names the main cause.
fn incident_view(request: &Request, table: &Table) -> TableView {
    let c = request.context;
    let (ts, cause_ts) = (table.column("start_ts").unwrap_or(0), table.column("cause_ts").unwrap_or(0));
    table_view(request.context, None, table)
        .link(table, "start_ts", |r| {
            let t = r[cause_ts].as_moment().or(r[ts].as_moment());
            let t = t.map_or_else(|| r[ts].to_string(), |t| c.show(t));
            url("/rca", &[("kpi", &r[1].to_string()), ("day", &t)])
        })
        .without("incident_key")
        .without("start_key")
        .without("refreshed_verdict")
}
