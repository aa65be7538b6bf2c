//! `--expect-json PATH=VALUE`: the value at a path of a JSON body, compared
//! as JSON. Pure: the probe hands over the body it read, this module answers
//! with the first expectation that does not hold, as data; report.rs writes
//! the sentence.
//!
//! Our own parser rather than a crate: the probe needs validation, one path
//! lookup and an equality, never a tree of values, and a JSON crate costs
//! more bytes than this whole file (the fuzz target `json` checks it).
//!
//! A path is keys joined by `.` with array indices in brackets:
//! `status`, `checks.database`, `checks[0].status`, `[2]`. A key with `.`,
//! `[`, `]`, `=` or `\` in it writes that character after a `\`. VALUE is a
//! JSON value (`true`, `1`, `null`, `"true"`, `[1,2]`) or, when it cannot
//! be one, a bare word that means the JSON string (`ok` is `"ok"`).

use std::fmt::Write;

/// Nesting deeper than this is refused rather than followed: a probe's body
/// is never that deep, and the parser recurses.
const MAX_DEPTH: usize = 64;

/// How much of a found value a failure line shows.
const EXCERPT: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The path as it was written, for the failure line.
    pub path: String,
    pub steps: Vec<Step>,
    /// The wanted value as JSON text, already checked to be valid.
    pub wanted: String,
}

/// The kind of a JSON value, for "found a number, wanted a string".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl Kind {
    /// The kind of the valid JSON value that `text` starts with.
    pub fn of(text: &[u8]) -> Kind {
        match text.first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => Kind::Number,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
        }
    }
}

/// Why an expectation does not hold. `at` is the part of the path that was
/// reached (empty for the whole body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The body is not one JSON value: what was wrong, at which byte.
    NotJson { offset: usize, problem: &'static str },
    /// The body was cut at the body limit, so it cannot be judged.
    Truncated { limit: usize },
    /// A key the path names is not in the object at `at`.
    NoKey { path: String, at: String, key: String },
    /// The same key twice in the object at `at`: which one counts is a
    /// parser's guess, so neither does.
    DuplicateKey { path: String, at: String, key: String },
    /// An index past the end of the array at `at`.
    NoIndex { path: String, at: String, index: usize, len: usize },
    /// The path goes on through a value that is not an object or array.
    NotContainer { path: String, at: String, kind: Kind, wanted: &'static str },
    /// The value is there and is another one.
    Differs { path: String, found: String, found_kind: Kind, wanted: String },
}

/// `PATH=VALUE` from the command line.
pub fn parse_expectation(text: &str) -> Result<Expectation, String> {
    let split = unescaped_equals(text).ok_or("write PATH=VALUE, e.g. status=ok or checks.database=ok")?;
    let (path, value) = (&text[..split], &text[split + 1..]);
    let steps = parse_path(path)?;
    let wanted = parse_wanted(value)?;
    Ok(Expectation { path: path.to_string(), steps, wanted })
}

fn unescaped_equals(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '=' => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let bad = |why: &str| Err(format!("in the path '{path}', {why}"));
    let mut steps = Vec::new();
    let mut chars = path.chars().peekable();
    let mut first = true;
    loop {
        // A key is due here, unless an index opens the path (a body that is
        // an array).
        if !(first && chars.peek() == Some(&'[')) {
            let mut key = String::new();
            while let Some(&c) = chars.peek() {
                match c {
                    '.' | '[' => break,
                    ']' => return bad("']' without '['; a key with ']' in it writes '\\]'"),
                    '\\' => {
                        chars.next();
                        match chars.next() {
                            Some(c @ ('.' | '[' | ']' | '=' | '\\')) => key.push(c),
                            _ => return bad("'\\' escapes only . [ ] = and \\"),
                        }
                        continue;
                    }
                    c => key.push(c),
                }
                chars.next();
            }
            if key.is_empty() {
                return bad("a key is empty (a key with '.' in it writes '\\.')");
            }
            steps.push(Step::Key(key));
        }
        first = false;
        while chars.peek() == Some(&'[') {
            chars.next();
            let mut digits = String::new();
            loop {
                match chars.next() {
                    Some(']') => break,
                    Some(c) if c.is_ascii_digit() => digits.push(c),
                    _ => return bad("write an array index as [0], [1], …"),
                }
            }
            let index = match digits.as_bytes() {
                [] | [b'0', _, ..] => None,
                _ => digits.parse().ok(),
            };
            match index {
                Some(index) => steps.push(Step::Index(index)),
                None => return bad(&format!("'[{digits}]' is not an array index")),
            }
        }
        match chars.next() {
            None => return Ok(steps),
            Some('.') => {}
            Some(_) => return bad("an index is followed by '.', '[' or the end"),
        }
    }
}

/// VALUE as JSON text. Whatever starts like a JSON value must be one, so a
/// typo such as `01` or `"ok` is refused instead of compared as a string.
fn parse_wanted(value: &str) -> Result<String, String> {
    let starts_like_json = value.starts_with(['"', '[', '{', '-']) || value.starts_with(|c: char| c.is_ascii_digit());
    if starts_like_json || matches!(value, "true" | "false" | "null") {
        let mut p = Parser::new(value.as_bytes());
        return match p.document() {
            Ok(_) => Ok(value.to_string()),
            Err((offset, problem)) => Err(format!(
                "the VALUE {value} is not valid JSON ({problem} at byte {offset}); for the text itself, write it as a JSON string: '\"…\"'"
            )),
        };
    }
    if value.is_empty() {
        return Err("the VALUE after '=' is empty; for the empty string write PATH='\"\"'".into());
    }
    if value.trim() != value {
        return Err(format!("the VALUE '{value}' starts or ends with a space; write it as a JSON string: '\"…\"'"));
    }
    let mut json = String::with_capacity(value.len() + 2);
    json.push('"');
    for c in value.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(json, "\\u{:04x}", c as u32);
            }
            c => json.push(c),
        }
    }
    json.push('"');
    Ok(json)
}

