//! What form was expected, for the parse errors a scenario file's addresses and CIDR
//! blocks give: the TOML and ipnet messages ("invalid float", "invalid IP address
//! syntax") name neither the rule nor the fix.

/// The message for a TOML/serde error at `offset` of `src`, with the expected form
/// added when the value is an address or a CIDR block.
pub fn explain(src: &str, offset: usize, message: &str) -> String {
    let offset = offset.min(src.len());
    let start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = src[offset..].find('\n').map_or(src.len(), |i| offset + i);
    let line = &src[start..end];
    // The `key = value` around the error (inline tables: the nearest one before it).
    let col = offset - start;
    let before = &line[..col.min(line.len())];
    let segment = before.rsplit(['{', ',']).next().unwrap_or(before);
    let (key, head) = match segment.split_once('=') {
        Some((k, v)) => (k.trim().trim_matches('"'), v.trim_start()),
        None => ("", segment),
    };
    let key = if key.is_empty() || key.contains(' ') {
        "address"
    } else {
        key
    };
    // The value: from after `=` up to the next delimiter (the error may point inside).
    let tail: String = line[col.min(line.len())..]
        .chars()
        .take_while(|c| !matches!(c, ',' | '}' | '#' | ' '))
        .collect();
    let value = format!("{head}{tail}");
    let value = value.trim_matches('"');
    let dotted = |v: &str| {
        v.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '/')
    };
    if (message.contains("invalid float") || (message.contains("expected") && dotted(value)))
        && value.matches('.').count() == 3
    {
        return format!("{message}: write IP addresses as quoted strings: {key} = \"{value}\"");
    }
    if message.contains("invalid IP address syntax") {
        return match value.split_once('/') {
            Some((_, p)) if p.parse::<u32>().is_ok_and(|p| p > 32) => format!(
                "{message}: `{value}`: prefix length must be 0-32 (e.g. {key} = \"192.168.2.0/24\")"
            ),
            Some(_) => format!(
                "{message}: `{value}`: a CIDR block is four numbers 0-255 and a prefix length 0-32, e.g. {key} = \"192.168.2.0/24\""
            ),
            None => format!(
                "{message}: `{value}`: a CIDR block needs its prefix length, e.g. {key} = \"{value}/24\""
            ),
        };
    }
    if message.contains("invalid IPv4 address syntax") {
        return format!(
            "{message}: `{value}`: an IPv4 address is four numbers 0-255, e.g. {key} = \"192.168.1.10\""
        );
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::explain;

    fn at(src: &str, needle: &str, msg: &str) -> String {
        explain(src, src.find(needle).unwrap_or(0), msg)
    }

    #[test]
    fn an_unquoted_ip_says_to_quote_it() {
        let src = "[x]\nprivate_ip = 192.168.1.10\n";
        let m = at(src, "192", "invalid float, expected nothing");
        assert!(
            m.contains("write IP addresses as quoted strings: private_ip = \"192.168.1.10\""),
            "{m}"
        );
    }

    #[test]
    fn a_prefix_over_32_says_the_range() {
        let src = "[x]\ncidr = \"192.168.2.0/33\"\n";
        let m = at(src, "\"192", "invalid IP address syntax");
        assert!(m.contains("prefix length must be 0-32"), "{m}");
    }

    #[test]
    fn a_cidr_without_prefix_says_to_add_one() {
        let src = "[x]\ncidr = \"192.168.2.0\"\n";
        let m = at(src, "\"192", "invalid IP address syntax");
        assert!(m.contains("needs its prefix length"), "{m}");
    }

    #[test]
    fn other_messages_pass_through() {
        assert_eq!(explain("a = 1", 0, "unknown field"), "unknown field");
    }
}
