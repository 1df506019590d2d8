//! What a report says, read from the tab views of a refreshed database.

use crate::ReportError;
use chrono::{Duration, NaiveDate};
use duckdb::{Connection, ToSql};
use kpiscope_alerts::Sent;
use kpiscope_charts::{bar_chart, compact, percent, time_chart, Bar, Figure, TimePoint};
use kpiscope_db::catalog::{holds_kpi_values, short_value, Catalog, Grain};
use kpiscope_db::read::{query, Cell, Table};
use serde::Serialize;

/// Days of history a report covers, ending at its as-of day.
pub const PERIOD_DAYS: i64 = 28;

/// Days of history in each KPI chart: 90, or 14 for hourly data, 2 years for weekly.
fn chart_days(grain: Grain) -> i64 {
    match grain {
        Grain::Hourly => 14,
        Grain::Daily => 90,
        Grain::Weekly => 728,
    }
}
/// Anomalies that get their own root-cause section.
const TOP_ANOMALIES: usize = 3;

/// A KPI in the report.
#[derive(Debug, Clone, Serialize)]
pub struct KpiInfo {
    /// Key.
    pub key: String,
    /// Display name.
    pub label: String,
    /// `count`, `currency`, `percent` or `number`.
    pub unit: String,
}

/// A table for Markdown and PDF: headers and display strings.
#[derive(Debug, Clone, Serialize)]
pub struct TextTable {
    /// Headers.
    pub columns: Vec<String>,
    /// Rows of display text.
    pub rows: Vec<Vec<String>>,
}

impl TextTable {
    /// KPI values in the unit of the row's KPI (its `label` column, else `kpi`), short like
    /// the charts' labels; `*_pct` as signed percentages.
    fn of(table: &Table, headers: &[&str], catalog: &Catalog, kpi: Option<&str>) -> TextTable {
        let label = table.column("label");
        let rows = table
            .rows
            .iter()
            .map(|row| {
                let kpi = match label {
                    Some(i) => catalog.kpi_labelled(&row[i].to_string()),
                    None => kpi.and_then(|key| catalog.kpi(key)),
                };
                row.iter()
                    .zip(&table.columns)
                    .map(|(cell, column)| match (cell.as_f64(), kpi) {
                        (Some(v), _) if column.ends_with("_pct") => percent(v),
                        (Some(v), Some(kpi)) if holds_kpi_values(column) => kpi.short(v),
                        (Some(v), _) if matches!(cell, Cell::Float(_)) => compact(v),
                        _ => cell.to_string(),
                    })
                    .collect()
            })
            .collect();
        TextTable { columns: headers.iter().map(|h| h.to_string()).collect(), rows }
    }
}

/// A chart with the file name it gets in the ZIP.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// File name in the report's charts folder ([`crate::charts_dir`]).
    pub file: String,
    /// Caption.
    pub title: String,
    /// The figure (drawn as SVG for Markdown/ZIP, as PDF paths in the PDF).
    #[serde(skip)]
    pub figure: Figure,
}

/// Root causes of one anomalous day.
#[derive(Debug, Clone, Serialize)]
pub struct RootCause {
    /// KPI label.
    pub kpi: String,
    /// The day.
    pub day: String,
    /// One sentence.
    pub sentence: String,
    /// Top segments.
    pub table: TextTable,
    /// Contribution chart.
    pub chart: Chart,
}

/// One incident: a run of anomalous time steps of a KPI, as `tab_incidents` has it.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// Incident number.
    pub number: i64,
    /// KPI label.
    pub kpi: String,
    /// First and last time step, for display.
    pub span: String,
    /// Duration in words (`3 days`).
    pub duration: String,
    /// Worst severity.
    pub severity: String,
    /// Largest deviation from expected, as a signed percentage.
    pub worst_deviation: String,
    /// The main root-cause segment (empty when RCA named none).
    pub cause: String,
    /// What happened, with the cause: one sentence.
    pub sentence: String,
    /// The suggested action with the driver that moved, or why there is none.
    pub recommendation: String,
    /// What was done about it: the alerts sent (from the alert log) and the verdict given in
    /// the viewer or the dismissed incident that suppresses it; empty when neither.
    pub follow_up: String,
}

