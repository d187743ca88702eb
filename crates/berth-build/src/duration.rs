//! Go's `time.ParseDuration` and `Duration.String`, in nanoseconds.
//!
//! HEALTHCHECK options are Go durations (`30s`, `1m30s`, `1.5h`, `250ms`) stored in the
//! image config as integer nanoseconds, and the legacy builder's history entry prints
//! them with Go's `String()` (`1m30s`, `0s`). The grammar is `berth_oci::duration`'s;
//! this adds Go's error wording and the formatter. Hand-written: `humantime` accepts a
//! different syntax.

use crate::parser::go_quote;

/// Parses a Go duration string into nanoseconds. Errors use Go's wording.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    use berth_oci::duration::GoDurationError as E;
    berth_oci::duration::parse_go_duration(s).map_err(|e| match e {
        E::Invalid => format!("time: invalid duration {}", go_quote(s)),
        E::MissingUnit => format!("time: missing unit in duration {}", go_quote(s)),
        E::UnknownUnit(unit) => format!(
            "time: unknown unit {} in duration {}",
            go_quote(&unit),
            go_quote(s)
        ),
    })
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
