//! Figures (plotters) in one style for both outputs: `report.md` links them as PNG and SVG files,
//! `report.html` inlines the SVG. Every figure is rendered in memory (nothing is written here), so
//! a report is either written whole or not at all.
//!
//! The style: the title above, the legend in its own column right of the plotting area (never over
//! the data), axis labels named with their units, log axes labelled with the values themselves.
//! The SVG carries what the page needs for light interactivity without scripts: each data point has
//! a `<title>` (hover value), and every element of series `i` has the class `s{i}` so a few lines
//! of script can hide a series.
//!
//! Text layout needs a TrueType font (also for SVG, to measure labels): the DejaVu Sans of Debian's
//! `fonts-dejavu-core` is registered at first use, or `$SCOREPROBE_FONT`. Without one no figure is
//! drawn and the caller is told why, so a study never fails for want of a font.

use crate::error::StudyError;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Every figure's size in pixels, and the legend column's width when there is a legend.
pub const SIZE: (u32, u32) = (760, 440);
const LEGEND_WIDTH: u32 = 200;
/// The height of one panel of a stacked figure.
const PANEL_HEIGHT: u32 = 260;
/// A line series draws a marker per point up to this many points (a SIEM profile has 1000).
const MAX_MARKERS: usize = 60;
/// Values spanning more than this many decades get a log axis.
pub const LOG_DECADES: f64 = 1.5;

/// Registers a font for the bitmap backend once; false when none is available.
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let env = std::env::var("SCOREPROBE_FONT").ok();
        let path =
            env.iter().map(String::as_str).chain(FONT_CANDIDATES.iter().copied()).find(|p| Path::new(p).is_file());
        let Some(bytes) = path.and_then(|p| std::fs::read(p).ok()) else { return false };
        // plotters keeps a 'static reference to the font data
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    })
}

/// Why figures cannot be drawn, if they cannot.
pub fn unavailable() -> Option<String> {
    (!font_ready()).then(|| {
        "figures skipped: no TrueType font found (install Debian's fonts-dejavu-core or set SCOREPROBE_FONT)".into()
    })
}

/// A named series of (x, y) points, with optional ± SE per point (drawn as a band) and a name per
/// point (shown on hover).
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Empty, or one entry per point.
    pub se: Vec<Option<f64>>,
    /// Empty, or one entry per point.
    pub names: Vec<String>,
}

/// Points or lines against a numeric x axis.
pub struct XyFigure {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Lines through the points (else a scatter).
    pub lines: bool,
    pub log_y: bool,
    /// A log x axis (training steps picked log-uniformly); points at x ≤ 0 are left out.
    pub log_x: bool,
}

/// A matrix of values in [-1, 1] (rank correlations), one cell per (column, row).
pub struct HeatFigure {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub columns: Vec<String>,
    pub rows: Vec<String>,
    /// (column, row, value, hover text).
    pub cells: Vec<(usize, usize, f64, String)>,
}

/// Horizontal bars, one per category.
pub struct BarFigure {
    pub title: String,
    pub x_label: String,
    /// (category, value, hover text).
    pub bars: Vec<(String, f64, String)>,
    pub log_x: bool,
}

/// Panels stacked top to bottom under one title, sharing the x range (series of other units
/// measured along the same axis: a training monitor and a reference at the checkpoints).
pub struct StackedFigure {
    pub title: String,
    pub panels: Vec<XyFigure>,
}

pub enum Figure {
    Xy(XyFigure),
    Heat(HeatFigure),
    Bars(BarFigure),
    Stacked(StackedFigure),
}

impl Figure {
    pub fn title(&self) -> &str {
        match self {
            Figure::Xy(f) => &f.title,
            Figure::Heat(f) => &f.title,
            Figure::Bars(f) => &f.title,
            Figure::Stacked(f) => &f.title,
        }
    }

    /// The figure's size in pixels: a stacked figure grows by a panel height per panel.
    pub fn size(&self) -> (u32, u32) {
        match self {
            Figure::Stacked(f) => (SIZE.0, 60 + PANEL_HEIGHT * f.panels.len().max(1) as u32),
            _ => SIZE,
        }
    }

