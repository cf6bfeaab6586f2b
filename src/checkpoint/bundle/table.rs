//! The immutable sorted table (LevelDB's format, as TensorFlow's `core/lib/io/table*`
//! writes it) that a bundle's `.index` file is: data blocks of prefix-compressed
//! entries with restart points, a metaindex block (empty), an index block mapping each
//! data block's last key to its handle, and a 48-byte footer. Every block is followed
//! by a 5-byte trailer: the compression type (0, none: TF's bundles never compress
//! their index) and the masked CRC32C of the block and that byte.

/// The footer's magic number.
const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Footer: two block handles padded to 40 bytes, then the magic.
pub(crate) const FOOTER_LEN: usize = 48;
/// Compression type byte + masked CRC32C.
const TRAILER_LEN: usize = 5;
/// Entries between restart points (TF's `block_restart_interval`).
const RESTART_INTERVAL: usize = 16;
/// A data block is closed once it is this large (TF's default `block_size`).
const BLOCK_SIZE: usize = 256 * 1024;
const MASK_DELTA: u32 = 0xa282_ead8;

/// LevelDB's masked CRC32C (also what TF stores as a tensor's checksum).
pub(crate) fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decodes a varint at `*pos`, advancing it; `None` when truncated or longer than
/// `max_bytes`.
fn get_varint(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Option<u64> {
    let mut v: u64 = 0;
    for i in 0..max_bytes {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[derive(Default)]
struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.restarts.is_empty()
    }

    fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < RESTART_INTERVAL && !self.restarts.is_empty() {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.counter += 1;
    }

    fn size_estimate(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// The block's bytes; resets the builder.
    fn finish(&mut self) -> Vec<u8> {
        if self.restarts.is_empty() {
            self.restarts.push(0);
        }
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        *self = BlockBuilder::default();
        out
    }
}

/// Builds a table in memory from entries added in strictly increasing key order.
#[derive(Default)]
pub(crate) struct TableBuilder {
    out: Vec<u8>,
    block: BlockBuilder,
    index: BlockBuilder,
    last_key: Vec<u8>,
    pending: Option<(u64, u64)>,
    count: usize,
}

impl TableBuilder {
    /// Adds an entry; keys must increase strictly (the caller sorts them).
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        if self.count > 0 && key <= self.last_key.as_slice() {
            return Err("table keys must be added in strictly increasing order".into());
        }
        self.add_pending_index_entry();
        self.block.add(key, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.count += 1;
        if self.block.size_estimate() >= BLOCK_SIZE {
            self.flush();
        }
        Ok(())
    }

    /// The last key of a finished block is its index key (a valid separator: not below
    /// any key of the block and below every key of the next).
    fn add_pending_index_entry(&mut self) {
        if let Some((offset, size)) = self.pending.take() {
            let mut handle = Vec::new();
            put_varint(&mut handle, offset);
            put_varint(&mut handle, size);
            let key = std::mem::take(&mut self.last_key);
            self.index.add(&key, &handle);
            self.last_key = key;
        }
    }

    fn flush(&mut self) {
        if self.block.is_empty() {
            return;
        }
        let contents = self.block.finish();
        self.pending = Some(self.write_block(&contents));
    }

    fn write_block(&mut self, contents: &[u8]) -> (u64, u64) {
        let offset = self.out.len() as u64;
        self.out.extend_from_slice(contents);
        let crc = crc32c::crc32c_append(crc32c::crc32c(contents), &[0]);
        self.out.push(0);
        self.out.extend_from_slice(&mask(crc).to_le_bytes());
        (offset, contents.len() as u64)
    }

    /// The finished table's bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.flush();
        self.add_pending_index_entry();
        let meta = BlockBuilder::default().finish();
        let meta_handle = self.write_block(&meta);
        let index = self.index.finish();
        let index_handle = self.write_block(&index);
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        for (o, s) in [meta_handle, index_handle] {
            put_varint(&mut footer, o);
            put_varint(&mut footer, s);
        }
        footer.resize(FOOTER_LEN - 8, 0);
        footer.extend_from_slice(&(MAGIC as u32).to_le_bytes());
        footer.extend_from_slice(&((MAGIC >> 32) as u32).to_le_bytes());
        self.out.extend_from_slice(&footer);
        self.out
    }
}

/// Whether `tail` (a file's last 48 bytes or more) ends with the table magic.
pub(crate) fn has_magic(tail: &[u8]) -> bool {
    tail.len() >= 8 && tail[tail.len() - 8..] == magic_bytes()
}

fn magic_bytes() -> [u8; 8] {
    let mut m = [0u8; 8];
    m[..4].copy_from_slice(&(MAGIC as u32).to_le_bytes());
    m[4..].copy_from_slice(&((MAGIC >> 32) as u32).to_le_bytes());
    m
}

fn read_handle(buf: &[u8], pos: &mut usize) -> Result<(u64, u64), String> {
    let o = get_varint(buf, pos, 10).ok_or("malformed block handle")?;
    let s = get_varint(buf, pos, 10).ok_or("malformed block handle")?;
    Ok((o, s))
}

/// The contents of the block at `handle`, its trailer checked.
fn block<'a>(file: &'a [u8], (offset, size): (u64, u64), what: &str) -> Result<&'a [u8], String> {
    let start =
        usize::try_from(offset).map_err(|_| format!("{what} offset {offset} is past the end"))?;
    let len = usize::try_from(size).map_err(|_| format!("{what} size {size} is absurd"))?;
    let end = start
        .checked_add(len)
        .and_then(|e| e.checked_add(TRAILER_LEN))
        .filter(|&e| e <= file.len())
        .ok_or_else(|| {
            format!(
                "{what} at {offset}+{size} runs past the end of the index ({} bytes)",
                file.len()
            )
        })?;
    let contents = &file[start..start + len];
    let trailer = &file[start + len..end];
    let kind = trailer[0];
    let stored = u32::from_le_bytes([trailer[1], trailer[2], trailer[3], trailer[4]]);
    let crc = mask(crc32c::crc32c_append(crc32c::crc32c(contents), &[kind]));
    if crc != stored {
        return Err(format!(
            "{what} at offset {offset}: block checksum mismatch (stored {stored:#010x}, computed {crc:#010x})"
        ));
    }
    match kind {
        0 => Ok(contents),
        1 => Err(format!("{what} at offset {offset} is snappy-compressed; TF never writes compressed bundle indexes and varscope does not read them")),
        k => Err(format!("{what} at offset {offset} has unknown compression type {k}")),
    }
}

