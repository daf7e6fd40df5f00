//! Pictures drawn on the server as SVG (no script, no external tool): the
//! counts per state over time, and the state diagram laid out from the
//! transition table. Every text put into them is escaped here.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::model::state::{Group, State};
use crate::query::pages::StatesPage;
use crate::store::DayCounts;

/// `s` escaped for SVG text and attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The colour of a state's line and box.
pub fn colour(s: State) -> &'static str {
    match s {
        State::NeedsBuild => "#1f77b4",
        State::Building => "#17becf",
        State::Built => "#2ca02c",
        State::BuildAttempted => "#d62728",
        State::Uploaded => "#98df8a",
        State::FailedToUpload => "#ff7f0e",
        State::Installed => "#556b2f",
        State::DepWait => "#9467bd",
        State::BdUninstallable => "#8c564b",
        State::Failed => "#e377c2",
        State::NotForUs | State::AutoNotForUs => "#7f7f7f",
        State::FailedRemoved | State::DepWaitRemoved => "#bcbd22",
    }
}

/// A date of a day number (days since 1970-01-01).
fn date(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The counts per state over the days of `days` up to `today` (a day
/// without a row kept the day before's counts; today's are `now`), one
/// line per state that had builds.
pub fn graph(days: &[DayCounts], now: &BTreeMap<State, u64>, today: i64) -> String {
    let (w, h, left, right, top, bottom) = (760.0, 260.0, 56.0, 190.0, 12.0, 28.0);
    let mut points: Vec<(i64, BTreeMap<State, u64>)> =
        days.iter().map(|d| (d.day, d.counts.clone())).collect();
    if points.last().is_none_or(|(d, _)| *d < today) {
        points.push((today, now.clone()));
    } else if let Some(last) = points.last_mut() {
        last.1 = now.clone();
    }
    let first = points.first().map_or(today, |p| p.0).min(today - 1);
    let span = (today - first).max(1) as f64;
    let states: Vec<State> = State::ALL
        .into_iter()
        .filter(|s| {
            points
                .iter()
                .any(|(_, c)| c.get(s).copied().unwrap_or(0) > 0)
        })
        .collect();
    let max = points
        .iter()
        .flat_map(|(_, c)| c.values().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let x = |d: i64| left + (d - first) as f64 / span * (w - left - right);
    let y = |n: u64| top + (1.0 - n as f64 / max) * (h - top - bottom);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="builds per state from {} to {}">"#,
        date(first),
        date(today)
    );
    let _ = write!(
        out,
        r##"<rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="#ccc"/>"##,
        w - left - right,
        h - top - bottom
    );
    for (v, label) in [(0, "0".to_string()), (max as u64, (max as u64).to_string())] {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#333">{}</text>"##,
            left - 4.0,
            y(v) + 4.0,
            esc(&label)
        );
    }
    for (d, anchor) in [(first, "start"), (today, "end")] {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" text-anchor="{anchor}" font-size="11" fill="#333">{}</text>"##,
            x(d),
            h - 8.0,
            date(d)
        );
    }
    for (i, s) in states.iter().enumerate() {
        // A step line: a day's count holds until the next row.
        let mut path = String::new();
        let mut last: Option<u64> = None;
        for (d, c) in &points {
            let n = c.get(s).copied().unwrap_or(0);
            match last {
                None => {
                    let _ = write!(path, "M{:.1},{:.1}", x(*d), y(n));
                }
                Some(_) => {
                    let _ = write!(path, " H{:.1} V{:.1}", x(*d), y(n));
                }
            }
            last = Some(n);
        }
        let _ = write!(
            out,
            r#"<path d="{path}" fill="none" stroke="{}" stroke-width="2"><title>{}</title></path>"#,
            colour(*s),
            esc(s.as_str())
        );
        let ly = top + 14.0 * i as f64 + 8.0;
        let _ = write!(
            out,
            r##"<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" font-size="11" fill="#333">{} ({})</text>"##,
            w - right + 10.0,
            ly - 8.0,
            colour(*s),
            w - right + 24.0,
            ly + 1.0,
            esc(s.as_str()),
            now.get(s).copied().unwrap_or(0)
        );
    }
    out.push_str("</svg>");
    out
}