    /// The series' labels and colours (for the page's toggles); empty for heat maps and bars.
    pub fn legend(&self) -> Vec<(String, String)> {
        match self {
            Figure::Xy(f) => f.series.iter().enumerate().map(|(i, s)| (s.label.clone(), hex(color(i)))).collect(),
            // a stacked figure colours its series in order across the panels
            Figure::Stacked(f) => f
                .panels
                .iter()
                .flat_map(|p| &p.series)
                .enumerate()
                .map(|(i, s)| (s.label.clone(), hex(color(i))))
                .collect(),
            _ => vec![],
        }
    }
}

/// A figure drawn: the SVG (with hover titles and series classes) and, when asked for, the PNG.
pub struct Rendered {
    pub svg: String,
    pub png: Option<Vec<u8>>,
    /// Data marks with a hover value (points, cells, bars).
    pub marks: usize,
}

/// Whether positive values span more than [`LOG_DECADES`] decades (all must be positive).
pub fn spans_decades(values: impl Iterator<Item = f64>) -> bool {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values.filter(|v| v.is_finite()) {
        if v <= 0.0 {
            return false;
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    lo.is_finite() && (hi / lo).log10() > LOG_DECADES
}

/// Series colours: Tableau 10, then hues spaced by the golden angle (distinct for every index, so
/// a series' SVG elements can be found by their colour).
pub fn color(i: usize) -> RGBColor {
    const T10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    if let Some(&(r, g, b)) = T10.get(i) {
        return RGBColor(r, g, b);
    }
    let hue = ((i - 10) as f64 * 137.507_764) % 360.0;
    let (r, g, b) = HSLColor(hue / 360.0, 0.55 + 0.1 * ((i % 3) as f64), 0.42).rgb();
    RGBColor(r, g, b)
}

fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// A tick of a log axis: 10^v to 2 significant digits (3.2, not 3.162).
fn log_tick(v: f64) -> String {
    let rounded: f64 = format!("{:.1e}", 10f64.powf(v)).parse().unwrap_or(f64::NAN);
    tick(rounded)
}

/// A short tick label: 3 significant digits, scientific outside [10⁻³, 10⁵).
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&a) {
        // 3 significant digits, trailing zeros dropped (0.00345, 0.5, 1500)
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    }
}

/// Where the page shows a value on hover.
enum Shape {
    Dot(i32, i32),
    Rect(i32, i32, i32, i32),
}

struct Hit {
    series: Option<usize>,
    shape: Shape,
    text: String,
}

fn fig_err(title: &str, message: String) -> StudyError {
    StudyError::Figure { title: title.to_string(), message }
}

/// Renders a figure as SVG, and as PNG when `png`.
pub fn render(fig: &Figure, png: bool) -> Result<Rendered, StudyError> {
    if let Some(why) = unavailable() {
        return Err(fig_err(fig.title(), why));
    }
    let mut svg = String::new();
    let hits = {
        let root = SVGBackend::with_string(&mut svg, fig.size()).into_drawing_area();
        let hits = draw(fig, &root)?;
        root.present().map_err(|e| fig_err(fig.title(), format!("{e:?}")))?;
        hits
    };
    let colors: Vec<String> = fig.legend().into_iter().map(|(_, c)| c).collect();
    let svg = annotate(&svg, &colors, &hits);
    let png = if png { Some(render_png(fig)?) } else { None };
    Ok(Rendered { svg, png, marks: hits.len() })
}

fn render_png(fig: &Figure) -> Result<Vec<u8>, StudyError> {
    let (w, h) = fig.size();
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(fig, &root)?;
        root.present().map_err(|e| fig_err(fig.title(), format!("{e:?}")))?;
    }
    let mut out = vec![];
    use image::ImageEncoder;
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&buf, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| fig_err(fig.title(), format!("encoding the PNG: {e}")))?;
    Ok(out)
}

