//! YAML as the Go tools whose files archsmoke reads load it (cst's yaml.v2, goss's yaml): with
//! anchors (`&name`), aliases (`*name`) and merge keys (`<<: *defaults`, `<<: [*a, *b]`),
//! which real configs use to share a block between tests, into `marked_yaml` nodes that keep
//! every position. `marked_yaml`'s own loader refuses anchors, so this one reads the parser's
//! events itself.
//!
//! An alias is a copy of the anchored node (its positions are the anchor's, where the value is
//! written). Copies are counted: past [`ALIAS_BUDGET`] nodes made by aliases the file is
//! refused, so a "billion laughs" file (each level aliasing the previous one ten times) fails
//! in milliseconds instead of filling memory, as Go's yaml refuses "excessive aliasing".
//!
//! Merge keys follow the YAML merge-key type: the merged mappings' entries are added where the
//! `<<` key stands, an explicit key of the mapping wins over a merged one wherever it is
//! written, and of several merged mappings the earlier wins. Tags (`!!str`, `!custom`) stay
//! refused, as `marked_yaml` refuses them.

use std::collections::HashMap;

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, MarkedSequenceNode};
use marked_yaml::{LoadError, Marker, Node, Span};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker as YamlMarker, ScanError, TScalarStyle};

/// The most nodes aliases may copy in one file: far above what sharing a block between a few
/// hundred tests needs, far below what a billion-laughs file asks for (about 20 MB of nodes).
pub const ALIAS_BUDGET: usize = 200_000;

/// How scalars and keys are read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// A key written twice in one mapping is an error (yaml.v2's strict mode), not the last
    /// one winning. Keys a merge brings in never count as written twice.
    pub duplicate_keys_error: bool,
    /// Quoted scalars are marked as not coercible (`"yes"` stays a string), as Go reads them.
    pub prevent_coercion: bool,
    /// Merge keys as gopkg.in/yaml.v2 (cst's reader) applies them to a struct: in document
    /// order, each key or merge overwriting what came before, so an explicit key written
    /// *before* `<<` loses to the merged one; of a list of merged mappings the earlier still
    /// wins. Otherwise the merge-key type's rule (yaml.v3, goss's reader): explicit keys win.
    pub merge_in_document_order: bool,
}

/// Parse `text`, whose top level must be a mapping (an empty text is an empty mapping).
pub fn parse(text: &str, options: Options) -> Result<Node, LoadError> {
    let mut parser = Parser::new_from_str(text);
    let mut loader = Loader {
        options,
        stack: Vec::new(),
        anchors: HashMap::new(),
        copied: 0,
        done: None,
    };
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| LoadError::ScanError(marker(*e.marker()), e))?;
        match event {
            Event::StreamEnd => break,
            // One document is read, as Go's Unmarshal reads the first.
            Event::DocumentEnd if loader.done.is_some() => break,
            event => loader.event(event, mark)?,
        }
    }
    Ok(loader.done.unwrap_or_else(|| {
        Node::from(MarkedMappingNode::new_empty(Span::new_start(Marker::new(
            0, 0, 1, 1,
        ))))
    }))
}

fn marker(m: YamlMarker) -> Marker {
    Marker::new(0, m.index(), m.line(), m.col() + 1)
}

/// A mapping or sequence being read.
enum Frame {
    Sequence {
        start: Marker,
        anchor: usize,
        items: Vec<Node>,
    },
    Mapping {
        start: Marker,
        anchor: usize,
        /// Each key (with whether it is a plain `<<`, a merge) and its value.
        entries: Vec<(MarkedScalarNode, bool, Node)>,
        key: Option<(MarkedScalarNode, bool)>,
    },
}

struct Loader {
    options: Options,
    stack: Vec<Frame>,
    /// Each anchor's node and its size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes copied by aliases so far.
    copied: usize,
    done: Option<Node>,
}

fn size(node: &Node) -> usize {
    match node {
        Node::Scalar(_) => 1,
        Node::Sequence(s) => 1 + s.iter().map(size).sum::<usize>(),
        Node::Mapping(m) => 1 + m.values().map(size).sum::<usize>() + m.len(),
    }
}

