//! Lists written as one value where one is natural: `not_contains:
//! minioadmin` reads as `not_contains: [minioadmin]`, as compose reads a
//! `command` string. A list keeps each item's own place; a single value
//! keeps its own, so every message still points at what was written.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::Name;

/// `deserialize_with` of a `Vec<Name>` field: a list, or one value.
pub(crate) fn names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Name>, D::Error> {
    let spanned = Spanned::<OneOrMany>::deserialize(deserializer)?;
    Ok(match spanned.value {
        OneOrMany::Many(names) => names,
        OneOrMany::One(value) => vec![Spanned::new(value, spanned.referenced, spanned.defined)],
    })
}

/// `deserialize_with` of a `Vec<String>` field: a list, or one value.
pub(crate) fn strings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(names(deserializer)?.into_iter().map(|n| n.value).collect())
}

/// One value, or a list of them, as written.
enum OneOrMany {
    One(String),
    Many(Vec<Name>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

struct OneOrManyVisitor;

impl<'de> Visitor<'de> for OneOrManyVisitor {
    type Value = OneOrMany;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list, e.g. `[a, b]`, or one value")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(value.to_string()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(value.to_string()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(value.to_string()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(value.to_string()))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(value.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
        let mut names = Vec::new();
        while let Some(name) = seq.next_element::<Name>()? {
            names.push(name);
        }
        Ok(OneOrMany::Many(names))
    }
}