/// The first expectation that does not hold for `body`, if any.
pub fn check(body: &[u8], truncated_at: Option<usize>, expectations: &[Expectation]) -> Result<(), Mismatch> {
    if let Some(limit) = truncated_at {
        return Err(Mismatch::Truncated { limit });
    }
    Parser::new(body).document().map_err(|(offset, problem)| Mismatch::NotJson { offset, problem })?;
    for e in expectations {
        let found = lookup(body, e)?;
        if !equal(&body[found.clone()], e.wanted.as_bytes()) {
            let text = &body[found];
            return Err(Mismatch::Differs {
                path: e.path.clone(),
                found: excerpt(text),
                found_kind: Kind::of(text),
                wanted: e.wanted.clone(),
            });
        }
    }
    Ok(())
}

/// The byte range of the value at `e`'s path in a valid document.
fn lookup(body: &[u8], e: &Expectation) -> Result<std::ops::Range<usize>, Mismatch> {
    let mut p = Parser::new(body);
    p.space();
    let mut at = String::new();
    for step in &e.steps {
        let kind = Kind::of(&body[p.pos..]);
        match step {
            Step::Key(key) => {
                if kind != Kind::Object {
                    return Err(Mismatch::NotContainer { path: e.path.clone(), at, kind, wanted: "an object" });
                }
                let mut found = None;
                p.entries(|p, name| {
                    if name == key.as_bytes() {
                        if found.is_some() {
                            return Err(());
                        }
                        found = Some(p.pos);
                    }
                    p.skip();
                    Ok(())
                })
                .map_err(|_| Mismatch::DuplicateKey {
                    path: e.path.clone(),
                    at: at.clone(),
                    key: key.clone(),
                })?;
                p.pos =
                    found.ok_or_else(|| Mismatch::NoKey { path: e.path.clone(), at: at.clone(), key: key.clone() })?;
                if !at.is_empty() {
                    at.push('.');
                }
                at.push_str(key);
            }
            Step::Index(index) => {
                if kind != Kind::Array {
                    return Err(Mismatch::NotContainer { path: e.path.clone(), at, kind, wanted: "an array" });
                }
                let (mut len, mut found) = (0, None);
                p.elements(|p| {
                    if len == *index {
                        found = Some(p.pos);
                    }
                    len += 1;
                    p.skip();
                });
                p.pos = found.ok_or_else(|| Mismatch::NoIndex {
                    path: e.path.clone(),
                    at: at.clone(),
                    index: *index,
                    len,
                })?;
                let _ = write!(at, "[{index}]");
            }
        }
    }
    let start = p.pos;
    p.skip();
    Ok(start..p.pos)
}

