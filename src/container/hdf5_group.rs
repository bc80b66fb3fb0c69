//! A group's members, however the group stores them: a symbol table (version 1 B-tree of "SNOD"
//! nodes, names in a local heap), link messages in its header (compact), or a fractal heap indexed by
//! version 2 B-trees (dense). Ordered by creation order when the group tracks it, else by name.

use super::hdf5_btree::{v1_leaves, v2_records};
use super::hdf5_cursor::Cursor;
use super::hdf5_header::{heap_name, local_heap, ObjectHeader};
use super::hdf5_heap::FractalHeap;
use super::hdf5_message::{self as message, kind, LinkMessage};
use super::Hdf5File;
use crate::error::{malformed, Result};
use crate::sorting;

/// Members of one symbol-table node: HDF5 writes at most 2K (K ≤ 32767).
const MAX_NODE_SYMBOLS: usize = 1 << 16;
/// v2 B-tree types for dense links: by name hash, and by creation order.
const NAME_INDEX: u8 = 5;
const ORDER_INDEX: u8 = 6;

/// (name, target header address or `None` for soft/external links), in the group's order.
pub(super) fn links(file: &Hdf5File, header: &ObjectHeader) -> Result<Vec<(String, Option<u64>)>> {
    let sizes = file.sizes();
    if let Some(table) = header.first(kind::SYMBOL_TABLE) {
        let mut c = Cursor::new(&table.data, "symbol table message");
        let btree = c.address(sizes)?.ok_or_else(|| malformed("An HDF5 group's symbol table has no B-tree."))?;
        let heap = c.address(sizes)?.ok_or_else(|| malformed("An HDF5 group's symbol table has no heap."))?;
        let names = local_heap(file, heap)?;
        let mut out = Vec::new();
        for (_, node) in v1_leaves(file, btree, 0, sizes.length)? {
            symbol_node(file, node, &names, &mut out)?;
        }
        sorting::sort_by(&mut out, |a, b| a.0.cmp(&b.0));
        return Ok(out);
    }
    let mut found: Vec<LinkMessage> = Vec::new();
    let mut tracked = false;
    if let Some(info) = header.first(kind::LINK_INFO) {
        let info = message::dense_info(&info.data, sizes, 8)?;
        tracked = info.tracked;
        if let Some(heap_address) = info.heap {
            let heap = FractalHeap::open(file, heap_address)?;
            let (index, tree, skip) = match (tracked, info.orders) {
                (true, Some(orders)) => (orders, ORDER_INDEX, 8),
                _ => (info.names.ok_or_else(|| malformed("An HDF5 dense group has no name index."))?, NAME_INDEX, 4),
            };
            for record in v2_records(file, index, tree)? {
                let id = record.get(skip..).ok_or_else(|| malformed("An HDF5 link index record is too short."))?;
                found.push(message::link(&heap.object(file, id)?, sizes)?);
            }
        }
    }
    for m in header.all(kind::LINK) {
        found.push(message::link(&m.data, sizes)?);
    }
    if tracked && found.iter().all(|l| l.order.is_some()) {
        sorting::sort_by_key(&mut found, |l| l.order);
    } else {
        sorting::sort_by(&mut found, |a, b| a.name.cmp(&b.name));
    }
    Ok(found.into_iter().map(|l| (l.name, l.address)).collect())
}

fn symbol_node(file: &Hdf5File, address: u64, names: &[u8], out: &mut Vec<(String, Option<u64>)>) -> Result<()> {
    let sizes = file.sizes();
    let head = file.meta(address, 8, "symbol table node")?;
    let mut c = Cursor::new(&head, "symbol table node");
    if c.take(4)? != b"SNOD" {
        return Err(malformed(format!(
            "There is no HDF5 symbol table node at address {address}; the file is damaged."
        )));
    }
    c.skip(2)?;
    let count = usize::from(c.u16()?);
    if count > MAX_NODE_SYMBOLS {
        return Err(malformed("An HDF5 symbol table node claims too many members."));
    }
    let entry = 2 * sizes.offset + 24;
    let body = file.meta(address.saturating_add(8), count * entry, "symbol table node")?;
    let mut c = Cursor::new(&body, "symbol table node");
    for _ in 0..count {
        let name_at = c.uint(sizes.offset)?;
        let target = c.address(sizes)?;
        let cache = c.u32()?;
        c.skip(20)?;
        // Cache type 2 marks a soft link (its value is in the heap, not followed).
        let target = if cache == 2 { None } else { target };
        out.push((heap_name(names, name_at)?, target));
    }
    Ok(())
}
