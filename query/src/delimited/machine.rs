//! How delimited text divides into records and fields: the one state machine ([`Machine`]) that
//! both the parser of a block and the [`Splitter`] that cuts a file into blocks follow.
use bytes::Bytes;

use super::Dialect;

/// Cuts a byte stream into blocks that each end where a record ends. It scans every chunk as it
/// arrives with its own [`Machine`], which carries the scan's state from chunk to chunk and from
/// block to block, and remembers the last record end seen; chunks are held, not copied.
pub(super) struct Splitter {
    machine: Machine,
    /// The input not yet cut off, all of it scanned.
    pub(super) chunks: Vec<Bytes>,
    len: usize,
    /// The last record end in `chunks`: a chunk and the offset in it just past the end.
    end: Option<(usize, usize)>,
}

impl Splitter {
    pub(super) fn new(dialect: Dialect) -> Self {
        Splitter { machine: Machine::new(dialect), chunks: Vec::new(), len: 0, end: None }
    }

    pub(super) fn push(&mut self, chunk: Bytes) {
        let mut ends = RecordEnds::default();
        self.machine.run(&chunk, &mut ends);
        if let Some(next) = ends.last {
            self.end = Some((self.chunks.len(), next));
        }
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push(chunk);
        }
    }

    /// The input up to its last record end, once at least `size` bytes are held. A record longer
    /// than a block makes its block as long as it needs.
    pub(super) fn cut(&mut self, size: usize) -> Option<Vec<Bytes>> {
        if self.len < size {
            return None;
        }
        let (chunk, next) = self.end.take()?;
        let mut rest = self.chunks.split_off(chunk);
        self.chunks.push(rest[0].split_to(next));
        if rest[0].is_empty() {
            rest.remove(0);
        }
        self.len = rest.iter().map(Bytes::len).sum();
        Some(std::mem::replace(&mut self.chunks, rest))
    }
}

pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the machine is in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Between records: blank lines are skipped here.
    RecordStart,
    /// At the start of a field, where a quote opens a quoted field.
    FieldStart,
    Unquoted,
    /// After the escape character in an unquoted field.
    UnquotedEscape,
    Quoted,
    /// After the escape character inside quotes.
    QuotedEscape,
    /// After a quote inside quotes: the end of the quotes, or the first of two.
    QuotedQuote,
}

/// What [`Machine::run`] finds, as it finds it.
pub(super) trait Sink {
    /// The sink wants to know only where records end, not what they hold: the machine may then
    /// skip text that cannot move a record's end (see [`Machine::run`]).
    const RECORDS_ONLY: bool;
    /// The machine stops before the next byte until the sink is emptied.
    fn is_full(&self) -> bool;
    /// Text of the current field, as it stands in the input.
    fn text(&mut self, text: &[u8]);
    /// Text of the current field read inside quotes.
    fn quoted(&mut self, text: &[u8]);
    fn end_field(&mut self);
    /// The whole of the rest of the current field, unquoted text as it stands, and its end.
    fn field(&mut self, text: &[u8]) {
        self.text(text);
        self.end_field();
    }
    /// Whether no field from the current one to the end of the record is wanted: the machine may
    /// then pass over them to the record's end without telling the sink, and its count of
    /// fields falls behind (no later field is wanted either).
    fn rest_unwanted(&self) -> bool {
        false
    }
    /// A record ended (a blank line is none); `next` is the offset in the input being read just
    /// past the line end that ended it.
    fn end_record(&mut self, next: usize);
}

/// How text divides into records and fields: the one state machine that both the parser
/// ([`Fields`]) and the splitter ([`Splitter`]) follow, so that a splitter's cut is always where
/// the parser would have ended a record.
///
/// Outside quotes, the escape character (LazySimpleSerDe's `escape.delim`) makes the next
/// character text, delimiter included, and stays in the field for [`crate::text`] to remove,
/// since it also protects collection and map-key delimiters there; it does not join lines, as
/// Hive splits lines before fields. Inside quotes, as in opencsv, it protects only a quote or
/// itself, and a lone one is text: quoted fields come from CSV writers, which escape nothing
/// else.
#[derive(Debug, Clone, Copy)]
pub(super) struct Machine {
    pub(super) dialect: Dialect,
    pub(super) state: State,
    /// How much of a UTF-8 byte order mark the file has begun with: the mark is dropped.
    bom: usize,
}

