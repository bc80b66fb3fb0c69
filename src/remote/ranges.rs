//! Many ranges in one request (RFC 9110 §14.2, answered `206 multipart/byteranges`, §14.6): an `.npz`
//! listing needs a few hundred headers scattered over the file, one round trip each when asked one by one.
//! nginx and Apache answer such requests with parts; object stores (S3, GCS, Azure) answer them with the
//! whole file, which a browser's synchronous request could not stop. So a HEAD with the same ranges asks
//! first — no body either way — and a server that does not answer it with parts is asked one range per
//! request, those requests sent together (`Transport::get_each`: the CLI's threads; in a browser, the
//! worker's concurrent fetches of `asked_alone`'s ranges, handed to its transport first). Replies are parsed strictly (`multipart`) and held to the ranges asked: a broken one is
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
/// answers them, else as single ranges sent together ([`Transport::get_each`]).
pub(super) fn read_ranges<T: Transport>(source: &RemoteSource<T>, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
    let (results, wanted) = split_held(source, ranges);
    if !ascending(&wanted) {
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
    // What no multi-range reply brought: single ranges, sent together, each read as `read_at` reads.
    let alone: Vec<usize> = (0..asks.len()).filter(|&i| fetched[i].is_none()).collect();
    let each: Vec<(u64, u64)> = alone.iter().map(|&i| asks[i]).collect();
    for (i, bytes) in alone.into_iter().zip(read_each(source, &each)) {
        fetched[i] = Some(bytes);
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

/// What [`read_ranges`] will ask for one range per request (see `RemoteSource::ranges_asked_alone`): the same
/// steps up to its requests — the kept replies, the merging, the HEAD of the first multi-range batch — and
/// then, from a server that does not answer them with parts, each merged range's part no kept reply holds.
pub(super) fn asked_alone<T: Transport>(source: &RemoteSource<T>, ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let (_, wanted) = split_held(source, ranges);
    if !ascending(&wanted) {
        return Vec::new();
    }
    let asks = merged(wanted);
    if source.multi_range.get() == Support::Unknown {
        if let Some(batch) = batches(&asks).into_iter().find(|batch| batch.len() >= 2) {
            probe_support(source, &ranges_header(&asks[batch]));
        }
    }
    if source.multi_range.get() != Support::None {
        return Vec::new();
    }
    asks.iter().filter_map(|&(start, end)| unheld(source, start, end).map(|(first, end)| (first, end - 1))).collect()
}

/// Each range checked against the file, and its bytes where a kept reply holds them all (`None` where it
/// does not); and the ranges still to ask for, in the order given.
#[allow(clippy::type_complexity)]
fn split_held<T: Transport>(
    source: &RemoteSource<T>,
    ranges: &[(u64, u64)],
) -> (Vec<Option<Result<Vec<u8>>>>, Vec<(u64, u64)>) {
    let mut results = Vec::with_capacity(ranges.len());
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
    (results, wanted)
}

fn ascending(ranges: &[(u64, u64)]) -> bool {
    ranges.windows(2).all(|w| w[0].0 <= w[1].0)
}

/// The part `start..end` of a read that a request must bring, as `read_at` asks for it: all of it but the
/// start a kept reply holds; `None` when a kept reply holds it all (or it is not a range of the file).
fn unheld<T: Transport>(source: &RemoteSource<T>, start: u64, end: u64) -> Option<(u64, u64)> {
    let len = range_len(start, end).ok()?;
    check_range(start, len, source.size).ok()?;
    let mut buf = vec![0; len];
    let held = source.kept_prefix(start, &mut buf);
    (held < len).then_some((start + held as u64, end))
}

/// The ranges (start, end), each read as `read_at` reads it — kept replies first, a request for the rest,
/// checked, counted and kept — with the requests sent together through [`Transport::get_each`].
fn read_each<T: Transport>(source: &RemoteSource<T>, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
    let mut results: Vec<Option<Result<Vec<u8>>>> = Vec::with_capacity(ranges.len());
    let mut pending = Vec::new(); // (index, offset, buffer, bytes held)
    let mut asks = Vec::new();
    for (i, &(start, end)) in ranges.iter().enumerate() {
        let checked = range_len(start, end).and_then(|len| check_range(start, len, source.size).map(|_| len));
        match checked {
            Err(e) => results.push(Some(Err(e))),
            Ok(len) => {
                let mut buf = vec![0; len];
                let held = source.kept_prefix(start, &mut buf);
                if held == len {
                    results.push(Some(Ok(buf)));
                } else {
                    results.push(None);
                    asks.push((start + held as u64, end - 1));
                    pending.push((i, start, buf, held));
                }
            }
        }
    }
    let replies = if asks.is_empty() { Vec::new() } else { source.transport.get_each(&asks) };
    let mut replies = replies.into_iter();
    for (i, offset, mut buf, held) in pending {
        let reply = replies.next().unwrap_or_else(|| Err(lost()));
        let read = source.take_reply(offset, &mut buf, held, reply).map(|()| buf);
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(read);
        }
    }
    results.into_iter().map(|r| r.unwrap_or_else(|| Err(lost()))).collect()
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
    let header = ranges_header(asks);
    if source.multi_range.get() == Support::Unknown {
        probe_support(source, &header);
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

/// `Range: bytes=a-b,c-d,…` for the asks.
fn ranges_header(asks: &[(u64, u64)]) -> String {
    format!("bytes={}", asks.iter().map(spec).collect::<Vec<_>>().join(","))
}

/// Asks with a HEAD of `header`'s ranges whether the server answers them with parts, and remembers it: only a
/// HEAD answered 206 multipart/byteranges makes the multi-range GET safe to send.
fn probe_support<T: Transport>(source: &RemoteSource<T>, header: &str) {
    let head = source.transport.get_ranges(header, None);
    if let Ok(Some(reply)) = &head {
        source.stats.record(0);
        let parts =
            reply.status == 206 && matches!(reply.content_type.as_deref().and_then(multipart::boundary), Some(Ok(_)));
        source.multi_range.set(if parts { Support::Parts } else { Support::None });
    } else {
        source.multi_range.set(Support::None);
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
