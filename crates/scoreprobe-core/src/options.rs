//! Run options declared once. Each run (`siem`, `hodge`, `bounds`, `sample`) has one options
//! struct whose fields are derived for clap (the CLI flattens it into its subcommand) and for serde
//! (the Python module deserialises its keyword options into it). This module holds what they
//! share: the defaults (clap's, see [`clap_defaults`]), the schema the front ends are checked
//! against ([`option_specs`]), and the one error every option check returns ([`OptionError`]),
//! which each front end spells its own way ([`FrontEnd`]).

use serde::Serialize;

pub use crate::option_error::{FrontEnd, OptionError};

/// The defaults of an options struct: clap's parse of an empty argument list. The defaults are
/// declared once, in the `#[arg(default_value…)]` attributes, because those are what `--help`
/// shows; `Default` (and so serde's `#[serde(default)]`, Python's keyword defaults and the stubs'
/// check) is built from them here.
pub fn clap_defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    // an options struct has no required argument (its unit tests build every Default)
    let matches = cmd.try_get_matches_from(std::iter::empty::<&str>()).expect("options have no required argument");
    T::from_arg_matches(&matches).expect("clap builds the options it declared")
}

/// One option of a run as every front end must show it: its field name and its default (JSON:
/// `null` for an option without one).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptionSpec {
    pub name: String,
    pub default: serde_json::Value,
    /// The field's doc comment (the CLI's help line).
    pub help: String,
    /// Its type in the Python stubs (`_core.pyi` is generated from these).
    pub python_type: String,
}

/// The options of `T` in declaration order: names from clap's arguments, defaults from serde's
/// form of `T::default()`. An option that serde does not name like clap is an error (the test of
/// each options struct calls this).
pub fn option_specs<T: clap::Args + Serialize + Default>() -> Result<Vec<OptionSpec>, String> {
    let defaults = serde_json::to_value(T::default()).map_err(|e| e.to_string())?;
    let cmd = T::augment_args(clap::Command::new("options"));
    let args: Vec<_> = cmd.get_arguments().filter(|a| a.get_long().is_some()).collect();
    let object = defaults.as_object().ok_or("options must serialise as a map")?;
    if let Some(extra) = object.keys().find(|k| !args.iter().any(|a| a.get_id() == k.as_str())) {
        return Err(format!("serde field '{extra}' is not a clap argument"));
    }
    args.iter()
        .map(|a| {
            let name = a.get_id().as_str();
            let default = object.get(name).ok_or_else(|| format!("clap argument '{name}' is not a serde field"))?;
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            let python_type = python_type(a, default);
            Ok(OptionSpec { name: name.to_string(), default: default.clone(), help, python_type })
        })
        .collect()
}

/// The Python type of an option: from clap's value parser (its Rust type, its possible values),
/// optional when its default is `None`.
fn python_type(arg: &clap::Arg, default: &serde_json::Value) -> String {
    use std::any::TypeId;
    let id = arg.get_value_parser().type_id();
    let choices: Vec<String> = arg.get_possible_values().iter().map(|v| format!("\"{}\"", v.get_name())).collect();
    let base = if id == TypeId::of::<bool>() {
        "bool".to_string()
    } else if !choices.is_empty() {
        format!("Literal[{}]", choices.join(", "))
    } else if id == TypeId::of::<usize>() || id == TypeId::of::<u64>() {
        "int".into()
    } else if id == TypeId::of::<f64>() {
        "float".into()
    } else if id == TypeId::of::<crate::window::Window>() {
        // "900..999", (900, 999) or range(900, 1000)
        return "Union[str, Tuple[int, int], range, None]".into();
    } else if id == TypeId::of::<crate::shard::Shard>() {
        // "2/4" or (2, 4)
        return "Union[str, Tuple[int, int], None]".into();
    } else if id == TypeId::of::<std::path::PathBuf>() {
        "_Path".into()
    } else {
        "str".into()
    };
    let base = if matches!(arg.get_action(), clap::ArgAction::Append) { format!("Sequence[{base}]") } else { base };
    if default.is_null() {
        format!("Optional[{base}]")
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Args, Serialize, Debug, PartialEq)]
    struct Demo {
        /// A number.
        #[arg(long, default_value_t = 3)]
        count: usize,
        #[arg(long)]
        bandwidth_rule: Option<String>,
    }

    impl Default for Demo {
        fn default() -> Self {
            clap_defaults()
        }
    }

    #[test]
    fn defaults_come_from_clap_and_fields_are_spelled_per_front_end() {
        assert_eq!(Demo::default(), Demo { count: 3, bandwidth_rule: None });
        let specs = option_specs::<Demo>().unwrap();
        assert_eq!(specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["count", "bandwidth_rule"]);
        assert_eq!((specs[0].default.clone(), specs[0].help.as_str()), (serde_json::json!(3), "A number"));
        assert_eq!((specs[0].python_type.as_str(), specs[1].python_type.as_str()), ("int", "Optional[str]"));
        let e = OptionError::new("bandwidth_rule", "must be positive");
        assert_eq!(e.message(FrontEnd::Cli), "--bandwidth-rule: must be positive");
        assert_eq!(e.message(FrontEnd::Python), "bandwidth_rule: must be positive");
        let wrapped = crate::CoreError::from(e.clone());
        assert_eq!(OptionError::find(&wrapped), Some(&e));
        assert_eq!(
            e.respell(&format!("spec.json: {wrapped}"), FrontEnd::Cli),
            "spec.json: --bandwidth-rule: must be positive"
        );
    }

    #[derive(clap::Args, Serialize, Default)]
    struct Renamed {
        #[arg(long)]
        #[serde(rename = "other")]
        count: Option<usize>,
    }

    #[test]
    fn a_serde_name_that_is_not_clap_s_is_refused() {
        assert!(option_specs::<Renamed>().unwrap_err().contains("other"));
    }
}