/// A CSV extract for the ZIP.
#[derive(Debug, Clone)]
pub struct Extract {
    /// File name under `data/`.
    pub file: String,
    /// CSV text.
    pub csv: String,
}

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    /// Last day covered.
    pub as_of: String,
    /// First day of the period.
    pub period_start: String,
    /// First and last day in the database.
    pub data_from: String,
    /// Last day in the database (freshness).
    pub data_to: String,
    /// When refresh last ran.
    pub refreshed_at: String,
    /// KPIs covered.
    pub kpis: Vec<KpiInfo>,
    /// Executive summary sentences.
    pub summary: Vec<String>,
    /// Severity counts in the period: critical, major, minor.
    pub severity_counts: [i64; 3],
    /// KPIs on the as-of day.
    pub overview: TextTable,
    /// Incidents in the period, most severe first.
    pub incidents: Vec<Incident>,
    /// The incidents as a table (section 3).
    pub incident_table: TextTable,
    /// Anomalous days in the period.
    pub anomalies: TextTable,
    /// Root causes of the top anomalies.
    pub root_causes: Vec<RootCause>,
    /// One chart per KPI.
    pub kpi_charts: Vec<Chart>,
    /// Forecast summary (only when the report is as of the last day).
    pub forecast: Option<TextTable>,
    /// Methods and parameters.
    pub methods: Vec<(String, String)>,
    /// CSV extracts for the ZIP.
    #[serde(skip)]
    pub extracts: Vec<Extract>,
}

impl ReportData {
    /// Reads the report for `as_of` (default: the last day) and the KPIs asked for (default: all);
    /// `sent` is what the alert log records.
    pub fn load(
        connection: &Connection,
        as_of: Option<NaiveDate>,
        kpis: &[String],
        sent: &[Sent],
    ) -> Result<ReportData, ReportError> {
        let catalog = Catalog::read(connection).map_err(|_| ReportError::NotRefreshed)?;
        let (data_from, data_to) = (catalog.data_from.date(), catalog.data_to.date());
        let as_of = as_of.unwrap_or(data_to);
        if as_of < data_from || as_of > data_to {
            return Err(ReportError::NoData { as_of, from: data_from, to: data_to });
        }
        let all: Vec<KpiInfo> = catalog
            .kpis
            .iter()
            .map(|k| KpiInfo { key: k.key.clone(), label: k.label.clone(), unit: k.unit.clone() })
            .collect();
        let chosen: Vec<KpiInfo> = if kpis.is_empty() {
            all.clone()
        } else {
            kpis.iter()
                .map(|k| {
                    all.iter().find(|c| c.key == *k).cloned().ok_or_else(|| ReportError::UnknownKpi {
                        kpi: k.clone(),
                        known: all.iter().map(|c| c.key.clone()).collect::<Vec<_>>().join(", "),
                    })
                })
                .collect::<Result<_, _>>()?
        };
        let keys: Vec<String> = chosen.iter().map(|k| k.key.clone()).collect();
        let keys_list = keys.join(",");
        let start = as_of - Duration::days(PERIOD_DAYS - 1);
        let in_kpis = "list_contains(string_split(?, ','), kpi)";

        let overview = query(
            connection,
            &format!(
                "WITH w AS (
                     SELECT kpi, label, ts, value, expected, severity,
                            lag(value, {week}) OVER (PARTITION BY kpi ORDER BY ts) AS week_before,
                            avg(value) OVER (PARTITION BY kpi ORDER BY ts RANGE BETWEEN INTERVAL 27 DAY PRECEDING AND CURRENT ROW) AS avg_28d
                     FROM tab_anomalies WHERE {in_kpis} AND CAST(ts AS DATE) <= ?)
                 SELECT w.label, value, expected, value / nullif(expected, 0) - 1 AS vs_expected_pct,
                        value / nullif(week_before, 0) - 1 AS week_over_week_pct, avg_28d, severity
                 FROM w JOIN kpi_catalog c USING (kpi) WHERE ts = (SELECT max(ts) FROM w) ORDER BY c.position",
                week = catalog.grain.steps_per_week()
            ),
            &[&keys_list, &as_of],
        )?;
        let anomalies = query(
            connection,
            &format!(
                "SELECT ts, label, value, expected, deviation_pct, score, severity FROM tab_anomalies
                 WHERE {in_kpis} AND is_anomaly AND CAST(ts AS DATE) BETWEEN ? AND ? ORDER BY ts DESC, score DESC"
            ),
            &[&keys_list, &start, &as_of],
        )?;
        let counts = query(
            connection,
            &format!(
                "SELECT count(*) FILTER (severity = 'critical'), count(*) FILTER (severity = 'major'),
                        count(*) FILTER (severity = 'minor')
                 FROM tab_anomalies WHERE {in_kpis} AND is_anomaly AND CAST(ts AS DATE) BETWEEN ? AND ?"
            ),
            &[&keys_list, &start, &as_of],
        )?;
        let count = |i: usize| counts.rows[0][i].as_f64().unwrap_or(0.0) as i64;
        let severity_counts = [count(0), count(1), count(2)];

