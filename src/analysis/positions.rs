//! The position embedding (the ViT paper's Figure 7, centre): finding it by name as the patch embedding is
//! found, reading which of its tokens are grid positions ([`TokenGrid`]), and drawing how alike the
//! positions are ([`render`]: cosine similarity per position, or the raw Gram matrix).

mod image;
mod similarity;
mod tokens;

pub use image::{ColorBar, GridPosition, PixelPair, PositionImage};
pub use similarity::{render, SimilarityMode, SimilarityOptions, DEFAULT_GAP};
pub use tokens::{TokenGrid, INFERRED_EXTRA_TOKENS, MAX_POSITIONS};

use crate::pick::{known_candidates, recognize_in, NameTable, Pick};
use crate::tensor::{DType, TensorInfo};

/// Names of the position embedding, most certain first; matched as [`crate::pick::KNOWN_NAMES`] is, under
/// any prefix, and among copies the teacher's, then the EMA weights, win.
pub const POSITION_NAMES: &NameTable = &[
    ("Transformer/posembed_input/pos_embedding", "AugReg ViT position embedding"),
    ("pos_embedding", "big_vision / SigLIP / torchvision ViT position embedding"),
    ("pos_embed", "timm / DINO / DeiT / MAE position embedding"),
    ("embeddings.position_embeddings", "Hugging Face ViT / DINOv2 position embedding"),
    ("vision_model.embeddings.position_embedding.weight", "Hugging Face CLIP / SigLIP position embedding"),
    ("visual.positional_embedding", "OpenAI CLIP / open_clip position embedding"),
    ("v.position_embd.weight", "llama.cpp CLIP position embedding"),
];

/// Path segments of a two-tower model's text side, whose position embedding numbers words, not patches
/// (big_vision's SigLIP has `params/img/pos_embedding` and `params/txt/pos_embedding`).
const TEXT_TOWERS: [&str; 5] = ["txt", "text", "text_model", "text_encoder", "textual"];

fn in_text_tower(name: &str) -> bool {
    name.split(['.', '/']).any(|segment| TEXT_TOWERS.contains(&segment))
}

/// What a tensor's name says it is, if it is named like a position embedding (and not a text tower's).
pub fn recognize_position_embedding(name: &str) -> Option<&'static str> {
    recognize_in(POSITION_NAMES, name).filter(|_| !in_text_tower(name))
}

/// (tokens, width) of a position embedding's shape: `(tokens, width)` or `(1, tokens, width)`.
pub fn tokens_and_width(shape: &[usize]) -> Option<(usize, usize)> {
    match *shape {
        [tokens, width] | [1, tokens, width] => Some((tokens, width)),
        _ => None,
    }
}

/// Why a tensor cannot be read as a position embedding, in a phrase, or `None` if it can.
pub fn unusable_reason(info: &TensorInfo) -> Option<String> {
    if let DType::Quantized(kind) = &info.dtype {
        return Some(format!("quantized ({kind}), not decoded yet"));
    }
    if info.dtype.float_size().is_none() {
        return Some(format!("{} values are not floats", info.dtype));
    }
    let Some((tokens, width)) = tokens_and_width(&info.shape) else {
        return Some(match info.shape.as_slice() {
            [batch, _, _] => format!("its first axis is {batch}, not 1; a position embedding is (1, tokens, width)"),
            shape => format!("it is {}-D; a position embedding is (tokens, width) or (1, tokens, width)", shape.len()),
        });
    };
    if tokens == 0 || width == 0 {
        return Some("it is empty".into());
    }
    None
}

