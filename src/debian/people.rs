//! The people of a source package: its `Maintainer` and `Uploaders`
//! fields (`Name <address>`, comma-separated for Uploaders), read into
//! names and addresses. The address, lower-cased, is what identifies a
//! maintainer (the maintainer pages and their index key on it).

use serde::{Deserialize, Serialize};

/// One person of a `Maintainer` or `Uploaders` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// The name as written (may be empty).
    pub name: String,
    /// The address, lower-cased.
    pub address: String,
}

/// The people of a `Maintainer` or `Uploaders` field. A comma inside a
/// quoted name or inside `<...>` does not split; an entry without an
/// address (`<...>`) is left out: it cannot be looked up.
pub fn people(field: &str) -> Vec<Person> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    let mut entries = Vec::new();
    for (i, c) in field.char_indices() {
        match c {
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                entries.push(&field[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    entries.push(&field[start..]);
    for e in entries {
        let e = e.trim();
        let (Some(open), Some(close)) = (e.rfind('<'), e.rfind('>')) else {
            continue;
        };
        if close < open {
            continue;
        }
        let address = e[open + 1..close].trim().to_ascii_lowercase();
        if address.is_empty() || address.contains(char::is_whitespace) {
            continue;
        }
        let name = e[..open].trim().trim_matches('"').trim().to_string();
        out.push(Person { name, address });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses() {
        let p = people(
            "Jane Doe <Jane@Example.org>, \"Smith, John\" <john@example.org>, nobody, <bare@example.org>",
        );
        assert_eq!(
            p,
            vec![
                Person {
                    name: "Jane Doe".into(),
                    address: "jane@example.org".into()
                },
                Person {
                    name: "Smith, John".into(),
                    address: "john@example.org".into()
                },
                Person {
                    name: String::new(),
                    address: "bare@example.org".into()
                },
            ]
        );
        assert!(people("").is_empty());
        assert!(people("<>").is_empty());
        assert!(people("a > b <").is_empty());
    }
}
