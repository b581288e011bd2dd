//! Replays the fuzz corpus of key handling (`fuzz/corpus/keys`) and a batch of generated inputs
//! through the fuzz harness, so that every test run checks what fuzzing found.

mod fuzz_harness;

#[test]
fn corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/keys");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        fuzz_harness::run(&data);
        replayed += 1;
    }
    assert!(replayed > 0, "the corpus in {} is empty", dir.display());
}

#[test]
fn generated_inputs() {
    // A small xorshift generator: deterministic, so a failure reproduces.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet: &[u8] = b"a/.\0\xc3\xa9\xff\xfez%";
    for _ in 0..200 {
        let len = (next() % 80) as usize;
        let data: Vec<u8> =
            (0..len).map(|_| if next() % 3 == 0 { (next() % 256) as u8 } else { alphabet[(next() % alphabet.len() as u64) as usize] }).collect();
        fuzz_harness::run(&data);
    }
}
