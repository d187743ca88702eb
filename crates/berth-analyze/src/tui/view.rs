//! Drawing: layers and image details on the left, the file tree on the right, a key
//! help / filter line at the bottom. Added green, removed red, modified yellow.

use super::app::{App, Pane};
use crate::report::human_bytes;
use crate::stack::DiffType;
use crate::tree::{mode_string, TreeMode};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

fn diff_style(d: DiffType) -> Style {
    match d {
        DiffType::Added => Style::default().fg(Color::Green),
        DiffType::Removed => Style::default().fg(Color::Red),
        DiffType::Modified => Style::default().fg(Color::Yellow),
        DiffType::Unmodified => Style::default(),
    }
}

fn block(title: String, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    };
    Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, style))
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame<'_>, app: &mut App<'_>) {
    let [main, help] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(f.area());
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(main);
    let [layers, details] =
        Layout::vertical([Constraint::Min(3), Constraint::Percentage(45)]).areas(left);
    draw_layers(f, app, layers);
    draw_details(f, app, details);
    draw_tree(f, app, right);
    let line = if app.editing_filter {
        Line::from(vec![
            Span::styled(
                "Path Filter: ",
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(app.filter.clone()),
            Span::raw("▏"),
        ])
    } else {
        let t = |on: bool, s: &'static str| {
            Span::styled(
                s,
                if on {
                    Style::default().add_modifier(Modifier::BOLD)
                } else {
                    Style::default().add_modifier(Modifier::DIM)
                },
            )
        };
        Line::from(vec![
            Span::raw("^C Quit  Tab Switch  ^F Filter  Space Collapse  "),
            Span::raw(if app.mode == TreeMode::Aggregated {
                "^L Layer changes  "
            } else {
                "^L Aggregated  "
            }),
            t(!app.hidden.added, "^A Added "),
            t(!app.hidden.removed, "^R Removed "),
            t(!app.hidden.modified, "^M Modified "),
            t(!app.hidden.unmodified, "^U Unmodified"),
            Span::raw(if app.filter.is_empty() {
                String::new()
            } else {
                format!("  filter: {}", app.filter)
            }),
        ])
    };
    f.render_widget(Paragraph::new(line), help);
}

