//! Reading FlowFilters as users write them: JSON objects in a string.

use flowlog_config::value::Kind;
use flowlog_flow::{FlowFilter, descriptors};
use prost_reflect::{DeserializeOptions, DynamicMessage, EnumDescriptor, FieldDescriptor, MessageDescriptor};
use serde_json::Value;

use super::FilterError;

/// The longest value quoted back in an error message; longer ones are cut.
const MAX_QUOTED_VALUE: usize = 120;

/// Parses an allowlist or denylist string into FlowFilters.
///
/// Three forms are accepted:
/// - upstream's: JSON objects separated by optional whitespace
///   (`{"a":…} {"b":…}`, one per line, or `{}{}`);
/// - comma-separated objects (`{…},{…}`), as Cilium's docs and Retina's chart
///   write them;
/// - a JSON array of objects (`[{…},{…}]`).
///
/// An empty or all-whitespace string is an empty list. Anything else (a
/// quoted object, truncated JSON, trailing text, a value that is not an
/// object) is an error naming the filter and byte offset where it went wrong.
/// Each object is read by [`filter_from_json`].
pub fn parse_filters(text: &str) -> Result<Vec<FlowFilter>, FilterError> {
    let start = text.len() - text.trim_start().len();
    if start == text.len() {
        return Ok(Vec::new());
    }
    if text[start..].starts_with('[') { parse_array(text) } else { parse_stream(text, start) }
}

fn parse_array(text: &str) -> Result<Vec<FlowFilter>, FilterError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let at = byte_of(text, &e);
        FilterError::new("invalid JSON array").with_detail(format!("{} at byte {at}", strip_position(&e)))
    })?;
    let Value::Array(items) = value else { unreachable!("text starts with `[`") };
    items.iter().enumerate().map(|(index, item)| filter_from_json(item).map_err(|e| e.in_filter(index))).collect()
}

fn parse_stream(text: &str, mut offset: usize) -> Result<Vec<FlowFilter>, FilterError> {
    let mut filters = Vec::new();
    loop {
        let index = filters.len();
        let mut values = serde_json::Deserializer::from_str(&text[offset..]).into_iter::<Value>();
        let value = match values.next() {
            Some(Ok(value)) => value,
            Some(Err(e)) => {
                let at = offset + byte_of(&text[offset..], &e);
                return Err(FilterError::new("invalid JSON")
                    .with_detail(format!("{} at byte {at}", strip_position(&e)))
                    .in_filter(index)
                    .at_offset(offset));
            }
            None => {
                return Err(FilterError::new("expected a filter object after `,`").in_filter(index).at_offset(offset));
            }
        };
        if !value.is_object() {
            let mut error = FilterError::new(format!("expected a JSON object, found {}", value.kind()));
            if value.as_str().is_some_and(|s| s.trim_start().starts_with('{')) {
                error = error.with_detail("remove the quotes around the filter");
            }
            return Err(error.in_filter(index).at_offset(offset));
        }
        filters.push(filter_from_json(&value).map_err(|e| e.in_filter(index).at_offset(offset))?);
        offset += values.byte_offset();
        offset += whitespace_len(&text[offset..]);
        if offset == text.len() {
            return Ok(filters);
        }
        if text[offset..].starts_with(',') {
            offset += 1;
            offset += whitespace_len(&text[offset..]);
        }
    }
}

fn whitespace_len(text: &str) -> usize {
    text.len() - text.trim_start().len()
}

