//! Executes the JSON conformance scenarios (`tests/data/conformance/*.json`, plus any
//! files named in `VARSCOPE_CONFORMANCE`, separated by `:`) through the public API
//! and compares the trace with what TensorFlow recorded. See
//! `../shared/conformance/FORMAT.md` for the format.

use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use varscope::partition::Partitioner;
use varscope::partition::{
    FixedSizePartitioner, MinMaxVariablePartitioner, VariableAxisSizePartitioner,
};
use varscope::{
    get_variable, get_variable_scope, make_template, name_scope, variable, variable_scope,
    variable_scope_default, AnyVariable, CustomGetter, DType, Error, Graph, Init, Regularizer,
    Reuse, Template, Tensor, VariableScope, GLOBAL_VARIABLES, LOCAL_VARIABLES, TRAINABLE_VARIABLES,
};

#[derive(Clone)]
enum Label {
    Scope(VariableScope),
    Var(AnyVariable),
    #[allow(dead_code)] // bound for completeness; no step reads a name-scope label
    NameScope(String),
    Template(Template<()>),
}

/// A failure of the runner itself (unknown step kind or spec): fails the scenario.
#[derive(Debug)]
struct Unsupported(String);

struct Run {
    graph: Graph,
    labels: Mutex<HashMap<String, Label>>,
    trace: Mutex<Vec<Value>>,
    unsupported: Mutex<Option<String>>,
}

type StepResult = Result<(), StepError>;

enum StepError {
    Lib(Error),
    Unsupported(Unsupported),
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Lib(e)
    }
}
impl From<Unsupported> for StepError {
    fn from(e: Unsupported) -> Self {
        StepError::Unsupported(e)
    }
}

fn unsupported<T>(what: impl Into<String>) -> Result<T, Unsupported> {
    Err(Unsupported(what.into()))
}

fn reuse_json(r: Reuse) -> Value {
    match r {
        Reuse::No => json!(false),
        Reuse::Yes => json!(true),
        Reuse::Auto => json!("auto"),
    }
}

fn parse_reuse(v: Option<&Value>) -> Result<Reuse, Unsupported> {
    match v {
        None | Some(Value::Bool(false)) | Some(Value::Null) => Ok(Reuse::No),
        Some(Value::Bool(true)) => Ok(Reuse::Yes),
        Some(Value::String(s)) if s == "auto" => Ok(Reuse::Auto),
        Some(other) => unsupported(format!("reuse {other}")),
    }
}

fn parse_dtype(v: &Value) -> Result<DType, Unsupported> {
    v.as_str()
        .and_then(DType::from_name)
        .map_or_else(|| unsupported(format!("dtype {v}")), Ok)
}

fn f(v: &Value, key: &str, default: f64) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(default)
}

fn flatten(
    v: &Value,
    shape: &mut Vec<usize>,
    depth: usize,
    out: &mut Vec<f64>,
) -> Result<(), Unsupported> {
    match v {
        Value::Array(items) => {
            if shape.len() == depth {
                shape.push(items.len());
            } else if shape[depth] != items.len() {
                return unsupported("ragged value");
            }
            for i in items {
                flatten(i, shape, depth + 1, out)?;
            }
            Ok(())
        }
        Value::Number(n) => {
            out.push(n.as_f64().unwrap_or(0.0));
            Ok(())
        }
        Value::Bool(b) => {
            out.push(if *b { 1.0 } else { 0.0 });
            Ok(())
        }
        other => unsupported(format!("value element {other}")),
    }
}

fn parse_init(spec: &Value) -> Result<Init, Unsupported> {
    let kind = spec.get("kind").and_then(Value::as_str).unwrap_or("");
    let seed = spec.get("seed").and_then(Value::as_u64);
    let init = match kind {
        "constant" => match spec.get("value") {
            Some(Value::Array(_)) => {
                let (mut shape, mut vals) = (Vec::new(), Vec::new());
                flatten(&spec["value"], &mut shape, 0, &mut vals)?;
                Init::constant_list(vals)
            }
            // A constant keeps the JSON type it is written in: `2`, `2.0`, `true`.
            Some(Value::Bool(b)) => Init::constant(*b),
            Some(v) => match v.as_i64() {
                Some(i) if !v.is_f64() => Init::constant(i),
                _ => Init::constant(v.as_f64().unwrap_or(0.0)),
            },
            None => Init::constant(0.0),
        },
        "zeros" => Init::zeros(),
        "ones" => Init::ones(),
        "random_normal" => Init::random_normal(f(spec, "mean", 0.0), f(spec, "stddev", 1.0)),
        "random_uniform" => Init::random_uniform(f(spec, "minval", 0.0), f(spec, "maxval", 1.0)),
        "truncated_normal" => Init::truncated_normal(f(spec, "mean", 0.0), f(spec, "stddev", 1.0)),
        "glorot_uniform" => Init::glorot_uniform(),
        "value" => {
            let (mut shape, mut vals) = (Vec::new(), Vec::new());
            flatten(&spec["value"], &mut shape, 0, &mut vals)?;
            let dtype = match spec.get("dtype") {
                Some(d) => parse_dtype(d)?,
                None => DType::F32,
            };
            let t = Tensor::from_vec(vals, shape).map_err(|e| Unsupported(e.to_string()))?;
            Init::from_value(t.cast(dtype))
        }
        other => return unsupported(format!("initializer kind {other:?}")),
    };
    Ok(match seed {
        Some(s) => init.with_seed(s),
        None => init,
    })
}