/// Classes `s{i}` on the elements drawn in series `i`'s colour (legend swatches are rectangles and
/// stay visible), and a transparent hover mark with a `<title>` per data point.
fn annotate(svg: &str, colors: &[String], hits: &[Hit]) -> String {
    let mut out = String::with_capacity(svg.len() + hits.len() * 120);
    for line in svg.lines() {
        if line.trim() == "</svg>" {
            hover_layer(&mut out, hits);
        }
        let tag = ["<circle", "<polyline", "<polygon", "<line", "<path"].into_iter().find(|t| line.starts_with(t));
        let series = tag.and_then(|_| colors.iter().position(|c| line.contains(&format!("\"{c}\""))));
        match (tag, series) {
            (Some(t), Some(i)) => {
                let _ = writeln!(out, "{t} class=\"s{i}\"{}", &line[t.len()..]);
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn hover_layer(out: &mut String, hits: &[Hit]) {
    out.push_str("<g class=\"hits\">\n");
    for h in hits {
        let class = h.series.map_or("hit".to_string(), |i| format!("hit s{i}"));
        let text = escape(&h.text);
        let _ = match h.shape {
            Shape::Dot(x, y) => writeln!(
                out,
                "<circle class=\"{class}\" cx=\"{x}\" cy=\"{y}\" r=\"6\" fill=\"#000\" fill-opacity=\"0\"><title>{text}</title></circle>"
            ),
            Shape::Rect(x, y, w, hh) => writeln!(
                out,
                "<rect class=\"{class}\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{hh}\" fill=\"#000\" fill-opacity=\"0\"><title>{text}</title></rect>"
            ),
        };
    }
    out.push_str("</g>\n");
}

/// XML text escaping.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

type Area<DB> = DrawingArea<DB, Shift>;

fn draw<DB: DrawingBackend>(fig: &Figure, root: &Area<DB>) -> Result<Vec<Hit>, StudyError>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| fig_err(fig.title(), format!("{e:?}"));
    root.fill(&WHITE).map_err(err)?;
    let body = root.titled(fig.title(), ("sans-serif", 17)).map_err(err)?;
    match fig {
        Figure::Xy(f) => draw_xy(f, &body, XyPlacement::default()),
        Figure::Heat(f) => draw_heat(f, &body),
        Figure::Bars(f) => draw_bars(f, &body),
        Figure::Stacked(f) => draw_stacked(f, &body),
    }
}

/// Where an x-y plot sits among others: the x range it must share, the index of its first series'
/// colour.
#[derive(Clone, Copy, Default)]
struct XyPlacement {
    x_range: Option<(f64, f64)>,
    first_color: usize,
}

fn draw_stacked<DB: DrawingBackend>(fig: &StackedFigure, area: &Area<DB>) -> Result<Vec<Hit>, StudyError>
where
    DB::ErrorType: 'static,
{
    let xs = fig.panels.iter().flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().map(|q| q.0)));
    let x_range = Some(bounds(xs, fig.panels.iter().any(|p| p.log_x)));
    let mut hits = vec![];
    let mut first_color = 0;
    for (panel, part) in fig.panels.iter().zip(area.split_evenly((fig.panels.len().max(1), 1))) {
        hits.extend(draw_xy(panel, &part, XyPlacement { x_range, first_color })?);
        first_color += panel.series.len();
    }
    Ok(hits)
}

fn bounds(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        let v = if log { v.log10() } else { v };
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.06).max(1e-9 * (1.0 + hi.abs())).max(if log { 0.05 } else { 0.0 });
    (lo - pad, hi + pad)
}

/// The plotting area and, with more than one series, the legend column right of it.
fn split_legend<DB: DrawingBackend>(area: &Area<DB>, series: usize) -> (Area<DB>, Option<Area<DB>>) {
    if series < 2 {
        return (area.clone(), None);
    }
    let w = area.dim_in_pixel().0;
    let (plot, legend) = area.split_horizontally(w.saturating_sub(LEGEND_WIDTH));
    (plot, Some(legend))
}

fn draw_legend<DB: DrawingBackend>(
    area: &Area<DB>,
    labels: &[String],
    first_color: usize,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let h = area.dim_in_pixel().1 as i32;
    let rows = ((h - 30) / 17).max(1) as usize;
    for (i, label) in labels.iter().enumerate().take(rows) {
        let y = 20 + 17 * i as i32;
        if i + 1 == rows && labels.len() > rows {
            area.draw(&Text::new(format!("… {} more", labels.len() - i), (8, y), ("sans-serif", 13)))?;
            break;
        }
        area.draw(&Rectangle::new([(8, y + 2), (20, y + 12)], color(first_color + i).filled()))?;
        let text: String =
            if label.chars().count() > 24 { label.chars().take(23).chain(['…']).collect() } else { label.clone() };
        area.draw(&Text::new(text, (26, y), ("sans-serif", 13)))?;
    }
    Ok(())
}

