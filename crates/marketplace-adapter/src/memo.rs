//! What one `taobao.trade.memo.update` call asks for: the order, the seller memo, the flag, and
//! whether the memo is cleared; and the rule that fits a merchant's memo and Shiphold's note
//! into the marketplace's limit.

use crate::sign::is_blank;
use serde::{Deserialize, Serialize};

/// The longest seller memo the marketplace stores, in bytes. The API reference says
/// "最大长度: 1000个字节" (1,000 bytes) for `memo`.
///
/// It does not say in which encoding the bytes are counted. This crate counts UTF-8 bytes: a
/// Chinese character is three bytes in UTF-8 and two in GBK, and ASCII is one in both, so a memo
/// that fits in UTF-8 fits whichever one the platform counts.
pub const MAX_MEMO_BYTES: usize = 1000;

/// Put where [`Memo::fit`] cut the merchant's text, so a reader sees that something is missing.
/// One character, three bytes in UTF-8.
pub const TRUNCATION_MARKER: &str = "…";

/// Put between the merchant's text and Shiphold's note by [`Memo::fit`]: a line break, so the
/// note starts on a line of its own (as Shiphold shows the memo the warehouse reads).
pub const MEMO_SEPARATOR: &str = "\n";

/// A seller memo the marketplace accepts: not empty, not whitespace only, at most
/// [`MAX_MEMO_BYTES`] bytes of UTF-8.
///
/// Empty memos are refused because the platform ignores an empty `memo` unless `reset` is set
/// ("若memo为空则忽略对已有memo字段的修改"): sending one would look like a write and change
/// nothing. To clear a memo, use [`MemoUpdate::clear`].
///
/// Blank memos (whitespace only, as the TOP SDK's `StringUtils.isEmpty` reads it: see
/// [`is_blank`]) are refused too: the SDK treats them as empty, leaving
/// them out of the call and of its signature, so a gateway built on it would see a memo it
/// cannot verify (or none at all).
///
/// ```
/// use shiphold_marketplace_adapter::{Memo, MemoError, MAX_MEMO_BYTES};
/// assert_eq!(Memo::parse("拦截发货").unwrap().as_str(), "拦截发货");
/// assert_eq!(Memo::parse(""), Err(MemoError::Empty));
/// assert_eq!(Memo::parse(" \n\u{3000}"), Err(MemoError::Blank));
/// assert!(Memo::parse("字".repeat(333)).is_ok()); // 999 bytes
/// assert_eq!(
///     Memo::parse("字".repeat(334)),
///     Err(MemoError::TooLong { len: 1002, max: MAX_MEMO_BYTES })
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Memo(String);

/// Why a text is not a valid [`Memo`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoError {
    /// The memo (or, for [`Memo::fit`], both parts) is empty.
    #[error("the memo is empty; the marketplace ignores an empty memo (use reset to clear one)")]
    Empty,
    /// The memo is whitespace only: the platform's SDK treats it as empty, so it would be left
    /// out of the call's signature.
    #[error("the memo is whitespace only, which the platform treats as empty")]
    Blank,
    /// The memo is longer than the marketplace stores.
    #[error("the memo has {len} bytes; the marketplace stores at most {max}")]
    TooLong {
        /// Bytes found (UTF-8).
        len: usize,
        /// The limit, [`MAX_MEMO_BYTES`].
        max: usize,
    },
}

impl Memo {
    /// Takes `text` as it is (no trimming: the platform stores what it is sent), unless it is
    /// empty, blank or too long.
    pub fn parse(text: impl Into<String>) -> Result<Self, MemoError> {
        let text = text.into();
        if text.is_empty() {
            return Err(MemoError::Empty);
        }
        if is_blank(&text) {
            return Err(MemoError::Blank);
        }
        if text.len() > MAX_MEMO_BYTES {
            return Err(MemoError::TooLong {
                len: text.len(),
                max: MAX_MEMO_BYTES,
            });
        }
        Ok(Self(text))
    }

