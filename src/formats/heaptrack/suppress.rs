//! LeakSanitizer-style suppressions as heaptrack applies them (`leak:<pattern>`; `*` wildcards,
//! `^`/`$` anchors, substring match otherwise; matched against every string: function, file and
//! module names).

/// heaptrack's built-in suppressions (libc, the dynamic linker, glib).
pub const BUILTIN: [&str; 7] = [
    "__nss_module_allocate",
    "__gconv_read_conf",
    "__new_exitfn",
    "tzset_internal",
    "dl_open_worker",
    "g_main_context_new",
    "g_thread_self",
];

/// One suppression line. `Ok(None)` for comments and blank lines. An invalid line (no `leak:`)
/// is `Err(line)`: heaptrack 1.4 keeps such a line as an empty pattern, which matches every
/// string, and leakdiff does the same so its numbers equal heaptrack_print's.
pub fn parse_line(line: &str) -> Result<Option<String>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        Ok(None)
    } else if let Some(p) = t.strip_prefix("leak:") {
        Ok(Some(p.to_string()))
    } else {
        Err(t.to_string())
    }
}

/// Parses a suppressions file: patterns, plus the invalid lines (kept as empty patterns).
pub fn parse_file(text: &str) -> (Vec<String>, Vec<String>) {
    let mut patterns = Vec::new();
    let mut invalid = Vec::new();
    for line in text.lines() {
        match parse_line(line) {
            Ok(Some(p)) => patterns.push(p),
            Ok(None) => {}
            Err(bad) => {
                invalid.push(bad);
                patterns.push(String::new());
            }
        }
    }
    (patterns, invalid)
}

/// True when `pattern` suppresses `s`: equal, or the sanitizer template match.
pub fn matches(pattern: &str, s: &str) -> bool {
    pattern == s || template_match(pattern.as_bytes(), s.as_bytes())
}

/// compiler-rt's `TemplateMatch`, re-implemented on byte slices.
fn template_match(templ: &[u8], s: &[u8]) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut t = templ;
    let mut s = s;
    let mut start = false;
    if t.first() == Some(&b'^') {
        start = true;
        t = &t[1..];
    }
    let mut asterisk = false;
    while let Some(&c) = t.first() {
        if c == b'*' {
            t = &t[1..];
            start = false;
            asterisk = true;
            continue;
        }
        if c == b'$' {
            return s.is_empty() || asterisk;
        }
        if s.is_empty() {
            return false;
        }
        // The literal runs up to the next '*' or '$'.
        let end = t
            .iter()
            .position(|&b| b == b'*' || b == b'$')
            .unwrap_or(t.len());
        let lit = &t[..end];
        let Some(pos) = find(s, lit) else {
            return false;
        };
        if start && pos != 0 {
            return false;
        }
        s = &s[pos + lit.len()..];
        t = &t[end..];
        start = false;
        asterisk = false;
    }
    true
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_matching_follows_sanitizer_rules() {
        assert!(matches(
            "^/lib*/ld-linux-*.so.2$",
            "/lib64/ld-linux-x86-64.so.2"
        ));
        assert!(!matches(
            "^/lib*/ld-linux-*.so.2$",
            "/usr/lib64/ld-linux-x86-64.so.2"
        ));
        assert!(matches("foobar", "xx foobar yy"));
        assert!(matches("^leak*Supp$", "leakFooSupp"));
        assert!(!matches("^leak*Supp$", "leakFooSuppX"));
        assert!(
            matches("", "anything"),
            "heaptrack 1.4's empty pattern matches every string"
        );
        assert!(!matches("x", ""));
    }

    #[test]
    fn file_parsing_keeps_invalid_lines_as_empty_patterns() {
        let (p, bad) = parse_file("# c\n\nthis line is invalid\n  leak:foo  \nleak:^a$\n");
        assert_eq!(p, ["", "foo", "^a$"]);
        assert_eq!(bad, ["this line is invalid"]);
    }
}