/// The state diagram: the groups as columns (in [`Group::ALL`] order), the
/// states of each stacked in it, every edge between two states drawn as
/// a curve with an arrow, coloured by who sends its events (the builders'
/// logs blue, the archive green, the admins and sync black); its events
/// in its tooltip, and in the table the page shows beside it.
pub fn diagram(page: &StatesPage) -> String {
    let (bw, bh, colw, rowh, left, top) = (170.0, 40.0, 250.0, 80.0, 20.0, 40.0);
    let mut pos: BTreeMap<State, (f64, f64)> = BTreeMap::new();
    let mut rows = 0;
    for (gi, g) in Group::ALL.iter().enumerate() {
        let members: Vec<State> = State::ALL.into_iter().filter(|s| s.group() == *g).collect();
        rows = rows.max(members.len());
        for (i, s) in members.into_iter().enumerate() {
            pos.insert(
                s,
                (
                    left + gi as f64 * colw,
                    top + i as f64 * rowh + (gi % 2) as f64 * rowh / 2.0,
                ),
            );
        }
    }
    // Room on the right for the curves between states of the last column.
    let w = left * 2.0 + (Group::ALL.len() as f64 - 1.0) * colw + bw + 90.0;
    let h = top + rows as f64 * rowh + rowh / 2.0 + 20.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="diagram" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="the state diagram, drawn from the transition table">"#
    );
    out.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>"##);
    for (gi, g) in Group::ALL.iter().enumerate() {
        let _ = write!(
            out,
            r##"<text x="{}" y="20" font-size="12" fill="#555">{}</text>"##,
            left + gi as f64 * colw,
            esc(g.as_str())
        );
    }
    for e in page.edges.iter().filter(|e| e.from != e.to) {
        let (Some(&(fx, fy)), Some(&(tx, ty))) = (pos.get(&e.from), pos.get(&e.to)) else {
            continue;
        };
        let kind = |ev: &String| ev.split(':').next().unwrap_or("").to_string();
        let first = e.events.first().map(kind).unwrap_or_default();
        let stroke = if !e.events.iter().all(|ev| kind(ev) == first) {
            "#555"
        } else {
            match first.as_str() {
                "log" => "#4682b4",
                "archive" => "#006400",
                _ => "#222",
            }
        };
        let (x1, y1, x2, y2, c1, c2);
        if (fx - tx).abs() < 1.0 {
            // Same column: out of the right side and back in.
            x1 = fx + bw;
            x2 = tx + bw;
            y1 = fy + bh / 2.0 - 6.0;
            y2 = ty + bh / 2.0 + 6.0;
            let bulge = 30.0 + (fy - ty).abs() / 4.0;
            c1 = (x1 + bulge, y1);
            c2 = (x2 + bulge, y2);
        } else if fx < tx {
            x1 = fx + bw;
            x2 = tx;
            y1 = fy + bh / 2.0;
            y2 = ty + bh / 2.0;
            c1 = (x1 + (x2 - x1) / 2.0, y1);
            c2 = (x2 - (x2 - x1) / 2.0, y2);
        } else {
            x1 = fx;
            x2 = tx + bw;
            y1 = fy + bh / 2.0 + 8.0;
            y2 = ty + bh / 2.0 + 8.0;
            c1 = (x1 - (x1 - x2) / 2.0, y1 + 40.0);
            c2 = (x2 + (x1 - x2) / 2.0, y2 + 40.0);
        }
        let _ = write!(
            out,
            r#"<path d="M{x1:.1},{y1:.1} C{:.1},{:.1} {:.1},{:.1} {x2:.1},{y2:.1}" fill="none" stroke="{stroke}" stroke-width="1.2" marker-end="url(#arrow)"><title>{} → {}: {}</title></path>"#,
            c1.0,
            c1.1,
            c2.0,
            c2.1,
            esc(e.from.as_str()),
            esc(e.to.as_str()),
            esc(&e.events.join(", "))
        );
    }
    for (s, (x, y)) in &pos {
        let kept: Vec<&str> = page
            .edges
            .iter()
            .filter(|e| e.from == *s && e.to == *s)
            .flat_map(|e| e.events.iter().map(String::as_str))
            .collect();
        let _ = write!(
            out,
            r##"<g><title>{}: {}{}</title><rect x="{x}" y="{y}" width="{bw}" height="{bh}" rx="8" fill="#fff" stroke="{}" stroke-width="2"/><text x="{}" y="{}" text-anchor="middle" font-size="13" fill="#111">{}</text></g>"##,
            esc(s.as_str()),
            esc(s.meaning()),
            if kept.is_empty() {
                String::new()
            } else {
                format!(" (kept by {})", esc(&kept.join(", ")))
            },
            colour(*s),
            x + bw / 2.0,
            y + bh / 2.0 + 4.0,
            esc(s.as_str())
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_a_box_and_every_edge_a_path() {
        let page = crate::query::pages::states_page();
        let svg = diagram(&page);
        for s in State::ALL {
            assert!(svg.contains(&format!(">{}</text>", s.as_str())), "{s}");
        }
        let moving = page.edges.iter().filter(|e| e.from != e.to).count();
        assert_eq!(svg.matches("marker-end=").count(), moving);
    }

    #[test]
    fn the_graph_steps_through_the_days_and_ends_today() {
        let day = |d: i64, n: u64| DayCounts {
            day: d,
            counts: [(State::NeedsBuild, n)].into_iter().collect(),
        };
        let now: BTreeMap<State, u64> = [(State::NeedsBuild, 7)].into_iter().collect();
        let svg = graph(&[day(100, 3), day(102, 5)], &now, 105);
        assert!(svg.contains("Needs-Build (7)"), "{svg}");
        assert!(
            svg.contains(&date(100)) && svg.contains(&date(105)),
            "{svg}"
        );
        assert_eq!(svg.matches(" H").count(), 2);
    }
}
