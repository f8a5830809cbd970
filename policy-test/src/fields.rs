//! Reading a TOML table field by field: unknown keys and wrong types are
//! refused with the field's path and what to write instead.

use serde_json::{Map, Number, Value};

use crate::error::FieldError;

/// One table of a test file, with the keys it may hold.
pub(crate) struct Fields<'a> {
    table: &'a toml::Table,
    path: String,
}

impl<'a> Fields<'a> {
    /// `table` at `path` (empty for the document); any key outside `known`
    /// is an error naming it and listing the known ones.
    pub(crate) fn new(
        table: &'a toml::Table,
        path: &str,
        known: &[&str],
    ) -> Result<Self, FieldError> {
        let fields = Fields {
            table,
            path: path.to_string(),
        };
        if let Some(unknown) = table.keys().find(|key| !known.contains(&key.as_str())) {
            return Err(FieldError::new(
                fields.field(unknown),
                format!(
                    "unknown field `{unknown}`; expected one of {}",
                    known.join(", ")
                ),
            ));
        }
        Ok(fields)
    }

    /// The path of `key` in this table.
    pub(crate) fn field(&self, key: &str) -> String {
        child(&self.path, key)
    }

    /// The raw value of `key`, if present.
    pub(crate) fn value(&self, key: &str) -> Option<&'a toml::Value> {
        self.table.get(key)
    }

    fn typed<T>(
        &self,
        key: &str,
        expected: &str,
        example: &str,
        read: impl FnOnce(&'a toml::Value) -> Option<T>,
    ) -> Result<Option<T>, FieldError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(value) => read(value)
                .map(Some)
                .ok_or_else(|| type_error(&self.field(key), expected, value, example)),
        }
    }

    /// A string; `example` is what to write (`method = "GET"`).
    pub(crate) fn string(&self, key: &str, example: &str) -> Result<Option<String>, FieldError> {
        self.typed(key, "a string", example, |v| v.as_str().map(str::to_string))
    }

    /// An integer.
    pub(crate) fn integer(&self, key: &str, example: &str) -> Result<Option<i64>, FieldError> {
        self.typed(key, "an integer", example, toml::Value::as_integer)
    }

    /// A boolean.
    pub(crate) fn boolean(&self, key: &str, example: &str) -> Result<Option<bool>, FieldError> {
        self.typed(key, "true or false", example, toml::Value::as_bool)
    }

    /// A table.
    pub(crate) fn table(
        &self,
        key: &str,
        example: &str,
    ) -> Result<Option<&'a toml::Table>, FieldError> {
        self.typed(key, "a table", example, toml::Value::as_table)
    }

    /// An array.
    pub(crate) fn array(
        &self,
        key: &str,
        example: &str,
    ) -> Result<Option<&'a Vec<toml::Value>>, FieldError> {
        self.typed(key, "an array", example, toml::Value::as_array)
    }

    /// A table of strings, as (key, value) pairs in key order.
    pub(crate) fn string_table(
        &self,
        key: &str,
        example: &str,
    ) -> Result<Vec<(String, String)>, FieldError> {
        let Some(table) = self.table(key, example)? else {
            return Ok(Vec::new());
        };
        let path = self.field(key);
        table
            .iter()
            .map(|(name, value)| match value.as_str() {
                Some(text) => Ok((name.clone(), text.to_string())),
                None => Err(type_error(
                    &child(&path, name),
                    "a string",
                    value,
                    &format!("quote the value: {name} = \"...\""),
                )),
            })
            .collect()
    }

    /// An array of strings.
    pub(crate) fn string_array(
        &self,
        key: &str,
        example: &str,
    ) -> Result<Option<Vec<String>>, FieldError> {
        let Some(items) = self.array(key, example)? else {
            return Ok(None);
        };
        let path = self.field(key);
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    type_error(&format!("{path}[{index}]"), "a string", item, example)
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A table converted to JSON, member by member.
    pub(crate) fn json_object(
        &self,
        key: &str,
        example: &str,
    ) -> Result<Option<Map<String, Value>>, FieldError> {
        let Some(table) = self.table(key, example)? else {
            return Ok(None);
        };
        let path = self.field(key);
        table
            .iter()
            .map(|(name, value)| Ok((name.clone(), to_json(value, &child(&path, name))?)))
            .collect::<Result<Map<_, _>, _>>()
            .map(Some)
    }
}

