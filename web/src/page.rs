//! What a tab hands the template: controls, sections with a chart and a table.

use kpiscope_charts::percent;
use kpiscope_db::catalog::{format_value, holds_kpi_values};
use kpiscope_db::read::{Cell, Table};
use serde::Serialize;

/// A rendered tab.
#[derive(Debug, Serialize)]
pub struct Page {
    /// Tab slug (for the navigation).
    pub tab: &'static str,
    /// Heading.
    pub title: String,
    /// One sentence on what the tab shows.
    pub intro: String,
    /// Inputs of the tab's form (a GET form: every state is a shareable URL).
    pub controls: Vec<Control>,
    /// Extra links (previous/next day, drill-downs).
    pub links: Vec<Link>,
    /// A notice shown above the sections.
    pub notice: Option<String>,
    /// The content.
    pub sections: Vec<Section>,
}

impl Page {
    /// An empty page for a tab.
    pub fn new(tab: &'static str, title: &str, intro: &str) -> Page {
        Page {
            tab,
            title: title.to_string(),
            intro: intro.to_string(),
            controls: Vec::new(),
            links: Vec::new(),
            notice: None,
            sections: Vec::new(),
        }
    }
}

/// A link.
#[derive(Debug, Serialize)]
pub struct Link {
    /// Text.
    pub label: String,
    /// Target.
    pub href: String,
}

/// One input of a tab's form.
#[derive(Debug, Serialize)]
pub struct Control {
    /// `select`, `date`, `datetime` or `number`.
    pub kind: &'static str,
    /// Parameter name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Current value.
    pub value: String,
    /// Options of a select: (value, label).
    pub options: Vec<(String, String)>,
    /// Lower bound (date or number).
    pub min: String,
    /// Upper bound (date or number).
    pub max: String,
}

impl Control {
    /// A drop-down.
    pub fn select(name: &str, label: &str, value: &str, options: Vec<(String, String)>) -> Control {
        Control {
            kind: "select",
            name: name.into(),
            label: label.into(),
            value: value.into(),
            options,
            min: String::new(),
            max: String::new(),
        }
    }

    /// A date input bounded by the data.
    pub fn date(name: &str, label: &str, value: &str, min: &str, max: &str) -> Control {
        Control {
            kind: "date",
            name: name.into(),
            label: label.into(),
            value: value.into(),
            options: Vec::new(),
            min: min.into(),
            max: max.into(),
        }
    }

    /// A date-and-time input bounded by the data (hourly data).
    pub fn datetime(name: &str, label: &str, value: &str, min: &str, max: &str) -> Control {
        Control { kind: "datetime", ..Control::date(name, label, value, min, max) }
    }

    /// A number input (percent levers).
    pub fn number(name: &str, label: &str, value: &str) -> Control {
        Control {
            kind: "number",
            name: name.into(),
            label: label.into(),
            value: value.into(),
            options: Vec::new(),
            min: "-90".into(),
            max: "200".into(),
        }
    }
}

/// A chart: its drawing, and for time charts the interactive version of the same data.
pub struct Chart {
    /// The drawing (SVG here, PDF in the report).
    pub figure: kpiscope_charts::Figure,
    /// Hover values, markers that link, range pickers.
    pub plot: Option<kpiscope_charts::Plot>,
}

impl From<kpiscope_charts::Figure> for Chart {
    fn from(figure: kpiscope_charts::Figure) -> Chart {
        Chart { figure, plot: None }
    }
}

/// A block of a tab: heading, optional sentence, chart, table and CSV link.
#[derive(Debug, Default, Serialize)]
pub struct Section {
    /// Heading.
    pub heading: String,
    /// Plain sentences.
    pub text: Option<String>,
    /// Inline SVG (drawn by kpiscope-charts, which escapes all text).
    pub chart: Option<String>,
    /// The chart's interactive version as JSON (drawn by `static/charts.js`; the SVG stays
    /// for readers without JavaScript).
    pub plot: Option<String>,
    /// A table.
    pub table: Option<TableView>,
    /// Where to download the table as CSV.
    pub csv: Option<String>,
    /// A document shown in a frame (the newest report's preview).
    pub embed: Option<String>,
    /// The generate-a-report button, when the viewer may write reports.
    pub generate: Option<GenerateForm>,
}

/// What the reports center's generate form needs.
#[derive(Debug, Serialize)]
pub struct GenerateForm {
    /// The anti-forgery token.
    pub token: String,
    /// Whether the form asks for the viewer secret.
    pub secret: bool,
}

impl Section {
    /// A section with a heading only.
    pub fn new(heading: impl Into<String>) -> Section {
        Section { heading: heading.into(), ..Default::default() }
    }

    /// Sets the sentence.
    pub fn text(mut self, text: impl Into<String>) -> Section {
        self.text = Some(text.into());
        self
    }

    /// Sets the chart.
    pub fn chart(mut self, chart: impl Into<Chart>) -> Section {
        let chart = chart.into();
        self.chart = Some(chart.figure.to_svg());
        self.plot = chart.plot.map(|p| p.to_json());
        self
    }

    /// Sets the table.
    pub fn table(mut self, table: TableView) -> Section {
        self.table = Some(table);
        self
    }

    /// Sets the CSV link.
    pub fn csv(mut self, href: String) -> Section {
        self.csv = Some(href);
        self
    }
}