        // Root causes of the strongest anomalies in the period that have an RCA: one per time
        // step (several KPIs of one incident share their causes).
        let top = query(
            connection,
            &format!(
                "SELECT DISTINCT r.kpi, c.label, r.ts, r.score, a.deviation_pct FROM tab_root_cause r
                 JOIN kpi_catalog c USING (kpi) JOIN tab_anomalies a ON a.kpi = r.kpi AND a.ts = r.ts
                 WHERE list_contains(string_split(?, ','), r.kpi) AND CAST(r.ts AS DATE) BETWEEN ? AND ?
                 QUALIFY row_number() OVER (PARTITION BY r.ts ORDER BY r.score DESC, r.kpi) = 1
                 ORDER BY r.score DESC, r.ts DESC LIMIT {TOP_ANOMALIES}"
            ),
            &[&keys_list, &start, &as_of],
        )?;
        let mut root_causes = Vec::new();
        for t in &top.rows {
            let (kpi, label, deviation) = (t[0].to_string(), t[1].to_string(), t[4].as_f64());
            let Some(moment) = t[2].as_moment() else { continue };
            let day = catalog.show(moment);
            let rows = query(
                connection,
                "SELECT segment, baseline, actual, delta, contribution AS contribution_pct, CASE WHEN is_root_cause THEN 'yes' ELSE '' END
                 FROM tab_root_cause WHERE kpi = ? AND ts = ? ORDER BY rank LIMIT 5",
                &[&kpi, &catalog.moment(moment)],
            )?;
            let is_root = |r: &[Cell]| r[5] == Cell::Text("yes".into());
            let root = rows.rows.iter().find(|r| is_root(r));
            let mut sentence = match deviation {
                Some(d) => format!(
                    "{label} was {:.0}% {} expected at {day}",
                    d.abs() * 100.0,
                    if d < 0.0 { "below" } else { "above" }
                ),
                None => format!("{label} was anomalous at {day}"),
            };
            if let Some(r) = root {
                sentence.push_str(&format!(
                    "; {:.0}% of the gap comes from {}",
                    r[4].as_f64().unwrap_or(f64::NAN) * 100.0,
                    r[0].to_string().replace(" & ", " and ")
                ));
            }
            sentence.push('.');
            let bars: Vec<Bar> = rows
                .rows
                .iter()
                .map(|r| Bar {
                    label: r[0].to_string(),
                    value: r[4].as_f64().unwrap_or(0.0),
                    text: format!("{:.0}%", r[4].as_f64().unwrap_or(f64::NAN) * 100.0),
                    highlight: is_root(r),
                })
                .collect();
            let title = format!("{label} at {day}: share of the gap by segment");
            root_causes.push(RootCause {
                kpi: label,
                day: day.clone(),
                sentence,
                table: TextTable::of(
                    &rows,
                    &["segment", "baseline", "actual", "delta", "share of gap", "root cause"],
                    &catalog,
                    Some(kpi.as_str()),
                ),
                chart: Chart {
                    file: format!("rca_{kpi}_{}.svg", day.replace([' ', ':'], "_")),
                    figure: bar_chart(&title, &bars, 520.0),
                    title,
                },
            });
        }

