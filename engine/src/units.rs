//! How values are shown to people: the one formatter behind explanations, tables, charts,
//! alerts and reports, so a share reads `3.1%` and revenue `1,116,317` everywhere.

/// How a value is shown; named as written here or by an alias.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::VariantNames)]
#[strum(ascii_case_insensitive)]
pub enum Unit {
    /// A count of things.
    #[strum(to_string = "count")]
    Count,
    /// Money.
    #[strum(to_string = "currency", serialize = "money")]
    Currency,
    /// A share between 0 and 1, shown as a percentage.
    #[strum(to_string = "percent", serialize = "ratio", serialize = "share")]
    Percent,
    /// Any other number.
    #[default]
    #[strum(to_string = "number")]
    Number,
}

impl Unit {
    /// The canonical name.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Parses a name or alias, ignoring case and surrounding space.
    pub fn parse(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }

    /// A value for people: percentages for shares, thousands separators and a few
    /// significant digits otherwise (`3.1%`, `1,116,317`, `0.942`).
    pub fn format(self, value: f64) -> String {
        if !value.is_finite() {
            return "n/a".to_string();
        }
        match self {
            Self::Percent => format!("{:.1}%", value * 100.0),
            _ if value.abs() >= 1000.0 => group_thousands(value.round()),
            Self::Count if value.fract() == 0.0 => group_thousands(value),
            _ if value.abs() >= 100.0 => format!("{value:.1}"),
            _ => format!("{value:.3}").trim_end_matches('0').trim_end_matches('.').to_string(),
        }
    }

    /// A short value for an axis tick or a bar label: a share as a percentage, anything else
    /// with k, M or B and about three significant digits (`1.23M`, `35.5k`, `0.931`).
    pub fn short(self, value: f64) -> String {
        let magnitude = value.abs();
        match self {
            _ if !value.is_finite() => "–".to_string(),
            Self::Percent => self.format(value),
            _ if magnitude >= 1e9 => format!("{:.2}B", value / 1e9),
            _ if magnitude >= 1e6 => format!("{:.2}M", value / 1e6),
            _ if magnitude >= 1e4 => format!("{:.1}k", value / 1e3),
            _ if magnitude >= 100.0 => format!("{value:.0}"),
            _ if magnitude >= 1.0 => format!("{value:.2}"),
            _ => format!("{value:.3}"),
        }
    }
}

/// `value` (a whole number) with thousands separators.
fn group_thousands(value: f64) -> String {
    // Whole numbers below 1e18 print exactly as integers; `{:.0}` on a float takes the slow
    // exact-formatting path, which was a tenth of a detection run from Python (every
    // explanation names an expected value).
    let digits = if value.abs() < 1e18 { (value.abs() as u64).to_string() } else { format!("{:.0}", value.abs()) };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_in_their_unit() {
        assert_eq!(Unit::Percent.format(0.0312), "3.1%");
        assert_eq!(Unit::Currency.format(1_116_317.45), "1,116,317");
        assert_eq!(Unit::Count.format(-8431.0), "-8,431");
        assert_eq!(Unit::Number.format(0.9421), "0.942");
        assert_eq!(Unit::Number.format(2.5), "2.5");
        assert_eq!(Unit::Number.format(f64::NAN), "n/a");
    }

    #[test]
    fn short_values_keep_three_significant_figures_and_shares_stay_percentages() {
        assert_eq!(Unit::Currency.short(1_234_567.0), "1.23M");
        assert_eq!(Unit::Number.short(35_500.0), "35.5k");
        assert_eq!(Unit::Count.short(512.4), "512");
        assert_eq!(Unit::Number.short(0.9312), "0.931");
        assert_eq!(Unit::Percent.short(0.025), "2.5%");
        assert_eq!(Unit::Number.short(f64::NAN), "–");
    }

    #[test]
    fn names_and_aliases_parse_to_one_unit() {
        for (text, unit) in [("money", Unit::Currency), ("share", Unit::Percent), (" Ratio ", Unit::Percent)] {
            assert_eq!(Unit::parse(text), Some(unit));
        }
        assert_eq!(Unit::Percent.name(), "percent");
        assert_eq!(Unit::parse("furlongs"), None);
    }
}
