//! Number and date/time pictures: `$formatNumber`, `$formatInteger`,
//! `$parseInteger`, `$fromMillis`, `$toMillis` — the XPath F&O 3.1 picture
//! languages as jsonata-js implements them (`datetime.js`, `functions.js`).

use super::Error;
use super::eval::{Evaluator, Scope};
use super::functions::MAX_STRING_BYTES;
use super::functions::round_half_even;
use super::value::{V, obj_get};
use std::rc::Rc;
use std::sync::Arc;

type R = Result<V, Error>;

fn arg(args: &[V], i: usize) -> &V {
    match args.get(i) {
        Some(v) => v,
        None => &V::Undef,
    }
}

// ---------------------------------------------------------------- integers

#[derive(Clone, Copy, PartialEq, Debug)]
enum Primary {
    Decimal,
    Letters,
    Roman,
    Words,
    Sequence,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Case {
    Lower,
    Upper,
    Title,
}

#[derive(Clone, Debug)]
struct IntegerFormat {
    primary: Primary,
    case: Case,
    ordinal: bool,
    zero: u32,
    mandatory: usize,
    optional: usize,
    /// Regular grouping: one separator every `group` digits.
    regular: Option<(String, usize)>,
    /// Irregular grouping: (position from the right, separator).
    separators: Vec<(usize, String)>,
    token: String,
    /// Digits a date component is held to (`[Y0001,2-2]`); 0 if unbounded.
    width: usize,
}

const DECIMAL_GROUPS: [u32; 37] = [
    0x30, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6,
    0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40,
    0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
];

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The repeat of a regular grouping (every `n` digits), or 0.
fn regular_repeat(positions: &[usize]) -> usize {
    if positions.is_empty() {
        return 0;
    }
    let factor = positions.iter().copied().reduce(gcd).unwrap_or(0);
    if factor == 0 {
        return 0;
    }
    for i in 1..=positions.len() {
        if !positions.contains(&(i * factor)) {
            return 0;
        }
    }
    factor
}

fn analyse_integer_picture(picture: &str) -> Result<IntegerFormat, Error> {
    let mut f = IntegerFormat {
        primary: Primary::Decimal,
        case: Case::Lower,
        ordinal: false,
        zero: 0x30,
        mandatory: 0,
        optional: 0,
        regular: None,
        separators: Vec::new(),
        token: String::new(),
        width: 0,
    };
    let primary = match picture.rfind(';') {
        Some(i) => {
            if picture[i + 1..].starts_with('o') {
                f.ordinal = true;
            }
            &picture[..i]
        }
        None => picture,
    };
    match primary {
        "A" => (f.case, f.primary) = (Case::Upper, Primary::Letters),
        "a" => f.primary = Primary::Letters,
        "I" => (f.case, f.primary) = (Case::Upper, Primary::Roman),
        "i" => f.primary = Primary::Roman,
        "W" => (f.case, f.primary) = (Case::Upper, Primary::Words),
        "Ww" => (f.case, f.primary) = (Case::Title, Primary::Words),
        "w" => f.primary = Primary::Words,
        _ => {
            let mut zero: Option<u32> = None;
            let mut position = 0;
            let mut separators = Vec::new();
            for c in primary.chars().rev() {
                let cp = c as u32;
                if let Some(&group) = DECIMAL_GROUPS.iter().find(|&&g| cp >= g && cp <= g + 9) {
                    f.mandatory += 1;
                    position += 1;
                    match zero {
                        None => zero = Some(group),
                        Some(z) if z != group => {
                            return Err(Error::eval(
                                "D3131",
                                "In a decimal digit pattern, all digits must be from the same decimal group",
                            ));
                        }
                        _ => {}
                    }
                } else if c == '#' {
                    position += 1;
                    f.optional += 1;
                } else {
                    separators.push((position, c.to_string()));
                }
            }
            if f.mandatory > 0 {
                f.zero = zero.unwrap_or(0x30);
                let same_char = separators.windows(2).all(|w| w[0].1 == w[1].1);
                let repeat =
                    if same_char { regular_repeat(&separators.iter().map(|s| s.0).collect::<Vec<_>>()) } else { 0 };
                if repeat > 0 {
                    f.regular = Some((separators[0].1.clone(), repeat));
                } else {
                    f.separators = separators;
                }
            } else {
                f.primary = Primary::Sequence;
                f.token = primary.to_string();
            }
        }
    }
    Ok(f)
}

const FEW: [&str; 20] = [
    "Zero",
    "One",
    "Two",
    "Three",
    "Four",
    "Five",
    "Six",
    "Seven",
    "Eight",
    "Nine",
    "Ten",
    "Eleven",
    "Twelve",
    "Thirteen",
    "Fourteen",
    "Fifteen",
    "Sixteen",
    "Seventeen",
    "Eighteen",
    "Nineteen",
];
const ORDINALS: [&str; 20] = [
    "Zeroth",
    "First",
    "Second",
    "Third",
    "Fourth",
    "Fifth",
    "Sixth",
    "Seventh",
    "Eighth",
    "Ninth",
    "Tenth",
    "Eleventh",
    "Twelfth",
    "Thirteenth",
    "Fourteenth",
    "Fifteenth",
    "Sixteenth",
    "Seventeenth",
    "Eighteenth",
    "Nineteenth",
];
const DECADES: [&str; 9] = ["Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety", "Hundred"];
const MAGNITUDES: [&str; 4] = ["Thousand", "Million", "Billion", "Trillion"];

/// jsonata-js's `numberToWords`, in doubles as it computes (a cast to u64
/// had spelled 1e20 as 18,446,744,073,709,551,615).
fn number_to_words(num: f64, prev: bool, ord: bool) -> String {
    let mut words = String::new();
    if num <= 19.0 {
        if prev {
            words.push_str(" and ");
        }
        words.push_str(if ord { ORDINALS[num as usize] } else { FEW[num as usize] });
    } else if num < 100.0 {
        let (tens, rem) = ((num / 10.0).floor(), num % 10.0);
        if prev {
            words.push_str(" and ");
        }
        words.push_str(DECADES[tens as usize - 2]);
        if rem > 0.0 {
            words.push('-');
            words.push_str(&number_to_words(rem, false, ord));
        } else if ord {
            words.pop();
            words.push_str("ieth");
        }
    } else if num < 1000.0 {
        let (hundreds, rem) = ((num / 100.0).floor(), num % 100.0);
        if prev {
            words.push_str(", ");
        }
        words.push_str(FEW[hundreds as usize]);
        words.push_str(" Hundred");
        if rem > 0.0 {
            words.push_str(&number_to_words(rem, true, ord));
        } else if ord {
            words.push_str("th");
        }
    } else {
        let mag = ((num.log10() / 3.0).floor() as usize).min(MAGNITUDES.len());
        let factor = 10f64.powi(mag as i32 * 3);
        let mant = (num / factor).floor();
        let rem = num - mant * factor;
        if prev {
            words.push_str(", ");
        }
        words.push_str(&number_to_words(mant, false, false));
        words.push(' ');
        words.push_str(MAGNITUDES[mag - 1]);
        if rem > 0.0 {
            words.push_str(&number_to_words(rem, true, ord));
        } else if ord {
            words.push_str("th");
        }
    }
    words
}

fn to_roman(mut n: u64) -> String {
    const NUMERALS: [(u64, &str); 13] = [
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    ];
    let mut out = String::new();
    for (v, s) in NUMERALS {
        while n >= v {
            out.push_str(s);
            n -= v;
        }
    }
    out
}

/// jsonata-js's `decimalToLetters`, in doubles as it computes: past 2^53
/// its letters follow the double's arithmetic, not an integer's (at most
/// ~218 letters, for the largest double).
fn to_letters(mut n: f64, a: u8) -> String {
    let mut letters = Vec::new();
    while n > 0.0 {
        letters.push((((n - 1.0) % 26.0) as u8 + a) as char);
        n = ((n - 1.0) / 26.0).floor();
    }
    letters.iter().rev().collect()
}

fn sequence_unsupported(f: &IntegerFormat) -> Error {
    Error::eval(
        "D3130",
        format!(
            "Formatting or parsing an integer as a sequence starting with {} is not supported by this implementation",
            f.token
        ),
    )
}

fn format_integer_with(value: f64, f: &IntegerFormat) -> Result<String, Error> {
    let negative = value < 0.0;
    let mut s = match f.primary {
        Primary::Letters => to_letters(value.abs(), if f.case == Case::Upper { b'A' } else { b'a' }),
        Primary::Roman => {
            // A numeral has an `m` per thousand: refused before it is built
            // (so `n` never saturates).
            let n = value.abs() as u64;
            super::functions::string_fits((n / 1000).saturating_add(15) as usize)?;
            let r = to_roman(n);
            if f.case == Case::Upper { r.to_uppercase() } else { r }
        }
        Primary::Words => {
            let w = number_to_words(value.abs().floor(), false, f.ordinal);
            match f.case {
                Case::Upper => w.to_uppercase(),
                Case::Lower => w.to_lowercase(),
                Case::Title => w,
            }
        }
        Primary::Decimal => {
            // JavaScript's text of the number (`'' + value`): every digit
            // up to 10^21 (zeros past a double's precision), `1e+21` beyond.
            let mut digits = super::value::js_number(value.abs());
            if f.mandatory > digits.len() {
                digits = "0".repeat(f.mandatory - digits.len()) + &digits;
            }
            if f.zero != 0x30 {
                digits = digits.chars().map(|c| char::from_u32(c as u32 + f.zero - 0x30).unwrap_or(c)).collect();
            }
            let mut chars: Vec<String> = digits.chars().map(String::from).collect();
            match &f.regular {
                Some((sep, size)) => {
                    let groups = (chars.len().saturating_sub(1)) / size;
                    let len = chars.len();
                    for i in 1..=groups {
                        chars.insert(len - i * size, sep.clone());
                    }
                }
                None => {
                    for (pos, sep) in &f.separators {
                        let len = chars.len();
                        if *pos <= len {
                            chars.insert(len - pos, sep.clone());
                        }
                    }
                }
            }
            let mut out: String = chars.concat();
            if f.ordinal {
                let bytes: Vec<char> = out.chars().collect();
                let last = bytes.last().copied().unwrap_or('0');
                let tens = bytes.len() > 1 && bytes[bytes.len() - 2] == '1';
                out.push_str(match (last, tens) {
                    ('1', false) => "st",
                    ('2', false) => "nd",
                    ('3', false) => "rd",
                    _ => "th",
                });
            }
            out
        }
        Primary::Sequence => return Err(sequence_unsupported(f)),
    };
    if negative {
        s.insert(0, '-');
    }
    Ok(s)
}

pub fn format_integer(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let Some(n) = arg(args, 0).num() else { return Ok(V::Undef) };
    let f = analyse_integer_picture(arg(args, 1).as_str().unwrap_or(""))?;
    // The text written is charged by every built-in's call.
    Ok(V::Str(Arc::from(format_integer_with(n.floor(), &f)?)))
}

fn word_value(word: &str) -> Option<u64> {
    let w = word.to_lowercase();
    for (i, x) in FEW.iter().enumerate() {
        if x.to_lowercase() == w || ORDINALS[i].to_lowercase() == w {
            return Some(i as u64);
        }
    }
    for (i, x) in DECADES.iter().enumerate() {
        let lx = x.to_lowercase();
        let value = (i as u64 + 2) * 10;
        if lx == w || format!("{}ieth", &lx[..lx.len() - 1]) == w {
            return Some(value);
        }
    }
    if w == "hundredth" {
        return Some(100);
    }
    for (i, x) in MAGNITUDES.iter().enumerate() {
        let lx = x.to_lowercase();
        if lx == w || format!("{lx}th") == w {
            return Some(10u64.pow((i as u32 + 1) * 3));
        }
    }
    None
}

fn words_to_number(text: &str) -> Option<f64> {
    let normalized = text.replace(", ", " ").replace(" and ", " ");
    // JavaScript numbers, as jsonata-js computes: "a trillion trillion" must
    // not overflow (a u64 did).
    let mut segs: Vec<f64> = vec![0.0];
    for part in normalized.split([' ', '-']).filter(|p| !p.is_empty()) {
        let value = word_value(part)? as f64;
        if value < 100.0 {
            let mut top = segs.pop().unwrap_or(0.0);
            if top >= 1000.0 {
                segs.push(top);
                top = 0.0;
            }
            segs.push(top + value);
        } else {
            let top = segs.pop().unwrap_or(0.0);
            segs.push(top * value);
        }
    }
    Some(segs.iter().sum::<f64>())
}

fn roman_to_number(roman: &str) -> f64 {
    let value = |c: char| match c {
        'M' => 1000,
        'D' => 500,
        'C' => 100,
        'L' => 50,
        'X' => 10,
        'V' => 5,
        'I' => 1,
        _ => 0,
    };
    let (mut total, mut max) = (0i64, 1i64);
    for c in roman.chars().rev() {
        let v = value(c);
        if v < max {
            total -= v;
        } else {
            max = v;
            total += v;
        }
    }
    total as f64
}

fn letters_to_number(letters: &str, a: u8) -> f64 {
    let n = letters.len() as i32;
    letters.bytes().enumerate().map(|(i, c)| (c as f64 - a as f64 + 1.0) * 26f64.powi(n - i as i32 - 1)).sum()
}

/// The regex a value formatted with `f` matches, and how to read it back.
fn integer_regex(f: &IntegerFormat) -> Result<String, Error> {
    let occurrences = if f.width > 0 {
        if f.optional == 0 { format!("{{{}}}", f.width) } else { format!("{{{},{}}}", f.width - f.optional, f.width) }
    } else {
        "+".to_string()
    };
    Ok(match f.primary {
        Primary::Letters => if f.case == Case::Upper { "[A-Z]+" } else { "[a-z]+" }.to_string(),
        Primary::Roman => if f.case == Case::Upper { "[MDCLXVI]+" } else { "[mdclxvi]+" }.to_string(),
        Primary::Words => {
            let mut words: Vec<String> = Vec::new();
            words.extend(FEW.iter().map(|w| w.to_lowercase()));
            words.extend(ORDINALS.iter().map(|w| w.to_lowercase()));
            for d in DECADES {
                let l = d.to_lowercase();
                words.push(format!("{}ieth", &l[..l.len() - 1]));
                words.push(l);
            }
            words.push("hundredth".into());
            for m in MAGNITUDES {
                let l = m.to_lowercase();
                words.push(format!("{l}th"));
                words.push(l);
            }
            // Longest first, so `seventeen` is not read as `seven`.
            words.sort_by_key(|w| std::cmp::Reverse(w.len()));
            format!("(?:{}|and|[\\-, ])+", words.join("|"))
        }
        Primary::Decimal => {
            let mut r = format!("[0-9]{occurrences}");
            if f.ordinal {
                r.push_str("(?:th|st|nd|rd)");
            }
            r
        }
        Primary::Sequence => return Err(sequence_unsupported(f)),
    })
}

fn parse_integer_with(text: &str, f: &IntegerFormat) -> Result<Option<f64>, Error> {
    Ok(match f.primary {
        Primary::Letters => Some(letters_to_number(text, if f.case == Case::Upper { b'A' } else { b'a' })),
        Primary::Roman => Some(roman_to_number(&text.to_uppercase())),
        Primary::Words => words_to_number(&text.to_lowercase()),
        Primary::Decimal => {
            let mut digits = text.to_string();
            if f.ordinal && digits.len() >= 2 {
                digits.truncate(digits.len() - 2);
            }
            match &f.regular {
                Some((sep, _)) => digits = digits.replace(sep.as_str(), ""),
                None => {
                    for (_, sep) in &f.separators {
                        digits = digits.replace(sep.as_str(), "");
                    }
                }
            }
            if f.zero != 0x30 {
                // Digits of the picture's family become ASCII ones; anything
                // else (an ASCII digit included) ends the number, as the
                // code-unit shift of jsonata-js makes it a non-digit.
                digits = digits
                    .chars()
                    .map(|c| match (c as u32).checked_sub(f.zero) {
                        Some(d @ 0..=9) => char::from(b'0' + d as u8),
                        _ => '_',
                    })
                    .collect();
            }
            // JavaScript's `parseInt`, as jsonata-js ends with: leading
            // whitespace, a sign, then the digits up to the first other
            // character (`-12` had been no number at all).
            let text = digits.trim_start();
            let (sign, rest) = match text.strip_prefix('-') {
                Some(rest) => (-1.0, rest),
                None => (1.0, text.strip_prefix('+').unwrap_or(text)),
            };
            let lead: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            lead.parse::<f64>().ok().map(|n| sign * n)
        }
        Primary::Sequence => return Err(sequence_unsupported(f)),
    })
}

pub fn parse_integer(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    let f = analyse_integer_picture(arg(args, 1).as_str().unwrap_or(""))?;
    integer_regex(&f)?;
    Ok(parse_integer_with(s, &f)?.map_or(V::Undef, V::Num))
}

// ----------------------------------------------------------------- numbers

struct NumberProps {
    decimal: char,
    grouping: char,
    exponent: char,
    minus: String,
    percent: char,
    per_mille: char,
    zero: char,
    digit: char,
    pattern: char,
}

fn prop_char(opts: Option<&super::value::Obj>, key: &str, default: char) -> char {
    opts.and_then(|o| obj_get(o, key)).and_then(|v| v.as_str()).and_then(|s| s.chars().next()).unwrap_or(default)
}

struct PicParts {
    prefix: String,
    suffix: String,
    active: String,
    mantissa: String,
    exponent: Option<String>,
    integer: String,
    fractional: String,
    sub: String,
}

struct Pic {
    grouping_positions: Vec<usize>,
    regular_grouping: usize,
    min_int: usize,
    scaling: usize,
    prefix: String,
    fraction_grouping: Vec<usize>,
    min_frac: usize,
    max_frac: usize,
    min_exp: usize,
    suffix: String,
    picture: String,
}

pub fn format_number(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let Some(value) = arg(args, 0).num() else { return Ok(V::Undef) };
    let picture = arg(args, 1).as_str().unwrap_or("").to_string();
    let opts = match arg(args, 2) {
        V::Obj(o) => Some(&**o),
        _ => None,
    };
    let p = NumberProps {
        decimal: prop_char(opts, "decimal-separator", '.'),
        grouping: prop_char(opts, "grouping-separator", ','),
        exponent: prop_char(opts, "exponent-separator", 'e'),
        minus: opts.and_then(|o| obj_get(o, "minus-sign")).and_then(|v| v.as_str()).unwrap_or("-").to_string(),
        percent: prop_char(opts, "percent", '%'),
        per_mille: prop_char(opts, "per-mille", '\u{2030}'),
        zero: prop_char(opts, "zero-digit", '0'),
        digit: prop_char(opts, "digit", '#'),
        pattern: prop_char(opts, "pattern-separator", ';'),
    };
    let family: Vec<char> = (0..10).filter_map(|i| char::from_u32(p.zero as u32 + i)).collect();
    let is_digit = |c: char| family.contains(&c);
    let active = |c: char| is_digit(c) || [p.decimal, p.exponent, p.grouping, p.digit, p.pattern].contains(&c);
    let subs: Vec<&str> = picture.split(p.pattern).collect();
    if subs.len() > 2 {
        return Err(Error::eval(
            "D3080",
            "The format-number picture string must not contain more than one pattern separator",
        ));
    }
    let split = |sub: &str| -> PicParts {
        let chars: Vec<char> = sub.chars().collect();
        let start = chars.iter().position(|&c| active(c) && c != p.exponent).unwrap_or(chars.len());
        let end = chars.iter().rposition(|&c| active(c) && c != p.exponent).map_or(start, |i| i + 1).max(start);
        let prefix: String = chars[..start].iter().collect();
        let suffix: String = chars[end..].iter().collect();
        let active_part: String = chars[start..end].iter().collect();
        let exp_pos = chars.iter().skip(start).position(|&c| c == p.exponent).map(|i| i + start);
        let (mantissa, exponent) = match exp_pos {
            Some(e) if e < end => {
                (chars[start..e].iter().collect::<String>(), Some(chars[e + 1..end].iter().collect::<String>()))
            }
            _ => (active_part.clone(), None),
        };
        let (integer, fractional) = match mantissa.find(p.decimal) {
            Some(d) => (mantissa[..d].to_string(), mantissa[d + p.decimal.len_utf8()..].to_string()),
            None => (mantissa.clone(), suffix.clone()),
        };
        PicParts { prefix, suffix, active: active_part, mantissa, exponent, integer, fractional, sub: sub.to_string() }
    };
    let parts: Vec<PicParts> = subs.iter().map(|s| split(s)).collect();
    for part in &parts {
        let sub = &part.sub;
        let count = |c: char| sub.chars().filter(|&x| x == c).count();
        let mut error = None;
        if count(p.decimal) > 1 {
            error = Some("D3081");
        }
        if count(p.percent) > 1 {
            error = Some("D3082");
        }
        if count(p.per_mille) > 1 {
            error = Some("D3083");
        }
        if count(p.percent) > 0 && count(p.per_mille) > 0 {
            error = Some("D3084");
        }
        if !part.mantissa.chars().any(|c| is_digit(c) || c == p.digit) {
            error = Some("D3085");
        }
        if part.active.chars().any(|c| !active(c)) {
            error = Some("D3086");
        }
        let chars: Vec<char> = sub.chars().collect();
        if let Some(d) = chars.iter().position(|&c| c == p.decimal) {
            if (d > 0 && chars[d - 1] == p.grouping) || chars.get(d + 1) == Some(&p.grouping) {
                error = Some("D3087");
            }
        } else if part.integer.ends_with(p.grouping) {
            error = Some("D3088");
        }
        if chars.windows(2).any(|w| w[0] == p.grouping && w[1] == p.grouping) {
            error = Some("D3089");
        }
        if let Some(opt) = part.integer.find(p.digit)
            && part.integer[..opt].chars().any(is_digit)
        {
            error = Some("D3090");
        }
        if let Some(opt) = part.fractional.rfind(p.digit)
            && part.fractional[opt..].chars().any(is_digit)
        {
            error = Some("D3091");
        }
        if let Some(exp) = &part.exponent {
            if !exp.is_empty() && (count(p.percent) > 0 || count(p.per_mille) > 0) {
                error = Some("D3092");
            }
            if exp.is_empty() || exp.chars().any(|c| !is_digit(c)) {
                error = Some("D3093");
            }
        }
        if let Some(code) = error {
            return Err(Error::eval(code, "Invalid picture string for $formatNumber"));
        }
    }
    let analyse = |part: &PicParts| -> Pic {
        let positions = |s: &str, to_left: bool| -> Vec<usize> {
            let chars: Vec<char> = s.chars().collect();
            let mut out = Vec::new();
            for (i, &c) in chars.iter().enumerate() {
                if c != p.grouping {
                    continue;
                }
                let side: &[char] = if to_left { &chars[..i] } else { &chars[i..] };
                out.push(side.iter().filter(|&&c| is_digit(c) || c == p.digit).count());
            }
            out
        };
        let grouping_positions = positions(&part.integer, false);
        let regular_grouping = regular_repeat(&grouping_positions);
        let fraction_grouping = positions(&part.fractional, true);
        let mut min_int = part.integer.chars().filter(|&c| is_digit(c)).count();
        let scaling = min_int;
        let mut min_frac = part.fractional.chars().filter(|&c| is_digit(c)).count();
        let mut max_frac = part.fractional.chars().filter(|&c| is_digit(c) || c == p.digit).count();
        let has_exp = part.exponent.is_some();
        if min_int == 0 && max_frac == 0 {
            if has_exp {
                min_frac = 1;
                max_frac = 1;
            } else {
                min_int = 1;
            }
        }
        if has_exp && min_int == 0 && part.integer.contains(p.digit) {
            min_int = 1;
        }
        if min_int == 0 && min_frac == 0 {
            min_frac = 1;
        }
        let min_exp = part.exponent.as_ref().map_or(0, |e| e.chars().filter(|&c| is_digit(c)).count());
        Pic {
            grouping_positions,
            regular_grouping,
            min_int,
            scaling,
            prefix: part.prefix.clone(),
            fraction_grouping,
            min_frac,
            max_frac,
            min_exp,
            suffix: part.suffix.clone(),
            picture: part.sub.clone(),
        }
    };
    let mut pics: Vec<Pic> = parts.iter().map(analyse).collect();
    if pics.len() == 1 {
        let mut neg = analyse(&parts[0]);
        neg.prefix = format!("{}{}", p.minus, neg.prefix);
        pics.push(neg);
    }
    let pic = if value >= 0.0 { &pics[0] } else { &pics[1] };
    let adjusted = if pic.picture.contains(p.percent) {
        value * 100.0
    } else if pic.picture.contains(p.per_mille) {
        value * 1000.0
    } else {
        value
    };
    let (mantissa, exponent) = if pic.min_exp == 0 {
        (adjusted, None)
    } else {
        let max_m = 10f64.powi(pic.scaling as i32);
        let min_m = 10f64.powi(pic.scaling as i32 - 1);
        let (mut m, mut e) = (adjusted, 0i32);
        if m != 0.0 {
            while m.abs() < min_m {
                m *= 10.0;
                e -= 1;
            }
            while m.abs() > max_m {
                m /= 10.0;
                e += 1;
            }
        }
        (m, Some(e))
    };
    let rounded = round_half_even(mantissa, pic.max_frac as i32);
    let make = |v: f64, dp: usize| -> String {
        let s = format!("{:.*}", dp, v.abs());
        if p.zero != '0' {
            s.chars().map(|c| if c.is_ascii_digit() { family[(c as u8 - b'0') as usize] } else { c }).collect()
        } else {
            s
        }
    };
    let mut s: Vec<char> = make(rounded, pic.max_frac).chars().collect();
    match s.iter().position(|&c| c == '.') {
        Some(i) => s[i] = p.decimal,
        None => s.push(p.decimal),
    }
    while s.first() == Some(&p.zero) {
        s.remove(0);
    }
    while s.last() == Some(&p.zero) {
        s.pop();
    }
    let dpos = s.iter().position(|&c| c == p.decimal).unwrap_or(s.len());
    let pad_left = pic.min_int as isize - dpos as isize;
    let pad_right = pic.min_frac as isize - (s.len() as isize - dpos as isize - 1);
    if pad_left > 0 {
        for _ in 0..pad_left {
            s.insert(0, p.zero);
        }
    }
    if pad_right > 0 {
        s.extend(std::iter::repeat_n(p.zero, pad_right as usize));
    }
    let mut dpos = s.iter().position(|&c| c == p.decimal).unwrap_or(s.len());
    if let Some(groups) = dpos.saturating_sub(1).checked_div(pic.regular_grouping) {
        for g in 1..=groups {
            s.insert(dpos - g * pic.regular_grouping, p.grouping);
        }
    } else {
        for &pos in &pic.grouping_positions {
            if pos <= dpos {
                s.insert(dpos - pos, p.grouping);
                dpos += 1;
            }
        }
    }
    let dpos = s.iter().position(|&c| c == p.decimal).unwrap_or(s.len());
    for &pos in &pic.fraction_grouping {
        let at = pos + dpos + 1;
        if at <= s.len() {
            s.insert(at, p.grouping);
        }
    }
    let dpos = s.iter().position(|&c| c == p.decimal).unwrap_or(s.len());
    if pic.min_frac == 0 && dpos + 1 == s.len() {
        s.pop();
    }
    let mut out: String = s.into_iter().collect();
    if let Some(e) = exponent {
        let mut es = make(e as f64, 0);
        if pic.min_exp > es.chars().count() {
            es = std::iter::repeat_n(p.zero, pic.min_exp - es.chars().count()).collect::<String>() + &es;
        }
        out.push(p.exponent);
        if e < 0 {
            out.push_str(&p.minus);
        }
        out.push_str(&es);
    }
    Ok(V::Str(Arc::from(format!("{}{}{}", pic.prefix, out, pic.suffix))))
}

// -------------------------------------------------------------- date/time

const DAYS: [&str; 8] = ["", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// JavaScript's `Date.UTC` (month 0-based, every field may overflow).
fn date_utc(y: i64, m0: i64, d: i64, h: i64, mi: i64, s: i64, ms: i64) -> i64 {
    let y = y + m0.div_euclid(12);
    let m = m0.rem_euclid(12) + 1;
    (days_from_civil(y, m, 1) + d - 1) * DAY_MS + h * 3_600_000 + mi * 60_000 + s * 1000 + ms
}

struct DateParts {
    year: i64,
    month0: i64,
    day: i64,
    weekday: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
    time: i64,
}

fn date_parts(ms: i64) -> DateParts {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    DateParts {
        year: y,
        month0: m - 1,
        day: d,
        weekday: (days + 4).rem_euclid(7),
        hour: rem / 3_600_000,
        minute: rem / 60_000 % 60,
        second: rem / 1000 % 60,
        millis: rem % 1000,
        time: ms,
    }
}

fn start_of_first_week(year: i64, month0: i64) -> i64 {
    let (year, month0) = (year + month0.div_euclid(12), month0.rem_euclid(12));
    let jan1 = date_utc(year, month0, 1, 0, 0, 0, 0);
    let mut day = date_parts(jan1).weekday;
    if day == 0 {
        day = 7;
    }
    if day > 4 { jan1 + (8 - day) * DAY_MS } else { jan1 - (day - 1) * DAY_MS }
}

fn delta_weeks(start: i64, end: i64) -> f64 {
    (end - start) as f64 / (DAY_MS * 7) as f64 + 1.0
}

#[derive(Clone)]
enum Fragment {
    Num(f64),
    Text(&'static str),
    None,
}

fn fragment(d: &DateParts, component: char) -> Fragment {
    use Fragment::*;
    match component {
        'Y' => Num(d.year as f64),
        'M' => Num((d.month0 + 1) as f64),
        'D' => Num(d.day as f64),
        'd' => {
            let today = date_utc(d.year, d.month0, d.day, 0, 0, 0, 0);
            let jan1 = date_utc(d.year, 0, 1, 0, 0, 0, 0);
            Num(((today - jan1) / DAY_MS + 1) as f64)
        }
        'F' => Num(if d.weekday == 0 { 7.0 } else { d.weekday as f64 }),
        'W' => {
            let start = start_of_first_week(d.year, 0);
            let today = date_utc(d.year, d.month0, d.day, 0, 0, 0, 0);
            let mut week = delta_weeks(start, today);
            if week > 52.0 {
                if today >= start_of_first_week(d.year + 1, 0) {
                    week = 1.0;
                }
            } else if week < 1.0 {
                week = delta_weeks(start_of_first_week(d.year - 1, 0), today);
            }
            Num(week.floor())
        }
        'w' => {
            let start = start_of_first_week(d.year, d.month0);
            let today = date_utc(d.year, d.month0, d.day, 0, 0, 0, 0);
            let mut week = delta_weeks(start, today);
            if week > 4.0 {
                if today >= start_of_first_week(d.year, d.month0 + 1) {
                    week = 1.0;
                }
            } else if week < 1.0 {
                week = delta_weeks(start_of_first_week(d.year, d.month0 - 1), today);
            }
            Num(week.floor())
        }
        'X' => {
            let start = start_of_first_week(d.year, 0);
            let end = start_of_first_week(d.year + 1, 0);
            Num(if d.time < start {
                (d.year - 1) as f64
            } else if d.time >= end {
                (d.year + 1) as f64
            } else {
                d.year as f64
            })
        }
        'x' => {
            let start = start_of_first_week(d.year, d.month0);
            let end = start_of_first_week(d.year, d.month0 + 1);
            let m = if d.time < start {
                (d.month0 - 1).rem_euclid(12)
            } else if d.time >= end {
                (d.month0 + 1).rem_euclid(12)
            } else {
                d.month0
            };
            Num((m + 1) as f64)
        }
        'H' => Num(d.hour as f64),
        'h' => {
            let h = d.hour % 12;
            Num(if h == 0 { 12.0 } else { h as f64 })
        }
        'P' => Text(if d.hour >= 12 { "pm" } else { "am" }),
        'm' => Num(d.minute as f64),
        's' => Num(d.second as f64),
        'f' => Num(d.millis as f64),
        'C' | 'E' => Text("ISO"),
        _ => None,
    }
}

#[derive(Clone, Debug)]
enum PicturePart {
    Literal(String),
    Marker(Marker),
}

#[derive(Clone, Debug)]
struct Marker {
    component: char,
    names: Option<Case>,
    presentation2: Option<char>,
    width_max: Option<usize>,
    integer: Option<IntegerFormat>,
    /// Digits the year is cut to (`[Y,2]`), -1 for all.
    n: i64,
}

fn default_presentation(c: char) -> Option<&'static str> {
    Some(match c {
        'Y' | 'M' | 'D' | 'd' | 'W' | 'w' | 'X' | 'x' | 'H' | 'h' | 'f' => "1",
        'F' | 'P' | 'C' | 'E' => "n",
        'm' | 's' => "01",
        'Z' | 'z' => "01:01",
        _ => return None,
    })
}

fn analyse_datetime_picture(picture: &str) -> Result<Vec<PicturePart>, Error> {
    let mut parts = Vec::new();
    let chars: Vec<char> = picture.chars().collect();
    let literal = |parts: &mut Vec<PicturePart>, s: &[char]| {
        if !s.is_empty() {
            let text: String = s.iter().collect();
            parts.push(PicturePart::Literal(text.replace("]]", "]")));
        }
    };
    let (mut start, mut pos) = (0, 0);
    while pos < chars.len() {
        if chars[pos] == '[' {
            if chars.get(pos + 1) == Some(&'[') {
                literal(&mut parts, &chars[start..pos]);
                parts.push(PicturePart::Literal("[".into()));
                pos += 2;
                start = pos;
                continue;
            }
            literal(&mut parts, &chars[start..pos]);
            start = pos;
            let Some(close) = chars[start..].iter().position(|&c| c == ']').map(|i| i + start) else {
                return Err(Error::eval("D3135", "No matching closing bracket ']' in date/time picture string"));
            };
            pos = close;
            let marker: String = chars[start + 1..pos].iter().filter(|c| !c.is_whitespace()).collect();
            let component = marker.chars().next().unwrap_or(' ');
            let (pres, width) = match marker.rfind(',') {
                Some(comma) => (&marker[component.len_utf8()..comma], Some(&marker[comma + 1..])),
                None => (&marker[component.len_utf8().min(marker.len())..], None),
            };
            // A width past the payload limit could never be output: clamped,
            // it cannot make a huge allocation, and the result is refused.
            let parse_width = |w: &str| -> Option<usize> {
                if w == "*" { None } else { w.parse::<usize>().ok().map(|n| n.min(MAX_STRING_BYTES + 1)) }
            };
            let (width_min, width_max) = match width {
                Some(w) => match w.find('-') {
                    Some(d) => (parse_width(&w[..d]), parse_width(&w[d + 1..])),
                    None => (parse_width(w), None),
                },
                None => (None, None),
            };
            let mut presentation2 = None;
            let presentation1: String = if pres.chars().count() == 1 {
                pres.to_string()
            } else if pres.chars().count() > 1 {
                let last = pres.chars().last().unwrap_or(' ');
                if "atco".contains(last) {
                    presentation2 = Some(last);
                    pres[..pres.len() - 1].to_string()
                } else {
                    pres.to_string()
                }
            } else {
                match default_presentation(component) {
                    Some(p) => p.to_string(),
                    None => {
                        return Err(Error::eval(
                            "D3132",
                            format!("Unknown component specifier {component} in date/time picture string"),
                        ));
                    }
                }
            };
            if default_presentation(component).is_none() {
                return Err(Error::eval(
                    "D3132",
                    format!("Unknown component specifier {component} in date/time picture string"),
                ));
            }
            let mut m = Marker { component, names: None, presentation2, width_max, integer: None, n: -1 };
            if presentation1.starts_with('n') {
                m.names = Some(Case::Lower);
            } else if let Some(rest) = presentation1.strip_prefix('N') {
                m.names = Some(if rest.starts_with('n') { Case::Title } else { Case::Upper });
            } else if "YMDdFWwXxHhmsf".contains(component) {
                let mut pattern = presentation1.clone();
                if let Some(p2) = presentation2 {
                    pattern.push(';');
                    pattern.push(p2);
                }
                let mut f = analyse_integer_picture(&pattern)?;
                if let Some(min) = width_min
                    && f.mandatory < min
                {
                    f.mandatory = min;
                }
                if !"YMD".contains(component) && f.mandatory + f.optional >= 2 && f.regular.is_none() {
                    // Fixed-width fields parse without separators between them.
                    f.width = f.mandatory + f.optional;
                }
                if "YMD".contains(component) {
                    if let Some(max) = width_max {
                        m.n = max as i64;
                        f.mandatory = max;
                    } else {
                        let w = f.mandatory + f.optional;
                        if w >= 2 {
                            m.n = w as i64;
                        }
                    }
                    if m.n > 0 {
                        f.width = m.n as usize;
                    }
                }
                m.integer = Some(f);
            }
            if component == 'Z' || component == 'z' {
                m.integer = Some(analyse_integer_picture(&presentation1)?);
            }
            parts.push(PicturePart::Marker(m));
            start = pos + 1;
        }
        pos += 1;
    }
    literal(&mut parts, &chars[start.min(chars.len())..]);
    Ok(parts)
}

const ISO_PICTURE: &str = "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001][Z01:01t]";

fn format_datetime(millis: i64, picture: Option<&str>, timezone: Option<&str>) -> Result<String, Error> {
    let (mut off_h, mut off_m) = (0i64, 0i64);
    if let Some(tz) = timezone {
        let digits: String = tz.chars().take_while(|c| c.is_ascii_digit() || *c == '-' || *c == '+').collect();
        let offset: i64 = digits.parse().unwrap_or(0);
        // JavaScript: Math.floor(offset / 100) and a remainder with the sign of `offset`.
        off_h = (offset as f64 / 100.0).floor() as i64;
        off_m = offset % 100;
    }
    let parts = analyse_datetime_picture(picture.unwrap_or(ISO_PICTURE))?;
    let shifted = millis + (60 * off_h + off_m) * 60_000;
    let date = date_parts(shifted);
    let mut out = String::new();
    for part in &parts {
        match part {
            PicturePart::Literal(s) => out.push_str(s),
            PicturePart::Marker(m) => out.push_str(&format_component(&date, m, off_h, off_m)?),
        }
    }
    Ok(out)
}

fn format_component(date: &DateParts, m: &Marker, off_h: i64, off_m: i64) -> Result<String, Error> {
    let value = fragment(date, m.component);
    if "YMDdFWwXxHhms".contains(m.component) {
        let Fragment::Num(mut n) = value else { return Ok(String::new()) };
        if m.component == 'Y' && m.n != -1 {
            n %= 10f64.powi(m.n as i32);
        }
        if let Some(case) = m.names {
            let name = match m.component {
                'M' | 'x' => MONTHS.get((n as usize).wrapping_sub(1)).copied().unwrap_or(""),
                'F' => DAYS.get(n as usize).copied().unwrap_or(""),
                c => {
                    return Err(Error::eval(
                        "D3133",
                        format!("The date/time picture modifier 'n' is not supported for component {c}"),
                    ));
                }
            };
            let mut s = match case {
                Case::Upper => name.to_uppercase(),
                Case::Lower => name.to_lowercase(),
                Case::Title => name.to_string(),
            };
            if let Some(max) = m.width_max {
                s = s.chars().take(max).collect();
            }
            return Ok(s);
        }
        let f = m.integer.as_ref().ok_or_else(|| Error::eval("D3132", "Missing integer format"))?;
        return format_integer_with(n, f);
    }
    match m.component {
        'f' => {
            let Fragment::Num(n) = value else { return Ok(String::new()) };
            let f = m.integer.as_ref().ok_or_else(|| Error::eval("D3132", "Missing integer format"))?;
            format_integer_with(n, f)
        }
        'Z' | 'z' => {
            let offset = off_h * 100 + off_m;
            let f = m.integer.as_ref().ok_or_else(|| Error::eval("D3132", "Missing integer format"))?;
            let mut s = if f.regular.is_some() {
                format_integer_with(offset as f64, f)?
            } else {
                match f.mandatory {
                    1 | 2 => {
                        let mut s = format_integer_with(off_h as f64, f)?;
                        if off_m != 0 {
                            s.push(':');
                            s.push_str(&format!("{:02}", off_m.abs()));
                        }
                        s
                    }
                    3 | 4 => format_integer_with(offset as f64, f)?,
                    n => {
                        return Err(Error::eval(
                            "D3134",
                            format!("The timezone integer format specifier cannot have more than four digits: {n}"),
                        ));
                    }
                }
            };
            if offset >= 0 {
                s.insert(0, '+');
            }
            if m.component == 'z' {
                s.insert_str(0, "GMT");
            }
            if offset == 0 && m.presentation2 == Some('t') {
                s = "Z".into();
            }
            Ok(s)
        }
        'P' => {
            let Fragment::Text(t) = value else { return Ok(String::new()) };
            Ok(if m.names == Some(Case::Upper) { t.to_uppercase() } else { t.to_string() })
        }
        _ => Ok(match value {
            Fragment::Text(t) => t.to_string(),
            Fragment::Num(n) => n.to_string(),
            Fragment::None => String::new(),
        }),
    }
}

pub fn from_millis(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let Some(ms) = arg(args, 0).num() else { return Ok(V::Undef) };
    let picture = arg(args, 1).as_str();
    let tz = arg(args, 2).as_str();
    Ok(V::Str(Arc::from(format_datetime(ms.floor() as i64, picture, tz)?)))
}

fn parse_iso8601(s: &str) -> Option<i64> {
    let re = regex::Regex::new(
        r"^(\d{4})(?:-([01]\d))?(?:-([0-3]\d))?(?:T([0-2]\d):([0-5]\d):([0-5]\d))?(\.\d+)?([+-][0-2]\d:?[0-5]\d|Z)?$",
    )
    .ok()?;
    let c = re.captures(s)?;
    let num = |i: usize, d: i64| c.get(i).and_then(|m| m.as_str().parse::<i64>().ok()).unwrap_or(d);
    let frac = c.get(7).map_or(0, |m| {
        let digits = &m.as_str()[1..];
        let padded = format!("{digits:0<3}");
        padded[..3].parse::<i64>().unwrap_or(0)
    });
    let mut ms = date_utc(num(1, 1970), num(2, 1) - 1, num(3, 1), num(4, 0), num(5, 0), num(6, 0), frac);
    if let Some(tz) = c.get(8).map(|m| m.as_str())
        && tz != "Z"
    {
        let sign = if tz.starts_with('-') { -1 } else { 1 };
        let digits: String = tz[1..].chars().filter(|c| c.is_ascii_digit()).collect();
        let h: i64 = digits[..2].parse().unwrap_or(0);
        let m: i64 = digits[2..].parse().unwrap_or(0);
        ms -= sign * (h * 60 + m) * 60_000;
    }
    Some(ms)
}

pub fn to_millis(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    match arg(args, 1).as_str() {
        None => match parse_iso8601(s) {
            Some(ms) => Ok(V::Num(ms as f64)),
            None => Err(Error::eval("D3110", format!("The timestamp {s} cannot be parsed as an ISO 8601 date"))),
        },
        Some(picture) => Ok(parse_datetime(s, picture, ev.now_millis)?.map_or(V::Undef, |ms| V::Num(ms as f64))),
    }
}

fn parse_datetime(text: &str, picture: &str, now: i64) -> Result<Option<i64>, Error> {
    let parts = analyse_datetime_picture(picture)?;
    let mut regex = String::from("(?i)^");
    let mut markers: Vec<&Marker> = Vec::new();
    for part in &parts {
        match part {
            PicturePart::Literal(s) => regex.push_str(&regex::escape(s)),
            PicturePart::Marker(m) => {
                let r = if m.component == 'Z' || m.component == 'z' {
                    let sep = m.integer.as_ref().and_then(|f| f.regular.as_ref().map(|r| r.0.clone()));
                    format!(
                        "{}[-+][0-9]+{}",
                        if m.component == 'z' { "GMT" } else { "" },
                        sep.map(|s| format!("{}[0-9]+", regex::escape(&s))).unwrap_or_default()
                    )
                } else if let Some(f) = &m.integer {
                    integer_regex(f)?
                } else if m.names.is_some() || m.component == 'P' {
                    "[a-zA-Z]+".to_string()
                } else {
                    return Err(Error::eval(
                        "D3133",
                        format!("The date/time picture modifier is not supported for component {}", m.component),
                    ));
                };
                regex.push('(');
                regex.push_str(&r);
                regex.push(')');
                markers.push(m);
            }
        }
    }
    regex.push('$');
    let re = regex::Regex::new(&regex).map_err(|e| Error::eval("D3136", format!("Bad date/time picture: {e}")))?;
    let Some(caps) = re.captures(text) else { return Ok(None) };
    let mut comps: std::collections::HashMap<char, i64> = std::collections::HashMap::new();
    for (i, m) in markers.iter().enumerate() {
        let Some(value) = caps.get(i + 1).map(|c| c.as_str()) else { continue };
        let parsed: Option<i64> = if m.component == 'Z' || m.component == 'z' {
            let v = if m.component == 'z' { &value[3..] } else { value };
            let sep = m.integer.as_ref().and_then(|f| f.regular.as_ref().map(|r| r.0.clone()));
            let (h, mi) = match sep.and_then(|s| v.find(s.as_str()).map(|p| (p, s.len()))) {
                Some((p, l)) => (v[..p].parse::<i64>().unwrap_or(0), v[p + l..].parse::<i64>().unwrap_or(0)),
                None => {
                    if v.len() - 1 <= 2 {
                        (v.parse::<i64>().unwrap_or(0), 0)
                    } else {
                        (v[..3].parse::<i64>().unwrap_or(0), v[3..].parse::<i64>().unwrap_or(0))
                    }
                }
            };
            Some(h * 60 + if h < 0 { -mi } else { mi })
        } else if m.component == 'f' {
            // Fractional seconds: the digits are a fraction, read to the millisecond.
            let digits: String = value.chars().filter(|c| c.is_ascii_digit()).chain("000".chars()).take(3).collect();
            digits.parse::<i64>().ok()
        } else if let Some(f) = &m.integer {
            parse_integer_with(value, f)?.map(|n| n as i64)
        } else {
            let lower = value.to_lowercase();
            let matches = |name: &str| {
                let name = match m.width_max {
                    Some(w) => name.chars().take(w).collect::<String>(),
                    None => name.to_string(),
                };
                name.to_lowercase() == lower
            };
            match m.component {
                'M' | 'x' => MONTHS.iter().position(|n| matches(n)).map(|i| i as i64 + 1),
                'F' => DAYS.iter().skip(1).position(|n| matches(n)).map(|i| i as i64 + 1),
                'P' => match lower.as_str() {
                    "am" => Some(0),
                    "pm" => Some(1),
                    _ => None,
                },
                c => {
                    return Err(Error::eval(
                        "D3133",
                        format!("The date/time picture modifier 'n' is not supported for component {c}"),
                    ));
                }
            }
        };
        if let Some(v) = parsed {
            comps.insert(m.component, v);
        }
    }
    if comps.is_empty() {
        return Ok(None);
    }
    let mut mask = 0u32;
    let shift = |mask: &mut u32, present: bool| {
        *mask <<= 1;
        *mask += present as u32;
    };
    for c in "YXMxWwdD".chars() {
        shift(&mut mask, comps.contains_key(&c));
    }
    let is_type = |t: u32, mask: u32| (!t & mask) == 0 && (t & mask) != 0;
    let date_a = is_type(161, mask);
    let date_b = !date_a && is_type(130, mask);
    let date_c = is_type(84, mask);
    let date_d = !date_c && is_type(72, mask);
    let mut tmask = 0u32;
    for c in "PHhmsf".chars() {
        shift(&mut tmask, comps.contains_key(&c));
    }
    let time_a = is_type(23, tmask);
    let time_b = !time_a && is_type(47, tmask);
    let date_comps = if date_b {
        "Yd"
    } else if date_c {
        "XxwF"
    } else if date_d {
        "XWF"
    } else {
        "YMD"
    };
    let time_comps = if time_b { "Phmsf" } else { "Hmsf" };
    let now_parts = date_parts(now);
    let (mut start_specified, mut end_specified) = (false, false);
    for c in date_comps.chars().chain(time_comps.chars()) {
        if let std::collections::hash_map::Entry::Vacant(e) = comps.entry(c) {
            if start_specified {
                e.insert(if "MDd".contains(c) { 1 } else { 0 });
                end_specified = true;
            } else {
                let v = match fragment(&now_parts, c) {
                    Fragment::Num(n) => n as i64,
                    Fragment::Text(t) => (t == "pm") as i64,
                    Fragment::None => 0,
                };
                e.insert(v);
            }
        } else {
            start_specified = true;
            if end_specified {
                return Err(Error::eval(
                    "D3136",
                    "The date/time picture string is missing specifiers required to parse the timestamp",
                ));
            }
        }
    }
    let get = |c: char| comps.get(&c).copied().unwrap_or(0);
    let mut month0 = if get('M') > 0 { get('M') - 1 } else { 0 };
    let mut day = get('D');
    if date_b {
        let derived = date_parts(date_utc(get('Y'), 0, 1, 0, 0, 0, 0) + (get('d') - 1) * DAY_MS);
        month0 = derived.month0;
        day = derived.day;
    }
    if date_c || date_d {
        return Err(Error::eval("D3136", "Parsing ISO week dates is not supported"));
    }
    let mut hour = get('H');
    if time_b {
        hour = if get('h') == 12 { 0 } else { get('h') };
        if get('P') == 1 {
            hour += 12;
        }
    }
    let mut millis = date_utc(get('Y'), month0, day, hour, get('m'), get('s'), get('f'));
    let tz = comps.get(&'Z').or_else(|| comps.get(&'z')).copied().unwrap_or(0);
    millis -= tz * 60_000;
    Ok(Some(millis))
}

#[cfg(test)]
mod tests {
    use super::words_to_number;

    #[test]
    fn number_words_beyond_u64_compute_in_doubles_as_javascript_does() {
        assert_eq!(words_to_number("ten billion trillion trillion trillion"), Some(1e46));
        assert_eq!(words_to_number("one thousand trillion"), Some(1e15));
        assert_eq!(words_to_number("one hundred and twenty-three"), Some(123.0));
        assert_eq!(words_to_number("eleventy"), None);
    }
}
