//! Finding the patch embedding without the user knowing its name: the names each model family gives
//! the layer that meets the pixels, ranked, then any 4-D float kernel with 3 (then 1) input channels.
//! Among copies of one layer the teacher's (what DINO publishes) and the EMA weights win.

use crate::kernel::{not_drawable_reason, KernelLayout};
use crate::sorting;
use crate::tensor::TensorInfo;

/// Names of the first layer, most certain first. A name matches when it is the whole tensor name or
/// follows a `.` or `/` (`teacher.backbone.patch_embed.proj.weight`, `params/img/embedding/kernel`).
pub const KNOWN_NAMES: &[(&str, &str)] = &[
    ("embedding/kernel", "AugReg / big_vision ViT patch embedding"),
    ("patch_embed.proj.weight", "timm / DINO / DeiT / MAE / EVA patch embedding"),
    ("embeddings.patch_embeddings.projection.weight", "Hugging Face ViT / DINOv2 / BEiT patch embedding"),
    ("embeddings/patch_embeddings/projection/kernel", "Hugging Face TF / Flax ViT / DINOv2 / BEiT patch embedding"),
    ("embeddings.patch_embedding.weight", "Hugging Face CLIP / SigLIP patch embedding"),
    ("embeddings/patch_embedding/kernel", "Hugging Face TF / Flax CLIP / SigLIP patch embedding"),
    ("visual.conv1.weight", "OpenAI CLIP / open_clip patch embedding"),
    ("v.patch_embd.weight", "llama.cpp CLIP / LLaVA projector patch embedding"),
    ("patch_embed.weight", "patch embedding"),
    ("patch_embed/proj/kernel", "Flax / TF port of a timm patch embedding"),
    ("embeddings.patch_embeddings.weight", "Hugging Face ConvNeXt patch embedding"),
    ("embeddings/patch_embeddings/kernel", "Hugging Face TF / Flax ConvNeXt patch embedding"),
    ("conv_root/kernel", "ResNet stem of a hybrid ViT"),
    ("backbone.bottom_up.stem.conv1.weight", "detectron2 ResNet stem"),
    ("conv1.weight", "CNN stem (ResNet-style conv1)"),
    ("conv1_w", "CNN stem (Detectron / Caffe2 conv1)"),
    ("conv1_weights", "CNN stem (PaddlePaddle conv1)"),
    ("conv_stem.weight", "CNN stem (timm EfficientNet / MobileNet)"),
    ("stem.conv.weight", "CNN stem"),
    ("stem.0.weight", "CNN stem (ConvNeXt)"),
    ("model.0.conv.weight", "CNN stem (YOLO model.0)"),
    ("features.0.weight", "CNN stem (torchvision features.0)"),
    ("features.0.0.weight", "CNN stem (torchvision features.0.0)"),
    ("stem/conv/kernel", "CNN stem"),
    ("conv1/kernel", "CNN stem (Keras / TF conv1)"),
    ("conv1/weights", "CNN stem (TF-slim ResNet conv1)"),
    ("conv1_conv/kernel", "CNN stem (Keras ResNet conv1_conv)"),
    ("block1_conv1/kernel", "CNN stem (Keras VGG block1_conv1)"),
    ("stem_conv/kernel", "CNN stem (Keras EfficientNet stem_conv)"),
    ("Conv1/kernel", "CNN stem (Keras MobileNetV2 Conv1)"),
    ("conv_stem/kernel", "CNN stem (TF / Flax EfficientNet conv_stem)"),
    ("embedder.embedder.convolution.weight", "CNN stem (Hugging Face ResNet / RegNet)"),
    ("embedder/embedder/convolution/kernel", "CNN stem (Hugging Face TF / Flax ResNet / RegNet)"),
];

/// Which copy of the weights a name belongs to, best first: DINO publishes the teacher; EMA weights are
/// what timm and most trainers evaluate; optimizer moments share the weights' shapes but are not weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Copy {
    Teacher,
    Ema,
    Plain,
    Student,
    OptimizerState,
}

fn copy_of(name: &str) -> Copy {
    let segments = || name.split(['.', '/']);
    let has = |test: &dyn Fn(&str) -> bool| segments().any(test);
    if has(&|s| s == "teacher") {
        Copy::Teacher
    } else if has(&|s| s == "ema" || s.starts_with("ema_") || s.ends_with("_ema")) {
        Copy::Ema
    } else if has(&|s| s == "student") {
        Copy::Student
    } else if has(&|s| {
        // Keras 2 keeps optimizer slots under `optimizer_weights`, a TensorFlow checkpoint under `.OPTIMIZER_SLOT`.
        matches!(s, "optimizer" | "optimizer_state" | "opt_state" | "optim" | "optimizer_weights" | "OPTIMIZER_SLOT")
    }) {
        Copy::OptimizerState
    } else {
        Copy::Plain
    }
}

