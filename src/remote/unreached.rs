//! Requests that got no usable reply, in sentences shared by every client: the CLI's (which can tell a
//! missing host from a refused connection, a stall or a reset) and the browser's (which sees only that no
//! answer came, and whether it is offline). The hub is named as the hub, a file by its host and name.

use crate::error::Error;

/// What a request was for, as a failure names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked<'a> {
    /// A file's bytes: named by its host and its name.
    File { url: &'a str, name: &'a str },
    /// A document of the hub (a model's file list, a shard index): named as the hub at its address.
    Hub { url: &'a str },
}

impl Asked<'_> {
    /// Who could not be reached: "huggingface.co for model.safetensors", "the hub at https://huggingface.co".
    fn place(&self) -> String {
        match *self {
            Asked::File { url, name } if name != url && name != host(url) => format!("{} for {name}", host(url)),
            Asked::File { url, .. } => host(url).to_string(),
            Asked::Hub { url } => format!("the hub at {}", origin(url)),
        }
    }

    fn url(&self) -> &str {
        match *self {
            Asked::File { url, .. } | Asked::Hub { url } => url,
        }
    }

    /// What was being read, for a failure after the connection was made.
    fn what(&self) -> &str {
        match *self {
            Asked::File { name, .. } => name,
            Asked::Hub { .. } => "the hub's answer",
        }
    }
}

/// Why no connection could be made, as far as the client can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreached {
    /// The host's name did not resolve (mistyped, or no network to ask).
    UnknownHost,
    /// The host answered that nothing listens at that port.
    Refused,
    /// No route to the host: the network is down or blocks it.
    NoRoute,
    /// The host did not accept a connection within this many seconds.
    ConnectTimeout(u64),
    /// A secure connection failed: the reason, a clause (`it does not answer https there`).
    Tls(String),
    /// The browser is offline (`navigator.onLine` is false).
    Offline,
    /// A browser's request that got no answer: it cannot tell a wrong name, a refusal or a lost network apart.
    NoAnswer,
    /// Any other reason the connection failed, as the client words it.
    Other(String),
}

/// A request that made no connection, in one sentence: `Could not reach {place}: {why}; {what to do}.`
/// `Error::Network` (trying again may work) but for TLS, which will fail the same way again.
pub fn unreached(asked: Asked, why: &Unreached) -> Error {
    let place = asked.place();
    let text = |why: &str, advice: &str| format!("Could not reach {place}: {why}; {advice}.");
    match why {
        Unreached::UnknownHost => Error::Network(text(
            &format!(
                "no host is named {} (a mistyped address, or no network to look the name up)",
                hostname(asked.url())
            ),
            "check the address and the network",
        )),
        Unreached::Refused => Error::Network(text(
            "it refused the connection (nothing listens at that port)",
            "check the address and that the server is running",
        )),
        Unreached::NoRoute => {
            Error::Network(text("there is no route to it (the network is down or blocks it)", "check the network"))
        }
        Unreached::ConnectTimeout(seconds) => Error::Network(text(
            &format!("it did not accept a connection within {seconds} s"),
            "check the address and the network, then try again",
        )),
        Unreached::Tls(why) => Error::Read(format!("Could not reach {place}: {why}.")),
        Unreached::Offline => Error::Network(text("this browser is offline", "connect to a network and try again")),
        Unreached::NoAnswer => Error::Network(text(
            "no answer came (a mistyped address, a server that is down, or no network)",
            "check the address and try again",
        )),
        Unreached::Other(why) => Error::Network(text(why, "check the address and the network")),
    }
}

/// How a connection that was made failed before the reply was read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broke {
    /// Nothing came for this many seconds.
    Stalled(u64),
    /// The server reset the connection.
    Reset,
    /// The server closed the connection before the whole reply.
    Closed,
    /// Anything else, as the client words it (or nothing, for a browser, which is told nothing).
    Other(Option<String>),
}

/// A connection that failed mid-reply, in one sentence. `Error::Network`: trying again may work.
pub fn broke(asked: Asked, how: &Broke) -> Error {
    let (host, what) = (host(asked.url()), asked.what());
    Error::Network(match how {
        Broke::Stalled(seconds) => {
            format!("{host} sent nothing for {seconds} s while {what} was being read; try again.")
        }
        Broke::Reset => format!("{host} reset the connection while {what} was being read; try again."),
        Broke::Closed => format!("{host} closed the connection before {what} was read in full; try again."),
        Broke::Other(Some(detail)) => {
            format!("The connection to {host} broke while {what} was being read ({detail}); try again.")
        }
        Broke::Other(None) => format!("The connection to {host} broke while {what} was being read; try again."),
    })
}

