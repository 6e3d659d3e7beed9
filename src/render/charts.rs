//! Charts drawn with plotters primitives (rectangles, lines, text) so that SVG and PNG are
//! byte-for-byte deterministic, in a bundled font (DejaVu Sans) so that nothing depends on the
//! machine's fonts, with a colour-blind-safe palette (Okabe–Ito) and a footer naming the survey
//! round and its TLP label.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use crate::error::{Error, Result};

static FONT: Once = Once::new();
const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Okabe–Ito colours, safe for the common colour-vision deficiencies.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(240, 228, 66),  // yellow
    RGBColor(230, 159, 0),   // orange
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 114, 178),   // blue
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(204, 121, 167), // reddish purple
];
const GREY: RGBColor = RGBColor(120, 120, 120);
const LIGHT: RGBColor = RGBColor(225, 225, 225);

fn register_font() {
    FONT.call_once(|| {
        // The font is compiled in; failure would be a build defect, and charts then fall back to
        // plotters' error path rather than a panic.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT_BYTES);
    });
}

/// The smallest text a chart asks for, in plotters' pixels. Plotters writes SVG text at
/// 1/1.24 of the size it lays out with, so this is about 13.7 px in the report; a 900-pixel
/// chart printed across a 7-inch column (A4 or Letter with 12 mm margins) is scaled to about
/// 0.78, which prints it at about 8 pt.
pub const MIN_TEXT_PX: f64 = 17.0;

/// The sizes charts ask for, on the scale every chart shares: titles 24 px, headings 18 px,
/// everything else [`MIN_TEXT_PX`].
fn px(size: f64) -> f64 {
    if size >= 20.0 {
        24.0
    } else if size >= 14.0 {
        18.0
    } else {
        MIN_TEXT_PX
    }
}

fn text_style(size: f64, color: &'static RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from((FAMILY, px(size)).into_font())
        .color(color)
        .pos(Pos::new(h, v))
}

/// The width in pixels of `text` drawn at `size` (the requested size, before [`px`]), by the
/// bundled font's metrics.
pub fn text_width(text: &str, size: f64) -> i32 {
    register_font();
    (FAMILY, px(size)).into_font().box_size(text).map_or_else(
        |_| (text.chars().count() as f64 * px(size) * 0.62) as i32,
        |(w, _)| w as i32,
    )
}

/// `text` cut at a word (or, failing that, a character) with an ellipsis so that it is at most
/// `max` pixels wide at `size`.
pub fn fit(text: &str, size: f64, max: i32) -> String {
    if text_width(text, size) <= max {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut n = chars.len();
    while n > 0 {
        n -= 1;
        let head: String = chars[..n].iter().collect();
        let head = head.trim_end_matches([' ', ',', ':', ';', '(', '—', '–']);
        let candidate = format!("{head}…");
        if text_width(&candidate, size) <= max {
            return candidate;
        }
    }
    String::new()
}

/// Words packed into lines at most `max` pixels wide at `size`; at most `max_lines` lines, the
/// last one fitted with an ellipsis.
pub fn wrap_px(text: &str, size: f64, max: i32, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    // A word wider than a line is broken with a hyphen where it fits.
    let mut pieces: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let mut rest: Vec<char> = word.chars().collect();
        while text_width(&rest.iter().collect::<String>(), size) > max && rest.len() > 4 {
            let cut = (2..rest.len() - 1)
                .rev()
                .find(|&k| {
                    text_width(&format!("{}-", rest[..k].iter().collect::<String>()), size) <= max
                })
                .unwrap_or(2);
            pieces.push(format!("{}-", rest[..cut].iter().collect::<String>()));
            rest = rest[cut..].to_vec();
        }
        pieces.push(rest.into_iter().collect());
    }
    let words: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let mut i = 0;
    while i < words.len() {
        if lines.len() + 1 == max_lines {
            lines.push(fit(&words[i..].join(" "), size, max));
            break;
        }
        let mut line = words[i].to_string();
        i += 1;
        while i < words.len() && text_width(&format!("{line} {}", words[i]), size) <= max {
            line = format!("{line} {}", words[i]);
            i += 1;
        }
        lines.push(fit(&line, size, max));
    }
    lines
}

/// Draw `text` so that it stays inside the canvas (8 px margin) and, when given, within
/// `max` pixels: longer text is cut with an ellipsis rather than clipped.
fn put<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: (f64, &'static RGBColor, HPos, VPos),
    at: (i32, i32),
    max: Option<i32>,
) -> std::result::Result<(), String> {
    let (size, color, h, v) = style;
    let (w, _) = area.dim_in_pixel();
    let w = w as i32;
    let room = match h {
        HPos::Left => w - 8 - at.0,
        HPos::Right => at.0 - 8,
        HPos::Center => 2 * (at.0 - 8).min(w - 8 - at.0),
    };
    let room = max.map_or(room, |m| m.min(room));
    let shown = fit(text, size, room.max(0));
    if shown.is_empty() {
        return Ok(());
    }
    area.draw_text(&shown, &text_style(size, color, h, v), at)
        .map_err(e)
}

