//! Every way opening or drawing a checkpoint can fail, as one enum.
//! Each variant's message is one plain sentence a user can act on; the page shows it as is.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The source could not deliver the bytes asked for (I/O failure, or a read past the end).
    Read(String),
    /// The file ended before a structure that it promises.
    Truncated(String),
    /// The bytes are not a format patchlens reads.
    UnknownFormat(String),
    /// The file claims to be a known format but a structure inside it is inconsistent.
    Malformed(String),
    /// A well-formed feature that patchlens does not read (yet).
    Unsupported(String),
    /// A tensor or allocation larger than the limits written in `limits`.
    TooLarge(String),
    /// The user asked for a tensor that is not in the file.
    NoSuchTensor(String),
    /// The tensor exists but cannot be drawn as filters.
    NotDrawable(String),
    /// Render options out of range.
    InvalidOption(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::Read(s)
            | Error::Truncated(s)
            | Error::UnknownFormat(s)
            | Error::Malformed(s)
            | Error::Unsupported(s)
            | Error::TooLarge(s)
            | Error::NoSuchTensor(s)
            | Error::NotDrawable(s)
            | Error::InvalidOption(s) => s,
        };
        f.write_str(text)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for the common "the file says X but Y" case.
pub(crate) fn malformed(message: impl Into<String>) -> Error {
    Error::Malformed(message.into())
}