/// Decodes a block's entries (keys restored from their shared prefixes), calling `f`.
fn entries(
    contents: &[u8],
    what: &str,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let bad = |m: &str| format!("{what}: {m}");
    let n = contents.len();
    if n < 4 {
        return Err(bad("block shorter than its restart count"));
    }
    let num_restarts = u32::from_le_bytes([
        contents[n - 4],
        contents[n - 3],
        contents[n - 2],
        contents[n - 1],
    ]) as usize;
    let limit = num_restarts
        .checked_mul(4)
        .and_then(|r| r.checked_add(4))
        .and_then(|r| n.checked_sub(r))
        .ok_or_else(|| bad("restart array larger than the block"))?;
    let data = &contents[..limit];
    let mut pos = 0;
    let mut key: Vec<u8> = Vec::new();
    while pos < data.len() {
        let shared = get_varint(data, &mut pos, 5).ok_or_else(|| bad("truncated entry"))?;
        let non_shared = get_varint(data, &mut pos, 5).ok_or_else(|| bad("truncated entry"))?;
        let value_len = get_varint(data, &mut pos, 5).ok_or_else(|| bad("truncated entry"))?;
        let (shared, non_shared, value_len) =
            (shared as usize, non_shared as usize, value_len as usize);
        if shared > key.len() {
            return Err(bad("entry shares more of the previous key than it has"));
        }
        let key_end = pos
            .checked_add(non_shared)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| bad("entry key runs past the block"))?;
        let value_end = key_end
            .checked_add(value_len)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| bad("entry value runs past the block"))?;
        key.truncate(shared);
        key.extend_from_slice(&data[pos..key_end]);
        f(&key, &data[key_end..value_end])?;
        pos = value_end;
    }
    Ok(())
}

/// One table entry: key and value.
pub(crate) type Row = (Vec<u8>, Vec<u8>);

/// Every entry of the table in `file`, in order, with the footer, every block's
/// checksum and the key order checked.
pub(crate) fn read_table(file: &[u8]) -> Result<Vec<Row>, String> {
    if file.len() < FOOTER_LEN {
        return Err(format!(
            "index of {} bytes is shorter than a table footer ({FOOTER_LEN} bytes)",
            file.len()
        ));
    }
    let footer = &file[file.len() - FOOTER_LEN..];
    if !has_magic(footer) {
        return Err("not an sstable (bad magic number in the footer)".into());
    }
    let mut pos = 0;
    let _meta = read_handle(footer, &mut pos)?;
    let index_handle = read_handle(footer, &mut pos)?;
    if pos > FOOTER_LEN - 8 {
        return Err("malformed footer".into());
    }
    let index = block(file, index_handle, "index block")?;
    let mut handles = Vec::new();
    entries(index, "index block", |_, v| {
        let mut p = 0;
        let h = read_handle(v, &mut p)?;
        handles.push(h);
        Ok(())
    })?;
    let mut out: Vec<Row> = Vec::new();
    for h in handles {
        let contents = block(file, h, "data block")?;
        entries(contents, "data block", |k, v| {
            if let Some((last, _)) = out.last() {
                if k <= last.as_slice() {
                    return Err("table keys are not in increasing order".into());
                }
            }
            out.push((k.to_vec(), v.to_vec()));
            Ok(())
        })?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_many_blocks_and_restarts() {
        let mut b = TableBuilder::default();
        let keys: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| format!("scope/var_{i:06}").into_bytes())
            .collect();
        let value = vec![7u8; 100];
        for k in &keys {
            b.add(k, &value).unwrap();
        }
        let bytes = b.finish();
        let back = read_table(&bytes).unwrap();
        assert_eq!(back.len(), keys.len());
        assert!(back
            .iter()
            .zip(&keys)
            .all(|((k, v), e)| k == e && *v == value));
    }

    #[test]
    fn keys_out_of_order_are_refused() {
        let mut b = TableBuilder::default();
        b.add(b"b", b"").unwrap();
        assert!(b.add(b"a", b"").is_err());
        assert!(b.add(b"b", b"").is_err());
    }

    #[test]
    fn a_flipped_byte_fails_the_block_checksum() {
        let mut b = TableBuilder::default();
        b.add(b"", b"header").unwrap();
        b.add(b"w", b"entry").unwrap();
        let mut bytes = b.finish();
        bytes[3] ^= 1;
        let e = read_table(&bytes).unwrap_err();
        assert!(e.contains("checksum mismatch"), "{e}");
    }

    #[test]
    fn empty_and_short_inputs_are_errors() {
        assert!(read_table(&[]).is_err());
        assert!(read_table(&[0u8; 48])
            .unwrap_err()
            .contains("not an sstable"));
    }
}
