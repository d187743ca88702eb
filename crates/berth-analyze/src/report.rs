//! Output: the text report (dive's CI layout: Analysis, Inefficient Files, Evaluation,
//! plus the corrected figures and top wasteful paths) and the `--json` export in dive's
//! shape (`layer[]`, `image{sizeBytes,inefficientBytes,efficiencyScore,fileReference}`)
//! with berth's extra fields added beside dive's.

use crate::efficiency::Analysis;
use crate::image::Image;
use crate::layer::{split_parent, EntryKind, LayerEntry, OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::rules::Evaluation;
use crate::stack::{DiffType, Stack};
use serde::Serialize;
use std::fmt::Write as _;

/// go-humanize's `Bytes`: SI units, one decimal below 10.
pub fn human_bytes(s: u64) -> String {
    if s < 10 {
        return format!("{s} B");
    }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = ((s as f64).ln() / 1000f64.ln()).floor() as usize;
    let e = e.min(units.len() - 1);
    let val = ((s as f64) / 1000f64.powi(e as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", units[e])
    } else {
        format!("{val:.0} {}", units[e])
    }
}

fn percent(v: f64) -> String {
    format!("{:.2} %", v * 100.0)
}

/// How many inefficient / wasteful paths the text report lists (the JSON lists all).
pub const REPORT_PATHS: usize = 20;

/// The text report. `eval` is printed when CI rules were evaluated.
pub fn text(image: &Image, a: &Analysis, eval: Option<&Evaluation>) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Image: {}  ({} layers, {})",
        image.name,
        image.layers.len(),
        human_bytes(a.size_bytes)
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "Layers:");
    let _ = writeln!(
        o,
        "  {:>3}  {:>9}  {:>6} {:>6} {:>6}  Command",
        "#", "Size", "Add", "Mod", "Rem"
    );
    for (l, s) in image.layers.iter().zip(&a.layers) {
        let cmd: String = l.command.chars().take(80).collect();
        let _ = writeln!(
            o,
            "  {:>3}  {:>9}  {:>6} {:>6} {:>6}  {}",
            l.index,
            human_bytes(l.size),
            s.added,
            s.modified,
            s.removed,
            cmd
        );
    }
    let _ = writeln!(o);
    let (wasted, user) = if a.wasted_bytes > 0 {
        (
            format!("({})", human_bytes(a.wasted_bytes)),
            percent(a.user_wasted_percent),
        )
    } else {
        (String::new(), "0 %".to_string())
    };
    let _ = writeln!(o, "Analysis (dive-compatible):");
    let _ = writeln!(o, "  {:<18} {}", "efficiency:", percent(a.efficiency));
    let _ = writeln!(
        o,
        "  {:<18} {} bytes {}",
        "wastedBytes:", a.wasted_bytes, wasted
    );
    let _ = writeln!(o, "  {:<18} {}", "userWastedPercent:", user);
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Corrected (stored but invisible bytes; dive also counts the kept copy, dive#684):"
    );
    let _ = writeln!(
        o,
        "  {:<18} {}",
        "efficiency:",
        percent(a.corrected_efficiency)
    );
    let _ = writeln!(
        o,
        "  {:<18} {} bytes ({})",
        "wastedBytes:",
        a.corrected_wasted_bytes,
        human_bytes(a.corrected_wasted_bytes)
    );
    let cu = if a.corrected_wasted_bytes > 0 {
        percent(a.corrected_user_wasted_percent)
    } else {
        "0 %".into()
    };
    let _ = writeln!(o, "  {:<18} {}", "userWastedPercent:", cu);
    if !a.dangling_whiteouts.is_empty() {
        let _ = writeln!(o, "  {:<18} {} (whiteouts of paths that never existed; dive would skip the rest of those layers)", "danglingWhiteouts:", a.dangling_whiteouts.len());
    }
    let _ = writeln!(o);
    if a.inefficiencies.is_empty() {
        let _ = writeln!(o, "Inefficient Files: (None)");
    } else {
        let _ = writeln!(o, "Inefficient Files:");
        let _ = writeln!(o, "  {:<5}  {:<12}  File Path", "Count", "Wasted Space");
        for p in a.inefficiencies.iter().take(REPORT_PATHS) {
            let _ = writeln!(
                o,
                "  {:<5}  {:<12}  {}",
                p.count,
                human_bytes(p.cumulative_size),
                p.path
            );
        }
        if a.inefficiencies.len() > REPORT_PATHS {
            let _ = writeln!(
                o,
                "  … {} more (see --json)",
                a.inefficiencies.len() - REPORT_PATHS
            );
        }
    }
    let _ = writeln!(o);
    if !a.wasted_paths.is_empty() {
        let _ = writeln!(o, "Top wasteful paths (corrected):");
        let _ = writeln!(o, "  {:<6}  {:<12}  File Path", "Hidden", "Wasted Space");
        for p in a.wasted_paths.iter().take(REPORT_PATHS) {
            let _ = writeln!(
                o,
                "  {:<6}  {:<12}  {}",
                p.hidden_copies,
                human_bytes(p.wasted_bytes),
                p.path
            );
        }
        let _ = writeln!(o);
    }
    if let Some(ev) = eval {
        let _ = writeln!(o, "Evaluation:");
        for r in &ev.outcomes {
            let _ = writeln!(o, "  {}  {} ({})", r.status.as_str(), r.rule, r.message);
        }
        let count = |s| ev.outcomes.iter().filter(|o| o.status == s).count();
        use crate::rules::RuleStatus::*;
        let parts: Vec<String> = [
            ("pass", count(Pass)),
            ("fail", count(Fail)),
            ("warn", count(Warn)),
            ("skip", count(Skip)),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k}:{n}"))
        .collect();
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{} [{}]",
            if ev.pass { "PASS" } else { "FAIL" },
            parts.join(" ")
        );
    }
    o
}

