//! HDF5 attributes: attribute messages in an object's header, or dense storage (attribute info message
//! → fractal heap, indexed by version 2 B-trees), decoded into the values Keras and h5py write:
//! fixed-length strings (numpy `S`), variable-length strings (global heap), integers and floats.

use super::hdf5_btree::v2_records;
use super::hdf5_cursor::Cursor;
use super::hdf5_header::{global_collection, GlobalCollection, ObjectHeader};
use super::hdf5_heap::FractalHeap;
use super::hdf5_message::{self as message, kind, Datatype};
use super::Hdf5File;
use crate::error::{malformed, Error, Result};
use crate::sorting;
use crate::tensor::ByteOrder;
use std::rc::Rc;

/// Elements of one attribute: Keras' `weight_names` of a big model is thousands of strings.
const MAX_ELEMENTS: u64 = 1 << 20;
/// Global heap collections kept read (each ≤ 16 MiB; h5py writes one per few KiB of strings).
const MAX_KEPT_COLLECTIONS: usize = 8;
/// v2 B-tree types for dense attributes: by name hash, and by creation order.
const NAME_INDEX: u8 = 8;
const ORDER_INDEX: u8 = 9;

/// An attribute's value, flattened (a scalar is one element).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attribute {
    Strings(Vec<String>),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    /// A value of another type, by what it is ("a compound value").
    Other(String),
}

/// Every attribute of an object as (name, attribute message bytes): in creation order when tracked,
/// else by name.
pub(super) fn raw_attributes(file: &Hdf5File, header: &ObjectHeader) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut tracked = false;
    for m in header.all(kind::ATTRIBUTE) {
        out.push((message::attribute(&m.data)?.name, m.data.clone()));
    }
    if let Some(info) = header.first(kind::ATTRIBUTE_INFO) {
        let info = message::dense_info(&info.data, file.sizes(), 2)?;
        tracked = info.tracked;
        if let Some(heap_address) = info.heap {
            let heap = FractalHeap::open(file, heap_address)?;
            let (index, tree) = match (tracked, info.orders) {
                (true, Some(orders)) => (orders, ORDER_INDEX),
                _ => (
                    info.names.ok_or_else(|| malformed("An HDF5 object's dense attributes have no name index."))?,
                    NAME_INDEX,
                ),
            };
            for record in v2_records(file, index, tree)? {
                let id = record.get(..8).ok_or_else(|| malformed("An HDF5 attribute index record is too short."))?;
                if record.get(8).is_some_and(|flags| flags & 0x01 != 0) {
                    return Err(Error::Unsupported(
                        "This HDF5 file shares an attribute message, which patchlens does not read.".into(),
                    ));
                }
                let data = heap.object(file, id)?;
                out.push((message::attribute(&data)?.name, data));
            }
        }
    }
    if !tracked {
        sorting::sort_by(&mut out, |a, b| a.0.cmp(&b.0));
    }
    Ok(out)
}

/// An attribute message's value.
pub(super) fn decode(file: &Hdf5File, bytes: &[u8]) -> Result<Attribute> {
    let raw = message::attribute(bytes)?;
    let datatype = message::datatype(raw.datatype)?;
    let count = match message::dataspace(raw.dataspace, file.sizes())? {
        None => 0,
        Some(dims) => {
            dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).filter(|&n| n <= MAX_ELEMENTS).ok_or_else(|| {
                Error::TooLarge(format!("HDF5 attribute {} claims more than {MAX_ELEMENTS} values.", raw.name))
            })?
        }
    } as usize;
    let value = raw.value;
    let sizes = file.sizes();
    let element = match datatype {
        Datatype::VlenString => 8 + sizes.offset,
        ref other => other.size(),
    };
    let needed = count.checked_mul(element).filter(|&n| n <= value.len());
    if needed.is_none() {
        return Err(malformed(format!("HDF5 attribute {} holds fewer bytes than its {count} values need.", raw.name)));
    }
    let items = || value.chunks_exact(element.max(1)).take(count);
    Ok(match datatype {
        Datatype::Int { size, signed, order } => {
            let mut out = Vec::with_capacity(count);
            for item in items() {
                let mut word = [0u8; 8];
                let item: Vec<u8> =
                    if order == ByteOrder::Big { item.iter().rev().copied().collect() } else { item.to_vec() };
                word[..size].copy_from_slice(&item);
                // Sign-extend from the element's width.
                let shift = 64 - 8 * size as u32;
                let v = u64::from_le_bytes(word);
                out.push(if signed {
                    ((v << shift) as i64) >> shift
                } else if let Ok(v) = i64::try_from(v) {
                    v
                } else {
                    return Ok(Attribute::Other("an unsigned integer too large for 64-bit signed".into()));
                });
            }
            Attribute::Ints(out)
        }
        Datatype::Float { dtype, order, size } => {
            if dtype.float_size() != Some(size) {
                return Ok(Attribute::Other(format!("a {dtype} value")));
            }
            let values = crate::tensor::decode_floats(&value[..count * size], &dtype, order)?;
            Attribute::Floats(match values {
                crate::tensor::Values::F32(v) => v.into_iter().map(f64::from).collect(),
                crate::tensor::Values::F64(v) => v,
            })
        }
        Datatype::FixedString { .. } => {
            Attribute::Strings(items().map(|s| text(s.split(|&b| b == 0).next().unwrap_or(s))).collect())
        }
        Datatype::VlenString => {
            let mut out = Vec::with_capacity(count);
            for item in items() {
                let mut c = Cursor::new(item, "variable-length string");
                let len = c.u32()?;
                let collection = c.address(sizes)?;
                let index = c.u32()?;
                out.push(match collection {
                    Some(at) if len > 0 => {
                        let collection = collection_at(file, at)?;
                        let bytes = collection.object(index)?;
                        let len = (len as usize).min(bytes.len());
                        String::from_utf8_lossy(&bytes[..len]).into_owned()
                    }
                    _ => String::new(),
                });
            }
            Attribute::Strings(out)
        }
        Datatype::Other { what, .. } => Attribute::Other(format!("a {what} value")),
    })
}

/// A fixed-length string's text: NUL padding cut off before, space padding after.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end_matches(' ').to_string()
}

/// A global heap collection, read once and kept.
fn collection_at(file: &Hdf5File, address: u64) -> Result<Rc<GlobalCollection>> {
    if let Some(c) = file.global_heaps.borrow().get(&address) {
        return Ok(Rc::clone(c));
    }
    let collection = Rc::new(global_collection(file, address)?);
    let mut kept = file.global_heaps.borrow_mut();
    if kept.len() >= MAX_KEPT_COLLECTIONS {
        kept.clear();
    }
    kept.insert(address, Rc::clone(&collection));
    Ok(collection)
}