/// A table ready for display.
#[derive(Debug, Serialize)]
pub struct TableView {
    /// Headers.
    pub columns: Vec<String>,
    /// Rows of display cells.
    pub rows: Vec<Vec<CellView>>,
}

/// A display cell.
#[derive(Debug, Serialize)]
pub struct CellView {
    /// Text.
    pub text: String,
    /// Link target, if the cell drills down.
    pub href: Option<String>,
    /// CSS class (`num`, `critical`, ...).
    pub class: &'static str,
    /// A confirm / dismiss form shown in the cell.
    pub form: Option<crate::feedback::Form>,
}

impl CellView {
    /// A plain text cell.
    pub fn text(text: impl Into<String>) -> CellView {
        CellView { text: text.into(), href: None, class: "", form: None }
    }
}

/// A column name for people: words, `%` for `_pct`, `Time` for `ts`, metrics' acronyms.
pub fn header(column: &str) -> String {
    let (stem, pct) = column.strip_suffix("_pct").map_or((column, false), |s| (s, true));
    let words: Vec<String> = stem
        .split('_')
        .map(|word| match word {
            "ts" => "time".to_string(),
            "f1" | "mae" | "rmse" | "mase" | "smape" | "kpi" | "sha256" | "yhat" | "tp" | "fp" | "fn" => {
                word.to_uppercase()
            }
            _ => word.to_string(),
        })
        .collect();
    let mut text = words.join(" ");
    if let Some(first) = text.get(..1).filter(|f| f.is_ascii()) {
        text = first.to_uppercase() + &text[1..];
    }
    if pct {
        text.push_str(" %");
    }
    text
}

impl TableView {
    /// Every column of a result; see [`TableView::in_units`] (no KPI values here).
    pub fn of(table: &Table) -> TableView {
        TableView::in_units(table, &|_| None)
    }

    /// Every column of a result, for people: headers in words, KPI values in the unit
    /// `unit(row)` gives (the catalogue's `format_value`, like the charts, explanations and
    /// PDF), `*_pct` columns as signed percentages, other numbers with thousands separators,
    /// severities coloured, times kept on one line.
    pub fn in_units(table: &Table, unit: &dyn Fn(&[Cell]) -> Option<String>) -> TableView {
        let rows = table
            .rows
            .iter()
            .map(|row| {
                let unit = unit(row);
                row.iter()
                    .zip(&table.columns)
                    .map(|(cell, column)| {
                        let text = match (cell, cell.as_f64()) {
                            (_, Some(v)) if column.ends_with("_pct") => percent(v),
                            (Cell::Float(_), Some(v)) => match &unit {
                                Some(unit) if holds_kpi_values(column) => format_value(unit, v),
                                _ => format_value("number", v),
                            },
                            (Cell::Int(_), Some(v)) if !column.ends_with("id") && column != "incident" => {
                                format_value("count", v)
                            }
                            _ => cell.to_string(),
                        };
                        let class = match (cell, column.as_str()) {
                            (Cell::Int(_) | Cell::Float(_), _) => "num",
                            (Cell::Date(_) | Cell::Timestamp(_), _) => "time",
                            (Cell::Text(t), "severity") => match t.as_str() {
                                "critical" => "critical",
                                "major" => "major",
                                "minor" => "minor",
                                _ => "",
                            },
                            _ => "",
                        };
                        CellView { text, href: None, class, form: None }
                    })
                    .collect()
            })
            .collect();
        TableView { columns: table.columns.clone(), rows }
    }

    /// Removes column `column` (a key the page needs but nobody reads).
    pub fn without(mut self, column: &str) -> TableView {
        if let Some(i) = self.columns.iter().position(|c| c == column) {
            self.columns.remove(i);
            for row in &mut self.rows {
                row.remove(i);
            }
        }
        self
    }

    /// Adds a column, one cell per row in order.
    pub fn with_column(mut self, column: &str, cells: Vec<CellView>) -> TableView {
        self.columns.push(column.to_string());
        for (row, cell) in self.rows.iter_mut().zip(cells) {
            row.push(cell);
        }
        self
    }

    /// Makes column `column` a link, built from each row of `table`.
    pub fn link(mut self, table: &Table, column: &str, href: impl Fn(&[Cell]) -> String) -> TableView {
        if let Some(i) = table.column(column) {
            for (view, row) in self.rows.iter_mut().zip(&table.rows) {
                view[i].href = Some(href(row));
            }
        }
        self
    }
}

/// `path?k=v&...` with the values percent-encoded.
pub fn url(path: &str, query: &[(&str, &str)]) -> String {
    let pairs: Vec<String> =
        query.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v))).collect();
    if pairs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_as_words_with_percent_signs_and_acronyms() {
        assert_eq!(header("worst_deviation_pct"), "Worst deviation %");
        assert_eq!(header("ts"), "Time");
        assert_eq!(header("point_adjusted_f1"), "Point adjusted F1");
        assert_eq!(header("kpi"), "KPI");
        assert_eq!(header(""), "");
    }

    #[test]
    fn urls_encode_segments() {
        assert_eq!(
            url("/rca", &[("kpi", "revenue"), ("segment", "channel=App & region=South"), ("day", "")]),
            "/rca?kpi=revenue&segment=channel%3DApp+%26+region%3DSouth"
        );
    }
}