/// dive's `FileInfo` in the export.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportFile {
    pub path: String,
    pub type_flag: u8,
    pub link_name: String,
    pub size: u64,
    pub file_mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub is_dir: bool,
}

/// Go's `os.FileMode` bits for a tar entry, as dive exports them.
fn go_file_mode(e: &LayerEntry) -> u32 {
    let mut m = e.mode & 0o777;
    if e.mode & 0o4000 != 0 {
        m |= 1 << 23;
    }
    if e.mode & 0o2000 != 0 {
        m |= 1 << 22;
    }
    if e.mode & 0o1000 != 0 {
        m |= 1 << 20;
    }
    match e.type_flag {
        b'5' => m |= 1 << 31,
        b'2' => m |= 1 << 27,
        b'3' => m |= (1 << 26) | (1 << 21),
        b'4' => m |= 1 << 26,
        b'6' => m |= 1 << 25,
        _ => {}
    }
    m
}

fn export_path(e: &LayerEntry) -> String {
    let join = |dir: &str, name: &str| {
        if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        }
    };
    match e.kind {
        EntryKind::Whiteout => {
            let (dir, name) = split_parent(&e.path);
            join(dir, &format!("{WHITEOUT_PREFIX}{name}"))
        }
        EntryKind::Opaque => join(&e.path, OPAQUE_MARKER),
        _ => e.path.clone(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportLayer {
    pub index: usize,
    pub id: String,
    pub digest_id: String,
    pub size_bytes: u64,
    pub command: String,
    pub file_list: Vec<ExportFile>,
    /// berth: change counts and bytes this layer stores that later layers hide.
    pub added: usize,
    pub modified: usize,
    pub removed: usize,
    pub wasted_bytes: u64,
    /// berth: what this layer did to each path, relative to the layers below.
    pub changes: Vec<ExportChange>,
}

/// berth: one path changed by a layer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportChange {
    /// `/`-rooted path.
    pub path: String,
    pub change: DiffType,
    pub kind: EntryKind,
    /// The new size, or for a removal the size of the removed copy.
    pub size: u64,
}

#[derive(Debug, Serialize)]
pub struct FileReference {
    pub count: usize,
    #[serde(rename = "sizeBytes")]
    pub size_bytes: u64,
    pub file: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Corrected {
    pub efficiency_score: f64,
    pub wasted_bytes: u64,
    pub user_wasted_percent: Option<f64>,
    pub file_reference: Vec<FileReference>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportImage {
    pub size_bytes: u64,
    pub inefficient_bytes: u64,
    pub efficiency_score: f64,
    pub file_reference: Vec<FileReference>,
    /// berth extras.
    pub name: String,
    pub user_size_bytes: u64,
    /// `null` when undefined (a one-layer image).
    pub user_wasted_percent: Option<f64>,
    pub corrected: Corrected,
    pub dangling_whiteouts: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Export {
    pub layer: Vec<ExportLayer>,
    pub image: ExportImage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The `--json` document.
pub fn export(image: &Image, a: &Analysis, eval: Option<&Evaluation>) -> Export {
    let mut stack = Stack::new();
    let changes: Vec<Vec<ExportChange>> = image
        .layers
        .iter()
        .map(|l| {
            stack
                .apply(l.index, &l.entries)
                .changes
                .into_iter()
                .filter(|c| c.diff != DiffType::Unmodified)
                .map(|c| ExportChange {
                    path: format!("/{}", c.path),
                    change: c.diff,
                    kind: c.node.kind,
                    size: c.node.size,
                })
                .collect()
        })
        .collect();
    let mut changes = changes.into_iter();
    Export {
        layer: image
            .layers
            .iter()
            .zip(&a.layers)
            .map(|(l, s)| ExportLayer {
                changes: changes.next().unwrap_or_default(),
                index: l.index,
                id: l.id.clone(),
                digest_id: l.digest.clone().unwrap_or_default(),
                size_bytes: l.size,
                command: l.command.clone(),
                file_list: l
                    .entries
                    .iter()
                    .map(|e| ExportFile {
                        path: export_path(e),
                        type_flag: e.type_flag,
                        link_name: e.link.clone().unwrap_or_default(),
                        size: e.size,
                        file_mode: go_file_mode(e),
                        uid: e.uid,
                        gid: e.gid,
                        is_dir: e.kind == EntryKind::Dir,
                    })
                    .collect(),
                added: s.added,
                modified: s.modified,
                removed: s.removed,
                wasted_bytes: s.wasted_bytes,
            })
            .collect(),
        image: ExportImage {
            size_bytes: a.size_bytes,
            inefficient_bytes: a.wasted_bytes,
            efficiency_score: a.efficiency,
            file_reference: a
                .inefficiencies
                .iter()
                .map(|p| FileReference {
                    count: p.count,
                    size_bytes: p.cumulative_size,
                    file: p.path.clone(),
                })
                .collect(),
            name: image.name.clone(),
            user_size_bytes: a.user_size_bytes,
            user_wasted_percent: finite(a.user_wasted_percent),
            corrected: Corrected {
                efficiency_score: a.corrected_efficiency,
                wasted_bytes: a.corrected_wasted_bytes,
                user_wasted_percent: finite(a.corrected_user_wasted_percent),
                file_reference: a
                    .wasted_paths
                    .iter()
                    .map(|p| FileReference {
                        count: p.hidden_copies,
                        size_bytes: p.wasted_bytes,
                        file: p.path.clone(),
                    })
                    .collect(),
            },
            dangling_whiteouts: a
                .dangling_whiteouts
                .iter()
                .map(|(l, p)| format!("{l}:/{p}"))
                .collect(),
        },
        evaluation: eval.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_matches_go_humanize() {
        assert_eq!(human_bytes(5), "5 B");
        assert_eq!(human_bytes(1200), "1.2 kB");
        assert_eq!(human_bytes(12_810), "13 kB");
        assert_eq!(human_bytes(20_000_000), "20 MB");
    }
}