    /// Fits the merchant's own memo and Shiphold's note into one memo of at most
    /// [`MAX_MEMO_BYTES`] bytes. The rule, exactly:
    ///
    /// 1. The note is never cut. A note longer than the limit is an error
    ///    ([`MemoError::TooLong`]); both parts empty is [`MemoError::Empty`]. A blank part
    ///    (whitespace only, [`MemoError::Blank`]) counts as empty.
    /// 2. An empty merchant memo gives the note alone. An empty note gives the merchant memo
    ///    alone, cut as in step 4 if it is too long (with no separator or note after the marker).
    /// 3. Otherwise the memo is `merchant` + [`MEMO_SEPARATOR`] + `note` when that fits.
    /// 4. When it does not fit, the merchant memo is cut to its longest prefix that ends on a
    ///    character boundary and leaves room for [`TRUNCATION_MARKER`], the separator and the
    ///    note; the memo is `prefix` + `…` + separator + `note`. The prefix may be empty.
    /// 5. When the note leaves no room even for the marker and the separator (a note of more
    ///    than 996 bytes), the memo is the note alone.
    ///
    /// Characters are never split, but a character sequence that displays as one symbol (an
    /// emoji with modifiers, a letter with a combining accent) may be.
    ///
    /// ```
    /// use shiphold_marketplace_adapter::Memo;
    /// let memo = Memo::fit("送礼品", "拦截发货,请勿发货").unwrap();
    /// assert_eq!(memo.as_str(), "送礼品\n拦截发货,请勿发货");
    ///
    /// let long = "a".repeat(1000);
    /// let memo = Memo::fit(&long, "STOP").unwrap();
    /// assert_eq!(memo.as_str().len(), 1000);
    /// assert!(memo.as_str().ends_with("a…\nSTOP"));
    /// ```
    pub fn fit(merchant: &str, note: &str) -> Result<Self, MemoError> {
        if note.len() > MAX_MEMO_BYTES {
            return Err(MemoError::TooLong {
                len: note.len(),
                max: MAX_MEMO_BYTES,
            });
        }
        let (merchant, note) = (
            if is_blank(merchant) { "" } else { merchant },
            if is_blank(note) { "" } else { note },
        );
        if merchant.is_empty() {
            return Self::parse(note);
        }
        if note.is_empty() {
            if merchant.len() <= MAX_MEMO_BYTES {
                return Self::parse(merchant);
            }
            let budget = MAX_MEMO_BYTES - TRUNCATION_MARKER.len();
            return Self::parse(format!(
                "{}{TRUNCATION_MARKER}",
                prefix_within(merchant, budget)
            ));
        }
        let whole = merchant.len() + MEMO_SEPARATOR.len() + note.len();
        if whole <= MAX_MEMO_BYTES {
            return Self::parse(format!("{merchant}{MEMO_SEPARATOR}{note}"));
        }
        let overhead = TRUNCATION_MARKER.len() + MEMO_SEPARATOR.len() + note.len();
        match MAX_MEMO_BYTES.checked_sub(overhead) {
            Some(budget) => Self::parse(format!(
                "{}{TRUNCATION_MARKER}{MEMO_SEPARATOR}{note}",
                prefix_within(merchant, budget)
            )),
            None => Self::parse(note),
        }
    }

    /// The memo text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its length in UTF-8 bytes (what the limit counts).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: a memo is never empty. Here because clippy expects it next to `len`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Memo {
    type Err = MemoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The longest prefix of `text` of at most `budget` bytes that ends on a character boundary.
fn prefix_within(text: &str, budget: usize) -> &str {
    if text.len() <= budget {
        return text;
    }
    let mut end = budget;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The seller-memo flag (卖家交易备注旗帜), in the platform's order: the variant's number is the
/// value of the `flag` parameter.
///
/// The API reference lists "0(灰色), 1(红色), 2(黄色), 3(绿色), 4(蓝色), 5(粉红色)": grey, red,
/// yellow, green, blue, and for 5 *pink* (粉红色). Shiphold's product calls the sixth flag purple,
/// as the other crates do, so the variant is [`Flag::Purple`]; on the wire it is 5 either way.
///
/// ```
/// use shiphold_marketplace_adapter::Flag;
/// assert_eq!(Flag::Red.number(), 1);
/// assert_eq!(Flag::from_number(5), Some(Flag::Purple));
/// assert_eq!(Flag::from_number(6), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// 0, grey (灰色): no flag. The platform's default.
    Grey,
    /// 1, red (红色).
    Red,
    /// 2, yellow (黄色).
    Yellow,
    /// 3, green (绿色).
    Green,
    /// 4, blue (蓝色).
    Blue,
    /// 5, the sixth flag: pink (粉红色) in the API reference, purple in Shiphold.
    Purple,
}

impl Flag {
    /// Every flag, in the platform's order.
    pub const ALL: [Flag; 6] = [
        Flag::Grey,
        Flag::Red,
        Flag::Yellow,
        Flag::Green,
        Flag::Blue,
        Flag::Purple,
    ];

    /// The value of the `flag` parameter.
    pub fn number(self) -> u8 {
        match self {
            Flag::Grey => 0,
            Flag::Red => 1,
            Flag::Yellow => 2,
            Flag::Green => 3,
            Flag::Blue => 4,
            Flag::Purple => 5,
        }
    }

