//! A clock for step timings, installed by whoever has one: the core has no clock of its own (wasm32 in a browser
//! has no `std::time`), so the web binding installs `performance.now` and the CLI `Instant`. Without one every
//! time reads 0 and costs nothing. The steps are what the benchmark reports of each draw.

use std::cell::Cell;

thread_local! {
    static CLOCK: Cell<Option<fn() -> f64>> = const { Cell::new(None) };
}

/// Installs the clock (milliseconds from any fixed start).
pub fn set_clock(now: fn() -> f64) {
    CLOCK.with(|clock| clock.set(Some(now)));
}

/// Milliseconds on the installed clock, or 0 without one.
pub fn now() -> f64 {
    CLOCK.with(|clock| clock.get().map_or(0.0, |now| now()))
}

/// Where one draw's time went, in milliseconds: finding, reading and decoding the tensor (`read` includes the
/// source's reads), making the tiles (scaling, ordering), laying out the grid, and the drawn filters' statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Steps {
    pub read: f64,
    pub scale: f64,
    pub grid: f64,
    pub stats: f64,
}
