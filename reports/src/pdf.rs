//! The PDF: A4 pages of real (selectable) text, tables, and the charts as vector paths.
//!
//! printpdf draws; this module lays out: a cursor moves down the page, blocks that do not fit
//! start a new page, and page numbers are added once the page count is known. Text uses the
//! PDF base font Helvetica (nothing to embed), whose widths we approximate for wrapping.

use crate::data::{ReportData, TextTable};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use kpiscope_charts::{Anchor, Color as ChartColor, Figure, Shape};
use printpdf::{
    BuiltinFont, Color, Line, LineDashPattern, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Polygon, PolygonRing, Pt, Rgb, TextItem, WindingOrder,
};

const PAGE_W: f64 = 595.28;
const PAGE_H: f64 = 841.89;
const MARGIN: f64 = 50.0;
const CONTENT_W: f64 = PAGE_W - 2.0 * MARGIN;
const BOTTOM: f64 = PAGE_H - MARGIN - 14.0;

/// Renders the report as PDF bytes.
pub fn render(data: &ReportData) -> Vec<u8> {
    let mut w = Writer::default();
    w.heading(1, &data.title());
    let kpis: Vec<&str> = data.kpis.iter().map(|k| k.label.as_str()).collect();
    w.key_values(&[
        ("Period", format!("{} to {} (28 days)", data.period_start, data.as_of)),
        ("As of", data.as_of.clone()),
        ("Data", format!("{} to {}, refreshed {}", data.data_from, data.data_to, data.refreshed_at)),
        ("KPIs", kpis.join(", ")),
        ("Methods", "see the appendix".to_string()),
    ]);
    w.heading(2, "1. Executive summary");
    for sentence in &data.summary {
        w.paragraph(&format!("- {sentence}"));
    }
    w.heading(2, &format!("2. Business overview: KPIs on {}", data.as_of));
    w.table(&data.overview);
    for chart in &data.kpi_charts {
        w.figure(&chart.figure);
    }
    let [critical, major, minor] = data.severity_counts;
    w.heading(2, &format!("3. Anomaly summary: {critical} critical, {major} major, {minor} minor"));
    if data.incidents.is_empty() && data.anomalies.rows.is_empty() {
        w.paragraph("No anomalies in the period.");
    }
    if !data.incidents.is_empty() {
        w.heading(3, &format!("Incidents ({})", data.incidents.len()));
        w.table(&data.incident_table);
    }
    if !data.anomalies.rows.is_empty() {
        w.heading(3, "Flagged time steps");
        w.table(&data.anomalies);
    }
    w.heading(2, "4. Root-cause summary");
    if data.root_causes.is_empty() {
        w.paragraph("No anomaly in the period has a root-cause analysis.");
    }
    for rc in &data.root_causes {
        w.heading(3, &format!("{} on {}", rc.kpi, rc.day));
        w.paragraph(&rc.sentence);
        w.table(&rc.table);
        w.figure(&rc.chart.figure);
    }
    w.heading(2, "5. Recommendations: one per incident");
    if data.incidents.is_empty() {
        w.paragraph("No incident in the period.");
    }
    for incident in &data.incidents {
        w.heading(3, &format!("Incident {}: {}, {}", incident.number, incident.kpi, incident.span));
        w.paragraph(&incident.sentence);
        w.paragraph(&incident.recommendation);
        if !incident.follow_up.is_empty() {
            w.paragraph(&incident.follow_up);
        }
    }
    w.heading(2, "6. Forecast");
    match &data.forecast {
        Some(table) => {
            w.paragraph(&format!(
                "Each KPI at the end of weeks 1 to 4 after {}, with its 90% prediction interval.",
                data.as_of
            ));
            w.table(table);
        }
        None => w.paragraph(&format!(
            "Forecasts are stored for the last day of data ({}) only; run the report as of that day to include them.",
            data.data_to
        )),
    }
    w.heading(2, "Appendix: methodology");
    for (name, text) in &data.methods {
        w.paragraph(&format!("{name}. {text}"));
    }
    w.finish(&format!("kpiscope report as of {}", data.as_of), created(data))
}