    /// The flag a `flag` value stands for; `None` outside 0–5.
    pub fn from_number(number: u64) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|flag| u64::from(flag.number()) == number)
    }
}

/// One `taobao.trade.memo.update` call: the business parameters.
///
/// - `tid`: the order (交易编号), the parent order's number. Required.
/// - `memo`: the new seller memo; it replaces the old one. `None` leaves the memo as it is.
/// - `flag`: the new flag; `None` leaves the flag as it is (the platform's documented default
///   of 0 applies to the parameter's value, and this crate does not send the parameter then).
/// - `reset`: clear the memo. The platform then clears it "whatever the memo parameter says",
///   so `reset` with a `memo` is refused when the call is signed ([`UpdateError`]).
///
/// ```
/// use shiphold_marketplace_adapter::{Flag, Memo, MemoUpdate};
/// let write = MemoUpdate::write(4012345678901234567, Memo::parse("拦截发货").unwrap(), Some(Flag::Red));
/// assert!(!write.reset);
/// let clear = MemoUpdate::clear(4012345678901234567);
/// assert!(clear.reset && clear.memo.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoUpdate {
    /// The order's number (`tid`).
    pub tid: u64,
    /// The memo to write (`memo`), if any.
    pub memo: Option<Memo>,
    /// The flag to set (`flag`), if any.
    pub flag: Option<Flag>,
    /// Whether to clear the memo (`reset`).
    pub reset: bool,
}

/// Why a [`MemoUpdate`] cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// `reset` and a `memo` together: the platform would clear the memo and drop the text.
    #[error(
        "reset clears the memo, so a memo sent with it would be dropped; send one or the other"
    )]
    MemoWithReset,
    /// No memo, no flag, no reset: the call would change nothing.
    #[error("the update changes nothing: give a memo, a flag, or reset")]
    NothingToChange,
}

impl MemoUpdate {
    /// Writes `memo` (and sets `flag`, if given) on order `tid`.
    pub fn write(tid: u64, memo: Memo, flag: Option<Flag>) -> Self {
        Self {
            tid,
            memo: Some(memo),
            flag,
            reset: false,
        }
    }

    /// Clears the memo of order `tid` (`reset=true`); the flag is left as it is.
    pub fn clear(tid: u64) -> Self {
        Self {
            tid,
            memo: None,
            flag: None,
            reset: true,
        }
    }

    /// The same update, also setting `flag`.
    pub fn with_flag(mut self, flag: Flag) -> Self {
        self.flag = Some(flag);
        self
    }

    /// Refuses the combinations the platform would not carry out as written.
    pub fn check(&self) -> Result<(), UpdateError> {
        if self.reset && self.memo.is_some() {
            return Err(UpdateError::MemoWithReset);
        }
        if !self.reset && self.memo.is_none() && self.flag.is_none() {
            return Err(UpdateError::NothingToChange);
        }
        Ok(())
    }