fn draw_xy<DB: DrawingBackend>(fig: &XyFigure, area: &Area<DB>, at: XyPlacement) -> Result<Vec<Hit>, StudyError>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| fig_err(&fig.title, format!("{e:?}"));
    let (plot, legend) = split_legend(area, fig.series.len());
    if let Some(l) = &legend {
        let labels: Vec<String> = fig.series.iter().map(|s| s.label.clone()).collect();
        draw_legend(l, &labels, at.first_color).map_err(err)?;
    }
    let (log, log_x) = (fig.log_y, fig.log_x);
    let (x0, x1) =
        at.x_range.unwrap_or_else(|| bounds(fig.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)), log_x));
    // the range holds the ± SE bands too (a band is clipped only where it goes below 0 on a log axis)
    let ys = fig.series.iter().flat_map(|s| {
        s.points.iter().enumerate().flat_map(move |(k, p)| {
            let se = s.se.get(k).copied().flatten().unwrap_or(0.0);
            [p.1, p.1 + se, if log && p.1 - se <= 0.0 { p.1 } else { p.1 - se }]
        })
    });
    let (y0, y1) = bounds(ys, log);
    let mut chart = ChartBuilder::on(&plot)
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let y_fmt = |v: &f64| if log { log_tick(*v) } else { tick(*v) };
    let y_desc = if log { format!("{} (log scale)", fig.y_label) } else { fig.y_label.clone() };
    let x_fmt = |v: &f64| if log_x { log_tick(*v) } else { tick(*v) };
    let x_desc = if log_x { format!("{} (log scale)", fig.x_label) } else { fig.x_label.clone() };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(BLACK.mix(0.04))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(err)?;
    let to_y = |y: f64| if log { y.log10() } else { y };
    let to_x = |x: f64| if log_x { x.log10() } else { x };
    let mut hits = vec![];
    for (i, s) in fig.series.iter().enumerate().map(|(i, s)| (i + at.first_color, s)) {
        let c = color(i);
        let keep: Vec<usize> = (0..s.points.len())
            .filter(|&k| {
                let (x, y) = s.points[k];
                x.is_finite() && y.is_finite() && (!log || y > 0.0) && (!log_x || x > 0.0)
            })
            .collect();
        let pts: Vec<(f64, f64)> = keep.iter().map(|&k| (to_x(s.points[k].0), to_y(s.points[k].1))).collect();
        band(&mut chart, s, &keep, (log_x, log), y0, c).map_err(err)?;
        if fig.lines {
            chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))).map_err(err)?;
        }
        if !fig.lines || pts.len() <= MAX_MARKERS {
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, c.filled()))).map_err(err)?;
        }
        // hover marks: every point of short series, about 60 of long ones
        let stride = keep.len().div_ceil(MAX_MARKERS).max(1);
        for (j, &k) in keep.iter().enumerate().step_by(stride) {
            let (x, y) = chart.backend_coord(&pts[j]);
            hits.push(Hit { series: Some(i), shape: Shape::Dot(x, y), text: point_text(fig, s, k) });
        }
    }
    Ok(hits)
}

/// The ± SE band of a series (only where every point has an SE), clipped to the plotting range.
fn band<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    s: &Series,
    keep: &[usize],
    (log_x, log): (bool, bool),
    y_floor: f64,
    c: RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    if s.se.len() != s.points.len() {
        return Ok(());
    }
    // points without an SE at either end (a paired series' first evaluation) are left out; one
    // inside leaves no band (it would be drawn across the gap)
    let first = keep.iter().position(|&k| s.se[k].is_some()).unwrap_or(keep.len());
    let last = keep.iter().rposition(|&k| s.se[k].is_some()).map_or(first, |i| i + 1);
    let keep = &keep[first..last.max(first)];
    if keep.len() < 2 || keep.iter().any(|&k| s.se[k].is_none()) {
        return Ok(());
    }
    let edge = |k: usize, sign: f64| {
        let (x, y) = s.points[k];
        let v = y + sign * s.se[k].unwrap_or(0.0);
        (
            if log_x { x.log10() } else { x },
            if log {
                if v > 0.0 {
                    v.log10().max(y_floor)
                } else {
                    y_floor
                }
            } else {
                v
            },
        )
    };
    let mut poly: Vec<(f64, f64)> = keep.iter().map(|&k| edge(k, 1.0)).collect();
    poly.extend(keep.iter().rev().map(|&k| edge(k, -1.0)));
    chart.draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))?;
    Ok(())
}