impl Loader {
    fn event(&mut self, event: Event, mark: YamlMarker) -> Result<(), LoadError> {
        let at = marker(mark);
        match event {
            Event::StreamStart | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => {
                Ok(())
            }
            // Only the first document counts (`parse` stops after it).
            Event::StreamEnd => Ok(()),
            Event::Alias(id) => {
                let (node, n) = self.anchors.get(&id).cloned().ok_or_else(|| {
                    LoadError::ScanError(at, ScanError::new(mark, "an alias to an unknown anchor"))
                })?;
                self.copied += n;
                if self.copied > ALIAS_BUDGET {
                    return Err(LoadError::ScanError(
                        at,
                        ScanError::new(
                            mark,
                            &format!(
                                "the document contains excessive aliasing: its aliases copy \
                                 more than {ALIAS_BUDGET} nodes"
                            ),
                        ),
                    ));
                }
                self.complete(node, 0, false, at)
            }
            Event::Scalar(value, style, anchor, tag) => {
                if tag.is_some() {
                    return Err(LoadError::UnexpectedTag(at));
                }
                let plain = matches!(style, TScalarStyle::Plain);
                let mut node = MarkedScalarNode::new(Span::new_start(at), value);
                if self.options.prevent_coercion {
                    node.set_coerce(plain);
                }
                self.complete(Node::from(node), anchor, plain, at)
            }
            Event::SequenceStart(anchor, tag) => {
                if tag.is_some() {
                    return Err(LoadError::UnexpectedTag(at));
                }
                self.open(at)?;
                self.stack.push(Frame::Sequence {
                    start: at,
                    anchor,
                    items: Vec::new(),
                });
                Ok(())
            }
            Event::MappingStart(anchor, tag) => {
                if tag.is_some() {
                    return Err(LoadError::UnexpectedTag(at));
                }
                self.open(at)?;
                self.stack.push(Frame::Mapping {
                    start: at,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Sequence {
                    start,
                    anchor,
                    items,
                }) => {
                    let span = Span::new_with_marks(start, at);
                    self.complete(
                        Node::from(MarkedSequenceNode::new(span, items)),
                        anchor,
                        false,
                        at,
                    )
                }
                _ => Err(unbalanced(at, mark)),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Mapping {
                    start,
                    anchor,
                    entries,
                    ..
                }) => {
                    let span = Span::new_with_marks(start, at);
                    let node = self.mapping(span, entries, mark)?;
                    self.complete(node, anchor, false, at)
                }
                _ => Err(unbalanced(at, mark)),
            },
        }
    }

    /// A collection starts: it may not be a key, and the top level must be a mapping.
    fn open(&self, at: Marker) -> Result<(), LoadError> {
        match self.stack.last() {
            Some(Frame::Mapping { key: None, .. }) => Err(LoadError::MappingKeyMustBeScalar(at)),
            _ => Ok(()),
        }
    }

    /// A node is complete: remember its anchor and hand it to its parent.
    fn complete(
        &mut self,
        node: Node,
        anchor: usize,
        plain: bool,
        at: Marker,
    ) -> Result<(), LoadError> {
        if anchor != 0 {
            let n = size(&node);
            self.anchors.insert(anchor, (node.clone(), n));
        }
        match self.stack.last_mut() {
            None => {
                if node.as_mapping().is_none() {
                    return Err(LoadError::TopLevelMustBeMapping(at));
                }
                self.done = Some(node);
            }
            Some(Frame::Sequence { items, .. }) => items.push(node),
            Some(Frame::Mapping { entries, key, .. }) => match key.take() {
                Some((k, merge)) => entries.push((k, merge, node)),
                None => match node {
                    Node::Scalar(s) => {
                        let merge = plain && s.as_str() == "<<";
                        *key = Some((s, merge));
                    }
                    _ => return Err(LoadError::MappingKeyMustBeScalar(at)),
                },
            },
        }
        Ok(())
    }