/// The sentence for a browser's request for a file that got no readable reply. `refused`: the server answers
/// but does not let other sites read its files (a browser learns this by asking again without reading the
/// answer, `no-cors`) — not worth retrying.
pub fn no_reply(url: &str, name: &str, refused: bool, offline: bool) -> Error {
    if refused {
        return Error::Read(format!(
            "The server of {name} does not let other sites read its files, so this page cannot; download the file and drop it here."
        ));
    }
    unreached(Asked::File { url, name }, if offline { &Unreached::Offline } else { &Unreached::NoAnswer })
}

/// The host (and port) of a URL, for sentences.
pub fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    // Credentials in the address are not for sentences.
    authority.rsplit_once('@').map_or(authority, |(_, host)| host)
}

/// The host of a URL without its port.
fn hostname(url: &str) -> &str {
    let host = host(url);
    if let Some(end) = host.starts_with('[').then(|| host.find(']')).flatten() {
        return &host[..=end]; // an IPv6 address, `[::1]:8080`
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The scheme and host of a URL: how the hub is named.
fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://{}", host(url)),
        None => host(url).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: Asked = Asked::File { url: "http://127.0.0.1:9/files/model.bin?x=1", name: "model.bin" };

    #[test]
    fn hosts_and_origins_are_named_in_sentences() {
        assert_eq!(host("https://huggingface.co/a/b/resolve/main/x"), "huggingface.co");
        assert_eq!(host("http://127.0.0.1:9/files/x?delay=5"), "127.0.0.1:9");
        assert_eq!(host("https://user:secret@example.com/x"), "example.com");
        assert_eq!(hostname("http://127.0.0.1:9/x"), "127.0.0.1");
        assert_eq!(hostname("http://[::1]:8080/x"), "[::1]");
        assert_eq!(hostname("https://nonexistent.invalid/x"), "nonexistent.invalid");
        assert_eq!(origin("https://huggingface.co/api/models/a/b?blobs=true"), "https://huggingface.co");
    }

    #[test]
    fn each_failure_is_one_sentence_naming_the_file_or_the_hub() {
        let hub = Asked::Hub { url: "https://nonexistent.invalid/api/models/org/m?blobs=true" };
        assert_eq!(
            unreached(hub, &Unreached::UnknownHost),
            Error::Network("Could not reach the hub at https://nonexistent.invalid: no host is named nonexistent.invalid (a mistyped address, or no network to look the name up); check the address and the network.".into())
        );
        assert_eq!(
            unreached(FILE, &Unreached::Refused).to_string(),
            "Could not reach 127.0.0.1:9 for model.bin: it refused the connection (nothing listens at that port); check the address and that the server is running."
        );
        assert!(matches!(unreached(FILE, &Unreached::Tls("it does not answer https there".into())), Error::Read(_)));
        assert_eq!(
            broke(FILE, &Broke::Stalled(30)).to_string(),
            "127.0.0.1:9 sent nothing for 30 s while model.bin was being read; try again."
        );
        let refused = no_reply("https://cdn.test/w/model.bin", "model.bin", true, false);
        assert!(matches!(refused, Error::Read(_)), "a refusal is not worth retrying");
        assert_eq!(
            no_reply("https://cdn.test/w/model.bin", "model.bin", false, true).to_string(),
            "Could not reach cdn.test for model.bin: this browser is offline; connect to a network and try again."
        );
        for why in [
            Unreached::UnknownHost,
            Unreached::Refused,
            Unreached::NoRoute,
            Unreached::ConnectTimeout(10),
            Unreached::Offline,
            Unreached::NoAnswer,
            Unreached::Other("the connection failed".into()),
        ] {
            for asked in [FILE, hub] {
                let text = unreached(asked, &why).to_string();
                assert!(text.starts_with("Could not reach ") && text.ends_with('.'), "{text}");
                assert_eq!(text.matches(". ").count(), 0, "one sentence: {text}");
            }
        }
    }
}
