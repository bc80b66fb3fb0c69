//! The HDF5 header messages a reader of weights needs, decoded from their bytes: dataspace, datatype,
//! data layout, filter pipeline, link, link info and attribute info (format spec, section IV.A.2).

use super::hdf5_cursor::{Cursor, Sizes};
use crate::error::{malformed, Error, Result};
use crate::tensor::{ByteOrder, DType};

/// HDF5's own limit on the rank of a dataspace (H5S_MAX_RANK).
pub(super) const MAX_RANK: usize = 32;
/// Filters in one pipeline: HDF5 allows 32 (H5Z_MAX_NFILTERS).
const MAX_FILTERS: usize = 32;
/// Bytes of one element: real float and integer types are ≤ 16; fixed strings in Keras files are
/// short names. Larger claims are lies that would size allocations.
pub(super) const MAX_ELEMENT_SIZE: u64 = 1 << 20;

pub(super) mod kind {
    pub const DATASPACE: u16 = 0x01;
    pub const LINK_INFO: u16 = 0x02;
    pub const DATATYPE: u16 = 0x03;
    pub const LINK: u16 = 0x06;
    pub const LAYOUT: u16 = 0x08;
    pub const GROUP_INFO: u16 = 0x0A;
    pub const FILTERS: u16 = 0x0B;
    pub const ATTRIBUTE: u16 = 0x0C;
    pub const CONTINUATION: u16 = 0x10;
    pub const SYMBOL_TABLE: u16 = 0x11;
    pub const ATTRIBUTE_INFO: u16 = 0x15;
}

/// Dimensions of a dataspace; empty for a scalar. `None` for the null dataspace (no elements).
pub(super) fn dataspace(bytes: &[u8], sizes: Sizes) -> Result<Option<Vec<u64>>> {
    let mut c = Cursor::new(bytes, "dataspace message");
    let version = c.u8()?;
    let rank = usize::from(c.u8()?);
    let _flags = c.u8()?;
    let null = match version {
        1 => {
            c.skip(5)?;
            false
        }
        2 => match c.u8()? {
            0 => return Ok(Some(Vec::new())),
            1 => false,
            2 => true,
            other => {
                return Err(malformed(format!(
                    "An HDF5 dataspace has type {other}; only scalar, simple and null exist."
                )))
            }
        },
        other => {
            return Err(Error::Unsupported(format!(
                "This HDF5 file uses dataspace message version {other}; versions 1 and 2 are read."
            )))
        }
    };
    if rank > MAX_RANK {
        return Err(malformed(format!("An HDF5 dataspace claims {rank} dimensions; HDF5 allows at most {MAX_RANK}.")));
    }
    let dims = (0..rank).map(|_| c.length(sizes)).collect::<Result<Vec<u64>>>()?;
    Ok((!null).then_some(dims))
}

/// An element type, as far as reading weights and attributes needs it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Datatype {
    Int {
        size: usize,
        signed: bool,
        order: ByteOrder,
    },
    Float {
        dtype: DType,
        size: usize,
        order: ByteOrder,
    },
    /// Fixed-length string of `size` bytes (numpy `S`), padded with NULs or spaces.
    FixedString {
        size: usize,
    },
    VlenString,
    /// Anything else, by what it is ("a compound", "a variable-length sequence", …) and its size.
    Other {
        what: String,
        size: usize,
    },
}

impl Datatype {
    pub(super) fn size(&self) -> usize {
        match self {
            Datatype::Int { size, .. } | Datatype::Float { size, .. } | Datatype::FixedString { size } => *size,
            // A vlen element in the file: a 4-byte length and a global heap ID.
            Datatype::VlenString => 0,
            Datatype::Other { size, .. } => *size,
        }
    }

    /// The dtype a tensor of this type is listed with.
    pub(super) fn dtype(&self) -> DType {
        match self {
            Datatype::Float { dtype, .. } => dtype.clone(),
            Datatype::Int { size, signed, .. } => {
                DType::Other(format!("{}int{}", if *signed { "" } else { "u" }, size * 8))
            }
            Datatype::FixedString { size } => DType::Other(format!("bytes{size}")),
            Datatype::VlenString => DType::Other("string".into()),
            Datatype::Other { what, .. } => DType::Other(what.clone()),
        }
    }
}