fn draw_layers(f: &mut Frame<'_>, app: &App<'_>, area: Rect) {
    let inner_h = area.height.saturating_sub(3) as usize;
    let mut lines = vec![Line::from(Span::styled(
        format!("{:>3} {:>9}  Command", "Cmp", "Size"),
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    let start = app.layer.saturating_sub(inner_h.saturating_sub(1));
    for l in app.image.layers.iter().skip(start).take(inner_h) {
        let sel = l.index == app.layer;
        let style = if sel {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        lines.push(Line::from(Span::styled(
            format!("{:>3} {:>9}  {}", l.index, human_bytes(l.size), l.command),
            style,
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(block(
            format!("[Layers] {}", app.image.name),
            app.pane == Pane::Layers,
        )),
        area,
    );
}

fn draw_details(f: &mut Frame<'_>, app: &App<'_>, area: Rect) {
    let a = app.analysis;
    let l = &app.image.layers.get(app.layer);
    let s = a.layers.get(app.layer);
    let mut lines = vec![
        Line::raw(format!(
            "Total size: {}   Efficiency: {:.2} %   (corrected {:.2} %)",
            human_bytes(a.size_bytes),
            a.efficiency * 100.0,
            a.corrected_efficiency * 100.0
        )),
        Line::raw(format!(
            "Wasted (dive): {}   Wasted (corrected): {}",
            human_bytes(a.wasted_bytes),
            human_bytes(a.corrected_wasted_bytes)
        )),
    ];
    if let (Some(l), Some(s)) = (l, s) {
        lines.push(Line::raw(format!(
            "Layer {}: {}  +{} ~{} -{}  hidden later: {}",
            l.index,
            human_bytes(l.size),
            s.added,
            s.modified,
            s.removed,
            human_bytes(s.wasted_bytes)
        )));
        lines.push(Line::raw(format!(
            "Digest: {}",
            l.digest.as_deref().unwrap_or("-")
        )));
        lines.push(Line::raw(format!("Command: {}", l.command)));
    }
    lines.push(Line::from(Span::styled(
        format!(
            "{:>5} {:>11} {:>9}  Path (dive count/total, corrected waste)",
            "Count", "Total Space", "Wasted"
        ),
        Style::default().add_modifier(Modifier::BOLD),
    )));
    let room = area.height.saturating_sub(2) as usize;
    let corrected: std::collections::HashMap<&str, u64> = a
        .wasted_paths
        .iter()
        .map(|p| (p.path.as_str(), p.wasted_bytes))
        .collect();
    for p in a
        .inefficiencies
        .iter()
        .take(room.saturating_sub(lines.len()))
    {
        let c = corrected.get(p.path.as_str()).copied().unwrap_or(0);
        lines.push(Line::raw(format!(
            "{:>5} {:>11} {:>9}  {}",
            p.count,
            human_bytes(p.cumulative_size),
            human_bytes(c),
            p.path
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(block("[Image Details]".into(), false)),
        area,
    );
}

fn draw_tree(f: &mut Frame<'_>, app: &mut App<'_>, area: Rect) {
    let height = area.height.saturating_sub(3) as usize;
    app.page = height.max(1);
    if app.cursor < app.offset {
        app.offset = app.cursor;
    } else if app.cursor >= app.offset + height {
        app.offset = app.cursor + 1 - height;
    }
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{:<10} {:>9} {:>9}  Filetree",
            "Permission", "UID:GID", "Size"
        ),
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    for (i, row) in app.rows.iter().enumerate().skip(app.offset).take(height) {
        let n = &app.tree.nodes[row.index];
        let is_dir = n.is_dir();
        let marker = if !n.children.is_empty() {
            if row.collapsed {
                "▸ "
            } else {
                "▾ "
            }
        } else {
            "  "
        };
        let owner = n
            .node
            .as_ref()
            .map_or("-".to_string(), |x| format!("{}:{}", x.uid, x.gid));
        let size = if is_dir {
            human_bytes(n.total_size)
        } else {
            human_bytes(n.node.as_ref().map_or(0, |x| x.size))
        };
        let link = n
            .node
            .as_ref()
            .and_then(|x| x.link.as_ref())
            .map(|t| format!(" → {t}"))
            .unwrap_or_default();
        let text = format!(
            "{:<10} {:>9} {:>9}  {}{}{}{}",
            mode_string(n.node.as_ref(), is_dir),
            owner,
            size,
            "  ".repeat(n.depth.saturating_sub(1)),
            marker,
            n.name,
            link
        );
        let mut style = diff_style(n.diff);
        if i == app.cursor && app.pane == Pane::Tree {
            style = style.add_modifier(Modifier::REVERSED);
        }
        lines.push(Line::from(Span::styled(text, style)));
    }
    let title = match app.mode {
        TreeMode::Aggregated => format!("[Aggregated contents of layer {}]", app.layer),
        TreeMode::LayerOnly => format!("[Changes in layer {}]", app.layer),
    };
    f.render_widget(
        Paragraph::new(lines).block(block(title, app.pane == Pane::Tree)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::efficiency::analyze;
    use crate::testutil::{image, T};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    #[test]
    fn renders_layers_and_tree() {
        let img = image(&[
            &[T::Dir("etc"), T::File("etc/hosts", 10)],
            &[T::File("app.bin", 2000)],
        ]);
        let an = analyze(&img);
        let mut app = App::new(&img, &an);
        let mut term = Terminal::new(TestBackend::new(120, 30)).unwrap();
        term.draw(|f| draw(f, &mut app)).unwrap();
        let text: String = term
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(text.contains("[Layers]"));
        assert!(text.contains("layer 1"));
        assert!(text.contains("hosts"));
        assert!(!text.contains("app.bin"));
    }
}
