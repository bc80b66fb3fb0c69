//! HDF5 B-trees, walked to their leaves: version 1 ("TREE": symbol-table groups, type 0, and chunk
//! indexes, type 1) and version 2 ("BTHD"/"BTIN"/"BTLF": dense link and attribute indexes). Every node
//! is checked for its signature, its level one below its parent's, and a visited set catches nodes
//! that point back at themselves or an ancestor.

use super::hdf5::Hdf5File;
use super::hdf5_cursor::{bytes_for, Cursor};
use crate::error::{malformed, Error, Result};
use std::collections::HashSet;

/// Levels of a B-tree: a real tree of a million entries is a handful deep.
const MAX_DEPTH: usize = 32;
/// Nodes of one tree walked: bounds time on a hostile file whose nodes are all distinct.
const MAX_NODES: usize = 1 << 16;
/// Records of one version 2 tree: dense groups of Keras models hold thousands of links.
const MAX_RECORDS: u64 = 1 << 20;
/// Leaf entries of one version 1 tree: group members or chunks (the chunk reader allows 2^20).
const MAX_ENTRIES: usize = 1 << 20;

/// The entries of a version 1 B-tree's leaves: each child address with the key before it.
pub(super) fn v1_leaves(file: &Hdf5File, root: u64, node_type: u8, key_size: usize) -> Result<Vec<(Vec<u8>, u64)>> {
    let sizes = file.sizes();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut stack = vec![(root, None::<u8>)];
    while let Some((address, expect_level)) = stack.pop() {
        if !seen.insert(address) || seen.len() > MAX_NODES {
            return Err(malformed("An HDF5 B-tree has a node that points back into the tree, or too many nodes."));
        }
        let prefix_len = 8 + 2 * sizes.offset;
        let prefix = file.meta(address, prefix_len, "B-tree node")?;
        let mut c = Cursor::new(&prefix, "B-tree node");
        if c.take(4)? != b"TREE" {
            return Err(malformed(format!("There is no HDF5 B-tree node at address {address}; the file is damaged.")));
        }
        let (kind, level, entries) = (c.u8()?, c.u8()?, usize::from(c.u16()?));
        if kind != node_type {
            return Err(malformed(format!("An HDF5 B-tree node has type {kind} where type {node_type} belongs.")));
        }
        if expect_level.is_some_and(|l| l != level) || usize::from(level) > MAX_DEPTH {
            return Err(malformed("An HDF5 B-tree node sits at the wrong level of its tree."));
        }
        let body_len = entries * (key_size + sizes.offset) + key_size;
        let body = file.meta(address + prefix_len as u64, body_len, "B-tree node")?;
        let mut c = Cursor::new(&body, "B-tree node");
        let mut children = Vec::with_capacity(entries);
        for _ in 0..entries {
            let key = c.take(key_size)?.to_vec();
            let child = c.address(sizes)?.ok_or_else(|| malformed("An HDF5 B-tree entry points nowhere."))?;
            children.push((key, child));
        }
        if level == 0 {
            if out.len() + children.len() > MAX_ENTRIES {
                return Err(malformed(format!("An HDF5 B-tree holds more than {MAX_ENTRIES} entries.")));
            }
            out.extend(children);
        } else {
            // Pushed in reverse so the walk visits children left to right.
            for (_, child) in children.into_iter().rev() {
                stack.push((child, Some(level - 1)));
            }
        }
    }
    Ok(out)
}

/// Every record of a version 2 B-tree, of `node_type`, in tree order (callers sort them).
pub(super) fn v2_records(file: &Hdf5File, header: u64, node_type: u8) -> Result<Vec<Vec<u8>>> {
    let sizes = file.sizes();
    let head = file.meta(header, 16 + sizes.offset + 2 + sizes.length + 4, "B-tree header")?;
    let mut c = Cursor::new(&head, "B-tree header");
    if c.take(4)? != b"BTHD" {
        return Err(malformed(format!("There is no HDF5 version 2 B-tree at address {header}; the file is damaged.")));
    }
    c.skip(1)?;
    let kind = c.u8()?;
    if kind != node_type {
        return Err(malformed(format!("An HDF5 B-tree has type {kind} where type {node_type} belongs.")));
    }
    let node_size = c.u32()? as usize;
    let record_size = usize::from(c.u16()?);
    let depth = usize::from(c.u16()?);
    c.skip(2)?;
    let root = c.address(sizes)?;
    let root_records = u64::from(c.u16()?);
    let total = c.length(sizes)?;
    let Some(root) = root else { return Ok(Vec::new()) };
    if depth > MAX_DEPTH || record_size == 0 || total > MAX_RECORDS || node_size < 10 {
        return Err(malformed("An HDF5 version 2 B-tree header claims an impossible depth, record size or count."));
    }
    // Bytes of each level's child pointers, as HDF5 computes them (H5B2__hdr_init).
    let leaf_max = ((node_size - 10) / record_size) as u64;
    let max_nrec_size = bytes_for(leaf_max);
    let mut cum_size = vec![0usize; depth + 1];
    let mut cum_max = leaf_max;
    for level in 1..=depth {
        let pointer = sizes.offset + max_nrec_size + if level > 1 { cum_size[level - 1] } else { 0 };
        let max = (node_size.saturating_sub(10 + pointer) / (record_size + pointer)) as u64;
        cum_max = cum_max.saturating_mul(max + 1).saturating_add(max);
        cum_size[level] = bytes_for(cum_max);
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![(root, root_records, depth)];
    while let Some((address, records, level)) = stack.pop() {
        if !seen.insert(address) || seen.len() > MAX_NODES || out.len() as u64 + records > MAX_RECORDS {
            return Err(malformed("An HDF5 B-tree has a node that points back into the tree, or too many records."));
        }
        let records = records as usize;
        let pointer = sizes.offset + max_nrec_size + if level > 1 { cum_size[level - 1] } else { 0 };
        let pointers = if level > 0 { (records + 1).saturating_mul(pointer) } else { 0 };
        let len = records.saturating_mul(record_size).saturating_add(pointers).saturating_add(6);
        if len > node_size {
            return Err(malformed("An HDF5 B-tree node claims more records than fit in it."));
        }
        let bytes = file.meta(address, len, "B-tree node")?;
        let mut c = Cursor::new(&bytes, "B-tree node");
        let signature = c.take(4)?;
        if signature != if level > 0 { b"BTIN" } else { b"BTLF" } {
            return Err(malformed(format!("There is no HDF5 B-tree node at address {address}; the file is damaged.")));
        }
        c.skip(1)?;
        if c.u8()? != node_type {
            return Err(malformed("An HDF5 B-tree node has the wrong type for its tree."));
        }
        for _ in 0..records {
            out.push(c.take(record_size)?.to_vec());
        }
        if level > 0 {
            for _ in 0..=records {
                let child = c.address(sizes)?.ok_or_else(|| malformed("An HDF5 B-tree node points nowhere."))?;
                let child_records = c.uint(max_nrec_size)?;
                if level > 1 {
                    c.uint(cum_size[level - 1])?;
                }
                stack.push((child, child_records, level - 1));
            }
        }
    }
    if out.len() as u64 != total {
        return Err(Error::Malformed(format!(
            "An HDF5 B-tree says it holds {total} records but its nodes hold {}.",
            out.len()
        )));
    }
    Ok(out)
}