/// Reads one FlowFilter from a JSON object.
///
/// Keys are FlowFilter field names, either the proto name (`source_pod`) or
/// the protojson camelCase name (`sourcePod`); enums are given by name
/// (`"DROPPED"`) or number; 64-bit integers (`ip_trace_id`) as numbers or
/// strings; `experimental` as `{"cel_expression": […]}`. An unknown key is an
/// error naming it, with a suggestion when a field name is close; a value of
/// the wrong type is an error naming the key and the value.
pub fn filter_from_json(value: &Value) -> Result<FlowFilter, FilterError> {
    let Value::Object(object) = value else {
        return Err(FilterError::new(format!("expected a JSON object, found {}", value.kind())));
    };
    let descriptor = descriptors::message("flow.FlowFilter");
    let options = DeserializeOptions::new();
    let mut seen: Vec<FieldDescriptor> = Vec::with_capacity(object.len());
    let mut message = DynamicMessage::new(descriptor.clone());
    for (key, value) in object {
        let field = lookup_field(&descriptor, key)?;
        if seen.contains(&field) {
            return Err(FilterError::field(field.name(), "given twice").with_detail(format!("also as `{key}`")));
        }
        seen.push(field.clone());
        if field.is_list() && !(value.is_array() || value.is_null()) {
            return Err(FilterError::field(field.name(), "expected a JSON array, found").with_json_value(quote(value)));
        }
        if let (Some(enumeration), Some(items)) = (field.kind().as_enum(), value.as_array()) {
            check_enum_names(&field, enumeration, items)?;
        }
        // Each key alone, so that an error can name it and its value.
        let single = Value::Object(serde_json::Map::from_iter([(key.clone(), value.clone())]));
        let mut parsed =
            DynamicMessage::deserialize_with_options(descriptor.clone(), &single, &options).map_err(|e| {
                FilterError::field(field.name(), "invalid value")
                    .with_json_value(quote(value))
                    .with_detail(strip_position(&e))
            })?;
        if let Some(parsed) = parsed.take_field(&field) {
            message.set_field(&field, parsed);
        }
    }
    message.transcode_to::<FlowFilter>().map_err(|e| FilterError::new("cannot convert filter").with_detail(e))
}

/// Names given for an enum must be value names exactly; suggest the one meant.
fn check_enum_names(field: &FieldDescriptor, enumeration: &EnumDescriptor, items: &[Value]) -> Result<(), FilterError> {
    for name in items.iter().filter_map(Value::as_str) {
        if enumeration.get_value_by_name(name).is_some() {
            continue;
        }
        let values: Vec<String> = enumeration.values().map(|v| v.name().to_owned()).collect();
        let detail = match flowlog_config::closest(name, values.iter().map(String::as_str)) {
            Some(value) => format!("did you mean `{value}`?"),
            None if values.len() <= 16 => format!("expected one of {}", values.join(", ")),
            None => format!("expected a {} value name or number", enumeration.full_name()),
        };
        return Err(FilterError::field(field.name(), "unknown value").with_value(name).with_detail(detail));
    }
    Ok(())
}

fn lookup_field(descriptor: &MessageDescriptor, key: &str) -> Result<FieldDescriptor, FilterError> {
    if let Some(field) = descriptor.get_field_by_name(key).or_else(|| descriptor.get_field_by_json_name(key)) {
        return Ok(field);
    }
    let error = FilterError::new("unknown field").with_value(key);
    Err(match suggest(descriptor, key) {
        Some(name) => error.with_detail(format!("did you mean `{name}`?")),
        None => error,
    })
}

/// The field name closest to a misspelt `key`, if one is close enough to be
/// what the user meant (so `sourcePods` and `source_pods` both suggest
/// `source_pod`).
fn suggest(descriptor: &MessageDescriptor, key: &str) -> Option<String> {
    let names: Vec<String> = descriptor.fields().map(|field| field.name().to_owned()).collect();
    flowlog_config::closest(key, names.iter().map(String::as_str)).map(str::to_owned)
}

/// `value` as compact JSON, cut when long.
fn quote(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > MAX_QUOTED_VALUE {
        let mut end = MAX_QUOTED_VALUE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// serde_json's message without its "at line 1 column 7".
fn strip_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

/// The byte offset in `text` of serde_json's 1-based line and column.
fn byte_of(text: &str, error: &serde_json::Error) -> usize {
    let line_start: usize = text.split_inclusive('\n').take(error.line().saturating_sub(1)).map(str::len).sum();
    (line_start + error.column().saturating_sub(1)).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_field_names() {
        let descriptor = descriptors::message("flow.FlowFilter");
        assert_eq!(suggest(&descriptor, "source_pods").as_deref(), Some("source_pod"));
        assert_eq!(suggest(&descriptor, "sourcePodd").as_deref(), Some("source_pod"));
        assert_eq!(suggest(&descriptor, "verdicts").as_deref(), Some("verdict"));
        assert_eq!(suggest(&descriptor, "zzz"), None);
    }
}