/// `parent.key`, or `key` at the top (keys that are not bare TOML keys are
/// quoted, as TOML writes them).
pub(crate) fn child(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// `expected X, found Y; <example>`.
pub(crate) fn type_error(
    field: &str,
    expected: &str,
    found: &toml::Value,
    example: &str,
) -> FieldError {
    FieldError::new(
        field,
        format!("expected {expected}, found {}; {example}", type_name(found)),
    )
}

fn type_name(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// A TOML value as JSON: date-times become their RFC 3339 text; a float
/// that JSON cannot carry (NaN, infinity) is an error at `field`.
pub(crate) fn to_json(value: &toml::Value, field: &str) -> Result<Value, FieldError> {
    Ok(match value {
        toml::Value::String(text) => Value::String(text.clone()),
        toml::Value::Integer(number) => Value::from(*number),
        toml::Value::Float(number) => {
            Value::Number(Number::from_f64(*number).ok_or_else(|| {
                FieldError::new(field, "JSON has no NaN or infinity; write a finite number")
            })?)
        }
        toml::Value::Boolean(flag) => Value::Bool(*flag),
        toml::Value::Datetime(datetime) => Value::String(datetime.to_string()),
        toml::Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| to_json(item, &format!("{field}[{index}]")))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(name, item)| Ok((name.clone(), to_json(item, &child(field, name))?)))
                .collect::<Result<_, FieldError>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn unknown_key_names_its_path_and_the_known_ones() {
        let doc = table("methd = \"GET\"");
        let err = Fields::new(&doc, "case[3]", &["method", "path"])
            .err()
            .unwrap();
        assert_eq!(err.field, "case[3].methd");
        assert_eq!(
            err.message,
            "unknown field `methd`; expected one of method, path"
        );
    }

    #[test]
    fn wrong_type_says_what_was_found_and_what_to_write() {
        let doc = table("now = \"soon\"");
        let fields = Fields::new(&doc, "", &["now"]).unwrap();
        let err = fields.integer("now", "write now = 1767225600").unwrap_err();
        assert_eq!(err.field, "now");
        assert_eq!(
            err.message,
            "expected an integer, found a string; write now = 1767225600"
        );
    }

    #[test]
    fn string_table_names_the_bad_entry() {
        let doc = table("headers = { x-id = 1 }");
        let fields = Fields::new(&doc, "case[0]", &["headers"]).unwrap();
        let err = fields.string_table("headers", "").unwrap_err();
        assert_eq!(err.field, "case[0].headers.x-id");
        assert!(
            err.message
                .starts_with("expected a string, found an integer")
        );
    }

    #[test]
    fn keys_that_are_not_bare_are_quoted() {
        assert_eq!(
            child("claims", "cognito:groups"),
            "claims.\"cognito:groups\""
        );
        assert_eq!(child("", "sub"), "sub");
    }

    #[test]
    fn toml_becomes_json() {
        let doc = table(
            "v = { s = \"x\", i = 3, f = 1.5, b = true, a = [1, \"two\"], t = { n = 1 }, d = 1979-05-27T07:32:00Z }",
        );
        let json = to_json(doc.get("v").unwrap(), "v").unwrap();
        assert_eq!(
            json,
            serde_json::json!({"s": "x", "i": 3, "f": 1.5, "b": true, "a": [1, "two"], "t": {"n": 1}, "d": "1979-05-27T07:32:00Z"})
        );
        let nan = table("v = nan");
        assert_eq!(to_json(nan.get("v").unwrap(), "v").unwrap_err().field, "v");
    }
}
