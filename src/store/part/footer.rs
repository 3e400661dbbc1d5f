//! A written part's Parquet footer, edited in place: the `ARROW:schema` key-value entry taken
//! out, reading just enough of Thrift's compact protocol to find and rewrite that list.

/// A thrift compact varint at `at`: its value and where it ends.
pub(super) fn varint(b: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let x = *b.get(at)?;
        at += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x & 0x80 == 0 {
            return Some((v, at));
        }
    }
    None
}

/// A thrift compact list (or set) header at `at`: element count, element type, where the
/// elements start.
pub(super) fn list_header(b: &[u8], at: usize) -> Option<(u64, u8, usize)> {
    let h = *b.get(at)?;
    let (n, next) = if h >> 4 == 15 {
        varint(b, at + 1)?
    } else {
        (u64::from(h >> 4), at + 1)
    };
    Some((n, h & 15, next))
}

/// Thrift compact protocol, as much as a Parquet footer needs: the end of the value of type
/// `t` that starts at `at`.
pub(super) fn thrift_skip(b: &[u8], at: usize, t: u8, depth: u32) -> Option<usize> {
    if depth > 64 {
        return None;
    }
    match t {
        1 | 2 => Some(at),
        3 => (at < b.len()).then_some(at + 1),
        4..=6 => varint(b, at).map(|x| x.1),
        7 => (at + 8 <= b.len()).then_some(at + 8),
        8 => {
            let (n, at) = varint(b, at)?;
            let end = at.checked_add(usize::try_from(n).ok()?)?;
            (end <= b.len()).then_some(end)
        }
        9 | 10 => {
            let (n, et, mut at) = list_header(b, at)?;
            for _ in 0..n {
                at = if et == 1 || et == 2 {
                    (at < b.len()).then_some(at + 1)?
                } else {
                    thrift_skip(b, at, et, depth + 1)?
                };
            }
            Some(at)
        }
        11 => {
            let (n, mut at) = varint(b, at)?;
            if n == 0 {
                return Some(at);
            }
            let kv = *b.get(at)?;
            at += 1;
            for _ in 0..n {
                at = thrift_skip(b, at, kv >> 4, depth + 1)?;
                at = thrift_skip(b, at, kv & 15, depth + 1)?;
            }
            Some(at)
        }
        12 => {
            let mut at = at;
            loop {
                let h = *b.get(at)?;
                at += 1;
                if h == 0 {
                    return Some(at);
                }
                if h >> 4 == 0 {
                    at = varint(b, at)?.1;
                }
                at = thrift_skip(b, at, h & 15, depth + 1)?;
            }
        }
        _ => None,
    }
}