/// The found value as the failure line shows it: short, printable.
fn excerpt(text: &[u8]) -> String {
    let mut out = String::new();
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            if out.chars().count() >= EXCERPT {
                out.push('…');
                return out;
            }
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Whether two valid JSON texts are the same value: strings after their
/// escapes, numbers by their decimal value (`1`, `1.0` and `10e-1` are equal),
/// objects whatever the order of their keys.
fn equal(a: &[u8], b: &[u8]) -> bool {
    let (mut pa, mut pb) = (Parser::new(a), Parser::new(b));
    pa.space();
    pb.space();
    same(&mut pa, &mut pb)
}

/// Whether no object in the valid JSON `text` has a key twice. Such an
/// object equals nothing, not even itself: which of its values counts is a
/// parser's guess.
pub fn keys_unique(text: &[u8]) -> bool {
    fn walk(p: &mut Parser) -> bool {
        match Kind::of(&p.text[p.pos..]) {
            Kind::Object => {
                let members = p.members();
                members.iter().enumerate().all(|(i, (key, at))| {
                    members[..i].iter().all(|(k, _)| k != key) && walk(&mut Parser::at(p.text, *at))
                })
            }
            Kind::Array => {
                let mut all = true;
                p.elements(|p| {
                    let at = p.pos;
                    all &= walk(&mut Parser::at(p.text, at));
                    p.pos = at;
                    p.skip();
                });
                all
            }
            _ => true,
        }
    }
    let mut p = Parser::new(text);
    p.space();
    walk(&mut p)
}

fn same(a: &mut Parser, b: &mut Parser) -> bool {
    let kind = Kind::of(&a.text[a.pos..]);
    if kind != Kind::of(&b.text[b.pos..]) {
        return false;
    }
    match kind {
        Kind::String => a.string_value() == b.string_value(),
        Kind::Number => a.number_value() == b.number_value(),
        Kind::Bool | Kind::Null => {
            let (sa, sb) = (a.pos, b.pos);
            a.skip();
            b.skip();
            a.text[sa..a.pos] == b.text[sb..b.pos]
        }
        Kind::Array => {
            let mut left = Vec::new();
            a.elements(|p| {
                left.push(p.pos);
                p.skip();
            });
            let mut right = Vec::new();
            b.elements(|p| {
                right.push(p.pos);
                p.skip();
            });
            left.len() == right.len()
                && left.iter().zip(&right).all(|(&x, &y)| same(&mut Parser::at(a.text, x), &mut Parser::at(b.text, y)))
        }
        Kind::Object => {
            let (left, right) = (a.members(), b.members());
            left.len() == right.len()
                && left.iter().all(|(key, x)| {
                    let mut matches = right.iter().filter(|(k, _)| k == key);
                    match (matches.next(), matches.next()) {
                        (Some((_, y)), None) => same(&mut Parser::at(a.text, *x), &mut Parser::at(b.text, *y)),
                        _ => false,
                    }
                })
        }
    }
}

/// A cursor over JSON text. `document` validates; the other methods walk
/// text that `document` has already accepted.
struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    depth: usize,
}

