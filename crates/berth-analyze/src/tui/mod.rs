//! The interactive browser (placeholder until the TUI lands).

use crate::efficiency::Analysis;
use crate::error::{AnalyzeError, Result};
use crate::image::Image;

/// Opens the TUI.
pub fn run(_image: &Image, _analysis: &Analysis) -> Result<()> {
    Err(AnalyzeError::Terminal("TUI not built yet".into()))
}
