//! Many ranges in one request (RFC 9110 §14.2, answered `206 multipart/byteranges`, §14.6): an `.npz`
//! listing needs a few hundred headers scattered over the file, one round trip each when asked one by one.
//! nginx and Apache answer such requests with parts; object stores (S3, GCS, Azure) answer them with the
//! whole file, which a browser's synchronous request could not stop. So a HEAD with the same ranges asks
//! first — no body either way — and a server that does not answer it with parts is asked one range at a
//! time, as before. Replies are parsed strictly (`multipart`) and held to the ranges asked: a broken one is
//! a sentence, never bytes from elsewhere.

use super::multipart::{self, Part};
use super::{bad_reply, parse_content_range, RemoteSource, Transport};
use crate::error::{Error, Result};
use crate::source::{check_range, range_len, read_vec};
use std::ops::Range;

/// Ranges in one request at most: Apache answers more than its `MaxRanges` (200 by default) with the
/// whole file; nginx has no limit by default.
pub const MAX_RANGES_PER_REQUEST: usize = 100;
/// The `Range` header's value at most, in bytes: half of what nginx (`large_client_header_buffers`, 8 KiB
/// a line) and Apache (`LimitRequestFieldSize`, 8190 bytes) accept by default.
pub const MAX_RANGE_HEADER: usize = 4096;
/// Per part, the bytes a reply may hold beyond the ranges' own: the boundary line, the part's headers, and
/// a gap a server may join two ranges across (RFC 9110 §14.2: gaps smaller than a part's overhead).
const PART_OVERHEAD: usize = multipart::MAX_PART_HEADERS / 4;

/// Whether a server answers multi-range requests with parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Support {
    #[default]
    Unknown,
    Parts,
    None,
}

/// `ranges` (start, end) of `source`, each with its own result: those a kept reply holds without a request,
/// the rest — if they come in ascending order — merged and asked for in multi-range requests where the server
/// answers them, else one by one.
pub(super) fn read_ranges<T: Transport>(source: &RemoteSource<T>, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
    let mut results: Vec<Option<Result<Vec<u8>>>> = Vec::with_capacity(ranges.len());
    let mut wanted = Vec::new();
    for &(start, end) in ranges {
        let checked = range_len(start, end).and_then(|len| check_range(start, len, source.size).map(|_| len));
        match checked {
            Err(e) => results.push(Some(Err(e))),
            Ok(len) => {
                let mut buf = vec![0; len];
                if source.kept_prefix(start, &mut buf) == len {
                    results.push(Some(Ok(buf)));
                } else {
                    results.push(None);
                    wanted.push((start, end));
                }
            }
        }
    }
    if !wanted.windows(2).all(|w| w[0].0 <= w[1].0) {
        // Out of order (an npz listing's come in order): one request each, as any read.
        let mut alone =
            wanted.into_iter().map(|(start, end)| range_len(start, end).and_then(|len| read_vec(source, start, len)));
        return results.into_iter().map(|r| r.or_else(|| alone.next()).unwrap_or_else(|| Err(lost()))).collect();
    }
    let asks = merged(wanted);
    let mut fetched: Vec<Option<Result<Vec<u8>>>> = vec![None; asks.len()];
    for batch in batches(&asks) {
        if source.multi_range.get() == Support::None {
            break;
        }
        if batch.len() < 2 {
            continue; // one range is one ordinary request
        }
        match fetch_batch(source, &asks[batch.clone()]) {
            Ok(parts) => fetched[batch].iter_mut().zip(parts).for_each(|(slot, part)| *slot = part.map(Ok)),
            Err(e) => fetched[batch].iter_mut().for_each(|slot| *slot = Some(Err(e.clone()))),
        }
    }
    // What no multi-range reply brought: one request each, as any read.
    for (slot, &(start, end)) in fetched.iter_mut().zip(&asks) {
        if slot.is_none() {
            *slot = Some(range_len(start, end).and_then(|len| read_vec(source, start, len)));
        }
    }
    // Each range, cut from the merged one that holds it.
    ranges
        .iter()
        .zip(results)
        .map(|(&(start, end), result)| {
            result.unwrap_or_else(|| {
                let at = asks.partition_point(|&(ask_start, _)| ask_start <= start).checked_sub(1);
                let ask = at.and_then(|i| Some((asks.get(i)?.0, fetched.get(i)?.as_ref()?)));
                match ask {
                    Some((ask_start, Ok(bytes))) => {
                        let from = usize::try_from(start - ask_start).ok();
                        let to = usize::try_from(end - ask_start).ok();
                        from.zip(to).and_then(|(from, to)| bytes.get(from..to)).map(<[u8]>::to_vec).ok_or_else(lost)
                    }
                    Some((_, Err(e))) => Err(e.clone()),
                    None => Err(lost()),
                }
            })
        })
        .collect()
}

/// A range that its merged range did not hold: a bug, said as a sentence.
fn lost() -> Error {
    Error::Read("A range read together with others came back without its bytes.".into())
}

/// Ranges in ascending order with those that overlap or touch joined: RFC 9110 §14.2 lets servers refuse
/// overlapping or unordered ranges.
fn merged(ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    let mut asks: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match asks.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => asks.push((start, end)),
        }
    }
    asks
}

/// One range of a `Range` header: `first-last`, inclusive.
fn spec(&(start, end): &(u64, u64)) -> String {
    format!("{start}-{}", end.saturating_sub(1))
}

