//! What a tab hands the template: controls, sections with a chart and a table.

use kpiscope_charts::percent;
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

/// A block of a tab: heading, optional sentence, chart, table and CSV link.
#[derive(Debug, Default, Serialize)]
pub struct Section {
    /// Heading.
    pub heading: String,
    /// Plain sentences.
    pub text: Option<String>,
    /// Inline SVG (drawn by kpiscope-charts, which escapes all text).
    pub chart: Option<String>,
    /// A table.
    pub table: Option<TableView>,
    /// Where to download the table as CSV.
    pub csv: Option<String>,
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
    pub fn chart(mut self, figure: &kpiscope_charts::Figure) -> Section {
        self.chart = Some(figure.to_svg());
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

impl TableView {
    /// Every column of a result; `*_pct` columns as signed percentages, severities coloured.
    pub fn of(table: &Table) -> TableView {
        let rows = table
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&table.columns)
                    .map(|(cell, column)| {
                        let text = match cell.as_f64() {
                            Some(v) if column.ends_with("_pct") => percent(v),
                            _ => cell.to_string(),
                        };
                        let class = match (cell, column.as_str()) {
                            (Cell::Int(_) | Cell::Float(_), _) => "num",
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
    fn urls_encode_segments() {
        assert_eq!(
            url("/rca", &[("kpi", "revenue"), ("segment", "channel=App & region=South"), ("day", "")]),
            "/rca?kpi=revenue&segment=channel%3DApp+%26+region%3DSouth"
        );
    }
}
