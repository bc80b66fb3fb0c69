//! What `patchlens list` prints: a checkpoint's tensors in natural order, as aligned text for people
//! and as JSON for programs. The Rust CLI and the wasm binding (so also the Node CLI) print these bytes.

use crate::checkpoint::{Checkpoint, Opened, TensorEntry};
use crate::natural::natural_cmp;
use crate::sorting;
use serde::Serialize;

/// Names longer than this get a line of their own, so one long name cannot push every row's columns
/// past a terminal's width; nothing is cut.
pub const NAME_COLUMN_MAX: usize = 48;

/// One tensor as listed: the wasm binding's `TensorInfo` and the JSON listing's tensor entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedTensor {
    pub name: String,
    /// `unknown` when even its header could not be read (`reason` says why).
    pub dtype: String,
    pub shape: Vec<usize>,
    pub drawable: bool,
    /// Why it cannot be drawn, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How a 4-D tensor's axes are read: `hwio` or `oihw`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<&'static str>,
    /// True when the file does not say and the shape chose a layout against the format's convention.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub layout_inferred: bool,
    /// What a known first-layer name means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognized: Option<&'static str>,
    /// Only in a listing that read no headers (`Checkpoint::tensors_read`), for an entry whose header was not read:
    /// the bytes the file stores for it. Its dtype is then `unknown`, its shape empty, and `drawable` false
    /// with no `reason`: not known yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_bytes: Option<u64>,
    /// The shape as the text listing shows it (`16×16×3×768`, `scalar`, `?` when unknown).
    #[serde(skip)]
    shape_text: String,
}

impl From<TensorEntry> for ListedTensor {
    fn from(entry: TensorEntry) -> ListedTensor {
        let (dtype, shape, shape_text) = match entry.info {
            Some(info) => {
                let shape_text = info.shape_text();
                (info.dtype.to_string(), info.shape, shape_text)
            }
            None => ("unknown".to_string(), Vec::new(), "?".to_string()),
        };
        ListedTensor {
            name: entry.name,
            dtype,
            shape,
            drawable: entry.problem.is_none() && entry.unread_bytes.is_none(),
            reason: entry.problem,
            layout: entry.layout.map(|layout| layout.name()),
            layout_inferred: entry.layout_inferred,
            recognized: entry.recognized,
            unread_bytes: entry.unread_bytes,
            shape_text,
        }
    }
}

/// Every tensor of a checkpoint in natural order (`blocks.2` before `blocks.10`).
pub fn listed_tensors(checkpoint: &Checkpoint) -> Vec<ListedTensor> {
    natural_order(checkpoint.tensors())
}

/// As `listed_tensors`, from what is known without reading an `.npz` entry's header (`Checkpoint::tensors_read`).
pub fn listed_tensors_read(checkpoint: &Checkpoint) -> Vec<ListedTensor> {
    natural_order(checkpoint.tensors_read())
}

fn natural_order(entries: Vec<TensorEntry>) -> Vec<ListedTensor> {
    let mut tensors: Vec<ListedTensor> = entries.into_iter().map(ListedTensor::from).collect();
    sorting::sort_by(&mut tensors, |a, b| natural_cmp(&a.name, &b.name));
    tensors
}

/// One open checkpoint as listed; field order is the JSON's key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointListing {
    pub label: String,
    pub files: Vec<String>,
    pub format: &'static str,
    pub file_size: u64,
    pub default_tensor: Option<String>,
    pub default_reason: Option<String>,
    pub notes: Vec<String>,
    /// Every tensor, drawable or not, in natural order.
    pub tensors: Vec<ListedTensor>,
}

/// One checkpoint among the files listed: listed, or the sentence saying why it could not be opened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Listing {
    Listed(CheckpointListing),
    Failed { label: String, files: Vec<String>, error: String },
}

impl Listing {
    pub fn of(opened: &Opened) -> Listing {
        match &opened.checkpoint {
            Ok(checkpoint) => Listing::Listed(CheckpointListing::new(&opened.label, &opened.files, checkpoint)),
            Err(error) => {
                Listing::Failed { label: opened.label.clone(), files: opened.files.clone(), error: error.to_string() }
            }
        }
    }
}

/// The JSON document for all checkpoints listed together: `{"checkpoints": [...]}`, pretty-printed.
pub fn json_document(listings: &[Listing]) -> String {
    #[derive(Serialize)]
    struct Document<'a> {
        checkpoints: &'a [Listing],
    }
    to_pretty_json(&Document { checkpoints: listings })
}