        let mut kpi_charts = Vec::new();
        for kpi in &chosen {
            let series = query(
                connection,
                "SELECT f.ts, coalesce(f.actual, a.value) AS actual, coalesce(a.expected, f.yhat) AS expected,
                        coalesce(a.lower, f.yhat_lower) AS lower, coalesce(a.upper, f.yhat_upper) AS upper,
                        CASE WHEN a.is_anomaly THEN a.severity END AS severity, f.is_forecast AS forecast
                 FROM (SELECT kpi, ts, NULL::DOUBLE AS actual, NULL::DOUBLE AS yhat, NULL::DOUBLE AS yhat_lower,
                              NULL::DOUBLE AS yhat_upper, false AS is_forecast
                       FROM tab_anomalies WHERE kpi = ? AND CAST(ts AS DATE) BETWEEN ? AND ?
                       UNION ALL
                       SELECT kpi, ts, actual, yhat, yhat_lower, yhat_upper, is_forecast
                       FROM tab_forecast WHERE kpi = ? AND is_forecast AND ? = (SELECT max(CAST(ts AS DATE)) FROM tab_anomalies)) f
                 LEFT JOIN tab_anomalies a ON a.kpi = f.kpi AND a.ts = f.ts
                 ORDER BY f.ts",
                &[&kpi.key, &(as_of - Duration::days(chart_days(catalog.grain) - 1)), &as_of, &kpi.key, &as_of],
            )?;
            let title = format!("{}: expected band, anomalies and forecast", kpi.label);
            kpi_charts.push(Chart {
                file: format!("kpi_{}.svg", kpi.key),
                figure: time_chart(&title, &time_points(&catalog, &series), (520.0, 220.0), &|v| {
                    short_value(&kpi.unit, v)
                }),
                title,
            });
        }

        let forecast = if as_of == data_to {
            // Every k-th step of the horizon: weekly for daily data, every 12 hours, every 4 weeks.
            let k = match catalog.grain {
                Grain::Hourly => 12,
                Grain::Daily => 7,
                Grain::Weekly => 4,
            };
            let table = query(
                connection,
                &format!(
                    "SELECT c.label, f.model, row_number() OVER (PARTITION BY f.kpi ORDER BY f.ts) AS steps_ahead,
                            f.ts, f.yhat, f.yhat_lower, f.yhat_upper
                     FROM tab_forecast f JOIN kpi_catalog c USING (kpi)
                     WHERE f.is_forecast AND list_contains(string_split(?, ','), f.kpi)
                     QUALIFY row_number() OVER (PARTITION BY f.kpi ORDER BY f.ts) % {k} = 0
                     ORDER BY c.position, f.ts"
                ),
                &[&keys_list],
            )?;
            Some(TextTable::of(
                &table,
                &["KPI", "model", "steps ahead", "time", "forecast", "90% low", "90% high"],
                &catalog,
                None,
            ))
        } else {
            None
        };
        let incident_rows = query(
            connection,
            "SELECT incident, i.label, start_ts, end_ts, duration, direction, peak_severity, worst_deviation_pct,
                    main_cause, lever, lever_change_pct, action,
                    kpi || '|' || CAST(start_ts AS VARCHAR) || '|' || direction, feedback, feedback_note,
                    strftime(feedback_at, '%Y-%m-%d'), suppression
             FROM tab_incidents i JOIN kpi_catalog c USING (kpi)
             WHERE list_contains(string_split(?, ','), kpi) AND CAST(end_ts AS DATE) >= ? AND CAST(start_ts AS DATE) <= ?
             ORDER BY peak_score DESC, start_ts DESC, c.position",
            &[&keys_list, &start, &as_of],
        )?;
        let incidents: Vec<Incident> = incident_rows.rows.iter().map(|r| incident(&catalog, r, sent)).collect();
        let incident_table = TextTable {
            columns: ["incident", "KPI", "time steps", "duration", "severity", "worst deviation", "root cause"]
                .map(String::from)
                .to_vec(),
            rows: incidents
                .iter()
                .map(|i| {
                    vec![
                        i.number.to_string(),
                        i.kpi.clone(),
                        i.span.clone(),
                        i.duration.clone(),
                        i.severity.clone(),
                        i.worst_deviation.clone(),
                        i.cause.clone(),
                    ]
                })
                .collect(),
        };

