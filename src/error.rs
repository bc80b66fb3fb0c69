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
    /// A server could not be reached or stopped answering mid-read: trying again may work.
    Network(String),
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
            | Error::InvalidOption(s)
            | Error::Network(s) => s,
        };
        f.write_str(text)
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The same kind of error, its sentence prefixed with where it happened: "In shard b.safetensors: …".
    pub fn within(self, place: &str) -> Error {
        let text = format!("In {place}: {self}");
        self.reworded(text)
    }

    /// The same kind of error, said in `text` (which usually quotes the old sentence).
    pub fn reworded(self, text: String) -> Error {
        match self {
            Error::Read(_) => Error::Read(text),
            Error::Truncated(_) => Error::Truncated(text),
            Error::UnknownFormat(_) => Error::UnknownFormat(text),
            Error::Malformed(_) => Error::Malformed(text),
            Error::Unsupported(_) => Error::Unsupported(text),
            Error::TooLarge(_) => Error::TooLarge(text),
            Error::NoSuchTensor(_) => Error::NoSuchTensor(text),
            Error::NotDrawable(_) => Error::NotDrawable(text),
            Error::InvalidOption(_) => Error::InvalidOption(text),
            Error::Network(_) => Error::Network(text),
        }
    }
}

/// A container asked for a tensor index it does not have.
pub(crate) fn no_such_index(index: usize) -> Error {
    Error::NoSuchTensor(format!("There is no tensor number {index} in this file."))
}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for the common "the file says X but Y" case.
pub(crate) fn malformed(message: impl Into<String>) -> Error {
    Error::Malformed(message.into())
}