impl Machine {
    /// A machine at the start of a file.
    pub(super) fn new(dialect: Dialect) -> Self {
        Machine { dialect, state: State::RecordStart, bom: 0 }
    }

    /// A machine at a record's start past the start of its file.
    pub(super) fn resumed(dialect: Dialect) -> Self {
        Machine { bom: BOM.len(), ..Machine::new(dialect) }
    }

    fn escape_byte(&self) -> u8 {
        self.dialect.escape.unwrap_or_default()
    }

    /// The offset of the next byte in `text` that ends a run of unquoted text: a delimiter, a
    /// line end or the escape character.
    fn unquoted_end(&self, text: &[u8]) -> Option<usize> {
        let Dialect { delimiter, escape, .. } = self.dialect;
        let end = memchr::memchr3(delimiter, b'\n', b'\r', text);
        // Looking for the escape only up to the next other stop keeps the search linear.
        match escape {
            Some(e) => memchr::memchr(e, &text[..end.unwrap_or(text.len())]).or(end),
            None => end,
        }
    }

    /// The offset of the next quote or escape character in `text`: where quoted text ends, and
    /// the only bytes outside quotes that can move where a record ends.
    fn quote_or_escape(&self, text: &[u8]) -> Option<usize> {
        let Dialect { quote, escape, .. } = self.dialect;
        match escape {
            Some(e) => memchr::memchr2(quote, e, text),
            None => memchr::memchr(quote, text),
        }
    }