/// A row's label, right-aligned at `at`, on up to two lines of at most `max` pixels.
fn row_label<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    label: &str,
    size: f64,
    at: (i32, i32),
    max: i32,
) -> std::result::Result<(), String> {
    let lines = wrap_px(label, size, max, 2);
    for (k, line) in lines.iter().enumerate() {
        let dy = 16 * k as i32 - 16 * (lines.len() as i32 - 1) / 2;
        put(
            area,
            line,
            (size, &BLACK, HPos::Right, VPos::Center),
            (at.0, at.1 + dy),
            Some(max),
        )?;
    }
    Ok(())
}

/// Ticks at round values ("nice numbers": steps of 1, 2, 2.5 or 5 × 10^k) covering `lo`–`hi`:
/// the axis range, rounded outwards, and the tick values.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> (f64, f64, Vec<f64>) {
    let span = (hi - lo).abs().max(1e-9);
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let a = (lo / step).floor() * step;
    let b = (hi / step).ceil() * step;
    let n = ((b - a) / step).round() as usize;
    let ticks = (0..=n).map(|k| a + step * k as f64).collect();
    (a, b, ticks)
}

/// A tick label: as many decimals as the step needs.
fn tick_text(v: f64, step: f64, suffix: &str) -> String {
    // The fewest decimals that write the step exactly (2.5 → one, 0.25 → two).
    let decimals = (0..3)
        .find(|d| {
            let f = 10f64.powi(*d);
            ((step * f).round() - step * f).abs() < 1e-9
        })
        .unwrap_or(3) as usize;
    format!("{v:.decimals$}{suffix}")
}

/// One row of a bar or forest chart.
#[derive(Debug, Clone)]
pub struct ChartRow {
    pub label: String,
    /// Shares (0–1) per series for stacked bars; `[estimate, low, high]` for forest plots.
    pub values: Vec<f64>,
    /// Text at the right end of the row (`n = 64`, `n < 5`).
    pub right: String,
    /// For a withheld row: what the chart says instead of the data, with the report's mark
    /// ("withheld* — too few organizations").
    pub why: String,
    pub suppressed: bool,
    /// A group heading row (no data), e.g. "By subsector".
    pub heading: bool,
}

/// A chart that can draw itself on any plotters backend.
pub trait Chart {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String>;
}

/// Write `<stem>.svg` and `<stem>.png`.
pub fn write_chart(chart: &impl Chart, dir: &Path, stem: &str) -> Result<()> {
    register_font();
    let size = chart.size();
    let svg = dir.join(format!("{stem}.svg"));
    {
        let area = SVGBackend::new(&svg, size).into_drawing_area();
        chart.draw(&area).map_err(|e| Error::output(&svg, e))?;
        area.present().map_err(|e| Error::output(&svg, e))?;
    }
    let png = dir.join(format!("{stem}.png"));
    {
        let area = BitMapBackend::new(&png, size).into_drawing_area();
        chart.draw(&area).map_err(|e| Error::output(&png, e))?;
        area.present().map_err(|e| Error::output(&png, e))?;
    }
    Ok(())
}

fn e<T: std::fmt::Debug>(err: T) -> String {
    format!("{err:?}")
}

const LEFT: i32 = 300;
const RIGHT: i32 = 110;
const TOP: i32 = 96;
const ROW_H: i32 = 36;
const BOTTOM: i32 = 96;

fn frame<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
    footer: &str,
) -> std::result::Result<(), String> {
    area.fill(&WHITE).map_err(e)?;
    let (w, h) = area.dim_in_pixel();
    put(
        area,
        title,
        (20.0, &BLACK, HPos::Left, VPos::Top),
        (16, 12),
        None,
    )?;
    for (k, line) in wrap_px(subtitle, 13.0, w as i32 - 32, 2).iter().enumerate() {
        put(
            area,
            line,
            (13.0, &GREY, HPos::Left, VPos::Top),
            (16, 42 + 19 * k as i32),
            None,
        )?;
    }
    put(
        area,
        footer,
        (11.0, &GREY, HPos::Left, VPos::Bottom),
        (16, h as i32 - 10),
        None,
    )?;
    Ok(())
}

fn x_axis<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    y: i32,
    x0: i32,
    x1: i32,
    ticks: &[(f64, String)],
    label: &str,
    top: i32,
) -> std::result::Result<(), String> {
    for (frac, text) in ticks {
        let x = x0 + ((x1 - x0) as f64 * frac).round() as i32;
        area.draw(&PathElement::new(
            vec![(x, top), (x, y)],
            LIGHT.stroke_width(1),
        ))
        .map_err(e)?;
        area.draw(&PathElement::new(
            vec![(x, y), (x, y + 5)],
            BLACK.stroke_width(1),
        ))
        .map_err(e)?;
        put(
            area,
            text,
            (12.0, &BLACK, HPos::Center, VPos::Top),
            (x, y + 8),
            None,
        )?;
    }
    area.draw(&PathElement::new(
        vec![(x0, y), (x1, y)],
        BLACK.stroke_width(1),
    ))
    .map_err(e)?;
    put(
        area,
        label,
        (13.0, &BLACK, HPos::Center, VPos::Top),
        ((x0 + x1) / 2, y + 28),
        None,
    )?;
    Ok(())
}

/// 100% stacked horizontal bars (shares per series), one per row, with n at the right.
pub struct StackedShares {
    pub title: String,
    pub subtitle: String,
    pub footer: String,
    pub series: Vec<String>,
    pub rows: Vec<ChartRow>,
}

