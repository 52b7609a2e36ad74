//! Where a field that carries no span of its own is written: its key found
//! by its dotted path in the runbook's text.

/// Finds the line and column of a key path (`checks`, `web`) in block-style
/// YAML: each key is looked for after its parent, indented deeper. Sequence
/// indexes (`0]`) step over `- ` items. Good enough to point a reader at the
/// right line for fields that carry no span of their own.
pub(crate) fn locate_key(text: &str, path: &[&str]) -> Option<(u64, u64)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut parent_indent: i64 = -1;
    let mut found = None;
    for segment in path {
        if let Some(index) = segment
            .strip_suffix(']')
            .and_then(|i| i.parse::<usize>().ok())
        {
            let mut seen = 0;
            let hit = (from..lines.len()).find(|&n| {
                let trimmed = lines[n].trim_start();
                let indent = (lines[n].len() - trimmed.len()) as i64;
                if indent > parent_indent && trimmed.starts_with("- ") {
                    seen += 1;
                    return seen == index + 1;
                }
                false
            })?;
            let indent = lines[hit].len() - lines[hit].trim_start().len();
            found = Some((hit as u64 + 1, indent as u64 + 1));
            from = hit;
            parent_indent = indent as i64;
            continue;
        }
        let hit = (from..lines.len()).find_map(|n| {
            let line = lines[n];
            let content = line.trim_start_matches([' ', '-']);
            let indent = (line.len() - content.len()) as i64;
            if indent <= parent_indent && n > from {
                return None;
            }
            // The key plain, or quoted as YAML quotes a key with spaces.
            [
                segment.to_string(),
                format!("\"{segment}\""),
                format!("'{segment}'"),
            ]
            .iter()
            .filter_map(|written| content.strip_prefix(written.as_str()))
            .any(|rest| rest.trim_start().starts_with(':'))
            .then_some((n, indent))
        })?;
        found = Some((hit.0 as u64 + 1, hit.1 as u64 + 1));
        from = hit.0 + 1;
        parent_indent = hit.1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::locate_key;

    #[test]
    fn keys_are_found_under_their_parent() {
        let text = "version: 1\nservices:\n  web: {}\nchecks:\n  web:\n    hint: x\n";
        assert_eq!(locate_key(text, &["checks", "web"]), Some((5, 3)));
        assert_eq!(locate_key(text, &["services", "web"]), Some((3, 3)));
        assert_eq!(locate_key(text, &["checks", "api"]), None);
    }

    #[test]
    fn quoted_keys_are_found() {
        let text = "hosts:\n  \"my host\": {}\n  '../x': {}\n";
        assert_eq!(locate_key(text, &["hosts", "my host"]), Some((2, 3)));
        assert_eq!(locate_key(text, &["hosts", "../x"]), Some((3, 3)));
    }

    #[test]
    fn sequence_items_are_counted() {
        let text = "procedures:\n  p:\n    steps:\n      - note: a\n      - wait: 1s\n";
        assert_eq!(
            locate_key(text, &["procedures", "p", "steps", "1]"]),
            Some((5, 7))
        );
    }
}
