//! Reading Rust source just well enough to find its paths: comments and literals blanked,
//! `#[cfg(test)]` items cut out, `use` declarations split from the rest and their trees
//! expanded.

pub(super) fn contains_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].bytes().next_back();
        let after = code[at + word.len()..].bytes().next();
        !before.is_some_and(is_identifier_byte) && !after.is_some_and(is_identifier_byte)
    })
}

/// `use` trees such as ` super::{a::B, c as D, self}` as (path, bound name) pairs.
pub(super) fn expand_use_tree(tree: &str) -> Vec<(Vec<String>, String)> {
    fn expand(prefix: &[String], tree: &str, out: &mut Vec<(Vec<String>, String)>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(open) = tree.find('{') {
            let mut path = prefix.to_vec();
            path.extend(segments(&tree[..open]));
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            for item in split_top_level(inner) {
                expand(&path, item, out);
            }
            return;
        }
        let (path_text, alias) = match tree.split_once(" as ") {
            Some((path, alias)) => (path, Some(alias.trim().to_owned())),
            None => (tree, None),
        };
        let mut path = prefix.to_vec();
        path.extend(segments(path_text));
        if path.last().is_some_and(|last| last == "self") {
            path.pop();
        }
        let name = alias.unwrap_or_else(|| path.last().cloned().unwrap_or_default());
        if !path.is_empty() {
            out.push((path, name));
        }
    }
    let mut out = Vec::new();
    expand(&[], tree, &mut out);
    out
}

fn segments(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split("::")
        .map(|segment| segment.trim().trim_matches(':'))
        .filter(|segment| !segment.is_empty())
        .map(|segment| segment.trim_start_matches("r#").to_owned())
}

/// Splits on commas outside braces.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (index, character) in text.char_indices() {
        match character {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
}

/// The code cut into pieces, each a whole `use` declaration (with its visibility) or other code.
pub(super) fn split_use_declarations(code: &str) -> Vec<(&str, bool)> {
    let mut pieces = Vec::new();
    let mut cursor = 0;
    while let Some(found) = find_use(code, cursor) {
        let end = code[found..]
            .find(';')
            .map_or(code.len(), |end| found + end + 1);
        pieces.push((&code[cursor..found], false));
        pieces.push((&code[found..end], true));
        cursor = end;
    }
    pieces.push((&code[cursor..], false));
    pieces
}

/// Where the next `use` declaration (including a `pub`/`pub(...)` before it) starts.
fn find_use(code: &str, from: usize) -> Option<usize> {
    let bytes = code.as_bytes();
    let mut index = from;
    while let Some(offset) = code[index..].find("use ") {
        let at = index + offset;
        index = at + 4;
        if at > 0 && is_identifier_byte(bytes[at - 1]) {
            continue;
        }
        // Back up over a visibility written right before it.
        let before = code[..at].trim_end();
        let start = if before.ends_with(')') {
            before.rfind("pub").filter(|&pub_at| {
                code[pub_at..before.len()].starts_with("pub(")
                    || code[pub_at..before.len()].starts_with("pub (")
            })
        } else if before.ends_with("pub") {
            Some(before.len() - 3)
        } else {
            None
        };
        let statement_start = start.unwrap_or(at);
        let preceding = code[..statement_start].trim_end();
        if preceding.is_empty() || preceding.ends_with([';', '{', '}', ']']) {
            return Some(statement_start);
        }
    }
    None
}

fn is_identifier_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Paths of two or more segments written in code (`crate::a::b`, `super::x`, `keys::rotate`),
/// each from its first segment.
pub(super) fn code_paths(code: &str) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut paths = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        let starts_path = is_identifier_byte(bytes[index])
            && (index == 0 || !is_identifier_byte(bytes[index - 1]))
            && !code[..index].ends_with("::");
        if !starts_path {
            index += 1;
            continue;
        }
        let mut end = index;
        while end < bytes.len() && (is_identifier_byte(bytes[end]) || bytes[end] == b':') {
            end += 1;
        }
        let path: Vec<String> = segments(&code[index..end]).collect();
        if path.len() > 1 {
            paths.push(path);
        }
        index = end;
    }
    paths
}

/// The code with every item marked `#[cfg(test)]` removed (up to its `;` or closing brace).
pub(super) fn without_tests(code: &str) -> String {
    let mut kept = String::new();
    let mut cursor = 0;
    while let Some(offset) = code[cursor..].find("#[cfg(test)]") {
        let at = cursor + offset;
        kept.push_str(&code[cursor..at]);
        let after = at + "#[cfg(test)]".len();
        let end = match (code[after..].find('{'), code[after..].find(';')) {
            (Some(brace), semicolon) if semicolon.is_none_or(|semicolon| brace < semicolon) => {
                matching_brace(code, after + brace).map_or(code.len(), |close| close + 1)
            }
            (_, Some(semicolon)) => after + semicolon + 1,
            _ => code.len(),
        };
        cursor = end;
    }
    kept.push_str(&code[cursor..]);
    kept
}

fn matching_brace(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (index, character) in code[open..].char_indices() {
        match character {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + index);
                }
            }
            _ => {}
        }
    }
    None
}

/// The source with comments removed and string and character literals emptied, so that neither
/// braces nor paths inside them are read as code.
pub(super) fn strip_comments_and_strings(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut index = 0;
    while index < chars.len() {
        let next = chars.get(index + 1).copied();
        match (chars[index], next) {
            ('/', Some('/')) => {
                while index < chars.len() && chars[index] != '\n' {
                    index += 1;
                }
            }
            ('/', Some('*')) => {
                let mut depth = 0;
                while index < chars.len() {
                    if chars[index] == '/' && chars.get(index + 1) == Some(&'*') {
                        depth += 1;
                        index += 2;
                    } else if chars[index] == '*' && chars.get(index + 1) == Some(&'/') {
                        depth -= 1;
                        index += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        index += 1;
                    }
                }
                out.push(' ');
            }
            ('r', Some('"' | '#')) if index == 0 || !chars[index - 1].is_alphanumeric() => {
                let hashes = chars[index + 1..].iter().take_while(|&&c| c == '#').count();
                if chars.get(index + 1 + hashes) != Some(&'"') {
                    out.push('r');
                    index += 1;
                    continue;
                }
                index += hashes + 2;
                while index < chars.len() {
                    if chars[index] == '"'
                        && chars[index + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|&&c| c == '#')
                            .count()
                            == hashes
                    {
                        index += hashes + 1;
                        break;
                    }
                    index += 1;
                }
                out.push_str("\"\"");
            }
            ('"', _) => {
                index += 1;
                while index < chars.len() && chars[index] != '"' {
                    index += if chars[index] == '\\' { 2 } else { 1 };
                }
                index += 1;
                out.push_str("\"\"");
            }
            ('\'', Some('\\')) => {
                index += 2;
                while index < chars.len() && chars[index] != '\'' {
                    index += 1;
                }
                index += 1;
                out.push_str("' '");
            }
            ('\'', Some(_)) if chars.get(index + 2) == Some(&'\'') => {
                index += 3;
                out.push_str("' '");
            }
            (character, _) => {
                out.push(character);
                index += 1;
            }
        }
    }
    out
}
