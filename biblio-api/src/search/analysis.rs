//! How text becomes index terms, the same for what is indexed and what is searched.
//!
//! Words are runs of letters and digits, lowercased and folded to ASCII where a folding exists
//! (`Élodie` → `elodie`, `Müller` → `muller`). Scripts written without spaces between words
//! (Chinese, Japanese, Korean, Thai) have no word boundaries to split on, so each run of them is
//! cut into overlapping pairs of characters (`東京大学` → `東京`, `京大`, `大学`): a search for
//! any two or more consecutive characters finds the text, which is how CJK search engines without
//! a dictionary work. A lone character stays a term of its own.

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, TextAnalyzer, Token, TokenFilter,
    TokenStream, Tokenizer,
};

/// The name the analyzer is registered under in the index.
pub const ANALYZER: &str = "biblio";

/// Longer tokens are dropped (no word is that long; they would only bloat the dictionary).
const MAX_TOKEN_BYTES: usize = 60;

/// The analyzer of every text field and of every query.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(WordsAndPairs)
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        // Folding first: a few letters fold to capitals (`ꟻ` → `F`), which lowercasing then fixes.
        // Lowercasing can in turn make a letter that folds (`Ɦ` → `ɦ` → `h`), so both run twice;
        // `every_character_folds_in_one_pass` checks that no character needs a third round.
        .filter(AsciiFoldingFilter)
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(LowerCaser)
        // Folding can turn a letter into punctuation (`⑴` → `(1)`): keep letters and digits only.
        .filter(LettersAndDigits)
        .build()
}

/// The terms of `text`, in order.
pub fn terms(text: &str) -> Vec<String> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// `text` folded to its terms joined by single spaces: the key under which a subject heading or
/// an author's name is matched exactly, whatever its case and accents.
pub fn fold(text: &str) -> String {
    terms(text).join(" ")
}

/// Whether `c` belongs to a script written without spaces between words.
pub fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF     // Thai, Lao
        | 0x1000..=0x109F   // Myanmar
        | 0x1780..=0x17FF   // Khmer
        | 0x3040..=0x30FF   // Hiragana, Katakana
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xAC00..=0xD7AF   // Hangul syllables
        | 0xF900..=0xFAFF   // CJK compatibility ideographs
        | 0x20000..=0x2FFFF // CJK extensions B–F
    )
}

/// The tokenizer: word runs, and character pairs inside unspaced runs.
#[derive(Clone, Default)]
pub struct WordsAndPairs;

pub struct WordsAndPairsStream {
    tokens: std::vec::IntoIter<Token>,
    current: Token,
}

impl Tokenizer for WordsAndPairs {
    type TokenStream<'a> = WordsAndPairsStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordsAndPairsStream {
        let mut tokens = Vec::new();
        let mut push = |from: usize, to: usize| {
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position: tokens.len(),
                text: text[from..to].to_owned(),
                position_length: 1,
            });
        };
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let end_of = |i: usize| chars.get(i + 1).map_or(text.len(), |(o, _)| *o);
        let mut i = 0;
        while i < chars.len() {
            let (start, c) = chars[i];
            if !c.is_alphanumeric() {
                i += 1;
                continue;
            }
            let unspaced = is_unspaced(c);
            let mut j = i;
            while j + 1 < chars.len()
                && chars[j + 1].1.is_alphanumeric()
                && is_unspaced(chars[j + 1].1) == unspaced
            {
                j += 1;
            }
            if !unspaced {
                push(start, end_of(j));
            } else if i == j {
                push(start, end_of(i));
            } else {
                for (k, (offset, _)) in chars.iter().enumerate().take(j).skip(i) {
                    push(*offset, end_of(k + 1));
                }
            }
            i = j + 1;
        }
        WordsAndPairsStream {
            tokens: tokens.into_iter(),
            current: Token::default(),
        }
    }
}

