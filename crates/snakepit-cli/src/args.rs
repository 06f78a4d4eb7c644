//! `--args`: the call's arguments as inline JSON, `@file.json`, or `-` for stdin.

use std::io::Read as _;
use std::path::Path;

use serde_json::Value;

use crate::exit::usage;

/// How much of a bad `--args` an error message quotes.
const QUOTE_CHARS: usize = 200;

/// Reads the call's arguments: `spec` is a JSON object, `@FILE` (a file holding one) or `-`
/// (stdin).
///
/// # Errors
///
/// A usage error when the file cannot be read or the text is not a JSON object; it quotes at
/// most the first 200 characters of the text.
pub(crate) fn read_args(spec: &str) -> anyhow::Result<Value> {
    let (text, origin) = if spec == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| usage(format!("could not read --args from stdin: {err}")))?;
        (text, "stdin".to_owned())
    } else if let Some(file) = spec.strip_prefix('@') {
        let text = std::fs::read_to_string(Path::new(file))
            .map_err(|err| usage(format!("could not read --args file {file}: {err}")))?;
        (text, file.to_owned())
    } else {
        (spec.to_owned(), "--args".to_owned())
    };
    parse(&text, &origin)
}

fn parse(text: &str, origin: &str) -> anyhow::Result<Value> {
    let value: Value = serde_json::from_str(text).map_err(|err| {
        usage(format!(
            "--args ({origin}) is not valid JSON ({err}): {}",
            quote(text)
        ))
    })?;
    if !value.is_object() {
        return Err(usage(format!(
            "--args ({origin}) must be a JSON object, not {}",
            quote(text)
        )));
    }
    Ok(value)
}

/// The text, cut after [`QUOTE_CHARS`] characters.
fn quote(text: &str) -> String {
    let text = text.trim();
    let mut quoted: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().count() > QUOTE_CHARS {
        quoted.push_str(&format!("… ({} characters)", text.chars().count()));
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_json_objects_parse_and_others_are_usage_errors() {
        assert_eq!(read_args(r#"{"a": 1}"#).unwrap()["a"], 1);
        let err = read_args("[1, 2]").unwrap_err();
        assert_eq!(crate::exit::code_of(&err), crate::exit::Code::Usage);
        assert!(err.to_string().contains("must be a JSON object"));
    }

    #[test]
    fn a_long_bad_argument_is_quoted_only_in_part() {
        let long = format!("{{\"a\": \"{}", "x".repeat(5000));
        let message = read_args(&long).unwrap_err().to_string();
        assert!(message.len() < 500, "{message}");
        assert!(message.contains("characters)"));
    }

    #[test]
    fn a_file_is_read_after_the_at_sign() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("args.json");
        std::fs::write(&file, r#"{"name": "Ada"}"#).unwrap();
        let value = read_args(&format!("@{}", file.display())).unwrap();
        assert_eq!(value["name"], "Ada");
        let missing = read_args("@/nonexistent/args.json")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("No such file"), "{missing}");
    }
}