fn point_text(fig: &XyFigure, s: &Series, k: usize) -> String {
    let (x, y) = s.points[k];
    let name = s.names.get(k).map_or(s.label.clone(), |n| format!("{} · {n}", s.label));
    let se = s.se.get(k).copied().flatten().map_or(String::new(), |e| format!(" ± {}", sig(e)));
    format!("{name}: {} = {}, {} = {}{se}", fig.x_label, sig(x), fig.y_label, sig(y))
}

/// A hover value: 4 significant digits.
pub fn sig(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.3e}")
    }
}

/// Diverging blue–white–red for a correlation in [-1, 1].
fn heat_color(v: f64) -> RGBColor {
    if !v.is_finite() {
        return RGBColor(220, 220, 220);
    }
    let t = v.clamp(-1.0, 1.0);
    let (r, g, b) = if t >= 0.0 { (178.0, 24.0, 43.0) } else { (33.0, 102.0, 172.0) };
    let a = t.abs();
    let mix = |c: f64| (255.0 + (c - 255.0) * a).round() as u8;
    RGBColor(mix(r), mix(g), mix(b))
}

fn draw_heat<DB: DrawingBackend>(fig: &HeatFigure, area: &Area<DB>) -> Result<Vec<Hit>, StudyError>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| fig_err(&fig.title, format!("{e:?}"));
    let (nx, ny) = (fig.columns.len() as i32, fig.rows.len() as i32);
    let widest = fig.rows.iter().map(|r| r.chars().count()).max().unwrap_or(4) as u32;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(24 + 8 * widest)
        .build_cartesian_2d((0..nx).into_segmented(), (0..ny).into_segmented())
        .map_err(err)?;
    let name = |names: &[String], v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(fig.x_label.as_str())
        .y_desc(fig.y_label.as_str())
        .x_labels(fig.columns.len() + 1)
        .y_labels(fig.rows.len() + 1)
        .x_label_formatter(&|v| name(&fig.columns, v))
        .y_label_formatter(&|v| name(&fig.rows, v))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    let mut hits = vec![];
    for (cx, cy, v, text) in &fig.cells {
        let (i, j) = (*cx as i32, *cy as i32);
        let corners = [
            (SegmentValue::Exact(i), SegmentValue::Exact(j)),
            (SegmentValue::Exact(i + 1), SegmentValue::Exact(j + 1)),
        ];
        chart.draw_series(std::iter::once(Rectangle::new(corners.clone(), heat_color(*v).filled()))).map_err(err)?;
        let label = if v.is_finite() { format!("{v:.2}") } else { "–".into() };
        let ink = if v.abs() > 0.6 { WHITE } else { BLACK };
        let style = ("sans-serif", 13).into_font().color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
        chart
            .draw_series(std::iter::once(Text::new(
                label,
                (SegmentValue::CenterOf(i), SegmentValue::CenterOf(j)),
                style,
            )))
            .map_err(err)?;
        let (a, b) = (chart.backend_coord(&corners[0]), chart.backend_coord(&corners[1]));
        let (x, y) = (a.0.min(b.0), a.1.min(b.1));
        let shape = Shape::Rect(x, y, (a.0 - b.0).abs(), (a.1 - b.1).abs());
        hits.push(Hit { series: None, shape, text: text.clone() });
    }
    Ok(hits)
}

