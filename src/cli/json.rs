//! One JSON schema for every command's `--json` output.
//!
//! Every document is an object with the same envelope — `vpcsim` (the schema version),
//! `command`, `scenario` (its name, or null) and `after` (the configuration the answer
//! is about: a step number, a step id, or null when the command is not about one point) —
//! and the command's own fields beside them. Errors with `--json` are one document on
//! stdout: `{"vpcsim", "command", "error": {kind, message, file, line, column, fix}}`,
//! with the usual exit codes. Schemas: `docs/schema/`.

use serde::Serialize;
use serde_json::{Map, Value};

/// Bumped when a field changes meaning or disappears (adding fields does not bump it).
pub const SCHEMA_VERSION: u32 = 1;

/// The configuration an answer is about.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct After {
    /// Steps applied (0 = the initial topology).
    pub step: usize,
    /// The id of the last applied step, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Wraps a command's fields (`body` must serialize to an object) in the envelope.
pub fn envelope(
    command: &str,
    scenario: Option<&str>,
    after: Option<After>,
    body: impl Serialize,
) -> Value {
    let mut doc = Map::new();
    doc.insert("vpcsim".into(), SCHEMA_VERSION.into());
    doc.insert("command".into(), command.into());
    doc.insert(
        "scenario".into(),
        scenario.map_or(Value::Null, |s| s.into()),
    );
    doc.insert(
        "after".into(),
        serde_json::to_value(after).unwrap_or(Value::Null),
    );
    match serde_json::to_value(body) {
        Ok(Value::Object(fields)) => doc.extend(fields),
        Ok(Value::Null) => {}
        Ok(other) => {
            doc.insert("result".into(), other);
        }
        Err(e) => {
            doc.insert(
                "error".into(),
                error_value("internal", &e.to_string(), None, None),
            );
        }
    }
    Value::Object(doc)
}

/// A located problem, for the `error` member.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ErrorDoc {
    /// `input` (arguments, files), `scenario`, `capture`, `import`, `io`, `internal`.
    pub kind: String,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// What to do about it, when the message has a separate fix.
    pub fix: Option<String>,
}

fn error_value(kind: &str, message: &str, file: Option<&str>, fix: Option<&str>) -> Value {
    serde_json::to_value(ErrorDoc {
        kind: kind.into(),
        message: message.into(),
        file: file.map(Into::into),
        fix: fix.map(Into::into),
        ..ErrorDoc::default()
    })
    .unwrap_or(Value::Null)
}

/// The error document for `command`.
pub fn error(command: &str, err: ErrorDoc) -> Value {
    let mut doc = Map::new();
    doc.insert("vpcsim".into(), SCHEMA_VERSION.into());
    doc.insert("command".into(), command.into());
    doc.insert(
        "error".into(),
        serde_json::to_value(err).unwrap_or(Value::Null),
    );
    Value::Object(doc)
}

/// Prints a document on stdout, pretty, one trailing newline.
pub fn print(doc: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    );
}

impl ErrorDoc {
    /// A problem with the arguments or another input that has no place in a file.
    /// A "did you mean …" suggestion at the end of the message becomes the `fix`.
    pub fn input(message: impl Into<String>) -> ErrorDoc {
        let message: String = message.into();
        let (message, fix) = match message.split_once("; did you mean ") {
            Some((m, f)) => (m.to_string(), Some(format!("did you mean {f}"))),
            None => (message, None),
        };
        ErrorDoc {
            kind: "input".into(),
            message,
            fix,
            ..ErrorDoc::default()
        }
    }

    /// A scenario file problem, located (line 0 = not about a place in the file).
    pub fn scenario(e: &crate::scenario::ScenarioError) -> ErrorDoc {
        ErrorDoc {
            kind: "scenario".into(),
            message: e.message.clone(),
            file: Some(e.file.clone()),
            line: (e.line > 0).then_some(e.line),
            column: (e.line > 0).then_some(e.column),
            fix: None,
        }
    }

    /// The one-line text form for stderr: `file:line:column: message`, then the fix.
    pub fn text(&self) -> String {
        let mut s = match (&self.file, self.line, self.column) {
            (Some(f), Some(l), Some(c)) => format!("{f}:{l}:{c}: {}", self.message),
            (Some(f), _, _) => format!("{f}: {}", self.message),
            _ => self.message.clone(),
        };
        if let Some(fix) = &self.fix {
            s.push_str(&format!("; {fix}"));
        }
        s
    }
}

/// A packet as fields, with the display string beside them (`display`). `frame` is an
/// Ethernet frame; one that does not parse keeps only its display and length.
pub fn packet(frame: &[u8], display: &str) -> Value {
    serde_json::to_value(super::render::PacketDoc::new(frame, display)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_carries_version_command_scenario_after_and_the_fields() {
        let doc = envelope(
            "trace",
            Some("s"),
            Some(After { step: 3, id: None }),
            serde_json::json!({"disposition": "dropped"}),
        );
        assert_eq!(doc["vpcsim"], SCHEMA_VERSION);
        assert_eq!(doc["command"], "trace");
        assert_eq!(doc["scenario"], "s");
        assert_eq!(doc["after"]["step"], 3);
        assert_eq!(doc["disposition"], "dropped");
    }

    #[test]
    fn error_document_has_kind_message_and_location() {
        let doc = error(
            "run",
            ErrorDoc {
                kind: "scenario".into(),
                message: "unknown field".into(),
                file: Some("a.toml".into()),
                line: Some(3),
                column: Some(1),
                fix: None,
            },
        );
        assert_eq!(doc["error"]["kind"], "scenario");
        assert_eq!(doc["error"]["line"], 3);
        assert!(doc.get("scenario").is_none());
    }
}
