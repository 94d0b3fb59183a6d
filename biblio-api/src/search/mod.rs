//! The catalogue's search index: a tantivy index in this replica's memory, fed from MySQL.
//!
//! MySQL stays the source of truth; this index is a copy that answers searches (which books, in
//! what order, how many, facet counts, suggestions) in microseconds rather than the milliseconds
//! of InnoDB full-text, and in better ways: BM25 relevance with field boosts (title 3, authors 2,
//! subjects 1), typo tolerance, prefix matching of the last word, ISBNs in any form, accent
//! folding and scripts written without spaces ([`analysis`]).
//!
//! [`SearchIndex`] is the whole interface the rest of the API sees: `search`, `suggest`,
//! `correct`, `stored`, and `apply`/`rebuild` for the change feed (`service::indexer`). It is
//! narrow on purpose: a search cluster (OpenSearch, Quickwit) behind the same five calls replaces
//! this module alone when one replica's memory no longer holds the catalogue (docs/SEARCH.md).
//!
//! Writes (`apply`) come from one task per replica; searches run concurrently on a snapshot
//! (tantivy's `Searcher`) that a commit replaces atomically.
//!
//! Over 400 lines, one concern: the schema, how a book becomes a document and how a search
//! reads them change together when a field is added; text analysis, query building and facet
//! counting are modules of their own.

pub mod analysis;
mod facets;
mod query;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use common::sync::{lock, read, write};
use tantivy::collector::{Collector, Count, TopDocs};
use tantivy::query::{Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value as _,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term,
};

use crate::domain::book::{Book, BookSearch, Sort};
use crate::domain::ids::BookId;
use crate::domain::search::{FACET_VALUES, FacetCount, Facets, Suggestion, SuggestionKind};
use crate::error::Error;
use analysis::{ANALYZER, fold, terms};
use facets::FacetCounter;

/// The writer's indexing memory (tantivy's minimum per thread): the catalogue's changes come a
/// few at a time, and a full build flushes segments as it goes.
const WRITER_MEMORY: usize = 15_000_000;

/// Answers kept for the current generation of the index, at most.
const MAX_ANSWERS: usize = 2_048;

/// Whether an engine is being filled from nothing with distinct books (a rebuild): then no
/// document needs deleting before its book is added. A delete costs tantivy a query's weight
/// (~1 KiB) kept until the commit: 10 MB of a rebuild's peak at 10,000 books (heaptrack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fresh {
    Yes,
    No,
}

/// One change of the catalogue as the index sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexChange {
    /// The book as it is now (added, edited, lent or returned).
    Upsert(Book),
    /// Withdrawn, or gone.
    Remove(BookId),
}

/// Which books a search matched, in order, with the counts over all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Hits {
    pub ids: Vec<BookId>,
    pub total: u64,
    pub facets: Facets,
    /// The feed position the index had applied when it answered.
    pub position: u64,
}

/// The index of this replica. Cheap to clone; clones share the index.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Shared>,
}

struct Shared {
    engine: RwLock<Arc<Engine>>,
    /// Bumped by every write: the answers below are valid for one generation only.
    generation: AtomicU64,
    /// Answers of this generation, by search: a popular search is computed once per change of
    /// the index, not once per request (Elasticsearch's request cache, on the same principle).
    answers: Mutex<HashMap<String, (u64, Hits)>>,
    /// The last change-feed position applied (see `service::indexer`).
    position: AtomicU64,
}

