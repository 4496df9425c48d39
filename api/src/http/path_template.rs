//! A path template of the spec (`/api/v1/report-history/{report_id}`) matched against a request's
//! path the way the router matches it, for the layers that read the spec before routing (`Allow`
//! on a 405, the required query parameters).

/// The template's segments; `None` stands for a variable (`{id}`, or poem's `:id`).
pub(crate) struct PathTemplate(Vec<Option<String>>);

impl PathTemplate {
    pub(crate) fn parse(template: &str) -> Self {
        let segments = template
            .split('/')
            .map(|s| {
                let variable = s.starts_with('{') || s.starts_with(':');
                (!variable).then(|| s.to_string())
            })
            .collect();
        PathTemplate(segments)
    }

    /// How many literal segments match `path`, or `None` when it does not match: a literal
    /// segment beats a variable one, as in the router, so the most literal match wins.
    fn literal_match(&self, path: &str) -> Option<usize> {
        let mut parts = path.split('/');
        let mut literal = 0;
        for segment in &self.0 {
            let part = parts.next()?;
            match segment {
                Some(text) if text == part => literal += 1,
                Some(_) => return None,
                None if part.is_empty() => return None,
                None => {}
            }
        }
        parts.next().is_none().then_some(literal)
    }
}

/// The item of the template that matches `path` best, if any matches.
pub(crate) fn best_match<'a, T>(
    items: impl IntoIterator<Item = (&'a PathTemplate, T)>,
    path: &str,
) -> Option<T> {
    items
        .into_iter()
        .filter_map(|(template, item)| Some((template.literal_match(path)?, item)))
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, item)| item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_literal_template_wins_and_variables_need_a_value() {
        let by_id = PathTemplate::parse("/api/v1/exports/{id}");
        let watch = PathTemplate::parse("/api/v1/exports/watch");
        let both = [(&by_id, "by id"), (&watch, "watch")];
        assert_eq!(best_match(both, "/api/v1/exports/watch"), Some("watch"));
        assert_eq!(best_match(both, "/api/v1/exports/exp_1"), Some("by id"));
        assert_eq!(best_match(both, "/api/v1/exports/"), None);
        assert_eq!(best_match(both, "/api/v1/exports/exp_1/file"), None);
        assert_eq!(best_match(both, "/api/v1"), None);
    }
}