fn class_name(class: u8) -> &'static str {
    match class {
        2 => "time",
        4 => "bitfield",
        5 => "opaque",
        6 => "compound",
        7 => "reference",
        8 => "enum",
        9 => "variable-length sequence",
        10 => "array",
        _ => "unknown",
    }
}

pub(super) fn datatype(bytes: &[u8]) -> Result<Datatype> {
    let mut c = Cursor::new(bytes, "datatype message");
    let head = c.u8()?;
    let (class, version) = (head & 0x0f, head >> 4);
    if !(1..=5).contains(&version) {
        return Err(malformed(format!("An HDF5 datatype has version {version}; versions 1 to 5 exist.")));
    }
    let bits = c.uint(3)? as u32;
    let size64 = u64::from(c.u32()?);
    if size64 > MAX_ELEMENT_SIZE {
        return Err(Error::TooLarge(format!(
            "An HDF5 datatype claims {size64}-byte elements, more than the {MAX_ELEMENT_SIZE} patchlens reads."
        )));
    }
    let size = size64 as usize;
    let order = if bits & 1 == 0 { ByteOrder::Little } else { ByteOrder::Big };
    Ok(match class {
        0 => match size {
            1 | 2 | 4 | 8 => Datatype::Int { size, signed: bits & 0x08 != 0, order },
            _ => Datatype::Other { what: format!("{}-byte integer", size), size },
        },
        1 => {
            // Byte order bit 6 set with bit 0 is VAX order, which no weights file uses.
            if bits & 0x40 != 0 {
                return Ok(Datatype::Other { what: "VAX-order float".into(), size });
            }
            let (_offset, _precision) = (c.u16()?, c.u16()?);
            let (_exp_at, exp_bits, _mant_at, mant_bits) = (c.u8()?, c.u8()?, c.u8()?, c.u8()?);
            let dtype = match (size, exp_bits, mant_bits) {
                (2, 5, 10) => DType::F16,
                (2, 8, 7) => DType::BF16,
                (4, 8, 23) => DType::F32,
                (8, 11, 52) => DType::F64,
                _ => DType::Other(format!("float{} (e{exp_bits}m{mant_bits})", size * 8)),
            };
            Datatype::Float { dtype, size, order }
        }
        3 => Datatype::FixedString { size },
        9 => {
            if bits & 0x0f == 1 {
                Datatype::VlenString
            } else {
                Datatype::Other { what: "variable-length sequence".into(), size }
            }
        }
        other => Datatype::Other { what: class_name(other).into(), size },
    })
}