    /// The business parameters as name/value pairs. Parameters left unset are not sent (and so
    /// not signed): `memo` when `None`, `flag` when `None`, `reset` when `false` (its default).
    ///
    /// ```
    /// use shiphold_marketplace_adapter::{Flag, Memo, MemoUpdate};
    /// let update = MemoUpdate::write(7, Memo::parse("x").unwrap(), Some(Flag::Blue));
    /// assert_eq!(
    ///     update.business_params(),
    ///     vec![("tid", "7".to_owned()), ("memo", "x".to_owned()), ("flag", "4".to_owned())]
    /// );
    /// ```
    pub fn business_params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![("tid", self.tid.to_string())];
        if let Some(memo) = &self.memo {
            params.push(("memo", memo.as_str().to_owned()));
        }
        if let Some(flag) = self.flag {
            params.push(("flag", flag.number().to_string()));
        }
        if self.reset {
            params.push(("reset", "true".to_owned()));
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_utf8_bytes_not_characters() {
        // 1,000 ASCII bytes fit; 1,001 do not.
        assert!(Memo::parse("a".repeat(1000)).is_ok());
        assert_eq!(
            Memo::parse("a".repeat(1001)),
            Err(MemoError::TooLong {
                len: 1001,
                max: 1000
            })
        );
        // 334 Chinese characters are 1,002 bytes: refused although far fewer than 1,000 chars.
        assert!(matches!(
            Memo::parse("拦".repeat(334)),
            Err(MemoError::TooLong { len: 1002, .. })
        ));
    }

    #[test]
    fn blank_memos_are_refused_and_blank_parts_count_as_empty() {
        for blank in [" ", "\t\r\n", "\u{3000}\u{2028}", "\u{1c}"] {
            assert_eq!(Memo::parse(blank), Err(MemoError::Blank), "{blank:?}");
        }
        // Not whitespace to the platform's SDK (Java): a memo, though it shows as nothing.
        assert!(Memo::parse("\u{a0}").is_ok());
        assert!(Memo::parse(" x ").is_ok());
        assert_eq!(Memo::fit("  ", "note").expect("note").as_str(), "note");
        assert_eq!(Memo::fit("merchant", "\n").expect("m").as_str(), "merchant");
        assert_eq!(Memo::fit(" ", "\t"), Err(MemoError::Empty));
    }

    #[test]
    fn fit_keeps_both_parts_when_they_fit() {
        let memo = Memo::fit("merchant", "note").expect("fits");
        assert_eq!(memo.as_str(), "merchant\nnote");
        // Exactly at the limit: 995 + 1 + 4 = 1000, no cut.
        let merchant = "m".repeat(995);
        let memo = Memo::fit(&merchant, "note").expect("fits");
        assert_eq!(memo.as_str(), format!("{merchant}\nnote"));
        assert_eq!(memo.len(), 1000);
    }

    #[test]
    fn fit_cuts_the_merchant_text_with_a_marker_and_keeps_the_note() {
        // 996 + 1 + 4 = 1001: one byte over. Room for the prefix: 1000 - 3 - 1 - 4 = 992.
        let merchant = "m".repeat(996);
        let memo = Memo::fit(&merchant, "note").expect("fits");
        assert_eq!(memo.as_str(), format!("{}…\nnote", "m".repeat(992)));
        assert_eq!(memo.len(), 1000);
    }

    #[test]
    fn fit_never_splits_a_character() {
        // Each 拦 is 3 bytes; the room for the prefix is 1000 - 3 - 1 - 10 = 986 bytes, which
        // holds 328 characters (984 bytes) and not 329 (987).
        let merchant = "拦".repeat(400);
        let note = "0123456789";
        let memo = Memo::fit(&merchant, note).expect("fits");
        assert_eq!(memo.as_str(), format!("{}…\n{note}", "拦".repeat(328)));
        assert_eq!(memo.len(), 984 + 3 + 1 + 10);
    }

    #[test]
    fn fit_handles_the_edges() {
        assert_eq!(Memo::fit("", ""), Err(MemoError::Empty));
        assert_eq!(Memo::fit("", "note").expect("note").as_str(), "note");
        assert_eq!(Memo::fit("merchant", "").expect("m").as_str(), "merchant");
        let long = "m".repeat(1200);
        let memo = Memo::fit(&long, "").expect("cut");
        assert_eq!(memo.as_str(), format!("{}…", "m".repeat(997)));
        // A note too long for the limit is an error, never cut.
        assert_eq!(
            Memo::fit("m", &"n".repeat(1001)),
            Err(MemoError::TooLong {
                len: 1001,
                max: 1000
            })
        );
        // A note of 996 bytes leaves room for the marker and the separator only.
        let note = "n".repeat(996);
        assert_eq!(
            Memo::fit("merchant", &note).expect("fits").as_str(),
            format!("…\n{note}")
        );
        // A note of 997 bytes leaves no room for them: the note alone.
        let note = "n".repeat(997);
        assert_eq!(Memo::fit("merchant", &note).expect("fits").as_str(), note);
    }

    #[test]
    fn flags_have_the_platforms_numbers() {
        let numbers: Vec<u8> = Flag::ALL.iter().map(|f| f.number()).collect();
        assert_eq!(numbers, vec![0, 1, 2, 3, 4, 5]);
        for flag in Flag::ALL {
            assert_eq!(Flag::from_number(u64::from(flag.number())), Some(flag));
        }
        assert_eq!(Flag::from_number(6), None);
    }

    #[test]
    fn contradictory_or_empty_updates_are_refused() {
        let memo = Memo::parse("x").expect("memo");
        let both = MemoUpdate {
            tid: 1,
            memo: Some(memo.clone()),
            flag: None,
            reset: true,
        };
        assert_eq!(both.check(), Err(UpdateError::MemoWithReset));
        let nothing = MemoUpdate {
            tid: 1,
            memo: None,
            flag: None,
            reset: false,
        };
        assert_eq!(nothing.check(), Err(UpdateError::NothingToChange));
        assert!(MemoUpdate::clear(1).check().is_ok());
        assert!(MemoUpdate::write(1, memo, None).check().is_ok());
        let flag_only = MemoUpdate {
            tid: 1,
            memo: None,
            flag: Some(Flag::Green),
            reset: false,
        };
        assert!(flag_only.check().is_ok());
    }
}
