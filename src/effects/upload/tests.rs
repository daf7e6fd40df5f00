use std::ffi::OsString;
use std::path::Path;

use super::*;

fn vars<'a>(changes: &'a Path, queue: &'a Path) -> CommandVars<'a> {
    CommandVars {
        changes,
        queue,
        source: "hello",
        version: "1:2.10-3",
        arch: "amd64",
        dist: "unstable",
    }
}

#[test]
fn expand_arg_substitutes_in_one_pass() {
    let changes = Path::new("/q/{queue}.changes");
    let queue = Path::new("/q");
    let v = vars(changes, queue);
    assert_eq!(
        expand_arg("{changes}", &v),
        OsString::from("/q/{queue}.changes")
    );
    assert_eq!(
        expand_arg("{source}_{version}/{arch}-{dist}", &v),
        OsString::from("hello_1:2.10-3/amd64-unstable")
    );
    assert_eq!(
        expand_arg("{nope} {} { {queue", &v),
        OsString::from("{nope} {} { {queue")
    );
    assert_eq!(expand_arg("{{queue}}", &v), OsString::from("{/q}"));
    assert_eq!(expand_arg("", &v), OsString::new());
}