        // Incidents lead; the latest step takes one line unless a KPI was flagged on it.
        let mut affected: Vec<&str> = incidents.iter().map(|i| i.kpi.as_str()).collect();
        affected.sort_unstable();
        affected.dedup();
        let mut summary = vec![format!(
            "Between {start} and {as_of}, {} incidents in {} of {} KPIs ({} anomalous time steps flagged: {} critical, {} major, {} minor).",
            incidents.len(),
            affected.len(),
            chosen.len(),
            anomalies.rows.len(),
            severity_counts[0],
            severity_counts[1],
            severity_counts[2]
        )];
        summary.extend(incidents.iter().take(TOP_ANOMALIES).map(|i| i.sentence.clone()));
        let mut quiet = Vec::new();
        for row in &overview.rows {
            let Some(gap) = row[3].as_f64() else { continue };
            let kpi = catalog.kpi_labelled(&row[0].to_string());
            let value = kpi.map_or_else(|| row[1].to_string(), |k| k.format(row[1].as_f64().unwrap_or(f64::NAN)));
            match row[6].to_string().as_str() {
                severity @ ("minor" | "major" | "critical") => summary.push(format!(
                    "On {as_of}, {} was {value}, {:.1}% {} expected ({severity}).",
                    row[0],
                    gap.abs() * 100.0,
                    if gap < 0.0 { "below" } else { "above" }
                )),
                _ => quiet.push(format!("{} {value} ({} vs expected)", row[0], percent(gap))),
            }
        }
        if !quiet.is_empty() {
            let lead =
                if quiet.len() == overview.rows.len() { "no KPI was flagged" } else { "the others were not flagged" };
            summary.push(format!("On {as_of} {lead}: {}.", quiet.join("; ")));
        }
        if !incidents.is_empty() {
            summary.push(format!("Recommendations for each of the {} incidents are in section 5.", incidents.len()));
        }

        let period: [&dyn ToSql; 3] = [&keys_list, &start, &as_of];
        let mut extracts = vec![
            extract(connection, "anomalies.csv", &format!("SELECT * FROM tab_anomalies WHERE {in_kpis} AND CAST(ts AS DATE) BETWEEN ? AND ? ORDER BY kpi, ts"), &period)?,
            extract(connection, "root_causes.csv", &format!("SELECT * FROM tab_root_cause WHERE {in_kpis} AND CAST(ts AS DATE) BETWEEN ? AND ? ORDER BY ts, rank"), &period)?,
            extract(connection, "incidents.csv", &format!("SELECT * FROM tab_incidents WHERE {in_kpis} AND CAST(end_ts AS DATE) >= ? AND CAST(start_ts AS DATE) <= ? ORDER BY incident"), &period)?,
            extract(connection, "actions.csv", &format!("SELECT * FROM tab_actions WHERE {in_kpis} AND CAST(last_ts AS DATE) >= ? AND CAST(first_ts AS DATE) <= ? ORDER BY score DESC"), &period)?,
        ];
        if forecast.is_some() {
            let sql = format!("SELECT * FROM tab_forecast WHERE {in_kpis} AND is_forecast ORDER BY kpi, ts");
            extracts.push(extract(connection, "forecast.csv", &sql, &[&keys_list])?);
        }