fn parse_partitioner(spec: &Value) -> Result<Arc<dyn Partitioner>, Unsupported> {
    let kind = spec.get("kind").and_then(Value::as_str).unwrap_or("");
    let u = |k: &str, d: u64| spec.get(k).and_then(Value::as_u64).unwrap_or(d) as usize;
    match kind {
        "fixed_size" => Ok(Arc::new(FixedSizePartitioner::new(
            u("num_shards", 1),
            u("axis", 0),
        ))),
        "variable_axis_size" => VariableAxisSizePartitioner::new(
            u("max_shard_bytes", 1),
            u("axis", 0),
            16,
            spec.get("max_shards")
                .and_then(Value::as_u64)
                .map(|m| m as usize),
        )
        .map(|p| Arc::new(p) as Arc<dyn Partitioner>)
        .map_err(|e| Unsupported(e.to_string())),
        "min_max_variable" => MinMaxVariablePartitioner::new(
            u("max_partitions", 1),
            u("axis", 0),
            u("min_slice_size", 256 << 10),
            16,
        )
        .map(|p| Arc::new(p) as Arc<dyn Partitioner>)
        .map_err(|e| Unsupported(e.to_string())),
        other => unsupported(format!("partitioner kind {other:?}")),
    }
}

impl Run {
    fn emit(&self, at: &str, ev: Value) {
        let mut m = Map::new();
        m.insert("at".into(), json!(at));
        if let Value::Object(o) = ev {
            m.extend(o);
        }
        self.trace.lock().unwrap().push(Value::Object(m));
    }

    fn label(&self, name: &str) -> Result<Label, Unsupported> {
        self.labels
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .map_or_else(|| unsupported(format!("unknown label {name:?}")), Ok)
    }

    fn bind(&self, s: &Value, l: Label) {
        if let Some(a) = s.get("as").and_then(Value::as_str) {
            self.labels.lock().unwrap().insert(a.to_string(), l);
        }
    }

    fn getter(self: &Arc<Self>, spec: &Value, at: &str) -> Result<CustomGetter, Unsupported> {
        let kind = spec
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let label = spec
            .get("label")
            .and_then(Value::as_str)
            .unwrap_or(&kind)
            .to_string();
        let suffix = spec
            .get("suffix")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if kind != "suffix" && kind != "record" {
            return unsupported(format!("custom getter kind {kind:?}"));
        }
        let run = Arc::downgrade(self);
        let at = at.to_string();
        Ok(CustomGetter::new(move |next, mut args| {
            if let Some(run) = run.upgrade() {
                run.emit(&at, json!({"getter": label, "name": args.name}));
            }
            if kind == "suffix" {
                args.name.push_str(&suffix);
            }
            next.get(args)
        }))
    }

    fn steps(self: &Arc<Self>, steps: &Value, prefix: &str) {
        if let Some(list) = steps.as_array() {
            for (i, s) in list.iter().enumerate() {
                let at = format!("{prefix}{i}");
                match self.step(s, &at) {
                    Ok(()) => {}
                    Err(StepError::Lib(e)) => self.emit(
                        &at,
                        json!({"error": e.kind().as_str(), "message": e.to_string()}),
                    ),
                    Err(StepError::Unsupported(u)) => {
                        self.unsupported
                            .lock()
                            .unwrap()
                            .get_or_insert(format!("at {at}: {}", u.0));
                    }
                }
            }
        }
    }

    fn scope_event(&self, vs: &VariableScope) -> Value {
        json!({
            "scope": vs.name(),
            "original_name_scope": vs.original_name_scope(),
            "reuse": reuse_json(vs.reuse()),
            "name_scope": self.graph.name_stack(),
        })
    }

