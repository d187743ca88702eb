//! Go's `time.ParseDuration`, in nanoseconds: the one duration grammar of the Docker
//! world (`30s`, `1m30s`, `1.5h`, `250ms`, `-2h`, `0`). HEALTHCHECK options and the
//! `--health-*` flags store it in the image and container config as integer
//! nanoseconds; `--since`/`--until`, the `until` filter and the registry's
//! `config.yml` use it too. Callers word their own errors from [`GoDurationError`].

/// Why a string is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoDurationError {
    /// Empty, a number that does not parse, or out of `i64` nanoseconds.
    #[error("invalid duration")]
    Invalid,
    /// A number without a unit (`5`, `1h30`).
    #[error("missing unit in duration")]
    MissingUnit,
    /// A unit Go does not know (`5d`): the unit as written.
    #[error("unknown unit {0:?} in duration")]
    UnknownUnit(String),
}

/// Parses a Go duration string into nanoseconds, as Go's `time.ParseDuration` does:
/// an optional sign, then one or more decimal numbers each with a unit (`ns`, `us`,
/// `µs`, `μs`, `ms`, `s`, `m`, `h`); `0` alone needs no unit. No surrounding spaces.
pub fn parse_go_duration(s: &str) -> Result<i64, GoDurationError> {
    use GoDurationError::*;
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
        return Err(Invalid);
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
            return Err(Invalid);
        }
        let unit_len = s
            .chars()
            .take_while(|c| *c != '.' && !c.is_ascii_digit())
            .map(|c| c.len_utf8())
            .sum::<usize>();
        if unit_len == 0 {
            return Err(MissingUnit);
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
            _ => return Err(UnknownUnit(unit.to_string())),
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse::<i128>().map_err(|_| Invalid)?
        };
        total_ns += whole * mult;
        if !frac_part.is_empty() {
            let f: f64 = format!("0.{frac_part}").parse().map_err(|_| Invalid)?;
            total += f * mult as f64;
        }
        if total_ns > i64::MAX as i128 {
            return Err(Invalid);
        }
    }
    let v = total_ns + total as i128;
    if v > i64::MAX as i128 {
        return Err(Invalid);
    }
    Ok(if neg { -(v as i64) } else { v as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use GoDurationError::*;

    #[test]
    fn go_forms() {
        assert_eq!(parse_go_duration("30s"), Ok(30_000_000_000));
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_go_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_go_duration("1µs"), Ok(1_000));
        assert_eq!(parse_go_duration("1μs2ns"), Ok(1_002));
        assert_eq!(parse_go_duration("-2h"), Ok(-7_200_000_000_000));
        assert_eq!(parse_go_duration("+10m"), Ok(600_000_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("-0"), Ok(0));
    }

    #[test]
    fn go_errors() {
        assert_eq!(parse_go_duration(""), Err(Invalid));
        assert_eq!(parse_go_duration("-"), Err(Invalid));
        assert_eq!(parse_go_duration(".s"), Err(Invalid));
        assert_eq!(parse_go_duration("9999999999h"), Err(Invalid));
        assert_eq!(parse_go_duration("5"), Err(MissingUnit));
        assert_eq!(parse_go_duration("1h30"), Err(MissingUnit));
        assert_eq!(parse_go_duration("5d"), Err(UnknownUnit("d".into())));
        assert_eq!(
            parse_go_duration("5 minutes"),
            Err(UnknownUnit(" minutes".into()))
        );
        assert_eq!(parse_go_duration(" 5s"), Err(Invalid));
    }
}
