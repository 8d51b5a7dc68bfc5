//! The one error every run-option check returns, and the rule each front end spells option names
//! by. A leaf: the error types of every crate wrap it, and the options structs use it.

use std::error::Error;

/// A run option outside its domain. `field` is the options struct's field name (`bandwidth_rule`);
/// front ends show it with [`OptionError::message`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct OptionError {
    pub field: String,
    pub reason: String,
}

impl OptionError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        OptionError { field: field.into(), reason: reason.into() }
    }

    /// The message with the field spelled as `front_end` spells its options.
    pub fn message(&self, front_end: FrontEnd) -> String {
        format!("{}: {}", front_end.spell(&self.field), self.reason)
    }

    /// The first option error in `err`'s source chain (libraries wrap it in their own errors).
    pub fn find<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a OptionError> {
        let mut cur = Some(err);
        while let Some(e) = cur {
            if let Some(o) = e.downcast_ref::<OptionError>() {
                return Some(o);
            }
            cur = e.source();
        }
        None
    }

    /// `text` (a whole error report) with this error's field respelled for `front_end`.
    pub fn respell(&self, text: &str, front_end: FrontEnd) -> String {
        text.replacen(&self.to_string(), &self.message(front_end), 1)
    }
}

/// A front end, for the spelling of option names: the one rule that maps a field to a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontEnd {
    /// `--bandwidth-rule`
    Cli,
    /// `bandwidth_rule`
    Python,
}

impl FrontEnd {
    pub fn spell(self, field: &str) -> String {
        match self {
            FrontEnd::Cli => format!("--{}", field.replace('_', "-")),
            FrontEnd::Python => field.to_string(),
        }
    }
}
