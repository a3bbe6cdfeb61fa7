//! True and false positives of every output detector, checked through the public
//! redact mode so that the exact matched span shows in the output.
//!
//! Every value here is synthetic: test card numbers, documentation examples and made-up
//! tokens.

use std::sync::OnceLock;

use shipped_guard::{Detector, OutputGuard, OutputMode};

/// One redacting guard with every detector, compiled once for all tests.
fn redacting() -> &'static OutputGuard {
    static GUARD: OnceLock<OutputGuard> = OnceLock::new();
    GUARD.get_or_init(|| OutputGuard::new(OutputMode::Redact, &Detector::ALL))
}

fn redact(text: &str) -> String {
    redacting().check(text).text().to_owned()
}

/// Checks that `value`, standing alone in a sentence, is replaced whole by the
/// placeholder of `detector` and counted once.
fn assert_detected(detector: Detector, value: &str) {
    let guard = redacting();
    let text = format!("Here it is: {value} and more.");
    let verdict = guard.check(&text);
    let expected = format!("Here it is: {} and more.", detector.placeholder());
    assert_eq!(
        verdict.text(),
        expected,
        "{detector} should match {value:?}"
    );
    assert_eq!(
        verdict.findings().count(detector),
        1,
        "{detector} count for {value:?}"
    );
    assert_eq!(
        verdict.findings().total(),
        1,
        "only {detector} for {value:?}"
    );
}

/// Checks that no detector matches `text`.
fn assert_clean(text: &str) {
    let guard = redacting();
    let verdict = guard.check(text);
    assert_eq!(verdict.text(), text, "nothing should match in {text:?}");
    assert!(
        verdict.findings().is_empty(),
        "{:?} in {text:?}",
        verdict.findings()
    );
}

#[test]
fn email_true_positives() {
    for value in [
        "jane.doe@example.com",
        "j+tag@mail.example.co.uk",
        "USER_1@Example.ORG",
        "first-last@sub-domain.example.io",
    ] {
        assert_detected(Detector::Email, value);
    }
}

#[test]
fn email_false_positives() {
    for text in [
        "Mention @handle in the post",
        "user@localhost is not routable",
        "Meet at 5 @ the cafe",
        "The decorator @property works",
    ] {
        assert_clean(text);
    }
}

#[test]
fn phone_true_positives() {
    for value in [
        "+1 415 555 0123",
        "+1-415-555-0123",
        "+14155550123",
        "(415) 555-0123",
        "415-555-0123",
        "415.555.0123",
        "1-800-555-0199",
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "+49 30 901820",
        "020 7946 0958",
        "07700 900123",
        "555-0100",
    ] {
        assert_detected(Detector::Phone, value);
    }
}

/// Numbers that look like phone numbers to a naive pattern. Plain digit runs
/// (`4155550123`) are also left alone on purpose: they are more often ids or order
/// numbers than phone numbers written without separators.
#[test]
fn phone_false_positives() {
    for text in [
        "Pi is 3.14159 roughly",
        "It costs $1,234.56 today",
        "Released on 2024-05-01 at 10:30",
        "Upgrade to v1.2.3 now",
        "Ping 10.0.0.1 first",
        "The host 192.168.100.200 is down",
        "Order 20240501-7731 shipped",
        "Ticket ORD-555-0100 is open",
        "ZIP 12345-6789 is valid",
        "ISBN 978-3-16-148410-0 is a book",
        "Add 1+1 and 2+2",
        "Reference number 4155550123 is closed",
        "Population 1,000,000 people",
        "Scores were 555 0100 and 200",
    ] {
        assert_clean(text);
    }
}

#[test]
fn card_true_positives() {
    for value in [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5555 5555 5555 4444",
        "3782 822463 10005",
        "6011 1111 1111 1117",
    ] {
        assert_detected(Detector::CardNumber, value);
    }
}

#[test]
fn card_followed_by_year_redacts_card_only() {
    assert_eq!(
        redact("Card 4111 1111 1111 1111 2025 ok"),
        "Card [CARD] 2025 ok"
    );
}

#[test]
fn card_false_positives() {
    for text in [
        "Card 4111 1111 1111 1112 fails Luhn",
        "Number 1234 5678 9012 3456 fails Luhn",
        "Digits 3.14159265358979323846 of pi",
        "List 1 2 3 4 5 6 7 8 9 1 0 1 1 4 done",
        "Account 41111111111111111111 is too long",
    ] {
        assert_clean(text);
    }
}

#[test]
fn national_id_true_positives() {
    for value in [
        "123-45-6789",
        "078-05-1120",
        "665-01-0001",
        "AB123456C",
        "AB 12 34 56 C",
    ] {
        assert_detected(Detector::NationalId, value);
    }
}

