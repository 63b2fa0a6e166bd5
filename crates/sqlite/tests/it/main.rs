//! The open sequence, the integrity check and the migrations on real database files: damaged
//! pages and foreign files are reported with the file's name, migrations run once and in
//! order, schemas sharing a file keep their own versions, and a newer file is refused.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use tradai_sqlite::{check_file, open, schema_version, DbError, Migration, Schema, Step};

const V1: Migration = Migration {
    description: "notes table",
    step: Step::Sql("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"),
};

fn add_stars(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let has: bool = tx.prepare("SELECT 1 FROM pragma_table_info('notes') WHERE name = 'stars'")?.exists([])?;
    if !has {
        tx.execute_batch("ALTER TABLE notes ADD COLUMN stars INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}

const NOTES_V1: Schema = Schema { name: "note database", migrations: &[V1] };
const NOTES_V2: Schema =
    Schema { name: "note database", migrations: &[V1, Migration { description: "stars column", step: Step::Code(add_stars) }] };
const TAGS: Schema = Schema {
    name: "tag database",
    migrations: &[Migration { description: "tags table", step: Step::Sql("CREATE TABLE tags (name TEXT PRIMARY KEY)") }],
};

/// A database with `rows` notes of 200 bytes each, closed (its WAL folded into the file).
fn filled(path: &Path, rows: usize) {
    let conn = open(path, &NOTES_V1).unwrap();
    let body = "x".repeat(200);
    for i in 0..rows {
        conn.execute("INSERT INTO notes (id, body) VALUES (?1, ?2)", rusqlite::params![i64::try_from(i).unwrap(), body]).unwrap();
    }
    drop(conn);
}

#[test]
fn an_intact_file_passes_and_a_missing_one_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.sqlite");
    check_file(&path, "note database").unwrap();
    filled(&path, 100);
    check_file(&path, "note database").unwrap();
}

#[test]
fn a_garbled_page_is_reported_with_the_file_and_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.sqlite");
    filled(&path, 2000);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 40 * 4096, "the database should span many pages, has {len} bytes");
    // Page 20 is a leaf of the notes table: overwrite it with garbage.
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start(19 * 4096)).unwrap();
    f.write_all(&[0xAB; 4096]).unwrap();
    drop(f);
    let e = check_file(&path, "note database").unwrap_err();
    assert!(matches!(e, DbError::Corrupt { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("note database") && msg.contains(&path.display().to_string()), "{msg}");
    // SQLite's own words: a page list from quick_check, or "malformed" when the damage stops
    // the check itself.
    assert!(msg.contains("page") || msg.contains("malformed"), "the report should carry SQLite's diagnosis: {msg}");
}

#[test]
fn a_file_that_is_not_a_database_is_damage_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.sqlite");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let e = check_file(&path, "note database").unwrap_err();
    assert!(matches!(e, DbError::Corrupt { .. }), "{e:?}");
    let e = open(&path, &NOTES_V1).unwrap_err();
    assert!(matches!(e, DbError::Corrupt { .. }), "{e:?}");
}

#[test]
fn migrations_run_once_in_order_and_keep_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.sqlite");
    filled(&path, 3);
    let conn = open(&path, &NOTES_V2).unwrap();
    assert_eq!(schema_version(&conn, "note database").unwrap(), 2);
    let (n, stars): (i64, i64) = conn.query_row("SELECT COUNT(*), SUM(stars) FROM notes", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((n, stars), (3, 0));
    conn.execute("UPDATE notes SET stars = 5 WHERE id = 1", []).unwrap();
    drop(conn);
    // Opening again runs nothing (a non-idempotent step would fail here).
    let conn = open(&path, &NOTES_V2).unwrap();
    let stars: i64 = conn.query_row("SELECT stars FROM notes WHERE id = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(stars, 5);
}

#[test]
fn an_unversioned_database_of_an_older_release_is_adopted() {
    // Made the way releases before versioning did: plain DDL, no version table.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL); INSERT INTO notes VALUES (7, 'kept');").unwrap();
    drop(conn);
    let conn = open(&path, &NOTES_V2).unwrap();
    let (body, stars): (String, i64) =
        conn.query_row("SELECT body, stars FROM notes WHERE id = 7", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((body.as_str(), stars), ("kept", 0));
}

#[test]
fn schemas_sharing_a_file_keep_their_own_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite");
    drop(open(&path, &NOTES_V2).unwrap());
    let conn = open(&path, &TAGS).unwrap();
    assert_eq!(schema_version(&conn, "note database").unwrap(), 2);
    assert_eq!(schema_version(&conn, "tag database").unwrap(), 1);
}

#[test]
fn a_file_from_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.sqlite");
    drop(open(&path, &NOTES_V2).unwrap());
    let e = open(&path, &NOTES_V1).unwrap_err();
    assert!(matches!(e, DbError::TooNew { found: 2, known: 1, .. }), "{e:?}");
    assert!(e.to_string().contains("newer"), "{e}");
}

#[test]
fn a_zero_length_file_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.sqlite");
    assert!(!tradai_sqlite::is_zero_length(&path));
    std::fs::write(&path, b"").unwrap();
    assert!(tradai_sqlite::is_zero_length(&path));
}
