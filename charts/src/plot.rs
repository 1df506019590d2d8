//! Interactive charts: the data of a chart for the viewer's script (uPlot) to draw, with hover
//! values, clickable anomaly markers and range pickers. The viewer embeds it next to the SVG of
//! the same chart, which stays the no-JavaScript fallback and what the PDF draws.
//!
//! Values arrive formatted ([`Plot`] carries a text per point), so hover text comes from the
//! same formatting layer as the tables, explanations and PDF; the script formats only the
//! y-axis ticks, whose values it chooses itself.

use serde::Serialize;

use crate::{Color, TimePoint};

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// A solid line.
    Line,
    /// A dashed line (expected values, forecasts).
    Dashed,
    /// Markers only (anomalies).
    Points,
    /// An edge of the shaded band; drawn as the band's outline only.
    Band,
}

/// One series of a [`Plot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// How it is drawn.
    pub style: Style,
    /// One value per time step; `None` leaves a gap.
    pub values: Vec<Option<f64>>,
    /// The hover text of each value, in the KPI's unit.
    pub texts: Vec<Option<String>>,
    /// Where a click on a marker goes (markers only).
    pub links: Vec<Option<String>>,
}

/// A time range the reader can pick: the last `steps` time steps, or with `future` the
/// history plus the first `steps` steps of the forecast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Range {
    /// Button text.
    pub label: String,
    /// Time steps shown.
    pub steps: usize,
    /// A forecast horizon rather than a history window.
    pub future: bool,
}

/// The data of an interactive time chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plot {
    /// Title.
    pub title: String,
    /// Height in pixels; the width follows the page.
    pub height: f64,
    /// The time of each step, as the hover shows it.
    pub times: Vec<String>,
    /// The series.
    pub series: Vec<Series>,
    /// Indices into `series` of the band's lower and upper edges.
    pub band: Option<(usize, usize)>,
    /// The last observed step, when a forecast follows.
    pub now: Option<usize>,
    /// Ranges offered above the chart.
    pub ranges: Vec<Range>,
    /// The KPI's unit, for the y-axis ticks.
    pub unit: String,
}

impl Plot {
    /// Offers these ranges above the chart.
    pub fn with_ranges(mut self, ranges: Vec<Range>) -> Plot {
        self.ranges = ranges;
        self
    }

    /// The plot as JSON safe to place inside a `<script type="application/json">` element.
    pub fn to_json(&self) -> String {
        // `</` would end the script element early; JSON allows `<\/` for it.
        serde_json::to_string(self).unwrap_or_else(|_| "null".to_string()).replace("</", "<\\/")
    }
}

fn series(name: &str, color: Color, style: Style, values: Vec<Option<f64>>, format: &dyn Fn(f64) -> String) -> Series {
    let texts = values.iter().map(|v| v.filter(|v| v.is_finite()).map(format)).collect();
    let links = vec![None; values.len()];
    Series { name: name.to_string(), color: color.hex(), style, values, texts, links }
}

