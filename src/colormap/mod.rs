//! matplotlib's colour maps for the analysis views: the 256-entry `viridis` and `inferno` tables (committed,
//! generated from the pinned matplotlib by tests/reference/make_colormaps.py) and the exact rule by which
//! `Normalize` and `Colormap.__call__(x, bytes=True)` turn a float into one of their entries.

mod tables;

/// Entries in each table: matplotlib's `Colormap.N` for its listed maps.
pub const LUT_SIZE: usize = 256;

/// matplotlib's default colour for bad (NaN) values: transparent black.
pub const BAD_RGBA: [u8; 4] = [0, 0, 0, 0];

/// A colour map, by matplotlib's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colormap {
    /// Perceptually uniform blue–green–yellow; the ViT paper's position-similarity figure.
    Viridis,
    /// Black–red–yellow; the probing-vits notebook's Gram-matrix figure.
    Inferno,
}

impl Colormap {
    /// matplotlib's name: `matplotlib.colormaps[name]`.
    pub fn name(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Inferno => "inferno",
        }
    }

    /// The 256 entries as matplotlib's `bytes=True` gives them (RGB; alpha is 255).
    pub fn lut(self) -> &'static [[u8; 3]; LUT_SIZE] {
        match self {
            Colormap::Viridis => &tables::VIRIDIS,
            Colormap::Inferno => &tables::INFERNO,
        }
    }

    /// The RGBA colour matplotlib draws for a lookup: under and over take the end colours (no
    /// `under`/`over` colour is set), bad is transparent.
    pub fn rgba(self, lookup: Lookup) -> [u8; 4] {
        match lookup.entry() {
            Some(i) => {
                let [r, g, b] = self.lut()[usize::from(i)];
                [r, g, b, 255]
            }
            None => BAD_RGBA,
        }
    }
}

/// Which entry `Colormap.__call__` takes for a float: an index, or one of its three special slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Entry(u8),
    /// Below 0 after normalising; drawn in entry 0's colour.
    Under,
    /// 1 or more after normalising, beyond rounding to the last entry; drawn in entry 255's colour.
    Over,
    /// NaN; drawn transparent.
    Bad,
}

impl Lookup {
    /// The table entry whose colour is drawn, `None` for bad values.
    pub fn entry(self) -> Option<u8> {
        match self {
            Lookup::Entry(i) => Some(i),
            Lookup::Under => Some(0),
            Lookup::Over => Some((LUT_SIZE - 1) as u8),
            Lookup::Bad => None,
        }
    }
}

/// matplotlib's `Colormap.__call__` on a float (already normalised to [0, 1]): `xa *= N`, `xa == N`
/// becomes `N - 1`, then below 0 is under, `N` or more is over, NaN is bad, the rest truncates to an int.
pub fn lookup(x: f64) -> Lookup {
    const N: f64 = LUT_SIZE as f64;
    let scaled = x * N;
    let scaled = if scaled == N { N - 1.0 } else { scaled };
    if scaled.is_nan() {
        Lookup::Bad
    } else if scaled < 0.0 {
        Lookup::Under
    } else if scaled >= N {
        Lookup::Over
    } else {
        // 0 <= scaled < 256, so the truncating cast is in range.
        Lookup::Entry(scaled as u8)
    }
}

/// matplotlib's `Normalize(vmin, vmax)` (no clipping): `(v - vmin) / (vmax - vmin)`, in f64 as numpy
/// does for f64 data; when `vmin == vmax` every value, NaN included, becomes 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    pub vmin: f64,
    pub vmax: f64,
}

impl Normalize {
    pub fn apply(&self, value: f64) -> f64 {
        if self.vmin == self.vmax {
            0.0
        } else {
            (value - self.vmin) / (self.vmax - self.vmin)
        }
    }

    /// The entry a value takes once normalised: `cmap(norm(value), bytes=True)`'s choice.
    pub fn lookup(&self, value: f64) -> Lookup {
        lookup(self.apply(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_matplotlibs_index_rule() {
        assert_eq!(lookup(0.0), Lookup::Entry(0));
        assert_eq!(lookup(1.0 / 256.0), Lookup::Entry(1));
        assert_eq!(lookup(1.0 / 256.0 - 1e-12), Lookup::Entry(0));
        assert_eq!(lookup(0.5), Lookup::Entry(128));
        // Exactly 1 is the last entry, not over; anything above is over.
        assert_eq!(lookup(1.0), Lookup::Entry(255));
        assert_eq!(lookup(1.0 + f64::EPSILON), Lookup::Over);
        assert_eq!(lookup(-1e-300), Lookup::Under);
        assert_eq!(lookup(-0.0), Lookup::Entry(0));
        assert_eq!(lookup(f64::NAN), Lookup::Bad);
        assert_eq!(lookup(f64::INFINITY), Lookup::Over);
        assert_eq!(lookup(f64::NEG_INFINITY), Lookup::Under);
    }

    #[test]
    fn under_and_over_take_the_end_colours_and_bad_is_transparent() {
        for map in [Colormap::Viridis, Colormap::Inferno] {
            let lut = map.lut();
            assert_eq!(map.rgba(Lookup::Under)[..3], lut[0]);
            assert_eq!(map.rgba(Lookup::Over)[..3], lut[255]);
            assert_eq!(map.rgba(Lookup::Entry(7)), [lut[7][0], lut[7][1], lut[7][2], 255]);
            assert_eq!(map.rgba(Lookup::Bad), BAD_RGBA);
        }
        // matplotlib 3.11.2: viridis(0) = (68, 1, 84), inferno(255) = (252, 254, 164).
        assert_eq!(Colormap::Viridis.lut()[0], [68, 1, 84]);
        assert_eq!(Colormap::Inferno.lut()[255], [252, 254, 164]);
    }

    #[test]
    fn normalize_maps_the_range_and_a_constant_to_zero() {
        let cosine = Normalize { vmin: -1.0, vmax: 1.0 };
        assert_eq!(cosine.apply(-1.0), 0.0);
        assert_eq!(cosine.apply(0.0), 0.5);
        assert_eq!(cosine.lookup(1.0), Lookup::Entry(255));
        let constant = Normalize { vmin: 3.0, vmax: 3.0 };
        assert_eq!(constant.apply(3.0), 0.0);
        assert_eq!(constant.lookup(f64::NAN), Lookup::Entry(0));
    }
}
