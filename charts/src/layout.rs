//! Chart builders: data in, [`Figure`] out.

use crate::{Anchor, Color, Figure, Shape};

const FONT: f64 = 10.0;

/// One day of a KPI chart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimePoint {
    /// x-axis label (a date).
    pub label: String,
    /// Observed value; `None` in the future or when missing.
    pub actual: Option<f64>,
    /// Expected value (history) or point forecast (future).
    pub expected: Option<f64>,
    /// Lower edge of the band or interval.
    pub lower: Option<f64>,
    /// Upper edge of the band or interval.
    pub upper: Option<f64>,
    /// Severity of a flagged day (`minor`, `major`, `critical`); `None` for normal days.
    pub severity: Option<String>,
    /// The point is a forecast (drawn after the "now" line).
    pub forecast: bool,
}

/// One bar of a bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Label left of the bar.
    pub label: String,
    /// Bar length (negative bars go left).
    pub value: f64,
    /// Value text right of the bar.
    pub text: String,
    /// Emphasise (e.g. the localised root cause).
    pub highlight: bool,
}

/// One node of a decision tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeNode {
    /// Node id.
    pub id: i64,
    /// Parent id; `None` for the root.
    pub parent: Option<i64>,
    /// Rule from the parent (empty for the root).
    pub rule: String,
    /// Rows in the node.
    pub samples: i64,
    /// Anomalous rows in the node.
    pub anomalous: i64,
}

/// One cell of a square heat map (values in -1..=1).
#[derive(Debug, Clone, PartialEq)]
pub struct HeatCell {
    /// Row index into the labels.
    pub row: usize,
    /// Column index into the labels.
    pub col: usize,
    /// Value, -1 to 1.
    pub value: f64,
}

struct Scale {
    min: f64,
    max: f64,
    top: f64,
    bottom: f64,
}

impl Scale {
    fn y(&self, value: f64) -> f64 {
        if self.max <= self.min {
            return (self.top + self.bottom) / 2.0;
        }
        self.bottom - (value - self.min) / (self.max - self.min) * (self.bottom - self.top)
    }
}

