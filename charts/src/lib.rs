//! Charts for the viewer and the reports, drawn once as vector shapes.
//!
//! [`plot`] gives the same time charts as data for the viewer's interactive version.
//!
//! A chart builder ([`time_chart`], [`bar_chart`], [`tree_chart`], [`heatmap`]) lays out a
//! [`Figure`]: lines, polygons, rectangles, circles and text in a top-left coordinate space.
//! The viewer writes it as SVG ([`Figure::to_svg`]); the PDF report walks the same shapes and
//! emits PDF path operations, so the two never drift apart. Hand-written because the plotting
//! crates either render raster images or own the whole drawing backend, and we need the same
//! geometry in two vector formats.

mod layout;
pub mod plot;
mod svg;

pub use layout::{bar_chart, heatmap, lines_chart, time_chart, tree_chart, Bar, HeatCell, TimePoint, TreeNode};
pub use plot::{lines_plot, time_plot, Plot};

/// An RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(pub u8, pub u8, pub u8);

impl Color {
    /// Dark ink for text and the observed series.
    pub const INK: Color = Color(0x1f, 0x29, 0x37);
    /// Grey for axes, grid and labels.
    pub const GREY: Color = Color(0x9c, 0xa3, 0xaf);
    /// Blue for the expected value and its band.
    pub const BLUE: Color = Color(0x25, 0x63, 0xeb);
    /// Purple for forecasts.
    pub const PURPLE: Color = Color(0x7c, 0x3a, 0xed);
    /// Green for positive bars.
    pub const GREEN: Color = Color(0x16, 0xa3, 0x4a);
    /// Red for negative bars and critical anomalies.
    pub const RED: Color = Color(0xdc, 0x26, 0x26);
    /// Orange for major anomalies.
    pub const ORANGE: Color = Color(0xea, 0x58, 0x0c);
    /// Amber for minor anomalies.
    pub const AMBER: Color = Color(0xd9, 0x77, 0x06);

    /// The colour of a marker kind: a severity level (`minor`, `major`, `critical`), a
    /// `change point` or `this step` (the step a page is about).
    pub fn of_severity(severity: &str) -> Color {
        match severity {
            "critical" | "this step" => Color::RED,
            "major" => Color::ORANGE,
            "minor" => Color::AMBER,
            "change point" => Color::PURPLE,
            _ => Color::GREY,
        }
    }

    /// Mixes with white: `amount` 0 keeps the colour, 1 gives white.
    pub fn lighten(self, amount: f64) -> Color {
        let mix = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * amount.clamp(0.0, 1.0)).round() as u8;
        Color(mix(self.0), mix(self.1), mix(self.2))
    }

    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// Where a text's `x` sits relative to the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// `x` is the left edge.
    Start,
    /// `x` is the centre.
    Middle,
    /// `x` is the right edge.
    End,
}

/// One drawing primitive, in points with the origin at the top left.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// An open line through the points.
    Line {
        /// Vertices.
        points: Vec<(f64, f64)>,
        /// Stroke colour.
        color: Color,
        /// Stroke width.
        width: f64,
        /// Dashed stroke.
        dashed: bool,
    },
    /// A filled polygon (bands).
    Area {
        /// Vertices, closed implicitly.
        points: Vec<(f64, f64)>,
        /// Fill colour.
        color: Color,
    },
    /// A filled rectangle.
    Rect {
        /// Left.
        x: f64,
        /// Top.
        y: f64,
        /// Width.
        w: f64,
        /// Height.
        h: f64,
        /// Fill colour.
        color: Color,
    },
    /// A filled circle (anomaly markers).
    Circle {
        /// Centre x.
        x: f64,
        /// Centre y.
        y: f64,
        /// Radius.
        r: f64,
        /// Fill colour.
        color: Color,
    },
    /// One line of text; `y` is the baseline.
    Text {
        /// Anchor x.
        x: f64,
        /// Baseline y.
        y: f64,
        /// The text.
        text: String,
        /// Font size in points.
        size: f64,
        /// Horizontal alignment.
        anchor: Anchor,
        /// Colour.
        color: Color,
        /// Bold face.
        bold: bool,
    },
}

/// A laid-out chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Title, also the accessible name of the SVG.
    pub title: String,
    /// Width in points.
    pub width: f64,
    /// Height in points.
    pub height: f64,
    /// Shapes in painting order.
    pub shapes: Vec<Shape>,
}

impl Figure {
    /// The chart as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        svg::render(self)
    }
}

/// A number for a label: thousands as k, millions as M, small values with 3 significant
/// digits ([`kpiscope_engine::units::Unit::short`], the one formatter).
pub fn compact(value: f64) -> String {
    kpiscope_engine::units::Unit::Number.short(value)
}

/// A relative change as a signed percentage: `+12.3%`.
pub fn percent(value: f64) -> String {
    if value.is_finite() {
        format!("{:+.1}%", value * 100.0)
    } else {
        "–".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_changes_read_as_signed_percentages() {
        assert_eq!(percent(-0.183), "-18.3%");
        assert_eq!(percent(f64::INFINITY), "–");
    }

    #[test]
    fn lightening_moves_towards_white() {
        assert_eq!(Color::RED.lighten(1.0), Color(255, 255, 255));
        assert_eq!(Color::RED.lighten(0.0), Color::RED);
        assert_eq!(Color(0, 0, 0).hex(), "#000000");
    }
}
