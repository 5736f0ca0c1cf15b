//! `experimental.cel_expression`: CEL expressions over the flow.
//!
//! Each expression sees the flow as the variable `_flow`, a `flow.Flow`
//! message whose fields have their proto names (`_flow.source.pod_name`,
//! `_flow.l4.TCP.destination_port`, `_flow.IP.source`). A filter's expressions
//! are ORed; an expression that fails to evaluate does not match. Non-flow
//! events never match.
//!
//! The subset supported, as evaluated by the `cel` crate:
//! - The standard library: operators, `has()`, `size()`, `startsWith()`,
//!   `contains()`, `matches()`, comprehensions (`exists`, `all`, `map`, …),
//!   `int()`, `uint()`, `string()`, `timestamp()`, ….
//! - Scalars: 32- and 64-bit signed integers are `int`, unsigned ones are
//!   `uint` (so ports compare with `uint(80)`, or `80u`), strings, bools,
//!   bytes, doubles. `_flow.time` is a `timestamp`. Wrapper fields such as
//!   `is_reply` read as their value.
//! - Enums are `int`s, as in cel-go: compare with the enum's value by name,
//!   `_flow.verdict == Verdict.DROPPED` (or `flow.Verdict.DROPPED`; nested
//!   enums as `Tunnel.Protocol.VXLAN`), or by number, `_flow.verdict == 2`.
//!   Comparing with the name as a string (`== "DROPPED"`) is always false.
//! - Repeated fields are lists (`"k8s:app=x" in _flow.source.labels`).
//! - `has(_flow.l7)`, `has(_flow.l4.TCP)`, `has(_flow.is_reply)`: true when
//!   the message (or oneof variant, or wrapper) is set. `has()` of a scalar or
//!   repeated field is always true.
//! - Selecting a field of an unset message is an evaluation error rather than
//!   a default value as in cel-go: `_flow.l4.TCP.destination_port != 80u`
//!   does not match UDP flows. Guard with `has(_flow.l4.TCP) && …` instead.
//! - Messages do not compare equal to each other.
//!
//! Checked when the filter is built: syntax; every `_flow.…` field path
//! against the schema; every `Enum.VALUE` name; and, by evaluating against
//! an empty flow, undeclared names and non-bool results.

mod message;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use cel::common::types::CelInt;
use cel::common::value::CowVal;
use cel::context::VariableResolver;
use cel::{Context, Env, ExecutionError, Program};
use flowlog_flow::{Flow, descriptors};
use prost::Message;
use prost_reflect::{Kind, MessageDescriptor};

use self::message::{MessageVal, is_scalar_message};
use super::FilterError;
use super::event::Event;

/// The variable holding the flow, as in Hubble.
const FLOW_VARIABLE: &str = "_flow";
/// The proto package of the schema; enum names may be written with or without it.
const PACKAGE: &str = "flow";

/// The standard environment, shared: compiling and evaluating only read it.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

static FLOW: LazyLock<MessageDescriptor> = LazyLock::new(|| descriptors::message("flow.Flow"));

/// Every enum value of the schema by qualified name, with and without the
/// package: `Verdict.DROPPED` and `flow.Verdict.DROPPED` → 2.
static ENUM_VALUES: LazyLock<HashMap<String, i64>> = LazyLock::new(|| {
    let mut values = HashMap::new();
    for enumeration in descriptors::pool().all_enums().filter(|e| e.package_name() == PACKAGE) {
        let qualified = enumeration.full_name();
        let unqualified = &qualified[PACKAGE.len() + 1..];
        for value in enumeration.values() {
            values.insert(format!("{qualified}.{}", value.name()), i64::from(value.number()));
            values.insert(format!("{unqualified}.{}", value.name()), i64::from(value.number()));
        }
    }
    values
});

thread_local! {
    /// The flow being evaluated, encoded; one buffer per thread, reused.
    static ENCODED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

// `Filters` is shared between threads and evaluates CEL from all of them:
// compiled programs and the environment must be shareable as they are.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Program>();
    assert_send_sync::<Env>();
};

/// Some expression evaluates to `true` for the flow.
pub(crate) struct CelFilter {
    expressions: Vec<String>,
    programs: Vec<Program>,
}

impl std::fmt::Debug for CelFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CelFilter").field(&self.expressions).finish()
    }
}

impl CelFilter {
    pub(crate) fn new(name: &str, expressions: &[String]) -> Result<Self, FilterError> {
        let programs = expressions
            .iter()
            .map(|expression| {
                compile(expression).map_err(|reason| {
                    FilterError::field(name, "invalid expression").with_value(expression).with_detail(reason)
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { expressions: expressions.to_vec(), programs })
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        event.flow().is_some_and(|flow| self.evaluate(flow))
    }

    fn evaluate(&self, flow: &Flow) -> bool {
        // Flow's generated type has no reflection; its encoding plus the
        // descriptor does, and encoding is cheap. The buffer is reused.
        ENCODED.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut buffer) => {
                buffer.clear();
                flow.encode(&mut *buffer).expect("a Vec grows as needed");
                self.evaluate_encoded(&buffer)
            }
            Err(_) => self.evaluate_encoded(&flow.encode_to_vec()),
        })
    }

