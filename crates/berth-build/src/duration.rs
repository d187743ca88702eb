//! Go's `time.ParseDuration` and `Duration.String`, in nanoseconds.
//!
//! HEALTHCHECK options are Go durations (`30s`, `1m30s`, `1.5h`, `250ms`) stored in the
//! image config as integer nanoseconds, and the legacy builder's history entry prints
//! them with Go's `String()` (`1m30s`, `0s`). Hand-written: both are tiny and
//! `humantime` accepts a different syntax.

/// Parses a Go duration string into nanoseconds. Errors use Go's wording.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let orig = s;
    let invalid = || format!("time: invalid duration {}", crate::parser::go_quote(orig));
    let mut s = s;
    let mut neg = false;
    if let Some(r) = s.strip_prefix('-') {
        neg = true;
        s = r;
    } else if let Some(r) = s.strip_prefix('+') {
        s = r;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    let mut total_ns: i128 = 0;
    while !s.is_empty() {
        let int_len = s.chars().take_while(|c| c.is_ascii_digit()).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(r) = s.strip_prefix('.') {
            let n = r.chars().take_while(|c| c.is_ascii_digit()).count();
            frac_part = &r[..n];
            s = &r[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .chars()
            .take_while(|c| *c != '.' && !c.is_ascii_digit())
            .map(|c| c.len_utf8())
            .sum::<usize>();
        if unit_len == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                crate::parser::go_quote(orig)
            ));
        }
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let mult: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    crate::parser::go_quote(unit),
                    crate::parser::go_quote(orig)
                ))
            }
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse::<i128>().map_err(|_| invalid())?
        };
        total_ns += whole * mult;
        if !frac_part.is_empty() {
            let f: f64 = format!("0.{frac_part}").parse().map_err(|_| invalid())?;
            total += f * mult as f64;
        }
        if total_ns > i64::MAX as i128 {
            return Err(invalid());
        }
    }
    let v = total_ns + total as i128;
    if v > i64::MAX as i128 {
        return Err(invalid());
    }
    Ok(if neg { -(v as i64) } else { v as i64 })
}

fn fmt_frac(buf: &mut Vec<u8>, mut v: u64, prec: usize) -> u64 {
    let mut print = false;
    for _ in 0..prec {
        let digit = v % 10;
        print = print || digit != 0;
        if print {
            buf.push(b'0' + digit as u8);
        }
        v /= 10;
    }
    if print {
        buf.push(b'.');
    }
    v
}

fn fmt_int(buf: &mut Vec<u8>, mut v: u64) {
    if v == 0 {
        buf.push(b'0');
    } else {
        while v > 0 {
            buf.push(b'0' + (v % 10) as u8);
            v /= 10;
        }
    }
}

/// Go's `time.Duration.String()` for a nanosecond count.
pub fn format_go_duration(d: i64) -> String {
    // Built in reverse, like Go's buffer filled from the end.
    let mut buf: Vec<u8> = Vec::new();
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    if u < 1_000_000_000 {
        if u == 0 {
            return "0s".into();
        }
        buf.push(b's');
        let prec = if u < 1_000 {
            buf.push(b'n');
            0
        } else if u < 1_000_000 {
            buf.extend("µ".bytes().rev());
            3
        } else {
            buf.push(b'm');
            6
        };
        u = fmt_frac(&mut buf, u, prec);
        fmt_int(&mut buf, u);
    } else {
        buf.push(b's');
        u = fmt_frac(&mut buf, u, 9);
        fmt_int(&mut buf, u % 60);
        u /= 60;
        if u > 0 {
            buf.push(b'm');
            fmt_int(&mut buf, u % 60);
            u /= 60;
            if u > 0 {
                buf.push(b'h');
                fmt_int(&mut buf, u);
            }
        }
    }
    if neg {
        buf.push(b'-');
    }
    buf.reverse();
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_go_forms() {
        assert_eq!(parse_go_duration("30s"), Ok(30_000_000_000));
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(
            parse_go_duration("5"),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert!(parse_go_duration("5d")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn format_like_go() {
        assert_eq!(format_go_duration(0), "0s");
        assert_eq!(format_go_duration(30_000_000_000), "30s");
        assert_eq!(format_go_duration(90_000_000_000), "1m30s");
        assert_eq!(format_go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(format_go_duration(1_500_000_000), "1.5s");
        assert_eq!(format_go_duration(250_000_000), "250ms");
        assert_eq!(format_go_duration(1_500), "1.5µs");
    }
}