type Problem = (usize, &'static str);

impl<'a> Parser<'a> {
    fn new(text: &'a [u8]) -> Parser<'a> {
        Parser::at(text, 0)
    }

    /// A cursor at `pos` of text already validated.
    fn at(text: &'a [u8], pos: usize) -> Parser<'a> {
        Parser { text, pos, depth: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn fail<T>(&self, problem: &'static str) -> Result<T, Problem> {
        Err((self.pos, problem))
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// One JSON value and nothing after it but white space.
    fn document(&mut self) -> Result<(), Problem> {
        self.space();
        if self.peek().is_none() {
            return self.fail("the body is empty");
        }
        self.value()?;
        self.space();
        match self.peek() {
            None => Ok(()),
            Some(_) => self.fail("more after the value"),
        }
    }

    fn value(&mut self) -> Result<(), Problem> {
        match self.peek() {
            Some(b'{') => self.container(b'}', true),
            Some(b'[') => self.container(b']', false),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.fail("not a JSON value"),
            None => self.fail("the text ends where a value is due"),
        }
    }

    fn container(&mut self, close: u8, object: bool) -> Result<(), Problem> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail("nested deeper than 64 levels");
        }
        self.pos += 1;
        self.space();
        if self.peek() == Some(close) {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            if object {
                if self.peek() != Some(b'"') {
                    return self.fail("an object's key must be a string");
                }
                self.string()?;
                self.space();
                if self.peek() != Some(b':') {
                    return self.fail("':' is due after an object's key");
                }
                self.pos += 1;
                self.space();
            }
            self.value()?;
            self.space();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.space();
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                None => return self.fail("the text ends inside an object or array"),
                Some(_) => return self.fail("',' or the closing bracket is due"),
            }
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), Problem> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            self.fail("not a JSON value")
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), Problem> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return self.fail("a number with a leading zero");
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.fail("a digit is due"),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return self.fail("a digit is due after '.'");
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.fail("a digit is due in the exponent");
            }
        }
        Ok(())
    }

    fn string(&mut self) -> Result<(), Problem> {
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                None => return self.fail("the text ends inside a string"),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
                        Some(b'u') => {
                            let hex = self.text.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return self.fail("\\u is followed by four hex digits");
                            }
                            self.pos += 5;
                        }
                        _ => return self.fail("an unknown escape in a string"),
                    }
                }
                Some(0..=0x1f) => return self.fail("a control character in a string"),
                Some(_) => self.pos += 1,
            }
        }
        if std::str::from_utf8(&self.text[start..self.pos]).is_err() {
            self.pos = start;
            return self.fail("a string that is not UTF-8");
        }
        self.pos += 1;
        Ok(())
    }

    /// Past one value of valid text.
    fn skip(&mut self) {
        let _ = self.value();
    }

    /// Calls `each` at every element of the array at the cursor; `each`
    /// moves past the element. Leaves the cursor after the array.
    fn elements(&mut self, mut each: impl FnMut(&mut Self)) {
        self.pos += 1;
        self.space();
        while self.peek() != Some(b']') {
            each(self);
            self.space();
            if self.peek() == Some(b',') {
                self.pos += 1;
                self.space();
            }
        }
        self.pos += 1;
    }

    /// Calls `each` with every key of the object at the cursor (as written,
    /// escapes decoded) and the cursor at its value; `each` moves past it.
    fn entries<E>(&mut self, mut each: impl FnMut(&mut Self, &[u8]) -> Result<(), E>) -> Result<(), E> {
        self.pos += 1;
        self.space();
        while self.peek() != Some(b'}') {
            let key = self.string_value();
            self.space();
            self.pos += 1;
            self.space();
            each(self, &key)?;
            self.space();
            if self.peek() == Some(b',') {
                self.pos += 1;
                self.space();
            }
        }
        self.pos += 1;
        Ok(())
    }

    fn members(&mut self) -> Vec<(Vec<u8>, usize)> {
        let mut members = Vec::new();
        let _ = self.entries(|p, key| -> Result<(), ()> {
            members.push((key.to_vec(), p.pos));
            p.skip();
            Ok(())
        });
        members
    }

    /// The string at the cursor with its escapes decoded (as UTF-8; a lone
    /// surrogate becomes U+FFFD on both sides of a comparison alike).
    fn string_value(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.pos += 1;
        loop {
            match self.text[self.pos] {
                b'"' => break,
                b'\\' => {
                    self.pos += 1;
                    let c = self.text[self.pos];
                    self.pos += 1;
                    match c {
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut unit = self.hex4();
                            if (0xd800..0xdc00).contains(&unit) && self.text[self.pos..].starts_with(b"\\u") {
                                let save = self.pos;
                                self.pos += 2;
                                let low = self.hex4();
                                if (0xdc00..0xe000).contains(&low) {
                                    unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                                } else {
                                    self.pos = save;
                                }
                            }
                            let c = char::from_u32(unit).unwrap_or('\u{fffd}');
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        c => out.push(c),
                    }
                }
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        out
    }

    fn hex4(&mut self) -> u32 {
        let hex = std::str::from_utf8(&self.text[self.pos..self.pos + 4]).unwrap_or("fffd");
        self.pos += 4;
        u32::from_str_radix(hex, 16).unwrap_or(0xfffd)
    }

    /// The number at the cursor as sign, significant digits and exponent,
    /// so that equal values compare equal whatever their spelling.
    fn number_value(&mut self) -> (bool, Vec<u8>, i128) {
        let start = self.pos;
        self.skip();
        let text = &self.text[start..self.pos];
        let negative = text.first() == Some(&b'-');
        let text = if negative { &text[1..] } else { text };
        let (mantissa, exponent) = match text.iter().position(|&c| c == b'e' || c == b'E') {
            Some(i) => (&text[..i], std::str::from_utf8(&text[i + 1..]).ok().and_then(|e| e.parse::<i128>().ok())),
            None => (text, Some(0)),
        };
        // An exponent beyond i64 is an absurd probe body: keep it unequal to
        // anything but its own spelling.
        let Some(mut exponent) = exponent else {
            return (negative, text.to_vec(), i128::MIN);
        };
        let mut digits = Vec::with_capacity(mantissa.len());
        for &c in mantissa {
            match c {
                b'.' => {}
                c => digits.push(c),
            }
        }
        if let Some(dot) = mantissa.iter().position(|&c| c == b'.') {
            exponent -= (mantissa.len() - dot - 1) as i128;
        }
        let first = digits.iter().position(|&c| c != b'0').unwrap_or(digits.len());
        digits.drain(..first);
        while digits.last() == Some(&b'0') {
            digits.pop();
            exponent += 1;
        }
        if digits.is_empty() {
            return (false, digits, 0);
        }
        (negative, digits, exponent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(text: &str) -> Expectation {
        parse_expectation(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn verdict(body: &str, expectations: &[&str]) -> Result<(), Mismatch> {
        let list: Vec<_> = expectations.iter().map(|e| expect(e)).collect();
        check(body.as_bytes(), None, &list)
    }

    #[test]
    fn paths() {
        let key = |k: &str| Step::Key(k.into());
        assert_eq!(expect("status=ok").steps, [key("status")]);
        assert_eq!(expect("checks.database=ok").steps, [key("checks"), key("database")]);
        assert_eq!(expect("checks[0].status=ok").steps, [key("checks"), Step::Index(0), key("status")]);
        assert_eq!(expect("[2]=1").steps, [Step::Index(2)]);
        assert_eq!(expect("a[1][10]=1").steps, [key("a"), Step::Index(1), Step::Index(10)]);
        assert_eq!(expect(r"a\.b\=c\[\]\\=1").steps, [key(r"a.b=c[]\")]);
        assert_eq!(expect("ä ö=1").steps, [key("ä ö")]);
        for bad in ["=ok", "a..b=1", ".a=1", "a.=1", "a[]=1", "a[01]=1", "a[x]=1", "a[1=1", "a]=1", "a[0]b=1"] {
            assert!(parse_expectation(bad).is_err(), "{bad} was accepted");
        }
        assert!(parse_expectation(r"a\x=1").unwrap_err().contains("escapes only"));
        assert!(parse_expectation("status").unwrap_err().contains("PATH=VALUE"));
    }

    #[test]
    fn values() {
        assert_eq!(expect("s=ok").wanted, "\"ok\"");
        assert_eq!(expect("s=true").wanted, "true");
        assert_eq!(expect("s=\"true\"").wanted, "\"true\"");
        assert_eq!(expect("s=-1.5e3").wanted, "-1.5e3");
        assert_eq!(expect("s=null").wanted, "null");
        assert_eq!(expect("s=a=b").wanted, "\"a=b\"");
        assert_eq!(expect("s=say \"hi\"").wanted, r#""say \"hi\"""#);
        assert_eq!(expect("s=[1, {\"a\": 2}]").wanted, "[1, {\"a\": 2}]");
        for bad in ["s=", "s= ok", "s=ok ", "s=01", "s=\"ok", "s=[1,", "s=1x", "s=-", "s={a:1}"] {
            assert!(parse_expectation(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn equality_is_json_equality() {
        assert!(equal(b"1", b"1.0"));
        assert!(equal(b"1", b"10e-1"));
        assert!(equal(b"-0", b"0"));
        assert!(equal(b"120", b"1.2e2"));
        assert!(!equal(b"1", b"-1"));
        assert!(!equal(b"1", b"\"1\""));
        assert!(!equal(b"true", b"\"true\""));
        assert!(equal(br#""\u00e9\n""#, "\"é\\n\"".as_bytes()));
        assert!(equal(br#""\ud83d\ude00""#, "\"😀\"".as_bytes()));
        assert!(equal(br#"{"a": 1, "b": [true, null]}"#, br#"{"b":[true,null],"a":1.0}"#));
        assert!(!equal(br#"{"a": 1}"#, br#"{"a": 1, "b": 2}"#));
        assert!(!equal(br#"[1, 2]"#, br#"[2, 1]"#));
        assert!(!equal(b"1e99999999999999999999", b"1"));
    }

    #[test]
    fn verdicts() {
        let body = r#"{"status": "ok", "checks": {"database": "down", "cache": "ok"},
                       "items": [{"status": "ok"}, 3], "count": 2, "draining": false}"#;
        assert_eq!(verdict(body, &["status=ok"]), Ok(()));
        assert_eq!(verdict(body, &["status=ok", "checks.cache=ok", "items[0].status=ok", "items[1]=3.0"]), Ok(()));
        assert_eq!(verdict(body, &["count=2", "draining=false"]), Ok(()));
        let differs = verdict(body, &["status=ok", "checks.database=ok"]).unwrap_err();
        assert_eq!(
            differs,
            Mismatch::Differs {
                path: "checks.database".into(),
                found: "\"down\"".into(),
                found_kind: Kind::String,
                wanted: "\"ok\"".into()
            }
        );
        assert!(matches!(verdict(body, &["count=\"2\""]), Err(Mismatch::Differs { found_kind: Kind::Number, .. })));
        assert!(matches!(verdict(body, &["draining=\"false\""]), Err(Mismatch::Differs { .. })));
        assert_eq!(
            verdict(body, &["checks.queue=ok"]),
            Err(Mismatch::NoKey { path: "checks.queue".into(), at: "checks".into(), key: "queue".into() })
        );
        assert_eq!(
            verdict(body, &["items[5]=1"]),
            Err(Mismatch::NoIndex { path: "items[5]".into(), at: "items".into(), index: 5, len: 2 })
        );
        assert_eq!(
            verdict(body, &["status.code=1"]),
            Err(Mismatch::NotContainer {
                path: "status.code".into(),
                at: "status".into(),
                kind: Kind::String,
                wanted: "an object"
            })
        );
        assert!(matches!(verdict(body, &["[0]=1"]), Err(Mismatch::NotContainer { wanted: "an array", .. })));
        assert_eq!(
            verdict(r#"{"status": "down", "status": "ok"}"#, &["status=ok"]),
            Err(Mismatch::DuplicateKey { path: "status".into(), at: "".into(), key: "status".into() })
        );
        // A substring check would pass these; a JSON comparison does not.
        assert!(verdict(r#"{"status": "not ok"}"#, &["status=ok"]).is_err());
        assert!(verdict(r#"{"status": "ok_but_draining"}"#, &["status=ok"]).is_err());
        assert_eq!(
            check(b"{\"status\": \"ok\"}", Some(65536), &[expect("status=ok")]),
            Err(Mismatch::Truncated { limit: 65536 })
        );
    }

    #[test]
    fn only_valid_json_is_judged() {
        for (body, problem) in [
            ("", "the body is empty"),
            ("  ", "the body is empty"),
            ("ok", "not a JSON value"),
            ("{\"status\": \"ok\"", "the text ends inside an object or array"),
            ("{\"status\": \"ok\"}}", "more after the value"),
            ("{status: 1}", "an object's key must be a string"),
            ("{\"a\" 1}", "':' is due after an object's key"),
            ("[1 2]", "',' or the closing bracket is due"),
            ("[01]", "a number with a leading zero"),
            ("[1.]", "a digit is due after '.'"),
            ("[\"\\x\"]", "an unknown escape in a string"),
            ("[\"\\u12\"]", "\\u is followed by four hex digits"),
            ("[\"a\nb\"]", "a control character in a string"),
            ("[tru]", "not a JSON value"),
            ("[\"ab", "the text ends inside a string"),
        ] {
            match verdict(body, &["a=1"]) {
                Err(Mismatch::NotJson { problem: p, .. }) => assert_eq!(p, problem, "{body:?}"),
                other => panic!("{body:?}: {other:?}"),
            }
        }
        let deep = "[".repeat(65) + &"]".repeat(65);
        assert!(matches!(
            verdict(&deep, &["a=1"]),
            Err(Mismatch::NotJson { problem: "nested deeper than 64 levels", .. })
        ));
        let ok = "[".repeat(64) + &"]".repeat(64);
        assert!(matches!(verdict(&ok, &["a=1"]), Err(Mismatch::NotContainer { .. })));
        assert!(matches!(check(b"[\"\xff\"]", None, &[expect("a=1")]), Err(Mismatch::NotJson { .. })));
    }

    #[test]
    fn excerpts_are_short_and_printable() {
        assert_eq!(excerpt(b"\"a\\nb\""), "\"a\\nb\"");
        assert_eq!(excerpt("\"a\tb\u{1b}\"".as_bytes()), "\"a\\tb\\u{1b}\"");
        let long = format!("\"{}\"", "x".repeat(100));
        assert_eq!(excerpt(long.as_bytes()).chars().count(), EXCERPT + 1);
        assert!(excerpt(long.as_bytes()).ends_with('…'));
    }
}