/// True for `suffix` itself or `….suffix` / `…/suffix` (not `my_suffix`), `name` without its output index.
fn ends_with_segments(name: &str, suffix: &str) -> bool {
    name.strip_suffix(suffix).is_some_and(|rest| rest.is_empty() || rest.ends_with(['/', '.']))
}

/// `conv1/kernel:0` → `conv1/kernel`; names without a `:<digits>` ending are returned as they are.
fn without_output_index(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((stem, index)) if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) => stem,
        _ => name,
    }
}

/// A table of known names, most certain first: (name suffix, what a tensor so named is). The patch
/// embedding's is [`KNOWN_NAMES`]; the position embedding's lives in `analysis::positions`.
pub type NameTable = [(&'static str, &'static str)];

/// A name's rank in `table` and the entry it matched (suffix, description), if it has one. A TensorFlow output
/// index (`kernel:0`, as Keras 2 names its weights) is not part of the name. Every name of a checkpoint is asked
/// about (a ViT-L's 392, or a few thousand), so the index is cut off once, not once per entry of the table.
fn known(table: &'static NameTable, name: &str) -> Option<(usize, &'static (&'static str, &'static str))> {
    let name = without_output_index(name);
    table.iter().enumerate().find(|(_, (suffix, _))| ends_with_segments(name, suffix))
}

/// What a tensor's name says it is in `table`, if anything.
pub(crate) fn recognize_in(table: &'static NameTable, name: &str) -> Option<&'static str> {
    known(table, name).map(|(_, (_, what))| *what)
}

/// What a tensor's name says it is, for the tensor list: `Some("timm / DINO … patch embedding")`.
pub fn recognize(name: &str) -> Option<&'static str> {
    recognize_in(KNOWN_NAMES, name)
}

/// The tensor drawn by default and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub index: usize,
    pub reason: String,
}

/// A tensor with a known name: its index, the table entry it matched, and which copy it is.
pub(crate) struct Candidate {
    pub(crate) index: usize,
    entry: &'static (&'static str, &'static str),
    copy: Copy,
}

impl Candidate {
    /// Why it was picked: "named like the {what} ({suffix})", and which copy it is if that mattered.
    pub(crate) fn reason(&self) -> String {
        let (suffix, what) = self.entry;
        format!("named like the {what} ({suffix}){}", copy_note(self.copy))
    }
}

/// The tensors with a name in `table`, best first: by name rank, then copy, then file order.
pub(crate) fn known_candidates(table: &'static NameTable, names: &[String]) -> Vec<Candidate> {
    let mut found: Vec<(usize, Candidate)> = names
        .iter()
        .enumerate()
        .filter_map(|(index, name)| {
            known(table, name).map(|(rank, entry)| (rank, Candidate { index, entry, copy: copy_of(name) }))
        })
        .collect();
    sorting::sort_by_key(&mut found, |(rank, c)| (*rank, c.copy, c.index));
    found.into_iter().map(|(_, candidate)| candidate).collect()
}

/// The best-ranked known name, by names alone: usually the pick, so a caller can read it before its
/// header is known (an npz entry's header and data then come in one read).
pub fn likely_patch_embedding(names: &[String]) -> Option<usize> {
    known_candidates(KNOWN_NAMES, names).first().map(|c| c.index)
}

fn copy_note(copy: Copy) -> &'static str {
    match copy {
        Copy::Teacher => "; the teacher's weights, preferred over the student's",
        Copy::Ema => "; the EMA weights, preferred over the raw ones",
        Copy::Student => "; the student's weights (no teacher copy can be drawn)",
        Copy::OptimizerState => "; from optimizer state (no model copy can be drawn)",
        Copy::Plain => "",
    }
}

/// Picks the patch embedding. `info(i)` is asked lazily, best candidates first, so a file with a known
/// name reads only that header; `layout(info)` says how a tensor's axes are ordered.
pub fn pick_patch_embedding(
    names: &[String],
    info: impl Fn(usize) -> Option<TensorInfo>,
    layout: impl Fn(&TensorInfo) -> KernelLayout,
) -> Option<Pick> {
    pick_patch_embedding_preferring(names, info, layout, None)
}