    fn evaluate_encoded(&self, encoded_flow: &[u8]) -> bool {
        let resolver = FlowResolver::new(encoded_flow);
        let mut context = Context::with_env(Arc::clone(&ENV));
        context.set_variable_resolver(&resolver);
        self.programs.iter().any(|program| matches!(program.execute(&context), Ok(cel::Value::Bool(true))))
    }
}

fn compile(expression: &str) -> Result<Program, String> {
    if expression.trim().is_empty() {
        return Err("empty expression".to_owned());
    }
    let program = ENV.compile(expression).map_err(|e| e.to_string().trim().to_owned())?;
    check_names(program.expression(), &mut Vec::new())?;
    if let Some(result) = non_bool_result(program.expression()) {
        return Err(format!("the result must be a bool, not {result}"));
    }
    // Without a type checker, evaluate against an empty flow: what it reveals
    // (unknown names, a result that is not a bool) holds for every flow.
    let resolver = FlowResolver::new(&[]);
    let mut context = Context::with_env(Arc::clone(&ENV));
    context.set_variable_resolver(&resolver);
    match program.execute(&context) {
        Ok(cel::Value::Bool(_)) => {}
        Ok(other) => {
            return Err(format!("the result must be a bool, not {}", other.type_of()));
        }
        Err(ExecutionError::UndeclaredReference(name)) => {
            return Err(format!("undeclared reference to `{name}`"));
        }
        Err(_) => {}
    }
    Ok(program)
}

/// The type of an expression that evidently is not a bool: a literal, a
/// field of `_flow`, arithmetic or a conversion. `None` when it may be a bool.
fn non_bool_result(expr: &IdedExpr) -> Option<String> {
    match &expr.expr {
        Expr::Literal(LiteralValue::Boolean(_)) => None,
        Expr::Literal(literal) => Some(literal.to_val().get_type().name().to_owned()),
        Expr::List(_) => Some("list".to_owned()),
        Expr::Map(_) => Some("map".to_owned()),
        Expr::Select(select) if !select.test => {
            let path = qualified_path(expr)?;
            let (root, fields) = path.split_first()?;
            if *root != FLOW_VARIABLE {
                return None;
            }
            let (last, parents) = fields.split_last()?;
            let mut message = FLOW.clone();
            for name in parents {
                message = message.get_field_by_name(name)?.kind().as_message()?.clone();
            }
            let field = message.get_field_by_name(last)?;
            Some(match field.kind() {
                _ if field.is_list() => "list".to_owned(),
                Kind::Bool => return None,
                Kind::Message(m) if m.full_name() == "google.protobuf.BoolValue" => return None,
                Kind::Message(m) => m.full_name().to_owned(),
                Kind::Enum(e) => format!("int ({})", e.full_name()),
                Kind::String => "string".to_owned(),
                Kind::Bytes => "bytes".to_owned(),
                Kind::Float | Kind::Double => "double".to_owned(),
                Kind::Uint32 | Kind::Uint64 | Kind::Fixed32 | Kind::Fixed64 => "uint".to_owned(),
                _ => "int".to_owned(),
            })
        }
        Expr::Call(call) => Some(
            match call.func_name.as_str() {
                "_+_" | "_-_" | "_*_" | "_/_" | "_%_" | "-_" => "a number",
                "size" | "int" => "int",
                "uint" => "uint",
                "double" => "double",
                "string" => "string",
                "bytes" => "bytes",
                "timestamp" => "timestamp",
                "duration" => "duration",
                _ => return None,
            }
            .to_owned(),
        ),
        _ => None,
    }
}

/// Checks the `_flow.…` field paths and `Enum.VALUE` names of `expr`.
/// `bound` holds the comprehension variables in scope, which may shadow them.
fn check_names(expr: &IdedExpr, bound: &mut Vec<String>) -> Result<(), String> {
    match &expr.expr {
        Expr::Select(select) => {
            if let Some(path) = qualified_path(expr) {
                return check_path(&path, bound);
            }
            check_names(&select.operand, bound)
        }
        Expr::Ident(name) if !bound.iter().any(|b| b == name) => check_path(&[name.as_str()], bound),
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                check_names(target, bound)?;
            }
            call.args.iter().try_for_each(|arg| check_names(arg, bound))
        }
        Expr::List(list) => list.elements.iter().try_for_each(|e| check_names(e, bound)),
        Expr::Map(map) => map.entries.iter().try_for_each(|entry| check_entry(&entry.expr, bound)),
        Expr::Struct(structure) => structure.entries.iter().try_for_each(|entry| check_entry(&entry.expr, bound)),
        Expr::Comprehension(comprehension) => {
            check_names(&comprehension.iter_range, bound)?;
            check_names(&comprehension.accu_init, bound)?;
            let scope = bound.len();
            bound.push(comprehension.iter_var.clone());
            bound.extend(comprehension.iter_var2.clone());
            bound.push(comprehension.accu_var.clone());
            let result = [&comprehension.loop_cond, &comprehension.loop_step, &comprehension.result]
                .into_iter()
                .try_for_each(|e| check_names(e, bound));
            bound.truncate(scope);
            result
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Ok(()),
    }
}

