//! The interactive browser (ratatui over crossterm): layers left, file tree right.
//! `app` holds state and keys, `view` draws; this module owns the terminal and always
//! restores it, even when drawing fails.

pub mod app;
pub mod view;

use crate::efficiency::Analysis;
use crate::error::{AnalyzeError, Result};
use crate::image::Image;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;

fn term_err(e: std::io::Error) -> AnalyzeError {
    AnalyzeError::Terminal(e.to_string())
}

/// Restores the terminal when dropped.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = disable_raw_mode();
        let _ = execute!(std::io::stdout(), LeaveAlternateScreen);
    }
}

/// Opens the TUI on the current terminal and runs until the user quits.
pub fn run(image: &Image, analysis: &Analysis) -> Result<()> {
    enable_raw_mode().map_err(term_err)?;
    let _guard = Guard;
    execute!(std::io::stdout(), EnterAlternateScreen).map_err(term_err)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(term_err)?;
    let mut app = app::App::new(image, analysis);
    while !app.quit {
        app.sync();
        terminal
            .draw(|f| view::draw(f, &mut app))
            .map_err(term_err)?;
        // Take every key already waiting before drawing again, so held keys do not queue
        // one tree rebuild each.
        let mut ev = event::read().map_err(term_err)?;
        loop {
            if let Event::Key(k) = ev {
                if k.kind != KeyEventKind::Release {
                    app.on_key_deferred(k);
                }
            }
            if app.quit || !event::poll(std::time::Duration::ZERO).map_err(term_err)? {
                break;
            }
            ev = event::read().map_err(term_err)?;
        }
    }
    terminal.show_cursor().map_err(term_err)?;
    Ok(())
}