impl Default for SearchIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl SearchIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Shared {
                engine: RwLock::new(Arc::new(Engine::new())),
                generation: AtomicU64::new(0),
                answers: Mutex::default(),
                position: AtomicU64::new(0),
            }),
        }
    }

    fn engine(&self) -> Arc<Engine> {
        Arc::clone(&read(&self.inner.engine))
    }

    /// Books in the index.
    pub fn documents(&self) -> u64 {
        self.engine().reader.searcher().num_docs()
    }

    pub fn position(&self) -> u64 {
        self.inner.position.load(Ordering::Acquire)
    }

    /// Applies changes and makes them visible to searches; records the feed position reached.
    pub fn apply(&self, changes: &[IndexChange], position: u64) -> Result<(), Error> {
        let engine = self.engine();
        engine.write(changes)?;
        if !changes.is_empty() {
            self.inner.generation.fetch_add(1, Ordering::AcqRel);
        }
        self.inner.position.store(position, Ordering::Release);
        Ok(())
    }

    /// Replaces the whole index with `books`, each book once (at start-up, and when the feed
    /// asks for it).
    pub fn rebuild(
        &self,
        books: impl IntoIterator<Item = Book>,
        position: u64,
    ) -> Result<(), Error> {
        let engine = Engine::new();
        let changes: Vec<IndexChange> = books.into_iter().map(IndexChange::Upsert).collect();
        for chunk in changes.chunks(50_000) {
            engine.apply(chunk, Fresh::Yes)?;
        }
        *write(&self.inner.engine) = Arc::new(engine);
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.position.store(position, Ordering::Release);
        Ok(())
    }

    /// The books matching `search`, in its order, one page of them.
    pub fn search(&self, search: &BookSearch) -> Result<Hits, Error> {
        // Read before the engine: an answer is never filed under a newer generation than the
        // index it was computed on.
        let generation = self.inner.generation.load(Ordering::Acquire);
        let key = format!("{search:?}");
        if let Some((seen, hits)) = lock(&self.inner.answers).get(&key)
            && *seen == generation
        {
            return Ok(hits.clone());
        }
        let hits = self.compute(search)?;
        let mut answers = lock(&self.inner.answers);
        if answers.len() >= MAX_ANSWERS {
            answers.retain(|_, (seen, _)| *seen == generation);
            if answers.len() >= MAX_ANSWERS {
                answers.clear();
            }
        }
        answers.insert(key, (generation, hits.clone()));
        Ok(hits)
    }

    /// [`SearchIndex::search`] without the kept answers: what each change of the index costs a
    /// search (`search-bench` measures this).
    pub fn compute(&self, search: &BookSearch) -> Result<Hits, Error> {
        let engine = self.engine();
        let position = self.position();
        let searcher = engine.reader.searcher();
        let query = engine.query(&searcher, search)?;
        let facets = FacetCounter {
            values: lock(&engine.names).keys.len(),
        };
        let limit = search.page.per_page as usize;
        // Never more than the documents there are, however deep the page asked for.
        let offset = (search.page.offset().min(searcher.num_docs())) as usize;
        let top = TopDocs::with_limit(limit).and_offset(offset);
        let sort = match (search.sort, &search.text) {
            (Sort::Relevance, None) => Sort::Title,
            (sort, _) => sort,
        };
        let (addresses, total, counts) = match sort {
            Sort::Relevance => collect(&searcher, &query, top.order_by_score(), facets)?,
            Sort::Title => collect(
                &searcher,
                &query,
                top.order_by_string_fast_field("title_sort", Order::Asc),
                facets,
            )?,
            Sort::Year => collect(
                &searcher,
                &query,
                top.order_by_fast_field::<u64>("year", Order::Desc),
                facets,
            )?,
            Sort::Newest => collect(
                &searcher,
                &query,
                top.order_by_fast_field::<u64>("id", Order::Desc),
                facets,
            )?,
        };
        let ids = addresses
            .into_iter()
            .map(|address| engine.id_of(&searcher, address))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Hits {
            ids,
            total: total as u64,
            facets: engine.facets(counts),
            position,
        })
    }

    /// Up to `limit` completions of what was typed: authors whose name has a word starting with
    /// the last word typed, then titles, best match first.
    pub fn suggest(&self, typed: &str, limit: usize) -> Result<Vec<Suggestion>, Error> {
        let engine = self.engine();
        let searcher = engine.reader.searcher();
        let Some(query) = engine.suggest_query(typed) else {
            return Ok(Vec::new());
        };
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit * 2).order_by_score())
            .map_err(internal)?;
        let words = terms(typed);
        let last = words.last().cloned().unwrap_or_default();
        let mut authors = Vec::new();
        let mut titles = Vec::new();
        for (_, address) in top {
            let Some(book) = engine.stored_book(&searcher, address)? else {
                continue;
            };
            for author in &book.authors {
                let folded = terms(author);
                let matches = folded.iter().any(|w| w.starts_with(&last))
                    && words[..words.len() - 1].iter().all(|w| folded.contains(w));
                if matches && !authors.iter().any(|s: &Suggestion| &s.text == author) {
                    authors.push(Suggestion {
                        kind: SuggestionKind::Author,
                        text: author.clone(),
                        book_id: None,
                    });
                }
            }
            if !titles.iter().any(|s: &Suggestion| s.text == book.title) {
                titles.push(Suggestion {
                    kind: SuggestionKind::Title,
                    text: book.title,
                    book_id: Some(book.id),
                });
            }
        }
        authors.truncate(limit / 2);
        authors.extend(titles);
        authors.truncate(limit);
        Ok(authors)
    }

    /// A spelling of `text` whose every word is in the catalogue, when some word is not and a
    /// close one is (one edit for words up to 7 letters, two past that); `None` otherwise.
    pub fn correct(&self, text: &str) -> Option<String> {
        let engine = self.engine();
        let names = lock(&engine.names);
        let mut changed = false;
        let words: Vec<String> = terms(text)
            .into_iter()
            .map(|word| {
                if word.chars().count() < 3 || names.vocabulary.contains_key(&word) {
                    return word;
                }
                let allowed = if word.chars().count() >= 8 { 2 } else { 1 };
                let best = names
                    .vocabulary
                    .iter()
                    .filter_map(|(candidate, count)| {
                        query::edit_distance(&word, candidate, allowed)
                            .map(|d| (d, *count, candidate))
                    })
                    // Fewest edits, then the most frequent word, then the first alphabetically.
                    .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
                match best {
                    Some((_, _, candidate)) => {
                        changed = true;
                        candidate.clone()
                    }
                    None => word,
                }
            })
            .collect();
        changed.then(|| words.join(" "))
    }

    /// The books as the index last saw them (for answering while MySQL cannot be read).
    pub fn stored(&self, ids: &[BookId]) -> Result<HashMap<BookId, Book>, Error> {
        let engine = self.engine();
        let searcher = engine.reader.searcher();
        let mut out = HashMap::new();
        for id in ids {
            let query = TermQuery::new(
                Term::from_field_u64(engine.fields.id, id.0),
                IndexRecordOption::Basic,
            );
            let found = searcher
                .search(&query, &TopDocs::with_limit(1).order_by_score())
                .map_err(internal)?;
            if let Some((_, address)) = found.first()
                && let Some(book) = engine.stored_book(&searcher, *address)?
            {
                out.insert(*id, book);
            }
        }
        Ok(out)
    }
}

