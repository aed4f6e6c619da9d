//! The process-wide key table is bounded: payloads with ever-new keys must
//! neither grow it past its cap nor read differently once it is full.
//! (Its own test binary: the table is global to the process.)

use expressway_engine::key::{Key, MAX_INTERNED};
use expressway_engine::value::from_str;

#[test]
fn a_full_table_leaves_new_keys_shared_and_payloads_intact() {
    let early = Key::intern("early");
    for i in 0..MAX_INTERNED + 10 {
        let k = Key::intern(&format!("k{i}"));
        assert_eq!(&*k, format!("k{i}"));
    }
    let late = Key::intern("late-key-after-the-table-filled");
    assert!(!late.is_interned(), "a key interned after the cap is a shared key");
    assert!(Key::intern("early").is_interned(), "keys interned before the cap stay interned");
    assert_eq!(Key::intern("early"), early);

    // Another thread sees the same table once it is full.
    let seen = std::thread::spawn(|| (Key::intern("early").is_interned(), Key::intern("other-late").is_interned()))
        .join()
        .ok();
    assert_eq!(seen, Some((true, false)));

    // Payloads whose keys cannot be interned parse, compare and print as before.
    let text = r#"{"early":1,"late-key-after-the-table-filled":{"brand-new":[true]},"early":2}"#;
    let v = from_str(text).expect("valid JSON");
    assert_eq!(v.to_json(), r#"{"early":2,"late-key-after-the-table-filled":{"brand-new":[true]}}"#);
}