/// Picks the position embedding among `names`: the best-ranked known name whose tensor is usable and whose
/// tokens leave a square grid, else the best usable one (its grid must then be given). `info(i)` is asked
/// only for tensors with a known name.
pub fn pick_position_embedding(names: &[String], info: impl Fn(usize) -> Option<TensorInfo>) -> Option<Pick> {
    let usable: Vec<_> = known_candidates(POSITION_NAMES, names)
        .into_iter()
        .filter(|c| names.get(c.index).is_some_and(|name| !in_text_tower(name)))
        .filter_map(|c| info(c.index).filter(|t| unusable_reason(t).is_none()).map(|t| (c, t)))
        .collect();
    let square = |t: &TensorInfo| tokens_and_width(&t.shape).is_some_and(|(n, _)| TokenGrid::infer(n).is_ok());
    let (candidate, _) = usable.iter().find(|(_, t)| square(t)).or_else(|| usable.first())?;
    Some(Pick { index: candidate.index, reason: candidate.reason() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, shape: &[usize]) -> TensorInfo {
        TensorInfo { name: name.into(), dtype: DType::F32, shape: shape.to_vec() }
    }

    fn pick(tensors: &[TensorInfo]) -> Option<(String, String)> {
        let names: Vec<String> = tensors.iter().map(|t| t.name.clone()).collect();
        pick_position_embedding(&names, |i| tensors.get(i).cloned()).map(|p| (names[p.index].clone(), p.reason))
    }

    fn picked(tensors: &[TensorInfo]) -> Option<String> {
        pick(tensors).map(|(name, _)| name)
    }

    #[test]
    fn knows_each_family_by_name_under_any_prefix() {
        for (name, shape) in [
            ("Transformer/posembed_input/pos_embedding", &[1, 197, 768][..]),
            ("params/img/pos_embedding", &[1, 196, 768]),
            ("encoder.pos_embedding", &[1, 197, 768]),
            ("teacher.backbone.pos_embed", &[1, 1370, 384]),
            ("vit.embeddings.position_embeddings", &[1, 197, 768]),
            ("vision_model.embeddings.position_embedding.weight", &[577, 1024]),
            ("visual.positional_embedding", &[257, 1024]),
            ("v.position_embd.weight", &[577, 1024]),
        ] {
            // A usable decoy comes first in file order; the known name still wins.
            let t = [info("blocks.0.attn.qkv.bias", &[1, 197, 768]), info(name, shape)];
            assert_eq!(picked(&t).as_deref(), Some(name), "{name}");
            assert!(recognize_position_embedding(name).is_some(), "{name}");
        }
        let (_, reason) = pick(&[info("params/Transformer/posembed_input/pos_embedding", &[1, 197, 8])]).unwrap();
        assert_eq!(reason, "named like the AugReg ViT position embedding (Transformer/posembed_input/pos_embedding)");
        // Names that merely end the same way, and text towers, are not it.
        assert_eq!(picked(&[info("decoder_pos_embed", &[1, 197, 512])]), None);
        assert_eq!(picked(&[info("positional_embedding", &[77, 512])]), None);
        assert_eq!(picked(&[info("text_model.embeddings.position_embedding.weight", &[64, 512])]), None);
        assert_eq!(picked(&[info("params/txt/pos_embedding", &[1, 64, 768])]), None);
        assert_eq!(recognize_position_embedding("params/txt/pos_embedding"), None);
    }

    #[test]
    fn prefers_a_square_grid_then_the_teacher_then_ema() {
        let t = [info("student.pos_embed", &[1, 197, 8]), info("teacher.pos_embed", &[1, 197, 8])];
        let (name, reason) = pick(&t).unwrap();
        assert_eq!(name, "teacher.pos_embed");
        assert!(reason.contains("teacher"), "{reason}");
        let t = [info("model.pos_embed", &[1, 197, 8]), info("model_ema.pos_embed", &[1, 197, 8])];
        assert_eq!(picked(&t).as_deref(), Some("model_ema.pos_embed"));
        // A better-ranked name whose tokens make no square grid gives way to one that does, but is
        // still picked when it is the only one (the user then gives its grid).
        let t = [info("Transformer/posembed_input/pos_embedding", &[1, 193, 8]), info("pos_embed", &[1, 197, 8])];
        assert_eq!(picked(&t).as_deref(), Some("pos_embed"));
        assert_eq!(picked(&t[..1]).as_deref(), Some("Transformer/posembed_input/pos_embedding"));
    }

    #[test]
    fn says_why_a_tensor_is_unusable() {
        let reason = |shape: &[usize]| unusable_reason(&info("pos_embed", shape));
        assert_eq!(reason(&[1, 197, 768]), None);
        assert_eq!(reason(&[197, 768]), None);
        assert!(reason(&[2, 197, 768]).unwrap().contains("first axis is 2"));
        assert!(reason(&[1, 14, 14, 768]).unwrap().contains("4-D"));
        assert!(reason(&[768]).unwrap().contains("1-D"));
        assert_eq!(reason(&[1, 0, 768]).as_deref(), Some("it is empty"));
        let ints = TensorInfo { name: "pos_embed".into(), dtype: DType::Other("int64".into()), shape: vec![197, 8] };
        assert_eq!(unusable_reason(&ints).as_deref(), Some("int64 values are not floats"));
        let q = TensorInfo {
            name: "v.position_embd.weight".into(),
            dtype: DType::Quantized("Q8_0".into()),
            shape: vec![577, 64],
        };
        assert!(unusable_reason(&q).unwrap().contains("Q8_0"));
        // An unusable tensor is passed over.
        assert_eq!(picked(&[info("pos_embed", &[2, 197, 8])]), None);
    }
}
