//! The thirteen tabs. Each reads its view in `sql/views.sql` (plain tables, no extension);
//! the interactive ones (RCA for any day, what-if levers, replay) call the extension when the
//! server loaded it. Every value from the request is validated in `params` and bound, never
//! spliced into SQL.

use crate::context::{Context, Kpi};
use crate::error::AppError;
use crate::page::{url, Control, Link, Page, Section, TableView};
use crate::params::{Params, DIMENSIONS, LEVERS};
use crate::store::Session;
use chrono::{Duration, NaiveDate};
use duckdb::ToSql;
use kpiscope_charts::{
    bar_chart, compact, heatmap, percent, time_chart, tree_chart, Bar, HeatCell, TimePoint, TreeNode,
};
use kpiscope_db::read::{query, Cell, Table};
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
    ("trends", "Cohort, channel & region trends"),
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

fn date_picker(request: &Request, name: &str, label: &str, day: NaiveDate) -> Control {
    let c = request.context;
    Control::date(name, label, &day.to_string(), &c.data_from.to_string(), &c.data_to.to_string())
}

fn csv(view: &str, kpi: Option<&Kpi>) -> String {
    url(&format!("/csv/{view}"), &[("kpi", kpi.map_or("", |k| k.key.as_str()))])
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

/// Points for [`time_chart`] from a result with columns day, actual, expected, lower, upper,
/// severity (NULL when normal) and forecast.
fn time_points(table: &Table) -> Vec<TimePoint> {
    table
        .rows
        .iter()
        .map(|row| {
            let number = |name: &str| table.get(row, name).as_f64();
            TimePoint {
                label: match table.get(row, "day") {
                    Cell::Date(d) => d.format("%b %d").to_string(),
                    other => other.to_string(),
                },
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

fn kpi_series(request: &Request, kpi: &Kpi, from: NaiveDate, to: NaiveDate) -> Result<Table, AppError> {
    Ok(query(
        request.connection,
        "SELECT day, value AS actual, expected, lower, upper, CASE WHEN is_anomaly THEN severity END AS severity,
                false AS forecast
         FROM tab_anomalies WHERE kpi = ? AND day BETWEEN ? AND ? ORDER BY day",
        &[&kpi.key, &from, &to],
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
    Ok(format!("{} of {} days flagged: {} critical, {} major, {} minor.", r[3], r[4], r[0], r[1], r[2]))
}

fn overview(request: &Request) -> Result<Page, AppError> {
    let kpi = request.params.kpi(request.context)?;
    let mut page = page("overview", "Every KPI on the latest day against what was expected, its trend with the forecast, and the segments that moved most.");
    page.controls.push(kpi_picker(request, kpi));
    let cards = query(
        request.connection,
        "SELECT label, kpi, day, value, expected, vs_expected_pct, day_over_day_pct, week_over_week_pct,
                anomalies_30d, severity FROM tab_kpi_overview ORDER BY position",
        &[],
    )?;
    let view = TableView::of(&cards).link(&cards, "label", |row| url("/anomalies", &[("kpi", &row[1].to_string())]));
    page.sections.push(Section::new("KPIs on the latest day").table(view).csv(csv("tab_kpi_overview", None)));

    let series = query(
        request.connection,
        "SELECT f.day, f.actual, f.yhat AS expected, f.yhat_lower AS lower, f.yhat_upper AS upper,
                CASE WHEN a.is_anomaly THEN a.severity END AS severity, f.is_forecast AS forecast
         FROM tab_forecast f LEFT JOIN tab_anomalies a ON a.kpi = f.kpi AND a.day = f.day
         WHERE f.kpi = ? ORDER BY f.day",
        &[&kpi.key],
    )?;
    let chart = time_chart(&format!("{}: last 90 days and forecast", kpi.label), &time_points(&series), WIDE, TALL);
    page.sections.push(Section::new(format!("{} trend", kpi.label)).chart(&chart));

    let movers = query(
        request.connection,
        "SELECT dimension || '=' || member AS segment, revenue_last_7d, revenue_previous_7d, change, change_pct
         FROM tab_top_movers ORDER BY rank",
        &[],
    )?;
    let bars = bars(&movers.rows, |r| r[0].to_string(), 3, |r| pct(&r[4]), |_| false);
    page.sections.push(
        Section::new("Top movers: revenue, last 7 days against the 7 before")
            .chart(&bar_chart("Revenue change by segment", &bars, WIDE))
            .table(TableView::of(&movers))
            .csv(csv("tab_top_movers", None)),
    );
    Ok(page)
}

fn anomalies(request: &Request) -> Result<Page, AppError> {
    let kpi = request.params.kpi(request.context)?;
    let mut page = page("anomalies", "Each day judged only from the days before it; the band is the expected range, markers are coloured by severity (minor, major, critical).");
    page.controls.push(kpi_picker(request, kpi));
    let c = request.context;
    let series = kpi_series(request, kpi, c.data_from, c.data_to)?;
    let chart = time_chart(&format!("{} with expected band", kpi.label), &time_points(&series), WIDE, TALL);
    page.sections.push(Section::new(kpi.label.clone()).text(severity_counts(request, kpi)?).chart(&chart));
    let flagged = query(
        request.connection,
        "SELECT day, value, expected, deviation_pct, score, severity, incident_id, explanation
         FROM tab_anomalies WHERE kpi = ? AND is_anomaly ORDER BY day DESC",
        &[&kpi.key],
    )?;
    let key = kpi.key.clone();
    let view = TableView::of(&flagged)
        .link(&flagged, "day", |row| url("/rca", &[("kpi", &key), ("day", &row[0].to_string())]));
    page.sections.push(
        Section::new("Anomalous days (click a day for its root causes)")
            .table(view)
            .csv(csv("tab_anomalies", Some(kpi))),
    );
    Ok(page)
}

/// The contribution rows of `kpi` on `day`: stored by refresh, or computed live.
fn contributions(request: &Request, kpi: &Kpi, day: NaiveDate) -> Result<(Table, &'static str), AppError> {
    let stored = query(
        request.connection,
        "SELECT rank, segment, baseline, actual, delta, contribution, surprise, explanatory_power, is_root_cause
         FROM tab_root_cause WHERE kpi = ? AND day = ? ORDER BY rank",
        &[&kpi.key, &day],
    )?;
    if !stored.rows.is_empty() {
        return Ok((stored, "stored by refresh"));
    }
    if !request.live {
        return Ok((stored, "not stored for this day, and the server runs without the extension"));
    }
    let source = format!(
        "rca_contributions('{}', ts := 'day', dimensions := ['channel', 'region', 'cohort'], test := ?",
        request.connection.source("kpi_daily")
    );
    let columns =
        "row_number() OVER (ORDER BY contribution DESC) AS rank, segment, baseline, actual, delta, contribution,
                   surprise, explanatory_power, is_root_cause";
    let table = match (&kpi.metric, &kpi.numerator, &kpi.denominator) {
        (Some(metric), _, _) => query(
            request.connection,
            &format!("SELECT {columns} FROM {source}, metric := ?) ORDER BY rank LIMIT 10"),
            &[&day, metric],
        )?,
        (None, Some(numerator), Some(denominator)) => query(
            request.connection,
            &format!("SELECT {columns} FROM {source}, numerator := ?, denominator := ?) ORDER BY rank LIMIT 10"),
            &[&day, numerator, denominator],
        )?,
        _ => return Ok((Table::default(), "this KPI has no RCA columns in kpi_catalog")),
    };
    Ok((table, "computed live by the extension"))
}

fn rca(request: &Request) -> Result<Page, AppError> {
    let params = request.params;
    let kpi = params.kpi(request.context)?;
    let latest: Option<NaiveDate> =
        query(request.connection, "SELECT max(day) FROM tab_anomalies WHERE kpi = ? AND is_anomaly", &[&kpi.key])?
            .rows
            .first()
            .and_then(|r| if let Cell::Date(d) = r[0] { Some(d) } else { None });
    let day = params.date("day", request.context)?.or(latest).unwrap_or(request.context.data_to);
    let mut page = page("rca", "Which segments moved the KPI on a day: each segment's share of the gap between actual and expected, and the localised root-cause combination.");
    page.controls.push(kpi_picker(request, kpi));
    page.controls.push(date_picker(request, "day", "Day", day));

    let verdict = query(
        request.connection,
        "SELECT value, expected, deviation_pct, severity, score FROM tab_anomalies WHERE kpi = ? AND day = ?",
        &[&kpi.key, &day],
    )?;
    let (table, origin) = contributions(request, kpi, day)?;
    let root = table.rows.iter().find(|r| matches!(table.get(r, "is_root_cause"), Cell::Bool(true)));
    let mut summary = match verdict.rows.first() {
        Some(v) => {
            let gap = v[2].as_f64().unwrap_or(f64::NAN);
            let side = if gap < 0.0 { "below" } else { "above" };
            format!(
                "{} was {:.1}% {side} expected on {day} (severity {}, score {}).",
                kpi.label,
                gap.abs() * 100.0,
                v[3],
                v[4]
            )
        }
        None => format!("No verdict for {} on {day}.", kpi.label),
    };
    if let Some(r) = root {
        summary.push_str(&format!(
            " {} of the gap comes from {}.",
            percent(table.get(r, "contribution").as_f64().unwrap_or(f64::NAN)).trim_start_matches('+'),
            table.get(r, "segment")
        ));
    }
    summary.push_str(&format!(" Contributions {origin}."));
    let contribution = table.column("contribution").unwrap_or(0);
    let bars = bars(
        &table.rows,
        |r| table.get(r, "segment").to_string(),
        contribution,
        |r| pct(&r[contribution]),
        |r| matches!(table.get(r, "is_root_cause"), Cell::Bool(true)),
    );
    let key = kpi.key.clone();
    let day_text = day.to_string();
    let view = TableView::of(&table)
        .link(&table, "segment", |r| url("/rca", &[("kpi", &key), ("day", &day_text), ("segment", &r[1].to_string())]));
    page.sections.push(
        Section::new(format!("Contributions on {day}"))
            .text(summary)
            .chart(&bar_chart("Share of the gap by segment", &bars, WIDE))
            .table(view)
            .csv(csv("tab_root_cause", Some(kpi))),
    );

    // Drill-down: the trend of the chosen (or root-cause) segment around the day.
    let chosen = params.segment()?;
    let mut options = vec![(String::new(), "root cause".to_string())];
    options
        .extend(table.rows.iter().map(|r| (table.get(r, "segment").to_string(), table.get(r, "segment").to_string())));
    if let Some(c) = chosen.as_ref().filter(|c| !options.iter().any(|(v, _)| v == *c)) {
        options.push((c.clone(), c.clone()));
    }
    page.controls.push(Control::select("segment", "Segment trend", chosen.as_deref().unwrap_or(""), options));
    let segment = chosen.or_else(|| root.map(|r| table.get(r, "segment").to_string()));
    if let Some(segment) = segment {
        let trend = query(
            request.connection,
            &format!(
                "SELECT day, {} AS actual FROM kpi_daily
                 WHERE list_has_all(['channel=' || channel, 'region=' || region, 'cohort=' || cohort], string_split(?, ' & '))
                   AND day BETWEEN ? AND ? GROUP BY day ORDER BY day",
                kpi.expression
            ),
            &[&segment, &(day - Duration::days(60)), &(day + Duration::days(14))],
        )?;
        let mut points = time_points(&trend);
        if let Some(i) = trend.rows.iter().position(|r| r[0] == Cell::Date(day)) {
            points[i].severity = Some("critical".into());
        }
        page.sections.push(
            Section::new(format!("Trend of {segment}"))
                .text(format!("{} of {segment}, 60 days before to 14 days after {day} (the day is marked).", kpi.label))
                .chart(&time_chart(&format!("{}: {segment}", kpi.label), &points, WIDE, TALL)),
        );
    }
    Ok(page)
}

fn reports(request: &Request) -> Result<Page, AppError> {
    let mut page = page("reports", "Reports written by `kpiscope report` (Markdown, PDF, ZIP), newest first.");
    let mut files = crate::report_files(request.reports_dir);
    files.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.name.cmp(&b.name)));
    let table = Table {
        columns: vec!["file".into(), "bytes".into(), "modified".into()],
        rows: files
            .iter()
            .map(|f| vec![Cell::Text(f.name.clone()), Cell::Int(f.bytes as i64), Cell::Timestamp(f.modified.clone())])
            .collect(),
    };
    let view = TableView::of(&table).link(&table, "file", |r| format!("/reports/files/{}", r[0]));
    let text = match request.reports_dir {
        Some(dir) => format!("{} files in {}.", files.len(), dir.display()),
        None => "The server was started without --reports; no report directory to list.".to_string(),
    };
    page.sections.push(Section::new("Exported reports").text(text).table(view));
    let registered = query(
        request.connection,
        "SELECT file, format, as_of, bytes, sha256, created_at FROM tab_reports ORDER BY created_at DESC",
        &[],
    )?;
    page.sections.push(
        Section::new("Reports registered in the database")
            .table(TableView::of(&registered))
            .csv(csv("tab_reports", None)),
    );
    Ok(page)
}

fn ml_rca(request: &Request) -> Result<Page, AppError> {
    let mut page = page("ml-rca", "A decision tree over channel, region and cohort that separates anomalous segment-days from normal ones: the branches with a high anomalous share are where the problems live.");
    let nodes = query(
        request.connection,
        "SELECT node_id, parent_id, depth, rule, path, samples, anomalous, anomalous_share, impurity, is_leaf
         FROM tab_ml_rca WHERE kpi = 'revenue' ORDER BY node_id",
        &[],
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
        Section::new("Decision tree (revenue)")
            .chart(&tree_chart("Where anomalous segment-days concentrate", &tree))
            .table(TableView::of(&nodes))
            .csv(csv("tab_ml_rca", None)),
    );
    let importance = query(
        request.connection,
        "SELECT dimension, importance FROM tab_ml_rca_importance ORDER BY importance DESC",
        &[],
    )?;
    let bars = bars(&importance.rows, |r| r[0].to_string(), 1, |r| pct(&r[1]), |_| true);
    page.sections.push(
        Section::new("Dimension importance")
            .chart(&bar_chart("Importance", &bars, WIDE))
            .table(TableView::of(&importance))
            .csv(csv("tab_ml_rca_importance", None)),
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
        "SELECT day, value AS actual, CASE WHEN is_change_point THEN 'major' END AS severity
         FROM tab_change_points WHERE kpi = ? ORDER BY day",
        &[&kpi.key],
    )?;
    let breaks = query(
        request.connection,
        "SELECT day, probability, mean_before, mean_after, shift_pct FROM tab_change_points
         WHERE kpi = ? AND is_change_point ORDER BY day",
        &[&kpi.key],
    )?;
    page.sections.push(
        Section::new(format!("{}: change points", kpi.label))
            .text(format!("{} change points; markers show where a new regime starts.", breaks.rows.len()))
            .chart(&time_chart(&format!("{} with change points", kpi.label), &time_points(&series), WIDE, TALL))
            .table(TableView::of(&breaks))
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
        Section::new("Correlation matrix of the daily totals")
            .chart(&heatmap("Pearson correlation", &labels, &cells))
            .table(TableView::of(&matrix))
            .csv(csv("tab_correlation", None)),
    );
    Ok(page)
}

fn forecast(request: &Request) -> Result<Page, AppError> {
    let kpi = request.params.kpi(request.context)?;
    let mut page = page(
        "forecast",
        "The next 30 days with a 90% prediction interval, from the model that won the rolling-origin backtest.",
    );
    page.controls.push(kpi_picker(request, kpi));
    let series = query(
        request.connection,
        "SELECT day, actual, yhat AS expected, yhat_lower AS lower, yhat_upper AS upper, NULL AS severity,
                is_forecast AS forecast
         FROM tab_forecast WHERE kpi = ? ORDER BY day",
        &[&kpi.key],
    )?;
    let rows = query(
        request.connection,
        "SELECT day, yhat, yhat_lower, yhat_upper, model FROM tab_forecast WHERE kpi = ? AND is_forecast ORDER BY day",
        &[&kpi.key],
    )?;
    let model = rows.rows.first().map_or("no forecast stored".to_string(), |r| format!("Model: {}.", r[4]));
    page.sections.push(
        Section::new(format!("{} forecast", kpi.label))
            .text(model)
            .chart(&time_chart(
                &format!("{}: history and 30-day forecast", kpi.label),
                &time_points(&series),
                WIDE,
                TALL,
            ))
            .table(TableView::of(&rows))
            .csv(csv("tab_forecast", Some(kpi))),
    );
    Ok(page)
}

fn trends(request: &Request) -> Result<Page, AppError> {
    let kpi = request.params.kpi(request.context)?;
    let dimension = request.params.dimension()?;
    let mut page = page("trends", "Each KPI per channel, region or cohort over time.");
    page.controls.push(kpi_picker(request, kpi));
    let options = std::iter::once("all").chain(DIMENSIONS).map(|d| (d.to_string(), d.to_string())).collect();
    page.controls.push(Control::select("dimension", "Dimension", dimension, options));
    let data = query(
        request.connection,
        "SELECT member, day, value AS actual FROM kpi_daily_by_member WHERE kpi = ? AND dimension = ? ORDER BY member, day",
        &[&kpi.key, &dimension],
    )?;
    let mut members: Vec<String> = data.rows.iter().map(|r| r[0].to_string()).collect();
    members.dedup();
    for member in &members {
        let rows = Table {
            columns: vec!["day".into(), "actual".into()],
            rows: data.rows.iter().filter(|r| r[0].to_string() == *member).map(|r| r[1..].to_vec()).collect(),
        };
        let name = format!("{} — {dimension}={member}", kpi.label);
        page.sections.push(Section::new(name.clone()).chart(&time_chart(&name, &time_points(&rows), WIDE, 200.0)));
    }
    let (recent, previous) =
        (request.context.data_to - Duration::days(28), request.context.data_to - Duration::days(56));
    let summary = query(
        request.connection,
        "SELECT member, avg(value) FILTER (day > ?) AS avg_last_28d,
                avg(value) FILTER (day <= ? AND day > ?) AS avg_previous_28d,
                avg(value) FILTER (day > ?) / nullif(avg(value) FILTER (day <= ? AND day > ?), 0) - 1 AS change_pct
         FROM kpi_daily_by_member WHERE kpi = ? AND dimension = ? GROUP BY member ORDER BY member",
        &[&recent, &recent, &previous, &recent, &recent, &previous, &kpi.key, &dimension],
    )?;
    page.sections.push(
        Section::new("Last 28 days against the 28 before").table(TableView::of(&summary)).csv(csv("tab_trends", None)),
    );
    Ok(page)
}

fn compare(request: &Request) -> Result<Page, AppError> {
    let kpi = request.params.kpi(request.context)?;
    let dimension = request.params.dimension()?;
    let day = request.params.date("day", request.context)?.unwrap_or(request.context.data_to);
    let against = request
        .params
        .date("compare", request.context)?
        .unwrap_or_else(|| (day - Duration::days(7)).max(request.context.data_from));
    let mut page = page(
        "compare",
        "Any two days side by side, per channel, region or cohort (default: the same weekday a week earlier).",
    );
    page.controls.push(kpi_picker(request, kpi));
    page.controls.push(date_picker(request, "day", "Day", day));
    page.controls.push(date_picker(request, "compare", "Against", against));
    let options = std::iter::once("all").chain(DIMENSIONS).map(|d| (d.to_string(), d.to_string())).collect();
    page.controls.push(Control::select("dimension", "Dimension", dimension, options));
    let table = query(
        request.connection,
        "SELECT a.dimension, a.member, a.value, b.value AS compare_value, a.value - b.value AS delta,
                a.value / nullif(b.value, 0) - 1 AS delta_pct
         FROM kpi_daily_by_member a JOIN kpi_daily_by_member b USING (kpi, dimension, member)
         WHERE a.kpi = ? AND a.dimension IN ('all', ?) AND a.day = ? AND b.day = ?
         ORDER BY a.dimension = 'all' DESC, abs(a.value - b.value) DESC",
        &[&kpi.key, &dimension, &day, &against],
    )?;
    let is_total = |r: &[Cell]| r[0].to_string() == "all";
    let label = |r: &[Cell]| if is_total(r) { "total".to_string() } else { format!("{}={}", r[0], r[1]) };
    let bars = bars(&table.rows, label, 4, |r| pct(&r[5]), is_total);
    page.sections.push(
        Section::new(format!("{} on {day} against {against}", kpi.label))
            .chart(&bar_chart("Change by segment", &bars, WIDE))
            .table(TableView::of(&table))
            .csv(csv("tab_date_comparison", Some(kpi))),
    );
    Ok(page)
}

fn what_if(request: &Request) -> Result<Page, AppError> {
    let levers = request.params.levers()?;
    let mut page = page("what-if", "Revenue = sessions × conversion rate × payment success rate × average order value. Move the levers (percent) to see the daily revenue against the last 28 days.");
    for (name, label) in
        LEVERS.iter().zip(["Sessions %", "Conversion rate %", "Payment success rate %", "Average order value %"])
    {
        let value = levers.iter().find(|(n, _)| n == name).map_or(String::new(), |(_, v)| format!("{}", v * 100.0));
        page.controls.push(Control::number(name, label, &value));
    }
    if !levers.is_empty() {
        if request.live {
            let map = levers.iter().map(|(name, _)| format!("'{name}': ?::DOUBLE")).collect::<Vec<_>>().join(", ");
            let values: Vec<&dyn ToSql> = levers.iter().map(|(_, v)| v as &dyn ToSql).collect();
            let result = query(
                request.connection,
                &format!(
                    "SELECT kpi, baseline, scenario, delta, delta_pct, lever, contribution
                     FROM what_if('{}', ts := 'day', levers := MAP {{{map}}})",
                    request.connection.source("kpi_daily")
                ),
                &values,
            )?;
            let levers = result.rows.iter().filter(|r| r[6].as_f64().is_some());
            let bars = bars(levers, |r| r[0].to_string(), 6, |r| number(&r[6]), |_| true);
            let revenue = result.rows.iter().find(|r| r[0].to_string() == "revenue");
            let text = revenue.map_or(String::new(), |r| {
                format!(
                    "Daily revenue {} → {} ({}).",
                    compact(r[1].as_f64().unwrap_or(f64::NAN)),
                    compact(r[2].as_f64().unwrap_or(f64::NAN)),
                    percent(r[4].as_f64().unwrap_or(f64::NAN))
                )
            });
            page.sections.push(
                Section::new("Your scenario")
                    .text(text)
                    .chart(&bar_chart("Each lever's part of the revenue change", &bars, WIDE))
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
         FROM tab_what_if WHERE kpi = 'revenue' ORDER BY lever_name, lever_change",
        &[],
    )?;
    let up_ten = grid.rows.iter().filter(|r| r[2].as_f64().is_some_and(|c| c > 0.09));
    let bars = bars(up_ten, |r| r[0].to_string(), 5, |r| number(&r[5]), |_| false);
    page.sections.push(
        Section::new("Baseline scenario grid (revenue)")
            .chart(&bar_chart("Daily revenue change at +10% of each lever", &bars, WIDE))
            .table(TableView::of(&grid))
            .csv(csv("tab_what_if", None)),
    );
    Ok(page)
}

fn models(request: &Request) -> Result<Page, AppError> {
    let mut page = page(
        "models",
        "Every forecasting model backtested on rolling origins (3 folds of 14 days), the lowest MASE winning; \
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
            .chart(&bar_chart("MASE (lower is better)", &mase, WIDE))
            .table(TableView::of(&table))
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
        section = section.chart(&bar_chart("F1 per detection method (higher is better)", &f1, WIDE));
    }
    page.sections.push(section.table(TableView::of(&detectors)).csv(csv("tab_detector_comparison", None)));
    Ok(page)
}

fn replay(request: &Request) -> Result<Page, AppError> {
    let kpi = request.params.kpi(request.context)?;
    let c = request.context;
    let as_of = request.params.date("as_of", c)?.unwrap_or(c.data_to);
    let mut page = page("replay", "What the detector said on a past day, knowing only the data up to that day. Step through the days to replay an incident.");
    page.controls.push(kpi_picker(request, kpi));
    page.controls.push(date_picker(request, "as_of", "As of", as_of));
    for (label, day) in [("← previous day", as_of - Duration::days(1)), ("next day →", as_of + Duration::days(1))] {
        if day >= c.data_from && day <= c.data_to {
            page.links.push(Link {
                label: label.into(),
                href: url("/replay", &[("kpi", &kpi.key), ("as_of", &day.to_string())]),
            });
        }
    }
    let from = (as_of - Duration::days(90)).max(c.data_from);
    let (series, origin) = if request.live {
        let live = query(
            request.connection,
            &format!(
                "SELECT ts AS day, value AS actual, expected, lower, upper, CASE WHEN is_anomaly THEN severity END AS severity,
                        false AS forecast, is_anomaly, score
                 FROM detect_anomalies('{}', ts := 'day', value := ?, as_of := ?) WHERE ts >= ? ORDER BY ts",
                request.connection.source("kpi_daily")
            ),
            &[&kpi.expression, &as_of, &from],
        )?;
        (live, "replayed live by the extension with data up to that day")
    } else {
        (kpi_series(request, kpi, from, as_of)?, "read from the stored walk-forward verdicts")
    };
    let stored = query(
        request.connection,
        "SELECT is_anomaly, severity, score, alerts_to_date FROM tab_replay WHERE kpi = ? AND as_of = ?",
        &[&kpi.key, &as_of],
    )?;
    let verdict =
        |flagged: bool, severity: &Cell| if flagged { format!("{severity} anomaly") } else { "normal".into() };
    let replayed = series.rows.last().map(|last| {
        let severity = series.get(last, "severity");
        verdict(matches!(severity, Cell::Text(_)), severity)
    });
    let mut text = format!("Verdict for {as_of}, {origin}: {}.", replayed.clone().unwrap_or_else(|| "none".into()));
    if let Some(s) = stored.rows.first() {
        let stored = verdict(s[0] == Cell::Bool(true), &s[1]);
        let agreement = if replayed.as_ref() == Some(&stored) {
            "the same as the stored walk-forward verdict".to_string()
        } else {
            format!("the stored verdict says {stored} (the data changed since the last refresh?)")
        };
        text.push_str(&format!(" That is {agreement}. Alerts raised up to that day: {}.", s[3]));
    }
    let recent = query(
        request.connection,
        "SELECT as_of, value, expected, score, severity, alerts_to_date FROM tab_replay
         WHERE kpi = ? AND as_of BETWEEN ? AND ? ORDER BY as_of DESC",
        &[&kpi.key, &(as_of - Duration::days(13)), &as_of],
    )?;
    page.sections.push(
        Section::new(format!("{} as of {as_of}", kpi.label))
            .text(text)
            .chart(&time_chart(&format!("{} known on {as_of}", kpi.label), &time_points(&series), WIDE, TALL))
            .table(TableView::of(&recent))
            .csv(csv("tab_replay", Some(kpi))),
    );
    Ok(page)
}

fn actions(request: &Request) -> Result<Page, AppError> {
    let mut page = page("actions", "Suggested next steps: for each root-cause segment, the lever of the revenue driver tree that moved most, and what to check.");
    let table = query(
        request.connection,
        "SELECT kpi, segment, lever, first_day, last_day, days, severity, lever_change_pct, contribution, action
         FROM tab_actions ORDER BY score DESC, first_day DESC",
        &[],
    )?;
    let bars =
        bars(&table.rows, |r| format!("{} ({})", r[1], r[2]), 7, |r| pct(&r[7]), |r| r[6].to_string() == "critical");
    let view = TableView::of(&table)
        .link(&table, "first_day", |r| url("/rca", &[("kpi", &r[0].to_string()), ("day", &r[3].to_string())]));
    page.sections.push(
        Section::new("Suggested actions")
            .text(format!("{} suggestions, most severe first; click a day for its root causes.", table.rows.len()))
            .chart(&bar_chart("How far the lever moved in the segment", &bars, WIDE))
            .table(view)
            .csv(csv("tab_actions", None)),
    );
    Ok(page)
}