fn check_entry(entry: &EntryExpr, bound: &mut Vec<String>) -> Result<(), String> {
    match entry {
        EntryExpr::StructField(field) => check_names(&field.value, bound),
        EntryExpr::MapEntry(entry) => {
            check_names(&entry.key, bound)?;
            check_names(&entry.value, bound)
        }
    }
}

/// `a.b.c` as `[a, b, c]`, when `expr` is such a chain of selects (a `has()`
/// test included, as its last segment) on an identifier.
fn qualified_path(expr: &IdedExpr) -> Option<Vec<&str>> {
    let mut segments = Vec::new();
    let mut current = expr;
    loop {
        match &current.expr {
            Expr::Select(select) => {
                segments.push(select.field.as_str());
                current = &select.operand;
            }
            Expr::Ident(name) => {
                segments.push(name.as_str());
                segments.reverse();
                return Some(segments);
            }
            _ => return None,
        }
    }
}

fn check_path(path: &[&str], bound: &[String]) -> Result<(), String> {
    let (root, fields) = path.split_first().expect("a path has a root");
    if bound.iter().any(|b| b == root) {
        return Ok(());
    }
    if *root == FLOW_VARIABLE {
        return check_fields(fields);
    }
    // `Verdict.DROPPED`, `flow.Verdict.DROPPED`: the enum must have the value.
    let unqualified = if *root == PACKAGE && path.len() > 2 { &path[1..] } else { path };
    let enum_name = unqualified[..unqualified.len() - 1].join(".");
    if enum_name.is_empty() {
        return Ok(());
    }
    let Some(enumeration) = descriptors::pool().get_enum_by_name(&format!("{PACKAGE}.{enum_name}")) else {
        return Ok(());
    };
    let value = unqualified[unqualified.len() - 1];
    if enumeration.get_value_by_name(value).is_none() {
        let known: Vec<_> = enumeration.values().map(|v| v.name().to_owned()).collect();
        return Err(format!("{} has no value `{value}` (it has {})", enumeration.full_name(), known.join(", ")));
    }
    Ok(())
}

fn check_fields(fields: &[&str]) -> Result<(), String> {
    let mut message = FLOW.clone();
    let mut path = FLOW_VARIABLE.to_owned();
    let mut fields = fields.iter();
    while let Some(name) = fields.next() {
        let Some(field) = message.get_field_by_name(name) else {
            let known: Vec<_> = message.fields().map(|f| f.name().to_owned()).collect();
            return Err(format!(
                "`{path}` ({}) has no field `{name}`; its fields are {}",
                message.full_name(),
                known.join(", ")
            ));
        };
        path.push('.');
        path.push_str(name);
        match field.kind().as_message() {
            Some(next) if !field.is_list() && !is_scalar_message(next.full_name()) => message = next.clone(),
            _ => {
                if let Some(next) = fields.next() {
                    return Err(format!("`{path}` is not a message, so it has no field `{next}`"));
                }
            }
        }
    }
    Ok(())
}

/// Resolves `_flow` and enum value names.
struct FlowResolver<'a> {
    flow: MessageVal<'a>,
}

impl<'a> FlowResolver<'a> {
    fn new(encoded_flow: &'a [u8]) -> Self {
        Self { flow: MessageVal::new(encoded_flow, FLOW.clone()) }
    }
}

impl VariableResolver for FlowResolver<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        if variable == FLOW_VARIABLE {
            return Some(CowVal::Borrowed(&self.flow));
        }
        // Asked for every prefix of `_flow.a.b`; no enum value starts with `_`.
        if variable.starts_with('_') {
            return None;
        }
        ENUM_VALUES.get(variable).map(|number| CowVal::owned(CelInt::from(*number)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_values_by_qualified_name() {
        assert_eq!(ENUM_VALUES["Verdict.DROPPED"], 2);
        assert_eq!(ENUM_VALUES["flow.Verdict.DROPPED"], 2);
        assert_eq!(ENUM_VALUES["Tunnel.Protocol.VXLAN"], 1);
    }
}
