//! The embedded files against each other and against the content security policy.

use tradai_dashboard::{asset, ASSETS, CONTENT_SECURITY_POLICY};

fn text(path: &str) -> &'static str {
    std::str::from_utf8(asset(path).unwrap_or_else(|| panic!("{path} is not embedded")).body).expect("assets are UTF-8")
}

/// Values of `attr="..."` in `html`.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle).map(|(i, _)| &html[i + needle.len()..]).map(|rest| &rest[..rest.find('"').unwrap_or(0)]).collect()
}

#[test]
fn every_file_the_page_loads_is_embedded_with_its_type() {
    let index = text("/");
    let refs: Vec<&str> =
        attr_values(index, "src").into_iter().chain(attr_values(index, "href")).filter(|r| r.starts_with("/assets/")).collect();
    assert!(refs.len() >= 3, "the page loads its script, stylesheet and icon: {refs:?}");
    for r in refs {
        assert!(asset(r).is_some(), "index.html refers to {r}, which is not embedded");
    }
    assert_eq!(asset("/assets/app.js").unwrap().content_type, "text/javascript; charset=utf-8");
    assert_eq!(asset("/assets/style.css").unwrap().content_type, "text/css; charset=utf-8");
    assert!(asset("/").unwrap().content_type.starts_with("text/html"));
}

#[test]
fn every_module_import_resolves_to_an_embedded_module() {
    let mut imports = 0;
    for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        let js = std::str::from_utf8(a.body).unwrap();
        for line in js.lines().filter(|l| l.starts_with("import ")) {
            let from = line.rsplit(" from ").next().unwrap().trim().trim_end_matches(';').trim_matches('\'');
            let target = format!("/assets/{}", from.trim_start_matches("./"));
            assert!(asset(&target).is_some(), "{} imports {from}, which is not embedded", a.path);
            imports += 1;
        }
    }
    assert!(imports >= 4, "the modules import each other: {imports}");
}

#[test]
fn nothing_is_fetched_from_another_origin() {
    for a in ASSETS {
        let t = String::from_utf8_lossy(a.body).replace("http://www.w3.org/2000/svg", "");
        for scheme in ["http://", "https://", "//cdn", "@import"] {
            assert!(!t.contains(scheme), "{} mentions {scheme}: everything must come from the serving origin", a.path);
        }
    }
}

#[test]
fn the_page_needs_nothing_the_policy_forbids() {
    assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self'") && !CONTENT_SECURITY_POLICY.contains("unsafe"));
    let index = text("/");
    assert_eq!(index.matches("<script").count(), index.matches("<script type=\"module\" src=").count(), "no inline script");
    assert!(!index.contains("<style") && !index.contains(" style="), "no inline style");
    for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        let js = std::str::from_utf8(a.body).unwrap();
        for banned in ["innerHTML", "eval(", "new Function", "style=", "document.write"] {
            assert!(!js.contains(banned), "{} uses {banned}", a.path);
        }
    }
}

#[test]
fn every_page_of_the_router_is_exported_by_the_pages_module() {
    let app = text("/assets/app.js");
    let pages = text("/assets/pages.js");
    let used: Vec<&str> = app.match_indices(", pages.").map(|(i, _)| &app[i + 8..]).map(|r| &r[..r.find(']').unwrap()]).collect();
    assert!(used.len() >= 7, "{used:?}");
    for p in used {
        assert!(pages.contains(&format!("export async function {p}(")), "app.js routes to pages.{p}, which pages.js does not export");
    }
}
