//! The part of goss's Go templates (`docs/gossfile.md`, "Templates") that real goss files use,
//! rendered before the YAML is read: `{{ .Vars.a.b }}` (from `--vars`/`GOSS_VARS` or
//! `GOSS_VARS_INLINE`), `{{ .Env.NAME }}`, `{{ getEnv "NAME" }}` and `{{ getEnv "NAME"
//! "default" }}`, comments `{{/* ... */}}`, and the `{{-`/`-}}` whitespace trimming. Anything
//! else (`range`, `if`, pipelines, other functions) is an error at its line and column rather
//! than text passed through, because goss would render it into something else.
//!
//! A missing variable renders as Go's `text/template` renders a missing map key:
//! `<no value>`; a missing environment variable as an empty string, as goss's `.Env` map does.

use std::collections::BTreeMap;

use marked_yaml::Node;

/// What a template may read.
#[derive(Debug, Default, Clone)]
pub struct Context {
    /// The variables file, as YAML (JSON is YAML too).
    pub vars: Option<Node>,
    pub env: BTreeMap<String, String>,
}

/// A template action that cannot be rendered, with its 1-based line and column.
#[derive(Debug, PartialEq, Eq)]
pub struct TemplateError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Render `text`, or the first action that cannot be rendered.
pub fn render(text: &str, ctx: &Context) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        let (before, after) = rest.split_at(start);
        let Some(end) = after.find("}}") else {
            return Err(error_at(text, offset + start, "an unclosed `{{`"));
        };
        let mut action = &after[2..end];
        let mut before = before.to_owned();
        if let Some(a) = action.strip_prefix('-') {
            action = a;
            before.truncate(before.trim_end().len());
        }
        let trim_after = action.ends_with('-') && action.len() > 1;
        if trim_after {
            action = &action[..action.len() - 1];
        }
        out.push_str(&before);
        out.push_str(
            &evaluate(action.trim(), ctx).map_err(|m| error_at(text, offset + start, &m))?,
        );
        let consumed = start + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
        if trim_after {
            let trimmed = rest.trim_start();
            offset += rest.len() - trimmed.len();
            rest = trimmed;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn error_at(text: &str, byte: usize, message: &str) -> TemplateError {
    let upto = &text[..byte];
    let line = upto.matches('\n').count() + 1;
    let column = upto.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    TemplateError {
        line,
        column,
        message: message.to_owned(),
    }
}

fn evaluate(action: &str, ctx: &Context) -> Result<String, String> {
    if action.starts_with("/*") && action.ends_with("*/") {
        return Ok(String::new());
    }
    if let Some(name) = action.strip_prefix(".Env.") {
        return Ok(ctx.env.get(name).cloned().unwrap_or_default());
    }
    if let Some(path) = action.strip_prefix(".Vars.") {
        return vars(ctx.vars.as_ref(), path);
    }
    if let Some(args) = action.strip_prefix("getEnv ") {
        let args = quoted_args(args)
            .ok_or_else(|| format!("`{{{{ {action} }}}}`: getEnv takes quoted arguments"))?;
        return match args.as_slice() {
            [name] => Ok(ctx.env.get(name).cloned().unwrap_or_default()),
            [name, default] => Ok(ctx
                .env
                .get(name)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| default.clone())),
            _ => Err(format!(
                "`{{{{ {action} }}}}`: getEnv takes a name and an optional default"
            )),
        };
    }
    Err(format!(
        "the template action `{{{{ {action} }}}}` is not supported",
    ))
}

/// `"a" "b"` into its strings (Go's double-quoted literals, the escapes goss files use).
fn quoted_args(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => continue,
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => s.push(match chars.next()? {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        }),
                        other => s.push(other),
                    }
                }
                out.push(s);
            }
            _ => return None,
        }
    }
    Some(out)
}

fn vars(root: Option<&Node>, path: &str) -> Result<String, String> {
    let mut node = match root {
        Some(n) => n,
        None => return Ok("<no value>".into()),
    };
    for part in path.split('.') {
        match node.as_mapping().and_then(|m| m.get_node(part)) {
            Some(n) => node = n,
            None => return Ok("<no value>".into()),
        }
    }
    match node {
        Node::Scalar(s) => Ok(s.as_str().to_owned()),
        _ => Err(format!(
            "`.Vars.{path}` is a list or a mapping; archsmoke renders only plain values \
             (`range` is not supported)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            vars: Some(
                marked_yaml::parse_yaml(0, "port: 8080\nweb:\n  root: /www\nlist: [a]\n")
                    .expect("vars"),
            ),
            env: [("HOME".to_owned(), "/root".to_owned())].into(),
        }
    }

    #[test]
    fn vars_env_get_env_comments_and_trimming() {
        let text = "port:\n  tcp:{{ .Vars.port }}:\n    listening: true\n\
                    # {{/* a comment */}}{{ .Env.HOME }} {{ .Env.NOPE }}|\n\
                    {{ getEnv \"NOPE\" \"dflt\" }} {{ getEnv \"HOME\" }} {{ .Vars.web.root }}\n\
                    a   {{- .Vars.port -}}   b {{ .Vars.missing }}";
        assert_eq!(
            render(text, &ctx()).expect("render"),
            "port:\n  tcp:8080:\n    listening: true\n# /root |\ndflt /root /www\na8080b <no value>"
        );
    }

    #[test]
    fn what_is_not_supported_is_an_error_at_its_line_and_column() {
        let e = render("a: 1\nb: {{ range .Vars.list }}x{{ end }}\n", &ctx()).expect_err("range");
        assert_eq!((e.line, e.column), (2, 4));
        assert!(e.message.contains("range"), "{}", e.message);
        assert!(render("{{ .Vars.list }}", &ctx()).is_err());
        assert!(render("x {{ .Vars.port", &ctx()).is_err());
        assert_eq!(
            render("no templates", &ctx()).expect("plain"),
            "no templates"
        );
    }
}