    /// A finished mapping, its merge keys applied.
    fn mapping(
        &self,
        span: Span,
        entries: Vec<(MarkedScalarNode, bool, Node)>,
        end: YamlMarker,
    ) -> Result<Node, LoadError> {
        let explicit: std::collections::HashSet<&str> = entries
            .iter()
            .filter(|(_, merge, _)| !merge)
            .map(|(k, _, _)| k.as_str())
            .collect();
        let in_order = self.options.merge_in_document_order;
        let mut map = MarkedMappingNode::new_empty(span);
        let mut merged = std::collections::HashSet::new();
        let mut written = std::collections::HashSet::new();
        for (key, merge, value) in &entries {
            if !merge {
                if !written.insert(key.as_str()) && self.options.duplicate_keys_error {
                    let prev = map
                        .keys()
                        .find(|k| *k == key)
                        .cloned()
                        .unwrap_or(key.clone());
                    return Err(LoadError::DuplicateKey(Box::new(
                        marked_yaml::loader::DuplicateKeyInner {
                            prev_key: prev,
                            key: key.clone(),
                        },
                    )));
                }
                map.insert(key.clone(), value.clone());
                continue;
            }
            let sources: Vec<&Node> = match value {
                Node::Mapping(_) => vec![value],
                Node::Sequence(items) => items.iter().collect(),
                Node::Scalar(_) => vec![value],
            };
            let mut maps = Vec::new();
            for source in sources {
                let Some(source) = source.as_mapping() else {
                    let at = source
                        .span()
                        .start()
                        .or(key.span().start())
                        .copied()
                        .unwrap_or_else(|| marker(end));
                    return Err(LoadError::ScanError(
                        at,
                        ScanError::new(
                            end,
                            "a merge key (`<<`) takes a mapping or a list of mappings",
                        ),
                    ));
                };
                maps.push(source);
            }
            if in_order {
                // yaml.v2 steps backwards through the list, as earlier mappings take precedence.
                for source in maps.iter().rev() {
                    for (k, v) in source.iter() {
                        map.insert(k.clone(), v.clone());
                    }
                }
                continue;
            }
            for source in maps {
                for (k, v) in source.iter() {
                    if !explicit.contains(k.as_str()) && merged.insert(k.as_str().to_owned()) {
                        map.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        Ok(Node::from(map))
    }
}

fn unbalanced(at: Marker, mark: YamlMarker) -> LoadError {
    LoadError::ScanError(at, ScanError::new(mark, "unbalanced YAML events"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Node, LoadError> {
        parse(text, Options::default())
    }

    fn get<'a>(node: &'a Node, path: &[&str]) -> &'a Node {
        path.iter().fold(node, |n, k| {
            n.as_mapping()
                .and_then(|m| m.get_node(k))
                .unwrap_or_else(|| panic!("no {k}"))
        })
    }

    fn text(node: &Node, path: &[&str]) -> String {
        get(node, path)
            .as_scalar()
            .expect("scalar")
            .as_str()
            .to_owned()
    }

    #[test]
    fn aliases_copy_the_anchored_node_with_its_positions() {
        let n = load("a: &x {k: v, l: [1, 2]}\nb: *x\nc: &s plain\nd: [*s, *s]\n").expect("yaml");
        assert_eq!(text(&n, &["b", "k"]), "v");
        assert_eq!(get(&n, &["b", "l"]).as_sequence().expect("seq").len(), 2);
        let d = get(&n, &["d"]).as_sequence().expect("seq");
        assert_eq!(d[1].as_scalar().expect("s").as_str(), "plain");
        // The copy points where the value is written.
        let at = get(&n, &["b", "k"]).span().start().expect("start");
        assert_eq!((at.line(), at.column()), (1, 11));
    }

    #[test]
    fn merge_keys_add_entries_and_explicit_keys_win_wherever_written() {
        let n = load(
            "base: &b {image: x, shell: sh, user: root}\nother: &o {user: nobody, extra: 1}\n\
             t1:\n  <<: *b\n  shell: bash\nt2:\n  shell: zsh\n  <<: [*o, *b]\n",
        )
        .expect("yaml");
        assert_eq!(text(&n, &["t1", "image"]), "x");
        assert_eq!(text(&n, &["t1", "shell"]), "bash");
        assert_eq!(text(&n, &["t2", "shell"]), "zsh");
        // Of two merged mappings the first wins.
        assert_eq!(text(&n, &["t2", "user"]), "nobody");
        assert_eq!(text(&n, &["t2", "extra"]), "1");
        assert!(
            get(&n, &["t1"])
                .as_mapping()
                .expect("map")
                .get_node("<<")
                .is_none()
        );
        // yaml.v2's order: a key written before `<<` loses to the merged one.
        let v2 = Options {
            merge_in_document_order: true,
            duplicate_keys_error: true,
            ..Options::default()
        };
        let n = parse(
            "b: &b {image: x, shell: sh}\no: &o {shell: ksh, extra: 1}\n\
             t: {shell: zsh, <<: [*o, *b], image: y}\n",
            v2,
        )
        .expect("yaml");
        assert_eq!(text(&n, &["t", "shell"]), "ksh");
        assert_eq!(text(&n, &["t", "image"]), "y");
        // A quoted "<<" is an ordinary key.
        let q = load("a: {\"<<\": {k: v}}\n").expect("yaml");
        assert_eq!(text(&get(&q, &["a", "<<"]).clone(), &["k"]), "v");
    }

    #[test]
    fn a_billion_laughs_is_refused_quickly() {
        let mut doc = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = format!("*l{}", i - 1);
            let refs = [p.as_str(); 10].join(", ");
            doc.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
        }
        let start = std::time::Instant::now();
        let e = load(&doc).expect_err("billion laughs");
        assert!(e.to_string().contains("excessive aliasing"), "{e}");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn errors_keep_their_kinds_and_positions() {
        assert!(matches!(
            load("- a\n"),
            Err(LoadError::TopLevelMustBeMapping(_))
        ));
        assert!(matches!(
            load("a: !!str x\n"),
            Err(LoadError::UnexpectedTag(_))
        ));
        assert!(matches!(
            load("? [a]\n: b\n"),
            Err(LoadError::MappingKeyMustBeScalar(_))
        ));
        assert!(load("a: *nope\n").is_err());
        assert!(load("a: {<<: [x]}\n").is_err());
        let strict = Options {
            duplicate_keys_error: true,
            ..Options::default()
        };
        assert!(matches!(
            parse("a: 1\na: 2\n", strict),
            Err(LoadError::DuplicateKey(_))
        ));
        // A merged key is never a duplicate.
        assert!(parse("b: &b {a: 1}\nc: {<<: *b, a: 2}\n", strict).is_ok());
        assert!(
            load("")
                .expect("empty")
                .as_mapping()
                .expect("map")
                .is_empty()
        );
        // Quoted scalars are marked, when asked.
        let n = parse(
            "a: 'yes'\nb: yes\n",
            Options {
                prevent_coercion: true,
                ..Options::default()
            },
        )
        .expect("yaml");
        assert!(!get(&n, &["a"]).as_scalar().expect("s").may_coerce());
        assert!(get(&n, &["b"]).as_scalar().expect("s").may_coerce());
    }
}