/// Takes the `ARROW:schema` entry out of a written Parquet file's key-value metadata. polars
/// writes its own Arrow schema there, with view types (`string_view`, `large_list<string_view>`)
/// that older readers do not know and pandas cannot convert; without it every reader maps the
/// Parquet types (STRING, LIST, TIMESTAMP) to its own. `None` (the file unchanged) when the
/// footer is not as expected.
pub(super) fn strip_arrow_schema(file: &mut Vec<u8>) -> Option<()> {
    let n = file.len();
    if n < 12 || &file[n - 4..] != b"PAR1" {
        return None;
    }
    let len = u32::from_le_bytes(file[n - 8..n - 4].try_into().ok()?) as usize;
    let start = n.checked_sub(8 + len)?;
    let meta = &file[start..n - 8];
    // FileMetaData's fields; field 5 is key_value_metadata: list<KeyValue>.
    let (mut at, mut id) = (0usize, 0i64);
    let mut range = None;
    loop {
        let h = *meta.get(at)?;
        at += 1;
        if h == 0 {
            break;
        }
        if h >> 4 == 0 {
            return None; // long-form field ids: not what a Parquet writer emits here
        }
        id += i64::from(h >> 4);
        let end = thrift_skip(meta, at, h & 15, 0)?;
        if id == 5 && h & 15 == 9 {
            range = Some((at, end));
        }
        at = end;
    }
    let (a, b) = range?;
    // The list's elements, each a KeyValue struct: field 1 key (binary), field 2 value.
    let (count, _, mut e) = list_header(meta, a)?;
    let mut kept: Vec<&[u8]> = Vec::new();
    for _ in 0..count {
        let end = thrift_skip(meta, e, 12, 0)?;
        let element = &meta[e..end];
        // key: header 0x18 (field 1, binary), then the length and bytes.
        let is_arrow = element.first() == Some(&0x18)
            && element.get(1) == Some(&12)
            && element.get(2..14) == Some(b"ARROW:schema".as_slice());
        if !is_arrow {
            kept.push(element);
        }
        e = end;
    }
    if kept.len() as u64 == count {
        return Some(());
    }
    let mut list = Vec::new();
    if kept.len() < 15 {
        list.push(((kept.len() as u8) << 4) | 12);
    } else {
        list.push(0xf0 | 12);
        let mut v = kept.len() as u64;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                list.push(byte);
                break;
            }
            list.push(byte | 0x80);
        }
    }
    for k in kept {
        list.extend_from_slice(k);
    }
    let mut new_meta = Vec::with_capacity(meta.len());
    new_meta.extend_from_slice(&meta[..a]);
    new_meta.extend_from_slice(&list);
    new_meta.extend_from_slice(&meta[b..]);
    file.truncate(start);
    file.extend_from_slice(&new_meta);
    file.extend_from_slice(&(new_meta.len() as u32).to_le_bytes());
    file.extend_from_slice(b"PAR1");
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Thrift compact binary field (delta 1 from the previous field): header, length, bytes.
    fn binary(out: &mut Vec<u8>, bytes: &[u8]) {
        out.push(0x18);
        out.push(u8::try_from(bytes.len()).unwrap());
        out.extend_from_slice(bytes);
    }

    /// A compact list header of structs.
    fn list_of_structs(out: &mut Vec<u8>, n: usize) {
        if n < 15 {
            out.push(((n as u8) << 4) | 12);
        } else {
            out.push(0xf0 | 12);
            let mut v = n as u64;
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    out.push(b);
                    break;
                }
                out.push(b | 0x80);
            }
        }
    }

    /// FileMetaData: version (field 1), key_value_metadata (field 5: these entries),
    /// created_by (field 6).
    fn meta(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut m = vec![0x15, 0x02, 0x49];
        list_of_structs(&mut m, entries.len());
        for (k, v) in entries {
            binary(&mut m, k.as_bytes());
            binary(&mut m, v.as_bytes());
            m.push(0);
        }
        binary(&mut m, b"leakdiff test");
        m.push(0);
        m
    }

    /// A file around a footer: magic, some page bytes, the footer, its length, magic.
    fn file(meta: &[u8]) -> Vec<u8> {
        let mut f = b"PAR1pagebytes".to_vec();
        f.extend_from_slice(meta);
        f.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        f.extend_from_slice(b"PAR1");
        f
    }

    #[test]
    fn the_arrow_schema_entry_goes_and_the_rest_stays() {
        let mut f = file(&meta(&[
            ("leakdiff.dataset", "{}"),
            ("ARROW:schema", "c2NoZW1h"),
            ("other", "x"),
        ]));
        assert_eq!(strip_arrow_schema(&mut f), Some(()));
        assert_eq!(
            f,
            file(&meta(&[("leakdiff.dataset", "{}"), ("other", "x")]))
        );
    }

    #[test]
    fn long_lists_keep_their_long_header_or_get_the_short_one() {
        for n in [14usize, 15, 16, 200] {
            let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
            let mut with: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
            let without = with.clone();
            with.insert(n / 2, ("ARROW:schema", "s"));
            let mut f = file(&meta(&with));
            assert_eq!(strip_arrow_schema(&mut f), Some(()), "{n}");
            assert_eq!(f, file(&meta(&without)), "{n} entries kept");
        }
    }

    #[test]
    fn a_footer_without_the_entry_is_left_as_it_is() {
        let original = file(&meta(&[("a", "b")]));
        let mut f = original.clone();
        assert_eq!(strip_arrow_schema(&mut f), Some(()));
        assert_eq!(f, original);
    }

    #[test]
    fn long_form_field_ids_and_truncated_footers_change_nothing() {
        // A long-form field header (delta 0, then the id as a zigzag varint).
        let mut m = vec![0x05, 0x02, 0x02];
        m.extend_from_slice(&meta(&[("ARROW:schema", "s")])[2..]);
        let original = file(&m);
        let mut f = original.clone();
        assert_eq!(strip_arrow_schema(&mut f), None);
        assert_eq!(f, original);
        // Truncated: the footer's length says more than the file holds, or its bytes stop
        // inside the list.
        let whole = file(&meta(&[("ARROW:schema", "s"), ("a", "b")]));
        let mut f = whole.clone();
        let n = f.len();
        f[n - 8..n - 4].copy_from_slice(&(n as u32).to_le_bytes());
        let before = f.clone();
        assert_eq!(strip_arrow_schema(&mut f), None);
        assert_eq!(f, before);
        let m = meta(&[("ARROW:schema", "s"), ("a", "b")]);
        for cut in 1..m.len() {
            let mut f = file(&m[..cut]);
            let before = f.clone();
            assert_eq!(strip_arrow_schema(&mut f), None, "cut at {cut}");
            assert_eq!(f, before);
        }
        for short in [&b""[..], b"PAR1", b"PAR1PAR1"] {
            let mut f = short.to_vec();
            assert_eq!(strip_arrow_schema(&mut f), None);
        }
    }

    #[test]
    fn thrift_values_end_where_they_should() {
        assert_eq!(varint(&[0x96, 0x01], 0), Some((150, 2)));
        assert_eq!(varint(&[0x80; 11], 0), None);
        assert_eq!(list_header(&[0xfc, 0x90, 0x01], 0), Some((144, 12, 3)));
        // A struct nested past the depth limit is refused, not followed.
        let deep = vec![0x1c; 100];
        assert_eq!(thrift_skip(&deep, 0, 12, 0), None);
        // i64 needs eight bytes; a binary's length must fit.
        assert_eq!(thrift_skip(&[0; 7], 0, 7, 0), None);
        assert_eq!(thrift_skip(&[5, b'a'], 0, 8, 0), None);
    }
}
