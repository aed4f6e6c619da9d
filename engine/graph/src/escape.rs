//! Escaping user text (state names, rules, error names) for each output
//! format. Definitions are user input: nothing of theirs reaches the
//! output unescaped.

/// Text for XML character data and double-quoted attributes. Characters
/// XML 1.0 cannot carry at all (most C0 controls) become U+FFFD.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The inside of a DOT double-quoted string: backslashes and quotes
/// escaped, line breaks as DOT's `\n`, other controls as spaces.
pub fn dot(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The inside of a Mermaid double-quoted label: the quote, markup, the
/// entity sign `#`, the edge-label bar and the Markdown backtick become
/// `#code;` entities (the rest is literal inside quotes), controls spaces.
pub fn mermaid(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' | '|' | '`' => {
                out.push_str(&format!("#{};", c as u32));
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_replaces_what_xml_cannot_hold() {
        assert_eq!(xml(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(xml("a\nb\u{1}"), "a&#10;b\u{FFFD}");
    }

    #[test]
    fn dot_escapes_quotes_and_backslashes() {
        assert_eq!(dot(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(dot("a\nb"), "a\\nb");
    }

    #[test]
    fn mermaid_leaves_no_syntax_characters() {
        let out = mermaid("x\"]-->|y|<b>;%%#`\n");
        for bad in ['"', '|', '<', '>', '`', '\n'] {
            assert!(!out.contains(bad), "{bad:?} in {out}");
        }
        assert!(out.starts_with("x#quot;]--#gt;#124;y#124;#lt;b#gt;;%%#35;#96; "), "{out}");
    }
}