impl Chart for StackedShares {
    fn size(&self) -> (u32, u32) {
        (
            900,
            (TOP + 34 + ROW_H * self.rows.len() as i32 + BOTTOM) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        frame(area, &self.title, &self.subtitle, &self.footer)?;
        let (w, _) = area.dim_in_pixel();
        let (x0, x1) = (LEFT, w as i32 - RIGHT);
        // Legend.
        let mut lx = x0;
        for (i, s) in self.series.iter().enumerate() {
            area.draw(&Rectangle::new(
                [(lx, TOP), (lx + 14, TOP + 14)],
                PALETTE[i % PALETTE.len()].filled(),
            ))
            .map_err(e)?;
            put(
                area,
                s,
                (13.0, &BLACK, HPos::Left, VPos::Center),
                (lx + 20, TOP + 7),
                None,
            )?;
            lx += 34 + text_width(s, 13.0);
        }
        let top = TOP + 30;
        // Grid and axis first, so bars and their labels sit on top.
        let axis_y = top + ROW_H * self.rows.len() as i32 + 4;
        let ticks: Vec<(f64, String)> = (0..=4)
            .map(|k| (f64::from(k) / 4.0, format!("{}%", k * 25)))
            .collect();
        x_axis(
            area,
            axis_y,
            x0,
            x1,
            &ticks,
            "Share of organizations (weighted)",
            top,
        )?;
        for (i, row) in self.rows.iter().enumerate() {
            let y = top + ROW_H * i as i32;
            let mid = y + ROW_H / 2;
            if row.heading {
                put(
                    area,
                    &row.label,
                    (14.0, &BLACK, HPos::Left, VPos::Center),
                    (16, mid),
                    None,
                )?;
                continue;
            }
            row_label(area, &row.label, 13.0, (x0 - 10, mid), x0 - 26)?;
            if row.suppressed {
                area.draw(&Rectangle::new(
                    [(x0, y + 4), (x1, y + ROW_H - 4)],
                    LIGHT.filled(),
                ))
                .map_err(e)?;
                put(
                    area,
                    &row.why,
                    (12.0, &GREY, HPos::Center, VPos::Center),
                    ((x0 + x1) / 2, mid),
                    Some(x1 - x0 - 12),
                )?;
            } else {
                let mut acc = 0.0;
                for (k, v) in row.values.iter().enumerate() {
                    if !v.is_finite() {
                        continue;
                    }
                    let v = *v;
                    let a = x0 + ((x1 - x0) as f64 * acc).round() as i32;
                    acc += v;
                    let b = x0 + ((x1 - x0) as f64 * acc.min(1.0)).round() as i32;
                    area.draw(&Rectangle::new(
                        [(a, y + 4), (b, y + ROW_H - 4)],
                        PALETTE[k % PALETTE.len()].filled(),
                    ))
                    .map_err(e)?;
                    if v >= 0.08 {
                        let color: &'static RGBColor =
                            if k == 3 || k == 4 { &WHITE } else { &BLACK };
                        let style = text_style(11.0, color, HPos::Center, VPos::Center);
                        area.draw_text(&format!("{:.0}%", v * 100.0), &style, ((a + b) / 2, mid))
                            .map_err(e)?;
                    }
                }
                if row.values.iter().any(|v| !v.is_finite()) && acc < 1.0 {
                    // The tiers too uncertain to publish, together, without a number.
                    let a = x0 + ((x1 - x0) as f64 * acc).round() as i32;
                    area.draw(&Rectangle::new(
                        [(a, y + 4), (x1, y + ROW_H - 4)],
                        LIGHT.filled(),
                    ))
                    .map_err(e)?;
                }
            }
            put(
                area,
                &row.right,
                (12.0, &GREY, HPos::Left, VPos::Center),
                (x1 + 10, mid),
                Some(RIGHT - 14),
            )?;
        }
        Ok(())
    }
}

/// Point estimates with CI whiskers on a common scale, and a reference line (the sector value).
pub struct Forest {
    pub title: String,
    pub subtitle: String,
    pub footer: String,
    pub axis_label: String,
    pub range: (f64, f64),
    pub reference: Option<f64>,
    pub rows: Vec<ChartRow>,
}

impl Chart for Forest {
    fn size(&self) -> (u32, u32) {
        (
            900,
            (TOP + 10 + ROW_H * self.rows.len() as i32 + BOTTOM) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        frame(area, &self.title, &self.subtitle, &self.footer)?;
        let (w, _) = area.dim_in_pixel();
        let (x0, x1) = (LEFT, w as i32 - RIGHT);
        let (lo, hi, tick_values) = nice_ticks(self.range.0, self.range.1, 5);
        let sx =
            |v: f64| x0 + ((x1 - x0) as f64 * ((v.clamp(lo, hi) - lo) / (hi - lo))).round() as i32;
        let top = TOP + 6;
        let bottom = top + ROW_H * self.rows.len() as i32;
        // Grid and axis first, so the rows and their words sit on top.
        let step = tick_values.get(1).map_or(1.0, |t| t - lo);
        let ticks: Vec<(f64, String)> = tick_values
            .iter()
            .map(|v| ((v - lo) / (hi - lo), tick_text(*v, step, "")))
            .collect();
        x_axis(area, bottom + 4, x0, x1, &ticks, &self.axis_label, top)?;
        if let Some(r) = self.reference {
            let x = sx(r);
            let mut y = top;
            while y < bottom {
                area.draw(&PathElement::new(
                    vec![(x, y), (x, (y + 6).min(bottom))],
                    GREY.stroke_width(1),
                ))
                .map_err(e)?;
                y += 10;
            }
        }
        for (i, row) in self.rows.iter().enumerate() {
            let mid = top + ROW_H * i as i32 + ROW_H / 2;
            if row.heading {
                put(
                    area,
                    &row.label,
                    (14.0, &BLACK, HPos::Left, VPos::Center),
                    (16, mid),
                    None,
                )?;
                continue;
            }
            row_label(area, &row.label, 13.0, (x0 - 10, mid), x0 - 26)?;
            if row.suppressed || row.values.len() < 3 || !row.values[0].is_finite() {
                // On white, so the reference line does not run through the words.
                let shown = fit(&row.why, 12.0, x1 - x0 - 12);
                area.draw(&Rectangle::new(
                    [
                        (x0 + 2, mid - 10),
                        (x0 + 10 + text_width(&shown, 12.0), mid + 10),
                    ],
                    WHITE.filled(),
                ))
                .map_err(e)?;
                put(
                    area,
                    &shown,
                    (12.0, &GREY, HPos::Left, VPos::Center),
                    (x0 + 6, mid),
                    None,
                )?;
            } else {
                let (est, l, h) = (row.values[0], row.values[1], row.values[2]);
                let color = PALETTE[4];
                area.draw(&PathElement::new(
                    vec![(sx(l), mid), (sx(h), mid)],
                    color.stroke_width(2),
                ))
                .map_err(e)?;
                for x in [sx(l), sx(h)] {
                    area.draw(&PathElement::new(
                        vec![(x, mid - 5), (x, mid + 5)],
                        color.stroke_width(2),
                    ))
                    .map_err(e)?;
                }
                area.draw(&Circle::new((sx(est), mid), 5, color.filled()))
                    .map_err(e)?;
            }
            put(
                area,
                &row.right,
                (12.0, &GREY, HPos::Left, VPos::Center),
                (x1 + 10, mid),
                Some(RIGHT - 14),
            )?;
        }
        Ok(())
    }
}

/// Histogram of the final weights (bars drawn as rectangles, so the SVG is deterministic), with
/// trimming bounds as dashed lines when there are any.
pub struct WeightHistogram {
    pub title: String,
    pub subtitle: String,
    pub footer: String,
    pub weights: Vec<f64>,
    pub bounds: Option<(f64, f64)>,
}

impl Chart for WeightHistogram {
    fn size(&self) -> (u32, u32) {
        (900, 420)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        frame(area, &self.title, &self.subtitle, &self.footer)?;
        let (w, h) = area.dim_in_pixel();
        let (x0, x1, top, bottom) = (90, w as i32 - 40, TOP, h as i32 - BOTTOM);
        let lo = 0.0_f64;
        let max = self
            .weights
            .iter()
            .copied()
            .fold(0.0_f64, f64::max)
            .max(1e-9);
        let (_, hi, x_ticks) = nice_ticks(0.0, (max * 1.05).max(1e-9), 5);
        let bins = 30usize;
        let mut counts = vec![0usize; bins];
        for &x in &self.weights {
            let b = (((x - lo) / (hi - lo)) * bins as f64).floor() as usize;
            counts[b.min(bins - 1)] += 1;
        }
        let (_, cmax, y_ticks) = nice_ticks(
            0.0,
            counts.iter().copied().max().unwrap_or(1).max(1) as f64,
            4,
        );
        let sx = |v: f64| x0 + ((x1 - x0) as f64 * ((v - lo) / (hi - lo))).round() as i32;
        let sy = |c: f64| bottom - ((bottom - top) as f64 * c / cmax).round() as i32;
        for (b, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let a = lo + (hi - lo) * b as f64 / bins as f64;
            let z = lo + (hi - lo) * (b + 1) as f64 / bins as f64;
            area.draw(&Rectangle::new(
                [(sx(a) + 1, sy(c as f64)), (sx(z) - 1, bottom)],
                PALETTE[4].filled(),
            ))
            .map_err(e)?;
        }
        if let Some((l, u)) = self.bounds {
            for v in [l, u]
                .into_iter()
                .filter(|v| v.is_finite() && *v > lo && *v < hi)
            {
                let x = sx(v);
                let mut y = top;
                while y < bottom {
                    area.draw(&PathElement::new(
                        vec![(x, y), (x, (y + 6).min(bottom))],
                        PALETTE[3].stroke_width(2),
                    ))
                    .map_err(e)?;
                    y += 10;
                }
            }
        }
        // Axes.
        area.draw(&PathElement::new(
            vec![(x0, top), (x0, bottom)],
            BLACK.stroke_width(1),
        ))
        .map_err(e)?;
        for &c in &y_ticks {
            let y = sy(c);
            put(
                area,
                &format!("{c:.0}"),
                (12.0, &BLACK, HPos::Right, VPos::Center),
                (x0 - 8, y),
                None,
            )?;
        }
        put(
            area,
            "Respondents",
            (13.0, &BLACK, HPos::Left, VPos::Bottom),
            (x0 - 60, top - 8),
            None,
        )?;
        let step = x_ticks.get(1).map_or(1.0, |t| t - lo);
        let ticks: Vec<(f64, String)> = x_ticks
            .iter()
            .map(|v| ((v - lo) / (hi - lo), tick_text(*v, step, "")))
            .collect();
        x_axis(
            area,
            bottom,
            x0,
            x1,
            &ticks,
            "Final weight (organizations each response stands for)",
            top,
        )?;
        Ok(())
    }
}

/// A sequential colour for a value in 0–1: from pale yellow through green to dark blue
/// (viridis-like, readable in the common colour-vision deficiencies and in grey).
fn sequential(v: f64) -> RGBColor {
    const STOPS: [(f64, (f64, f64, f64)); 5] = [
        (0.00, (253.0, 231.0, 37.0)),
        (0.25, (94.0, 201.0, 98.0)),
        (0.50, (33.0, 145.0, 140.0)),
        (0.75, (59.0, 82.0, 139.0)),
        (1.00, (68.0, 1.0, 84.0)),
    ];
    let v = v.clamp(0.0, 1.0);
    let k = STOPS.iter().rposition(|s| s.0 <= v).unwrap_or(0).min(3);
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let t = (v - a.0) / (b.0 - a.0);
    let mix = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
    RGBColor(
        mix(a.1 .0, b.1 .0),
        mix(a.1 .1, b.1 .1),
        mix(a.1 .2, b.1 .2),
    )
}

/// A grid of values (rows × columns) as coloured cells with the value printed in each; a
/// missing or suppressed cell is grey with a dash.
pub struct Heatmap {
    pub title: String,
    pub subtitle: String,
    pub footer: String,
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
    /// `[row][col]`, values in 0–1 (`None` = suppressed or missing).
    pub cells: Vec<Vec<Option<f64>>>,
    /// The legend's caption.
    pub scale_label: String,
    /// How a cell's value is printed: times `multiplier`, with `decimals` decimals (maturity:
    /// 100 and 0, on the report's 0–100 scale; HHI: 1 and 2).
    pub multiplier: f64,
    pub decimals: usize,
}

impl Heatmap {
    /// Cells narrow as columns are added, so that up to twelve columns fit a 900-pixel chart
    /// (which prints at 8 pt); more widen it.
    fn cell_w(&self) -> i32 {
        let n = self.col_labels.len().max(1) as i32;
        ((900 - HEAT_LEFT - 40) / n).clamp(CELL_W_MIN, CELL_W_MAX)
    }
}

/// The widest a heatmap cell is drawn, and the narrowest (more columns widen the chart).
const CELL_W_MAX: i32 = 104;
const CELL_W_MIN: i32 = 48;
/// Room for a heatmap's row labels.
const HEAT_LEFT: i32 = 280;

const CELL_H: i32 = 42;

impl Chart for Heatmap {
    fn size(&self) -> (u32, u32) {
        let w = HEAT_LEFT + self.cell_w() * self.col_labels.len() as i32 + 40;
        (
            w.max(700) as u32,
            (TOP + 90 + CELL_H * self.row_labels.len() as i32 + BOTTOM) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        frame(area, &self.title, &self.subtitle, &self.footer)?;
        let x0 = HEAT_LEFT;
        let top = TOP + 80;
        let cell_w = self.cell_w();
        // Column labels, wrapped on spaces into up to three lines.
        for (c, label) in self.col_labels.iter().enumerate() {
            let x = x0 + cell_w * c as i32 + cell_w / 2;
            let lines = wrap_px(label, 11.0, cell_w - 6, 4);
            for (k, line) in lines.iter().enumerate() {
                put(
                    area,
                    line,
                    (11.0, &BLACK, HPos::Center, VPos::Bottom),
                    (x, top - 6 - 19 * (lines.len() - 1 - k) as i32),
                    Some(cell_w - 4),
                )?;
            }
        }
        for (r, label) in self.row_labels.iter().enumerate() {
            let y = top + CELL_H * r as i32;
            // Row labels on up to two lines.
            let lines = wrap_px(label, 12.0, x0 - 26, 2);
            for (k, line) in lines.iter().enumerate() {
                let dy = 19 * k as i32 - 19 * (lines.len() as i32 - 1) / 2;
                put(
                    area,
                    line,
                    (12.0, &BLACK, HPos::Right, VPos::Center),
                    (x0 - 10, y + CELL_H / 2 + dy),
                    Some(x0 - 26),
                )?;
            }
            for c in 0..self.col_labels.len() {
                let x = x0 + cell_w * c as i32;
                let value = self
                    .cells
                    .get(r)
                    .and_then(|row| row.get(c))
                    .copied()
                    .flatten();
                let (fill, text, color): (RGBColor, String, &'static RGBColor) = match value {
                    Some(v) if v.is_finite() => {
                        let fill = sequential(v);
                        let dark = v > 0.45;
                        let text = format!("{:.*}", self.decimals, v * self.multiplier);
                        (fill, text, if dark { &WHITE } else { &BLACK })
                    }
                    _ => (LIGHT, "–".to_string(), &GREY),
                };
                area.draw(&Rectangle::new(
                    [(x + 1, y + 1), (x + cell_w - 1, y + CELL_H - 1)],
                    fill.filled(),
                ))
                .map_err(e)?;
                put(
                    area,
                    &text,
                    (12.0, color, HPos::Center, VPos::Center),
                    (x + cell_w / 2, y + CELL_H / 2),
                    None,
                )?;
            }
        }
        // Legend: the scale from 0 to 1.
        let ly = top + CELL_H * self.row_labels.len() as i32 + 18;
        let steps = 20;
        for k in 0..steps {
            let v = f64::from(k) / f64::from(steps - 1);
            let x = x0 + 12 * k;
            area.draw(&Rectangle::new(
                [(x, ly), (x + 12, ly + 12)],
                sequential(v).filled(),
            ))
            .map_err(e)?;
        }
        put(
            area,
            "0",
            (11.0, &BLACK, HPos::Right, VPos::Center),
            (x0 - 4, ly + 6),
            None,
        )?;
        put(
            area,
            &format!("{:.0}   {}", self.multiplier, self.scale_label),
            (11.0, &BLACK, HPos::Left, VPos::Center),
            (x0 + 12 * steps + 4, ly + 6),
            None,
        )?;
        put(
            area,
            "– = withheld (too few organizations, or to protect such a cell)",
            (11.0, &GREY, HPos::Left, VPos::Center),
            (x0, ly + 30),
            None,
        )?;
        Ok(())
    }
}

/// One panel of [`Histograms`]: a segment's weighted shares per bin.
pub struct HistogramPanel {
    pub label: String,
    /// Share per bin (`None` = that bin is suppressed).
    pub shares: Vec<Option<f64>>,
    pub n: usize,
    pub suppressed: bool,
}

/// Small multiples: one histogram per segment on common bins and a common share scale, with
/// n in each panel's title.
pub struct Histograms {
    pub title: String,
    pub subtitle: String,
    pub footer: String,
    pub edges: Vec<f64>,
    pub axis_label: String,
    pub panels: Vec<HistogramPanel>,
}

const PANEL_W: i32 = 280;
const PANEL_H: i32 = 170;
const PANELS_PER_ROW: i32 = 3;

impl Chart for Histograms {
    fn size(&self) -> (u32, u32) {
        let rows = (self.panels.len() as i32 + PANELS_PER_ROW - 1) / PANELS_PER_ROW;
        let rows = rows.max(1);
        (900, (TOP + 10 + rows * (PANEL_H + 40) + 70) as u32)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        frame(area, &self.title, &self.subtitle, &self.footer)?;
        let bins = self.edges.len().saturating_sub(1).max(1);
        let ymax = self
            .panels
            .iter()
            .filter(|p| !p.suppressed)
            .flat_map(|p| p.shares.iter().flatten().copied())
            .fold(0.0_f64, f64::max)
            .max(0.05);
        let ymax = (ymax * 10.0).ceil() / 10.0;
        for (k, p) in self.panels.iter().enumerate() {
            let (col, row) = (k as i32 % PANELS_PER_ROW, k as i32 / PANELS_PER_ROW);
            let x0 = 50 + col * (PANEL_W + 10);
            let y0 = TOP + 10 + row * (PANEL_H + 40);
            let (x1, y1) = (x0 + PANEL_W - 30, y0 + PANEL_H);
            let suffix = if p.suppressed {
                " (withheld)".to_string()
            } else {
                format!(" (n = {})", p.n)
            };
            let head = format!(
                "{}{suffix}",
                fit(&p.label, 12.0, PANEL_W - 30 - text_width(&suffix, 12.0))
            );
            put(
                area,
                &head,
                (12.0, &BLACK, HPos::Left, VPos::Bottom),
                (x0, y0 + 14),
                Some(PANEL_W - 30),
            )?;
            let top = y0 + 22;
            area.draw(&PathElement::new(
                vec![(x0, y1), (x1, y1)],
                BLACK.stroke_width(1),
            ))
            .map_err(e)?;
            if p.suppressed {
                area.draw(&Rectangle::new([(x0, top), (x1, y1)], LIGHT.filled()))
                    .map_err(e)?;
                put(
                    area,
                    "withheld: too few, or protects a smaller group",
                    (11.0, &GREY, HPos::Center, VPos::Center),
                    ((x0 + x1) / 2, (top + y1) / 2),
                    Some(PANEL_W - 40),
                )?;
            } else {
                let bw = (x1 - x0) as f64 / bins as f64;
                for (b, s) in p.shares.iter().enumerate() {
                    let a = x0 + (bw * b as f64).round() as i32;
                    let z = x0 + (bw * (b + 1) as f64).round() as i32;
                    match s {
                        Some(s) => {
                            let y = y1 - ((y1 - top) as f64 * (s / ymax).min(1.0)).round() as i32;
                            area.draw(&Rectangle::new(
                                [(a + 1, y), (z - 1, y1)],
                                PALETTE[4].filled(),
                            ))
                            .map_err(e)?;
                        }
                        None => {
                            // A suppressed bin: a hatched stub, so it is not read as zero.
                            area.draw(&Rectangle::new(
                                [(a + 1, y1 - 6), (z - 1, y1)],
                                LIGHT.filled(),
                            ))
                            .map_err(e)?;
                        }
                    }
                }
            }
            // Axis ticks: first, middle and last edge; share scale on the left panels.
            for frac in [0.0, 0.5, 1.0] {
                let x = x0 + ((x1 - x0) as f64 * frac).round() as i32;
                let v = self.edges.first().copied().unwrap_or(0.0)
                    + (self.edges.last().copied().unwrap_or(1.0)
                        - self.edges.first().copied().unwrap_or(0.0))
                        * frac;
                put(
                    area,
                    &format!("{v:.0}"),
                    (10.0, &BLACK, HPos::Center, VPos::Top),
                    (x, y1 + 3),
                    None,
                )?;
            }
            if col == 0 {
                put(
                    area,
                    &format!("{:.0}%", ymax * 100.0),
                    (10.0, &GREY, HPos::Right, VPos::Center),
                    (x0 - 4, top),
                    None,
                )?;
                put(
                    area,
                    "0%",
                    (10.0, &GREY, HPos::Right, VPos::Center),
                    (x0 - 4, y1),
                    None,
                )?;
            }
        }
        let (_, h) = area.dim_in_pixel();
        put(
            area,
            &self.axis_label,
            (13.0, &BLACK, HPos::Center, VPos::Bottom),
            (450, h as i32 - 40),
            None,
        )?;
        Ok(())
    }
}

/// One level of [`MarginsChart`]: shares within its variable.
pub struct MarginRow {
    pub label: String,
    pub heading: bool,
    pub target: f64,
    /// Unweighted respondents' share (`None` when the level has too few to show).
    pub respondents: Option<f64>,
    pub base: f64,
    pub weighted: f64,
}

/// Weighting diagnostics: for each level of each weighting variable, the population share (the
/// target), the respondents' share, the share under the design (base) weights and under the
/// final weights — the final marks sit on the targets when calibration worked.
pub struct MarginsChart {
    pub title: String,
    pub subtitle: String,
    pub footer: String,
    pub rows: Vec<MarginRow>,
}

impl Chart for MarginsChart {
    fn size(&self) -> (u32, u32) {
        (
            900,
            (TOP + 40 + ROW_H * self.rows.len() as i32 + BOTTOM) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        frame(area, &self.title, &self.subtitle, &self.footer)?;
        let (w, _) = area.dim_in_pixel();
        let (x0, x1) = (LEFT, w as i32 - RIGHT);
        let hi = self
            .rows
            .iter()
            .flat_map(|r| [r.target, r.base, r.weighted, r.respondents.unwrap_or(0.0)])
            .filter(|v| v.is_finite())
            .fold(0.1_f64, f64::max);
        let (_, hi_pct, pct_ticks) = nice_ticks(0.0, hi * 100.0, 5);
        let hi = hi_pct / 100.0;
        let sx = |v: f64| x0 + ((x1 - x0) as f64 * (v.clamp(0.0, hi) / hi)).round() as i32;
        // Legend.
        let marks: [(&str, RGBColor); 4] = [
            ("population (target)", BLACK),
            ("respondents", GREY),
            ("design weights", PALETTE[2]),
            ("final weights", PALETTE[4]),
        ];
        let mut lx = x0;
        for (k, (name, colour)) in marks.into_iter().enumerate() {
            if k == 0 {
                area.draw(&PathElement::new(
                    vec![(lx + 6, TOP - 2), (lx + 6, TOP + 16)],
                    colour.stroke_width(2),
                ))
                .map_err(e)?;
            } else {
                area.draw(&Circle::new((lx + 6, TOP + 7), 5, colour.filled()))
                    .map_err(e)?;
            }
            put(
                area,
                name,
                (12.0, &BLACK, HPos::Left, VPos::Center),
                (lx + 16, TOP + 7),
                None,
            )?;
            lx += 30 + text_width(name, 12.0);
        }
        let top = TOP + 30;
        for (i, row) in self.rows.iter().enumerate() {
            let mid = top + ROW_H * i as i32 + ROW_H / 2;
            if row.heading {
                put(
                    area,
                    &row.label,
                    (14.0, &BLACK, HPos::Left, VPos::Center),
                    (16, mid),
                    None,
                )?;
                continue;
            }
            row_label(area, &row.label, 13.0, (x0 - 10, mid), x0 - 26)?;
            area.draw(&PathElement::new(
                vec![(x0, mid), (x1, mid)],
                LIGHT.stroke_width(1),
            ))
            .map_err(e)?;
            let t = sx(row.target);
            area.draw(&PathElement::new(
                vec![(t, mid - 9), (t, mid + 9)],
                BLACK.stroke_width(2),
            ))
            .map_err(e)?;
            if let Some(r) = row.respondents {
                area.draw(&Circle::new((sx(r), mid), 5, GREY.filled()))
                    .map_err(e)?;
            }
            area.draw(&Circle::new((sx(row.base), mid), 5, PALETTE[2].filled()))
                .map_err(e)?;
            area.draw(&Circle::new(
                (sx(row.weighted), mid),
                4,
                PALETTE[4].filled(),
            ))
            .map_err(e)?;
        }
        let bottom = top + ROW_H * self.rows.len() as i32 + 4;
        let step = pct_ticks.get(1).copied().unwrap_or(1.0);
        let ticks: Vec<(f64, String)> = pct_ticks
            .iter()
            .map(|v| (v / hi_pct, tick_text(*v, step, "%")))
            .collect();
        x_axis(
            area,
            bottom,
            x0,
            x1,
            &ticks,
            "Share of the variable's total",
            top,
        )?;
        Ok(())
    }
}

/// One metric in [`TrendChart`]: the earlier and this round's estimate with CI, on the chart's
/// scale, or a note when they cannot be compared.
pub struct TrendRow {
    pub label: String,
    pub previous: Option<[f64; 3]>,
    pub current: Option<[f64; 3]>,
    pub note: String,
}

/// Round over round: each headline metric's earlier value (grey) and this round's (blue) with
/// confidence intervals on a common 0–100 scale (percent or index points).
pub struct TrendChart {
    pub title: String,
    pub subtitle: String,
    pub footer: String,
    pub previous_label: String,
    pub current_label: String,
    pub rows: Vec<TrendRow>,
}

impl Chart for TrendChart {
    fn size(&self) -> (u32, u32) {
        (
            900,
            (TOP + 40 + ROW_H * self.rows.len() as i32 + BOTTOM) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        frame(area, &self.title, &self.subtitle, &self.footer)?;
        let (w, _) = area.dim_in_pixel();
        let (x0, x1) = (LEFT, w as i32 - RIGHT);
        let sx = |v: f64| x0 + ((x1 - x0) as f64 * (v.clamp(0.0, 100.0) / 100.0)).round() as i32;
        let mut lx = x0;
        for (name, colour) in [
            (&self.previous_label, GREY),
            (&self.current_label, PALETTE[4]),
        ] {
            area.draw(&Circle::new((lx + 6, TOP + 7), 5, colour.filled()))
                .map_err(e)?;
            put(
                area,
                name,
                (12.0, &BLACK, HPos::Left, VPos::Center),
                (lx + 16, TOP + 7),
                None,
            )?;
            lx += 34 + text_width(name, 12.0);
        }
        let top = TOP + 30;
        for (i, row) in self.rows.iter().enumerate() {
            let mid = top + ROW_H * i as i32 + ROW_H / 2;
            row_label(area, &row.label, 12.0, (x0 - 10, mid), x0 - 26)?;
            area.draw(&PathElement::new(
                vec![(x0, mid), (x1, mid)],
                LIGHT.stroke_width(1),
            ))
            .map_err(e)?;
            for (values, colour, dy) in [(row.previous, GREY, -5), (row.current, PALETTE[4], 5)] {
                let Some([est, lo, hi]) = values else {
                    continue;
                };
                let y = mid + dy;
                if lo.is_finite() && hi.is_finite() {
                    area.draw(&PathElement::new(
                        vec![(sx(lo), y), (sx(hi), y)],
                        colour.stroke_width(2),
                    ))
                    .map_err(e)?;
                }
                area.draw(&Circle::new((sx(est), y), 4, colour.filled()))
                    .map_err(e)?;
            }
            if !row.note.is_empty() {
                put(
                    area,
                    &row.note,
                    (11.0, &GREY, HPos::Left, VPos::Center),
                    (x0 + 6, mid),
                    Some(x1 - x0 - 12),
                )?;
            }
        }
        let bottom = top + ROW_H * self.rows.len() as i32 + 4;
        let ticks: Vec<(f64, String)> = (0..=4)
            .map(|k| (f64::from(k) / 4.0, format!("{}", k * 25)))
            .collect();
        x_axis(
            area,
            bottom,
            x0,
            x1,
            &ticks,
            "Percent of organizations, or index points (0–100)",
            top,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_values() {
        // 0–62 in about five steps: steps of 20 (not 12.4), ending at 80.
        assert_eq!(
            nice_ticks(0.0, 62.0, 5),
            (0.0, 80.0, vec![0.0, 20.0, 40.0, 60.0, 80.0])
        );
        let (lo, hi, t) = nice_ticks(0.0, 50.0, 5);
        assert_eq!((lo, hi), (0.0, 50.0));
        assert_eq!(t, vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        let (_, hi, t) = nice_ticks(0.0, 3.7, 5);
        assert_eq!(hi, 4.0);
        assert!(t.windows(2).all(|w| (w[1] - w[0] - 1.0).abs() < 1e-12));
        assert_eq!(tick_text(12.5, 2.5, "%"), "12.5%");
        assert_eq!(tick_text(40.0, 10.0, ""), "40");
    }

    #[test]
    fn text_is_fitted_and_wrapped_by_its_width() {
        let long = "Pharmaceuticals, laboratories and blood organizations of every kind";
        let w = text_width(long, 13.0);
        assert!(w > 300, "{w}");
        let cut = fit(long, 13.0, 200);
        assert!(cut.ends_with('…') && text_width(&cut, 13.0) <= 200, "{cut}");
        assert_eq!(fit("n = 64", 12.0, 200), "n = 64");
        let lines = wrap_px(long, 12.0, 150, 3);
        assert_eq!(lines.len(), 3);
        assert!(
            lines.iter().all(|l| text_width(l, 12.0) <= 150),
            "{lines:?}"
        );
        // A word wider than the line is broken with a hyphen, not cut.
        let lines = wrap_px("Pharmaceuticals", 11.0, 60, 4);
        assert!(lines.len() >= 2 && lines[0].ends_with('-'), "{lines:?}");
        assert!(lines.iter().all(|l| text_width(l, 11.0) <= 60), "{lines:?}");
    }
}
