//! What cst's YAML reader (gopkg.in/yaml.v2, a YAML 1.1 reader) makes of a config, where the
//! YAML 1.2 loader archsmoke uses reads it otherwise: the 1.1 booleans (`yes`, `on`, `n`, ...)
//! of boolean fields, and a null (`~`, `null`, nothing) in a list of strings, which Go decodes
//! as an empty string. Both rewrite the loaded nodes before they become [`super::raw`] types,
//! so every position stays the user's.

use marked_yaml::types::MarkedScalarNode;
use marked_yaml::{Marker, Node};

/// cst's boolean fields (`shouldExist`, `isRegex`, `debian`, `privileged`, `allocateTty`).
const BOOL_KEYS: [&str; 5] = [
    "shouldExist",
    "isRegex",
    "debian",
    "privileged",
    "allocateTty",
];

/// yaml.v2's booleans: YAML 1.1's words, in the three spellings it accepts.
fn yaml11_bool(word: &str) -> Option<bool> {
    match word {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            Some(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            Some(false)
        }
        _ => None,
    }
}

/// A plain (unquoted) null scalar: `~`, `null` in its three spellings, or nothing at all.
fn is_null(s: &MarkedScalarNode) -> bool {
    s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
}

/// Rewrite `node` in place as yaml.v2 would have read it.
pub fn as_yaml11(node: &mut Node) {
    match node {
        Node::Scalar(_) => {}
        Node::Sequence(seq) => {
            for item in seq.iter_mut() {
                match item {
                    // Go decodes a null list item into a string as "": `args: [~]` passes an
                    // empty argument. A quoted "~" is not null and stays.
                    Node::Scalar(s) if is_null(s) => {
                        let mut empty = MarkedScalarNode::new(*s.span(), "");
                        empty.set_coerce(false);
                        *s = empty;
                    }
                    other => as_yaml11(other),
                }
            }
        }
        Node::Mapping(map) => {
            for (key, value) in map.iter_mut() {
                if let Node::Scalar(s) = value
                    && BOOL_KEYS.contains(&key.as_str())
                    && s.may_coerce()
                    && let Some(b) = yaml11_bool(s.as_str())
                {
                    *s = MarkedScalarNode::new(*s.span(), if b { "true" } else { "false" });
                    continue;
                }
                as_yaml11(value);
            }
        }
    }
}

/// Remove the first entry (in document order) named `field` from a mapping that `field` is
/// unknown to: one holding a key of `expected` (the fields of the type it is read as), or
/// nothing else. Where the removed key was, if one was.
pub fn remove_unknown(node: &mut Node, field: &str, expected: &[&str]) -> Option<Marker> {
    match node {
        Node::Scalar(_) => None,
        Node::Sequence(seq) => seq
            .iter_mut()
            .find_map(|item| remove_unknown(item, field, expected)),
        Node::Mapping(map) => {
            let here = map.keys().any(|k| k.as_str() == field)
                && (map.len() == 1 || map.keys().any(|k| expected.contains(&k.as_str())));
            if here {
                let key = map.keys().find(|k| k.as_str() == field).cloned()?;
                let at = key.span().start().copied();
                map.remove(&key);
                return at.or_else(|| Some(Marker::new(0, 0, 0, 0)));
            }
            map.values_mut()
                .find_map(|v| remove_unknown(v, field, expected))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Node {
        let options = marked_yaml::LoaderOptions::default().prevent_coercion(true);
        let mut node = marked_yaml::parse_yaml_with_options(0, text, options).expect("yaml");
        as_yaml11(&mut node);
        node
    }

    #[test]
    fn yaml11_booleans_only_in_boolean_fields() {
        let node = load("a:\n  shouldExist: yes\n  isRegex: Off\n  name: yes\n  debian: 'on'\n");
        let a = node
            .as_mapping()
            .and_then(|m| m.get_mapping("a"))
            .expect("a");
        let get = |k: &str| a.get_scalar(k).expect(k).as_str().to_owned();
        assert_eq!(get("shouldExist"), "true");
        assert_eq!(get("isRegex"), "false");
        // A string field keeps the word; a quoted value is no boolean to yaml.v2 either.
        assert_eq!(get("name"), "yes");
        assert_eq!(get("debian"), "on");
    }

    #[test]
    fn a_null_list_item_is_an_empty_string() {
        let node = load("args: [~, null, \"~\", x]\n");
        let args = node
            .as_mapping()
            .and_then(|m| m.get_sequence("args"))
            .expect("args");
        let items: Vec<&str> = args
            .iter()
            .map(|n| n.as_scalar().expect("scalar").as_str())
            .collect();
        assert_eq!(items, ["", "", "~", "x"]);
        assert!(!args[0].as_scalar().expect("scalar").may_coerce());
    }
}
