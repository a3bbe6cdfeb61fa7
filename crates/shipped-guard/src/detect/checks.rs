//! Checksums and range rules that turn a pattern match into a finding.

/// Returns whether `digits` (ASCII digits only) pass the Luhn check used by payment cards.
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (position, byte) in digits.iter().rev().enumerate() {
        let mut value = u32::from(byte - b'0');
        if position % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    sum % 10 == 0
}

/// Returns whether a US Social Security number lies in the issued ranges.
///
/// The Social Security Administration never issues area 000, 666 or 900–999
/// (the 9xx range belongs to taxpayer ids), group 00 or serial 0000.
pub(crate) fn ssn_valid(area: u16, group: u16, serial: u16) -> bool {
    let area_ok = area != 0 && area != 666 && area < 900;
    area_ok && group != 0 && serial != 0
}

/// Returns whether the two prefix letters of a UK National Insurance number may be issued.
///
/// The character classes of the pattern already exclude D, F, I, Q, U and V, and O as
/// the second letter; HMRC also never issues these pairs.
pub(crate) fn nino_prefix_valid(prefix: &[u8]) -> bool {
    !matches!(
        prefix,
        b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ"
    )
}

/// Returns whether `compact` (an IBAN with spaces removed, upper case) has the length its
/// country prescribes and passes the ISO 13616 mod-97 check.
pub(crate) fn iban_valid(compact: &[u8]) -> bool {
    let Some(country) = compact.get(..2) else {
        return false;
    };
    if iban_length(country) != Some(compact.len()) {
        return false;
    }
    // Move the country code and check digits to the end, map letters to 10..=35 and
    // reduce modulo 97 as the digits stream past, so no big integer is needed.
    let rearranged = compact[4..].iter().chain(&compact[..4]);
    let mut remainder = 0u32;
    for &byte in rearranged {
        match byte {
            b'0'..=b'9' => remainder = (remainder * 10 + u32::from(byte - b'0')) % 97,
            b'A'..=b'Z' => remainder = (remainder * 100 + u32::from(byte - b'A') + 10) % 97,
            _ => return false,
        }
    }
    remainder == 1
}

/// IBAN length by country, from the SWIFT IBAN registry.
///
/// NOTE: a country missing from this table is not detected; the table lists the
/// countries of the registry's main body, not the experimental formats.
fn iban_length(country: &[u8]) -> Option<usize> {
    let length = match country {
        b"NO" => 15,
        b"BE" => 16,
        b"DK" | b"FI" | b"FO" | b"GL" | b"NL" => 18,
        b"MK" | b"SI" => 19,
        b"AT" | b"BA" | b"EE" | b"KZ" | b"LT" | b"LU" | b"XK" => 20,
        b"CH" | b"CR" | b"HR" | b"LI" | b"LV" => 21,
        b"BG" | b"BH" | b"DE" | b"GB" | b"GE" | b"IE" | b"ME" | b"RS" | b"VA" => 22,
        b"AE" | b"GI" | b"IL" | b"IQ" | b"TL" => 23,
        b"AD" | b"CZ" | b"ES" | b"MD" | b"PK" | b"RO" | b"SA" | b"SE" | b"SK" | b"TN" | b"VG" => 24,
        b"PT" | b"ST" => 25,
        b"IS" | b"TR" => 26,
        b"FR" | b"GR" | b"IT" | b"MC" | b"MR" | b"SM" => 27,
        b"AL" | b"AZ" | b"BY" | b"CY" | b"DO" | b"GT" | b"HU" | b"LB" | b"PL" | b"SV" => 28,
        b"BR" | b"EG" | b"PS" | b"QA" | b"UA" => 29,
        b"JO" | b"KW" | b"MU" => 30,
        b"MT" | b"SC" => 31,
        b"LC" => 32,
        _ => return None,
    };
    Some(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_card_numbers() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(luhn_valid(b"5555555555554444"));
        assert!(luhn_valid(b"378282246310005"));
    }

    #[test]
    fn luhn_rejects_one_changed_digit() {
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(!luhn_valid(b"5555555555554445"));
    }

    #[test]
    fn ssn_ranges() {
        assert!(ssn_valid(123, 45, 6789));
        assert!(!ssn_valid(0, 45, 6789));
        assert!(!ssn_valid(666, 45, 6789));
        assert!(!ssn_valid(900, 45, 6789));
        assert!(!ssn_valid(123, 0, 6789));
        assert!(!ssn_valid(123, 45, 0));
    }

    #[test]
    fn iban_checksum_and_length() {
        assert!(iban_valid(b"GB82WEST12345698765432"));
        assert!(iban_valid(b"DE89370400440532013000"));
        assert!(!iban_valid(b"GB82WEST12345698765433"));
        assert!(!iban_valid(b"GB82WEST1234569876543"));
        assert!(!iban_valid(b"XX82WEST12345698765432"));
    }
}
