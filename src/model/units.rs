//! Number formatting for summaries and the command line.
//!
//! Compiled into the library (for `Summary::render`) and, by path, into the `varscope`
//! binary; it is public API of neither.

/// `1234567` → `"1,234,567"`.
pub(crate) fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in decimal units: `"1.20 GB"`, `"512 B"`.
pub(crate) fn format_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if b < 1000 {
        return format!("{b} B");
    }
    let mut v = b as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.2} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_by_three() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1_234_567, "1,234,567"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(group_digits(n), s);
        }
    }

    #[test]
    fn bytes_in_decimal_units() {
        for (b, s) in [
            (0, "0 B"),
            (999, "999 B"),
            (1000, "1.00 kB"),
            (1_200_000_000, "1.20 GB"),
            (5_000_000_000_000_000, "5000.00 TB"),
        ] {
            assert_eq!(format_bytes(b), s);
        }
    }
}
