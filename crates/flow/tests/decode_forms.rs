//! Every form Go's protojson reader accepts in an export line is read, and
//! the rest is refused with where it went wrong; and three properties:
//! decoding what the encoder wrote gives the event back, re-encoding a
//! decoded Cilium line gives the line back (`golden_lines.rs`), and mutated
//! or truncated lines never panic.

use flowlog_flow::decode::{DecodeError, ExportLines, LineDecoder};
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::json::encode_line;
use flowlog_flow::synthetic::FlowGenerator;
use flowlog_flow::{ExportEvent, Flow, Timestamp, Verdict};
use proptest::prelude::*;

fn decode(line: &str) -> ExportEvent {
    LineDecoder.decode(line).unwrap_or_else(|e| panic!("{e}: {line}")).event
}

fn flow(line: &str) -> Flow {
    match decode(line).response_types {
        Some(ResponseTypes::Flow(flow)) => flow,
        other => panic!("not a flow: {other:?}"),
    }
}

fn refused(line: &str) -> String {
    match LineDecoder.decode(line) {
        Err(error) => error.to_string(),
        Ok(decoded) => panic!("accepted {line}: {decoded:?}"),
    }
}

#[test]
fn proto_and_json_names() {
    let snake = flow(r#"{"flow":{"source":{"pod_name":"a","cluster_name":"c"},"source_names":["x"],"is_reply":true}}"#);
    let camel = flow(r#"{"flow":{"source":{"podName":"a","clusterName":"c"},"sourceNames":["x"],"isReply":true}}"#);
    assert_eq!(snake, camel);
    assert_eq!(snake.source.as_ref().unwrap().pod_name, "a");
    assert_eq!(snake.is_reply, Some(true));
}

#[test]
fn enums_by_name_or_number() {
    assert_eq!(flow(r#"{"flow":{"verdict":"DROPPED"}}"#).verdict, Verdict::Dropped as i32);
    assert_eq!(flow(r#"{"flow":{"verdict":2}}"#).verdict, Verdict::Dropped as i32);
    assert_eq!(flow(r#"{"flow":{"verdict":99}}"#).verdict, 99, "a number this schema does not name");
}

#[test]
fn integers_as_numbers_strings_and_whole_floats() {
    let lost = |line: &str| match decode(line).response_types {
        Some(ResponseTypes::LostEvents(lost)) => lost.num_events_lost,
        other => panic!("{other:?}"),
    };
    assert_eq!(lost(r#"{"lost_events":{"num_events_lost":"18446744073709551615"}}"#), u64::MAX);
    assert_eq!(lost(r#"{"lost_events":{"num_events_lost":7}}"#), 7);
    assert_eq!(lost(r#"{"lost_events":{"num_events_lost":1e3}}"#), 1000);
    assert_eq!(lost(r#"{"lost_events":{"num_events_lost":"5.0"}}"#), 5);
    let id = |line: &str| flow(line).source.unwrap().id;
    assert_eq!(id(r#"{"flow":{"source":{"ID":"12"}}}"#), 12);
    assert_eq!(id(r#"{"flow":{"source":{"ID":4294967295}}}"#), u32::MAX);
}

#[test]
fn timestamps_with_any_offset_and_precision() {
    let time = |text: &str| flow(&format!(r#"{{"flow":{{"time":"{text}"}}}}"#)).time.unwrap();
    assert_eq!(time("2023-08-21T12:12:18.510175415Z"), Timestamp { seconds: 1_692_619_938, nanos: 510_175_415 });
    assert_eq!(time("2023-08-21T14:12:18.5+02:00"), Timestamp { seconds: 1_692_619_938, nanos: 500_000_000 });
    assert_eq!(time("2023-08-21T07:12:18-05:00"), Timestamp { seconds: 1_692_619_938, nanos: 0 });
}

#[test]
fn nulls_leave_fields_unset() {
    let line = r#"{"flow":{"time":null,"verdict":null,"IP":null,"source_names":null,"is_reply":null,"Summary":null,"l4":{"TCP":null}},"node_name":null}"#;
    let event = decode(line);
    assert_eq!(event.node_name, "");
    let Some(ResponseTypes::Flow(flow)) = event.response_types else { panic!() };
    assert_eq!(flow.l4.map(|l4| l4.protocol), Some(None));
    assert_eq!(Flow { l4: None, ..flow }, Flow::default());
}

#[test]
fn unknown_fields_are_skipped_and_counted() {
    let decoded = LineDecoder
        .decode(r#"{"flow":{"brand_new":{"deep":[1,2]},"source":{"future":1,"pod_name":"a"}},"also_new":true}"#)
        .unwrap();
    assert_eq!(decoded.unknown_fields, 3);
    let Some(ResponseTypes::Flow(flow)) = decoded.event.response_types else { panic!() };
    assert_eq!(flow.source.unwrap().pod_name, "a");
}

#[test]
fn any_with_its_type_anywhere_in_the_object() {
    let line = r#"{"flow":{"extensions":{"pod_name":"inner","@type":"type.googleapis.com/flow.Endpoint"}}}"#;
    let any = flow(line).extensions.unwrap();
    assert_eq!(any.type_url, "type.googleapis.com/flow.Endpoint");
    let endpoint: flowlog_flow::Endpoint = prost::Message::decode(any.value.as_slice()).unwrap();
    assert_eq!(endpoint.pod_name, "inner");
    assert!(refused(r#"{"flow":{"extensions":{"@type":"type.googleapis.com/no.Such"}}}"#).contains("unknown type"));
}

#[test]
fn what_is_refused_says_what_and_where() {
    let cases = [
        (r#"{"flow":{"verdict":"NOPE"}}"#, r#""NOPE" is not a value of this enum"#, 25),
        (r#"{"flow":{"source":{"ID":"x"}}}"#, r#""x" is not an integer"#, 27),
        (r#"{"flow":{"source":{"ID":4294967296}}}"#, "4294967296 is out of range for u32", 34),
        (r#"{"flow":{"source":{"ID":1.5}}}"#, "1.5 is not an integer", 27),
        (r#"{"flow":{"time":"yesterday"}}"#, r#""yesterday" is not an RFC 3339 timestamp"#, 28),
        (r#"{"flow":{"is_reply":"yes"}}"#, "invalid type: string \"yes\", expected a boolean", 25),
        (r#"{"flow":1}"#, "invalid type: integer `1`, expected an object or null", 9),
        (r#"{"flow":{"verdict":"DROPPED"}"#, "EOF while parsing an object", 29),
        (r#"{"flow":{}} trailing"#, "trailing characters", 13),
    ];
    // The column is where the offending value ends.
    for (line, what, column) in cases {
        let error = refused(line);
        assert!(error.contains(what), "{line}: {error}");
        assert!(error.ends_with(&format!("(column {column})")), "{line}: {error}");
    }
    assert!(matches!(LineDecoder.decode("{}"), Err(DecodeError::NoEvent)));
    assert!(matches!(LineDecoder.decode("null"), Err(DecodeError::NoEvent)));
}

#[test]
fn a_refused_line_names_its_number_and_reading_goes_on() {
    let input = "{\"flow\":{}}\n{\"flow\":{\"verdict\":\"NOPE\"}}\n\n{\"flow\":{}}\n";
    let results: Vec<_> = ExportLines::new(input.as_bytes()).collect();
    assert_eq!(results.len(), 3);
    let error = results[1].as_ref().unwrap_err().to_string();
    assert!(error.starts_with("line 2: ") && error.contains("(column 25)"), "{error}");
    assert!(results[2].is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn what_the_encoder_writes_decodes_to_the_same_event(seed in any::<u64>()) {
        let mut generator = FlowGenerator::new(seed, "kind-kind/kind-worker");
        for _ in 0..8 {
            let event = generator.next_event();
            let mut line = Vec::new();
            encode_line(&event, None, &mut line).unwrap();
            let text = std::str::from_utf8(&line).unwrap().trim_end();
            let decoded = LineDecoder.decode(text).unwrap();
            prop_assert_eq!(decoded.unknown_fields, 0);
            prop_assert_eq!(decoded.event, event);
        }
    }

    #[test]
    fn mutated_and_truncated_lines_never_panic(
        seed in any::<u64>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        keep in any::<prop::sample::Index>(),
    ) {
        let event = FlowGenerator::new(seed, "node").next_event();
        let mut line = Vec::new();
        encode_line(&event, None, &mut line).unwrap();
        for (at, value) in edits {
            let at = at.index(line.len());
            line[at] = value;
        }
        let cut = &line[..keep.index(line.len() + 1)];
        for bytes in [&line[..], cut] {
            let _ = ExportLines::new(bytes).count();
        }
    }
}