/// Where and how a dataset's elements are stored (data layout message, versions 3 and 4).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Layout {
    Compact(Vec<u8>),
    /// `address` is `None` when no storage was ever allocated (every element is the fill value).
    Contiguous {
        address: Option<u64>,
        size: u64,
    },
    /// `chunk` has one entry per dataset dimension (the element-size entry removed).
    Chunked {
        chunk: Vec<u64>,
        index: ChunkIndex,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum ChunkIndex {
    /// Layout v3: a version 1 B-tree of type 1 (the only index before v4).
    BTreeV1 {
        address: Option<u64>,
    },
    /// One chunk covering the dataset; `filtered` holds its stored size and filter mask if filtered.
    Single {
        address: Option<u64>,
        filtered: Option<(u64, u32)>,
    },
    /// Unfiltered chunks stored back to back in chunk order.
    Implicit {
        address: Option<u64>,
    },
    FixedArray {
        address: Option<u64>,
        page_bits: u8,
    },
    /// Extensible arrays and version 2 B-trees (datasets with unlimited dimensions), by name.
    Unread(&'static str),
}

pub(super) fn layout(bytes: &[u8], sizes: Sizes, rank: usize) -> Result<Layout> {
    let mut c = Cursor::new(bytes, "data layout message");
    let version = c.u8()?;
    if !(3..=4).contains(&version) {
        return Err(Error::Unsupported(format!(
            "This HDF5 dataset uses data layout message version {version}; versions 3 and 4 are read (files since HDF5 1.6)."
        )));
    }
    match c.u8()? {
        0 => {
            let size = usize::from(c.u16()?);
            Ok(Layout::Compact(c.take(size)?.to_vec()))
        }
        1 => {
            let address = c.address(sizes)?;
            Ok(Layout::Contiguous { address, size: c.length(sizes)? })
        }
        2 if version == 3 => {
            let dims = usize::from(c.u8()?);
            let address = c.address(sizes)?;
            let chunk = chunk_dims(&mut c, dims, 4, rank)?;
            Ok(Layout::Chunked { chunk, index: ChunkIndex::BTreeV1 { address } })
        }
        2 => {
            let flags = c.u8()?;
            let dims = usize::from(c.u8()?);
            let width = usize::from(c.u8()?);
            if !(1..=8).contains(&width) {
                return Err(malformed(format!(
                    "An HDF5 chunked layout encodes dimensions in {width} bytes; 1 to 8 are valid."
                )));
            }
            let chunk = chunk_dims(&mut c, dims, width, rank)?;
            let index = match c.u8()? {
                1 => {
                    let filtered = if flags & 0x02 != 0 { Some((c.length(sizes)?, c.u32()?)) } else { None };
                    ChunkIndex::Single { address: c.address(sizes)?, filtered }
                }
                2 => ChunkIndex::Implicit { address: c.address(sizes)? },
                3 => {
                    let page_bits = c.u8()?;
                    ChunkIndex::FixedArray { address: c.address(sizes)?, page_bits }
                }
                4 => ChunkIndex::Unread("an extensible array"),
                5 => ChunkIndex::Unread("a version 2 B-tree"),
                other => {
                    return Err(malformed(format!(
                        "An HDF5 chunked layout names chunk index type {other}, which does not exist."
                    )))
                }
            };
            Ok(Layout::Chunked { chunk, index })
        }
        3 => Err(Error::Unsupported(
            "This HDF5 dataset is virtual (it maps other datasets); patchlens reads stored data only.".into(),
        )),
        other => Err(malformed(format!(
            "An HDF5 data layout has class {other}; only compact, contiguous, chunked and virtual exist."
        ))),
    }
}

/// Chunk dimensions: `dims` entries of `width` bytes, the last being the element size, which is dropped.
fn chunk_dims(c: &mut Cursor, dims: usize, width: usize, rank: usize) -> Result<Vec<u64>> {
    if dims != rank + 1 {
        return Err(malformed(format!(
            "An HDF5 chunked layout has {dims} chunk dimensions for a {rank}-D dataset; it should have {}.",
            rank + 1
        )));
    }
    let mut chunk = (0..dims).map(|_| c.uint(width)).collect::<Result<Vec<u64>>>()?;
    chunk.pop();
    if chunk.contains(&0) {
        return Err(malformed("An HDF5 chunked layout has a chunk dimension of 0."));
    }
    Ok(chunk)
}

/// Filters the reader applies, in pipeline order (as written; reading undoes them last to first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Filter {
    Deflate,
    Shuffle,
}

pub(super) fn filter_name(id: u16) -> String {
    match id {
        3 => "Fletcher32 checksums".into(),
        4 => "szip".into(),
        5 => "N-bit".into(),
        6 => "scale-offset".into(),
        32000 => "LZF".into(),
        32001 => "Blosc".into(),
        32004 => "LZ4".into(),
        32008 => "bitshuffle".into(),
        32013 => "ZFP".into(),
        32015 => "Zstandard".into(),
        other => format!("filter {other}"),
    }
}

pub(super) fn filters(bytes: &[u8]) -> Result<Vec<Filter>> {
    let mut c = Cursor::new(bytes, "filter pipeline message");
    let version = c.u8()?;
    let count = usize::from(c.u8()?);
    if count > MAX_FILTERS {
        return Err(malformed(format!("An HDF5 filter pipeline lists {count} filters; HDF5 allows {MAX_FILTERS}.")));
    }
    match version {
        1 => c.skip(6)?,
        2 => {}
        other => {
            return Err(Error::Unsupported(format!(
                "This HDF5 file uses filter pipeline version {other}; versions 1 and 2 are read."
            )))
        }
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let id = c.u16()?;
        let name_len = if version == 1 || id >= 256 { usize::from(c.u16()?) } else { 0 };
        let flags = c.u16()?;
        let values = usize::from(c.u16()?);
        let padded = if version == 1 { name_len.div_ceil(8) * 8 } else { name_len };
        c.skip(padded)?;
        c.skip(values.checked_mul(4).ok_or_else(|| malformed("An HDF5 filter claims too many parameters."))?)?;
        if version == 1 && values % 2 == 1 {
            c.skip(4)?;
        }
        match id {
            1 => out.push(Filter::Deflate),
            2 => out.push(Filter::Shuffle),
            // An optional filter the writer could not apply is recorded per chunk in its mask; a
            // filter patchlens lacks is refused whether optional or not, by name.
            other => {
                let optional = if flags & 1 != 0 { " (optional)" } else { "" };
                return Err(Error::Unsupported(format!(
                    "This HDF5 dataset is compressed with {}{optional}; patchlens reads deflate (gzip) and shuffle only.",
                    filter_name(other)
                )));
            }
        }
    }
    Ok(out)
}

/// A link as a link message describes it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LinkMessage {
    pub name: String,
    /// The target's header address for a hard link; `None` for soft and external links.
    pub address: Option<u64>,
    pub order: Option<u64>,
}