/// The asks split into requests of at most [`MAX_RANGES_PER_REQUEST`] ranges and [`MAX_RANGE_HEADER`] bytes.
fn batches(asks: &[(u64, u64)]) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let (mut from, mut header) = (0, "bytes=".len());
    for (i, ask) in asks.iter().enumerate() {
        let len = spec(ask).len() + 1;
        if i > from && (i - from == MAX_RANGES_PER_REQUEST || header + len > MAX_RANGE_HEADER) {
            batches.push(from..i);
            (from, header) = (i, "bytes=".len());
        }
        header += len;
    }
    if from < asks.len() {
        batches.push(from..asks.len());
    }
    batches
}

/// The bytes of each ask, from one multi-range request: `None` for those it did not bring (the server does
/// not send parts, or sent one range), to be asked for alone; an error when its reply is broken.
fn fetch_batch<T: Transport>(source: &RemoteSource<T>, asks: &[(u64, u64)]) -> Result<Vec<Option<Vec<u8>>>> {
    let none = || vec![None; asks.len()];
    let header = format!("bytes={}", asks.iter().map(spec).collect::<Vec<_>>().join(","));
    if source.multi_range.get() == Support::Unknown {
        // Only a HEAD answered 206 multipart/byteranges makes the GET safe to send.
        let head = source.transport.get_ranges(&header, None);
        if let Ok(Some(reply)) = &head {
            source.stats.record(0);
            let parts = reply.status == 206
                && matches!(reply.content_type.as_deref().and_then(multipart::boundary), Some(Ok(_)));
            source.multi_range.set(if parts { Support::Parts } else { Support::None });
        } else {
            source.multi_range.set(Support::None);
        }
        if source.multi_range.get() == Support::None {
            return Ok(none());
        }
    }
    let asked: usize = asks.iter().filter_map(|&(start, end)| range_len(start, end).ok()).sum();
    let max_body = asked.saturating_add((asks.len() + 1).saturating_mul(PART_OVERHEAD));
    let reply = match source.transport.get_ranges(&header, Some(max_body)) {
        Ok(Some(reply)) => reply,
        // No reply: asked for one by one, whose sentences say what is wrong if anything is.
        Ok(None) | Err(_) => {
            source.multi_range.set(Support::None);
            return Ok(none());
        }
    };
    source.stats.record(reply.body.len());
    if reply.status != 206 {
        // The whole file (its body left unread), 416, an error status: one by one from here on.
        source.multi_range.set(Support::None);
        return Ok(none());
    }
    source.check_etag(reply.etag.as_ref())?;
    let name = &source.name;
    match reply.content_type.as_deref().and_then(multipart::boundary) {
        Some(boundary) => {
            let boundary = boundary.map_err(|what| bad_reply(name, what))?;
            if reply.body.len() > max_body {
                return Err(bad_reply(name, "a multipart reply longer than the ranges asked for"));
            }
            let parts = multipart::parts(&reply.body, &boundary, asks.len()).map_err(|what| bad_reply(name, what))?;
            let placed = place(source, asks, &parts)?;
            if placed.iter().any(Option::is_none) {
                return Err(bad_reply(name, "a multipart reply without some of the ranges asked for"));
            }
            Ok(placed)
        }
        // One range, not parts: a server that answers only the first range, or joined them all. What it sent
        // is used; the rest is asked for one by one.
        None => {
            let Some(header) = reply.content_range.as_deref() else {
                source.multi_range.set(Support::None);
                return Ok(none());
            };
            let range = parse_content_range(header).ok_or_else(|| bad_reply(name, "a Content-Range it cannot read"))?;
            if range.last - range.first != (reply.body.len() as u64).wrapping_sub(1) {
                return Err(bad_reply(name, "a reply of the wrong length"));
            }
            let placed = place(source, asks, &[Part { range, bytes: &reply.body }])?;
            if placed.iter().any(Option::is_none) {
                source.multi_range.set(Support::None);
            }
            Ok(placed)
        }
    }
}

/// Each ask's bytes from the parts that hold them. A part must start where an ask starts and end where one
/// ends (a server may join neighbouring ranges into one part), parts must not overlap, and each must give
/// this file's size: anything else is refused.
fn place<T: Transport>(source: &RemoteSource<T>, asks: &[(u64, u64)], parts: &[Part]) -> Result<Vec<Option<Vec<u8>>>> {
    let other_bytes = || bad_reply(&source.name, "other bytes than the ones asked for");
    let mut placed: Vec<Option<Vec<u8>>> = vec![None; asks.len()];
    for part in parts {
        source.check_total(&part.range)?;
        let (first, end) = (part.range.first, part.range.last.checked_add(1).ok_or_else(other_bytes)?);
        let from = asks.binary_search_by_key(&first, |&(start, _)| start).map_err(|_| other_bytes())?;
        let to = asks.binary_search_by_key(&end, |&(_, end)| end).map_err(|_| other_bytes())?;
        let covered = placed.get_mut(from..=to).ok_or_else(other_bytes)?;
        if covered.iter().any(Option::is_some) {
            return Err(bad_reply(&source.name, "overlapping parts in its multipart reply"));
        }
        for (slot, &(start, end)) in covered.iter_mut().zip(&asks[from..=to]) {
            let cut = usize::try_from(start - first).ok().zip(usize::try_from(end - first).ok());
            let bytes = cut.and_then(|(a, b)| part.bytes.get(a..b)).ok_or_else(other_bytes)?;
            *slot = Some(bytes.to_vec());
        }
    }
    Ok(placed)
}

#[cfg(test)]
#[path = "ranges_tests.rs"]
mod tests;