impl TokenStream for WordsAndPairsStream {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

/// A filter that keeps only the letters and digits of each token, and drops a token left empty.
#[derive(Clone)]
pub struct LettersAndDigits;

impl TokenFilter for LettersAndDigits {
    type Tokenizer<T: Tokenizer> = LettersAndDigitsFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> LettersAndDigitsFilter<T> {
        LettersAndDigitsFilter(tokenizer)
    }
}

#[derive(Clone)]
pub struct LettersAndDigitsFilter<T>(T);

impl<T: Tokenizer> Tokenizer for LettersAndDigitsFilter<T> {
    type TokenStream<'a> = LettersAndDigitsStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        LettersAndDigitsStream(self.0.token_stream(text))
    }
}

pub struct LettersAndDigitsStream<S>(S);

impl<S: TokenStream> TokenStream for LettersAndDigitsStream<S> {
    fn advance(&mut self) -> bool {
        while self.0.advance() {
            let text = &mut self.0.token_mut().text;
            if !text.chars().all(char::is_alphanumeric) {
                text.retain(char::is_alphanumeric);
            }
            if !text.is_empty() {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn words_are_lowercased_and_folded_to_ascii() {
        assert_eq!(
            terms("Élodie MÜLLER, naïve café"),
            ["elodie", "muller", "naive", "cafe"]
        );
        assert_eq!(fold("  Science   Fiction "), "science fiction");
    }

    #[test]
    fn unspaced_scripts_are_cut_into_pairs() {
        assert_eq!(terms("東京大学"), ["東京", "京大", "大学"]);
        assert_eq!(terms("東"), ["東"]);
        assert_eq!(terms("Tokyo東京2020"), ["tokyo", "東京", "2020"]);
        assert_eq!(
            terms("ハリー・ポッター"),
            ["ハリ", "リー", "ポッ", "ッタ", "ター"]
        );
    }

    #[test]
    fn punctuation_and_operators_are_not_terms() {
        assert_eq!(
            terms("+tolkien -ring* \"hobbit\" (c++)"),
            ["tolkien", "ring", "hobbit", "c"]
        );
        assert!(terms("+-()\"*~<>@").is_empty());
    }

    /// Folding is idempotent character by character, over the whole of Unicode: what is indexed
    /// as a term's text is found again when that text is typed.
    #[test]
    fn every_character_folds_in_one_pass() {
        let mut analyzer = analyzer();
        let mut fold_with = |text: &str| {
            let mut stream = analyzer.token_stream(text);
            let mut out = Vec::new();
            while stream.advance() {
                out.push(stream.token().text.clone());
            }
            out.join(" ")
        };
        let mut buffer = [0u8; 4];
        let unstable: Vec<(char, String, String)> = (0..=char::MAX as u32)
            .filter_map(char::from_u32)
            .filter_map(|c| {
                let once = fold_with(c.encode_utf8(&mut buffer));
                let twice = fold_with(&once);
                (once != twice).then_some((c, once, twice))
            })
            .collect();
        assert!(unstable.is_empty(), "{unstable:?}");
    }

    proptest! {
        #[test]
        fn operators_typed_between_words_change_nothing(
            words in proptest::collection::vec("[a-zA-Z0-9\u{e9}\u{4e66}]{1,12}", 1..8),
            glue in proptest::collection::vec("[ +\\-<>()~*\"@'%_\\\\;]{1,4}", 8),
        ) {
            let typed: String = words.iter().zip(&glue).map(|(w, g)| format!("{g}{w}")).collect();
            let spaced = words.join(" ");
            // Pairs may span two typed words of an unspaced script only when nothing separates
            // them; the glue always separates, so the terms are those of the spaced words.
            prop_assert_eq!(terms(&typed), terms(&spaced));
        }

        #[test]
        fn terms_are_never_empty_and_hold_only_letters_and_digits(text in "\\PC{0,80}") {
            for term in terms(&text) {
                prop_assert!(!term.is_empty());
                prop_assert!(term.len() <= MAX_TOKEN_BYTES);
                prop_assert!(term.chars().all(char::is_alphanumeric), "{:?}", term);
            }
        }

        #[test]
        fn folding_is_idempotent(text in "\\PC{0,80}") {
            let once = fold(&text);
            prop_assert_eq!(fold(&once), once.clone());
        }
    }
}
