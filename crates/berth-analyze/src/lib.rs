//! berth-analyze: what is inside an image and how much of it is wasted.
//!
//! The flow is `source` (read an image from a `docker save` archive, an OCI layout
//! directory or a Docker-API daemon, streaming the layer tars) → `layer` (one parsed
//! layer: its tar entries) → `stack` (layers applied in order with whiteouts and opaque
//! directories, giving per-layer added/modified/removed changes) → `efficiency` (dive's
//! score and wasted bytes, plus corrected figures) → `rules` (the `.dive-ci` rule engine)
//! and `report` (text and JSON). `tree` and `tui` present the result interactively.

pub mod efficiency;
pub mod error;
#[doc(hidden)]
pub mod fixture;
pub mod image;
pub mod layer;
pub mod report;
pub mod rules;
pub mod source;
pub mod stack;
#[cfg(test)]
pub(crate) mod testutil;
pub mod tree;
pub mod tui;

pub use efficiency::{analyze, Analysis};
pub use error::AnalyzeError;
pub use image::{Image, Layer};
pub use layer::{EntryKind, LayerEntry, ParsedLayer};
pub use rules::{CiConfig, Evaluation, RuleOutcome, RuleStatus};
pub use source::{Source, SourceKind};