    fn var_event(&self, v: &AnyVariable, s: &Value) -> Result<Value, Error> {
        let mut ev = Map::new();
        match v {
            AnyVariable::Single(x) => {
                ev.insert("name".into(), json!(x.name()));
            }
            AnyVariable::Partitioned(p) => {
                ev.insert("name".into(), json!(p.name()));
                let shards: Vec<Value> = p
                    .shards()
                    .iter()
                    .map(|sh| {
                        json!({
                            "name": sh.name(),
                            "shape": sh.shape().dims(),
                            "offset": sh.save_slice_info().map(|i| i.offset.clone()).unwrap_or_default(),
                        })
                    })
                    .collect();
                ev.insert("shards".into(), Value::Array(shards));
            }
        }
        ev.insert("shape".into(), json!(v.shape().dims()));
        ev.insert("dtype".into(), json!(v.dtype().name()));
        let mut same: Vec<String> = self
            .labels
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, l)| matches!(l, Label::Var(o) if o == v))
            .map(|(k, _)| k.clone())
            .collect();
        same.sort();
        ev.insert("same_as".into(), json!(same));
        if s.get("read").and_then(Value::as_bool).unwrap_or(false) {
            self.graph.initialize_all()?;
            let t = v.value()?;
            let vals: Vec<Value> = match t.dtype() {
                DType::Bool => t.to_f64_vec().iter().map(|x| json!(*x != 0.0)).collect(),
                DType::I32 | DType::I64 => {
                    t.to_f64_vec().iter().map(|x| json!(*x as i64)).collect()
                }
                _ => t.to_f64_vec().iter().map(|x| json!(x)).collect(),
            };
            ev.insert("values".into(), Value::Array(vals));
        }
        Ok(Value::Object(ev))
    }

    fn step(self: &Arc<Self>, s: &Value, at: &str) -> StepResult {
        let kind = s.get("do").and_then(Value::as_str).unwrap_or("");
        let body = s.get("body").cloned().unwrap_or(Value::Array(vec![]));
        match kind {
            "variable_scope" => {
                let mut b = if let Some(l) = s.get("scope").and_then(Value::as_str) {
                    match self.label(l)? {
                        Label::Scope(vs) => variable_scope(&vs),
                        _ => {
                            return Err(unsupported::<()>(format!("label {l} is not a scope"))
                                .unwrap_err()
                                .into())
                        }
                    }
                } else if let Some(n) = s.get("name").and_then(Value::as_str) {
                    let b = variable_scope(n);
                    match s.get("default_name").and_then(Value::as_str) {
                        Some(d) => b.default_name(d),
                        None => b,
                    }
                } else if let Some(d) = s.get("default_name").and_then(Value::as_str) {
                    variable_scope_default(d)
                } else {
                    return Err(unsupported::<()>(
                        "variable_scope without name, scope or default_name",
                    )
                    .unwrap_err()
                    .into());
                };
                b = b.reuse(parse_reuse(s.get("reuse"))?);
                if let Some(i) = s.get("initializer") {
                    b = b.initializer(parse_init(i)?);
                }
                if let Some(d) = s.get("dtype") {
                    b = b.dtype(parse_dtype(d)?);
                }
                if let Some(p) = s.get("partitioner") {
                    b = b.partitioner_arc(parse_partitioner(p)?);
                }
                if let Some(g) = s.get("custom_getter") {
                    b = b.custom_getter(self.getter(g, at)?);
                }
                if let Some(a) = s.get("auxiliary_name_scope") {
                    b = b.auxiliary_name_scope(a.as_bool().unwrap_or(true));
                }
                let me = self.clone();
                b.enter(|vs| {
                    me.bind(s, Label::Scope(vs.clone()));
                    me.emit(at, me.scope_event(vs));
                    me.steps(&body, &format!("{at}."));
                })?;
            }
            "name_scope" => {
                let name = match s.get("name") {
                    Some(Value::String(n)) => n.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(Value::Object(o)) => {
                        let l = o
                            .get("original_name_scope_of")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        match self.label(l)? {
                            Label::Scope(vs) => vs.original_name_scope(),
                            _ => return Err(unsupported::<()>("not a scope").unwrap_err().into()),
                        }
                    }
                    Some(other) => {
                        return Err(unsupported::<()>(format!("name_scope name {other}"))
                            .unwrap_err()
                            .into())
                    }
                };
                let me = self.clone();
                name_scope(&name, |ns| {
                    me.bind(s, Label::NameScope(ns.to_string()));
                    me.emit(at, json!({"name_scope": ns}));
                    me.steps(&body, &format!("{at}."));
                })?;
            }
            "get_variable" => {
                let name = s.get("name").and_then(Value::as_str).unwrap_or("");
                let mut b = get_variable(name);
                if let Some(sh) = s.get("shape") {
                    let dims: Vec<i64> = sh
                        .as_array()
                        .map(|a| a.iter().map(|d| d.as_i64().unwrap_or(-1)).collect())
                        .unwrap_or_default();
                    b = b.shape(dims);
                }
                if let Some(d) = s.get("dtype") {
                    b = b.dtype(parse_dtype(d)?);
                }
                if let Some(i) = s.get("initializer") {
                    b = b.initializer(parse_init(i)?);
                }
                if let Some(p) = s.get("partitioner") {
                    b = b.partitioner_arc(parse_partitioner(p)?);
                }
                if let Some(t) = s.get("trainable").and_then(Value::as_bool) {
                    b = b.trainable(t);
                }
                if let Some(c) = s.get("collections").and_then(Value::as_array) {
                    let cols: Vec<String> = c
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|k| match k {
                            "global_variables" => GLOBAL_VARIABLES.to_string(),
                            "local_variables" => LOCAL_VARIABLES.to_string(),
                            other => other.to_string(),
                        })
                        .collect();
                    b = b.collections(cols);
                }
                if let Some(g) = s.get("custom_getter") {
                    b = b.custom_getter(self.getter(g, at)?);
                }
                if let Some(r) = s.get("regularizer") {
                    let scale = f(r, "scale", 1.0);
                    b = b.regularizer(Regularizer::new(move |t| {
                        t.to_f64_vec().iter().sum::<f64>() * scale
                    }));
                }
                let v = b.build_any()?;
                let ev = self.var_event(&v, s)?;
                self.bind(s, Label::Var(v));
                self.emit(at, ev);
            }
            "variable" => {
                let shape: Vec<usize> = s
                    .get("shape")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(|d| d.as_u64().unwrap_or(0) as usize).collect())
                    .unwrap_or_else(|| vec![1]);
                // TF's `tf.Variable(tf.zeros(shape), name=…)`: the `zeros` op comes first.
                self.graph.create_op("Fill", Some("zeros"))?;
                let init = Tensor::zeros(DType::F32, &varscope::Shape::new(shape)?);
                let mut b = variable(init)
                    .trainable(s.get("trainable").and_then(Value::as_bool).unwrap_or(true));
                if let Some(n) = s.get("name").and_then(Value::as_str) {
                    b = b.name(n);
                }
                let v = b.build()?;
                self.bind(s, Label::Var(AnyVariable::Single(v.clone())));
                self.emit(at, json!({"name": v.name()}));
            }
            "op" => {
                let op = self
                    .graph
                    .create_op("Const", s.get("name").and_then(Value::as_str))?;
                self.emit(at, json!({"op": op}));
            }
            "reuse_variables" => {
                let sc = match s.get("scope").and_then(Value::as_str) {
                    Some(l) => match self.label(l)? {
                        Label::Scope(vs) => vs,
                        _ => return Err(unsupported::<()>("not a scope").unwrap_err().into()),
                    },
                    None => get_variable_scope(),
                };
                sc.reuse_variables();
                self.emit(at, json!({"reuse": reuse_json(sc.reuse())}));
            }
            "current_scope" => {
                let vs = get_variable_scope();
                self.bind(s, Label::Scope(vs.clone()));
                self.emit(at, self.scope_event(&vs));
            }
            "collection" => {
                let key = s.get("key").and_then(Value::as_str).unwrap_or("");
                let real = match key {
                    "global_variables" => GLOBAL_VARIABLES,
                    "trainable_variables" => TRAINABLE_VARIABLES,
                    "local_variables" => LOCAL_VARIABLES,
                    "regularization_losses" => {
                        let n = self.graph.regularization_losses().len();
                        self.emit(at, json!({"count": n}));
                        return Ok(());
                    }
                    other => {
                        return Err(unsupported::<()>(format!("collection {other}"))
                            .unwrap_err()
                            .into())
                    }
                };
                let names: Vec<String> = self
                    .graph
                    .get_collection(real)
                    .iter()
                    .map(|v| v.name())
                    .collect();
                self.emit(at, json!({"names": names}));
            }
            "thread" => {
                let me = self.clone();
                let prefix = format!("{at}.");
                let h = std::thread::spawn(move || {
                    let g = me.graph.clone();
                    g.as_default(|| me.steps(&body, &prefix));
                });
                if h.join().is_err() {
                    return Err(unsupported::<()>("thread body panicked")
                        .unwrap_err()
                        .into());
                }
                self.emit(at, json!({"joined": true}));
            }
            "make_template" => {
                let name = s
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let calls = Arc::new(Mutex::new(0usize));
                let run = Arc::downgrade(self);
                let at_owned = at.to_string();
                let mut b = make_template(&name, move || {
                    let k = {
                        let mut c = calls.lock().unwrap();
                        *c += 1;
                        *c - 1
                    };
                    if let Some(run) = run.upgrade() {
                        run.steps(&body, &format!("{at_owned}.call{k}."));
                    }
                    Ok(())
                })
                .create_scope_now(
                    s.get("create_scope_now")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                );
                if let Some(u) = s.get("unique_name").and_then(Value::as_str) {
                    b = b.unique_name(u);
                }
                let t = b.build()?;
                self.bind(s, Label::Template(t));
                self.emit(at, json!({"template": name}));
            }
            "call_template" => {
                let l = s.get("template").and_then(Value::as_str).unwrap_or("");
                let t = match self.label(l)? {
                    Label::Template(t) => t,
                    _ => return Err(unsupported::<()>("not a template").unwrap_err().into()),
                };
                t.call()?;
                let name = t.variable_scope().map(|v| v.name()).unwrap_or_default();
                self.emit(at, json!({"scope": name}));
            }
            other => {
                return Err(unsupported::<()>(format!("unknown step kind {other:?}"))
                    .unwrap_err()
                    .into())
            }
        }
        Ok(())
    }
}