pub(super) fn link(bytes: &[u8], sizes: Sizes) -> Result<LinkMessage> {
    let mut c = Cursor::new(bytes, "link message");
    let version = c.u8()?;
    if version != 1 {
        return Err(malformed(format!("An HDF5 link message has version {version}; only version 1 exists.")));
    }
    let flags = c.u8()?;
    let link_type = if flags & 0x08 != 0 { c.u8()? } else { 0 };
    let order = if flags & 0x04 != 0 { Some(c.u64()?) } else { None };
    if flags & 0x10 != 0 {
        c.skip(1)?; // character set: ASCII or UTF-8, both read as UTF-8
    }
    let name_len = c.uint(1 << (flags & 0x03))?;
    let name_len =
        usize::try_from(name_len).map_err(|_| malformed("An HDF5 link name claims an impossible length."))?;
    let name = String::from_utf8_lossy(c.take(name_len)?).into_owned();
    let address = if link_type == 0 { c.address(sizes)? } else { None };
    Ok(LinkMessage { name, address, order })
}

/// Where a group's (or object's) dense storage is: fractal heap, name index, creation-order index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct DenseInfo {
    pub heap: Option<u64>,
    pub names: Option<u64>,
    pub orders: Option<u64>,
    /// Creation order is tracked (so it orders the children).
    pub tracked: bool,
}

/// A link info message (0x02; `order_width` 8) or attribute info message (0x15; `order_width` 2).
pub(super) fn dense_info(bytes: &[u8], sizes: Sizes, order_width: usize) -> Result<DenseInfo> {
    let mut c = Cursor::new(bytes, "link or attribute info message");
    let version = c.u8()?;
    if version != 0 {
        return Err(malformed(format!("An HDF5 link or attribute info message has version {version}; only 0 exists.")));
    }
    let flags = c.u8()?;
    if flags & 0x01 != 0 {
        c.skip(order_width)?;
    }
    let heap = c.address(sizes)?;
    let names = c.address(sizes)?;
    let orders = if flags & 0x02 != 0 { c.address(sizes)? } else { None };
    Ok(DenseInfo { heap, names, orders, tracked: flags & 0x01 != 0 })
}

/// The raw parts of an attribute message: name, datatype, dataspace bytes, and its value bytes.
pub(super) struct RawAttribute<'a> {
    pub name: String,
    pub datatype: &'a [u8],
    pub dataspace: &'a [u8],
    pub value: &'a [u8],
}

pub(super) fn attribute(bytes: &[u8]) -> Result<RawAttribute<'_>> {
    let mut c = Cursor::new(bytes, "attribute message");
    let version = c.u8()?;
    let flags = c.u8()?;
    let name_len = usize::from(c.u16()?);
    let type_len = usize::from(c.u16()?);
    let space_len = usize::from(c.u16()?);
    if version == 3 {
        c.skip(1)?; // character set of the name
    }
    if !(1..=3).contains(&version) {
        return Err(malformed(format!("An HDF5 attribute message has version {version}; versions 1 to 3 exist.")));
    }
    if version > 1 && flags & 0x03 != 0 {
        return Err(Error::Unsupported(
            "This HDF5 attribute uses a shared datatype or dataspace, which patchlens does not read.".into(),
        ));
    }
    // Version 1 pads each part to a multiple of 8 bytes.
    let pad = |n: usize| if version == 1 { n.div_ceil(8) * 8 } else { n };
    let name = c.take(pad(name_len))?;
    let name = &name[..name_len.min(name.len())];
    let name = String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap_or(name)).into_owned();
    let datatype = c.take(pad(type_len))?;
    let dataspace = c.take(pad(space_len))?;
    let value = c.take(c.remaining())?;
    Ok(RawAttribute { name, datatype, dataspace, value })
}
