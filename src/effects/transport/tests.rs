use super::*;

#[test]
fn redact_url_hides_only_the_password() {
    assert_eq!(
        redact_url("smtps://user:secret@mail.example.org:465/ehlo?x=1"),
        "smtps://user:***@mail.example.org:465/ehlo?x=1"
    );
    assert_eq!(redact_url("smtp://host:25"), "smtp://host:25");
    assert_eq!(redact_url("smtp://user@host"), "smtp://user@host");
    assert_eq!(redact_url("not a url"), "not a url");
    assert_eq!(
        redact_url("smtp://u:p@ss@host?tls=required"),
        "smtp://u:***@host?tls=required"
    );
}

#[test]
fn stems() {
    assert!(is_valid_stem("00000000000000000042"));
    assert!(is_valid_stem("a-b_c.d"));
    assert!(!is_valid_stem(""));
    assert!(!is_valid_stem(".hidden"));
    assert!(!is_valid_stem("a/b"));
    assert!(!is_valid_stem("..")); // starts with '.'
}

#[test]
fn sender_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sender>();
    assert_send_sync::<SendError>();
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn argv_with_f_already_given() {
    let argv = sendmail_argv(&strings(&["sm", "-fme@x"]), "a@x", &strings(&["b@x"]));
    assert_eq!(argv, Ok(strings(&["sm", "-fme@x", "--", "b@x"])));
}

#[test]
fn argv_null_sender() {
    let argv = sendmail_argv(&strings(&["sm", "-oi"]), "", &strings(&["b@x"]));
    assert_eq!(argv, Ok(strings(&["sm", "-f", "<>", "-oi", "--", "b@x"])));
}

#[test]
fn argv_needs_usable_recipients_without_t() {
    let command = strings(&["sm"]);
    let none = sendmail_argv(&command, "a@x", &[]);
    assert!(none.is_err_and(|e| e.permanent));
    let bad = sendmail_argv(&command, "a@x", &strings(&["b@x\n-X"]));
    assert!(bad.is_err_and(|e| e.permanent));
}