    /// Reads `input` until it is used up or the sink is full; returns the bytes used.
    pub(super) fn run<S: Sink>(&mut self, input: &[u8], sink: &mut S) -> usize {
        let mut i = 0;
        while self.bom < BOM.len() && i < input.len() && input[i] == BOM[self.bom] {
            self.bom += 1;
            i += 1;
        }
        if i < input.len() {
            self.bom = BOM.len();
        }
        let Dialect { delimiter, quote, escape, .. } = self.dialect;
        let line_end = |c: u8| c == b'\n' || c == b'\r';
        // Outside quotes (record start, field start, unquoted), a byte that is neither quote nor
        // escape leads to a state that depends on that byte alone: a delimiter to FieldStart,
        // a line end to RecordStart, anything else to Unquoted; unless the delimiter is a line
        // end, which leads from RecordStart elsewhere than from the other two. So where only
        // record ends matter, a run of such bytes is taken whole: its last line end is the last
        // record end in it, and its last byte gives the state after it.
        let skim = S::RECORDS_ONLY && !line_end(delimiter);
        // The windows tell a delimiter, a line end and a quote apart by their bytes alone, which
        // a dialect that makes one byte two of them (a quote that is the delimiter or a line
        // end) does not allow: its text is read by the arms below.
        let windows = !line_end(delimiter) && !line_end(quote) && quote != delimiter;
        // Where a window that [`Machine::records`] left to the arms below ends.
        let mut slow_until = 0;
        while i < input.len() && !sink.is_full() {
            let b = input[i];
            match self.state {
                State::RecordStart | State::FieldStart | State::Unquoted | State::Quoted | State::QuotedQuote
                    if skim && windows && escape.is_none() && i >= slow_until && input.len() - i >= WINDOW =>
                {
                    if self.records(input, i, sink) {
                        i += WINDOW;
                    } else {
                        slow_until = i + WINDOW;
                    }
                    continue;
                }
                State::RecordStart | State::FieldStart | State::Unquoted if !S::RECORDS_ONLY && windows && b != quote && Some(b) != escape => {
                    i = self.fields(input, i, sink);
                    continue;
                }
                State::RecordStart | State::FieldStart | State::Unquoted if skim && b != quote && Some(b) != escape => {
                    let end = self.quote_or_escape(&input[i..]).map_or(input.len(), |r| i + r);
                    let run = &input[i..end];
                    if let Some(r) = memchr::memrchr2(b'\n', b'\r', run) {
                        // Of the line ends that close the run, the first ends a record, unless
                        // the run began between records; the rest are blank lines.
                        let first = run[..r].iter().rposition(|&c| !line_end(c)).map_or(0, |p| p + 1);
                        if first > 0 || self.state != State::RecordStart {
                            sink.end_record(i + first + 1);
                        }
                    }
                    let last = input[end - 1];
                    self.state = if last == delimiter {
                        State::FieldStart
                    } else if line_end(last) {
                        State::RecordStart
                    } else {
                        State::Unquoted
                    };
                    i = end;
                    continue;
                }
                State::RecordStart if line_end(b) => {}
                State::RecordStart | State::FieldStart if b == quote => self.state = State::Quoted,
                State::RecordStart | State::FieldStart | State::Unquoted => {
                    // Take text up to the next byte that means something here.
                    let end = self.unquoted_end(&input[i..]).map_or(input.len(), |r| i + r);
                    sink.text(&input[i..end]);
                    self.state = State::Unquoted;
                    i = end;
                    let Some(&c) = input.get(end) else { break };
                    if c == delimiter {
                        sink.end_field();
                        self.state = State::FieldStart;
                    } else if line_end(c) {
                        sink.end_field();
                        sink.end_record(end + 1);
                        self.state = State::RecordStart;
                    } else {
                        sink.text(&[c]);
                        self.state = State::UnquotedEscape;
                    }
                }
                State::UnquotedEscape if line_end(b) => {
                    sink.end_field();
                    sink.end_record(i + 1);
                    self.state = State::RecordStart;
                }
                State::UnquotedEscape => {
                    sink.text(&[b]);
                    self.state = State::Unquoted;
                }
                State::Quoted => {
                    let end = self.quote_or_escape(&input[i..]).map_or(input.len(), |r| i + r);
                    sink.quoted(&input[i..end]);
                    i = end;
                    let Some(&c) = input.get(end) else { break };
                    self.state = if c == quote { State::QuotedQuote } else { State::QuotedEscape };
                }
                State::QuotedEscape => {
                    if b != quote && b != self.escape_byte() {
                        // A lone escape is text; the byte after it is read as any other.
                        sink.quoted(&[self.escape_byte()]);
                        self.state = State::Quoted;
                        continue;
                    }
                    sink.quoted(&[b]);
                    self.state = State::Quoted;
                }
                State::QuotedQuote if b == quote => {
                    sink.quoted(&[quote]);
                    self.state = State::Quoted;
                }
                State::QuotedQuote => {
                    // Past the closing quote the field goes on unquoted, up to its delimiter.
                    self.state = State::Unquoted;
                    continue;
                }
            }
            i += 1;
        }
        i
    }