        Ok(ReportData {
            as_of: as_of.to_string(),
            period_start: start.to_string(),
            data_from: data_from.to_string(),
            data_to: data_to.to_string(),
            refreshed_at: catalog.refreshed_at.clone(),
            kpis: chosen,
            summary,
            severity_counts,
            overview: TextTable::of(
                &overview,
                &["KPI", "value", "expected", "vs expected", "vs week before", "28-day avg", "severity"],
                &catalog,
                None,
            ),
            anomalies: TextTable::of(
                &anomalies,
                &["time", "KPI", "value", "expected", "deviation", "score", "severity"],
                &catalog,
                None,
            ),
            root_causes,
            incidents,
            incident_table,
            kpi_charts,
            forecast,
            methods: methods(&catalog),
            extracts,
        })
    }

    /// The report's title.
    pub fn title(&self) -> String {
        format!("KPI report, {} to {}", self.period_start, self.as_of)
    }

    /// Every chart of the report.
    pub fn charts(&self) -> impl Iterator<Item = &Chart> {
        self.kpi_charts.iter().chain(self.root_causes.iter().map(|r| &r.chart))
    }
}

/// An incident from a `tab_incidents` row (incident, label, start, end, duration, direction,
/// severity, worst deviation, main cause, lever, lever change, action, key, verdict, note,
/// verdict day, suppression) and the alert log.
fn incident(catalog: &Catalog, r: &[Cell], sent: &[Sent]) -> Incident {
    let show = |cell: &Cell| cell.as_moment().map_or_else(|| cell.to_string(), |t| catalog.show(t));
    let (start, end) = (show(&r[2]), show(&r[3]));
    let (span, when) = if start == end {
        (start.clone(), format!("on {start}"))
    } else {
        (format!("{start} to {end}"), format!("from {start} to {end}"))
    };
    let worst = r[7].as_f64().unwrap_or(f64::NAN);
    let mut sentence = format!(
        "{} {} {:.1}% {} expected at worst {when} ({}, {})",
        r[1],
        if r[5].to_string() == "up" { "rose" } else { "fell" },
        worst.abs() * 100.0,
        if worst < 0.0 { "below" } else { "above" },
        r[4],
        r[6]
    );
    let recommendation = match &r[8] {
        Cell::Null => {
            sentence.push_str("; RCA named no root cause.");
            "No root cause was named, so no action is suggested; look at the RCA of its time steps.".to_string()
        }
        cause => {
            let cause = cause.to_string().replace(" & ", " and ");
            sentence.push_str(&format!("; root cause {cause}."));
            let lever = match (&r[9], r[10].as_f64()) {
                (Cell::Text(lever), Some(change)) => {
                    format!("The driver {lever} moved {} in {cause}. ", percent(change))
                }
                _ => String::new(),
            };
            format!("{lever}{}", if r[11] == Cell::Null { format!("Look into {cause}.") } else { r[11].to_string() })
        }
    };
    let number = r[0].as_f64().unwrap_or(0.0) as i64;
    Incident {
        number,
        kpi: r[1].to_string(),
        span,
        duration: r[4].to_string(),
        severity: r[6].to_string(),
        worst_deviation: percent(worst),
        cause: if r[8] == Cell::Null { String::new() } else { r[8].to_string() },
        sentence,
        recommendation,
        follow_up: follow_up(r, sent),
    }
}

