//! Spin's variable templates: literal text with `{{ name }}` references to
//! application variables (spaces inside the braces are optional).

use std::collections::BTreeMap;

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Variable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                bail!("unterminated `{{{{` in template");
            };
            let name = after[..end].trim();
            if !is_valid_name(name) {
                bail!("invalid variable reference `{{{{ {name} }}}}` in template (names are lower snake case)");
            }
            parts.push(Part::Variable(name.to_owned()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// The application variables this template refers to.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => match values.get(name) {
                    Some(value) => out.push_str(value),
                    None => bail!("no application variable named `{name}`"),
                },
            }
        }
        Ok(out)
    }
}

/// Spin's variable name rule: lower snake case, starting with a letter.
pub fn is_valid_name(name: &str) -> bool {
    validate_name(name).is_ok()
}

/// Spin's variable name rules, with Spin's wording for the `invalid-name`
/// error: lower-case letters, digits and single underscores, starting with a
/// letter and ending with a letter or digit.
pub fn validate_name(key: &str) -> Result<(), String> {
    let reason = if key.is_empty() {
        "must not be empty".to_owned()
    } else if let Some(invalid) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        format!("invalid character {invalid:?}. Variable names may contain only lower-case letters, numbers, and underscores.")
    } else if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
        "must start with a lowercase ASCII letter".to_owned()
    } else if !key.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        "must end with a lowercase ASCII letter or digit".to_owned()
    } else if key.contains("__") {
        "must not contain multiple consecutive underscores".to_owned()
    } else {
        return Ok(());
    };
    Err(format!("{key:?}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> BTreeMap<String, String> {
        [("host", "db.local:5432"), ("name", "auth")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn renders_references_with_and_without_spaces() {
        let t = Template::parse("postgres://{{ host }}/{{name}}?x=1").unwrap();
        assert_eq!(
            t.render(&values()).unwrap(),
            "postgres://db.local:5432/auth?x=1"
        );
        assert_eq!(t.references().collect::<Vec<_>>(), vec!["host", "name"]);
    }

    #[test]
    fn literal_only_template() {
        let t = Template::parse("plain text").unwrap();
        assert_eq!(t.render(&BTreeMap::new()).unwrap(), "plain text");
        assert_eq!(
            Template::parse("")
                .unwrap()
                .render(&BTreeMap::new())
                .unwrap(),
            ""
        );
    }

    #[test]
    fn unknown_reference_fails_to_render() {
        let t = Template::parse("{{ missing }}").unwrap();
        let err = t.render(&values()).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn malformed_templates_are_refused() {
        assert!(Template::parse("{{ host").is_err());
        assert!(Template::parse("{{ Host }}").is_err());
        assert!(Template::parse("{{ }}").is_err());
        assert!(Template::parse("{{ a-b }}").is_err());
    }

    #[test]
    fn name_rules() {
        assert!(is_valid_name("jwt_private_key"));
        assert!(is_valid_name("a1"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("1a"));
        assert!(!is_valid_name("_a"));
        assert!(!is_valid_name("A"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name("a_"));
        assert!(!is_valid_name("a__b"));
        assert_eq!(
            validate_name("Bad").unwrap_err(),
            "\"Bad\": invalid character 'B'. Variable names may contain only lower-case letters, numbers, and underscores."
        );
    }
}