/// Runs one search with the page, the count and the facets in one pass over the matches.
fn collect<C, K>(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    top: C,
    facets: FacetCounter,
) -> Result<(Vec<DocAddress>, usize, Vec<u32>), Error>
where
    C: Collector<Fruit = Vec<(K, DocAddress)>>,
{
    let (page, total, counts) = searcher
        .search(query, &(top, Count, facets))
        .map_err(internal)?;
    Ok((page.into_iter().map(|(_, a)| a).collect(), total, counts))
}

fn internal(e: tantivy::TantivyError) -> Error {
    Error::Internal(anyhow::anyhow!("search index: {e}"))
}

/// The fields of the index.
#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    authors: Field,
    subjects: Field,
    /// ISBN-13 digits, matched whole.
    isbn: Field,
    /// Folded full author names and subject headings, matched whole (facet filters).
    author_key: Field,
    subject_key: Field,
    /// The facet values of a book (subjects, authors, decade) as ids of `Names::keys`: counted
    /// per match from this column, far cheaper than facet terms (docs/BENCHMARKS.md).
    facet_ids: Field,
    year: Field,
    /// 1 while a copy is on the shelf, as of the last change applied.
    available: Field,
    title_sort: Field,
    /// The whole title, lowercased, for text that has no word in it (`%`).
    title_raw: Field,
    /// The book as JSON, for suggestions and for answering while MySQL is down.
    doc: Field,
}

/// The facet values seen (each with an id, its kind and how the catalogue spells it), and the
/// words of the catalogue (for "did you mean").
#[derive(Default)]
struct Names {
    ids: HashMap<(FacetKind, String), u64>,
    keys: Vec<(FacetKind, String)>,
    vocabulary: HashMap<String, u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FacetKind {
    Subject,
    Author,
    Decade,
}

impl Names {
    /// The id of a facet value, keyed by its folded form; the display spelling is the latest.
    fn id(&mut self, kind: FacetKind, key: String, display: &str) -> u64 {
        if let Some(id) = self.ids.get(&(kind, key.clone())) {
            self.keys[*id as usize].1 = display.to_owned();
            return *id;
        }
        let id = self.keys.len() as u64;
        self.keys.push((kind, display.to_owned()));
        self.ids.insert((kind, key), id);
        id
    }
}

struct Engine {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    names: Mutex<Names>,
}

impl Engine {
    fn new() -> Self {
        let mut schema = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            id: schema.add_u64_field("id", INDEXED | FAST | STORED),
            title: schema.add_text_field("title", text.clone()),
            authors: schema.add_text_field("authors", text.clone()),
            subjects: schema.add_text_field("subjects", text),
            isbn: schema.add_text_field("isbn", STRING),
            author_key: schema.add_text_field("author_key", STRING),
            subject_key: schema.add_text_field("subject_key", STRING),
            facet_ids: schema.add_u64_field("facet_ids", FAST),
            year: schema.add_u64_field("year", INDEXED | FAST),
            available: schema.add_u64_field("available", INDEXED),
            title_sort: schema.add_text_field("title_sort", STRING.set_fast("raw")),
            title_raw: schema.add_text_field("title_raw", STRING),
            doc: schema.add_text_field("doc", STORED),
        };
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(ANALYZER, analysis::analyzer());
        let writer = index
            .writer_with_num_threads(1, WRITER_MEMORY)
            .expect("an in-memory index always has a writer at the minimum budget");
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .expect("an in-memory index always has a reader");
        Self {
            reader,
            writer: Mutex::new(writer),
            fields,
            names: Mutex::default(),
        }
    }