    /// Reads fields from `input[i..]`, where the machine stands at a record's or a field's start
    /// or in unquoted text, a [`Window`] at a time. Every delimiter and line end in it ends a
    /// field, and a line end a record too (a blank line none), and a quote at a field's start
    /// opens a quoted field that ends at the next quote. It stops where the arms of
    /// [`Machine::run`] must read on: at an escape character outside quotes, at quotes that
    /// [`Machine::closing_quote`] cannot close, and just past a record's end when the sink is
    /// full; returns where it stopped.
    fn fields<S: Sink>(&mut self, input: &[u8], mut i: usize, sink: &mut S) -> usize {
        // The start of the current field's text not yet given to the sink.
        let mut start = i;
        // The sink wants no more of this record.
        let mut skip = sink.rest_unwanted();
        'windows: while i < input.len() {
            let w = Window::new(&input[i..], self.dialect);
            let ends = w.delimiter | w.line_end;
            // A field starts after each end, and at the window's first byte if it starts there.
            let first = (start == i && self.state != State::Unquoted) as u64;
            let mut events = ends | (w.quote & (ends << 1 | first)) | w.escape;
            while events != 0 {
                let k = events.trailing_zeros();
                let p = i + k as usize;
                events &= events - 1;
                if ends >> k & 1 == 0 {
                    // A quote at a field's start (`start == p`), or an escape.
                    let Some(c) = (w.escape >> k & 1 == 0).then(|| self.closing_quote(input, i, &w, p)).flatten() else {
                        if start < p {
                            sink.text(&input[start..p]);
                            self.state = State::Unquoted;
                        }
                        return p;
                    };
                    if !skip {
                        sink.quoted(&input[p + 1..c]);
                    }
                    // Past the closing quote the field goes on unquoted.
                    self.state = State::Unquoted;
                    start = c + 1;
                    if c + 1 - i >= w.len {
                        i = c + 1;
                        continue 'windows;
                    }
                    events &= !below((c + 1 - i) as u32);
                    continue;
                }
                if w.delimiter >> k & 1 == 1 {
                    if !skip {
                        sink.field(&input[start..p]);
                        skip = sink.rest_unwanted();
                    }
                    self.state = State::FieldStart;
                } else if !(self.state == State::RecordStart && p == start) {
                    if !skip {
                        sink.field(&input[start..p]);
                    }
                    sink.end_record(p + 1);
                    skip = sink.rest_unwanted();
                    self.state = State::RecordStart;
                    if sink.is_full() {
                        return p + 1;
                    }
                }
                start = p + 1;
            }
            i += w.len;
        }
        if start < input.len() {
            sink.text(&input[start..]);
            self.state = State::Unquoted;
        }
        input.len()
    }

    /// Where quotes opened at `p` (in the window `w` of `input` from `i`) close: at the next
    /// quote, found in the window or past it, if the byte after it is known and is not a quote
    /// (a doubled quote, text) and the quoted text holds no escape character.
    fn closing_quote(&self, input: &[u8], i: usize, w: &Window, p: usize) -> Option<usize> {
        let Dialect { quote, escape, .. } = self.dialect;
        let later = w.quote & !below((p - i) as u32 + 1);
        let c = if later != 0 { i + later.trailing_zeros() as usize } else { i + w.len + memchr::memchr(quote, &input[i + w.len..])? };
        let escaped = escape.is_some_and(|e| memchr::memchr(e, &input[p + 1..c]).is_some());
        (!escaped && input.get(c + 1).is_some_and(|&b| b != quote)).then_some(c)
    }

    /// Finds the last record end in the [`WINDOW`] bytes of `input` from `i` (in a dialect without
    /// an escape character) by the parity of the quotes before each byte, as simdjson finds strings: a
    /// line end outside quotes ends a record unless it follows another (a blank line). That
    /// holds only where every quote that opens quotes is one the machine reads so, at a field's
    /// start or right after a closing quote (a doubled quote); a window where some other quote
    /// would open quotes (text to the machine) is left alone: `false`, the machine unchanged.
    fn records<S: Sink>(&mut self, input: &[u8], i: usize, sink: &mut S) -> bool {
        let w = Window::new(&input[i..i + WINDOW], self.dialect);
        let was_quoted = self.state == State::Quoted;
        // Bit k: inside quotes just after byte k, and just before it.
        let inside = prefix_xor(w.quote) ^ if was_quoted { !0 } else { 0 };
        let before = inside << 1 | was_quoted as u64;
        let closing = w.quote & !inside;
        let after_end =
            (w.delimiter | w.line_end | closing) << 1 | matches!(self.state, State::RecordStart | State::FieldStart | State::QuotedQuote) as u64;
        if w.quote & inside & !after_end != 0 {
            return false;
        }
        let ends = w.line_end & !before;
        let blank = ends & (ends << 1 | (self.state == State::RecordStart) as u64);
        let records = ends & !blank;
        if records != 0 {
            sink.end_record(i + WINDOW - records.leading_zeros() as usize);
        }
        let last = WINDOW - 1;
        self.state = if inside >> last & 1 == 1 {
            State::Quoted
        } else if closing >> last & 1 == 1 {
            State::QuotedQuote
        } else if ends >> last & 1 == 1 {
            State::RecordStart
        } else if w.delimiter >> last & 1 == 1 {
            State::FieldStart
        } else {
            State::Unquoted
        };
        true
    }

    /// The end of the input ends a record left open.
    pub(super) fn finish<S: Sink>(&mut self, sink: &mut S) {
        if self.state != State::RecordStart {
            if self.state == State::QuotedEscape {
                sink.quoted(&[self.escape_byte()]);
            }
            sink.end_field();
            sink.end_record(0);
            self.state = State::RecordStart;
        }
    }
}