/// Pretty JSON with two-space indents, the same bytes as JavaScript's `JSON.stringify(value, null, 2)`.
pub fn to_pretty_json(value: &impl Serialize) -> String {
    // Only strings, numbers, bools, options, lists and plain structs are serialized: this cannot fail.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

impl CheckpointListing {
    /// Lists a checkpoint made of `files` (one file or a checkpoint's shards), shown as `label`.
    pub fn new(label: &str, files: &[String], checkpoint: &Checkpoint) -> CheckpointListing {
        CheckpointListing {
            label: label.to_string(),
            files: files.to_vec(),
            format: checkpoint.format(),
            file_size: checkpoint.file_size(),
            default_tensor: checkpoint.default_tensor(),
            default_reason: checkpoint.default_reason(),
            notes: checkpoint.notes(),
            tensors: listed_tensors(checkpoint),
        }
    }

    /// The listing as aligned text, one line per tensor, each line ending in a newline. By default only
    /// the tensors that can be drawn (and a count of the others); with `all`, every tensor with its reason.
    /// When none can be drawn, the others are listed with their reasons anyway: the user must see why.
    pub fn text(&self, all: bool) -> String {
        let mut lines = Vec::new();
        let files = if self.files.len() > 1 { format!(" ({} files)", self.files.len()) } else { String::new() };
        let count = self.tensors.len();
        let noun = if count == 1 { "tensor" } else { "tensors" };
        lines.push(format!("{}: {}{files}, {count} {noun}, {} bytes", self.label, self.format, self.file_size));
        lines.extend(self.notes.iter().map(|note| format!("  note: {note}")));

        let any_drawable = self.tensors.iter().any(|t| t.drawable);
        let shown: Vec<&ListedTensor> = self.tensors.iter().filter(|t| t.drawable || all || !any_drawable).collect();
        lines.extend(self.rows(&shown));
        let hidden = count - shown.len();
        if hidden == 1 {
            lines.push("  (1 more tensor cannot be drawn; --all lists it with the reason)".to_string());
        } else if hidden > 1 {
            lines.push(format!("  ({hidden} more tensors cannot be drawn; --all lists them with the reason)"));
        }

        match (&self.default_tensor, &self.default_reason) {
            (Some(name), Some(reason)) => lines.push(format!("default: {name}, {reason}")),
            _ => lines.push("(no patch embedding found; pick a tensor with --tensor)".to_string()),
        }
        lines.iter().map(|line| format!("{line}\n")).collect()
    }

    /// Aligned rows: mark, name, dtype, shape, note. A name longer than [`NAME_COLUMN_MAX`] takes a line
    /// of its own and the rest of its row continues under the columns.
    fn rows(&self, shown: &[&ListedTensor]) -> Vec<String> {
        let width = |text: &str| text.chars().count();
        let name_width = shown.iter().map(|t| width(&t.name)).filter(|&w| w <= NAME_COLUMN_MAX).max().unwrap_or(0);
        let dtype_width = shown.iter().map(|t| width(&t.dtype)).max().unwrap_or(0);
        let shape_width = shown.iter().map(|t| width(&t.shape_text)).max().unwrap_or(0);
        let mut rows = Vec::with_capacity(shown.len());
        for tensor in shown {
            let mark = if self.default_tensor.as_deref() == Some(tensor.name.as_str()) { "*" } else { " " };
            let rest =
                format!("{:<dtype_width$}  {:<shape_width$}  {}", tensor.dtype, tensor.shape_text, Self::note(tensor));
            if width(&tensor.name) <= NAME_COLUMN_MAX {
                rows.push(format!("{mark} {:<name_width$}  {rest}", tensor.name).trim_end().to_string());
            } else {
                rows.push(format!("{mark} {}", tensor.name));
                rows.push(format!("  {:name_width$}  {rest}", "").trim_end().to_string());
            }
        }
        rows
    }

    /// The last column: why it cannot be drawn or what its name means, and a layout the shape chose.
    fn note(tensor: &ListedTensor) -> String {
        let mut note = match (&tensor.reason, tensor.recognized) {
            (Some(reason), _) => format!("not drawable: {reason}"),
            (None, Some(what)) => what.to_string(),
            (None, None) => String::new(),
        };
        if let Some(layout) = tensor.layout.filter(|_| tensor.layout_inferred) {
            let separator = if note.is_empty() { "" } else { "; " };
            note = format!("{note}{separator}read as {}", layout.to_uppercase());
        }
        note
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, dtype: &str, shape: &[usize], reason: Option<&str>) -> ListedTensor {
        ListedTensor {
            name: name.into(),
            dtype: dtype.into(),
            shape: shape.to_vec(),
            drawable: reason.is_none(),
            reason: reason.map(String::from),
            layout: (shape.len() == 4).then_some("hwio"),
            layout_inferred: false,
            recognized: None,
            unread_bytes: None,
            shape_text: shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×"),
        }
    }

    fn listing(tensors: Vec<ListedTensor>, default: Option<&str>) -> CheckpointListing {
        CheckpointListing {
            label: "m.npz".into(),
            files: vec!["m.npz".into()],
            format: "npz",
            file_size: 1234,
            default_tensor: default.map(String::from),
            default_reason: default.map(|_| "the first 4-D float kernel with 3 input channels".into()),
            notes: vec!["Saved by a test.".into()],
            tensors,
        }
    }

    #[test]
    fn by_default_only_drawable_tensors_and_a_count_of_the_rest() {
        let list = listing(
            vec![
                tensor("a/kernel", "float32", &[3, 3, 3, 8], None),
                tensor("a/bias", "float32", &[8], Some("it is 1-D, not a 4-D kernel")),
                tensor("b/bias", "float32", &[8], Some("it is 1-D, not a 4-D kernel")),
            ],
            Some("a/kernel"),
        );
        assert_eq!(
            list.text(false),
            "m.npz: npz, 3 tensors, 1234 bytes\n  note: Saved by a test.\n* a/kernel  float32  3×3×3×8\n  \
             (2 more tensors cannot be drawn; --all lists them with the reason)\n\
             default: a/kernel, the first 4-D float kernel with 3 input channels\n"
        );
        let all = list.text(true);
        assert!(all.contains("\n  a/bias    float32  8        not drawable: it is 1-D, not a 4-D kernel\n"), "{all}");
        assert!(!all.contains("more tensor"), "{all}");
    }

    #[test]
    fn with_nothing_drawable_the_reasons_are_shown_anyway() {
        let list = listing(vec![tensor("w", "int8", &[3, 3, 3, 8], Some("int8 values are not drawn"))], None);
        assert_eq!(list.text(false), list.text(true));
        assert_eq!(
            list.text(false),
            "m.npz: npz, 1 tensor, 1234 bytes\n  note: Saved by a test.\n  w  int8  3×3×3×8  not drawable: int8 values \
             are not drawn\n(no patch embedding found; pick a tensor with --tensor)\n"
        );
    }

    #[test]
    fn a_long_name_takes_its_own_line_and_the_columns_stay_put() {
        let long = format!("encoder/{}/kernel", "x".repeat(80));
        let list = listing(
            vec![
                tensor("embedding/kernel", "float32", &[16, 16, 3, 768], None),
                tensor(&long, "float16", &[1, 1, 3, 4], None),
                tensor("head/kernel", "float64", &[1, 1, 3, 10], None),
            ],
            Some("embedding/kernel"),
        );
        let text = list.text(false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], "* embedding/kernel  float32  16×16×3×768");
        assert_eq!(lines[3], format!("  {long}"), "the name whole, on its own line");
        assert_eq!(lines[4], "                    float16  1×1×3×4");
        assert_eq!(lines[5], "  head/kernel       float64  1×1×3×10");
        // One more character than the cap is long; exactly the cap still fits the column.
        let at_cap = "n".repeat(NAME_COLUMN_MAX);
        let text = listing(vec![tensor(&at_cap, "float32", &[1, 1, 3, 1], None)], None).text(false);
        assert!(text.contains(&format!("  {at_cap}  float32  1×1×3×1\n")), "{text}");
    }

    #[test]
    fn json_keys_are_stable_and_optional_fields_left_out() {
        let mut inferred = tensor("w", "float32", &[8, 3, 4, 4], None);
        (inferred.layout, inferred.layout_inferred) = (Some("oihw"), true);
        let list = listing(vec![inferred, tensor("b", "float32", &[8], Some("it is 1-D"))], None);
        let json = json_document(&[
            Listing::Listed(list),
            Listing::Failed { label: "x.bin".into(), files: vec!["x.bin".into()], error: "Not a checkpoint.".into() },
        ]);
        let keys: Vec<&str> = json.lines().filter_map(|l| l.trim().split('"').nth(1)).collect();
        assert_eq!(
            keys[..10],
            [
                "checkpoints",
                "label",
                "files",
                "m.npz",
                "format",
                "fileSize",
                "defaultTensor",
                "defaultReason",
                "notes",
                "Saved by a test."
            ]
        );
        assert!(json.contains("\"defaultTensor\": null,"), "{json}");
        assert!(json.contains("\"layout\": \"oihw\",\n          \"layoutInferred\": true\n"), "{json}");
        assert!(json.contains("\"drawable\": false,\n          \"reason\": \"it is 1-D\"\n"), "{json}");
        assert!(
            json.contains("\"label\": \"x.bin\",\n      \"files\": [\n        \"x.bin\"\n      ],\n      \"error\"")
        );
        assert!(!json.contains("shapeText") && !json.contains("recognized"), "{json}");
    }
}