/// A KPI over time as [`crate::time_chart`] draws it: actual, expected (or forecast) with its
/// band, and one marker series per severity whose markers link to `link(step)`.
pub fn time_plot(
    title: &str,
    points: &[TimePoint],
    times: Vec<String>,
    unit: &str,
    format: &dyn Fn(f64) -> String,
    link: &dyn Fn(usize) -> Option<String>,
) -> Plot {
    let column = |f: &dyn Fn(&TimePoint) -> Option<f64>| points.iter().map(f).collect::<Vec<_>>();
    let forecasting = points.iter().any(|p| p.forecast);
    let expected_name = if forecasting { "Expected / forecast" } else { "Expected" };
    let mut all = vec![
        series("Actual", Color::INK, Style::Line, column(&|p| p.actual), format),
        series(expected_name, Color::BLUE, Style::Dashed, column(&|p| p.expected), format),
        series("Lower", Color::BLUE.lighten(0.5), Style::Band, column(&|p| p.lower), format),
        series("Upper", Color::BLUE.lighten(0.5), Style::Band, column(&|p| p.upper), format),
    ];
    let mut kinds: Vec<&str> = Vec::new();
    for kind in points.iter().filter_map(|p| p.severity.as_deref()) {
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    kinds.sort_by_key(|k| severity_rank(k));
    for kind in kinds {
        let flagged = |p: &TimePoint| if p.severity.as_deref() == Some(kind) { p.actual } else { None };
        let mut markers = series(kind, Color::of_severity(kind), Style::Points, column(&flagged), format);
        markers.links = markers.values.iter().enumerate().map(|(i, v)| v.and_then(|_| link(i))).collect();
        all.push(markers);
    }
    let now = points.iter().rposition(|p| !p.forecast && p.actual.is_some()).filter(|_| forecasting);
    // Only what has data gets a legend entry (a change-point chart has no band).
    let has_band = all[2].values.iter().chain(&all[3].values).any(Option::is_some);
    all.retain(|s| s.values.iter().any(Option::is_some));
    let band = has_band.then(|| {
        let at = |name: &str| all.iter().position(|s| s.name == name);
        at("Lower").zip(at("Upper"))
    });
    Plot {
        title: title.to_string(),
        height: 300.0,
        times,
        series: all,
        band: band.flatten(),
        now,
        ranges: Vec::new(),
        unit: unit.to_string(),
    }
}

/// Line colours for several series, neighbours kept apart.
pub const PALETTE: [Color; 8] = [
    Color(0x25, 0x63, 0xeb),
    Color(0xdc, 0x26, 0x26),
    Color(0x16, 0xa3, 0x4a),
    Color(0x7c, 0x3a, 0xed),
    Color(0xea, 0x58, 0x0c),
    Color(0x08, 0x91, 0xb2),
    Color(0xdb, 0x27, 0x77),
    Color(0x4b, 0x55, 0x63),
];

/// Legend order of marker kinds: most severe first, other kinds after.
pub(crate) fn severity_rank(kind: &str) -> usize {
    ["critical", "major", "minor"].iter().position(|s| *s == kind).unwrap_or(3)
}

/// Several series over the same time steps on one scale (a KPI per segment), coloured like
/// [`crate::lines_chart`].
pub fn lines_plot(
    title: &str,
    times: Vec<String>,
    lines: Vec<(String, Vec<Option<f64>>)>,
    unit: &str,
    format: &dyn Fn(f64) -> String,
) -> Plot {
    let series = lines
        .into_iter()
        .enumerate()
        .map(|(i, (name, values))| series(&name, PALETTE[i % PALETTE.len()], Style::Line, values, format))
        .collect();
    Plot {
        title: title.to_string(),
        height: 320.0,
        times,
        series,
        band: None,
        now: None,
        ranges: Vec::new(),
        unit: unit.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(actual: f64, severity: Option<&str>, forecast: bool) -> TimePoint {
        TimePoint {
            label: String::new(),
            actual: (!forecast).then_some(actual),
            expected: Some(actual),
            lower: Some(actual - 1.0),
            upper: Some(actual + 1.0),
            severity: severity.map(str::to_string),
            forecast,
        }
    }

    #[test]
    fn markers_come_one_series_per_severity_with_links_only_where_flagged() {
        let points = [point(1.0, None, false), point(9.0, Some("critical"), false), point(2.0, None, true)];
        let times = vec!["d1".into(), "d2".into(), "d3".into()];
        let plot = time_plot("t", &points, times, "count", &|v| format!("{v:.0}"), &|i| Some(format!("/rca?i={i}")));
        let names: Vec<_> = plot.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Actual", "Expected / forecast", "Lower", "Upper", "critical"]);
        let critical = &plot.series[4];
        assert_eq!(critical.links, [None, Some("/rca?i=1".to_string()), None]);
        assert_eq!(critical.texts, [None, Some("9".to_string()), None]);
        assert_eq!(plot.now, Some(1), "the last observed step before the forecast");
        assert_eq!(plot.band, Some((2, 3)));
    }

    #[test]
    fn series_without_data_are_left_out_and_the_band_with_them() {
        let points = [TimePoint { actual: Some(1.0), ..Default::default() }, TimePoint::default()];
        let plot = time_plot("t", &points, vec!["a".into(), "b".into()], "count", &|v| v.to_string(), &|_| None);
        let names: Vec<_> = plot.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!((names, plot.band), (vec!["Actual"], None));
    }

    #[test]
    fn json_cannot_close_the_script_element_it_sits_in() {
        let plot = lines_plot("</script><b>", vec!["a".into()], vec![], "count", &|v| v.to_string());
        assert!(!plot.to_json().contains("</"));
    }
}