/// A step of 1, 2 or 5 times a power of ten giving about `ticks` intervals over `range`.
fn nice_step(range: f64, ticks: f64) -> f64 {
    let raw = (range / ticks).max(f64::MIN_POSITIVE);
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

fn text(x: f64, y: f64, text: impl Into<String>, anchor: Anchor, color: Color) -> Shape {
    Shape::Text { x, y, text: text.into(), size: FONT, anchor, color, bold: false }
}

fn title(title: &str) -> Shape {
    Shape::Text {
        x: 4.0,
        y: 14.0,
        text: title.to_string(),
        size: 12.0,
        anchor: Anchor::Start,
        color: Color::INK,
        bold: true,
    }
}

/// Runs of consecutive indices where `f` gives a value.
fn runs<T: Copy>(n: usize, f: impl Fn(usize) -> Option<T>) -> Vec<Vec<(usize, T)>> {
    let mut out: Vec<Vec<(usize, T)>> = Vec::new();
    let mut current = Vec::new();
    for i in 0..n {
        match f(i) {
            Some(v) => current.push((i, v)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The plot area of a time chart once its grid, y labels and x labels are drawn.
struct Frame {
    scale: Scale,
    left: f64,
    right: f64,
    n: usize,
}

impl Frame {
    /// Title on the first line, legend on the second, plot below; `None` (and "no data"
    /// drawn) when there is nothing to plot.
    fn draw(
        shapes: &mut Vec<Shape>,
        labels: &[&str],
        values: &[f64],
        (width, height): (f64, f64),
        ticks: &dyn Fn(f64) -> String,
    ) -> Option<Frame> {
        let (left, right, top, bottom) = (60.0, width - 12.0, 40.0, height - 24.0);
        let n = labels.len();
        if n == 0 || values.is_empty() {
            shapes.push(text(width / 2.0, height / 2.0, "no data", Anchor::Middle, Color::GREY));
            return None;
        }
        let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        let step = nice_step((hi - lo).max(hi.abs() * 0.01).max(1e-9), 4.0);
        let scale = Scale { min: (lo / step).floor() * step, max: (hi / step).ceil() * step, top, bottom };
        let frame = Frame { scale, left, right, n };
        let mut tick = frame.scale.min;
        while tick <= frame.scale.max + step / 2.0 {
            let y = frame.scale.y(tick);
            shapes.push(Shape::Line {
                points: vec![(left, y), (right, y)],
                color: Color::GREY.lighten(0.7),
                width: 0.5,
                dashed: false,
            });
            shapes.push(text(left - 4.0, y + 3.0, ticks(tick), Anchor::End, Color::GREY));
            tick += step;
        }
        // x labels, about eight.
        for i in (0..n).step_by(n.div_ceil(8).max(1)) {
            shapes.push(text(frame.x(i), height - 8.0, labels[i], Anchor::Middle, Color::GREY));
        }
        Some(frame)
    }

    fn x(&self, i: usize) -> f64 {
        if self.n == 1 {
            (self.left + self.right) / 2.0
        } else {
            self.left + i as f64 * (self.right - self.left) / (self.n - 1) as f64
        }
    }

    /// A swatch and a name per entry, left to right on the legend line.
    fn legend(&self, shapes: &mut Vec<Shape>, entries: &[(String, Color)]) {
        let mut lx = self.left;
        for (label, color) in entries {
            shapes.push(Shape::Rect { x: lx, y: 20.0, w: 10.0, h: 8.0, color: *color });
            shapes.push(text(lx + 13.0, 28.0, label.clone(), Anchor::Start, Color::INK));
            lx += 20.0 + 6.0 * label.chars().count() as f64;
        }
    }
}

/// A KPI over time: the expected band, the observed line, anomaly markers coloured by
/// severity, and the forecast with its interval after a "now" line; `ticks` writes the
/// y-axis values (in the KPI's unit).
pub fn time_chart(
    name: &str,
    points: &[TimePoint],
    (width, height): (f64, f64),
    ticks: &dyn Fn(f64) -> String,
) -> Figure {
    let mut shapes = vec![title(name)];
    let values: Vec<f64> = points
        .iter()
        .flat_map(|p| [p.actual, p.expected, p.lower, p.upper])
        .flatten()
        .filter(|v| v.is_finite())
        .collect();
    let labels: Vec<&str> = points.iter().map(|p| p.label.as_str()).collect();
    let Some(frame) = Frame::draw(&mut shapes, &labels, &values, (width, height), ticks) else {
        return Figure { title: name.to_string(), width, height, shapes };
    };
    let (n, scale, top, bottom) = (frame.n, &frame.scale, frame.scale.top, frame.scale.bottom);
    let x = |i: usize| frame.x(i);

    // Bands first, lines over them, markers on top.
    for forecast in [false, true] {
        let color = if forecast { Color::PURPLE.lighten(0.8) } else { Color::BLUE.lighten(0.85) };
        let band = runs(n, |i| {
            let p = &points[i];
            (p.forecast == forecast).then_some(())?;
            Some((p.lower?, p.upper?))
        });
        for run in band {
            let mut outline: Vec<(f64, f64)> = run.iter().map(|(i, (_, u))| (x(*i), scale.y(*u))).collect();
            outline.extend(run.iter().rev().map(|(i, (l, _))| (x(*i), scale.y(*l))));
            shapes.push(Shape::Area { points: outline, color });
        }
    }
    for (forecast, color) in [(false, Color::BLUE), (true, Color::PURPLE)] {
        for run in runs(n, |i| (points[i].forecast == forecast).then_some(points[i].expected?)) {
            let line = run.iter().map(|(i, v)| (x(*i), scale.y(*v))).collect();
            shapes.push(Shape::Line { points: line, color, width: 1.2, dashed: true });
        }
    }
    for run in runs(n, |i| points[i].actual) {
        let line = run.iter().map(|(i, v)| (x(*i), scale.y(*v))).collect();
        shapes.push(Shape::Line { points: line, color: Color::INK, width: 1.5, dashed: false });
    }
    if let Some(now) = points.iter().rposition(|p| !p.forecast && p.actual.is_some()) {
        if points.iter().any(|p| p.forecast) {
            shapes.push(Shape::Line {
                points: vec![(x(now), top), (x(now), bottom)],
                color: Color::GREY,
                width: 1.0,
                dashed: true,
            });
            shapes.push(text(x(now) + 3.0, top + 10.0, "now", Anchor::Start, Color::GREY));
        }
    }
    for (i, p) in points.iter().enumerate() {
        if let (Some(severity), Some(value)) = (&p.severity, p.actual) {
            shapes.push(Shape::Circle { x: x(i), y: scale.y(value), r: 3.5, color: Color::of_severity(severity) });
        }
    }
    // Legend, naming only what was drawn, each marker kind in its colour.
    let drawn = [
        points.iter().any(|p| p.actual.is_some()),
        points.iter().any(|p| !p.forecast && (p.expected.is_some() || p.upper.is_some())),
        points.iter().any(|p| p.forecast),
    ];
    let lines = [("actual", Color::INK), ("expected band", Color::BLUE), ("forecast", Color::PURPLE)];
    let mut legend: Vec<(String, Color)> =
        lines.into_iter().zip(drawn).filter(|(_, d)| *d).map(|((l, c), _)| (l.to_string(), c)).collect();
    for p in points {
        if let Some(severity) = p.severity.as_deref().filter(|s| !legend.iter().any(|(l, _)| l == s)) {
            legend.push((severity.to_string(), Color::of_severity(severity)));
        }
    }
    legend[drawn.iter().filter(|d| **d).count()..].sort_by_key(|(l, _)| crate::plot::severity_rank(l));
    frame.legend(&mut shapes, &legend);
    Figure { title: name.to_string(), width, height, shapes }
}

/// Several series over the same time steps on one scale (a KPI per segment), coloured from
/// [`crate::plot::PALETTE`] like the interactive version; `ticks` as in [`time_chart`].
pub fn lines_chart(
    name: &str,
    labels: &[String],
    lines: &[(String, Vec<Option<f64>>)],
    (width, height): (f64, f64),
    ticks: &dyn Fn(f64) -> String,
) -> Figure {
    let mut shapes = vec![title(name)];
    let values: Vec<f64> =
        lines.iter().flat_map(|(_, v)| v.iter().flatten().copied()).filter(|v| v.is_finite()).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let Some(frame) = Frame::draw(&mut shapes, &labels, &values, (width, height), ticks) else {
        return Figure { title: name.to_string(), width, height, shapes };
    };
    let mut legend = Vec::new();
    for (k, (line, values)) in lines.iter().enumerate() {
        let color = crate::plot::PALETTE[k % crate::plot::PALETTE.len()];
        let finite = |i: usize| values.get(i).copied().flatten().filter(|v| v.is_finite());
        for run in runs(frame.n, finite) {
            let points = run.iter().map(|(i, v)| (frame.x(*i), frame.scale.y(*v))).collect();
            shapes.push(Shape::Line { points, color, width: 1.3, dashed: false });
        }
        legend.push((line.clone(), color));
    }
    frame.legend(&mut shapes, &legend);
    Figure { title: name.to_string(), width, height, shapes }
}

/// Horizontal bars from a zero line (contributions, changes, importances).
pub fn bar_chart(name: &str, bars: &[Bar], width: f64) -> Figure {
    let row = 20.0;
    let top = 28.0;
    let height = top + row * bars.len().max(1) as f64 + 8.0;
    let mut shapes = vec![title(name)];
    let label_width = 190.0;
    let has_negative = bars.iter().any(|b| b.value < 0.0);
    // Room for a value text on the side a bar grows to, so the longest negative bar's text
    // stays clear of the labels.
    let (left, right) = (label_width + if has_negative { 60.0 } else { 0.0 }, width - 60.0);
    let max = bars.iter().map(|b| b.value.abs()).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let zero = if has_negative { (left + right) / 2.0 } else { left };
    let span = if has_negative { (right - left) / 2.0 } else { right - left };
    for (i, bar) in bars.iter().enumerate() {
        let y = top + i as f64 * row;
        let length = if max > 0.0 && bar.value.is_finite() { bar.value / max * span } else { 0.0 };
        let color = if bar.value < 0.0 { Color::RED } else { Color::GREEN };
        let color = if bar.highlight { color } else { color.lighten(0.45) };
        shapes.push(Shape::Rect {
            x: zero.min(zero + length),
            y: y + 3.0,
            w: length.abs().max(0.5),
            h: row - 6.0,
            color,
        });
        shapes.push(Shape::Text {
            x: label_width - 6.0,
            y: y + 14.0,
            // About 5.5 points a character at this size: 32 fit the label column.
            text: truncate(&bar.label, 32),
            size: FONT,
            anchor: Anchor::End,
            color: Color::INK,
            bold: bar.highlight,
        });
        let (tx, anchor) =
            if length < 0.0 { (zero + length - 3.0, Anchor::End) } else { (zero + length + 3.0, Anchor::Start) };
        shapes.push(text(tx, y + 14.0, bar.text.clone(), anchor, Color::INK));
    }
    shapes.push(Shape::Line {
        points: vec![(zero, top), (zero, height - 8.0)],
        color: Color::GREY,
        width: 1.0,
        dashed: false,
    });
    if bars.is_empty() {
        shapes.push(text(width / 2.0, top + 14.0, "no data", Anchor::Middle, Color::GREY));
    }
    Figure { title: name.to_string(), width, height, shapes }
}

/// A decision tree, root on top; node colour deepens with its anomalous share.
pub fn tree_chart(name: &str, nodes: &[TreeNode]) -> Figure {
    let (box_w, box_h, gap_x, gap_y, top) = (170.0, 40.0, 12.0, 34.0, 30.0);
    let children = |id: i64| nodes.iter().filter(move |n| n.parent == Some(id));
    // Leaves take consecutive slots in depth-first order; parents sit over their children.
    let mut slots: Vec<(i64, usize, f64)> = Vec::new();
    let mut next_leaf = 0.0;
    fn place<'a>(
        node: &'a TreeNode,
        depth: usize,
        children: &dyn Fn(i64) -> Vec<&'a TreeNode>,
        next_leaf: &mut f64,
        slots: &mut Vec<(i64, usize, f64)>,
    ) -> f64 {
        let kids = children(node.id);
        let slot = if kids.is_empty() {
            *next_leaf += 1.0;
            *next_leaf - 1.0
        } else {
            let placed: Vec<f64> = kids.iter().map(|k| place(k, depth + 1, children, next_leaf, slots)).collect();
            placed.iter().sum::<f64>() / placed.len() as f64
        };
        slots.push((node.id, depth, slot));
        slot
    }
    let kids = |id: i64| children(id).collect::<Vec<_>>();
    if let Some(root) = nodes.iter().find(|n| n.parent.is_none()) {
        place(root, 0, &kids, &mut next_leaf, &mut slots);
    }
    let max_depth = slots.iter().map(|s| s.1).max().unwrap_or(0);
    let width = (next_leaf * (box_w + gap_x) + gap_x).max(400.0);
    let height = top + (max_depth + 1) as f64 * (box_h + gap_y);
    let offset = (width - next_leaf * (box_w + gap_x) + gap_x) / 2.0;
    let centre = |id: i64| {
        slots.iter().find(|s| s.0 == id).map(|(_, depth, slot)| {
            (offset + slot * (box_w + gap_x) + box_w / 2.0, top + *depth as f64 * (box_h + gap_y))
        })
    };
    let mut shapes = vec![title(name)];
    for node in nodes {
        if let (Some((x, y)), Some((px, py))) = (centre(node.id), node.parent.and_then(centre)) {
            shapes.push(Shape::Line {
                points: vec![(px, py + box_h), (x, y)],
                color: Color::GREY,
                width: 1.0,
                dashed: false,
            });
        }
    }
    for node in nodes {
        let Some((x, y)) = centre(node.id) else { continue };
        let share = if node.samples > 0 { node.anomalous as f64 / node.samples as f64 } else { 0.0 };
        let fill = Color::RED.lighten(1.0 - (share * 4.0).clamp(0.05, 0.8));
        shapes.push(Shape::Rect { x: x - box_w / 2.0, y, w: box_w, h: box_h, color: fill });
        let rule = if node.rule.is_empty() { "all segment-days".to_string() } else { truncate(&node.rule, 30) };
        shapes.push(Shape::Text {
            x,
            y: y + 15.0,
            text: rule,
            size: FONT,
            anchor: Anchor::Middle,
            color: Color::INK,
            bold: true,
        });
        let stats = format!("{} rows, {:.1}% anomalous", node.samples, share * 100.0);
        shapes.push(text(x, y + 31.0, stats, Anchor::Middle, Color::INK));
    }
    if nodes.is_empty() {
        shapes.push(text(width / 2.0, top + 20.0, "no tree", Anchor::Middle, Color::GREY));
    }
    Figure { title: name.to_string(), width, height, shapes }
}

/// A square matrix of values in -1..=1 (correlations): blue positive, red negative.
pub fn heatmap(name: &str, labels: &[String], cells: &[HeatCell]) -> Figure {
    let (cell, left, top) = (64.0, 150.0, 30.0);
    let n = labels.len() as f64;
    let width = left + n * cell + 10.0;
    let height = top + n * cell + 20.0;
    let mut shapes = vec![title(name)];
    for c in cells {
        let x = left + c.col as f64 * cell;
        let y = top + c.row as f64 * cell;
        let base = if c.value < 0.0 { Color::RED } else { Color::BLUE };
        let value = if c.value.is_finite() { c.value } else { 0.0 };
        shapes.push(Shape::Rect { x, y, w: cell - 2.0, h: cell - 2.0, color: base.lighten(1.0 - value.abs() * 0.85) });
        let ink = if value.abs() > 0.6 { Color(255, 255, 255) } else { Color::INK };
        shapes.push(text(x + cell / 2.0, y + cell / 2.0 + 4.0, format!("{value:.2}"), Anchor::Middle, ink));
    }
    for (i, label) in labels.iter().enumerate() {
        shapes.push(text(
            left - 6.0,
            top + i as f64 * cell + cell / 2.0 + 4.0,
            truncate(label, 24),
            Anchor::End,
            Color::INK,
        ));
        shapes.push(text(
            left + i as f64 * cell + cell / 2.0,
            height - 6.0,
            truncate(label, 10),
            Anchor::Middle,
            Color::INK,
        ));
    }
    Figure { title: name.to_string(), width, height, shapes }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact;

    fn day(i: usize, actual: Option<f64>, forecast: bool) -> TimePoint {
        TimePoint {
            label: format!("d{i}"),
            actual,
            expected: Some(100.0),
            lower: Some(90.0),
            upper: Some(110.0),
            severity: (i == 3).then(|| "critical".to_string()),
            forecast,
        }
    }

    #[test]
    fn time_chart_draws_band_line_marker_and_forecast_after_now() {
        let points: Vec<TimePoint> =
            (0..10).map(|i| if i < 6 { day(i, Some(100.0 + i as f64), false) } else { day(i, None, true) }).collect();
        let figure = time_chart("Revenue", &points, (600.0, 240.0), &compact);
        let areas = figure.shapes.iter().filter(|s| matches!(s, Shape::Area { .. })).count();
        assert_eq!(areas, 2, "one history band, one forecast band");
        let red = figure.shapes.iter().filter(|s| matches!(s, Shape::Circle { color, .. } if *color == Color::RED));
        assert_eq!(red.count(), 1);
        assert!(figure.shapes.iter().any(|s| matches!(s, Shape::Text { text, .. } if text == "now")));
        // Every coordinate lies on the canvas.
        for shape in &figure.shapes {
            if let Shape::Line { points, .. } | Shape::Area { points, .. } = shape {
                assert!(points.iter().all(|(x, y)| (0.0..=600.0).contains(x) && (0.0..=240.0).contains(y)));
            }
        }
    }

    #[test]
    fn empty_and_flat_series_still_draw() {
        let figure = time_chart("Empty", &[], (300.0, 200.0), &compact);
        assert!(figure.to_svg().contains("no data"));
        let flat: Vec<TimePoint> =
            (0..3).map(|i| TimePoint { label: i.to_string(), actual: Some(5.0), ..Default::default() }).collect();
        let svg = time_chart("Flat", &flat, (300.0, 200.0), &compact).to_svg();
        assert!(!svg.contains("NaN"), "{svg}");
    }

    #[test]
    fn negative_bars_extend_left_of_zero() {
        let bars = [
            Bar { label: "a".into(), value: -2.0, text: "-2".into(), highlight: true },
            Bar { label: "b".into(), value: 1.0, text: "1".into(), highlight: false },
        ];
        let figure = bar_chart("Contribution", &bars, 500.0);
        let rects: Vec<(f64, f64)> = figure
            .shapes
            .iter()
            .filter_map(|s| if let Shape::Rect { x, w, .. } = s { Some((*x, *w)) } else { None })
            .collect();
        let zero = (190.0 + 60.0 + 440.0) / 2.0;
        assert!(rects[0].0 + rects[0].1 <= zero + 1e-9 && rects[0].0 < zero);
        assert!((rects[1].0 - zero).abs() < 1e-9);
        // The longest negative bar's value text ends right of the label column.
        let texts: Vec<f64> = figure
            .shapes
            .iter()
            .filter_map(|s| if let Shape::Text { x, text, .. } = s { (text == "-2").then_some(*x) } else { None })
            .collect();
        assert!(texts[0] - 6.0 * 2.0 > 190.0, "{texts:?}");
    }

    #[test]
    fn tree_places_children_below_their_parent() {
        let nodes = vec![
            TreeNode { id: 1, parent: None, rule: String::new(), samples: 100, anomalous: 10 },
            TreeNode { id: 2, parent: Some(1), rule: "channel IN ('App')".into(), samples: 50, anomalous: 9 },
            TreeNode { id: 3, parent: Some(1), rule: "channel IN ('Web')".into(), samples: 50, anomalous: 1 },
        ];
        let figure = tree_chart("Tree", &nodes);
        let tops: Vec<f64> =
            figure.shapes.iter().filter_map(|s| if let Shape::Rect { y, .. } = s { Some(*y) } else { None }).collect();
        assert_eq!(tops.len(), 3);
        assert!(tops[1] > tops[0] && tops[1] == tops[2]);
    }
}