    /// Applies `changes`, commits, and reloads the reader so searches see them.
    fn write(&self, changes: &[IndexChange]) -> Result<(), Error> {
        self.apply(changes, Fresh::No)
    }

    /// [`Engine::write`], where `fresh` says whether the index may already hold the books.
    fn apply(&self, changes: &[IndexChange], fresh: Fresh) -> Result<(), Error> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut writer = lock(&self.writer);
        for change in changes {
            let id = match change {
                IndexChange::Upsert(book) => book.id,
                IndexChange::Remove(id) => *id,
            };
            if fresh == Fresh::No {
                writer.delete_term(Term::from_field_u64(self.fields.id, id.0));
            }
            if let IndexChange::Upsert(book) = change {
                writer.add_document(self.document(book)).map_err(internal)?;
            }
        }
        writer.commit().map_err(internal)?;
        self.reader.reload().map_err(internal)?;
        Ok(())
    }

    fn document(&self, book: &Book) -> TantivyDocument {
        let f = self.fields;
        let mut names = lock(&self.names);
        let mut doc = TantivyDocument::new();
        doc.add_u64(f.id, book.id.0);
        doc.add_text(f.title, &book.title);
        doc.add_text(f.isbn, &book.isbn);
        doc.add_text(f.title_sort, fold(&book.title));
        doc.add_text(f.title_raw, book.title.to_lowercase());
        for (list, field, key_field, kind) in [
            (&book.authors, f.authors, f.author_key, FacetKind::Author),
            (
                &book.subjects,
                f.subjects,
                f.subject_key,
                FacetKind::Subject,
            ),
        ] {
            for entry in list {
                doc.add_text(field, entry);
                let key = fold(entry);
                if key.is_empty() {
                    continue;
                }
                doc.add_text(key_field, &key);
                doc.add_u64(f.facet_ids, names.id(kind, key, entry));
            }
        }
        if let Some(year) = book.year.and_then(|y| u64::try_from(y).ok()) {
            doc.add_u64(f.year, year);
            let decade = (year / 10 * 10).to_string();
            doc.add_u64(
                f.facet_ids,
                names.id(FacetKind::Decade, decade.clone(), &decade),
            );
        }
        doc.add_u64(f.available, u64::from(book.copies_available > 0));
        if let Ok(json) = serde_json::to_string(book) {
            doc.add_text(f.doc, json);
        }
        let words = [book.title.as_str()]
            .into_iter()
            .chain(book.authors.iter().map(String::as_str))
            .chain(book.subjects.iter().map(String::as_str))
            .flat_map(terms)
            .filter(|w| w.chars().count() >= 3 && !w.chars().any(analysis::is_unspaced));
        for word in words {
            *names.vocabulary.entry(word).or_default() += 1;
        }
        doc
    }

    fn id_of(&self, searcher: &tantivy::Searcher, address: DocAddress) -> Result<BookId, Error> {
        let column = searcher
            .segment_reader(address.segment_ord)
            .fast_fields()
            .u64("id")
            .map_err(internal)?;
        column
            .first(address.doc_id)
            .map(BookId)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("search index: a document without id")))
    }

    fn stored_book(
        &self,
        searcher: &tantivy::Searcher,
        address: DocAddress,
    ) -> Result<Option<Book>, Error> {
        let doc: TantivyDocument = searcher.doc(address).map_err(internal)?;
        Ok(doc
            .get_first(self.fields.doc)
            .and_then(|v| v.as_str())
            .and_then(|json| serde_json::from_str(json).ok()))
    }

    /// The most frequent values of each facet, from the counts per facet id.
    fn facets(&self, counts: Vec<u32>) -> Facets {
        let names = lock(&self.names);
        let mut ranked: Vec<(u32, usize)> = counts
            .into_iter()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .map(|(id, n)| (n, id))
            .collect();
        // Most frequent first, then the value's spelling, so equal counts keep one order.
        ranked.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| names.keys[a.1].1.cmp(&names.keys[b.1].1))
        });
        let mut facets = Facets::default();
        for (count, id) in ranked {
            let (kind, value) = &names.keys[id];
            let list = match kind {
                FacetKind::Subject => &mut facets.subject,
                FacetKind::Author => &mut facets.author,
                FacetKind::Decade => &mut facets.decade,
            };
            if list.len() < FACET_VALUES {
                list.push(FacetCount {
                    value: value.clone(),
                    count: u64::from(count),
                });
            }
        }
        facets
    }
}

#[cfg(test)]
mod tests;