/// As [`pick_patch_embedding`], with the container's own choice (`preferred`: an index and why, e.g.
/// TFLite's first CONV_2D filter) ranked after the known names and before the shape fallback.
pub fn pick_patch_embedding_preferring(
    names: &[String],
    info: impl Fn(usize) -> Option<TensorInfo>,
    layout: impl Fn(&TensorInfo) -> KernelLayout,
    preferred: Option<Pick>,
) -> Option<Pick> {
    let drawable = |i: usize| info(i).filter(|t| not_drawable_reason(t, layout(t)).is_none());
    for candidate in known_candidates(KNOWN_NAMES, names) {
        if drawable(candidate.index).is_some() {
            return Some(Pick { index: candidate.index, reason: candidate.reason() });
        }
    }
    if let Some(pick) = preferred.filter(|p| drawable(p.index).is_some()) {
        return Some(pick);
    }
    // No known name: the first kernel that can be drawn as RGB, then as gray, the better copies first.
    let mut order: Vec<usize> = (0..names.len()).collect();
    sorting::sort_by_key(&mut order, |&i| (copy_of(&names[i]), i));
    for channels in [3, 1] {
        for &index in &order {
            let fits = drawable(index).is_some_and(|t| layout(&t).hwcn(&t.shape).map(|s| s[2]) == Some(channels));
            if fits {
                let kind = if channels == 3 { "3 input channels (RGB)" } else { "1 input channel (gray)" };
                return Some(Pick {
                    index,
                    reason: format!(
                        "the first 4-D float kernel with {kind}{}; no tensor has a known patch-embedding name",
                        copy_note(copy_of(&names[index]))
                    ),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::DType;

    fn info(name: &str, shape: &[usize]) -> TensorInfo {
        TensorInfo { name: name.into(), dtype: DType::F32, shape: shape.to_vec() }
    }

    fn pick_in(tensors: &[TensorInfo], layout: KernelLayout) -> Option<&str> {
        let names: Vec<String> = tensors.iter().map(|t| t.name.clone()).collect();
        pick_patch_embedding(&names, |i| tensors.get(i).cloned(), |_| layout).map(|p| tensors[p.index].name.as_str())
    }

    fn pick(tensors: &[TensorInfo]) -> Option<&str> {
        pick_in(tensors, KernelLayout::Hwio)
    }

    #[test]
    fn picks_embedding_kernel_under_any_prefix() {
        let t = [
            info("cls", &[1, 1, 768]),
            info("stem/kernel", &[3, 3, 3, 8]),
            info("opt/target/embedding/kernel", &[16, 16, 3, 768]),
        ];
        assert_eq!(pick(&t), Some("opt/target/embedding/kernel"));
        assert_eq!(
            pick(&[info("params/img/embedding/kernel", &[14, 14, 3, 384])]),
            Some("params/img/embedding/kernel")
        );
        // A name that merely ends the same way is not the embedding.
        assert_eq!(pick(&[info("my_embedding/kernel", &[2, 2, 5, 4])]), None);
    }

    #[test]
    fn hybrid_models_use_the_resnet_root() {
        let t = [info("embedding/kernel", &[1, 1, 1024, 768]), info("conv_root/kernel", &[7, 7, 3, 64])];
        assert_eq!(pick(&t), Some("conv_root/kernel"));
    }

    #[test]
    fn falls_back_to_the_first_rgb_then_gray_kernel() {
        let t = [info("a", &[3, 3, 16, 32]), info("b", &[5, 5, 1, 8]), info("c", &[3, 3, 3, 32])];
        assert_eq!(pick(&t), Some("c"));
        assert_eq!(pick(&t[..2]), Some("b"));
        assert_eq!(pick(&t[..1]), None);
    }

    #[test]
    fn knows_each_family_by_name() {
        let oihw = |name: &str| info(name, &[64, 3, 14, 14]);
        for name in [
            "patch_embed.proj.weight",
            "vit.embeddings.patch_embeddings.projection.weight",
            "vision_model.embeddings.patch_embedding.weight",
            "visual.conv1.weight",
            "v.patch_embd.weight",
            "model.0.conv.weight",
            "features.0.weight",
        ] {
            // A drawable decoy comes first in file order; the known name still wins.
            let t = [oihw("blocks.0.decoy.weight"), oihw(name)];
            assert_eq!(pick_in(&t, KernelLayout::Oihw), Some(name), "{name}");
        }
        // The layer that meets the pixels outranks a later stem-like name.
        let t = [oihw("layer1.0.conv1.weight"), oihw("patch_embed.proj.weight")];
        assert_eq!(pick_in(&t, KernelLayout::Oihw), Some("patch_embed.proj.weight"));
    }

    #[test]
    fn knows_the_tensorflow_family_by_name() {
        let hwio = |name: &str| info(name, &[7, 7, 3, 64]);
        for name in [
            "model_weights/conv1/conv1/kernel:0",
            "vit/tf_vi_t_model/vit/embeddings/patch_embeddings/projection/kernel:0",
            "params/vit/embeddings/patch_embeddings/projection/kernel",
            "vision_model/embeddings/patch_embedding/kernel",
            "block1_conv1/kernel",
            "resnet_v1_50/conv1/weights",
            "tf_clip_model/clip/vision_model/embeddings/patch_embedding/kernel:0",
            "conv1_conv/kernel",
            "vgg16/block1_conv1/kernel:0",
            "stem_conv/kernel:0",
            "Conv1/kernel",
            "conv1/kernel:12",
        ] {
            let t = [hwio("a/decoy/kernel"), hwio(name)];
            assert_eq!(pick(&t), Some(name), "{name}");
        }
        // Only an output index is dropped: `kernel:x` and `kernel:` are names of their own.
        assert_eq!(recognize("conv1/kernel:x"), None);
        assert_eq!(recognize("conv1/kernel:"), None);
        // Optimizer slots with a weight's shape come after the weight itself.
        let t = [hwio("optimizer_weights/Adam/stem/kernel/m:0"), hwio("model_weights/stem/stem/kernel:0")];
        assert_eq!(pick(&t), Some("model_weights/stem/stem/kernel:0"));
    }

    #[test]
    fn prefers_teacher_then_ema_and_says_so() {
        let oihw = |name: &str| info(name, &[64, 3, 16, 16]);
        let t = [oihw("student.backbone.patch_embed.proj.weight"), oihw("teacher.backbone.patch_embed.proj.weight")];
        assert_eq!(pick_in(&t, KernelLayout::Oihw), Some("teacher.backbone.patch_embed.proj.weight"));
        let names: Vec<String> = t.iter().map(|t| t.name.clone()).collect();
        let picked = pick_patch_embedding(&names, |i| t.get(i).cloned(), |_| KernelLayout::Oihw).unwrap();
        assert!(picked.reason.contains("teacher"), "{}", picked.reason);
        let t = [oihw("state_dict.patch_embed.proj.weight"), oihw("state_dict_ema.patch_embed.proj.weight")];
        assert_eq!(pick_in(&t, KernelLayout::Oihw), Some("state_dict_ema.patch_embed.proj.weight"));
        // Optimizer moments come last even in the fallback.
        let t = [oihw("optimizer.state.0.exp_avg"), oihw("model.stem_weight")];
        assert_eq!(pick_in(&t, KernelLayout::Oihw), Some("model.stem_weight"));
    }

    #[test]
    fn the_containers_choice_ranks_after_known_names_and_before_the_fallback() {
        let t = [info("a", &[3, 3, 3, 8]), info("b", &[3, 3, 3, 8]), info("c", &[3, 3, 64, 8])];
        let names: Vec<String> = t.iter().map(|t| t.name.clone()).collect();
        let prefer = |index| Some(Pick { index, reason: "filter of CONV_2D #0".into() });
        let pick = |preferred| {
            pick_patch_embedding_preferring(&names, |i| t.get(i).cloned(), |_| KernelLayout::Hwio, preferred)
        };
        assert_eq!(pick(prefer(1)).map(|p| (p.index, p.reason)), Some((1, "filter of CONV_2D #0".into())));
        // A preferred tensor that cannot be drawn is passed over for the fallback.
        assert_eq!(pick(prefer(2)).map(|p| p.index), Some(0));
        let mut named = t.to_vec();
        named[0].name = "conv1.weight".into();
        let names: Vec<String> = named.iter().map(|t| t.name.clone()).collect();
        let known =
            pick_patch_embedding_preferring(&names, |i| named.get(i).cloned(), |_| KernelLayout::Hwio, prefer(1));
        assert_eq!(known.map(|p| p.index), Some(0));
    }

    #[test]
    fn a_known_name_that_cannot_be_drawn_is_passed_over() {
        let t = [info("conv1.weight", &[64, 14, 3, 3]), info("stem_weight", &[16, 3, 3, 3])];
        assert_eq!(pick_in(&t, KernelLayout::Oihw), Some("stem_weight"));
        assert_eq!(recognize("teacher.conv1.weight"), Some("CNN stem (ResNet-style conv1)"));
        assert_eq!(recognize("myconv1.weight"), None);
    }
}
