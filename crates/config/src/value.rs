//! What kind of value a user wrote, in the words an error message needs:
//! "must be a list, not a string", "not the number 1.1; quote it".

/// A parsed config value (YAML or JSON) that can say what it is.
pub trait Kind {
    /// What the value is: `a string`, `a list`, `null`…
    fn kind(&self) -> &'static str;

    /// What the value is, with a scalar's value shown (`the number 1.1`,
    /// `the string "5"`), and as [`kind`](Kind::kind) otherwise.
    fn describe(&self) -> String;
}

impl Kind for serde_yaml_ng::Value {
    fn kind(&self) -> &'static str {
        use serde_yaml_ng::Value;
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a map",
            Value::Tagged(_) => "a tagged value",
        }
    }

    fn describe(&self) -> String {
        use serde_yaml_ng::Value;
        match self {
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Number(n) => format!("the number {n}"),
            Value::String(s) => format!("the string {s:?}"),
            other => other.kind().to_owned(),
        }
    }
}

/// JSON values are named in JSON's words: an array, an object.
impl Kind for serde_json::Value {
    fn kind(&self) -> &'static str {
        use serde_json::Value;
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    fn describe(&self) -> String {
        use serde_json::Value;
        match self {
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Number(n) => format!("the number {n}"),
            Value::String(s) => format!("the string {s:?}"),
            other => other.kind().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn yaml_and_json_values_name_themselves() {
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str("{a: [1], b: 1.10, c: '5', d: ~}").unwrap();
        assert_eq!(yaml["a"].kind(), "a list");
        assert_eq!(yaml["b"].describe(), "the number 1.1");
        assert_eq!(yaml["c"].describe(), r#"the string "5""#);
        assert_eq!(yaml["d"].kind(), "null");
        assert_eq!(yaml.kind(), "a map");
        let json: serde_json::Value = serde_json::from_str(r#"{"a": [1], "b": true}"#).unwrap();
        assert_eq!(
            (json.kind(), json["a"].kind(), json["b"].describe()),
            ("an object", "an array", "the boolean true".into())
        );
    }
}
