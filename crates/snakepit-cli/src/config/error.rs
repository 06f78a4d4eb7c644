//! [`ConfigError`]: what is wrong with a config file, and where: the file, the line, the
//! dotted key (`pools.default.retry.policy`) and the line itself with the spot marked; or
//! the environment variable that carried a bad value.
//!
//! The TOML parser reports a byte span; the key is found by walking the parsed document for
//! the smallest key or value whose span holds the error.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

/// A config file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError(Box<Details>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Details {
    origin: Origin,
    key: Option<String>,
    message: String,
}

/// Where the bad value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    /// A place in a file.
    File {
        path: PathBuf,
        line: Option<usize>,
        /// The line's text and the marked columns, for the excerpt.
        excerpt: Option<(String, Range<usize>)>,
    },
    /// An environment variable.
    Env(String),
}

impl ConfigError {
    /// An error at `span` of `text`, the contents of `path`.
    pub(crate) fn at(path: &Path, text: &str, span: Option<Range<usize>>, message: &str) -> Self {
        let message = tidy(message);
        let Some(span) = span else {
            return Self(Box::new(Details {
                origin: Origin::File {
                    path: path.to_path_buf(),
                    line: None,
                    excerpt: None,
                },
                key: None,
                message,
            }));
        };
        let start = span.start.min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |at| start + at);
        let line_text = text[line_start..line_end].trim_end_matches('\r');
        let column = text[line_start..start].chars().count();
        let width = text[start..span.end.clamp(start, line_end)]
            .chars()
            .count()
            .max(1);
        Self(Box::new(Details {
            origin: Origin::File {
                path: path.to_path_buf(),
                line: Some(text[..start].matches('\n').count() + 1),
                excerpt: Some((line_text.to_owned(), column..column + width)),
            },
            key: key_at(text, start),
            message,
        }))
    }

    /// An error about the file as a whole (no line), or about a pool (`key`).
    pub(crate) fn in_file(path: &Path, key: Option<String>, message: impl Into<String>) -> Self {
        Self(Box::new(Details {
            origin: Origin::File {
                path: path.to_path_buf(),
                line: None,
                excerpt: None,
            },
            key,
            message: message.into(),
        }))
    }

    /// A bad value in the environment variable `name`, which overrides `key`.
    pub(crate) fn in_env(name: &str, key: String, message: impl Into<String>) -> Self {
        Self(Box::new(Details {
            origin: Origin::Env(name.to_owned()),
            key: Some(key),
            message: message.into(),
        }))
    }

    /// The line in the file, counted from 1.
    #[cfg(test)]
    pub(crate) fn line(&self) -> Option<usize> {
        match &self.0.origin {
            Origin::File { line, .. } => *line,
            Origin::Env(_) => None,
        }
    }

    /// The dotted key.
    #[cfg(test)]
    pub(crate) fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.origin {
            Origin::File { path, line, .. } => {
                write!(f, "{}", path.display())?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
            }
            Origin::Env(name) => write!(f, "${name}")?,
        }
        if let Some(key) = &self.0.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.0.message)?;
        if let Origin::File {
            line: Some(line),
            excerpt: Some((text, columns)),
            ..
        } = &self.0.origin
        {
            let gutter = line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{line} | {text}\n{:gutter$} | {}{}",
                "",
                "",
                " ".repeat(columns.start),
                "^".repeat(columns.len())
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Serde's words made to fit a config file: its fields are our keys.
fn tidy(message: &str) -> String {
    message
        .trim()
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
        .replace("\n", "; ")
}

/// The dotted key whose name or value holds byte `position` of `text`, the innermost one;
/// else (a syntax error inside a value) the last key written before it on its line.
fn key_at(text: &str, position: usize) -> Option<String> {
    // A file with a syntax error still yields the keys around it.
    let (document, _errors) = DeTable::parse_recoverable(text);
    let mut spans = Vec::new();
    walk(document.get_ref(), &mut Vec::new(), &mut spans);
    let holds = |span: &Range<usize>| {
        span.contains(&position) || (span.is_empty() && span.start == position)
    };
    let innermost = spans
        .iter()
        .filter(|(span, _, _)| holds(span))
        .min_by_key(|(span, _, _)| span.len());
    let line_start = text[..position.min(text.len())]
        .rfind('\n')
        .map_or(0, |at| at + 1);
    let on_the_line = || {
        spans
            .iter()
            .filter(|(span, _, is_key)| *is_key && (line_start..=position).contains(&span.start))
            .max_by_key(|(span, _, _)| span.start)
    };
    innermost
        .or_else(on_the_line)
        .map(|(_, path, _)| path.join("."))
}

/// Collects the span of every key and value with its dotted path, and whether it is a key.
fn walk(
    table: &DeTable<'_>,
    path: &mut Vec<String>,
    spans: &mut Vec<(Range<usize>, Vec<String>, bool)>,
) {
    for (key, value) in table {
        path.push(quote(key.get_ref()));
        spans.push((key.span(), path.clone(), true));
        visit(value.get_ref(), value.span(), path, spans);
        path.pop();
    }
}

fn visit(
    value: &DeValue<'_>,
    span: Range<usize>,
    path: &mut Vec<String>,
    spans: &mut Vec<(Range<usize>, Vec<String>, bool)>,
) {
    spans.push((span, path.clone(), false));
    match value {
        DeValue::Table(table) => walk(table, path, spans),
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let last = path.pop().unwrap_or_default();
                path.push(format!("{last}[{index}]"));
                visit(item.get_ref(), item.span(), path, spans);
                path.pop();
                path.push(last);
            }
        }
        _ => {}
    }
}

/// A key as written in a dotted path: bare when it can be.
fn quote(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_innermost_one_at_the_spot() {
        let text = "[pools.default]\nsize = 2\n[pools.default.retry]\npolicy = \"x\"\n";
        let spot = text.find("\"x\"").unwrap();
        assert_eq!(
            key_at(text, spot).as_deref(),
            Some("pools.default.retry.policy")
        );
        let spot = text.find("size").unwrap();
        assert_eq!(key_at(text, spot).as_deref(), Some("pools.default.size"));
        let text = "[pools.a.adapter]\npaths = [\".\", 3]\n";
        let spot = text.find('3').unwrap();
        assert_eq!(
            key_at(text, spot).as_deref(),
            Some("pools.a.adapter.paths[1]")
        );
    }

    #[test]
    fn a_syntax_error_inside_a_value_names_the_key_of_its_line() {
        let text = "[pools.default]\nsize = 2\ncall_timeout = \"3s\n";
        let spot = text.len() - 1;
        assert_eq!(
            key_at(text, spot).as_deref(),
            Some("pools.default.call_timeout")
        );
    }

    #[test]
    fn the_message_names_file_line_key_and_marks_the_spot() {
        let text = "[pools.default]\ncall_timeout = \"soon\"\n";
        let start = text.find("\"soon\"").unwrap();
        let err = ConfigError::at(
            Path::new("snakepit.toml"),
            text,
            Some(start..start + 6),
            "not a duration",
        );
        assert_eq!(err.line(), Some(2));
        assert_eq!(err.key(), Some("pools.default.call_timeout"));
        assert_eq!(
            err.to_string(),
            "snakepit.toml:2: pools.default.call_timeout: not a duration\n  |\n2 | call_timeout = \"soon\"\n  |                ^^^^^^"
        );
    }
}