fn draw_bars<DB: DrawingBackend>(fig: &BarFigure, area: &Area<DB>) -> Result<Vec<Hit>, StudyError>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| fig_err(&fig.title, format!("{e:?}"));
    let log = fig.log_x;
    let n = fig.bars.len() as i32;
    let to_x = |v: f64| if log { v.max(1e-12).log10() } else { v };
    let (lo, hi) = bounds(fig.bars.iter().map(|b| b.1), log);
    // linear bars start at 0; log bars at the axis' left end
    let (x0, x1) = if log { (lo, hi) } else { (0.0, hi.max(1e-12)) };
    let widest = fig.bars.iter().map(|b| b.0.chars().count()).max().unwrap_or(4) as u32;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(24 + 8 * widest)
        .build_cartesian_2d(x0..x1, (0..n).into_segmented())
        .map_err(err)?;
    let name = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => fig.bars.get(*i as usize).map(|b| b.0.clone()).unwrap_or_default(),
        _ => String::new(),
    };
    let x_fmt = |v: &f64| if log { log_tick(*v) } else { tick(*v) };
    let x_desc = if log { format!("{} (log scale)", fig.x_label) } else { fig.x_label.clone() };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(x_desc)
        .y_labels(fig.bars.len() + 1)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&name)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(BLACK.mix(0.04))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(err)?;
    let mut hits = vec![];
    for (j, (_, v, text)) in fig.bars.iter().enumerate() {
        let j = j as i32;
        let corners = [(x0, SegmentValue::Exact(j)), (to_x(*v).max(x0), SegmentValue::Exact(j + 1))];
        let mut bar = Rectangle::new(corners.clone(), color(0).filled());
        bar.set_margin(3, 3, 0, 0);
        chart.draw_series(std::iter::once(bar)).map_err(err)?;
        let (a, b) = (chart.backend_coord(&corners[0]), chart.backend_coord(&corners[1]));
        let shape = Shape::Rect(a.0.min(b.0), a.1.min(b.1), (a.0 - b.0).abs().max(2), (a.1 - b.1).abs());
        hits.push(Hit { series: None, shape, text: text.clone() });
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip() -> bool {
        if let Some(why) = unavailable() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must install fonts-dejavu-core: {why}");
            eprintln!("skipped: {why}");
            return true;
        }
        false
    }

    #[test]
    fn a_stacked_figure_shares_its_x_range_and_colours_its_series_in_order() {
        if skip() {
            return;
        }
        let panel = |label: &str, points: Vec<(f64, f64)>, se: Vec<Option<f64>>| XyFigure {
            title: "both".into(),
            x_label: "step".into(),
            y_label: label.into(),
            series: vec![Series { label: label.into(), points, se, names: vec![] }],
            lines: true,
            log_y: false,
            log_x: false,
        };
        // a paired band starts at the second point (the first has nothing to pair with)
        let top = panel("monitor", vec![(0.0, 5.0), (10.0, 4.0), (20.0, 3.5)], vec![None, Some(0.1), Some(0.1)]);
        let bottom = panel("fd", vec![(5.0, 30.0), (20.0, 25.0)], vec![Some(1.0), Some(2.0)]);
        let fig = Figure::Stacked(StackedFigure { title: "both".into(), panels: vec![top, bottom] });
        assert_eq!(fig.size(), (SIZE.0, 60 + 2 * PANEL_HEIGHT));
        assert_eq!(fig.legend().iter().map(|l| l.1.clone()).collect::<Vec<_>>(), vec![hex(color(0)), hex(color(1))]);
        let r = render(&fig, true).unwrap();
        assert_eq!(r.marks, 5);
        assert!(r.svg.contains("<polygon class=\"s0\"") && r.svg.contains("<polygon class=\"s1\""), "both bands");
        // the same x range: the points at step 20 of both panels sit in the same column
        let x_of = |needle: &str| {
            let line = r.svg.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}"));
            line.split("cx=\"").nth(1).and_then(|v| v.split('"').next()).unwrap().to_string()
        };
        assert_eq!(x_of("monitor: step = 20.00"), x_of("fd: step = 20.00"));
        let png = r.png.unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn a_log_step_axis_spaces_log_uniform_checkpoints_evenly_and_drops_step_0() {
        if skip() {
            return;
        }
        let points = vec![(0.0, 3.0), (250.0, 2.0), (2500.0, 1.5), (25000.0, 1.0)];
        let fig = Figure::Xy(XyFigure {
            title: "fd".into(),
            x_label: "training step".into(),
            y_label: "fd".into(),
            series: vec![Series { label: "fd".into(), points, se: vec![], names: vec![] }],
            lines: true,
            log_y: false,
            log_x: true,
        });
        let r = render(&fig, false).unwrap();
        assert!(r.svg.contains("training step (log scale)"));
        assert_eq!(r.marks, 3, "step 0 has no place on a log axis");
        let xs: Vec<f64> = r
            .svg
            .lines()
            .filter(|l| l.contains("class=\"hit s0\""))
            .map(|l| l.split("cx=\"").nth(1).and_then(|v| v.split('"').next()).unwrap().parse().unwrap())
            .collect();
        assert!(((xs[1] - xs[0]) - (xs[2] - xs[1])).abs() <= 1.0, "decades equally wide: {xs:?}");
    }

    #[test]
    fn an_xy_figure_has_a_hover_mark_per_point_series_classes_and_a_png() {
        if skip() {
            return;
        }
        let s = |label: &str| Series {
            label: label.into(),
            points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 0.5)],
            se: vec![Some(0.1); 3],
            names: vec!["a".into(), "b".into(), "c".into()],
        };
        let fig = Figure::Xy(XyFigure {
            title: "ρ = 0.5".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![s("one"), s("two")],
            lines: true,
            log_y: true,
            log_x: false,
        });
        let r = render(&fig, true).unwrap();
        assert!(r.svg.contains("<svg") && r.svg.contains("ρ = 0.5"));
        assert_eq!(r.marks, 6);
        assert_eq!(r.svg.matches("<title>").count(), 6);
        assert!(r.svg.contains("<title>two · c: x = 2.000, y = 0.5000 ± 0.1000</title>"), "{}", r.svg);
        assert!(r.svg.contains("<polyline class=\"s1\""));
        assert!(r.svg.contains("<polygon class=\"s0\""), "the SE band is drawn in the series' colour");
        let png = r.png.unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn heat_maps_and_bars_have_one_mark_per_cell_or_bar() {
        if skip() {
            return;
        }
        let heat = Figure::Heat(HeatFigure {
            title: "h".into(),
            x_label: "reference".into(),
            y_label: "cheap".into(),
            columns: vec!["w2".into()],
            rows: vec!["siem".into(), "l2".into()],
            cells: vec![(0, 0, 0.9, "siem vs w2".into()), (0, 1, f64::NAN, "l2 vs w2".into())],
        });
        let r = render(&heat, false).unwrap();
        assert_eq!(r.marks, 2);
        assert!(r.svg.contains("0.90") && r.svg.contains("<title>siem vs w2</title>"), "{}", r.svg);
        let bars = Figure::Bars(BarFigure {
            title: "b".into(),
            x_label: "seconds".into(),
            bars: vec![("w2".into(), 0.5, "w2: 0.5 s".into()), ("siem".into(), 50.0, "siem: 50 s".into())],
            log_x: true,
        });
        assert_eq!(render(&bars, false).unwrap().marks, 2);
    }

    #[test]
    fn log_axes_only_where_values_span_more_than_one_and_a_half_decades() {
        assert!(spans_decades([1.0, 40.0].into_iter()));
        assert!(!spans_decades([1.0, 30.0].into_iter()));
        assert!(!spans_decades([-1.0, 100.0].into_iter()));
        assert_eq!(
            (tick(0.5), tick(1500.0), tick(2.5e-5), tick(3e6)),
            ("0.5".into(), "1500".into(), "2.5e-5".into(), "3e6".into())
        );
        assert_eq!((log_tick(0.5), log_tick(-1.5), tick(0.008)), ("3.2".into(), "0.032".into(), "0.008".into()));
        assert_eq!((tick(0.00345), tick(12.5), tick(-0.25)), ("0.00345".into(), "12.5".into(), "-0.25".into()));
    }

    #[test]
    fn series_colours_are_distinct() {
        let c: std::collections::BTreeSet<String> = (0..200).map(|i| hex(color(i))).collect();
        assert_eq!(c.len(), 200);
    }
}