/// The alerts sent for an incident and the verdict on it, in words.
fn follow_up(r: &[Cell], sent: &[Sent]) -> String {
    let mut parts = Vec::new();
    let alerts = kpiscope_alerts::describe(sent, &r[12].to_string());
    if !alerts.is_empty() {
        parts.push(format!("Alerts: {alerts}."));
    }
    match (&r[13], &r[16]) {
        (Cell::Text(verdict), _) => {
            let note = match &r[14] {
                Cell::Text(note) if !note.is_empty() => format!(": {note}"),
                _ => String::new(),
            };
            let verdict = if verdict == "confirmed" { "Confirmed" } else { "Dismissed" };
            parts.push(format!("{verdict} in the viewer on {}{note}.", r[15]));
        }
        (_, Cell::Text(suppression)) => parts.push(suppression.clone()),
        _ => {}
    }
    parts.join(" ")
}

fn extract(connection: &Connection, file: &str, sql: &str, params: &[&dyn ToSql]) -> Result<Extract, ReportError> {
    Ok(Extract { file: file.to_string(), csv: query(connection, sql, params)?.to_csv() })
}

fn time_points(catalog: &Catalog, table: &Table) -> Vec<TimePoint> {
    table
        .rows
        .iter()
        .map(|row| TimePoint {
            label: row[0].as_moment().map_or_else(|| row[0].to_string(), |t| catalog.axis(t)),
            actual: row[1].as_f64(),
            expected: row[2].as_f64(),
            lower: row[3].as_f64(),
            upper: row[4].as_f64(),
            severity: match &row[5] {
                Cell::Text(s) => Some(s.clone()),
                _ => None,
            },
            forecast: row[6] == Cell::Bool(true),
        })
        .collect()
}

fn methods(catalog: &Catalog) -> Vec<(String, String)> {
    let step = catalog.grain.step_name();
    let dimensions =
        if catalog.dimensions.is_empty() { "no dimensions".to_string() } else { catalog.dimensions.join(", ") };
    let levers: Vec<&str> = catalog.levers.iter().map(|l| l.name.as_str()).collect();
    vec![
        ("Data".into(), format!("{}: {} data by {dimensions}; time column {}.", catalog.title, catalog.grain.name(), catalog.time_column)),
        ("Detection".into(), format!("Walk-forward detection per KPI (default auto: for daily and coarser data the ensemble of the seasonal median/MAD z-score, Holt-Winters and a level shift, its threshold calibrated to the series' own tails; for sub-daily data the streaming anomaly likelihood; settings per KPI in the model): each {step} is judged only from the ones before it.")),
        ("Detector choice".into(), "Every detection method (auto, ensemble, seasonal MAD, Holt-Winters, level shift, generalised ESD, forecast band, isolation forest, streaming likelihood) is scored against the confirmed anomalies in kpi_anomaly_labels at each refresh; see the viewer's Model comparison tab.".into()),
        ("Severity".into(), "Score 0-100 = 100 (1 - 0.5^((z/threshold)^2)); minor >= 50, major >= 70, critical >= 90.".into()),
        ("Root causes".into(), format!("Per-segment baseline = median of the same time of the 4 weeks before; contribution = segment delta / total delta (ratio KPIs split into mix and rate effects); Adtributor surprise and explanatory power; the root-cause set is the smallest combination of up to 3 of {dimensions} that explains the gap.")),
        ("Decision tree".into(), format!("Categorical CART over {dimensions} separating anomalous segment {step}s.")),
        ("Forecast".into(), "Model chosen per KPI by a rolling-origin backtest (seasonal naive, ETS, MSTL), with a 90% prediction interval; models are fitted on the history with the flagged time steps replaced by their expected values, so an outage is not learnt as a pattern.".into()),
        ("Actions".into(), match &catalog.tree_root {
            Some(root) => format!("For each root-cause segment, the driver of {root} = {} that moved most against the same time of the four weeks before.", levers.join(" x ")),
            None => "Without a driver tree in the model, each root-cause segment is the thing to look into.".to_string(),
        }),
        ("Period".into(), format!("The {PERIOD_DAYS} days ending at the as-of day; charts show {} days.", chart_days(catalog.grain))),
    ]
}