/// The document's creation date: when the data it reports on was refreshed (so the same
/// database gives the same bytes, as the ZIP does), else midnight of its as-of day; printpdf
/// would write 1970-01-01. Refresh stamps are UTC.
fn created(data: &ReportData) -> printpdf::DateTime {
    let parsed = NaiveDateTime::parse_from_str(&data.refreshed_at, kpiscope_db::read::TIMESTAMP_FORMAT)
        .or_else(|_| NaiveDate::parse_from_str(&data.as_of, "%Y-%m-%d").map(|d| d.and_time(Default::default())))
        .unwrap_or_default();
    printpdf::DateTime {
        date: printpdf::Date { year: parsed.year(), month: parsed.month() as u8, day: parsed.day() as u8 },
        time: printpdf::Time {
            hour: parsed.hour() as u8,
            minute: parsed.minute() as u8,
            second: parsed.second() as u8,
            millisecond: 0,
        },
        offset: printpdf::Offset { hours: 0, minutes: 0, seconds: 0, milliseconds: 0 },
    }
}

struct Writer {
    pages: Vec<Vec<Op>>,
    ops: Vec<Op>,
    /// Distance of the cursor from the top of the page.
    y: f64,
}

impl Default for Writer {
    fn default() -> Writer {
        Writer { pages: Vec::new(), ops: Vec::new(), y: MARGIN }
    }
}

fn rgb(c: ChartColor) -> Color {
    Color::Rgb(Rgb {
        r: f32::from(c.0) / 255.0,
        g: f32::from(c.1) / 255.0,
        b: f32::from(c.2) / 255.0,
        icc_profile: None,
    })
}

fn point(x: f64, y_from_top: f64) -> Point {
    Point { x: Pt(x as f32), y: Pt((PAGE_H - y_from_top) as f32) }
}

/// Approximate Helvetica advance width of `text` at `size` (average glyph ~0.52 em).
fn text_width(text: &str, size: f64, bold: bool) -> f64 {
    text.chars().count() as f64 * size * if bold { 0.56 } else { 0.52 }
}

/// printpdf writes base-font text byte for byte, so only ASCII survives: map the few other
/// characters we print, and mark the rest.
fn winansi(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '→' => "->".to_string(),
            '×' => "x".to_string(),
            '≥' => ">=".to_string(),
            '≤' => "<=".to_string(),
            '–' | '—' => "-".to_string(),
            '…' => "...".to_string(),
            '‘' | '’' => "'".to_string(),
            '“' | '”' => "\"".to_string(),
            c if c.is_ascii() => c.to_string(),
            _ => "?".to_string(),
        })
        .collect()
}