fn values_match(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-6 || (x - y).abs() <= 1e-6 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_match(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_match(v, w)))
        }
        _ => a == b,
    }
}

fn strip_tf_error_details(ev: &Value) -> Value {
    let mut ev = ev.clone();
    if let Value::Object(o) = &mut ev {
        if o.contains_key("error") {
            o.remove("type");
            o.remove("message");
        }
    }
    ev
}

fn run_scenario(sc: &Value) -> Result<(), String> {
    let graph = match sc.get("graph_seed").and_then(Value::as_u64) {
        Some(s) => Graph::with_seed(s),
        None => Graph::new(),
    };
    let run = Arc::new(Run {
        graph: graph.clone(),
        labels: Mutex::new(HashMap::new()),
        trace: Mutex::new(Vec::new()),
        unsupported: Mutex::new(None),
    });
    let steps = sc.get("steps").cloned().unwrap_or(Value::Array(vec![]));
    graph.as_default(|| run.steps(&steps, ""));
    if let Some(u) = run.unsupported.lock().unwrap().clone() {
        return Err(format!("runner does not support: {u}"));
    }
    let got: Vec<Value> = run
        .trace
        .lock()
        .unwrap()
        .iter()
        .map(strip_tf_error_details)
        .collect();
    let expected: Vec<Value> = sc
        .get("expect")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(strip_tf_error_details)
        .collect();
    for i in 0..expected.len().max(got.len()) {
        let (e, g) = (expected.get(i), got.get(i));
        let same = matches!((e, g), (Some(e), Some(g)) if values_match(e, g));
        if !same {
            let show =
                |v: Option<&Value>| v.map_or_else(|| "<nothing>".to_string(), Value::to_string);
            let msg = got.get(i).and_then(|g| {
                run.trace
                    .lock()
                    .unwrap()
                    .get(i)
                    .and_then(|r| r.get("message"))
                    .filter(|_| g.get("error").is_some())
                    .cloned()
            });
            return Err(format!(
                "event {i}: expected {} vs got {}{}",
                show(e),
                show(g),
                msg.map(|m| format!(" (message: {m})")).unwrap_or_default()
            ));
        }
    }
    Ok(())
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    if let Ok(extra) = std::env::var("VARSCOPE_CONFORMANCE") {
        files.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
    }
    files
}

fn main() {
    let (mut passed, mut failed) = (0usize, 0usize);
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for file in scenario_files() {
        let doc: Value = match std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(d) => d,
            Err(e) => {
                println!("FAIL {}: cannot read scenario file: {e}", file.display());
                failed += 1;
                continue;
            }
        };
        for sc in doc
            .get("scenarios")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let name = sc
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("<unnamed>")
                .to_string();
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            let r = std::panic::catch_unwind(|| run_scenario(&sc))
                .unwrap_or_else(|_| Err("the scenario panicked".to_string()));
            match r {
                Ok(()) => {
                    println!("PASS {name}");
                    passed += 1;
                }
                Err(e) => {
                    println!("FAIL {name}: {e}");
                    failed += 1;
                }
            }
        }
    }
    println!("conformance: {passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        std::process::exit(1);
    }
}
