use super::*;

#[test]
fn every_corpus_case_gives_its_canonical_path_or_refusal() {
    let cases = corpus::bundled().expect("corpus");
    assert!(cases.len() > 100, "{} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| c.check().err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Both files are found, and each refusal is exercised by some case.
    assert!(cases.iter().any(|c| c.origin.starts_with("default.txt")));
    assert!(cases.iter().any(|c| c.origin.starts_with("options.txt")));
    for refusal in PathRefusal::ALL {
        if refusal == PathRefusal::InvalidMethod {
            // Not a path's refusal: `methods_are_upper_case_tokens`.
            continue;
        }
        assert!(
            cases.iter().any(|c| c.expected == Err(refusal)),
            "no corpus case for {}",
            refusal.as_str()
        );
    }
}

#[test]
fn a_canonical_path_is_its_own_canonical_form_and_costs_no_allocation() {
    for case in corpus::bundled().expect("corpus") {
        let Ok(canonical) = &case.expected else {
            continue;
        };
        let again = canonicalize(canonical, &case.options).expect(&case.origin);
        assert_eq!(&again, canonical, "{}", case.origin);
    }
    for plain in ["/", "/orders/42", "/a.b/..c", "/x~y/z@w:v"] {
        assert!(matches!(
            canonicalize(plain, &PathOptions::default()),
            Ok(Cow::Borrowed(_))
        ));
    }
    assert!(matches!(
        canonicalize("/admin/", &PathOptions::default()),
        Ok(Cow::Owned(_))
    ));
}

#[test]
fn an_unknown_path_stays_unknown() {
    assert_eq!(canonicalize("", &PathOptions::default()).as_deref(), Ok(""));
}

/// Random paths built from the characters that matter: canonicalizing
/// never panics, and what it returns is canonical (idempotent), starts
/// with `/`, and holds no dot segment, no `%2F` (by default) and no
/// control character.
#[test]
fn random_paths_are_canonical_or_refused() {
    const PIECES: [&str; 38] = [
        "/",
        "/",
        "a",
        "B",
        ".",
        "..",
        "%2e",
        "%2F",
        "%5c",
        "\\",
        ";",
        "x=1",
        "%",
        "%25",
        "%c0",
        "%ae",
        "%41",
        "~",
        "?",
        "%00",
        "é",
        " ",
        "//",
        "%2E%2E",
        "%32",
        "%35",
        "%65",
        "%3f",
        "%3B",
        "%23",
        "%u",
        "2",
        "%3A",
        "%40",
        "%2561",
        ";x%2F",
        "%E2%84%AA",
        "K",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Every combination of the options.
    let all_options = {
        let mut list = Vec::new();
        for bits in 0u32..(2 * 2 * 3 * 2 * 2 * 2) {
            let mut options = PathOptions::default();
            let mut rest = bits;
            for (name, choices) in [
                ("merge_slashes", &["true", "false"][..]),
                ("encoded_delimiters", &["refuse", "keep"][..]),
                ("path_parameters", &["refuse", "strip", "keep"][..]),
                ("dot_segments", &["refuse", "resolve"][..]),
                ("case", &["sensitive", "lower"][..]),
                ("trailing_slash", &["strip", "keep"][..]),
            ] {
                let n = choices.len() as u32;
                let choice = choices[(rest % n) as usize];
                rest /= n;
                options.set(name, choice).expect("known option");
            }
            list.push(options);
        }
        list
    };
    for _ in 0..4_000 {
        let mut path = String::from("/");
        for _ in 0..(next() % 8) {
            path.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
        }
        for options in &all_options {
            let Ok(canonical) = canonicalize(&path, options) else {
                continue;
            };
            assert!(canonical.starts_with('/'), "{path:?} -> {canonical:?}");
            assert_eq!(
                canonicalize(&canonical, options).as_deref(),
                Ok(&*canonical),
                "{path:?} under {options:?}"
            );
            for segment in canonical.split('/') {
                assert!(
                    segment != "." && segment != "..",
                    "{path:?} -> {canonical:?}"
                );
            }
            assert!(
                !canonical
                    .bytes()
                    .any(|b| b < 0x20 || b == b'\\' || b == b'?')
            );
            if options.encoded_delimiters == EncodedDelimiters::Refuse {
                assert!(!canonical.contains("%2F") && !canonical.contains("%5C"));
            }
        }
    }
}

#[test]
fn options_are_set_by_name_and_bad_ones_are_explained() {
    let mut options = PathOptions::default();
    assert_eq!(options.describe(), "");
    options.set("case", "lower").expect("known");
    options.set("merge_slashes", "false").expect("known");
    assert_eq!(options.describe(), "merge_slashes=false case=lower");
    // `get` reads back what `set` wrote, for every option and value.
    for (name, value) in [
        ("merge_slashes", "false"),
        ("encoded_delimiters", "keep"),
        ("path_parameters", "strip"),
        ("path_parameters", "keep"),
        ("dot_segments", "resolve"),
        ("case", "lower"),
        ("trailing_slash", "keep"),
    ] {
        let mut one = PathOptions::default();
        one.set(name, value).expect("known");
        assert_eq!(one.get(name), Some(value));
        assert_eq!(one.describe(), format!("{name}={value}"));
    }
    assert_eq!(options.get("normalize"), None);
    let error = options.set("case", "upper").expect_err("unknown value");
    assert!(error.0.contains("\"sensitive\", \"lower\""), "{error}");
    let error = options.set("normalize", "true").expect_err("unknown name");
    assert!(error.0.contains("merge_slashes"), "{error}");
}

#[test]
fn refusal_names_round_trip_and_messages_say_what_to_do() {
    for refusal in PathRefusal::ALL {
        assert_eq!(PathRefusal::from_name(refusal.as_str()), Some(refusal));
        assert!(refusal.to_string().len() > 20);
    }
    assert!(
        PathRefusal::EncodedSlash
            .to_string()
            .contains("encoded_delimiters")
    );
    assert!(
        PathRefusal::PathParameter
            .to_string()
            .contains("path_parameters")
    );
}

#[test]
fn corpus_lines_that_are_not_cases_are_errors() {
    assert!(corpus::parse("/a", "f").is_err());
    assert!(corpus::parse("/a /b /c", "f").is_err());
    assert!(corpus::parse("/a !no-such-refusal", "f").is_err());
    assert!(corpus::parse("@options case=upper", "f").is_err());
    let cases = corpus::parse("/a\\x00b !control-character # NUL\n", "f").expect("ok");
    assert_eq!(cases[0].target, "/a\u{0}b");
    assert!(cases[0].check().is_ok());
}

#[test]
fn methods_are_upper_case_tokens() {
    for ok in [
        "GET",
        "HEAD",
        "DELETE",
        "PROPFIND",
        "M-SEARCH",
        "X_CUSTOM.1",
        "",
    ] {
        assert_eq!(check_method(ok), Ok(()), "{ok:?}");
    }
    for bad in [
        "get", "Delete", "GET ", "G\u{0}T", "GÉT", "GET/", "(GET)", "POST\r\n",
    ] {
        assert_eq!(
            check_method(bad),
            Err(PathRefusal::InvalidMethod),
            "{bad:?}"
        );
    }
}