/// SSNs outside the issued ranges, unseparated SSNs (too often other ids) and
/// National Insurance numbers with a prefix or suffix HMRC never issues.
#[test]
fn national_id_false_positives() {
    for text in [
        "SSN 000-12-3456 is invalid",
        "SSN 666-12-3456 is invalid",
        "SSN 900-12-3456 is invalid",
        "SSN 123-00-4567 is invalid",
        "SSN 123-45-0000 is invalid",
        "Id 123456789 is plain",
        "Part 2123-45-6789 is longer",
        "NINO GB123456A is invalid",
        "NINO QQ123456C is invalid",
        "NINO DA123456C is invalid",
        "NINO AB123456E is invalid",
    ] {
        assert_clean(text);
    }
}

#[test]
fn iban_true_positives() {
    for value in [
        "GB82 WEST 1234 5698 7654 32",
        "GB82WEST12345698765432",
        "DE89 3704 0044 0532 0130 00",
        "NL91ABNA0417164300",
        "FR14 2004 1010 0505 0001 3M02 606",
    ] {
        assert_detected(Detector::Iban, value);
    }
}

#[test]
fn iban_false_positives() {
    for text in [
        "IBAN GB82 WEST 1234 5698 7654 33 has a bad checksum",
        "IBAN GB82 WEST 1234 5698 7654 is too short",
        "IBAN XX82 WEST 1234 5698 7654 32 has no country",
        "Code AB12 CDEF GHIJ KLMN OP is random",
    ] {
        assert_clean(text);
    }
}

#[test]
fn secret_true_positives() {
    for value in [
        "sk-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe",
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_Qr7St",
        "sk-ant-api03-Qw3Er4Ty5Ui6Op7As8Df9Gh0JkLzXcVb-AA",
        "AKIAIOSFODNN7EXAMPLE",
        "ASIA4EXAMPLE7KEY2ID9",
        "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "xoxb-1234567890-abcdefABCDEF",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    ] {
        assert_detected(Detector::Secret, value);
    }
}

#[test]
fn private_key_block_redacted_whole() {
    let text = "Key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsynthetic0\nQm9ndXNrZXk=\n-----END RSA PRIVATE KEY-----\nDone.";
    assert_eq!(redact(text), "Key:\n[SECRET]\nDone.");
}

#[test]
fn private_key_without_footer_redacts_body() {
    let text = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQm9ndXM=\n";
    assert_eq!(redact(text), "[SECRET]");
}

#[test]
fn secret_false_positives() {
    for text in [
        "Install sk-learn-and-numpy-for-the-examples first",
        "Use the task-management-overview-for-planning board",
        "The AKIA1234 prefix alone is not a key",
        "He was the bearer of bad news",
        "Short ghp_abc is not a token",
        "The public key -----BEGIN PUBLIC KEY----- is fine",
    ] {
        assert_clean(text);
    }
}

#[test]
fn disabled_detector_does_not_match() {
    let guard = OutputGuard::new(OutputMode::Redact, &[Detector::Email]);
    let text = "Call 555-0100 or mail a@example.com";
    assert_eq!(guard.check(text).text(), "Call 555-0100 or mail [EMAIL]");
}

#[test]
fn block_mode_names_first_detector() {
    let guard = OutputGuard::new(OutputMode::Block, &Detector::ALL);
    let verdict = guard.check("Call 555-0100 or mail a@example.com");
    let shipped_guard::OutputVerdict::Blocked { reason, findings } = verdict else {
        panic!("expected a block");
    };
    assert_eq!(reason.name(), "phone");
    assert_eq!(findings.count(Detector::Phone), 1);
    assert_eq!(findings.count(Detector::Email), 1);
}

#[test]
fn verdict_debug_omits_matched_text() {
    let guard = OutputGuard::new(OutputMode::Block, &Detector::ALL);
    let verdict = guard.check("Mail jane.doe@example.com now");
    let printed = format!("{verdict:?}");
    assert!(!printed.contains("jane"), "{printed}");
    assert!(printed.contains("email: 1"), "{printed}");

    let guard = OutputGuard::new(OutputMode::Redact, &Detector::ALL);
    let printed = format!("{:?}", guard.check("Mail jane.doe@example.com now"));
    assert!(!printed.contains("jane"), "{printed}");
}

#[test]
fn clean_text_passes_unchanged() {
    let guard = OutputGuard::new(OutputMode::Block, &Detector::ALL);
    let text = "The capital of France is Paris. It has 2,1 million inhabitants.";
    let verdict = guard.check(text);
    assert!(!verdict.is_blocked());
    assert_eq!(verdict.text(), text);
}
