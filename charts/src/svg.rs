//! SVG output of a [`Figure`].

use crate::{Anchor, Figure, Shape};
use std::fmt::Write;

pub(crate) fn render(figure: &Figure) -> String {
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{title}" font-family="Helvetica, Arial, sans-serif"><title>{title}</title>"#,
        w = figure.width,
        h = figure.height,
        title = escape(&figure.title)
    );
    for shape in &figure.shapes {
        match shape {
            Shape::Line { points, color, width, dashed } => {
                let dash = if *dashed { r#" stroke-dasharray="4 3""# } else { "" };
                let _ = write!(
                    out,
                    r#"<polyline fill="none" stroke="{}" stroke-width="{width}"{dash} points="{}"/>"#,
                    color.hex(),
                    points_attr(points)
                );
            }
            Shape::Area { points, color } => {
                let _ =
                    write!(out, r#"<polygon fill="{}" stroke="none" points="{}"/>"#, color.hex(), points_attr(points));
            }
            Shape::Rect { x, y, w, h, color } => {
                let _ = write!(
                    out,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{}"/>"#,
                    color.hex()
                );
            }
            Shape::Circle { x, y, r, color } => {
                let _ = write!(out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{}"/>"#, color.hex());
            }
            Shape::Text { x, y, text, size, anchor, color, bold } => {
                let anchor = match anchor {
                    Anchor::Start => "start",
                    Anchor::Middle => "middle",
                    Anchor::End => "end",
                };
                let weight = if *bold { r#" font-weight="bold""# } else { "" };
                let _ = write!(
                    out,
                    r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}" fill="{}"{weight}>{}</text>"#,
                    color.hex(),
                    escape(text)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

fn points_attr(points: &[(f64, f64)]) -> String {
    let mut out = String::with_capacity(points.len() * 12);
    for (x, y) in points {
        let _ = write!(out, "{x:.1},{y:.1} ");
    }
    out.pop();
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use crate::{Anchor, Color, Figure, Shape};

    #[test]
    fn text_is_escaped_so_data_cannot_inject_markup() {
        let figure = Figure {
            title: "a<b".into(),
            width: 10.0,
            height: 10.0,
            shapes: vec![Shape::Text {
                x: 1.0,
                y: 2.0,
                text: "<script>&".into(),
                size: 9.0,
                anchor: Anchor::Start,
                color: Color::INK,
                bold: false,
            }],
        };
        let svg = figure.to_svg();
        assert!(svg.contains("&lt;script&gt;&amp;"), "{svg}");
        assert!(!svg.contains("<script>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