fn wrap(text: &str, size: f64, width: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        if text_width(&candidate, size, false) > width && !line.is_empty() {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn fit(text: &str, size: f64, width: f64, bold: bool) -> String {
    if text_width(text, size, bold) <= width {
        return text.to_string();
    }
    let keep = (width / (size * if bold { 0.56 } else { 0.52 })).floor() as usize;
    let mut out: String = text.chars().take(keep.saturating_sub(2)).collect();
    out.push_str("..");
    out
}

impl Writer {
    fn new_page(&mut self) {
        self.pages.push(std::mem::take(&mut self.ops));
        self.y = MARGIN;
    }

    fn ensure(&mut self, height: f64) {
        if self.y + height > BOTTOM && self.y > MARGIN {
            self.new_page();
        }
    }

    fn text_at(&mut self, x: f64, baseline_from_top: f64, text: &str, size: f64, bold: bool, color: ChartColor) {
        let font = if bold { BuiltinFont::HelveticaBold } else { BuiltinFont::Helvetica };
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont { font: PdfFontHandle::Builtin(font), size: Pt(size as f32) },
            Op::SetFillColor { col: rgb(color) },
            Op::SetTextCursor { pos: point(x, baseline_from_top) },
            Op::ShowText { items: vec![TextItem::Text(winansi(text))] },
            Op::EndTextSection,
        ]);
    }

    fn fill(&mut self, points: &[(f64, f64)], color: ChartColor) {
        let ring =
            PolygonRing { points: points.iter().map(|(x, y)| LinePoint { p: point(*x, *y), bezier: false }).collect() };
        self.ops.push(Op::SetFillColor { col: rgb(color) });
        self.ops.push(Op::DrawPolygon {
            polygon: Polygon { rings: vec![ring], mode: PaintMode::Fill, winding_order: WindingOrder::NonZero },
        });
    }

    fn stroke(&mut self, points: &[(f64, f64)], color: ChartColor, width: f64, dashed: bool) {
        let dash = if dashed {
            LineDashPattern { dash_1: Some(4), gap_1: Some(3), ..Default::default() }
        } else {
            LineDashPattern::default()
        };
        self.ops.extend([
            Op::SetOutlineColor { col: rgb(color) },
            Op::SetOutlineThickness { pt: Pt(width as f32) },
            Op::SetLineDashPattern { dash },
            Op::DrawLine {
                line: Line {
                    points: points.iter().map(|(x, y)| LinePoint { p: point(*x, *y), bezier: false }).collect(),
                    is_closed: false,
                },
            },
        ]);
    }

    fn heading(&mut self, level: u8, text: &str) {
        let size = match level {
            1 => 18.0,
            2 => 13.0,
            _ => 11.0,
        };
        // Keep a heading with at least a few lines of what follows.
        self.ensure(size * 1.8 + 60.0);
        self.y += size * if level == 1 { 0.6 } else { 1.2 };
        let y = self.y + size;
        self.text_at(MARGIN, y, &fit(text, size, CONTENT_W, true), size, true, ChartColor::INK);
        self.y = y + size * 0.6;
    }

    fn paragraph(&mut self, text: &str) {
        let size = 10.0;
        for line in wrap(text, size, CONTENT_W) {
            self.ensure(size * 1.4);
            self.y += size * 1.4;
            self.text_at(MARGIN, self.y, &line, size, false, ChartColor::INK);
        }
        self.y += 4.0;
    }

    fn key_values(&mut self, rows: &[(&str, String)]) {
        for (key, value) in rows {
            self.ensure(14.0);
            self.y += 14.0;
            self.text_at(MARGIN, self.y, key, 10.0, true, ChartColor::INK);
            self.text_at(
                MARGIN + 70.0,
                self.y,
                &fit(value, 10.0, CONTENT_W - 70.0, false),
                10.0,
                false,
                ChartColor::INK,
            );
        }
        self.y += 6.0;
    }

    fn table(&mut self, table: &TextTable) {
        let size = 8.0;
        let row_h = 13.0;
        // Column widths follow the longest text, bounded, then scaled to the page.
        let wants: Vec<f64> = (0..table.columns.len())
            .map(|i| {
                let longest =
                    table.rows.iter().map(|r| r[i].chars().count()).chain([table.columns[i].chars().count()]).max();
                (longest.unwrap_or(1).clamp(4, 60) as f64) * size * 0.54 + 8.0
            })
            .collect();
        let scale = (CONTENT_W / wants.iter().sum::<f64>()).min(1.0);
        let widths: Vec<f64> = wants.iter().map(|w| w * scale).collect();
        let header = |w: &mut Writer| {
            w.ensure(row_h * 2.0);
            w.fill(
                &[(MARGIN, w.y), (MARGIN + CONTENT_W, w.y), (MARGIN + CONTENT_W, w.y + row_h), (MARGIN, w.y + row_h)],
                ChartColor(0xe5, 0xe7, 0xeb),
            );
            let mut x = MARGIN + 3.0;
            for (column, width) in table.columns.iter().zip(&widths) {
                w.text_at(x, w.y + 9.5, &fit(column, size, width - 6.0, true), size, true, ChartColor::INK);
                x += width;
            }
            w.y += row_h;
        };
        header(self);
        for row in &table.rows {
            if self.y + row_h > BOTTOM {
                self.new_page();
                header(self);
            }
            let mut x = MARGIN + 3.0;
            for (cell, width) in row.iter().zip(&widths) {
                let color = ChartColor::of_severity(cell);
                let color = if color == ChartColor::GREY { ChartColor::INK } else { color };
                self.text_at(x, self.y + 9.5, &fit(cell, size, width - 6.0, false), size, false, color);
                x += width;
            }
            self.y += row_h;
            self.stroke(&[(MARGIN, self.y), (MARGIN + CONTENT_W, self.y)], ChartColor(0xe5, 0xe7, 0xeb), 0.5, false);
        }
        self.y += 8.0;
    }

    fn figure(&mut self, figure: &Figure) {
        let scale = (CONTENT_W / figure.width).min(1.0);
        self.ensure(figure.height * scale + 8.0);
        let (left, top) = (MARGIN, self.y);
        let at = |x: f64, y: f64| (left + x * scale, top + y * scale);
        for shape in &figure.shapes {
            match shape {
                Shape::Line { points, color, width, dashed } => {
                    let points: Vec<_> = points.iter().map(|(x, y)| at(*x, *y)).collect();
                    self.stroke(&points, *color, width * scale, *dashed);
                }
                Shape::Area { points, color } => {
                    let points: Vec<_> = points.iter().map(|(x, y)| at(*x, *y)).collect();
                    self.fill(&points, *color);
                }
                Shape::Rect { x, y, w, h, color } => {
                    let (x0, y0) = at(*x, *y);
                    let (x1, y1) = at(x + w, y + h);
                    self.fill(&[(x0, y0), (x1, y0), (x1, y1), (x0, y1)], *color);
                }
                Shape::Circle { x, y, r, color } => {
                    let (cx, cy) = at(*x, *y);
                    let r = r * scale;
                    let points: Vec<_> = (0..12)
                        .map(|i| {
                            let a = f64::from(i) * std::f64::consts::TAU / 12.0;
                            (cx + r * a.cos(), cy + r * a.sin())
                        })
                        .collect();
                    self.fill(&points, *color);
                }
                Shape::Text { x, y, text, size, anchor, color, bold } => {
                    let size = size * scale;
                    let width = text_width(text, size, *bold);
                    let (x, y) = at(*x, *y);
                    let x = match anchor {
                        Anchor::Start => x,
                        Anchor::Middle => x - width / 2.0,
                        Anchor::End => x - width,
                    };
                    self.text_at(x, y, text, size, *bold, *color);
                }
            }
        }
        self.y += figure.height * scale + 8.0;
    }

    fn finish(mut self, footer: &str, created: printpdf::DateTime) -> Vec<u8> {
        self.new_page();
        let total = self.pages.len();
        let pages: Vec<PdfPage> = std::mem::take(&mut self.pages)
            .into_iter()
            .enumerate()
            .map(|(i, ops)| {
                self.ops = ops;
                let text = format!("{footer} - page {} of {total}", i + 1);
                let x = (PAGE_W - text_width(&text, 8.0, false)) / 2.0;
                self.text_at(x, PAGE_H - 28.0, &text, 8.0, false, ChartColor::GREY);
                PdfPage::new(Mm(210.0), Mm(297.0), std::mem::take(&mut self.ops))
            })
            .collect();
        let mut document = PdfDocument::new(footer);
        let info = &mut document.metadata.info;
        (info.creation_date, info.modification_date, info.metadata_date) = (created, created, created);
        info.creator = "kpiscope report".to_string();
        info.producer = format!("kpiscope {}", env!("CARGO_PKG_VERSION"));
        document.with_pages(pages);
        document.save(&PdfSaveOptions::default(), &mut Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_within_the_page() {
        let text = "word ".repeat(200);
        let lines = wrap(&text, 10.0, CONTENT_W);
        assert!(lines.len() > 3);
        assert!(lines.iter().all(|l| text_width(l, 10.0, false) <= CONTENT_W));
    }

    #[test]
    fn characters_beyond_ascii_are_mapped_or_marked() {
        assert_eq!(winansi("a → b × c ≥ 1 – ok… 漢"), "a -> b x c >= 1 - ok... ?");
    }
}
