//! Times between s3s's wire type and chrono's: object times, and HTTP dates as stored text.

use std::time::SystemTime;

use s3s::dto::{Timestamp, TimestampFormat};

pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp::from(SystemTime::from(t))
}

/// A wire timestamp as chrono's, at the precision the wire carries.
pub fn chrono_of(t: &Timestamp) -> chrono::DateTime<chrono::Utc> {
    let odt: time::OffsetDateTime = t.clone().into();
    chrono::DateTime::from_timestamp(odt.unix_timestamp(), odt.nanosecond()).unwrap_or_default()
}

/// An HTTP date (`Expires`) as stored text.
pub fn http_date_text(t: &Timestamp) -> String {
    let mut buf = Vec::new();
    let _ = t.format(TimestampFormat::HttpDate, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

pub fn http_date_of(text: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(chrono_of(&timestamp(now)), now);
        let text = http_date_text(&timestamp(now));
        assert_eq!(text, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(chrono_of(&http_date_of(&text).unwrap()), now);
    }
}