/// The splitter's sink: it keeps only where the last record ended.
#[derive(Default)]
pub(super) struct RecordEnds {
    pub(super) last: Option<usize>,
}

impl Sink for RecordEnds {
    const RECORDS_ONLY: bool = true;

    fn is_full(&self) -> bool {
        false
    }

    fn text(&mut self, _: &[u8]) {}

    fn quoted(&mut self, _: &[u8]) {}

    fn end_field(&mut self) {}

    fn end_record(&mut self, next: usize) {
        self.last = Some(next);
    }
}

/// The bytes a [`Window`] covers: one bit of a `u64` each.
const WINDOW: usize = 64;

/// Where the bytes that mean something in a dialect stand in up to [`WINDOW`] bytes of input:
/// bit k of a mask is byte k of the window.
struct Window {
    len: usize,
    delimiter: u64,
    /// `\n` and `\r`.
    line_end: u64,
    quote: u64,
    escape: u64,
}

impl Window {
    fn new(input: &[u8], dialect: Dialect) -> Self {
        let len = input.len().min(WINDOW);
        let mut padded = [0; WINDOW];
        let block: &[u8; WINDOW] = match input.first_chunk() {
            Some(block) => block,
            None => {
                padded[..len].copy_from_slice(&input[..len]);
                &padded
            }
        };
        let [delimiter, lf, cr, quote] = equal_masks(block, [dialect.delimiter, b'\n', b'\r', dialect.quote]);
        let valid = below(len as u32);
        let escape = dialect.escape.map_or(0, |e| equal_masks(block, [e])[0] & valid);
        Window { len, delimiter: delimiter & valid, line_end: (lf | cr) & valid, quote: quote & valid, escape }
    }
}

/// The bits below bit `n`; all of them from 64 on.
fn below(n: u32) -> u64 {
    if n >= 64 { !0 } else { (1 << n) - 1 }
}

/// Bit k set where an odd number of bits at k and below are set.
fn prefix_xor(mut x: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        x ^= x << shift;
    }
    x
}

/// For each of `bytes`, the mask of where it stands in `block`.
#[cfg(target_arch = "x86_64")]
fn equal_masks<const N: usize>(block: &[u8; WINDOW], bytes: [u8; N]) -> [u64; N] {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let mut masks = [0; N];
    for (k, part) in block.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of every x86_64 target, and `part` holds the 16 bytes that an
        // unaligned load reads.
        unsafe {
            let v = _mm_loadu_si128(part.as_ptr().cast());
            for (mask, &b) in masks.iter_mut().zip(&bytes) {
                let equal = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8))) as u16;
                *mask |= u64::from(equal) << (16 * k);
            }
        }
    }
    masks
}

/// For each of `bytes`, the mask of where it stands in `block`.
#[cfg(not(target_arch = "x86_64"))]
fn equal_masks<const N: usize>(block: &[u8; WINDOW], bytes: [u8; N]) -> [u64; N] {
    bytes.map(|b| block.iter().enumerate().fold(0, |mask, (k, &c)| mask | u64::from(c == b) << k))
}
